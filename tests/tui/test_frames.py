"""Lean frames paint what Textual's would: every partial update of a live dashboard cell for cell, and the terminal
(every update sent, applied in turn) shows what a full render of the screen shows."""

from __future__ import annotations

from textual._compositor import ChopsUpdate, Compositor, LayoutUpdate
from textual.geometry import Region

from churn_support import drive_churn, strip_cells
from tui.frames import DirectUpdate, LeanCompositor, LeanScreen


def line_cells(chops_line: dict, x1: int, x2: int) -> list[tuple[str, str]]:
    """Cells x1..x2 of one line of chops (cut → strip starting at that cut), as (character, style)."""
    cells: dict[int, tuple[str, str]] = {}
    for cut, strip in chops_line.items():
        if strip is not None:
            cells.update(strip_cells((strip,), cut))
    return [cells.get(x, ("", "")) for x in range(x1, x2)]


class Checker:
    """Wraps LeanCompositor.render_partial_update: each frame's lean chops against Textual's for the same changes."""

    def __init__(self) -> None:
        self.frames = self.lines = self.direct_frames = 0
        self.mismatches: list[str] = []
        self.widgets_rendered = {"lean": 0, "textual": 0}

    def install(self, monkeypatch) -> None:
        original = LeanCompositor.render_partial_update
        checker = self

        def checked(compositor: LeanCompositor):  # type: ignore[no-untyped-def]
            regions = list(compositor._dirty_regions)
            if regions:
                checker.compare(compositor, regions)
            return original(compositor)

        monkeypatch.setattr(LeanCompositor, "render_partial_update", checked)

    def compare(self, compositor: LeanCompositor, regions: list[Region]) -> None:
        crop = Region.from_union(regions).intersection(compositor.size.region)
        spans = list(compositor._regions_to_spans(regions))
        rendered = {y for y, _, _ in spans}.__contains__
        compositor._frame_regions = regions
        self.widgets_rendered["lean"] += sum(1 for _ in compositor._get_renders(crop))
        lean = compositor._render_chops(crop, rendered)
        compositor._frame_regions = None  # Textual's own path (LeanCompositor defers to it without changed regions)
        self.widgets_rendered["textual"] += sum(1 for _ in Compositor._get_renders(compositor, crop))
        textual = compositor._render_chops(crop, rendered)
        self.frames += 1
        for y, x1, x2 in spans:
            self.lines += 1
            if line_cells(lean[y], x1, x2) != line_cells(textual[y], x1, x2):
                self.mismatches.append(f"line {y} cells {x1}-{x2}")
        direct = compositor.direct_update(regions)  # the frame as it is painted when each region has one widget
        if direct is not None:
            self.direct_frames += 1
            for update in direct.updates:
                x1, x2 = update.region.x, update.region.right
                for y, line in enumerate(update.strips, update.region.y):
                    cells = [cell for _, cell in strip_cells(line, x1)]
                    if cells != line_cells(textual[y], x1, x2):
                        self.mismatches.append(f"direct: line {y} cells {x1}-{x2}")


def test_lean_frames_match_textual_cell_for_cell(monkeypatch):
    checker = Checker()
    checker.install(monkeypatch)

    # real workloads churning (panels, header, trace, chart change); then tab moves the focus (borders, chart title),
    # h shows the heap map in the chart's place, a resize, space pauses the view (the header says so)
    drive_churn(lambda: checker.frames >= 15,
                ["tab", 1.0, "h", 1.5, "h", (120, 40), 1.5, "space", 0.5, "space", 1.0])
    assert checker.frames >= 30, checker.frames
    assert checker.direct_frames >= 20, checker.direct_frames  # most frames are a region or two of one widget each
    assert not checker.mismatches, checker.mismatches[:10]
    # and it is leaner: Textual rendered more widgets for the same frames
    assert checker.widgets_rendered["lean"] < checker.widgets_rendered["textual"], checker.widgets_rendered


class Terminal:
    """The cells a terminal would show, from the updates the app sends it (full layouts and partial chops)."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[int, tuple[str, str]]] = {}

    def apply(self, update: object) -> None:
        if isinstance(update, DirectUpdate):
            for part in update.updates:
                self.apply(part)
        elif isinstance(update, LayoutUpdate):
            for y, line in enumerate(update.strips, update.region.y):
                self.rows.setdefault(y, {}).update(strip_cells(line, update.region.x))
        elif isinstance(update, ChopsUpdate):
            for y, x1, x2 in update.spans:
                row = self.rows.setdefault(y, {})
                for x, cell in enumerate(line_cells(update.chops[y], x1, x2), x1):
                    row[x] = cell

    def lines(self, width: int, height: int) -> list[list[tuple[str, str]]]:
        return [[self.rows.get(y, {}).get(x, ("", "")) for x in range(width)] for y in range(height)]


def settled(app) -> bool:
    """Nothing refreshed but not yet painted: the terminal should show exactly the screen's state."""
    screen = app.screen
    # and no Update message on its way to the screen, nor a frame of Textual's own due
    return (isinstance(screen, LeanScreen) and not app._batch_count and not screen._layout_required
            and screen._message_queue.empty() and not screen._update_timer._active.is_set()
            and not screen._dirty_widgets and not screen._compositor._dirty_regions
            and not any(widget._repaint_required for widget in screen.walk_children()))


def test_the_terminal_shows_the_screen_after_each_poll(monkeypatch):
    """Frames painted in the poll's wake-up (paint_now) and Textual's own both reach the terminal, nothing lost."""
    terminal = Terminal()
    checks: list[bool] = []
    from tui.app import MadviseLabApp

    def display(app, screen, update) -> None:  # what App._display would write, kept as cells
        if update is not None and not app._batch_count:
            terminal.apply(update)

    original_poll = MadviseLabApp._poll_now

    def poll_and_check(app) -> None:
        original_poll(app)
        if not app._stopped and settled(app):
            width, height = app.screen.size
            expected = [[cell for _, cell in strip_cells((strip,), 0)] for strip in app.screen._compositor.render_strips()]
            checks.append(terminal.lines(width, height) == [row[:width] for row in expected])

    monkeypatch.setattr(MadviseLabApp, "_display", display)
    monkeypatch.setattr(MadviseLabApp, "_poll_now", poll_and_check)

    drive_churn(lambda: len(checks) >= 15, ["tab", 1.0, "h", 1.0, "h", 1.0])
    assert len(checks) >= 20, len(checks)
    assert all(checks), f"{checks.count(False)} of {len(checks)} polls left the terminal unlike the screen"
