"""Helpers for workload tests: a real workload process, its messages, its smaps_rollup (imported by name:
plain `pytest` has no `tests` package on its path)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MIB = 1 << 20


from kernel_truth import read_smaps_rollup as smaps_rollup  # noqa: E402 - the tests' own /proc oracle


class Workload:
    """A real `python -m workloads` child with its JSON messages collected by a reader thread."""

    def __init__(self, *flags: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workloads", *flags], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1)
        self.messages: "queue.Queue[dict]" = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.hello = self.wait_for(lambda m: m["type"] == "hello")

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.messages.put(json.loads(line))

    def send(self, **command) -> None:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def wait_for(self, predicate, timeout_s: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                message = self.messages.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise AssertionError(f"no matching message in {timeout_s}s; last: {self.seen[-5:]}") from None
            self.seen.append(message)
            if predicate(message):
                return message

    def event(self, name: str, timeout_s: float = 10.0, **match) -> dict:
        return self.wait_for(lambda m: m["type"] == "event" and m["event"] == name
                             and all(m.get(k) == v for k, v in match.items()), timeout_s)

    def latest_stats(self) -> dict:
        return [m for m in self.seen if m["type"] == "stats"][-1]

    def rollup(self):
        return smaps_rollup(self.proc.pid)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


def wait_until(predicate, timeout_s: float, poll_s: float = 0.01):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    return predicate()


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


__all__ = ["MIB", "os", "smaps_rollup", "wait_until", "pid_alive"]
