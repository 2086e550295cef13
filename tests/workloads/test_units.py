"""Pure unit tests: trace formats against real Go lines, pacer and scavenger with a fake clock, heap, protocol, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from workload_support import MIB, REPO
from workloads import trace
from workloads.cli import UsageError, parse_options
from workloads.gc import MIN_HEAP_BYTES, Pacer
from workloads.heap import Heap
from workloads.options import defaults
from workloads.protocol import BadCommand, decode_command
from workloads.runtime import Runtime
from workloads.scavenger import Scavenger


# ---- trace formats: the real lines quoted in DESIGN.md, character for character -------------------------------
def test_gctrace_go112_matches_the_runtime_line():
    cycle = trace.GcCycle(
        n=2, start_ms=21385, cpu_percent=0, clock_ns=(4_000, 5_696_000_000, 13_000),
        cpu_ns=(9_000, 1_200_000, 1_200_000, 5_693_000_000, 27_000), heap_before=1024 * MIB, heap_after=1024 * MIB,
        heap_live=1024 * MIB, goal=1025 * MIB, procs=2, forced=False)
    assert trace.gctrace(cycle, "go1.12") == (
        "gc 2 @21.385s 0%: 0.004+5696+0.013 ms clock, 0.009+1.2/1.2/5693+0.027 ms cpu, "
        "1024->1024->1024 MB, 1025 MB goal, 2 P")


@pytest.mark.parametrize("fmt", ["go1.19", "go1.21"])
def test_gctrace_go118_plus_has_stacks_and_globals(fmt):
    cycle = trace.GcCycle(n=3, start_ms=147_001, cpu_percent=0, clock_ns=(0, 0, 0), cpu_ns=(0,) * 5,
                          heap_before=1024 * MIB, heap_after=1024 * MIB, heap_live=0, goal=2048 * MIB, procs=2,
                          forced=False)
    line = trace.gctrace(cycle, fmt)
    assert line.endswith("ms cpu, 1024->1024->0 MB, 2048 MB goal, 0 MB stacks, 0 MB globals, 2 P")
    assert line.startswith("gc 3 @147.001s 0%: 0+0+0 ms clock, 0+0/0/0+0 ms cpu, ")


def test_forced_gc_suffix_and_go_number_formatting():
    cycle = trace.GcCycle(n=1, start_ms=5, cpu_percent=1, clock_ns=(12_345_678, 999, 99_999), cpu_ns=(1,) * 5,
                          heap_before=0, heap_after=0, heap_live=0, goal=4 * MIB, procs=1, forced=True)
    assert trace.gctrace(cycle, "go1.12") == (
        "gc 1 @0.005s 1%: 12+0+0.099 ms clock, 0+0/0/0+0 ms cpu, 0->0->0 MB, 4 MB goal, 1 P (forced)")
    assert [trace.fmt_ns_as_ms(ns) for ns in (1_234_567, 123_456, 9_999_999, 10_000_000)] == \
        ["1.2", "0.12", "9.9", "10"]


def test_scvg_lines_match_go112():
    lines = trace.scvg_lines(2, 1024 * MIB, 0, 1087 * MIB, 1087 * MIB, 1087 * MIB)
    assert lines == ["scvg2: 1024 MB released",
                     "scvg2: inuse: 0, idle: 1087, sys: 1087, released: 1087, consumed: 0 (MB)"]
    assert trace.scvg_lines(0, 0, 0, 1087 * MIB, 1087 * MIB, 63 * MIB) == [
        "scvg0: inuse: 0, idle: 1087, sys: 1087, released: 63, consumed: 1024 (MB)"]
    assert trace.scvg_lines(-1, 0, 0, 0, 0, 0)[0].startswith("scvg-1: inuse")
    assert trace.scvg_lines(None, 0, 0, 0, 0, 0)[0].startswith("scvg: inuse")


def test_scavtrace_go119_and_go121():
    kib = 1024
    # util = inuse*100 // retained: 25% and 95%, as in the real lines
    assert trace.scav_line_119(1047552 * kib, 1050816 * kib, 25, 100) == \
        "scav 1047552 KiB work, 1050816 KiB total, 25% util"
    assert trace.scav_line_121(1048704 * kib, 0, 1051896 * kib, 95, 100) == \
        "scav 1048704 KiB work (bg), 0 KiB work (eager), 1051896 KiB now, 95% util"
    assert trace.scav_line_119(0, 0, 0, 0, forced=True) == "scav 0 KiB work, 0 KiB total, 0% util (forced)"


def test_lab_lines_never_look_like_go():
    assert trace.lab("madvise mode MADV_FREE -> MADV_DONTNEED").startswith("lab: ")


# ---- pacer and scavenger policies (fake clock) ------------------------------------------------------------------
def test_pacer_goal_and_forced_period():
    pacer = Pacer(gogc=100, forced_period_s=120.0)
    assert pacer.goal_bytes == MIN_HEAP_BYTES
    assert pacer.reached_goal(512 * MIB)
    pacer.cycle_done(1.0, live_bytes=512 * MIB)
    assert pacer.goal_bytes == 1024 * MIB and not pacer.reached_goal(1023 * MIB)
    assert not pacer.forced_due(120.9) and pacer.forced_due(121.0)
    assert Pacer(gogc=50, forced_period_s=0).goal_for(100 * MIB) == 150 * MIB
    off = Pacer(gogc=-1, forced_period_s=0)
    assert not off.reached_goal(1 << 40) and not off.forced_due(1e9)


class FakeSpan:
    def __init__(self, n_bytes: int, freed_at_s: float) -> None:
        self.n_bytes, self.freed_at_s = n_bytes, freed_at_s


def test_go112_scavenger_sweeps_periodically_and_only_long_idle_spans():
    scav = Scavenger("go1.12", period_s=150.0, idle_s=300.0)
    old, young = FakeSpan(64 * MIB, 0.0), FakeSpan(64 * MIB, 200.0)
    assert scav.tick(149.0, [old, young], 0, 0) is None
    plan = scav.tick(300.0, [old, young], 0, 0)
    assert plan.gen == 0 and [s for s, _ in plan.parts] == [old]
    assert scav.next_due_s() == 450.0
    assert scav.tick(450.0, [young], 0, 0).parts == ()  # nothing old enough yet: an empty sweep
    assert scav.tick(600.0, [young], 0, 0).gen == 2


def test_eager_scavenger_releases_everything_after_gc_and_paced_is_rate_limited():
    spans = [FakeSpan(64 * MIB, 0.0), FakeSpan(64 * MIB, 1.0)]
    assert Scavenger("eager", 0, 0).after_gc(spans).n_bytes == 128 * MIB
    assert Scavenger("off", 0, 0).after_gc(spans) is None
    paced = Scavenger("paced", 0, 0)
    plan = paced.tick(0.5, spans, inuse_bytes=0, goal_bytes=4 * MIB)
    assert plan.n_bytes == 32 * MIB and plan.parts[0][0] is spans[0]  # 64 MiB/s × 0.5 s, longest idle first
    assert paced.tick(0.6, spans, inuse_bytes=200 * MIB, goal_bytes=400 * MIB) is None  # under 110% of goal


# ---- heap on real (small) memory --------------------------------------------------------------------------------
def test_heap_reuses_first_fit_coalesces_and_accounts():
    heap = Heap(arena_bytes=4 * MIB)
    try:
        a = heap.alloc(1 * MIB, 0.0).span
        b = heap.alloc(1 * MIB, 0.0).span
        c = heap.alloc(1 * MIB, 0.0).span
        assert len(heap.arenas) == 1 and heap.stats().inuse == 3 * MIB and heap.stats().sys == 4 * MIB
        heap.free(a, 1.0)
        heap.free(b, 2.0)
        assert heap.stats().idle == 2 * MIB and len(heap.arenas[0].spans) == 3  # a+b coalesced
        d = heap.alloc(2 * MIB, 3.0)
        assert d.span.offset == 0 and d.reused_bytes == 0  # idle pages: no reuse cost to report
        heap.free(d.span, 4.0)
        heap.release(heap.idle_spans()[0], 2 * MIB, "MADV_DONTNEED")
        s = heap.stats()
        assert (s.inuse, s.idle, s.released, s.sys) == (1 * MIB, 0, 3 * MIB, 4 * MIB)
        e = heap.alloc(1 * MIB, 5.0)
        assert e.reused_bytes == 1 * MIB and e.released_with == "MADV_DONTNEED"
        heap.free(c, 6.0)
        heap.free(e.span, 6.0)
        assert heap.unmap_free_arenas() == 4 * MIB and heap.stats().sys == 0
    finally:
        heap.close()


def test_refused_madvise_on_a_shared_mapping_is_an_error_and_the_runtime_goes_on():
    out: list[dict] = []
    opts = {**defaults(), "pattern": "steady", "size": 0, "madvise": "MADV_FREE", "scavenger": "eager",
            "arena_size": 2 * MIB}
    rt = Runtime(opts, lambda line: out.append(json.loads(line)), heap=Heap(2 * MIB, shared=True))
    try:
        rt.handle_line('{"cmd":"alloc","bytes":"1MiB"}')
        rt.handle_line('{"cmd":"free"}')
        rt.handle_line('{"cmd":"gc"}')
        error = next(m for m in out if m["type"] == "error")
        assert error["flag"] == "MADV_FREE" and error["errno"] == 22
        assert rt.mode == "MADV_FREE" and rt.heap.stats().idle == 1 * MIB
        rt.handle_line('{"cmd":"set_madvise","value":"MADV_DONTNEED"}')
        rt.handle_line('{"cmd":"scavenge"}')
        assert rt.heap.stats().idle == 0
    finally:
        rt.heap.close()


# ---- protocol and CLI --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("junk", ["", "x", "gcc", "alloc", "alloc lots", "set_madvise", "set_madvise FREE", "[]", "1", '{"cmd":1}', '{"cmd":"nope"}', '{"cmd":"set_madvise"}',
                                  '{"cmd":"set_madvise","value":"MADV_BOGUS"}', '{"cmd":"alloc"}',
                                  '{"cmd":"alloc","bytes":-5}', '{"cmd":"alloc","bytes":[1]}', "[" * 100000])
def test_junk_commands_are_rejected_with_a_reason(junk):
    with pytest.raises(BadCommand):
        decode_command(junk)


def test_commands_decode():
    assert decode_command('{"cmd":"alloc","bytes":"64MiB"}').args == {"bytes": 64 * MIB}
    assert decode_command('{"cmd":"set_madvise","value":"advice:99"}').args == {"value": "advice:99"}
    assert decode_command('{"cmd":"gc"}').cmd == "gc"


def test_commands_typed_by_hand_decode_like_json():
    assert decode_command("gc\n") == decode_command('{"cmd":"gc"}')
    assert decode_command("alloc 64MiB") == decode_command('{"cmd":"alloc","bytes":"64MiB"}')
    assert decode_command("  set_madvise MADV_DONTNEED ") == decode_command('{"cmd":"set_madvise","value":"MADV_DONTNEED"}')


def test_cli_parses_sizes_durations_and_rejects_bad_values():
    opts = parse_options(["--size", "128MiB", "--interval", "2.5m", "--madvise", "madv_dontneed"])
    assert (opts["size"], opts["interval"], opts["madvise"]) == (128 * MIB, 150.0, "MADV_DONTNEED")
    with pytest.raises(UsageError, match="--scavenger: expected one of go1.12, paced, eager, off"):
        parse_options(["--scavenger", "lazy"])


@pytest.mark.parametrize("argv, flag", [(["--size", "huge"], "--size"), (["--interval", "soon"], "--interval"),
                                        (["--gogc", "x"], "--gogc"), (["--nope", "1"], "--nope")])
def test_bad_cli_value_is_one_line_and_exit_2(argv, flag):
    done = subprocess.run([sys.executable, "-m", "workloads", *argv], cwd=REPO, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=20)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and flag in done.stderr and "Traceback" not in done.stderr


def test_help_explains_every_flag():
    done = subprocess.run([sys.executable, "-m", "workloads", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 0
    for flag in ("--pattern", "--madvise", "--scavenger", "--scavenge-period", "--gogc", "--forced-gc-period",
                 "--trace-format", "--arena-size"):
        assert flag in done.stdout
