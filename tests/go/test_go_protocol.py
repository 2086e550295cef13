"""The Go workload speaks the dashboard's protocol: hello, stats, events, errors, closed stdin."""

from __future__ import annotations

import time

import pytest
from gotest_support import MiB, read_smaps_rollup

pytestmark = pytest.mark.slow


def test_hello_then_stats_from_runtime_metrics(go_workload):
    workload = go_workload({"pattern": "steady", "size": 32 * MiB, "madvise": "MADV_FREE"})
    hello = workload.wait_for(lambda m: True)
    assert hello["type"] == "hello" and hello["t"] >= 0 and hello["pid"] == workload.pid
    assert hello["kind"] == "go" and hello["madvise"] == "MADV_FREE"
    assert hello["options"]["size"] == 32 * MiB and hello["options"]["pattern"] == "steady"
    assert "madvdontneed=0" in hello["godebug"]
    workload.event("alloc")
    stats = workload.wait_for(lambda m: m["type"] == "stats" and m["heap_inuse_bytes"] >= 32 * MiB)
    assert stats["heap_sys_bytes"] == stats["heap_inuse_bytes"] + stats["heap_idle_bytes"] + stats["heap_released_bytes"]
    assert stats["heap_goal_bytes"] > 0 and stats["madvise"] == "MADV_FREE"
    # Every page was written: the kernel sees the 32 MiB resident.
    assert read_smaps_rollup(workload.pid)["Rss"] >= 32 * MiB


def test_commands_alloc_free_gc_pause_and_errors(go_workload):
    workload = go_workload({"pattern": "steady", "size": 0, "madvise": "MADV_DONTNEED"})
    workload.wait_for(lambda m: m["type"] == "hello")
    workload.send({"cmd": "alloc", "bytes": 16 * MiB})
    assert workload.event("alloc")["bytes"] == 16 * MiB
    workload.send({"cmd": "alloc", "bytes": "8MiB"})
    assert workload.event("alloc")["bytes"] == 8 * MiB
    workload.send({"cmd": "free"})
    assert workload.event("free")["bytes"] == 24 * MiB
    workload.send({"cmd": "gc"})
    gc = workload.wait_for(lambda m: m.get("event") == "gc" and m["forced"])  # the pacer may run one first
    assert gc["forced"] and gc["heap_after"] < 24 * MiB <= gc["heap_before"]
    workload.send({"cmd": "pause"})
    workload.event("pause")
    workload.send({"cmd": "resume"})
    workload.event("resume")
    workload.send({"cmd": "set_madvise", "value": "MADV_FREE"})
    error = workload.wait_for(lambda m: m["type"] == "error")
    assert "the Go runtime reads GODEBUG=madvdontneed only at start" in error["message"]
    workload.proc.stdin.write("not json\n")
    workload.proc.stdin.flush()
    assert "expected a JSON object" in workload.wait_for(lambda m: m["type"] == "error")["message"]
    workload.send({"cmd": "alloc", "bytes": "lots"})
    assert "alloc" in workload.wait_for(lambda m: m["type"] == "error")["message"]
    workload.send({"cmd": "exit"})
    assert workload.event("exit")["reason"] == "command"
    assert workload.proc.wait(timeout=5) == 0


def test_closed_stdin_exits_within_a_second(go_workload):
    workload = go_workload({"pattern": "churn", "live": 8 * MiB, "madvise": "MADV_FREE"})
    workload.wait_for(lambda m: m["type"] == "hello")
    workload.proc.stdin.close()
    closed_at = time.monotonic()
    assert workload.proc.wait(timeout=5) == 0
    assert time.monotonic() - closed_at < 1.0
    assert workload.event("exit")["reason"] == "stdin closed"


def test_bad_flag_is_one_line_and_exit_2(go_binary):
    import subprocess

    done = subprocess.run([go_binary, "-size", "huge"], capture_output=True, text=True, timeout=10)
    assert done.returncode == 2
    assert "expected a size" in done.stderr and done.stderr.count("\n") == 1
