"""A small hand-written record directory (the format `madvise-lab record` writes) and a fake clock."""

from __future__ import annotations

import csv
import json

import pytest

from tui.core.record.format import CSV_COLUMNS as COLUMNS
MiB = 1 << 20


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


def rows() -> list[dict]:
    """Two workloads, 10 s at 0.5 s: free keeps RSS as LazyFree after 4 s, dontneed drops it; free switches mode at 7 s."""
    out = []
    for i in range(21):
        t_s = i * 0.5
        released = t_s >= 4.0
        for name, pid in (("free", 101), ("dontneed", 102)):
            mode = "MADV_DONTNEED" if name == "dontneed" or t_s >= 7.0 else "MADV_FREE"
            rss = 256 * MiB + i * MiB
            lazy = 0
            if released:
                lazy = 200 * MiB if name == "free" and t_s < 7.0 else 0
                rss = rss if name == "free" and t_s < 7.0 else 56 * MiB + i * MiB
            out.append(dict(t_s=f"{t_s:.3f}", workload=name, pid=pid, madvise=mode, rss_bytes=rss,
                            anon_bytes=rss, lazyfree_bytes=lazy, heap_inuse_bytes=(56 if released else 256) * MiB,
                            heap_idle_bytes=0, heap_released_bytes=(200 if released else 0) * MiB,
                            heap_sys_bytes=256 * MiB, gc_count=i // 4))
    return out


@pytest.fixture
def record_dir(tmp_path):
    directory = tmp_path / "run"
    directory.mkdir()
    with open(directory / "samples.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows())
    (directory / "trace.log").write_text(
        "1.000 free gc 1 @1.000s 0%: 0.004+5696+0.013 ms clock, 0.009+1.2/1.2/5693+0.027 ms cpu, 256->256->256 MB, 257 MB goal, 2 P\n"
        "4.000 free scvg2: 200 MB released\n"
        "4.000 dontneed scvg2: 200 MB released\n"
        "7.000 free lab: madvise MADV_FREE -> MADV_DONTNEED\n"
        "8.000 free lab: pressure: limit 128 MiB\n"
    )
    events = [
        {"t_s": 1.0, "workload": "free", "type": "event", "event": "gc", "n": 1},
        {"t_s": 4.0, "workload": "free", "type": "event", "event": "scavenge", "released_bytes": 200 * MiB},
        {"t_s": 7.0, "workload": "free", "type": "event", "event": "mode", "old": "MADV_FREE", "new": "MADV_DONTNEED"},
        "junk",
    ]
    (directory / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\nnot json\n")
    (directory / "summary.json").write_text("{}")
    return directory


@pytest.fixture
def clock():
    return FakeClock()


SMALL_CONFIG = """
sample_interval: 100ms
defaults:
  pattern: seed
  size: 32MiB
  count: 1
  interval: 500ms
  hold: 500ms
  forced_gc_period: 1s
  scavenge_period: 1s
  scavenge_idle: 500ms
workloads:
  - name: free
    madvise: MADV_FREE
timeline:
  - {at: 2s, do: set_madvise, workload: free, value: MADV_DONTNEED}
  - {at: 2500ms, do: pressure, workload: free}
"""


@pytest.fixture(scope="session")
def recorded_dir(tmp_path_factory):
    """A real `madvise-lab record` run: one 32 MiB workload, a mode switch at 2 s and a pressure step at 2.5 s."""
    import subprocess
    import sys

    base = tmp_path_factory.mktemp("recorded")
    (base / "small.yaml").write_text(SMALL_CONFIG)
    out = base / "run"
    result = subprocess.run([sys.executable, "-m", "tui", "--config", str(base / "small.yaml"), "record",
                             "--duration", "3s", "--out", str(out)], capture_output=True, text=True, timeout=60,
                            cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    if result.returncode != 0:
        pytest.fail(f"record failed ({result.returncode}): {result.stderr[-2000:]}")
    return out
