"""AttachLab watches real processes we did not start: /proc figures, piped or tailed gctrace, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from tui.core.sources.attach import ATTACH_REASON, AttachLab, TraceHeap, check_pid
from tui.core.errors import UsageError
from tui.core.golang.trace import parse_line
from kernel_truth import read_smaps_rollup

MiB = 1 << 20
pytestmark = pytest.mark.slow

# Recorded Go 1.12 lines from the seed post (GODEBUG=gctrace=1), in the order the post shows them.
SEED_TRACE = [
    "gc 1 @0.003s 0%: 0.003+511+0.012 ms clock, 0.006+0/0.5/510+0.024 ms cpu, 512->512->512 MB, 513 MB goal, 2 P",
    "gc 2 @21.385s 0%: 0.004+5696+0.013 ms clock, 0.009+1.2/1.2/5693+0.027 ms cpu, 1024->1024->1024 MB, 1025 MB goal, 2 P",
    "GC forced",
    "gc 3 @141.387s 0%: 0.006+0.25+0.004 ms clock, 0.012+0/0.12/0.24+0.008 ms cpu, 1024->1024->0 MB, 2048 MB goal, 2 P (forced)",
    "scvg0: inuse: 0, idle: 1087, sys: 1087, released: 63, consumed: 1024 (MB)",
    "scvg2: 1024 MB released",
    "scvg2: inuse: 0, idle: 1087, sys: 1087, released: 1087, consumed: 0 (MB)",
]


def poll_until(lab, predicate, timeout_s: float = 5.0):
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        update = lab.poll()
        seen.append(update)
        if predicate(update, seen):
            return seen
        time.sleep(0.02)
    raise AssertionError("timed out waiting for the lab")


def test_real_process_rss_and_lazyfree_match_proc(child):
    lab = AttachLab([child.pid], names=["svc"], sample_interval_s=0.05)
    lab.start()
    try:
        seen = poll_until(lab, lambda u, _: len(lab.series("svc")) >= 3)
        proc = read_smaps_rollup(child.pid)
        latest = lab.series("svc").latest
        assert latest.pid == child.pid and latest.workload == "svc"
        assert proc.lazyfree_bytes >= 90 * MiB, "the kernel keeps MADV_FREE pages as LazyFree without pressure"
        assert latest.kernel.rss_bytes == pytest.approx(proc.rss_bytes, rel=0.02)
        assert latest.kernel.lazyfree_bytes == pytest.approx(proc.lazyfree_bytes, rel=0.02)
        assert latest.kernel.footprint_bytes == pytest.approx(proc.rss_bytes - proc.lazyfree_bytes, rel=0.02)
        assert latest.heap is None, "no trace: no heap figures"
        assert seen[0].statuses[0].state == "running"
        assert lab.can("set_madvise") == ATTACH_REASON
        lab.set_madvise("svc", "MADV_DONTNEED")  # refused: nothing happens, can() said why
        assert lab.status("svc").madvise == seen[0].statuses[0].madvise and not lab.poll().statuses
        child.kill()
        child.wait()
        seen = poll_until(lab, lambda u, _: any(s.state == "exited" for s in u.statuses))
        assert lab.status("svc").state == "exited"
    finally:
        lab.stop()


def test_piped_gctrace_fills_trace_lines_and_heap(child):
    read_fd, write_fd = os.pipe()
    lab = AttachLab([child.pid], names=["svc"], traces=[read_fd], sample_interval_s=0.05)
    lab.start()
    try:
        os.write(write_fd, ("\n".join(SEED_TRACE[:4]) + "\n").encode())
        seen = poll_until(lab, lambda u, s: sum(len(x.trace_lines) for x in s) >= 4)
        lines = [t for u in seen for t in u.trace_lines]
        assert [t.line for t in lines] == SEED_TRACE[:4]
        assert [t.kind for t in lines] == ["gc"] * 4
        assert [m.label for u in seen for m in u.markers] == ["gc 1", "gc 2", "gc 3 (forced)"]
        os.write(write_fd, ("\n".join(SEED_TRACE[4:]) + "\n").encode())
        os.close(write_fd)
        seen = poll_until(lab, lambda u, s: any(t.line.startswith("lab: trace stream ended")
                                                for x in s for t in x.trace_lines))
        poll_until(lab, lambda u, _: bool(u.samples))
        heap = lab.series("svc").latest.heap
        assert heap is not None
        assert (heap.heap_inuse_bytes, heap.heap_idle_bytes, heap.heap_released_bytes, heap.heap_sys_bytes) == (
            0, 0, 1087 * MiB, 1087 * MiB)
        assert heap.gc_count == 3
        assert lab.series("svc").column("heap_released_bytes")[-1] == 1087 * MiB
    finally:
        lab.stop()
        os.close(read_fd)


def test_tailed_trace_file(child, tmp_path):
    path = tmp_path / "svc.log"
    path.write_text("")
    lab = AttachLab([child.pid], names=["svc"], traces=[str(path)], sample_interval_s=0.05)
    lab.start()
    try:
        with open(path, "a") as f:
            f.write(SEED_TRACE[1] + "\nsome other log line\n")
        seen = poll_until(lab, lambda u, s: sum(len(x.trace_lines) for x in s) >= 2)
        lines = [t for u in seen for t in u.trace_lines]
        assert [t.kind for t in lines] == ["gc", "other"]
        poll_until(lab, lambda u, _: bool(u.samples) and u.samples[-1].heap is not None)
        assert lab.series("svc").latest.heap.heap_inuse_bytes == 1024 * MiB
    finally:
        lab.stop()


def test_trace_heap_follows_the_seed_story():
    heap = TraceHeap()
    assert heap.stats("MADV_FREE") is None
    figures = []
    for line in SEED_TRACE:
        heap.apply(parse_line(line))
        figures.append((heap.inuse_bytes // MiB, heap.released_bytes // MiB))
    assert figures[1] == (1024, 0)
    assert figures[3] == (0, 0), "after the forced GC nothing is live and nothing released yet"
    assert figures[-1] == (0, 1087)
    assert heap.stats("MADV_FREE").gc_count == 3


def test_nonexistent_pid_is_one_clear_line():
    proc = subprocess.Popen(["true"])
    proc.wait()  # reaped: the pid is free (and not reused this soon)
    with pytest.raises(UsageError, match=rf"^attach: no process with pid {proc.pid}$"):
        check_pid(proc.pid)
    with pytest.raises(UsageError, match="expected a process id above 0"):
        AttachLab([0])


def test_bad_names_and_counts(child):
    with pytest.raises(UsageError, match="--name 'Bad Name'"):
        AttachLab([child.pid], names=["Bad Name"])
    with pytest.raises(UsageError, match="2 names for 1 pids"):
        AttachLab([child.pid], names=["a", "b"])
    with pytest.raises(UsageError, match="pid was given twice"):
        AttachLab([child.pid, child.pid])


UNPRIVILEGED_CHECK = textwrap.dedent("""
    import os, sys
    from tui.core.sources.attach import check_pid
    from tui.core.errors import UsageError
    # Import first: root's Python lives where nobody may read. Then drop to nobody for the check itself.
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
    try:
        check_pid(int(sys.argv[1]))
    except UsageError as error:
        print(error)
        sys.exit(2)
    print("readable")
