"""Driving the dashboard in tests: Pilot helpers over a real Lab, and the real process in a pty."""

from __future__ import annotations

import asyncio
import functools
import os
import pty
import sys
import threading
import time
from pathlib import Path

from tui.app import MadviseLabApp
from tui.launch import create_app
from tui.core.config import parse_config
from tui.widgets.trace import TracePane

REPO = Path(__file__).resolve().parents[1]
GiB = 1 << 30


def sync(coroutine_function):
    """Run an async test body with asyncio.run (no pytest-asyncio needed)."""
    @functools.wraps(coroutine_function)
    def wrapper(*args, **kwargs):
        return asyncio.run(coroutine_function(*args, **kwargs))
    return wrapper


def live_app(text: str) -> MadviseLabApp:
    """The dashboard over a real Lab for a config given as text."""
    return create_app(parse_config(text, "test.yaml", mem_available_bytes=16 * GiB))


async def wait_for(pilot, predicate, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def trace_text(app: MadviseLabApp) -> list[str]:
    return [strip.text for strip in app.query_one(TracePane).lines]


def start_dashboard(config: Path) -> tuple[int, int]:
    """`python -m tui --config CONFIG` as a session leader with a pty as its terminal: (pid, pty master)."""
    pid, master = pty.fork()
    if pid == 0:
        os.chdir(REPO)
        os.environ.update({"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
        os.execv(sys.executable, [sys.executable, "-m", "tui", "--config", str(config)])

    def drain() -> None:  # keep reading so the app never blocks on a full pty buffer
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
    """Wait for our child `pid` to exit; False if it is still running after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return True
        time.sleep(0.05)
    return False
