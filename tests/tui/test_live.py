"""The dashboard over real workload processes: keys change the workloads, panels show kernel truth."""

from __future__ import annotations

import asyncio
import time

from app_support import live_app, sync, trace_text, wait_for
from tui.app import MadviseLabApp
from kernel_truth import read_smaps_rollup
from tui.widgets.help import HelpScreen
from tui.widgets.panel import WorkloadPanel

MiB = 1 << 20
TIMEOUT_S = 20.0

STEADY = """\
sample_interval: 100ms
alloc_bytes: 16MiB
pressure: {cgroup_root: /proc}
workloads:
  - {name: steady, pattern: steady, size: 32MiB, arena_size: 16MiB, madvise: MADV_FREE}
  - {name: other, pattern: steady, size: 16MiB, arena_size: 16MiB, madvise: MADV_DONTNEED}
"""
STORY = """\
sample_interval: 100ms
pressure: {cgroup_root: /proc}
defaults:
  pattern: seed
  size: 64MiB
  count: 2
  interval: 300ms
  hold: 300ms
  forced_gc_period: 1s
  scavenger: go1.12
  scavenge_period: 500ms
  scavenge_idle: 500ms
  arena_size: 16MiB
workloads:
  - {name: free, madvise: MADV_FREE}
  - {name: dontneed, madvise: MADV_DONTNEED}
"""


def panel(app: MadviseLabApp, name: str) -> WorkloadPanel:
    return app.query_one(f"#panel-{name}", WorkloadPanel)


def shown(app: MadviseLabApp, name: str, figure: str):
    view = panel(app, name).view
    return None if view is None else dict(view.current)[figure]


@sync
async def test_every_key_acts_on_the_real_workload():
    app = live_app(STEADY)
    lab = app.lab
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: shown(app, "steady", "inuse") == 32 * MiB, "steady's heap on screen")
        series = lab.series("steady")

        # m: the workload's own next stats report the new mode; the panel and the trace say so
        await pilot.press("m")
        await wait_for(pilot, lambda: series.latest.madvise == "MADV_DONTNEED", "stats with MADV_DONTNEED")
        await wait_for(pilot, lambda: panel(app, "steady").view.madvise == "MADV_DONTNEED", "panel mode")
        await wait_for(pilot, lambda: any("steady" in t and "MADV_DONTNEED" in t for t in trace_text(app)),
                       "a trace line for the switch")

        # a: alloc_bytes more in use; f drops everything, g collects it (a GC line; nothing in use)
        await pilot.press("a")
        await wait_for(pilot, lambda: shown(app, "steady", "inuse") == 48 * MiB, "48 MiB in use after alloc")
        await pilot.press("f")
        gcs_before = sum(1 for t in trace_text(app) if " steady " in f" {t} " and "gc " in t)
        await pilot.press("g")
        await wait_for(pilot, lambda: sum(1 for t in trace_text(app) if " steady " in f" {t} " and "gc " in t)
                       > gcs_before, "a GC trace line")
        await wait_for(pilot, lambda: shown(app, "steady", "inuse") == 0, "nothing in use after free and GC")

        # s: the freed spans are released (a scavenge marker; released on screen) under the mode `m` chose,
        # and the kernel agrees: MADV_DONTNEED drops the 48 MiB from RSS at once and leaves nothing LazyFree
        pid = lab.status("steady").pid
        rss_before = read_smaps_rollup(pid).rss_bytes
        scavenges = sum(1 for m in series.markers if m.kind == "scavenge")
        await pilot.press("s")
        await wait_for(pilot, lambda: sum(1 for m in series.markers if m.kind == "scavenge") > scavenges,
                       "a scavenge event")
        await wait_for(pilot, lambda: (shown(app, "steady", "released") or 0) >= 32 * MiB, "released on screen")
        after = read_smaps_rollup(pid)
        assert rss_before - after.rss_bytes >= 44 * MiB, (rss_before, after.rss_bytes)  # 48 MiB, a page table's slack
        assert after.lazyfree_bytes == 0

        # m again: back to MADV_FREE; the next release stays in RSS, marked LazyFree (the reverse)
        await pilot.press("m")
        await wait_for(pilot, lambda: series.latest.madvise == "MADV_FREE", "stats with MADV_FREE")
        await pilot.press("a")
        await wait_for(pilot, lambda: shown(app, "steady", "inuse") == 16 * MiB, "16 MiB in use after alloc")
        await pilot.press("f", "g")
        await wait_for(pilot, lambda: shown(app, "steady", "inuse") == 0, "nothing in use after free and GC")
        rss_before = read_smaps_rollup(pid).rss_bytes
        scavenges = sum(1 for m in series.markers if m.kind == "scavenge")
        await pilot.press("s")
        await wait_for(pilot, lambda: sum(1 for m in series.markers if m.kind == "scavenge") > scavenges,
                       "a second scavenge event")
        after = read_smaps_rollup(pid)
        assert after.lazyfree_bytes >= 15 * MiB, after.fields  # the 16 MiB just released, lazily
        assert after.rss_bytes >= rss_before - 1 * MiB, (rss_before, after.rss_bytes)  # RSS did not fall

        # space: the view freezes while the series keeps growing
        await pilot.press("space")
        await pilot.pause(0.3)
        frozen_view, frozen_len = panel(app, "steady").view, len(series)
        await wait_for(pilot, lambda: len(series) >= frozen_len + 3, "the series to keep growing, paused")
        assert panel(app, "steady").view is frozen_view
        await pilot.press("space")
        await wait_for(pilot, lambda: panel(app, "steady").view is not frozen_view, "the view to move again")

        # r: a new process
        old_pid = lab.status("steady").pid
        await pilot.press("r")
        await wait_for(pilot, lambda: lab.status("steady").pid not in (None, old_pid)
                       and lab.status("steady").state == "running", "a restarted workload")
        await wait_for(pilot, lambda: panel(app, "steady").view.pid == lab.status("steady").pid, "the new pid shown")

        # ?: help
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        pids = [lab.status(name).pid for name in lab.names]
        await pilot.press("q")
        await pilot.pause(0.2)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(read_smaps_rollup(pid) for pid in pids):
        await asyncio.sleep(0.05)
    assert not any(read_smaps_rollup(pid) for pid in pids), "a workload survived q"