""")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to an unprivileged user (nobody)")
def test_unreadable_pid_is_one_clear_line(child):
    # As root everything is readable; as nobody, a root process's smaps_rollup is refused (ptrace check).
    result = subprocess.run([sys.executable, "-c", UNPRIVILEGED_CHECK, str(child.pid)], capture_output=True,
                            text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))), timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    with open(f"/proc/{child.pid}/comm") as file:
        comm = file.read().strip()  # the interpreter's name as the kernel has it (python3, python3.11, ...)
    assert result.stdout.strip() == (f"attach: pid {child.pid} ({comm}): may not read /proc/{child.pid}/smaps_rollup"
                                     " (EPERM): run as its user or as root")
    assert result.stdout.count("\n") == 1 and "Traceback" not in result.stderr


def wait_for_steady_rss(pid: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    previous = -1
    while time.monotonic() < deadline:
        rss_bytes = read_smaps_rollup(pid).rss_bytes
        if rss_bytes == previous:
            return
        previous = rss_bytes
        time.sleep(0.1)
    raise AssertionError(f"pid {pid}: RSS still changing after {timeout_s} s")


def test_several_pids_with_default_names():
    sleepers = [subprocess.Popen(["sleep", "30"]) for _ in range(2)]
    try:
        for proc in sleepers:  # the dynamic loader is still mapping libraries just after exec
            wait_for_steady_rss(proc.pid)
        lab = AttachLab([p.pid for p in sleepers], sample_interval_s=0.05)
        assert lab.names == tuple(f"sleep-{p.pid}" for p in sleepers)
        lab.start()
        try:
            poll_until(lab, lambda u, _: all(len(lab.series(n)) >= 2 for n in lab.names))
            for proc, name in zip(sleepers, lab.names):
                assert lab.series(name).latest.pid == proc.pid
                assert lab.series(name).latest.kernel.rss_bytes == pytest.approx(
                    read_smaps_rollup(proc.pid).rss_bytes, rel=0.02)
            sleepers[0].kill()
            sleepers[0].wait()
            poll_until(lab, lambda u, _: lab.status(lab.names[0]).state == "exited")
            assert lab.status(lab.names[1]).state == "running"
        finally:
            lab.stop()
    finally:
        for proc in sleepers:
            proc.kill()
            proc.wait()
