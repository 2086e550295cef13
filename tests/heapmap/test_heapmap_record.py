"""record writes heapmap.jsonl from real workloads (≤ 1 a second per workload, only on change); replay shows it."""

from __future__ import annotations

import json

import pytest

from tui.core.config import load_config
from tui.core.errors import UsageError
from tui.core.heapmap import RECORDED_STATES, HeapMap
from tui.core.record.recorder import Recorder
from tui.core.sources.replay import ReplayLab

pytestmark = pytest.mark.slow

MiB = 1 << 20
CONFIG = """
sample_interval: 100ms
budget: 1GiB
pressure: {cgroup_root: /proc}
defaults: {pattern: seed, size: 64MiB, count: 2, interval: 1s, hold: 1s, forced_gc_period: 2s,
           scavenger: go1.12, scavenge_period: 1s, scavenge_idle: 1s}
workloads:
  - {name: free, madvise: MADV_FREE}
  - {name: dontneed, madvise: MADV_DONTNEED}
"""


class Clock:
    now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    base = tmp_path_factory.mktemp("heapmap-record")
    (base / "config.yaml").write_text(CONFIG)
    out = base / "out"
    Recorder(load_config(str(base / "config.yaml")), out, duration_s=8.0).run()
    lines = [json.loads(line) for line in (out / "heapmap.jsonl").read_text().splitlines()]
    return out, lines


def test_heapmap_jsonl_fields_rate_and_the_story(recorded):
    out, lines = recorded
    assert {line["workload"] for line in lines} == {"free", "dontneed"}
    for line in lines:
        assert {"t_s", "workload", "page_bytes", "pages", "cells"} <= set(line)
        assert set(line["pages"]) == set(RECORDED_STATES) and line["page_bytes"] == 4096
        cell_pages = sum(sum(counts) for arena in line["cells"] for counts in arena["counts"])
        assert cell_pages == sum(line["pages"].values())
    for name in ("free", "dontneed"):
        times = [line["t_s"] for line in lines if line["workload"] == name]
        assert all(b - a >= 0.9 for a, b in zip(times, times[1:])), f"{name}: more than one map a second: {times}"
        mine = [line for line in lines if line["workload"] == name]
        assert all(a["cells"] != b["cells"] for a, b in zip(mine, mine[1:])), "an unchanged map was written again"
    last = {line["workload"]: line for line in lines}
    page = 4096
    print(f"\n{len(lines)} maps; last free {last['free']['pages']}, last dontneed {last['dontneed']['pages']}")
    assert last["free"]["pages"]["released_resident"] * page >= 128 * MiB - 4 * MiB
    assert last["dontneed"]["pages"]["released_resident"] * page <= 1 * MiB
    assert last["dontneed"]["pages"]["released_absent"] * page >= 128 * MiB


def test_replay_shows_the_recorded_map_at_the_play_position(recorded):
    out, lines = recorded
    clock = Clock()
    lab = ReplayLab(str(out), clock=clock)
    lab.start()
    free = [line for line in lines if line["workload"] == "free"]
    first_t = free[0]["t_s"]
    lab.seek_to(max(0.0, first_t - 0.05))
    assert lab.heapmap("free") is None or lab.heapmap("free").t_s < first_t
    lab.seek_to(free[-1]["t_s"] + 0.01)
    shown = lab.heapmap("free")
    assert shown == HeapMap.from_record(free[-1])
    assert shown.pages["released_resident"] == free[-1]["pages"]["released_resident"]
    mid = free[len(free) // 2]
    lab.seek_to(mid["t_s"])
    assert lab.heapmap("free").pages == HeapMap.from_record(mid).pages


def test_replay_of_a_broken_heapmap_jsonl_is_one_line(recorded, tmp_path):
    out, _ = recorded
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("samples.csv", "trace.log", "events.jsonl"):
        (broken / name).write_bytes((out / name).read_bytes())
    (broken / "heapmap.jsonl").write_text('{"t_s": 1.0, "workload": "free"}\nnot json\n')
    with pytest.raises(UsageError) as caught:
        ReplayLab(str(broken))
    assert "heapmap.jsonl:2:" in str(caught.value) and "\n" not in str(caught.value)


def test_h_in_the_replay_dashboard_shows_the_recorded_map(recorded):
    import asyncio

    from tui.core.kernel.system import SystemInfo
    from tui.watch import ReplayApp
    from tui.widgets.heapmap import HeapMapView

    out, lines = recorded
    clock = Clock()
    lab = ReplayLab(str(out), clock=clock)
    info = SystemInfo(kernel_release="6.18.0-lab", page_size=4096, thp_mode="madvise", swap_total_bytes=0,
                      mem_available_bytes=22 << 30)
    free = [line for line in lines if line["workload"] == "free"]

    async def play() -> None:
        app = ReplayApp(lab, info, redraw_interval_s=0.05)
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause()
            await pilot.press("h")
            await pilot.pause()
            lab.seek_to(free[-1]["t_s"] + 0.01)
            app._poll_now()
            await pilot.pause()
            view = app.query_one(HeapMapView)
            assert view.display and view.heap_map == HeapMap.from_record(free[-1])
            text = "\n".join(view.render_line(y).text for y in range(view.size.height))
            resident_mib = free[-1]["pages"]["released_resident"] * 4096 / MiB
            assert f"released, resident (LazyFree) {resident_mib:.1f} MiB" in text
            lab.seek_to(0.0)
            app._poll_now()
            await pilot.pause()
            assert view.heap_map is None and "no heap map yet" in view.render_line(0).text

    asyncio.run(play())
