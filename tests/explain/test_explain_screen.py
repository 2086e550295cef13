"""The `e` key: the explain screen for an attached process and for the lab's own workload, against /proc."""

from __future__ import annotations

import pytest
from app_support import live_app, sync, wait_for
from explain_children import MALLOC_CHILD
from explain_support import MiB, python_child

from kernel_truth import read_smaps, smaps_total
from tui.core.kernel.system import SystemInfo
from tui.core.sources.attach import AttachLab
from tui.watch import WatchApp
from tui.widgets.explain import ExplainScreen
from tui.widgets.panel import WorkloadPanel, status_text

pytestmark = pytest.mark.slow
SYSTEM_INFO = SystemInfo(kernel_release="6.18.0-lab", page_size=4096, thp_mode="madvise",
                         swap_total_bytes=0, mem_available_bytes=22 * 1024 * MiB)
STEADY = """\
sample_interval: 100ms
pressure: {cgroup_root: /proc}
workloads:
  - {name: steady, pattern: steady, size: 32MiB, arena_size: 16MiB, madvise: MADV_FREE}
"""


def _screen_text(screen: ExplainScreen) -> str:
    return str(screen.query_one("#explain-text").render()) + str(screen.query_one("#explain-status").render())


@sync
async def test_e_explains_the_attached_process(spawn):
    child = spawn(python_child(MALLOC_CHILD.format(blocks=1024)))
    child.expect("freed")
    lab = AttachLab([child.pid], names=["svc"], sample_interval_s=0.05)
    app = WatchApp(lab, SYSTEM_INFO, redraw_interval_s=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        panel = app.query_one("#panel-svc", WorkloadPanel)
        await wait_for(pilot, lambda: panel.view is not None, "the panel")
        assert panel.view.runtime.startswith("CPython 3.") and panel.view.runtime.endswith("· glibc")
        status_line = "".join(text for text, _ in status_text(panel.view))
        assert "madvise unknown" not in status_line and "glibc" in status_line
        await wait_for(pilot, lambda: app.focused_workload == "svc", "the focus on the panel")
        assert app.check_action("explain", ()) is True
        assert app.active_bindings["e"].binding.id == "workload.explain"

        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplainScreen) and app.screen.reads == 1, "an explanation")
        screen = app.screen
        explanation = screen.explanation
        truth = read_smaps(child.pid)
        assert explanation.pid == child.pid and explanation.allocator == "glibc"
        assert explanation.rss_bytes == pytest.approx(smaps_total(truth, "Rss"), rel=0.01)
        assert sum(c.rss_bytes for c in explanation.categories) == explanation.rss_bytes
        text = _screen_text(screen)
        assert "verdict: " in text and "heap (brk)" in text and "malloc_trim" in text

        child.send("trim")
        child.expect("trimmed")
        await pilot.press("r")  # read again: on demand only
        await wait_for(pilot, lambda: screen.reads == 2, "a second explanation")
        assert screen.explanation.rss_bytes == pytest.approx(smaps_total(read_smaps(child.pid), "Rss"), rel=0.01)
        assert screen.explanation.rss_bytes < explanation.rss_bytes - 32 * MiB

        child.close()
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.reads == 3, "the read of a gone process")
        assert screen.explanation is None and f"no process with pid {child.pid}" in screen.error
        assert f"no process with pid {child.pid}" in _screen_text(screen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ExplainScreen), "the screen to close")


@sync
async def test_e_explains_the_lab_workload():
    app = live_app(STEADY)
    lab = app.lab
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: lab.series("steady").latest is not None
                       and lab.series("steady").latest.heap is not None
                       and lab.series("steady").latest.heap.heap_inuse_bytes == 32 * MiB, "the steady heap")
        await pilot.press("f", "g", "s")  # free, collect, return with MADV_FREE
        await wait_for(pilot, lambda: lab.series("steady").latest.kernel.lazyfree_bytes >= 24 * MiB, "LazyFree")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplainScreen) and app.screen.reads == 1, "an explanation")
        explanation = app.screen.explanation
        pid = lab.status("steady").pid
        truth = read_smaps(pid)
        assert explanation.pid == pid
        assert explanation.lazyfree_bytes == pytest.approx(smaps_total(truth, "LazyFree"), rel=0.01)
        assert "LazyFree" in explanation.verdict and "MADV_FREE" in explanation.verdict
        await pilot.press("escape")
