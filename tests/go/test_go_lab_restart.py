"""`m` on a real Go workload (Lab.set_madvise) restarts it with the other GODEBUG; its next release follows the mode."""

from __future__ import annotations

import threading
import time

import pytest
from gotest_support import MiB, read_smaps_rollup

from tui.core.config import parse_config
from tui.core.sources.live import Lab

pytestmark = pytest.mark.slow

CONFIG = """
sample_interval: 100ms
budget: 1GiB
pressure: {cgroup_root: /proc}
workloads:
  - name: go-free
    kind: go
    pattern: seed
    size: 64MiB
    count: 2
    interval: 100ms
    hold: 200ms
    madvise: MADV_FREE
"""


class Messages:
    """Raw protocol messages the Lab's reader threads saw, by workload."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[dict] = []

    def __call__(self, name: str, data: dict) -> None:
        with self.lock:
            self.items.append(data)

    def find(self, match) -> dict | None:
        with self.lock:
            return next((m for m in self.items if match(m)), None)


def poll_until(lab: Lab, condition, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lab.poll()
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s; status {lab.status('go-free')}")


def event_from(messages: Messages, pid: int, name: str, after_t: float = -1.0):
    return lambda: messages.find(lambda m: m.get("type") == "event" and m.get("event") == name
                                 and m.get("_pid") == pid and m["t"] > after_t)


def release_and_measure(lab: Lab, messages: Messages, pid: int) -> tuple[int, dict]:
    """Wait for the seed's drop, scavenge (FreeOSMemory), return the peak Rss and smaps_rollup after."""
    peak = {"rss": 0}

    def dropped():
        peak["rss"] = max(peak["rss"], read_smaps_rollup(pid)["Rss"])
        return messages.find(lambda m: m.get("event") == "free" and m.get("_pid") == pid)

    poll_until(lab, dropped)
    lab.scavenge("go-free")
    poll_until(lab, event_from(messages, pid, "scavenge"))
    return peak["rss"], read_smaps_rollup(pid)


def test_set_madvise_restarts_go_workload_in_the_other_mode(go_binary):
    messages = Messages()
    current_pid = {"pid": None}

    def on_message(name: str, data: dict) -> None:
        if data.get("type") == "hello":
            current_pid["pid"] = data["pid"]
        messages(name, {**data, "_pid": current_pid["pid"]})

    lab = Lab(parse_config(CONFIG, "test.yaml", mem_available_bytes=8 << 30), on_message=on_message)
    lab.start()
    try:
        first_pid = poll_until(lab, lambda: current_pid["pid"])
        peak, after = release_and_measure(lab, messages, first_pid)
        assert after["Rss"] >= 0.9 * peak and after["LazyFree"] >= 100 * MiB  # MADV_FREE: RSS stays

        lab.set_madvise("go-free", "MADV_DONTNEED")
        second_pid = poll_until(lab, lambda: current_pid["pid"] if current_pid["pid"] != first_pid else None)
        hello = messages.find(lambda m: m.get("type") == "hello" and m["pid"] == second_pid)
        assert hello["madvise"] == "MADV_DONTNEED" and "madvdontneed=1" in hello["godebug"]
        poll_until(lab, lambda: lab.status("go-free").madvise == "MADV_DONTNEED"
                   and lab.status("go-free").pid == second_pid)
        peak2, after2 = release_and_measure(lab, messages, second_pid)
        print(f"\nLab restart: MADV_FREE peak {peak / MiB:.1f} MiB -> Rss {after['Rss'] / MiB:.1f} MiB "
              f"(LazyFree {after['LazyFree'] / MiB:.1f}); MADV_DONTNEED peak {peak2 / MiB:.1f} MiB -> "
              f"Rss {after2['Rss'] / MiB:.1f} MiB")
        assert peak2 >= 128 * MiB
        assert after2["Rss"] < 0.15 * peak2 and after2["LazyFree"] < 4 * MiB
    finally:
        lab.stop()
