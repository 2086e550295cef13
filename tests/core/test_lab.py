"""The Lab end to end with real workload processes: the story, a crash, restart, commands and stop()."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from tui.core.kernel.sampler import IDLE_INTERVAL_S
from tui.core.sources import supervisor as supervisor_module
from kernel_truth import read_smaps_rollup
from lab_runner import Run, make_lab

MiB = 1 << 20
GiB = 1 << 30
STORY = """\
sample_interval: 50ms
pressure: {cgroup_root: /proc}
defaults:
  pattern: seed
  size: 64MiB
  count: 2
  interval: 300ms
  hold: 300ms
  forced_gc_period: 1s
  scavenger: go1.12
  scavenge_period: 500ms
  scavenge_idle: 500ms
  arena_size: 16MiB
workloads:
  - {name: free, madvise: MADV_FREE}
  - {name: dontneed, madvise: MADV_DONTNEED}
"""
STEADY = """\
sample_interval: 50ms
pressure: {cgroup_root: /proc}
workloads:
  - {name: steady, pattern: steady, size: 32MiB, arena_size: 16MiB}
  - {name: other, pattern: steady, size: 16MiB, arena_size: 16MiB}
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.fixture
def story():
    lab = make_lab(STORY)
    run = Run(lab)
    lab.start()
    yield run
    lab.stop()


def test_story_free_keeps_rss_dontneed_drops_it(story):
    run, lab = story, story.lab

    def released(name):
        heap = lab.heap(name)
        return heap is not None and heap.heap_released_bytes >= 128 * MiB and heap.heap_inuse_bytes == 0

    run.until(lambda: released("free") and released("dontneed"), what="both scavenged")
    time.sleep(0.3)
    run.poll()
    # Kernel truth as the dashboard shows it, against a /proc read at the same moment.
    for name in lab.names:
        pid = lab.status(name).pid
        shown = run.latest(name).kernel
        direct = read_smaps_rollup(pid)
        assert abs(shown.rss_bytes - direct.rss_bytes) <= 0.02 * direct.rss_bytes, (name, shown, direct)
    free, dontneed = run.latest("free"), run.latest("dontneed")
    released_bytes = free.heap.heap_released_bytes
    assert free.kernel.rss_bytes >= 128 * MiB  # RSS stays high after the release ...
    assert abs(free.kernel.lazyfree_bytes - released_bytes) <= 0.05 * released_bytes  # ... as LazyFree
    assert free.kernel.footprint_bytes < 64 * MiB
    assert dontneed.kernel.rss_bytes < 64 * MiB and dontneed.kernel.lazyfree_bytes == 0
    peak = max(s.kernel.rss_bytes for s in run.samples if s.workload == "dontneed")
    assert peak >= 128 * MiB  # it did hold the memory before
    kinds = {(m.workload, m.kind) for m in run.markers}
    assert {("free", "gc"), ("free", "scavenge"), ("dontneed", "scavenge")} <= kinds
    assert any(l.kind == "scav" and "released" in l.line for l in run.lines)
    assert [s.madvise for s in run.samples if s.workload == "free"][-1] == "MADV_FREE"
    series = lab.series("free")
    assert len(series.column("rss_bytes")) == len(series) > 10
    assert series.column("lazyfree_bytes", 1)[0] == free.kernel.lazyfree_bytes


def test_commands_reach_the_workload_and_stop_leaves_nothing():
    lab = make_lab(STEADY)
    run = Run(lab)
    lab.start()
    try:
        run.until(lambda: lab.status("steady").state == "running" and lab.heap("steady") is not None,
                  what="steady running")
        lab.set_madvise("steady", "MADV_DONTNEED")
        run.until(lambda: lab.status("steady").madvise == "MADV_DONTNEED", 5, "mode switch")
        assert any(m.kind == "mode" and m.workload == "steady" for m in run.markers)
        assert run.latest("steady") is not None
        lab.gc("steady")
        run.until(lambda: any(m.kind == "gc" and m.workload == "steady" for m in run.markers), 5, "gc marker")
        before = lab.heap("steady").heap_inuse_bytes
        lab.alloc("steady", 16 * MiB)
        run.until(lambda: lab.heap("steady").heap_inuse_bytes >= before + 16 * MiB, 5, "alloc")
        lab.pause("steady")
        run.until(lambda: lab.status("steady").state == "paused", 5, "paused")
        lab.resume("steady")
        run.until(lambda: lab.status("steady").state == "running", 5, "resumed")
        lab.pressure("steady")  # cgroup_root /proc is not a cgroup: refused with the reason, never raised
        run.until(lambda: any("pressure unavailable" in l.line for l in run.lines), 5, "pressure refusal")
        assert not lab.pressure_available and lab.pressure_reason
        pids = [lab.status(name).pid for name in lab.names]
        assert all(alive(pid) for pid in pids)
    finally:
        lab.stop()
        lab.stop()  # idempotent
    assert not any(alive(pid) for pid in pids)
    run.until(lambda: all(lab.status(n).state == "exited" for n in lab.names), 5, "exited statuses")


