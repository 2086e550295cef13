"""A real `record` run replays with the CSV's figures at the CSV's times; its mode switch and pressure are marked."""

from __future__ import annotations

import csv

import pytest

from tui.core.sources.replay import ReplayLab

pytestmark = pytest.mark.slow


def rows(directory) -> list[dict]:
    with open(directory / "samples.csv") as f:
        return list(csv.DictReader(f))


def test_replayed_figures_equal_the_csv_at_every_step(recorded_dir, clock):
    lab = ReplayLab(str(recorded_dir), clock=clock)
    lab.start()
    all_rows = rows(recorded_dir)
    assert len(all_rows) > 20
    handed_out = []
    for _ in range(40):  # 0.1 s steps through the recording
        update = lab.poll()
        for sample in update.samples:
            assert sample.t_s <= lab.t_s() + 1e-9, "nothing from the future"
        handed_out.extend(update.samples)
        clock.advance(0.1)
    lab.poll()
    assert len(handed_out) == len(all_rows), "every row once"
    for sample, row in zip(handed_out, all_rows):
        assert f"{sample.t_s:.3f}" == row["t_s"]
        assert (sample.workload, str(sample.pid), sample.madvise) == (row["workload"], row["pid"], row["madvise"])
        assert sample.kernel.rss_bytes == int(row["rss_bytes"])
        assert sample.kernel.lazyfree_bytes == int(row["lazyfree_bytes"])
        if row["heap_inuse_bytes"]:
            assert sample.heap.heap_inuse_bytes == int(row["heap_inuse_bytes"])
            assert sample.heap.heap_released_bytes == int(row["heap_released_bytes"])
    kinds = {m.kind: m for m in lab.series("free").markers}
    assert kinds["mode"].label.replace(" ", "") == "MADV_FREE→MADV_DONTNEED"
    assert 1.9 <= kinds["mode"].t_s <= 2.5
    assert 2.4 <= kinds["pressure"].t_s <= 3.0
    first_dontneed = next(float(r["t_s"]) for r in all_rows if r["madvise"] == "MADV_DONTNEED")
    assert abs(first_dontneed - kinds["mode"].t_s) < 0.5


def test_seek_back_into_a_real_run(recorded_dir, clock):
    lab = ReplayLab(str(recorded_dir), clock=clock)
    lab.start()
    clock.advance(10)
    lab.poll()
    lab.seek(-(lab.t_s() - 1.5))
    lab.poll()
    expected = [int(r["rss_bytes"]) for r in rows(recorded_dir) if float(r["t_s"]) <= 1.5]
    assert lab.series("free").column("rss_bytes") == expected
    assert lab.series("free").latest.madvise == "MADV_FREE"
    assert [m.kind for m in lab.series("free").markers if m.kind in ("mode", "pressure")] == []
