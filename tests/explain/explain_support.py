"""Explain-test helpers: real processes started by the test and checks against the test's own /proc reads."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence

import pytest

from kernel_truth import read_smaps, read_smaps_rollup, smaps_total

MiB = 1 << 20
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


class Child:
    """A process started by a test: its stdin and stdout kept to step it."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, **(env or {})}, cwd=cwd)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def expect(self, line: str, timeout_s: float = 60.0) -> None:
        got = self.proc.stdout.readline().strip()  # the child prints it when its memory is in place
        if got != line:
            self.proc.kill()
            raise AssertionError(f"child said {got!r}, expected {line!r}; stderr: {self.proc.stderr.read()[-400:]}")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def python_child(source: str) -> list[str]:
    return [sys.executable, "-c", source]


def wait_for_smaps(pid: int, predicate, what: str, timeout_s: float = 20.0):
    """The test's own smaps read once predicate(entries) holds (memory settles after the child's step)."""
    deadline = time.monotonic() + timeout_s
    while True:
        entries = read_smaps(pid)
        assert entries is not None, f"pid {pid} is gone"
        if predicate(entries):
            return entries
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: Rss {smaps_total(entries, 'Rss')}, "
                                 f"LazyFree {smaps_total(entries, 'LazyFree')}")
        time.sleep(0.05)


def wait_settled(pid: int, field: str = "Rss", timeout_s: float = 30.0) -> None:
    """Until `field` holds still (within 0.2 % over half a second): a JVM or Node keeps growing for a while after
    start, jemalloc's background thread keeps moving dirty pages to muzzy ones."""
    deadline = time.monotonic() + timeout_s
    last = smaps_total(read_smaps(pid), field)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = smaps_total(read_smaps(pid), field)
        if abs(now - last) <= 0.002 * last:
            return
        last = now
    raise AssertionError(f"pid {pid}: {field} did not settle within {timeout_s}s")


def assert_matches_proc(explanation, pid: int) -> None:
    """Categories sum to RSS exactly; RSS, Anonymous, LazyFree, AnonHugePages within 1 % of the test's own reads."""
    report = explanation.to_json()
    assert sum(report["categories"].values()) == report["rss_bytes"]
    truth = read_smaps(pid)
    rollup = read_smaps_rollup(pid)
    for field, key in (("Rss", "rss_bytes"), ("Anonymous", "anon_bytes"), ("LazyFree", "lazyfree_bytes"),
                       ("AnonHugePages", "anon_huge_bytes"), ("Swap", "swap_bytes")):
        assert report[key] == pytest.approx(smaps_total(truth, field), rel=0.01, abs=64 << 10), field
        assert report[key] == pytest.approx(rollup.get(field), rel=0.01, abs=64 << 10), field
    assert report["footprint_bytes"] == report["rss_bytes"] - report["lazyfree_bytes"]