def test_a_killed_workload_shows_exited_and_restart_brings_it_back():
    lab = make_lab(STEADY)
    run = Run(lab)
    lab.start()
    try:
        run.until(lambda: all(lab.status(n).state == "running" for n in lab.names), what="running")
        victim = lab.status("steady").pid
        os.kill(victim, signal.SIGKILL)
        run.until(lambda: lab.status("steady").state == "exited", 5, "exited")
        assert lab.status("steady").exit_code == -9
        assert any("exited (code -9)" in l.line for l in run.lines)
        count = len(lab.series("other"))
        run.until(lambda: len(lab.series("other")) > count + 5, 5, "the other workload still sampled")
        lab.gc("steady")  # a command to a dead workload is a lab: line, not an exception
        run.until(lambda: any("not running" in l.line for l in run.lines), 5, "not running line")
        lab.restart("steady")
        run.until(lambda: lab.status("steady").state == "running" and lab.status("steady").pid != victim, 10,
                  "restarted")
        assert any(m.kind == "restart" for m in run.markers)
        new_pid = lab.status("steady").pid
        run.until(lambda: run.latest("steady") is not None and run.latest("steady").pid == new_pid, 5,
                  "samples of the new process")
    finally:
        lab.stop()
    assert not alive(new_pid)


CRASHER = ("import sys, json\n"
           "print(json.dumps({'type': 'hello', 't': 0.0, 'pid': __import__('os').getpid(), 'kind': 'python',"
           " 'madvise': 'MADV_FREE', 'options': {}}), flush=True)\n"
           "print('this is { not json', flush=True)\n"
           "print(json.dumps(['a', 'list']), flush=True)\n"
           "sys.stdin.readline()\n"
           "raise SystemExit('boom: out of ideas')\n")


def test_crash_shows_last_error_and_bad_json_is_a_line(monkeypatch):
    real = supervisor_module.workload_command

    def command(workload, progress=lambda m: None):
        if workload.name == "steady":
            return [sys.executable, "-c", CRASHER], None
        return real(workload, progress)

    monkeypatch.setattr(supervisor_module, "workload_command", command)
    lab = make_lab(STEADY)
    run = Run(lab)
    lab.start()
    try:
        run.until(lambda: lab.status("steady").state == "running", 5, "crasher hello")
        run.until(lambda: sum(1 for l in run.lines if l.kind == "other" and l.workload == "steady") >= 2, 5,
                  "junk lines")
        assert any(l.line == "this is { not json" for l in run.lines)
        lab.gc("steady")  # the crasher reads one line, then dies
        run.until(lambda: lab.status("steady").state == "exited", 5, "crash")
        status = lab.status("steady")
        assert status.exit_code == 1 and status.last_error == "boom: out of ideas"
        run.until(lambda: lab.status("other").state == "running", 10, "the other keeps going")
    finally:
        lab.stop()


def test_notify_is_coalesced_and_quiet_when_steady():
    woken = threading.Event()
    calls = []

    def notify():
        calls.append(time.monotonic())
        woken.set()

    lab = make_lab(STEADY, notify=notify)
    run = Run(lab)
    lab.start()
    try:
        run.until(lambda: all(lab.status(n).state == "running" for n in lab.names), what="running")
        time.sleep(1.5)  # let start-up settle: steady memory from here on
        run.poll()
        calls.clear()
        # unchanged samples (a sleeping workload is read every IDLE_INTERVAL_S, a running one at 20 Hz), nobody
        # polling: one wake-up at most, and the series still grows
        time.sleep(1.0)
        assert len(calls) <= 1
        assert len(run.poll().samples) >= len(lab.names) * int(1.0 / IDLE_INTERVAL_S) - 1
        # A front end that polls on every wake-up: steady memory must not wake it at the 20 Hz sample rate.
        calls.clear()
        polls, n_samples, deadline = 0, 0, time.monotonic() + 2.0
        while time.monotonic() < deadline:
            if woken.wait(0.05):
                woken.clear()
                polls += 1
            n_samples += len(run.poll().samples)
        assert n_samples >= len(lab.names) * int(2.0 / IDLE_INTERVAL_S) - 1
        assert len(calls) <= 10, len(calls)  # stats (~1/s per workload) and the odd rollup change, not 80
        lab.gc("steady")
        assert woken.wait(2.0)  # a message does wake it
    finally:
        lab.stop()


