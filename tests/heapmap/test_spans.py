"""The python workload's span map: coalesced runs that tile each arena, bounded size, sent when changed, ≤ 1 Hz."""

from __future__ import annotations

import json
import random

from workloads.heap import GO_PAGE_BYTES, IDLE, INUSE, RELEASED, Heap
from workloads.options import defaults
from workloads.runtime import SPANS_INTERVAL_S, Runtime

PAGE = GO_PAGE_BYTES


def check_tiles(heap: Heap, grain: int, arenas: list[dict]) -> None:
    assert [(a["addr"], a["bytes"]) for a in arenas] == [(a.addr, a.n_bytes) for a in heap.arenas]
    for arena in arenas:
        offset = 0
        for run_offset, n_bytes, state in arena["runs"]:
            assert run_offset == offset and n_bytes > 0 and state in (INUSE, IDLE, RELEASED)
            offset += n_bytes
        assert offset == arena["bytes"]
        for left, right in zip(arena["runs"], arena["runs"][1:]):
            assert left[2] != right[2], "adjacent runs in one state were not coalesced"
        assert all(n_bytes % grain == 0 for _, n_bytes, _ in arena["runs"][:-1])


def page_state(arenas: list[dict], addr: int) -> str:
    for arena in arenas:
        if arena["addr"] <= addr < arena["addr"] + arena["bytes"]:
            for offset, n_bytes, state in arena["runs"]:
                if arena["addr"] + offset <= addr < arena["addr"] + offset + n_bytes:
                    return state
    raise AssertionError(f"{addr:#x} not in the span map")


def test_exact_span_map_matches_the_heap():
    heap = Heap(32 * PAGE)
    try:
        a = heap.alloc(4 * PAGE, 0).span
        b = heap.alloc(4 * PAGE, 0).span
        heap.alloc(4 * PAGE, 0)
        heap.free(a, 1)
        heap.free(b, 1)  # a and b coalesce into one idle run
        heap.release(heap.idle_spans()[0], 2 * PAGE, "MADV_FREE")
        grain, arenas = heap.span_map()
        assert grain == PAGE
        check_tiles(heap, grain, arenas)
        assert [r[1:] for r in arenas[0]["runs"]] == [[2 * PAGE, RELEASED], [6 * PAGE, IDLE], [4 * PAGE, INUSE],
                                                       [20 * PAGE, RELEASED]]
        for arena in heap.arenas:
            for span in arena.spans:
                assert page_state(arenas, span.addr) == span.state
    finally:
        heap.close()


def test_fragmented_heap_is_coarsened_to_the_bound():
    heap = Heap(256 * PAGE)
    try:
        spans = [heap.alloc(PAGE, 0).span for _ in range(4 * 256)]
        for span in spans[::2]:
            heap.free(span, 1)  # every other page idle: 1024 runs exact
        for span in random.Random(1).sample(spans[1::2], 100):
            heap.free(span, 1)
        exact_grain, exact = heap.span_map(max_runs=10_000)
        assert exact_grain == PAGE and sum(len(a["runs"]) for a in exact) > 100
        grain, arenas = heap.span_map(max_runs=100)
        assert grain > PAGE and sum(len(a["runs"]) for a in arenas) <= 100
        check_tiles(heap, grain, arenas)
    finally:
        heap.close()


def test_runtime_sends_spans_when_changed_at_most_once_a_second():
    opts = {**defaults(), "pattern": "steady", "size": 4 * PAGE, "arena_size": 64 * PAGE, "forced_gc_period": 0,
            "scavenger": "off"}
    out: list[dict] = []
    rt = Runtime(opts, lambda line: out.append(json.loads(line)))
    try:
        def spans_at(now_s: float) -> list[dict]:
            before = len(out)
            rt.tick(now_s)
            return [m for m in out[before:] if m["type"] == "spans"]

        first = spans_at(0.0)  # the steady pattern allocated at t=0
        assert len(first) == 1 and first[0]["page_bytes"] == PAGE and first[0]["grain"] == PAGE
        assert [r[2] for r in first[0]["arenas"][0]["runs"]] == [INUSE, RELEASED]
        assert spans_at(0.5) == [] and spans_at(5.0) == []  # unchanged: nothing, however long
        rt.handle_line('{"cmd": "alloc", "bytes": 8192}')
        assert len(spans_at(5.1)) == 1, "a change after a quiet second goes out at once"
        rt.handle_line('{"cmd": "free"}')
        rt.handle_line('{"cmd": "gc"}')
        assert spans_at(5.5) == [], "changes within a second of the last message wait"
        assert rt.next_spans_s() == 5.1 + SPANS_INTERVAL_S
        later = spans_at(6.1)
        assert len(later) == 1
        assert all(r[2] != INUSE for r in later[0]["arenas"][0]["runs"]), "after free + GC nothing is in use"
        assert len(json.dumps(later[0])) < 1000
    finally:
        rt.heap.close()


def test_the_most_fragmented_map_fits_one_protocol_line():
    from workloads import protocol

    heap = Heap(64 * PAGE)
    try:
        spans = [heap.alloc(PAGE, 0).span for _ in range(64 * 64)]  # 64 arenas
        for span in spans[::2]:
            heap.free(span, 1)
        grain, arenas = heap.span_map()
        line = protocol.encode("spans", 12345.678901, page_bytes=PAGE, grain=grain, arenas=arenas)
        assert sum(len(a["runs"]) for a in arenas) <= 1024 and len(line) <= protocol.MAX_MESSAGE_CHARS
        assert protocol.decode_message(line)["type"] == "spans"
    finally:
        heap.close()
