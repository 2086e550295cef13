"""The trace pane draws what a RichLog of its lines draws (text, border, ScrollBar), follows, scrolls, stays bounded."""

from __future__ import annotations

import asyncio

from rich.color import ColorSystem
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import RichLog

from tui.core.model import TraceLine
from tui.widgets.trace import TracePane

NAMES = ("free", "dontneed")
KINDS = ("gc", "scav", "lab", "error", "other")
MAX_LINES = 100
HEIGHT = 12  # the widgets' height: 10 content rows


def trace_line(i: int) -> TraceLine:
    body = f"gc {i} @{i / 10:.3f}s " + "x" * (i % 23)
    if i % 17 == 3:
        body = "long " + "y" * 150  # wider than the pane: it can scroll sideways
    if i % 29 == 5:
        body = "tab\tstop"
    return TraceLine(i * 0.1, NAMES[i % 2], body, KINDS[i % 5])


class Reference(RichLog):
    """The pane as it was: a RichLog of the same lines, with Textual's ScrollBar widget."""

    DEFAULT_CSS = """
    Reference {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        scrollbar-size-vertical: 1;
    }
    Reference:focus { border: round $accent; }
    """


class Pair(App):
    AUTO_FOCUS = None  # focus is compared on its own
    CSS = f"""
    Screen {{ layout: vertical; }}
    RichLog {{ height: {HEIGHT}; width: 100; scrollbar-size-horizontal: 0; }}
    """

    def compose(self) -> ComposeResult:
        yield Reference(max_lines=MAX_LINES, wrap=False, markup=False, highlight=False, id="ref")
        yield TracePane(NAMES, max_lines=MAX_LINES, id="pane")


def cells(app: App, widget: Widget) -> list[list[tuple[str, str]]]:
    """What the screen shows in the widget's region: each cell as its character and its terminal codes."""
    strips = app.screen._compositor.render_strips()
    region = widget.region
    rows = []
    for y in range(region.y, region.bottom):
        row = [(char, style.render("x", color_system=ColorSystem.TRUECOLOR) if style else "x")
               for text, style, control in strips[y] if not control for char in text]
        rows.append(row[region.x:region.right])
    return rows


def first_difference(a: list[list[tuple[str, str]]], b: list[list[tuple[str, str]]]) -> str:
    for y, (row_a, row_b) in enumerate(zip(a, b)):
        for x, (cell_a, cell_b) in enumerate(zip(row_a, row_b)):
            if cell_a != cell_b:
                return f"row {y} column {x}: {cell_a!r} != {cell_b!r}\n{text_of(row_a)}\n{text_of(row_b)}"
    return f"sizes {len(a)}x{len(a[0]) if a else 0} != {len(b)}x{len(b[0]) if b else 0}"


def text_of(row: list[tuple[str, str]]) -> str:
    return "".join(char for char, _ in row)


def thumb_rows(app: App, widget: Widget) -> list[int]:
    """Content rows whose scrollbar cell is the thumb (a reversed blank, or one of the eighth-block ends)."""
    column = widget.region.width - 2
    return [y for y, row in enumerate(cells(app, widget)[1:-1])
            if row[column][0] != " " or row[column][1].startswith("\x1b[7;")]


def test_the_pane_draws_what_a_rich_log_of_its_lines_draws():
    asyncio.run(_draws_what_a_rich_log_draws())


async def _draws_what_a_rich_log_draws():
    app = Pair()
    async with app.run_test(size=(120, 30)) as pilot:
        ref, pane = app.query_one("#ref", RichLog), app.query_one(TracePane)
        ref.border_title = pane.border_title
        written = [0]

        def write(n: int) -> None:
            lines = [trace_line(i) for i in range(written[0], written[0] + n)]
            written[0] += n
            for line in lines:
                ref.write(pane.format_line(line))
            pane.write_trace(lines)

        async def same(what: str) -> None:
            for _ in range(3):
                await pilot.pause()
            shown, wanted = cells(app, pane), cells(app, ref)
            assert shown == wanted, f"{what}: {first_difference(shown, wanted)}"

        await pilot.pause()
        await same("empty")
        write(5)
        await same("a few lines, no thumb yet")
        write(60)
        await same("following the tail, thumb at the bottom")
        for widget in (ref, pane):
            widget.scroll_to(y=20, animate=False)
        await same("scrolled back")
        for widget in (ref, pane):
            widget.scroll_to(x=10, animate=False)
        await same("scrolled sideways")
        for widget in (ref, pane):  # (a RichLog follows always, the pane only from the end)
            widget.scroll_to(x=0, y=widget.max_scroll_y, animate=False)
        write(200)
        await same("trimmed to max_lines, following")
        for widget in (ref, pane):
            widget.write(Text("a renderable in red", style="red"))
        await same("a Rich renderable written")

        # focus, hover and grab one at a time: each widget as it looks in that state
        async def alike(what: str, act, undo=None) -> None:
            shown = []
            for widget in (ref, pane):
                await act(widget)
                for _ in range(3):
                    await pilot.pause()
                shown.append(cells(app, widget))
                if undo is not None:
                    await undo(widget)
            assert shown[1] == shown[0], f"{what}: {first_difference(shown[1], shown[0])}"

        async def focus(widget: Widget) -> None:
            widget.focus()
        await alike("focused", focus)
        bar_x = pane.region.width - 2

        async def hover(widget: Widget) -> None:
            app.screen.set_focus(None)
            await pilot.hover(widget, offset=(bar_x, 3))
        await alike("mouse over the scrollbar", hover)
        thumb_y = 1 + thumb_rows(app, pane)[0]

        async def grab(widget: Widget) -> None:
            await pilot.mouse_down(widget, offset=(bar_x, thumb_y))

        async def drop(widget: Widget) -> None:
            await pilot.mouse_up(widget, offset=(bar_x, thumb_y))
        await alike("thumb grabbed (a click there moves no focus)", grab, drop)
        await alike("thumb dropped", drop)


