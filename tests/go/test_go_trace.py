"""The trace parser on real lines of every format the Go runtime has printed, and on a live runtime's stderr."""

from __future__ import annotations

from typing import Callable

import pytest
from gotest_support import MiB

from tui.core.golang.trace import GcTrace, ScavTrace, classify, parse_line

KiB = 1 << 10

# Go 1.12.5, from the seed post (shared/seed/000_*.txt).
GO112_GC = ("gc 2 @21.385s 0%: 0.004+5696+0.013 ms clock, 0.009+1.2/1.2/5693+0.027 ms cpu, "
            "1024->1024->1024 MB, 1025 MB goal, 2 P")
GO112_GC_AFTER_FORCED = ("gc 3 @147.085s 0%: 0.015+3.4+0.008 ms clock, 0.030+0/1.2/4.7+0.016 ms cpu, "
                         "1024->1024->0 MB, 2048 MB goal, 2 P")
GO112_SCVG_STATE = "scvg0: inuse: 0, idle: 1087, sys: 1087, released: 63, consumed: 1024 (MB)"
GO112_SCVG_RELEASED = "scvg2: 1024 MB released"
# Go 1.27.3 on this machine (GODEBUG=gctrace=1,scavtrace=1), runtime.GC() and debug.FreeOSMemory().
GO127_GC = ("gc 1 @0.103s 0%: 0.066+0.92+0.051 ms clock, 0.13+0/0.28/0.14+0.10 ms cpu, 128->128->128 MB, "
            "128 MB goal, 0 MB stacks, 0 MB globals, 2 P")
GO127_GC_FORCED = ("gc 3 @0.802s 0%: 0.061+0.14+0.002 ms clock, 0.12+0/0.077/0.15+0.005 ms cpu, 256->256->0 MB, "
                   "512 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)")
GO127_SCAV = "scav 13104 KiB work (bg), 0 KiB work (eager), 6144 KiB now, 73% util"
GO127_SCAV_FORCED = "scav 0 KiB work (bg), 262440 KiB work (eager), 269232 KiB now, 100% util (forced)"
# From DESIGN.md (Go 1.19 and the current runtime's scavtrace).
GO119_SCAV = "scav 1047552 KiB work, 1050816 KiB total, 25% util"
GO121_SCAV = "scav 1048704 KiB work (bg), 0 KiB work (eager), 1051896 KiB now, 95% util"
# Go 1.14-1.18 printScavTrace: print("scav ", gen, " ", released>>10, " KiB work, ", ...).
GO114_SCAV = "scav 12 1047552 KiB work, 1050816 KiB total, 25% util (forced)"
GO118_SCAV_RESET = "scav 3 1024 KiB work, 2048 KiB total, 50% util [controller reset]"
# Go 1.13 scvg has no number; scvg-1 is FreeOSMemory in 1.12.
GO113_SCVG = "scvg: 1024 MB released"
GO113_SCVG_STATE = "scvg: inuse: 3, idle: 1084, sys: 1087, released: 1084, consumed: 3 (MB)"
GO112_SCVG_FREEOSMEMORY = "scvg-1: 1024 MB released"
GO112_SCVG_FREEOSMEMORY_STATE = "scvg-1: inuse: 0, idle: 1087, sys: 1087, released: 1087, consumed: 0 (MB)"


def test_go112_gctrace():
    gc = parse_line(GO112_GC)
    assert gc == GcTrace(n=2, at_s=21.385, forced=False, heap_before_bytes=1024 * MiB, heap_after_bytes=1024 * MiB,
                         heap_live_bytes=1024 * MiB, goal_bytes=1025 * MiB, stacks_bytes=None, globals_bytes=None,
                         procs=2, cpu_percent=0)
    assert parse_line(GO112_GC_AFTER_FORCED).heap_live_bytes == 0
    assert parse_line(GO112_GC_AFTER_FORCED).goal_bytes == 2048 * MiB


def test_go118_plus_gctrace_with_stacks_globals_and_forced():
    gc = parse_line(GO127_GC)
    assert (gc.n, gc.at_s, gc.forced, gc.stacks_bytes, gc.globals_bytes, gc.procs) == (1, 0.103, False, 0, 0, 2)
    assert gc.heap_before_bytes == gc.heap_live_bytes == gc.goal_bytes == 128 * MiB
    forced = parse_line(GO127_GC_FORCED)
    assert forced.forced and forced.heap_before_bytes == 256 * MiB and forced.heap_live_bytes == 0
    assert forced.goal_bytes == 512 * MiB


def test_gc_forced_announcement():
    announcement = parse_line("GC forced")
    assert isinstance(announcement, GcTrace) and announcement.announcement and announcement.forced
    assert classify("GC forced") == "gc"


