"""A Lab polled the way a front end polls it, keeping everything it saw (tests of the Lab, pressure, Go)."""

from __future__ import annotations

import time

from tui.core.config import parse_config
from tui.core.sources.live import Lab

GiB = 1 << 30


def make_lab(text: str, **kwargs) -> Lab:
    return Lab(parse_config(text, "test.yaml", mem_available_bytes=16 * GiB), **kwargs)


class Run:
    """Polls a lab the way a front end does and keeps everything it saw."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.samples, self.lines, self.markers, self.statuses = [], [], [], []

    def poll(self):
        update = self.lab.poll()
        self.samples += update.samples
        self.lines += update.trace_lines
        self.markers += update.markers
        self.statuses += update.statuses
        return update

    def until(self, predicate, timeout_s: float = 20.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll()
            if predicate():
                return
            time.sleep(0.02)
        tail = "\n".join(f"{l.t_s:.2f} {l.workload} {l.line}" for l in self.lines[-15:])
        raise AssertionError(f"timed out waiting for {what}; last lines:\n{tail}")

    def settle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll()
            time.sleep(0.02)

    def texts(self, name: str | None = None) -> list[str]:
        return [l.line for l in self.lines if name is None or l.workload == name]

    def running(self, name: str) -> bool:
        return self.lab.status(name).state == "running" and self.lab.heap(name) is not None

    def latest(self, name: str):
        return self.lab.series(name).latest

    def latest_after(self, name: str, t_s: float):
        """The newest sample of `name` taken after t_s, or None."""
        latest = self.lab.series(name).latest
        return latest if latest is not None and latest.t_s > t_s else None
