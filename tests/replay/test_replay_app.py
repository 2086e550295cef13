"""Pilot: the dashboard plays a recording; panels show the CSV's figures at the CSV's times; keys seek, pause, speed."""

from __future__ import annotations

import asyncio
import csv

from tui.core.sources.replay import ReplayLab
from tui.core.kernel.system import SystemInfo
from tui.watch import ReplayApp
from tui.widgets.header import LabHeader
from tui.widgets.panel import WorkloadPanel
from tui.widgets.trace import TracePane

MiB = 1 << 20
SYSTEM_INFO = SystemInfo(kernel_release="6.18.0-lab", page_size=4096, thp_mode="madvise",
                         swap_total_bytes=0, mem_available_bytes=22 * 1024 * MiB)


def csv_row_at(directory, workload: str, t_s: float) -> dict:
    with open(directory / "samples.csv") as f:
        return [r for r in csv.DictReader(f) if r["workload"] == workload and float(r["t_s"]) <= t_s + 1e-9][-1]


def shown(app: ReplayApp, name: str) -> dict:
    view = app.query_one(f"#panel-{name}", WorkloadPanel).view
    return {"madvise": view.madvise, "state": view.state, **dict(view.current)}


async def settle(app, pilot) -> None:
    app._poll_now()
    await pilot.pause()


def assert_panels_match_csv(app, directory) -> None:
    position = app.lab.t_s()
    for name in app.names:
        row = csv_row_at(directory, name, position)
        figures = shown(app, name)
        assert figures["rss"] == int(row["rss_bytes"]), (name, position)
        assert figures["lazyfree"] == int(row["lazyfree_bytes"]), (name, position)
        assert figures["inuse"] == int(row["heap_inuse_bytes"]), (name, position)
        assert figures["released"] == int(row["heap_released_bytes"]), (name, position)
        assert figures["madvise"] == row["madvise"], (name, position)


def test_replay_in_the_dashboard(record_dir, clock):
    asyncio.run(_replay_in_the_dashboard(record_dir, clock))


async def _replay_in_the_dashboard(record_dir, clock):
    lab = ReplayLab(str(record_dir), clock=clock)
    app = ReplayApp(lab, SYSTEM_INFO, redraw_interval_s=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        for step_s in (1.0, 3.2, 1.3, 2.0):  # 1.0, 4.2, 5.5, 7.5 s into the run
            clock.advance(step_s)
            await settle(app, pilot)
            assert_panels_match_csv(app, record_dir)
        assert shown(app, "free")["madvise"] == "MADV_DONTNEED"
        pane = app.query_one(TracePane)
        written = pane.lines_written
        assert written >= 5
        # ← seeks back 10 s: to the start; the series and the trace pane start over
        await pilot.press("left")
        await settle(app, pilot)
        assert lab.t_s() == 0.0
        assert_panels_match_csv(app, record_dir)
        assert shown(app, "free")["madvise"] == "MADV_FREE"
        assert len(pane.lines) < written
        # → seeks forward; space pauses the playback: time passes, nothing moves
        await pilot.press("right")
        await pilot.press("space")
        await settle(app, pilot)
        assert lab.paused and lab.t_s() == 10.0
        assert_panels_match_csv(app, record_dir)
        assert "paused" in app.query_one(LabHeader).text.plain
        await pilot.press("space", "x")
        assert lab.speed == 10.0 and not lab.paused
        await pilot.press("3")
        assert lab.speed == 60.0


def test_mode_keys_are_off_in_a_replay(record_dir, clock):
    asyncio.run(_mode_keys_are_off(record_dir, clock))


async def _mode_keys_are_off(record_dir, clock):
    lab = ReplayLab(str(record_dir), clock=clock)
    app = ReplayApp(lab, SYSTEM_INFO, redraw_interval_s=0.05)
    calls = []
    lab.set_madvise = lambda *a: calls.append(a)  # would record a call if the key reached the lab
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        assert app.check_action("toggle_madvise", ()) is None, "greyed, with the reason in the trace pane"
        assert app.check_action("seek", (10,)) is True
        await pilot.press("m", "g", "s")
        await settle(app, pilot)
        assert calls == []
        texts = [str(line.text) if hasattr(line, "text") else "".join(s.text for s in line) for line in
                 app.query_one(TracePane).lines]
        assert any("only plays back" in t for t in texts)
