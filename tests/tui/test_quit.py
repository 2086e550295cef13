"""No workload survives the dashboard: q, Ctrl+C, SIGTERM, SIGHUP (terminal closed) and SIGKILL, in a real pty."""

from __future__ import annotations

import os
import signal
import time

import pytest

from app_support import reap, start_dashboard, wait_until

CONFIG = """\
sample_interval: 100ms
pressure: {cgroup_root: /proc}
workloads:
  - {name: one, pattern: steady, size: 16MiB, arena_size: 16MiB}
  - {name: two, pattern: steady, size: 16MiB, arena_size: 16MiB, madvise: MADV_DONTNEED}
"""


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


@pytest.mark.parametrize("how", ["q", "ctrl+c", "SIGTERM", "SIGHUP", "SIGKILL"])
def test_no_workload_survives(tmp_path, how):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    pid, master = start_dashboard(config)
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