@sync
async def test_the_story_free_keeps_rss_as_lazyfree_dontneed_drops_it():
    app = live_app(STORY)
    lab = app.lab

    def released(name: str) -> bool:
        latest = lab.series(name).latest
        return latest is not None and latest.heap is not None and latest.heap.heap_released_bytes >= 128 * MiB \
            and latest.heap.heap_inuse_bytes == 0

    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: released("free") and released("dontneed"), "both workloads released")
        await pilot.pause(0.6)  # the next samples and one redraw
        for name in lab.names:
            pid = lab.status(name).pid
            on_screen = shown(app, name, "rss")
            direct = read_smaps_rollup(pid)
            assert abs(on_screen - direct.rss_bytes) <= 0.02 * direct.rss_bytes, (name, on_screen, direct)
        released_bytes = shown(app, "free", "released")
        assert shown(app, "free", "rss") >= 128 * MiB
        assert abs(shown(app, "free", "lazyfree") - released_bytes) <= 0.05 * released_bytes
        assert panel(app, "free").view.footprint_bytes < 64 * MiB
        assert shown(app, "dontneed", "rss") < 64 * MiB
        assert shown(app, "dontneed", "lazyfree") == 0
        # the chart of the focused (FREE) workload has drawn the release
        assert app.chart_pacer.version is not None and app.chart_pacer.version[0] == "free"
        await pilot.press("q")


@sync
async def test_compact_layout_with_real_workloads():
    app = live_app(STEADY)
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_for(pilot, lambda: shown(app, "other", "inuse") == 16 * MiB, "a panel in the compact layout")
        assert app.screen.has_class("-compact")
        await pilot.resize_terminal(40, 12)
        await wait_for(pilot, lambda: app.size == (40, 12), "the resize")
        assert app.screen.has_class("-compact") and not app.query_one("MemoryChart").display
        await pilot.press("m")  # the keys still act on the real workload in the smallest layout
        await wait_for(pilot, lambda: app.lab.series("steady").latest.madvise == "MADV_DONTNEED", "m in compact")
        assert panel(app, "steady").view is not None and shown(app, "other", "inuse") == 16 * MiB
        await pilot.press("q")
