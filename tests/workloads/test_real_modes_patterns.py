"""Real workload processes: munmap mode, sawtooth/churn/burst/paced over time, go1.19/go1.21 scav lines vs events."""

from __future__ import annotations

import time

import pytest

from kernel_truth import read_smaps_rollup
from workload_support import MIB, wait_until

pytestmark = pytest.mark.slow

QUIET_GC = ("--forced-gc-period", "0")


def rss(w) -> int:
    return read_smaps_rollup(w.proc.pid)["Rss"]


def stats_after(w, message: dict) -> dict:
    """The first stats message sent after `message` (every scavenge/GC is followed by one)."""
    later = w.seen[w.seen.index(message) + 1:]
    found = next((m for m in later if m["type"] == "stats"), None)
    return found or w.wait_for(lambda m: m["type"] == "stats")


# ---- munmap ------------------------------------------------------------------------------------------------
def test_munmap_returns_whole_free_arenas(spawn):
    w = spawn("--pattern", "seed", "--size", "32MiB", "--count", "2", "--interval", "0", "--hold", "0",
              "--arena-size", "32MiB", "--scavenger", "eager", "--madvise", "munmap", *QUIET_GC)
    w.event("free")
    before = w.latest_stats()
    assert before["heap_sys_bytes"] == 64 * MIB
    peak_rss = rss(w)
    assert peak_rss >= 64 * MIB
    w.send(cmd="gc")
    scav = w.event("scavenge")
    assert scav["madvise"] == "munmap" and "fallback" not in scav and scav["released_bytes"] == 64 * MIB
    stats = stats_after(w, scav)
    assert stats["heap_sys_bytes"] == 0 and stats["heap_inuse_bytes"] == stats["heap_idle_bytes"] == stats["heap_released_bytes"] == 0
    kernel = read_smaps_rollup(w.proc.pid)
    assert kernel["Rss"] <= peak_rss - 60 * MIB and kernel["LazyFree"] == 0
    assert not [m for m in w.seen if m["type"] == "trace" and "instead" in m["line"]]
    # The address space is really gone: a new allocation maps a fresh arena (no reuse event: nothing to reuse)
    w.send(cmd="alloc", bytes="8MiB")
    w.event("alloc")
    assert stats_after(w, w.seen[-1])["heap_sys_bytes"] == 32 * MIB
    assert not [m for m in w.seen if m["type"] == "event" and m["event"] == "reuse"]


def test_munmap_falls_back_to_dontneed_for_a_partly_used_arena(spawn):
    w = spawn("--pattern", "seed", "--size", "16MiB", "--count", "1", "--interval", "0", "--hold", "0",
              "--arena-size", "64MiB", "--scavenger", "eager", "--madvise", "munmap", *QUIET_GC)
    w.event("free")
    w.send(cmd="alloc", bytes="8MiB")  # held: the arena stays partly in use
    w.event("alloc", bytes=8 * MIB)
    peak_rss = rss(w)
    w.send(cmd="gc")
    scav = w.event("scavenge")
    assert scav["madvise"] == "munmap" and scav["fallback"] == "MADV_DONTNEED"
    assert scav["released_bytes"] == 16 * MIB
    lab = [m["line"] for m in w.seen if m["type"] == "trace" and m["kind"] == "lab"]
    assert any(line.startswith("lab: munmap:") and "MADV_DONTNEED" in line for line in lab), lab
    stats = stats_after(w, scav)
    assert stats["heap_sys_bytes"] == 64 * MIB and stats["heap_inuse_bytes"] == 8 * MIB and stats["heap_idle_bytes"] == 0
    kernel = read_smaps_rollup(w.proc.pid)
    assert kernel["Rss"] <= peak_rss - 15 * MIB and kernel["LazyFree"] == 0


# ---- patterns over time ------------------------------------------------------------------------------------
def test_sawtooth_reaches_its_peak_and_drops_repeatedly(spawn):
    peak = 48 * MIB
    w = spawn("--pattern", "sawtooth", "--size", "16MiB", "--peak", "48MiB", "--interval", "0.3s",
              "--scavenger", "eager", "--madvise", "MADV_DONTNEED", *QUIET_GC)
    for _ in range(2):
        drop = w.event("free", bytes=peak)  # the heap held the peak, and lets it go
        at_peak = rss(w)
        assert at_peak >= peak
        gc = w.wait_for(lambda m: m["type"] == "event" and m["event"] == "gc" and m["heap_after"] < m["heap_before"])
        assert gc["heap_before"] >= peak and gc["heap_after"] <= 16 * MIB  # the dropped peak was collected
        scav = w.event("scavenge")
        assert scav["released_bytes"] >= peak
        assert rss(w) <= at_peak - 24 * MIB
        assert gc["t"] > drop["t"]


