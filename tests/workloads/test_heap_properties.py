"""Heap accounting invariants under random alloc/free/gc/scavenge sequences, on small real private mappings."""

from __future__ import annotations

import ctypes
import json
import random

import pytest

from workloads.heap import GO_PAGE_BYTES, IDLE, INUSE, RELEASED, Heap
from workloads.options import defaults
from workloads.runtime import Runtime
from workloads.scavenger import Plan, release

PAGE = GO_PAGE_BYTES
ARENA_BYTES = 16 * PAGE
MODES = ("MADV_FREE", "MADV_DONTNEED", "none", "munmap")


def page_states(heap: Heap) -> dict[tuple[int, int], str]:
    """Every Go page of the heap by (arena address, page index) -> state."""
    return {(a.addr, (s.offset + i) // PAGE): s.state
            for a in heap.arenas for s in a.spans for i in range(0, s.n_bytes, PAGE)}


def check_invariants(heap: Heap) -> None:
    stats = heap.stats()
    assert stats.inuse + stats.idle + stats.released == stats.sys
    by_state = {INUSE: 0, IDLE: 0, RELEASED: 0}
    for arena in heap.arenas:
        offset = 0
        for span in arena.spans:
            assert span.offset == offset, f"gap or overlap at {span!r} in {arena.spans}"
            assert span.n_bytes > 0 and span.n_bytes % PAGE == 0
            offset = span.end
            by_state[span.state] += span.n_bytes
        assert offset == arena.n_bytes, "spans do not tile their arena"
        for left, right in zip(arena.spans, arena.spans[1:]):
            same = left.state == right.state != INUSE and left.released_with == right.released_with
            assert not same, f"adjacent free spans left uncoalesced: {left!r} {right!r}"
    assert (by_state[INUSE], by_state[IDLE], by_state[RELEASED]) == (stats.inuse, stats.idle, stats.released)
    ranges = sorted((a.addr, a.addr + a.n_bytes) for a in heap.arenas)
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        assert end <= start, "arenas overlap"


def changes(before: dict, after: dict) -> dict[str, set]:
    """Pages that appeared, disappeared, or moved between states (keyed 'old->new')."""
    out: dict[str, set] = {"new": set(after) - set(before), "gone": set(before) - set(after)}
    for page in set(before) & set(after):
        if before[page] != after[page]:
            out.setdefault(f"{before[page]}->{after[page]}", set()).add(page)
    return out


def run_random_ops(seed: int, n_ops: int = 250) -> None:
    rng = random.Random(seed)
    heap = Heap(ARENA_BYTES)
    held = []
    try:
        for _ in range(n_ops):
            before = page_states(heap)
            op = rng.choice(("alloc", "alloc", "alloc", "free", "free", "release", "scavenge", "unmap"))
            if op == "alloc":
                n_bytes = rng.choice((1, PAGE, 3 * PAGE, rng.randrange(1, 20 * PAGE)))
                got = heap.alloc(n_bytes, 0.0)
                span = got.span
                assert span.state == INUSE and span.n_bytes >= n_bytes and span.n_bytes % PAGE == 0
                # the memory really is written (first and last byte)
                assert ctypes.string_at(span.addr, 1) == ctypes.string_at(span.addr + span.n_bytes - 1, 1) == b"Z"
                held.append(span)
                c = changes(before, page_states(heap))
                mine = {(span.arena.addr, (span.offset + i) // PAGE) for i in range(0, span.n_bytes, PAGE)}
                moved = c.get("idle->inuse", set()) | c.get("released->inuse", set()) | (c["new"] & mine)
                assert moved == mine and not c["gone"] and not c.get("inuse->idle") and not c.get("idle->released")
                assert got.reused_bytes <= len(c.get("released->inuse", ())) * PAGE
            elif op == "free" and held:
                span = held.pop(rng.randrange(len(held)))
                span_bytes = span.n_bytes  # before free: coalescing may grow the span object
                heap.free(span, float(rng.randrange(10)))
                c = changes(before, page_states(heap))
                assert set(c) <= {"new", "gone", "inuse->idle"} and not c["new"] and not c["gone"]
                assert len(c["inuse->idle"]) * PAGE == span_bytes
            elif op == "release" and heap.idle_spans():
                span = rng.choice(heap.idle_spans())
                span_bytes = span.n_bytes
                n_bytes = rng.randrange(1, span.n_bytes + 1)
                heap.release(span, n_bytes, rng.choice(("MADV_FREE", "MADV_DONTNEED", "none")))
                c = changes(before, page_states(heap))
                assert set(c) <= {"new", "gone", "idle->released"} and not c["new"] and not c["gone"]
                assert len(c["idle->released"]) * PAGE == min(-(-n_bytes // PAGE) * PAGE, span_bytes)
            elif op == "scavenge":
                idle = heap.idle_spans()
                parts = tuple((s, rng.choice((s.n_bytes, rng.randrange(1, s.n_bytes + 1)))) for s in idle
                              if rng.random() < 0.7)
                mode = rng.choice(MODES)
                stats_before = heap.stats()
                done = release(heap, Plan(parts, "bg", 0), mode)
                assert done.error is None
                c = changes(before, page_states(heap))
                assert set(c) <= {"new", "gone", "idle->released"} and not c["new"], c.keys()
                assert all(before[p] != INUSE for p in c["gone"]), "munmap took pages in use"
                moved = len(c.get("idle->released", ())) * PAGE
                gone_idle = sum(PAGE for p in c["gone"] if before[p] == IDLE)
                assert done.n_bytes == moved + gone_idle, "the reported release differs from what changed"
                stats_after = heap.stats()
                assert stats_after.inuse == stats_before.inuse
                if mode != "munmap":
                    assert stats_after.released - stats_before.released == done.n_bytes
                    assert done.fallback is None
            elif op == "unmap":
                heap.unmap_free_arenas()
                c = changes(before, page_states(heap))
                assert set(c) <= {"new", "gone"} and not c["new"]
                assert all(before[p] != INUSE for p in c["gone"])
            check_invariants(heap)
    finally:
        heap.close()


@pytest.mark.parametrize("seed", range(40))
def test_random_heap_operations_keep_the_accounting_invariants(seed):
    run_random_ops(seed)


def test_runtime_under_random_commands_keeps_accounting_and_events_consistent():
    """The whole runtime (pattern, GC, scavenger, commands) on a fake clock: events agree with stats."""
    rng = random.Random(7)
    for policy in ("go1.12", "paced", "eager", "off"):
        out: list[dict] = []
        opts = {**defaults(), "pattern": "churn", "live": 8 * PAGE, "object_size": PAGE, "rate": 40 * PAGE,
                "arena_size": ARENA_BYTES, "scavenger": policy, "scavenge_period": 0.5, "scavenge_idle": 0.3,
                "forced_gc_period": 0.7, "madvise": "MADV_DONTNEED"}
        rt = Runtime(opts, lambda line: out.append(json.loads(line)))
        try:
            now_s = 0.0
            for _ in range(300):
                now_s += rng.choice((0.01, 0.05, 0.1))
                rt.now_s = now_s
                if rng.random() < 0.15:
                    rt.handle_line(json.dumps(rng.choice((
                        {"cmd": "gc"}, {"cmd": "scavenge"}, {"cmd": "alloc", "bytes": rng.randrange(1, 30 * PAGE)},
                        {"cmd": "free"}, {"cmd": "set_madvise", "value": rng.choice(MODES)}))))
                mark = len(out)
                before = rt.heap.stats()
                rt.tick(now_s)
                check_invariants(rt.heap)
                for m in out[mark:]:
                    if m["type"] == "event" and m["event"] == "scavenge":
                        assert m["released_bytes"] % PAGE == 0
                        assert m["released_bytes"] <= before.idle + before.inuse  # only ever free memory
                    assert m["type"] != "error", m
            stats = [m for m in out if m["type"] == "stats"]
            assert all(s["heap_inuse_bytes"] + s["heap_idle_bytes"] + s["heap_released_bytes"] == s["heap_sys_bytes"] for s in stats)
            assert any(m["type"] == "event" and m["event"] == "gc" for m in out)
        finally:
            rt.heap.close()


MIB = 1 << 20
BOUND_CASES = [
    {"pattern": "seed", "size": 3 * MIB, "count": 3},
    {"pattern": "steady", "size": 5 * MIB},
    {"pattern": "sawtooth", "size": 2 * MIB, "peak": 8 * MIB},
    {"pattern": "sawtooth", "size": 3 * MIB, "peak": 8 * MIB, "gogc": 50},
    {"pattern": "sawtooth", "size": 1 * MIB, "peak": 4 * MIB, "gogc": 300},
    {"pattern": "burst", "base": 4 * MIB, "size": 4 * MIB, "hold": 0.4},
    {"pattern": "burst", "base": 2 * MIB, "size": 3 * MIB, "hold": 2.5},
    {"pattern": "burst", "base": 8 * MIB, "size": 1 * MIB, "hold": 0, "gogc": 0},
    {"pattern": "churn", "live": 4 * MIB, "object_size": 256 * 1024, "rate": 16 * MIB},
    {"pattern": "churn", "live": 6 * MIB, "object_size": 64 * 1024, "rate": 40 * MIB, "gogc": 50},
]


@pytest.mark.parametrize("case", BOUND_CASES, ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_heap_sys_never_exceeds_the_budget_estimate(case):
    """max_heap_bytes (what the dashboard budgets for) bounds heap sys over a run, GC pacing included."""
    from workloads.options import max_heap_bytes

    opts = {**defaults(), "interval": 1.0, "arena_size": MIB, "forced_gc_period": 0, "scavenger": "eager",
            "madvise": "MADV_DONTNEED", **case}
    rt = Runtime(opts, lambda line: None)
    try:
        most = 0
        for i in range(200):  # 10 s of pattern time
            rt.tick(i * 0.05)
            check_invariants(rt.heap)
            most = max(most, rt.heap.stats().sys)
        assert most <= max_heap_bytes(opts), (most / MIB, max_heap_bytes(opts) / MIB)
    finally:
        rt.heap.close()


def test_gogc_off_with_a_dropping_pattern_is_unbounded_and_the_min_heap_copy_agrees():
    from workloads.gc import MIN_HEAP_BYTES
    from workloads.options import _MIN_HEAP_BYTES, UNBOUNDED_HEAP_BYTES, max_heap_bytes

    assert _MIN_HEAP_BYTES == MIN_HEAP_BYTES
    for pattern in ("sawtooth", "churn", "burst"):
        assert max_heap_bytes({"pattern": pattern, "gogc": -1}) == UNBOUNDED_HEAP_BYTES
    assert max_heap_bytes({"pattern": "seed", "gogc": -1, "size": MIB, "count": 2, "arena_size": MIB}) == 2 * MIB


def _churn_writes(monkeypatch, ride_along_s: float) -> tuple[float, float, float, int]:
    """A churn with the paced scavenger on a fake clock run the way the main loop runs it (tick, flush, sleep until
    the next due, waking 0.3 ms late): writes, stats and scavenger passes a second, and bytes released."""
    from workloads import runtime

    monkeypatch.setattr(runtime, "RIDE_ALONG_S", ride_along_s)
    said: list[str] = []
    opts = {**defaults(), "pattern": "churn", "live": 8 * MIB, "object_size": 64 * 1024, "rate": 16 * MIB,
            "arena_size": 4 * MIB, "scavenger": "paced", "madvise": "MADV_DONTNEED"}
    rt = Runtime(opts, said.append)
    writes, stats, passes, released = 0, 0, 0, 0
    try:
        now_s = 0.0
        while now_s < 12.0:
            rt.tick(now_s)
            if said and now_s >= 2.0:  # after the start-up
                messages = [json.loads(line) for line in said]
                writes += 1
                stats += sum(m["type"] == "stats" for m in messages)
                for m in messages:
                    if m["type"] == "event" and m["event"] == "scavenge":
                        passes += 1
                        released += m["released_bytes"]
            said.clear()
            now_s = max(rt.next_due_s(), now_s) + 0.0003
    finally:
        rt.heap.close()
    return writes / 10, stats / 10, passes / 10, released


def test_a_churn_writes_once_a_step_and_still_scavenges_and_reports_as_often(monkeypatch):
    before = _churn_writes(monkeypatch, 0.0)
    after = _churn_writes(monkeypatch, 0.05)
    assert before[0] > 14 and after[0] <= 10.5, (before, after)  # a step and a scavenger pass: one write
    for was, now in zip(before[1:], after[1:]):  # stats, scavenger passes a second, bytes released
        assert abs(now - was) <= 0.1 * was, (before, after)
