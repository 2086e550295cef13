"""`h` in the dashboard (Pilot, a real Lab): the heap map takes the chart's place, shows our pagemap read, and back."""

from __future__ import annotations

import pytest

from app_support import live_app, sync, wait_for
from kernel_truth import read_pagemap_present
from tui.widgets.chart import MemoryChart
from tui.widgets.heapmap import HeapMapView

pytestmark = pytest.mark.slow
MiB = 1 << 20
PAGE = 4096
CONFIG = """
sample_interval: 100ms
workloads:
  - {name: steady, pattern: steady, size: 32MiB, arena_size: 64MiB, madvise: MADV_FREE, scavenger: "off"}
"""


def footer_keys(app) -> dict[str, str]:
    return {b.key: b.description for (_, b, enabled, _) in app.active_bindings.values() if b.show}


@sync
async def test_h_swaps_the_chart_for_the_heap_map_and_back():
    app = live_app(CONFIG)
    async with app.run_test(size=(140, 44)) as pilot:
        lab = app.lab
        await wait_for(pilot, lambda: lab.status("steady").state == "running" and lab.heap("steady") is not None,
                       "steady running")
        assert footer_keys(app).get("h") == "Heap map"
        assert app.query_one(MemoryChart).display and not app.query_one(HeapMapView).display
        reads_hidden = lab._heapmaps.reads
        await pilot.pause(1.5)
        assert lab._heapmaps.reads == reads_hidden, "pagemap read while the map was hidden"

        await pilot.press("h")
        view = app.query_one(HeapMapView)
        await wait_for(pilot, lambda: view.heap_map is not None and view.heap_map.pages["inuse_resident"] > 0,
                       "the map with the workload's 32 MiB in use")
        assert view.display and not app.query_one(MemoryChart).display
        shown = view.heap_map
        pid = lab.status("steady").pid
        own = [read_pagemap_present(pid, a.addr, a.addr + a.n_bytes) for a in shown.arenas]
        print(f"\nshown: {shown.pages['inuse_resident'] * PAGE / MiB:.1f} MiB in use resident; own pagemap "
              f"{sum(p for p, _, _ in own) * PAGE / MiB:.1f} MiB present in its arenas")
        assert shown.pages["inuse_resident"] * PAGE >= 32 * MiB
        assert abs(sum(p for p, _, _ in own) - (shown.pages["inuse_resident"] + shown.pages["idle_resident"]
                                                 + shown.pages["released_resident"])) * PAGE <= 1 * MiB
        text = "\n".join(view.render_line(y).text for y in range(view.size.height))
        assert "1 cell = " in text and "in use 32.0 MiB" in text and "heap map: steady" in str(view.border_title)

        # at most one pagemap read a second while shown
        reads_before = lab._heapmaps.reads
        await pilot.pause(2.2)
        assert 1 <= lab._heapmaps.reads - reads_before <= 3

        await pilot.press("h")
        await pilot.pause(0.2)
        assert app.query_one(MemoryChart).display and not view.display
        reads_after = lab._heapmaps.reads
        await pilot.pause(1.5)
        assert lab._heapmaps.reads == reads_after, "pagemap still read after the map was hidden"


@sync
async def test_h_is_in_the_command_palette():
    app = live_app(CONFIG)
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause(0.2)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Heap map (h)" in titles
