"""A terminal killed from outside (tmux session killed, pty closed as when SSH drops) while two churning workloads
keep the screen busy: the dashboard exits within 2 s and no workload outlives it, every time.

Before tui/terminal.py, 4 of 6 such dashboards hung for good in WriterThread.stop → Queue.put: the writer thread
had died of EIO on the dead terminal and the shutdown's writes filled its bounded queue."""

from __future__ import annotations

import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app_support import REPO, wait_until

EXIT_BOUND_S = 2.0
# Churn redraws the chart and trace pane often: many frames queued when the terminal dies.
CHURN = """\
pressure: {cgroup_root: /proc}
defaults: {pattern: churn, live: 64MiB, object_size: 64KiB, rate: 256MiB, gogc: 25}
workloads:
  - {name: free}
  - {name: dontneed, madvise: MADV_DONTNEED}
"""

def _state(pid: int) -> str:
    """The process's state letter from /proc; '' once it is gone (a zombie, Z, has exited: only unreaped)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(") ", 1)[1][0]
    except OSError:
        return ""


def _running(pid: int) -> bool:
    return _state(pid) not in ("", "Z", "X")


def _workloads(pid: int) -> set[int]:
    found = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as file:
                for child in map(int, file.read().split()):
                    with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                        if b"workloads" in cmdline.read():
                            found.add(child)
        except OSError:
            continue
    return found


def _assert_exits_and_takes_its_workloads(pid: int, workloads: set[int], killed_at: float, how: str) -> None:
    exited = wait_until(lambda: not _running(pid), EXIT_BOUND_S + 1.0)
    took_s = time.monotonic() - killed_at
    assert exited, f"the dashboard still runs {took_s:.1f}s after {how} (state {_state(pid)})"
    assert took_s <= EXIT_BOUND_S, f"the dashboard took {took_s:.2f}s to exit after {how}"
    assert wait_until(lambda: not any(_running(w) for w in workloads), 1.0), f"a workload outlived {how}"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux; CI installs it)")
@pytest.mark.parametrize("attempt", range(5))
def test_tmux_session_killed_under_churn(tmp_path, attempt):
    config = tmp_path / "config.yaml"
    config.write_text(CHURN)
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]  # our own server, its socket gone with tmp_path
    command = f"cd {REPO} && exec env PYTHONPATH={REPO} {sys.executable} -m tui --config {config}"
    subprocess.run([*tmux, "new-session", "-d", "-s", "lab", "-x", "160", "-y", "48", command], check=True)
    pid = 0
    try:
        pid = int(subprocess.run([*tmux, "list-panes", "-t", "lab", "-F", "#{pane_pid}"], capture_output=True,
                                 text=True, check=True).stdout.split()[0])
        assert wait_until(lambda: len(_workloads(pid)) == 2, 30), "the dashboard never started two workloads"
        workloads = _workloads(pid)

        def churned() -> bool:  # both workloads have collected a dozen times: the trace pane is busy
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "lab"], capture_output=True, text=True).stdout
            return len(re.findall(r"\bgc (?:1\d|[2-9]\d|\d{3,}) @", screen)) >= 2

        assert wait_until(churned, 30), "the trace pane never showed a dozen GCs"
        killed_at = time.monotonic()
        subprocess.run([*tmux, "kill-server"], check=True)
        _assert_exits_and_takes_its_workloads(pid, workloads, killed_at, "tmux kill-server")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        if pid and _running(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("attempt", range(3))
def test_pty_closed_under_churn(tmp_path, attempt):
    """The SSH-drop case: the pty's master side closes while the app draws."""
    config = tmp_path / "config.yaml"
    config.write_text(CHURN)
    pid, master = pty.fork()
    if pid == 0:
        os.chdir(REPO)
        os.environ.update({"TERM": "xterm-256color", "COLUMNS": "160", "LINES": "48", "PYTHONPATH": str(REPO)})
        os.execv(sys.executable, [sys.executable, "-m", "tui", "--config", str(config)])
    drawn = [0]

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            drawn[0] += len(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert wait_until(lambda: len(_workloads(pid)) == 2, 30), "the dashboard never started two workloads"
        workloads = _workloads(pid)
        start = drawn[0]
        assert wait_until(lambda: drawn[0] - start > 512 * 1024, 30), "the dashboard drew little: not churning"
        killed_at = time.monotonic()
        os.close(master)  # the kernel hangs up the session: SIGHUP, then EIO on every write
        _assert_exits_and_takes_its_workloads(pid, workloads, killed_at, "closing the pty")
    finally:
        if _running(pid):
            os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
