"""SVG snapshots of the dashboard with fixed data and a frozen clock (a fake lab; no processes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tui_fakes import SYSTEM_INFO, FakeLab
from tui.app import MadviseLabApp


def make_app(lab: FakeLab | None = None) -> MadviseLabApp:
    return MadviseLabApp(lab or FakeLab(), SYSTEM_INFO, clock=lambda: 100.0,
                         mem_available=lambda: SYSTEM_INFO.mem_available_bytes)


async def settle(pilot) -> None:
    for _ in range(4):
        await pilot.pause()


def test_dashboard_after_release(snap_compare):
    """The story at 40 s: FREE keeps RSS as LazyFree, DONTNEED's RSS is gone; chart of the focused FREE workload."""
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=settle)


def test_compact_layout_with_exited_workload(snap_compare):
    """60×20: no chart, panels stacked; a dead workload shows its exit code and last error."""
    lab = FakeLab()
    lab.set_status("dontneed", state="exited", exit_code=1, last_error="MemoryError: mmap failed (ENOMEM)")
    lab.push(lab.poll().__class__(statuses=tuple(lab.status(name) for name in lab.names)))
    app = make_app(lab)
    assert snap_compare(app, terminal_size=(60, 20), run_before=settle)
    # what the docstring promises, in the picture itself (the snapshot alone would accept any picture once saved)
    svg = next((Path(__file__).parent / "__snapshots__").glob("*/test_compact_layout_with_exited_workload.svg"))
    assert "exited&#160;(code&#160;1):&#160;MemoryError" in svg.read_text()


def test_mode_picker(snap_compare):
    """`M` opens the picker; COLD and PAGEOUT say that without swap RSS won't change."""
    async def open_picker(pilot) -> None:
        await settle(pilot)
        await pilot.press("M")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=open_picker)


SIXTEEN = tuple(f"{'free' if i % 2 == 0 else 'dontneed'}{i // 2}" for i in range(16))


def test_sixteen_workloads(snap_compare):
    """16 panels: three a row in half the screen, scrolling; the chart and the trace keep their room."""
    assert snap_compare(make_app(FakeLab(names=SIXTEEN)), terminal_size=(160, 48), run_before=settle)


def test_sixteen_workloads_keep_the_chart_and_the_trace_visible():
    asyncio.run(_sixteen_workloads_keep_the_chart_and_the_trace_visible())


async def _sixteen_workloads_keep_the_chart_and_the_trace_visible():
    from tui.widgets.chart import MemoryChart
    from tui.widgets.trace import TracePane

    app = make_app(FakeLab(names=SIXTEEN))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        panels = app.query_one("#panels")
        assert panels.has_class("-many")
        assert panels.size.height <= 24 and panels.virtual_size.height > panels.size.height, "the grid scrolls"
        assert app.query_one(MemoryChart).size.height >= 8 and app.query_one(TracePane).size.height >= 5
        last = app.query_one(f"#panel-{SIXTEEN[-1]}")
        last.focus()
        await settle(pilot)
        assert panels.scroll_offset.y > 0, "focusing the last panel scrolls it into view"


def test_panels_scrolled_out_of_view_are_built_when_they_scroll_in():
    asyncio.run(_panels_scrolled_out_of_view_are_built_when_they_scroll_in())


async def _panels_scrolled_out_of_view_are_built_when_they_scroll_in():
    app = make_app(FakeLab(names=SIXTEEN))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        panels = [app.query_one(f"#panel-{name}") for name in SIXTEEN]
        grid = app.query_one("#panels")
        hidden = [panel for panel in panels if not panel.region.overlaps(grid.region)]
        assert hidden and len(hidden) < len(panels), "some panels are below the grid's window"
        assert all(panel.view is None for panel in hidden), "a hidden panel was built"
        assert all(panel.view is not None for panel in panels if panel not in hidden)
        grid.scroll_end(animate=False)
        await settle(pilot)
        assert panels[-1].region.overlaps(grid.region)
        assert panels[-1].view is not None and panels[-1].view.name == SIXTEEN[-1], "scrolled in, not built"


def test_a_theme_change_restyles_the_panels():
    """Panels and the header keep their lines as strips: a new theme must rebuild them under its background."""
    asyncio.run(_a_theme_change_restyles_the_panels())


async def _a_theme_change_restyles_the_panels():
    from tui.widgets.header import LabHeader
    from tui.widgets.panel import WorkloadPanel
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        panel = app.query_one("#panel-dontneed", WorkloadPanel)  # not focused: its border stays the same
        before = panel.rich_style.bgcolor
        header = app.query_one(LabHeader)  # a cached strip too
        assert {segment.style.bgcolor for segment in header.render_line(0)} == {header.rich_style.bgcolor}
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await settle(pilot)
        after = panel.rich_style.bgcolor
        assert after != before
        backgrounds = {segment.style.bgcolor for y in range(1, 5) for segment in panel.render_line(y)}
        assert backgrounds == {after}, (backgrounds, after)
        assert {segment.style.bgcolor for segment in header.render_line(0)} == {header.rich_style.bgcolor}
