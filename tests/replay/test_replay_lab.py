"""ReplayLab plays a record directory: the CSV's figures at the CSV's times, speed, pause, seek, markers."""

from __future__ import annotations

import csv

import pytest

from tui.core.errors import UsageError
from tui.core.sources.replay import REPLAY_REASON, ReplayLab


def csv_rows(directory, workload: str, upto_s: float) -> list[dict]:
    with open(directory / "samples.csv") as f:
        return [r for r in csv.DictReader(f) if r["workload"] == workload and float(r["t_s"]) <= upto_s + 1e-9]


def assert_series_match_csv(lab: ReplayLab, directory, upto_s: float) -> None:
    for name in lab.names:
        rows = csv_rows(directory, name, upto_s)
        series = lab.series(name)
        assert series.column("t_s") == [float(r["t_s"]) for r in rows]
        for column in ("rss_bytes", "lazyfree_bytes", "heap_inuse_bytes", "heap_released_bytes"):
            assert series.column(column) == [float(r[column]) for r in rows], column


def test_plays_the_csv_figures_at_their_times(record_dir, clock):
    lab = ReplayLab(str(record_dir), clock=clock)
    lab.start()
    assert lab.names == ("free", "dontneed")
    first = lab.poll()
    assert [s.t_s for s in first.samples] == [0.0, 0.0]
    assert {s.name: s.state for s in first.statuses} == {"free": "running", "dontneed": "running"}
    clock.advance(4.2)
    update = lab.poll()
    assert max(s.t_s for s in update.samples) == 4.0
    assert_series_match_csv(lab, record_dir, 4.2)
    assert lab.series("free").latest.kernel.lazyfree_bytes == 200 << 20
    assert [x.line.split()[0] for x in update.trace_lines] == ["gc", "scvg2:", "scvg2:"]
    assert [x.kind for x in update.trace_lines] == ["gc", "scav", "scav"]
    assert [m.kind for m in update.markers] == ["gc", "scavenge"]
    assert not lab.poll().samples, "nothing new without time passing"


def test_speed_pause_and_end(record_dir, clock):
    lab = ReplayLab(str(record_dir), clock=clock)
    lab.start()
    lab.set_speed(10)
    clock.advance(0.5)
    assert lab.t_s() == pytest.approx(5.0)
    assert lab.toggle_pause() is True
    clock.advance(100)
    assert lab.t_s() == pytest.approx(5.0)
    update = lab.poll()
    assert {s.state for s in update.statuses} == {"paused"}
    lab.toggle_pause()
    assert lab.cycle_speed() == 60.0
    clock.advance(100)
    assert lab.t_s() == lab.duration_s == 10.0
    update = lab.poll()
    assert [m.label for m in update.markers if m.kind == "mode"] == ["MADV_FREE → MADV_DONTNEED"]
    # events.jsonl has no pressure step; the lab line in trace.log supplies it
    assert [m.kind for m in lab.series("free").markers] == ["gc", "scavenge", "mode", "pressure"]
    assert lab.series("free").latest.madvise == "MADV_DONTNEED"
    assert_series_match_csv(lab, record_dir, 10.0)
    assert lab.finished


def test_seek_back_rebuilds_and_forward_catches_up(record_dir, clock):
    lab = ReplayLab(str(record_dir), clock=clock)
    lab.start()
    clock.advance(8.0)
    lab.poll()
    epoch = lab.epoch
    assert lab.seek(-5.0) == pytest.approx(3.0)
    assert lab.epoch == epoch + 1
    update = lab.poll()
    assert_series_match_csv(lab, record_dir, 3.0)
    assert [x.line.split()[0] for x in update.trace_lines] == ["gc"], "the trace pane is resent up to 3 s"
    assert [m.kind for m in lab.series("free").markers] == ["gc"]
    assert lab.status("free").madvise == "MADV_FREE"
    lab.seek(+4.5)
    update = lab.poll()
    assert lab.epoch == epoch + 1, "seeking forward only adds"
    assert_series_match_csv(lab, record_dir, 7.5)
    assert lab.status("free").madvise == "MADV_DONTNEED"
    assert lab.seek(-100) == 0.0
    lab.poll()
    assert_series_match_csv(lab, record_dir, 0.0)


def test_actions_say_it_is_a_replay(record_dir, clock):
    lab = ReplayLab(str(record_dir), clock=clock)
    assert lab.can("set_madvise") == REPLAY_REASON
    assert lab.can("seek") is True
    assert all(lab.can(action) == REPLAY_REASON for action in ("gc", "scavenge", "alloc", "pressure", "restart"))
    lab.start()
    before = lab.status("free")
    lab.set_madvise("free", "MADV_DONTNEED")  # refused: the recording plays on unchanged
    assert lab.status("free") == before
    assert lab.pressure_available is False


def test_missing_dir_is_one_line(tmp_path):
    with pytest.raises(UsageError, match="not a directory"):
        ReplayLab(str(tmp_path / "nope"))
    with pytest.raises(UsageError, match="samples.csv: missing"):
        ReplayLab(str(tmp_path))


def test_bad_csv_names_file_and_line(tmp_path):
    (tmp_path / "samples.csv").write_text("t_s,workload\n1,free\n")
    with pytest.raises(UsageError, match=r"samples.csv:1: expected the columns .*missing pid"):
        ReplayLab(str(tmp_path))
    from tui.core.record.format import CSV_COLUMNS as COLUMNS
    (tmp_path / "samples.csv").write_text(",".join(COLUMNS) + "\n0,free,1,MADV_FREE,x,1,1,1,1,1,1,1\n")
    with pytest.raises(UsageError, match=r"samples.csv:2: expected numbers"):
        ReplayLab(str(tmp_path))