def test_timeline_steps_run_and_are_logged():
    text = STEADY + ("timeline:\n"
                     "  - {at: 0s, do: set_madvise, workload: steady, value: MADV_DONTNEED}\n"
                     "  - {at: 300ms, do: gc, workload: all}\n"
                     "  - {at: 1h, do: free, workload: other}\n")
    lab = make_lab(text)
    run = Run(lab)
    lab.start()
    try:
        run.until(lambda: lab.status("steady").madvise == "MADV_DONTNEED", 10, "timeline mode switch")
        run.until(lambda: sum("timeline at 0.3s: gc all" in l.line for l in run.lines) == 2, 10, "gc step logged")
        forced = lambda: {m.workload for m in run.markers if m.kind == "gc" and "forced" in m.label}
        run.until(lambda: forced() == {"steady", "other"}, 10, "the forced GCs the step asked for")
        logged = [l.line for l in run.lines if l.line.startswith("lab: timeline")]
        assert "lab: timeline at 0s: set_madvise steady MADV_DONTNEED" in logged
        assert sum("gc all" in line for line in logged) == 2, logged
        assert [step.do for step in lab.upcoming(3)] == ["free"]
        assert not any("not running" in l.line for l in run.lines)
    finally:
        lab.stop()


def test_go_mode_switch_restarts_the_workload(monkeypatch):
    # The real Go toolchain is the Go helper's tests; here a kind go workload runs the Python workload so the
    # restart path (GODEBUG is read only at start) is exercised without building Go.
    def command(workload, progress=lambda m: None):
        return [sys.executable, "-m", "workloads", *workload.argv()], None

    monkeypatch.setattr(supervisor_module, "workload_command", command)
    lab = make_lab(STEADY.replace("{name: steady,", "{name: steady, kind: go,").replace(", arena_size: 16MiB}", "}", 1))
    assert lab.kind("steady") == "go"
    run = Run(lab)
    lab.start()
    try:
        run.until(lambda: lab.status("steady").state == "running", what="running")
        first = lab.status("steady").pid
        lab.set_madvise("steady", "MADV_DONTNEED")
        run.until(lambda: lab.status("steady").pid != first and lab.status("steady").state == "running"
                  and lab.status("steady").madvise == "MADV_DONTNEED", 10, "restart in the other mode")
        assert any("Go reads GODEBUG=madvdontneed only at start: restarting steady" in l.line for l in run.lines)
        assert lab.workload_config("steady").options["madvise"] == "MADV_DONTNEED"
        assert lab.status("steady").state != "exited"
        assert not alive(first)
    finally:
        lab.stop()


DASHBOARD = """\
import sys, time
from tui.core.config import parse_config
from tui.core.sources.live import Lab
lab = Lab(parse_config(open(sys.argv[1]).read(), "t.yaml", mem_available_bytes=1 << 34))
lab.start()
while True:
    lab.poll()
    pids = [lab.status(n).pid for n in lab.names if lab.status(n).state == "running"]
    if len(pids) == len(lab.names):
        print(*pids, flush=True)
        break
    time.sleep(0.05)
time.sleep(60)
"""


def test_sigkill_of_the_dashboard_leaves_no_workload(tmp_path):
    config = tmp_path / "t.yaml"
    config.write_text(STEADY)
    import subprocess

    root = str(__import__("pathlib").Path(__file__).resolve().parents[2])
    dashboard = subprocess.Popen([sys.executable, "-c", DASHBOARD, str(config)], stdout=subprocess.PIPE, text=True,
                                 cwd=root, env={**os.environ, "PYTHONPATH": root})
    try:
        pids = [int(pid) for pid in dashboard.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
    finally:
        dashboard.kill()
        dashboard.wait()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids)


def test_only_events_that_touch_pages_read_the_rollup_at_once():
    """A sweep that released nothing, a GC or a mode switch of our Python heap moves no page: no page walk for it
    (a Go 1.12 sweep every 5 s and a forced GC each cost one); the real Go runtime announces nothing, so its GC
    and mode events still invalidate."""
    from tui.core.config import parse_config
    from tui.core.sources.live import Lab

    lab = Lab(parse_config("workloads:\n  - {name: py}\n  - {name: go, kind: go}\n", "test.yaml"))
    moves = lab._moves_pages
    assert not moves("py", {"event": "scavenge", "released_bytes": 0})
    assert not moves("go", {"event": "scavenge", "released_bytes": 0})
    assert moves("py", {"event": "scavenge", "released_bytes": 4096})
    assert moves("py", {"event": "reuse", "bytes": 4096}) and moves("py", {"event": "alloc", "bytes": 4096})
    for event in ("gc", "mode", "free"):
        assert not moves("py", {"event": event}), event
        assert moves("go", {"event": event}), event
    assert not moves("py", {"event": "pause"})
