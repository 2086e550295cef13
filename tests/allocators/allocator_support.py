"""Helpers for the native allocator tests: a Lab on a small config and the raw stats each workload sent."""

from __future__ import annotations

import pytest
from lab_runner import Run, make_lab

from workloads.allocator_env import LIBRARIES, find_library

MiB = 1 << 20


def need(kind: str) -> None:
    """CI installs every allocator (.ci/run): a missing one fails, naming what to install (as the Go tests do)."""
    if kind != "glibc" and find_library(kind) is None:
        pytest.fail(f"the {kind} tests need the library: {LIBRARIES[kind][1]}")


class NativeRun(Run):
    """A Run that also keeps every raw protocol message (the allocator's own figures are in `stats.allocator`)."""

    def __init__(self, text: str) -> None:
        self.messages: dict[str, list[dict]] = {}
        super().__init__(make_lab(text, on_message=self._keep))

    def _keep(self, name: str, data: dict) -> None:
        self.messages.setdefault(name, []).append(dict(data))

    def stats(self, name: str) -> dict | None:
        for message in reversed(self.messages.get(name, [])):
            if message.get("type") == "stats":
                return message
        return None

    def allocator(self, name: str) -> dict:
        stats = self.stats(name)
        return dict(stats.get("allocator") or {}) if stats else {}

    def events(self, name: str, event: str) -> list[dict]:
        return [m for m in self.messages.get(name, []) if m.get("type") == "event" and m.get("event") == event]
