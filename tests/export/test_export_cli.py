"""`madvise-lab export` as a user runs it: scraped figures against /proc, a target that exits, signals, bad input."""

from __future__ import annotations

import signal
import socket
import subprocess

import pytest

from export_support import (KERNEL_METRICS, MiB, end_child, free_port, get, run_cli, scrape, start_child, start_export,
                            stop_export, thp_enabled, value, wait_for, within)
from kernel_truth import read_smaps_rollup


def test_every_figure_matches_the_tests_own_proc_read(child):
    port = free_port()
    exporter = start_export(str(child.pid), "--name", "child", "--listen", f"127.0.0.1:{port}", "--interval", "100ms")
    try:
        labels = {"workload": "child", "pid": str(child.pid)}
        metrics = wait_for(lambda: (m := scrape(port)) and value(m, "madvise_up", **labels) == 1 and m, "madvise_up 1")
        truth = read_smaps_rollup(child.pid)
        assert truth.lazyfree_bytes >= 90 * MiB  # the child's MADV_FREE is what the figures are about
        for metric, attribute in KERNEL_METRICS.items():
            exported, expected = value(metrics, metric, **labels), getattr(truth, attribute)
            assert exported is not None, f"{metric} missing"
            assert within(exported, expected), f"{metric}: exported {exported:.0f}, /proc says {expected}"
        if thp_enabled():  # else both are 0 and the comparison above says little
            assert truth.anon_huge_bytes > 0
        # Not a workload of ours: no runtime figures, and no mode unless its GODEBUG names one.
        names = {name for name, _labels in metrics}
        assert not names & {"madvise_heap_inuse_bytes", "madvise_gc_total", "madvise_mode_info"}
        content_type, body = get(f"http://127.0.0.1:{port}/metrics")
        assert content_type.startswith("text/plain") and "# TYPE madvise_lazyfree_bytes gauge" in body
    finally:
        code, err = stop_export(exporter)
    assert code == 0, err
    assert "Traceback" not in err
    assert f"serving child (pid {child.pid}) on http://127.0.0.1:{port}/metrics" in err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_target_that_exits_goes_up_0_and_the_exporter_keeps_serving(signum):
    leaving, staying = start_child(), start_child()
    port = free_port()
    exporter = start_export(str(leaving.pid), str(staying.pid), "--name", "leaving", "--name", "staying",
                            "--listen", str(port), "--interval", "100ms")
    try:
        gone = {"workload": "leaving", "pid": str(leaving.pid)}
        alive = {"workload": "staying", "pid": str(staying.pid)}
        before = wait_for(lambda: (m := scrape(port)) and value(m, "madvise_up", **gone) == 1
                          and value(m, "madvise_up", **alive) == 1 and m, "both targets up")
        leaving.kill()  # SIGKILL: no interpreter teardown that could shrink it while still sampled
        leaving.wait(timeout=10)
        after = wait_for(lambda: (m := scrape(port)) and value(m, "madvise_up", **gone) == 0 and m, "madvise_up 0")
        assert value(after, "madvise_up", **alive) == 1
        # the gone process keeps its last figures (they are what it held when it went)
        for metric in KERNEL_METRICS:
            assert value(after, metric, **gone) == value(before, metric, **gone), metric
        truth = read_smaps_rollup(staying.pid)
        assert within(value(scrape(port), "madvise_lazyfree_bytes", **alive), truth.lazyfree_bytes)
        assert exporter.poll() is None
    finally:
        code, err = stop_export(exporter, signum)
        end_child(leaving)
        end_child(staying)
    assert code == 0, err
    assert "Traceback" not in err
    assert f"leaving (pid {leaving.pid}) is gone: madvise_up 0" in err
    with pytest.raises(OSError):  # the port is closed once it ended
        scrape(port)


def _exit_2(*args: str) -> str:
    result = run_cli("export", *args)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("madvise-lab"), lines[0]
    return lines[0]


def test_a_port_in_use_is_one_line_and_exit_2(child):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _exit_2(str(child.pid), "--listen", f"127.0.0.1:{port}")
    assert "--listen" in line and f"port {port} is already in use" in line


@pytest.mark.parametrize("listen", ["0", "70000", "127.0.0.1:", "abc", "127.0.0.1:-5", "::1:9464", "[::1]9464"])
def test_a_port_out_of_range_or_a_bad_address_is_one_line_and_exit_2(child, listen):
    line = _exit_2(str(child.pid), "--listen", listen)
    assert "export: --listen" in line and repr(listen) in line


def test_an_address_not_of_this_machine_is_one_line_and_exit_2(child):
    line = _exit_2(str(child.pid), "--listen", f"192.0.2.1:{free_port()}")  # TEST-NET-1: never ours
    assert "192.0.2.1 is not an address of this machine" in line


def test_a_pid_gone_at_start_is_one_line_and_exit_2():
    proc = subprocess.Popen(["true"])
    proc.wait()
    line = _exit_2(str(proc.pid), "--listen", str(free_port()))
    assert f"export: no process with pid {proc.pid}" in line


@pytest.mark.parametrize("interval", ["abc", "0s", "-1s", "1x", "1ms"])
def test_a_bad_interval_is_one_line_and_exit_2(child, interval):
    line = _exit_2(str(child.pid), f"--interval={interval}", "--listen", str(free_port()))
    assert "export: --interval" in line


def test_bad_names_and_pids_are_one_line_and_exit_2(child):
    assert "--name" in _exit_2(str(child.pid), "--name", "Bad Name", "--listen", str(free_port()))
    assert "--name" in _exit_2(str(child.pid), "--name", "a", "--name", "b", "--listen", str(free_port()))
    assert "PID" in _exit_2("notapid")
