"""Must-show behaviour against the real kernel: RSS and LazyFree of a real workload process after each release."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from workload_support import MIB, REPO, pid_alive, wait_until

pytestmark = pytest.mark.slow

SEED = ("--pattern", "seed", "--size", "128MiB", "--count", "2", "--interval", "0.05s", "--scavenger", "eager",
        "--forced-gc-period", "0")


def _seed_released(spawn, mode: str):
    w = spawn(*SEED, "--madvise", mode)
    w.event("free")  # both allocations made and dropped: now garbage
    peak_rss = w.rollup()["Rss"]
    assert peak_rss >= 256 * MIB
    w.send(cmd="gc")
    scav = w.event("scavenge")
    assert scav["released_bytes"] == 256 * MIB and scav["madvise"] == mode
    return w, peak_rss, scav


def test_madv_free_keeps_rss_as_lazyfree(spawn):
    w, peak_rss, _ = _seed_released(spawn, "MADV_FREE")
    stats = w.wait_for(lambda m: m["type"] == "stats")
    kernel = w.rollup()
    assert stats["heap_released_bytes"] == 256 * MIB and stats["heap_inuse_bytes"] == 0
    assert kernel["Rss"] >= 0.9 * peak_rss
    assert abs(kernel["LazyFree"] - stats["heap_released_bytes"]) <= 0.05 * stats["heap_released_bytes"]


def test_madv_dontneed_drops_rss(spawn):
    w, peak_rss, _ = _seed_released(spawn, "MADV_DONTNEED")
    # the kernel drops the pages inside madvise(2): by the release's own report they are gone (how fast the
    # dashboard sees it is bench territory, not a test's)
    assert w.rollup()["Rss"] < 0.15 * peak_rss, w.rollup()
    assert w.rollup()["LazyFree"] == 0


def test_switching_free_to_dontneed_makes_the_next_scavenge_drop_rss(spawn):
    w, peak_rss, _ = _seed_released(spawn, "MADV_FREE")
    assert w.rollup()["Rss"] >= 0.9 * peak_rss
    w.send(cmd="set_madvise", value="MADV_DONTNEED")
    assert w.event("mode") == {**w.seen[-1], "old": "MADV_FREE", "new": "MADV_DONTNEED"}
    # Reuse the lazily freed pages, drop them, collect: the eager scavenger now releases with DONTNEED.
    for _ in range(2):  # the two 128 MiB arenas are not contiguous: reuse them one allocation each
        w.send(cmd="alloc", bytes=128 * MIB)
        assert w.event("reuse")["released_with"] == "MADV_FREE"
    w.send(cmd="free")
    w.event("free")
    w.send(cmd="gc")
    scav = w.event("scavenge")
    assert scav["madvise"] == "MADV_DONTNEED" and scav["released_bytes"] == 256 * MIB
    assert w.rollup()["Rss"] < 0.15 * peak_rss, w.rollup()  # gone by the time the scavenge reports
    assert w.rollup()["LazyFree"] == 0


def _reuse_ms_per_gib(spawn, mode: str) -> dict:
    w, _, _ = _seed_released(spawn, mode)
    w.send(cmd="alloc", bytes="128MiB")
    reuse = w.event("reuse")
    assert reuse["bytes"] == 128 * MIB and reuse["released_with"] == mode
    return reuse


def test_reuse_cost_is_reported_per_mode(spawn):
    """The reuse event names the mode the pages were released with and a cost; which mode is cheaper, and by
    how much, is a speed claim: `python3 -m bench --only reuse` measures it."""
    for mode in ("MADV_FREE", "MADV_DONTNEED"):
        reuse = _reuse_ms_per_gib(spawn, mode)
        assert reuse["ms_per_gib"] > 0 and reuse["released_with"] == mode


def test_exits_when_stdin_closes(spawn):
    w = spawn("--pattern", "steady", "--size", "1MiB")
    w.wait_for(lambda m: m["type"] == "stats")
    t0 = time.monotonic()
    w.proc.stdin.close()
    w.proc.wait(timeout=10.0)  # a bound against hanging, not a speed claim
    assert w.proc.returncode == 0
    assert w.event("exit")["reason"] == "stdin closed"


def test_exits_when_its_parent_is_killed(tmp_path):
    # The workload's stdin stays open (we hold the write end), so only the parent's death can end it.
    read_fd, write_fd = os.pipe()
    out = tmp_path / "workload.out"  # a file, not a pipe: the parent's death must be the only thing that ends it
    parent_code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-m', 'workloads', '--pattern', 'steady', '--size', '1MiB'],"
        f" stdin={read_fd}, stdout=open({str(out)!r}, 'w'))\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=REPO, stdout=subprocess.PIPE, text=True,
                              pass_fds=(read_fd,))
    try:
        child_pid = int(parent.stdout.readline())
        # its hello comes after it asked the kernel for the parent-death signal
        assert wait_until(lambda: out.exists() and '"hello"' in out.read_text(), 10.0), "no hello"
        assert pid_alive(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        assert wait_until(lambda: not pid_alive(child_pid), 10.0), "workload outlived its parent"
    finally:
        os.close(read_fd)
        os.close(write_fd)
        parent.kill()


def test_a_signal_while_the_command_queue_is_locked_does_not_deadlock():
    # A SIGKILLed dashboard closes the workload's stdin and fires its parent-death signal at once, so the
    # signal can land while the main thread holds the command queue's lock in get(). A handler that took
    # that lock too (queue.put) hung the workload forever. Here the signal is made to land exactly there.
    code = (
        "import os, queue, signal, sys\n"
        "from workloads import cli\n"
        "class SignalInsideGet(queue.Queue):\n"
        "    def _get(self):\n"
        "        item = super()._get()\n"
        "        if isinstance(item, str) and 'now' in item:\n"
        "            os.kill(os.getpid(), signal.SIGTERM)  # handled before _get returns: the lock is held\n"
        "        return item\n"
        "queue.Queue = SignalInsideGet\n"
        "sys.exit(cli.main(['--pattern', 'steady', '--size', '1MiB']))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()  # hello: the loop is running
        proc.stdin.write('{"cmd": "now"}\n')
        proc.stdin.flush()
        assert proc.wait(timeout=2.0) == 0, "the workload hung in its signal handler"
    finally:
        proc.kill()


def test_in_a_terminal_it_prints_trace_lines_and_takes_typed_commands():
    import pty

    pid, master = pty.fork()
    if pid == 0:
        os.chdir(REPO)
        os.execv(sys.executable, [sys.executable, "-m", "workloads", "--pattern", "steady", "--size", "8MiB",
                                  "--arena-size", "8MiB"])
    seen = b""
    try:
        deadline = time.monotonic() + 10
        def read_until(text: bytes) -> bool:
            nonlocal seen
            while time.monotonic() < deadline and text not in seen:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    return False
            return text in seen
        assert read_until(b"lab: pid"), seen
        os.write(master, b"gc\n")
        assert read_until(b"(forced)"), seen  # a gctrace line for the typed command
        assert b'"type"' not in seen, "JSON was written to a terminal"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(master)


def test_sigterm_exits_cleanly(spawn):
    w = spawn("--pattern", "steady", "--size", "1MiB")
    w.wait_for(lambda m: m["type"] == "stats")
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(timeout=2.0) == 0
    assert w.event("exit")["reason"] == "SIGTERM"
    assert "Traceback" not in w.proc.stderr.read()


def test_refused_flag_is_an_error_and_the_workload_keeps_running(spawn):
    w = spawn("--pattern", "steady", "--size", "1MiB", "--madvise", "MADV_FREE")
    w.send(cmd="set_madvise", value="advice:99")
    error = w.wait_for(lambda m: m["type"] == "error")
    assert error["flag"] == "advice:99" and error["errno"] == 22 and error["kernel"] == os.uname().release
    w.send(cmd="gc")
    w.event("gc")
    assert w.latest_stats()["madvise"] == "MADV_FREE"
    assert w.proc.poll() is None


def test_junk_on_stdin_is_an_error_not_a_crash(spawn):
    w = spawn("--pattern", "steady", "--size", "1MiB")
    for junk in ("hello", "[1,2]", '{"cmd":"explode"}', '{"cmd":"alloc","bytes":"lots"}', '{"no":"cmd"}', "{"):
        w.proc.stdin.write(junk + "\n")
    w.proc.stdin.flush()
    errors = [w.wait_for(lambda m: m["type"] == "error") for _ in range(6)]
    assert all(e["message"].startswith("stdin: ") for e in errors)
    w.send(cmd="gc")
    w.event("gc")
    assert w.proc.poll() is None
