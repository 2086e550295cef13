"""Helpers for the Go tests: smaps_rollup figures and a real Go workload speaking the protocol."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import Any

from kernel_truth import read_smaps_rollup  # noqa: F401 - re-exported for the Go tests
from tui.core.golang import toolchain as golang

MiB = 1 << 20




class GoWorkload:
    """A real Go workload process: messages from stdout on a queue, stderr lines kept."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        argv, env = golang.go_command(options)
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.messages: queue.Queue[dict] = queue.Queue()
        self.stderr_lines: list[str] = []
        self.seen: list[dict] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            self.messages.put(json.loads(line))

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, cmd: dict) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def wait_for(self, match, timeout_s: float = 20.0, on_message=None) -> dict:
        """The next message for which match(msg) is true; on_message sees every message meanwhile."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching message within {timeout_s}s; stderr: {self.stderr_lines[-5:]}")
            try:
                msg = self.messages.get(timeout=min(left, 0.05))
            except queue.Empty:
                if on_message:
                    on_message(None)
                continue
            self.seen.append(msg)
            if on_message:
                on_message(msg)
            if match(msg):
                return msg

    def wait_for_stderr(self, match, timeout_s: float = 20.0) -> list[str]:
        """The stderr lines read so far, once one of them matches (stderr is its own pipe: it lags stdout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lines = list(self.stderr_lines)
            if any(match(line) for line in lines):
                return lines
            time.sleep(0.02)
        raise AssertionError(f"no matching stderr line within {timeout_s}s; last: {self.stderr_lines[-5:]}")

    def event(self, name: str, **kw) -> dict:
        return self.wait_for(lambda m: m.get("type") == "event" and m.get("event") == name, **kw)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
