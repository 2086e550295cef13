"""A timeline `pressure` step in `madvise-lab record`: the CSV shows the workload's LazyFree fall after it."""

from __future__ import annotations

import csv
import os

import pytest

from pressure_support import MiB, cgroup_root, ours
from tui.core.config import load_config
from tui.core.record.recorder import Recorder

pytestmark = pytest.mark.slow
PRESSURE_AT_S = 3.5
CONFIG = f"""\
sample_interval: 50ms
workloads:
  - {{name: free, pattern: steady, size: 16MiB, arena_size: 16MiB, madvise: MADV_FREE}}
  - {{name: other, pattern: steady, size: 16MiB, arena_size: 16MiB, madvise: MADV_FREE}}
timeline:
  - {{at: 1s, do: alloc, workload: free, value: 256MiB}}
  - {{at: 2s, do: free, workload: free}}
  - {{at: 2.2s, do: gc, workload: free}}
  - {{at: 2.5s, do: scavenge, workload: free}}
  - {{at: {PRESSURE_AT_S}s, do: pressure, workload: free}}
"""


def test_a_timeline_pressure_step_shows_in_the_recorded_samples(tmp_path):
    root = cgroup_root()
    config_path = tmp_path / "config.yaml"
    config_path.write_text(CONFIG)

    Recorder(load_config(str(config_path)), tmp_path / "out", duration_s=5.5).run()

    with open(tmp_path / "out" / "samples.csv", newline="") as file:
        rows = [(float(r["t_s"]), int(r["lazyfree_bytes"] or 0)) for r in csv.DictReader(file)
                if r["workload"] == "free"]
    before = [b for t, b in rows if PRESSURE_AT_S - 0.5 <= t < PRESSURE_AT_S]
    after = [b for t, b in rows if t >= PRESSURE_AT_S + 1.0]
    trace = (tmp_path / "out" / "trace.log").read_text()
    print(f"\nLazyFree before the step {max(before) / MiB:.0f} MiB, a second after {max(after) / MiB:.0f} MiB")
    print("\n".join(l for l in trace.splitlines() if "pressure" in l))
    assert before and after
    assert min(before) >= 250 * MiB  # the release is LazyFree when the step runs
    assert max(after) <= 0.10 * min(before)
    assert f"timeline at {PRESSURE_AT_S:g}s: pressure free" in trace and "reclaimed" in trace and ": step 1: limit" in trace
    assert ours(root, os.getpid()) == []  # the recorder's lab stopped and removed its cgroups


def test_a_timeline_pressure_step_that_cannot_act_says_why_in_trace_and_events(tmp_path):
    """No memory cgroup at all (cgroup_root is not one): the step is refused with the reason, never silently."""
    import json

    config_path = tmp_path / "config.yaml"
    config_path.write_text("""\
sample_interval: 50ms
pressure: {cgroup_root: /proc}
workloads:
  - {name: free, pattern: steady, size: 8MiB, arena_size: 8MiB, madvise: MADV_FREE}
timeline:
  - {at: 0.5s, do: pressure, workload: free}
  - {at: 0.7s, do: release_pressure, workload: free}
""")

    Recorder(load_config(str(config_path)), tmp_path / "out", duration_s=1.5).run()

    trace = (tmp_path / "out" / "trace.log").read_text().splitlines()
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    said = [e for e in events if e.get("type") == "lab" and "pressure unavailable" in e["line"]]
    print("\n" + "\n".join(json.dumps(e) for e in said))
    assert len(said) == 2 and all(e["workload"] == "free" and e["kind"] == "error" for e in said)
    assert all("/proc is not a memory cgroup" in e["line"] for e in said)
    assert sum("lab: pressure unavailable: /proc is not a memory cgroup" in line for line in trace) == 2
    assert any(e.get("type") == "lab" and "timeline at 0.5s: pressure free" in e["line"] for e in events)