def test_follows_the_tail_until_scrolled_back_then_resumes_at_the_end():
    asyncio.run(_follows_the_tail())


async def _follows_the_tail():
    app = Pair()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(TracePane)
        pane.write_trace([trace_line(i) for i in range(50)])
        await pilot.pause()
        assert pane.scroll_y == pane.max_scroll_y == 50 - (HEIGHT - 2)
        assert thumb_rows(app, pane)[-1] == HEIGHT - 3, "thumb at the bottom"
        pane.focus()
        await pilot.press("up", "up", "pageup")
        await pilot.pause(0.5)
        held = pane.scroll_y
        shown = [row[:-2] for row in cells(app, pane)]  # (but the thumb column)
        assert held < pane.max_scroll_y
        pane.write_trace([trace_line(i) for i in range(50, 60)])
        await pilot.pause()
        assert pane.scroll_y == held and [row[:-2] for row in cells(app, pane)] == shown, "the view held back stays"
        await pilot.press("home")
        await pilot.wait_for_scheduled_animations()
        assert pane.scroll_y == 0 and thumb_rows(app, pane)[0] == 0, "thumb at the top"
        await pilot.press("end")
        await pilot.wait_for_scheduled_animations()
        pane.write_trace([trace_line(i) for i in range(60, 63)])
        await pilot.pause()
        assert pane.scroll_y == pane.max_scroll_y == 63 - (HEIGHT - 2), "follows again"
        assert "gc 62 " in text_of(cells(app, pane)[-2]), "the newest line in the last row"


def test_the_mouse_pages_on_the_track_drags_the_thumb_and_scrolls_with_the_wheel():
    asyncio.run(_the_mouse())


async def _the_mouse():
    from textual import events

    app = Pair()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(TracePane)
        pane.write_trace([trace_line(i) for i in range(90)])
        await pilot.pause()
        end = pane.max_scroll_y
        bar_x = pane.region.width - 2
        await pilot.click(pane, offset=(bar_x, 1))  # the track above the thumb: a page up
        await pilot.wait_for_scheduled_animations()
        assert pane.scroll_y == end - (HEIGHT - 2)
        thumb_y = 1 + thumb_rows(app, pane)[0]
        grabbed_at = pane.scroll_y
        await pilot.mouse_down(pane, offset=(bar_x, thumb_y))
        await pilot.hover(pane, offset=(bar_x, thumb_y - 2))  # drag the thumb two rows up
        await pilot.pause(0.5)
        await pilot.mouse_up(pane, offset=(bar_x, thumb_y - 2))
        await pilot.pause(0.5)
        # as Textual's ScrollBar: a row of the thumb is virtual height / window rows of the log
        assert pane.scroll_y == grabbed_at - 2 * 90 / (HEIGHT - 2), "the drag scrolled back"
        before = pane.scroll_y
        await pilot._post_mouse_events([events.MouseScrollDown], pane, offset=(20, 4))
        await pilot.pause(0.5)
        assert pane.scroll_y > before, "the wheel scrolls"


def test_a_batch_while_following_builds_only_its_own_rows_and_memory_stays_bounded():
    asyncio.run(_builds_only_new_rows())


async def _builds_only_new_rows():
    app = Pair()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(TracePane)
        pane.write_trace([trace_line(i) for i in range(40)])
        await pilot.pause()
        built = []
        original = pane._row_segments

        def spy(index, *args):
            built.append(index)
            return original(index, *args)
        pane._row_segments = spy
        n = 40
        while n < 40 + 3 * MAX_LINES:
            built.clear()
            pane.write_trace([trace_line(i) for i in range(n, n + 3)])
            n += 3
            await pilot.pause()
            assert len(built) == 3, "three new rows, the others are the strips drawn before"
            assert len(pane._drawn) <= 3 * (HEIGHT - 2)
        assert len(pane.lines) == MAX_LINES and pane.lines_written == n
