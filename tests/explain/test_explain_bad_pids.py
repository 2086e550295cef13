"""A pid `explain` cannot explain: one line, exit 2, never a traceback — each case a real process (or none)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from explain_children import MALLOC_CHILD
from explain_support import python_child

from tui.core.explain import CannotExplain, explain_pid
from tui.core.kernel import smaps

REPO = Path(__file__).resolve().parents[2]


# The CLI as another user: imports first (the interpreter lives under /root), then drops to that uid.
AS_USER = ("import json, locale, os, sys, tui.cli, tui.core.explain; tui.cli.build_parser(); os.setgroups([]); os.setgid({uid}); os.setuid({uid}); "
           "sys.exit(tui.cli.main(sys.argv[1:]))")


def _explain_cli(*args: str, user: int | None = None) -> subprocess.CompletedProcess:
    argv = ["-m", "tui"] if user is None else ["-c", AS_USER.format(uid=user)]
    return subprocess.run([sys.executable, *argv, "explain", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})


def _one_line_exit_2(done: subprocess.CompletedProcess, *words: str) -> str:
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


def _free_pid() -> int:
    pid = 4_000_000
    while os.path.exists(f"/proc/{pid}"):
        pid -= 1
    return pid


@pytest.mark.parametrize("pid", ["12ab", "-3", "1.5", "²", "9" * 5000])
def test_not_a_number(pid):
    _one_line_exit_2(_explain_cli(pid), "explain: PID", "a number")


def test_not_alive():
    pid = _free_pid()
    _one_line_exit_2(_explain_cli(str(pid)), f"no process with pid {pid}")


def test_zombie():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 20
        while smaps.read_status(proc.pid).get("State", "")[:1] != "Z":  # exited, not reaped by us yet
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.02)
        _one_line_exit_2(_explain_cli(str(proc.pid)), f"pid {proc.pid}", "zombie")
    finally:
        proc.wait()


def _kernel_thread() -> int | None:
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                status = smaps.read_status(int(name))
            except (smaps.ProcessGone, smaps.ProcessUnreadable):
                continue
            if status.get("Kthread") == "1" or ("VmSize" not in status and status.get("State", "")[:1] != "Z"):
                return int(name)
    return None


def test_kernel_thread():
    pid = _kernel_thread()
    if pid is None:
        pytest.skip("no kernel thread is visible in this pid namespace")
    _one_line_exit_2(_explain_cli(str(pid)), f"pid {pid}", "kernel thread", "no user memory map")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run explain as another user (nobody) on our child")
def test_another_users_process_is_unreadable(spawn):
    child = spawn(python_child(MALLOC_CHILD.format(blocks=16)))
    child.expect("freed")
    line = _one_line_exit_2(_explain_cli(str(child.pid), user=65534), f"pid {child.pid}",
                            f"/proc/{child.pid}/smaps", "run as its user or as root")
    assert "EACCES" in line or "EPERM" in line


def test_process_exiting_while_read(spawn, monkeypatch):
    child = spawn(python_child(MALLOC_CHILD.format(blocks=16)))
    child.expect("freed")
    real_read = smaps.read_smaps

    def read_then_die(pid: int):
        mappings = real_read(pid)  # a full read, then the process exits before the rest is read
        child.proc.kill()
        child.proc.wait()
        return mappings

    monkeypatch.setattr(smaps, "read_smaps", read_then_die)
    with pytest.raises(CannotExplain, match=f"pid {child.pid} .*exited while being read"):
        explain_pid(child.pid)