def test_go112_scvg_lines():
    state = parse_line(GO112_SCVG_STATE)
    assert state == ScavTrace("scvg-state", cycle=0, inuse_bytes=0, idle_bytes=1087 * MiB, sys_bytes=1087 * MiB,
                              total_released_bytes=63 * MiB, consumed_bytes=1024 * MiB)
    released = parse_line(GO112_SCVG_RELEASED)
    assert (released.fmt, released.cycle, released.released_bytes) == ("scvg-released", 2, 1024 * MiB)


def test_go113_scvg_and_freeosmemory_scvg_minus_1():
    assert parse_line(GO113_SCVG).cycle is None and parse_line(GO113_SCVG).released_bytes == 1024 * MiB
    assert parse_line(GO113_SCVG_STATE).total_released_bytes == 1084 * MiB
    assert parse_line(GO112_SCVG_FREEOSMEMORY).cycle == -1
    assert parse_line(GO112_SCVG_FREEOSMEMORY_STATE).total_released_bytes == 1087 * MiB


def test_go119_scav_and_its_generation_numbered_predecessor():
    scav = parse_line(GO119_SCAV)
    assert (scav.fmt, scav.released_bytes, scav.total_released_bytes, scav.util_percent, scav.forced) == (
        "scav-1.19", 1047552 * KiB, 1050816 * KiB, 25, False)
    older = parse_line(GO114_SCAV)
    assert (older.cycle, older.work_bytes, older.forced) == (12, 1047552 * KiB, True)
    assert parse_line(GO118_SCAV_RESET).total_released_bytes == 2048 * KiB


def test_current_scav_bg_eager_now():
    scav = parse_line(GO121_SCAV)
    assert (scav.work_bg_bytes, scav.work_eager_bytes, scav.total_released_bytes, scav.util_percent) == (
        1048704 * KiB, 0, 1051896 * KiB, 95)
    forced = parse_line(GO127_SCAV_FORCED)
    assert forced.forced and forced.released_bytes == 262440 * KiB
    assert parse_line(GO127_SCAV).work_bg_bytes == 13104 * KiB
    # The docs call the third figure "total"; accept it too.
    assert parse_line(GO121_SCAV.replace(" now,", " total,")).total_released_bytes == 1051896 * KiB


@pytest.mark.parametrize("line", [GO112_GC, GO127_GC, GO127_GC_FORCED])
def test_classify_gc(line):
    assert classify(line) == "gc"


@pytest.mark.parametrize("line", [GO112_SCVG_STATE, GO112_SCVG_RELEASED, GO113_SCVG, GO112_SCVG_FREEOSMEMORY,
                                  GO119_SCAV, GO114_SCAV, GO121_SCAV, GO127_SCAV_FORCED])
def test_classify_scav(line):
    assert classify(line) == "scav"


@pytest.mark.parametrize("line", ["", "hello", "panic: runtime error: index out of range",
                                  "goroutine 1 [running]:", "gc 1 @0.1s: something new", "scavenger says hi",
                                  "scav lots KiB work"])
def test_unknown_lines_are_other_or_unparsed(line):
    assert parse_line(line) is None
    assert classify(line) in ("other", "gc", "scav")
    if not line.startswith(("gc ", "scav")):
        assert classify(line) == "other"


def test_a_future_gctrace_field_is_shown_as_is_not_misparsed():
    changed = GO127_GC.replace("0 MB globals, ", "0 MB globals, 3 MB somethingnew, ")
    assert classify(changed) == "gc" and parse_line(changed) is None


@pytest.mark.slow
def test_every_line_the_live_runtime_prints_parses(go_workload):
    """Churn makes the pacer run GCs and the background scavenger work; gc and scavenge commands add forced lines."""
    workload = go_workload({"pattern": "churn", "live": 32 * MiB, "rate": 64 * MiB, "object_size": MiB,
                            "gogc": 50, "madvise": "MADV_DONTNEED"})
    workload.wait_for(lambda m: m["type"] == "hello")
    workload.send({"cmd": "gc"})
    workload.event("gc")
    workload.send({"cmd": "scavenge"})
    workload.event("scavenge")
    workload.wait_for(lambda m: m["type"] == "stats" and m["t"] > 1.0)

    def forced(kind: type) -> Callable[[str], bool]:
        return lambda line: isinstance(parse_line(line), kind) and parse_line(line).forced
    # runtime.GC() is labelled "(forced)" only when its cycle is the one it started: under churn the pacer can start
    # that cycle first (runtime.GC then waits for it, unlabelled), so ask again until the runtime prints one
    for _attempt in range(5):
        try:
            workload.wait_for_stderr(forced(GcTrace), timeout_s=4.0)
            break
        except AssertionError:
            workload.send({"cmd": "gc"})
    lines = workload.wait_for_stderr(forced(ScavTrace))
    parsed = [parse_line(line) for line in lines]
    assert any(isinstance(p, GcTrace) and p.forced for p in parsed), lines
    assert any(isinstance(p, ScavTrace) and p.forced for p in parsed), lines
    unparsed = [line for line, p in zip(lines, parsed) if p is None]
    assert not unparsed
    assert all(classify(line) in ("gc", "scav") for line in lines)
