"""The dashboard's input thread in a real terminal: asleep in select() with no timeout while nobody types (textual's
own wakes every 0.1 s), yet keys, a lone ESC (which needs the parser's timeout) and quitting all still work."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys

import pytest

from app_support import REPO, wait_until

# x86_64 syscall numbers as /proc/PID/task/TID/syscall shows them: what Python's select.select() waits in
SELECT_SYSCALLS = {"23", "270"}  # select, pselect6
CONFIG = """\
defaults: {pattern: seed, size: 16MiB, count: 1}
workloads:
  - {name: free}
"""

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux; CI installs it)"),
    pytest.mark.skipif(platform.machine() != "x86_64", reason="reads x86_64 syscall numbers from /proc"),
]


def _selects(pid: int) -> list[tuple[str, str]]:
    """(thread id, timeout argument) of each thread of `pid` blocked in select/pselect6 right now."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/syscall") as file:
                fields = file.read().split()
        except OSError:
            continue
        if fields and fields[0] in SELECT_SYSCALLS:
            found.append((task, fields[5]))  # select's 5th argument: the timeout (0x0: none, wait for ever)
    return found


def test_input_thread_sleeps_without_a_timeout_and_keys_still_work(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    command = (f"cd {REPO} && env PYTHONPATH={REPO} {sys.executable} -m tui --config {config}; "
               f"echo exited $?; sleep 60")
    subprocess.run([*tmux, "new-session", "-d", "-s", "lab", "-x", "160", "-y", "48", command], check=True)

    def screen() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-t", "lab"], capture_output=True, text=True).stdout

    try:
        shell = int(subprocess.run([*tmux, "list-panes", "-t", "lab", "-F", "#{pane_pid}"], capture_output=True,
                                   text=True, check=True).stdout.split()[0])
        assert wait_until(lambda: "RSS  resident" in screen(), 30), screen()
        with open(f"/proc/{shell}/task/{shell}/children") as file:
            pid = int(file.read().split()[0])
        # one thread waits in select() for the terminal with no timeout; none polls with one
        assert wait_until(lambda: [t for t in _selects(pid) if t[1] == "0x0"], 5), _selects(pid)
        assert not [t for t in _selects(pid) if t[1] != "0x0"], _selects(pid)

        subprocess.run([*tmux, "send-keys", "-t", "lab", "?"], check=True)
        assert wait_until(lambda: "why RSS stays high" in screen(), 10), screen()
        subprocess.run([*tmux, "send-keys", "-t", "lab", "Escape"], check=True)  # a lone ESC: the parser's timeout
        assert wait_until(lambda: "why RSS stays high" not in screen(), 10), screen()
        subprocess.run([*tmux, "send-keys", "-t", "lab", "q"], check=True)
        assert wait_until(lambda: "exited 0" in screen(), 10), screen()
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
