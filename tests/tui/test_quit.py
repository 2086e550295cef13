"""No workload survives the dashboard: q, Ctrl+C, SIGTERM, SIGHUP (terminal closed) and SIGKILL, in a real pty."""

from __future__ import annotations

import os
import pty
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

CONFIG = """\
sample_interval: 100ms
pressure: {cgroup_root: /proc}
workloads:
  - {name: one, pattern: steady, size: 16MiB, arena_size: 16MiB}
  - {name: two, pattern: steady, size: 16MiB, arena_size: 16MiB, madvise: MADV_DONTNEED}
"""
REPO = Path(__file__).resolve().parents[2]


def children(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as file:
                out.update(int(p) for p in file.read().split())
    except OSError:
        pass
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def workload_pids(pid: int) -> set[int]:
    pids = set()
    for child in children(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as file:
                if b"workloads" in file.read():
                    pids.add(child)
        except OSError:
            pass
    return pids


def start_dashboard(tmp_path: Path) -> tuple[int, int]:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    pid, master = pty.fork()
    if pid == 0:  # the child: a session leader with the pty as its controlling terminal
        os.chdir(REPO)
        os.environ.update({"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
        os.execv(sys.executable, [sys.executable, "-m", "tui", "--config", str(config)])
    # keep reading so the app never blocks on a full pty buffer
    def drain() -> None:
        while True:
            try:
                if not os.read(master, 65536):
                    return
            except OSError:
                return
    threading.Thread(target=drain, daemon=True).start()
    return pid, master


def wait_until(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def reap(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("how", ["q", "ctrl+c", "SIGTERM", "SIGHUP", "SIGKILL"])
def test_no_workload_survives(tmp_path, how):
    pid, master = start_dashboard(tmp_path)
    closed = False
    try:
        assert wait_until(lambda: len(workload_pids(pid)) == 2, 20), "the dashboard never started two workloads"
        workloads = workload_pids(pid)
        time.sleep(1.0)  # the app is up and drawing
        if how == "q":
            os.write(master, b"q")
        elif how == "ctrl+c":
            os.write(master, b"\x03")
        elif how == "SIGTERM":
            os.kill(pid, signal.SIGTERM)
        elif how == "SIGHUP":
            os.close(master)  # the terminal goes away: the kernel hangs up the session
            closed = True
        else:
            os.kill(pid, signal.SIGKILL)
        assert reap(pid, 10), f"the dashboard did not exit after {how}"
        # a graceful quit stops the lab before exiting; after SIGKILL the kernel's PDEATHSIG does it
        grace_s = 5.0 if how == "SIGKILL" else 1.0
        assert wait_until(lambda: not any(alive(w) for w in workloads), grace_s), f"a workload survived {how}"
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            reap(pid, 5)
        if not closed:
            os.close(master)
