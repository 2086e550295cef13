"""`--metrics` on `record` and `run`: the lab's own workloads, kernel figures against /proc, runtime figures too."""

from __future__ import annotations

import json
import os
import pty
import signal
import socket
import subprocess
import sys
import threading

from export_support import (CLI_ENV, KERNEL_METRICS, REPO, MiB, cli, die_with_us, free_port, run_cli, scrape, value,
                            wait_for, within)
from kernel_truth import read_smaps_rollup

# One workload allocates 32 MiB, drops it after 1 s; the forced GC finds it garbage and the eager scavenger
# releases it with MADV_FREE: from then on the figures hold still (heap empty, 32 MiB released and LazyFree).
CONFIG = """
sample_interval: 100ms
budget: 512MiB
pressure: {cgroup_root: /proc}
workloads:
  - name: lazy
    pattern: seed
    size: 32MiB
    count: 1
    hold: 1s
    forced_gc_period: 1s
    scavenger: eager
    madvise: MADV_FREE
"""
RELEASED_BYTES = 32 * MiB


def _released(port: int):
    """The scrape once the workload's release is visible in both the runtime's and the kernel's figures."""
    metrics = scrape(port)
    pids = [dict(labels)["pid"] for name, labels in metrics if name == "madvise_up" and dict(labels)["workload"] == "lazy"]
    if len(pids) != 1:
        return None
    labels = {"workload": "lazy", "pid": pids[0]}
    released = value(metrics, "madvise_heap_released_bytes", **labels) or 0
    lazyfree = value(metrics, "madvise_lazyfree_bytes", **labels) or 0
    inuse = value(metrics, "madvise_heap_inuse_bytes", **labels)
    done = inuse == 0 and released >= RELEASED_BYTES and lazyfree >= RELEASED_BYTES * 0.9
    return (metrics, labels) if done else None


def _check_against_proc(metrics: dict, labels: dict) -> None:
    truth = read_smaps_rollup(int(labels["pid"]))
    for metric, attribute in KERNEL_METRICS.items():
        exported, expected = value(metrics, metric, **labels), getattr(truth, attribute)
        assert exported is not None and within(exported, expected), f"{metric}: {exported} vs /proc {expected}"
    assert value(metrics, "madvise_up", **labels) == 1
    assert value(metrics, "madvise_mode_info", **labels, mode="MADV_FREE") == 1
    assert value(metrics, "madvise_gc_total", **labels) >= 1


def test_record_metrics_serves_the_workloads_figures(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    port = free_port()
    record = subprocess.Popen(cli("record", "--config", str(tmp_path / "config.yaml"), "--duration", "60s",
                                  "--out", str(tmp_path / "out"), "--metrics", str(port)),
                              cwd=REPO, env=CLI_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=die_with_us)
    try:
        metrics, labels = wait_for(lambda: _released(port), "the release in the scraped figures", timeout_s=30)
        _check_against_proc(metrics, labels)

        def same_as_the_workloads_own_stats():
            # the runtime-side figures are the workload's own latest stats message, as record wrote it
            with open(tmp_path / "out" / "events.jsonl") as events:
                stats = [event["message"] for event in map(json.loads, events) if event.get("workload") == "lazy"
                         and event.get("message", {}).get("type") == "stats"]
            scraped = scrape(port)
            return stats and all(value(scraped, f"madvise_{key}", **labels) == stats[-1][key]
                                 for key in ("heap_inuse_bytes", "heap_idle_bytes", "heap_released_bytes"))
        wait_for(same_as_the_workloads_own_stats, "the scraped heap figures to equal the last stats message")
    finally:
        record.send_signal(signal.SIGINT)
        out, err = record.communicate(timeout=30)
    assert record.returncode == 0, err
    assert f"serving http://127.0.0.1:{port}/metrics" in err and "Traceback" not in err
    try:
        scrape(port)
    except OSError:
        pass
    else:
        raise AssertionError("record ended but /metrics still answers")


def test_a_metrics_port_in_use_stops_record_before_any_workload_starts(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("record", "--config", str(tmp_path / "config.yaml"), "--duration", "5s",
                         "--out", str(tmp_path / "out"), "--metrics", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"madvise-lab: error: record: --metrics: 127.0.0.1:{port}: "
                                     f"port {port} is already in use (another exporter?): pick another port")
    assert not (tmp_path / "out").exists()
    assert "--metrics" in run_cli("run", "--metrics", "99999").stderr


def test_run_metrics_serves_the_dashboards_workloads(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    port = free_port()
    pid, master = pty.fork()
    if pid == 0:  # the dashboard in a terminal of its own
        os.chdir(REPO)
        os.environ.update({**CLI_ENV, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
        os.execv(sys.executable, cli("run", "--config", str(tmp_path / "config.yaml"), "--metrics", str(port)))

    def drain() -> None:  # keep reading so the app never blocks on a full pty buffer
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass

    threading.Thread(target=drain, daemon=True).start()
    try:
        metrics, labels = wait_for(lambda: _released(port), "the release in the dashboard's metrics", timeout_s=40)
        _check_against_proc(metrics, labels)
        os.write(master, b"q")
        assert wait_for(lambda: os.waitpid(pid, os.WNOHANG)[0] == pid, "the dashboard to quit", timeout_s=15)
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(master)
    try:
        scrape(port)
    except OSError:
        pass
    else:
        raise AssertionError("the dashboard quit but /metrics still answers")