def test_churn_keeps_heap_near_live_and_reuses_lazily_freed_pages(spawn):
    live = 16 * MIB
    w = spawn("--pattern", "churn", "--live", "16MiB", "--object-size", "256KiB", "--rate", "64MiB",
              "--scavenger", "eager", "--madvise", "MADV_FREE", *QUIET_GC)
    gcs = [w.event("gc", timeout_s=5.0) for _ in range(7)]
    steady = [g for g in gcs if g["heap_before"] > live]  # past the initial fill (goals 4, 8, 16 MiB)
    assert len(steady) >= 3
    # Each cycle leaves the live objects plus at most the batch being swapped in (6.4 MiB per 0.1 s tick, more
    # when a late tick catches up): bound it by the batch the workload really allocated just before the cycle.
    def batch_before(gc: dict) -> int:
        allocs = [m for m in w.seen if m["type"] == "event" and m["event"] == "alloc" and m["t"] <= gc["t"]]
        return allocs[-1]["bytes"] if allocs else 0
    assert all(live <= g["heap_after"] <= live + max(batch_before(g), 7 * MIB) for g in steady), steady
    reuse = w.event("reuse", timeout_s=5.0)
    assert reuse["released_with"] == "MADV_FREE" and reuse["bytes"] > 0
    stats = [m for m in w.seen if m["type"] == "stats"]
    later = stats[len(stats) // 2:]
    assert min(s["heap_inuse_bytes"] for s in later) >= live
    largest_batch = max(m["bytes"] for m in w.seen if m["type"] == "event" and m["event"] == "alloc")
    assert all(s["heap_inuse_bytes"] <= s["heap_goal_bytes"] <= 2 * (live + max(largest_batch, 7 * MIB))
               for s in later)  # GOGC=100 holds it
    assert max(s["heap_sys_bytes"] for s in stats) <= 64 * MIB  # reuse, not growth: one arena serves it all
    allocated = sum(m["bytes"] for m in w.seen if m["type"] == "event" and m["event"] == "alloc")
    assert allocated >= 3 * live  # it kept allocating all along


def test_burst_returns_to_base(spawn):
    base, burst = 16 * MIB, 32 * MIB
    w = spawn("--pattern", "burst", "--base", "16MiB", "--size", "32MiB", "--interval", "1s", "--hold", "0.4s",
              "--scavenger", "eager", "--madvise", "MADV_DONTNEED", "--forced-gc-period", "0.1s")
    for _ in range(2):
        w.event("alloc", bytes=burst)
        with_burst = rss(w)
        assert with_burst >= base + burst
        w.event("free", bytes=burst)
        gc = w.wait_for(lambda m: m["type"] == "event" and m["event"] == "gc" and m["heap_after"] == base)
        scav = w.event("scavenge")
        assert scav["released_bytes"] >= burst
        assert stats_after(w, scav)["heap_inuse_bytes"] == base
        assert rss(w) <= with_burst - 0.8 * burst
        assert gc["heap_before"] >= base + burst


def test_paced_scavenger_releases_in_the_background_without_a_command(spawn):
    w = spawn("--pattern", "seed", "--size", "32MiB", "--count", "2", "--interval", "0", "--hold", "0",
              "--scavenger", "paced", "--madvise", "MADV_DONTNEED", "--forced-gc-period", "0.2s")
    w.event("free")
    peak_rss = rss(w)
    gc = w.wait_for(lambda m: m["type"] == "event" and m["event"] == "gc" and m["heap_after"] == 0)
    goal = w.wait_for(lambda m: m["type"] == "stats" and m["gc_count"] == gc["n"])["heap_goal_bytes"]
    done = w.wait_for(lambda m: m["type"] == "stats" and m["heap_idle_bytes"] + m["heap_inuse_bytes"] <= 1.1 * goal, 5.0)
    scavs = [m for m in w.seen if m["type"] == "event" and m["event"] == "scavenge" and m["t"] > gc["t"]]
    assert len(scavs) >= 5, "paced releases a little at a time"
    assert all(0 < s["released_bytes"] <= 64 * MIB * 0.25 for s in scavs)  # rate-limited, 0.1 s slices
    assert done["t"] - gc["t"] >= 0.5  # ~60 MiB at 64 MiB/s cannot be done in one go
    assert done["heap_idle_bytes"] + done["heap_inuse_bytes"] >= 1.1 * goal - 8192  # stops at the target, not below
    assert wait_until(lambda: rss(w) <= peak_rss - 50 * MIB, 1.0), (rss(w), peak_rss)
    time.sleep(0.3)
    later = [m for m in w.seen if m["type"] == "event" and m["event"] == "scavenge" and m["t"] > done["t"]]
    assert not later or all(s["released_bytes"] == 0 for s in later)


# ---- go1.19 / go1.21 trace lines in a real run ---------------------------------------------------------------
def _scav_traces(w, event: dict) -> list[str]:
    """The scav trace lines sent for one scavenge event (they come just before it)."""
    i = w.seen.index(event)
    lines = []
    for m in reversed(w.seen[:i]):
        if m["type"] == "event":
            break
        if m["type"] == "trace" and m["kind"] == "scav":
            lines.append(m["line"])
    return lines


@pytest.mark.parametrize("fmt, policy", [("go1.19", "eager"), ("go1.21", "eager"), ("go1.21", "paced")])
def test_scav_lines_in_a_real_run_parse_and_agree_with_the_events(spawn, fmt, policy):
    from tui.core.golang.trace import GcTrace, ScavTrace, parse_line

    w = spawn("--pattern", "seed", "--size", "8MiB", "--count", "2", "--interval", "0", "--hold", "0",
              "--scavenger", policy, "--madvise", "MADV_DONTNEED", "--trace-format", fmt, *QUIET_GC)
    w.event("free")
    w.send(cmd="gc")
    scav = w.event("scavenge")
    # paced: let it finish (it keeps 110 % of the goal; the others release everything)
    w.wait_for(lambda m: m["type"] == "stats" and m["heap_idle_bytes"] + m["heap_inuse_bytes"] <= 1.1 * m["heap_goal_bytes"], 5.0)
    w.send(cmd="alloc", bytes="4MiB")
    w.event("alloc")
    w.send(cmd="free")
    w.event("free")
    w.send(cmd="gc")
    w.event("gc", forced=True)
    w.send(cmd="scavenge")
    forced = w.wait_for(lambda m: m["type"] == "event" and m["event"] == "scavenge" and m["t"] > scav["t"]
                        and any("(forced)" in line for line in _scav_traces(w, m)))
    gc_lines = [m["line"] for m in w.seen if m["type"] == "trace" and m["kind"] == "gc"]
    assert gc_lines and all(isinstance(parse_line(line), GcTrace) for line in gc_lines)
    assert all(parse_line(line).stacks_bytes is not None for line in gc_lines if line.startswith("gc "))
    lab = [m["line"] for m in w.seen if m["type"] == "trace" and m["kind"] == "lab"]
    assert lab and all(parse_line(line) is None for line in lab)
    # Go >= 1.19 prints one scav line per GC cycle with the work since the last one (bg and eager summed), and one
    # of its own for a forced scavenge (debug.FreeOSMemory): replay the messages and hold each line to the events.
    scav_events = [m for m in w.seen if m["type"] == "event" and m["event"] == "scavenge"]
    pending, checked, last_stats = {"bg": 0, "eager": 0}, 0, None
    for m in w.seen:
        if m["type"] == "stats":
            last_stats = m
        elif m["type"] == "event" and m["event"] == "scavenge" and m is not forced:
            pending["bg" if policy == "paced" else "eager"] += m["released_bytes"]
        elif m["type"] == "trace" and m["kind"] == "scav":
            parsed = parse_line(m["line"])
            assert isinstance(parsed, ScavTrace), m["line"]
            assert parsed.fmt == ("scav-1.19" if fmt == "go1.19" else "scav")
            if parsed.forced:
                assert parsed.work_bytes == forced["released_bytes"], (m["line"], forced)
                continue
            assert parsed.work_bytes == pending["bg"] + pending["eager"], (m["line"], pending)
            if fmt == "go1.21":
                assert (parsed.work_bg_bytes, parsed.work_eager_bytes) == (pending["bg"], pending["eager"]), m["line"]
            if last_stats is not None:
                assert parsed.total_released_bytes <= last_stats["heap_sys_bytes"]
            checked += parsed.work_bytes > 0
            pending = {"bg": 0, "eager": 0}
    assert checked >= 1, "a GC after the releases printed their work"
    assert any(parse_line(line).forced for line in _scav_traces(w, forced))
    assert sum(e["released_bytes"] for e in scav_events if e is not forced) >= 16 * MIB - 4.4 * MIB
