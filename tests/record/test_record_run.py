"""`record` against real workloads: the files, their columns, RSS against /proc, and a timeline mode switch."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tui.core.config import load_config
from tui.core.record.format import CSV_COLUMNS
from tui.core.record.recorder import Recorder
from kernel_truth import read_smaps_rollup

REPO = Path(__file__).resolve().parents[2]
SWITCH_AT_S = 3.0
CONFIG = f"""
sample_interval: 100ms
budget: 1GiB
pressure: {{cgroup_root: /proc}}
defaults:
  pattern: seed
  size: 64MiB
  count: 2
  interval: 1s
  hold: 1s
  forced_gc_period: 2s
  scavenger: go1.12
  scavenge_period: 1s
  scavenge_idle: 1s
workloads:
  - name: free
    madvise: MADV_FREE
  - name: dontneed
    madvise: MADV_DONTNEED
timeline:
  - {{at: {SWITCH_AT_S}s, do: set_madvise, workload: free, value: MADV_DONTNEED}}
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One 6 s recording, with /proc reads of each workload taken from another thread while it runs."""
    base = tmp_path_factory.mktemp("record")
    config_path = base / "config.yaml"
    config_path.write_text(CONFIG)
    recorder = Recorder(load_config(str(config_path)), base / "out", duration_s=6.0)
    proc_reads: list[tuple[float, float, str, int]] = []
    done = threading.Event()

    def read_proc() -> None:
        while not done.is_set():
            lab = recorder.lab
            if lab is not None:
                for name in ("free", "dontneed"):
                    pid = lab.status(name).pid
                    # The read's own start and end: under load this thread can be preempted in between.
                    started_s = lab.t_s()
                    memory = read_smaps_rollup(pid) if pid else None
                    if memory is not None:
                        proc_reads.append((started_s, lab.t_s(), name, memory.rss_bytes))
            time.sleep(0.037)

    reader = threading.Thread(target=read_proc, daemon=True)
    reader.start()
    try:
        summary = recorder.run()
    finally:
        done.set()
        reader.join()
    with open(base / "out" / "samples.csv", newline="") as file:
        rows = list(csv.reader(file))
    return base / "out", rows, proc_reads, summary


def test_record_writes_every_file_with_exact_columns(recorded):
    out, rows, _, summary = recorded
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) > 2 * 40  # two workloads, ~10 Hz for 6 s
    assert all(len(row) == len(CSV_COLUMNS) for row in rows)
    assert {row[1] for row in rows[1:]} == {"free", "dontneed"}
    times = [float(row[0]) for row in rows[1:]]
    assert 0 <= min(times) and max(times) <= 6.5
    trace = (out / "trace.log").read_text().splitlines()
    assert any(" free gc " in line for line in trace)
    for line in trace:
        t_s, workload, _ = line.split(" ", 2)
        float(t_s)
        assert workload in ("free", "dontneed", "lab")
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    hello = [e for e in events if e.get("message", {}).get("type") == "hello"]
    assert {e["workload"] for e in hello} == {"free", "dontneed"}
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["workloads"]["dontneed"]["peak_rss_bytes"] >= 128 << 20


def test_recorded_rss_matches_proc_within_2_percent(recorded):
    _, rows, proc_reads, _ = recorded
    by_name: dict[str, list[tuple[float, int]]] = {}
    for row in rows[1:]:
        by_name.setdefault(row[1], []).append((float(row[0]), int(row[4])))
    compared = 0
    for started_s, ended_s, name, proc_rss in proc_reads:
        series = by_name[name]
        before = [s for s in series if s[0] <= started_s]
        after = [s for s in series if s[0] >= ended_s]
        if not before or not after:
            continue
        low, high = before[-1][1], after[0][1]
        # Only where memory held still between the two recorded samples around the /proc read.
        if abs(high - low) > 0.005 * max(low, high) or after[0][0] - before[-1][0] > 0.3:
            continue
        assert abs(low - proc_rss) <= 0.02 * proc_rss, (name, started_s, ended_s, low, proc_rss)
        compared += 1
    assert compared >= 20


def test_timeline_set_madvise_shows_in_csv_from_its_time(recorded):
    _, rows, _, _ = recorded
    free_rows = [(float(row[0]), row[3]) for row in rows[1:] if row[1] == "free"]
    assert all(mode == "MADV_FREE" for t_s, mode in free_rows if t_s < SWITCH_AT_S)
    after = [mode for t_s, mode in free_rows if t_s >= SWITCH_AT_S + 0.5]
    assert after and all(mode == "MADV_DONTNEED" for mode in after)
    switched = [t_s for t_s, mode in free_rows if mode == "MADV_DONTNEED"]
    assert switched == sorted(switched) and all(t_s >= SWITCH_AT_S for t_s in switched)
    assert all(row[3] == "MADV_DONTNEED" for row in rows[1:] if row[1] == "dontneed")


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, **kwargs)


def test_check_json_names_every_flag():
    from workloads.options import MADVISE_MODES

    done = _cli("check", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert set(found["madvise"]) == set(MADVISE_MODES)
    assert found["madvise"]["MADV_DONTNEED"]["accepted"] is True
    for key in ("kernel_release", "page_size", "thp_mode", "swap_total_bytes", "lazyfree", "cgroup", "go"):
        assert key in found


@pytest.mark.parametrize("args", [
    ("record", "--duration", "5x", "--out", "OUT"),
    ("record", "--duration", "0s", "--out", "OUT"),
    ("record", "--out", "OUT"),
    ("record", "--duration", "1s", "--out", "OUT", "--plot", "chart.gif"),
    ("record", "--duration", "1s", "--out", "OUT", "--sample-interval", "fast"),
    ("record", "--duration", "1s", "--out", "OUT", "--bogus"),
    ("check", "--yaml"),
])
def test_bad_flags_exit_2_with_one_line(args, tmp_path):
    done = _cli(*(str(tmp_path / "out") if a == "OUT" else a for a in args))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_ctrl_c_stops_early_with_complete_files(tmp_path):
    config_path = tmp_path / "config.yaml"
    config_path.write_text(CONFIG)
    proc = subprocess.Popen([sys.executable, "-m", "tui", "record", "--config", str(config_path), "--duration", "60s",
                             "--out", str(tmp_path / "out")], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["stopped_early"] is True and summary["duration_s"] < 10
    rows = list(csv.reader((tmp_path / "out" / "samples.csv").open(newline="")))
    assert len(rows) > 10 and all(len(row) == len(CSV_COLUMNS) for row in rows)
    assert "peak RSS" in stdout
