"""The trace pane: every workload's GC, scavenger and lab lines, prefixed and coloured, bounded, cheap to repaint."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from math import ceil

from rich.cells import cell_len
from rich.color import Color as RichColor
from rich.control import strip_control_codes
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual._border import get_box
from textual.geometry import Region, Size
from textual.scrollbar import ScrollBarRender
from textual.strip import Strip
from textual.style import Style as TextualStyle
from textual.widget import Widget
from textual.widgets import RichLog

from tui.core.model import TraceLine
from tui.widgets.palette import TRACE_KIND_STYLES, workload_color

TAB_SIZE = 8  # Rich's default, as RichLog expanded tabs
BAR_WIDTH = 1  # the scroll thumb's column, drawn in the rows (see TracePane.render_lines)


class TraceRow:
    """One kept line: its segments and width; a Strip is built only when the line is on screen.

    RichLog keeps a Strip per line (with two caches and an unused padded copy): ~5 KiB a line, 10 MiB for
    2,000 lines. A row is a few hundred bytes.
    """

    __slots__ = ("segments", "cell_length")

    def __init__(self, segments: tuple[Segment, ...]) -> None:
        self.segments = segments
        self.cell_length = sum(cell_len(segment.text) for segment in segments)

    @property
    def text(self) -> str:
        return "".join(segment.text for segment in self.segments)

    def strip(self) -> Strip:
        return Strip(self.segments, self.cell_length)


class TracePane(RichLog):
    """A bounded log of trace rows; follows new lines only while the user has not scrolled back.

    Writing appends rows and repaints the pane without a layout pass: RichLog.write sets `virtual_size`, a
    reactive with layout=True, so every batch re-arranged the whole screen.

    Drawing bypasses Textual's per-line path: each visible row's finished strip (border, text, thumb cell) is
    kept by the row's absolute number, so a scroll by a batch builds only the new rows and hands the
    compositor the same Strip objects as before (whose terminal sequences are cached in the strip). The
    scroll thumb is drawn in the rows' last column, the way Textual's ScrollBar draws it, instead of a
    ScrollBar widget that re-rendered through Rich on every write.
    """

    DEFAULT_CSS = """
    TracePane {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        /* no ScrollBar widget: the pane draws its thumb in the last column of its rows */
        scrollbar-size-vertical: 0;
    }
    TracePane:focus { border: round $accent; }
    """

    def __init__(self, names: Sequence[str], *, max_lines: int, id: str | None = None) -> None:  # noqa: A002
        super().__init__(max_lines=max_lines, wrap=False, markup=False, highlight=False, id=id)
        self.border_title = "trace  (GC · scavenger · lab)"
        self._prefix_width = max((len(name) for name in names), default=4)
        self._colors = {name: workload_color(i) for i, name in enumerate(names)}
        self._style_cache: dict[str, Style] = {}
        self.lines: list[TraceRow] = []  # type: ignore[assignment] - rows, not strips (see TraceRow)
        self.lines_written = 0
        # drawing: what the cached strips were drawn for; absolute row -> (thumb cell, finished strip)
        self._drawn_for: tuple[object, ...] = ()
        self._drawn: dict[int, tuple[Segment, Strip, list[Segment]]] = {}
        self._blank_rows: dict[Segment, tuple[Segment, Strip, list[Segment]]] = {}
        self._border_rows: dict[int, tuple[tuple[object, ...], Strip]] = {}
        self._edges: tuple[object, Segment | None, Segment | None] = ((), None, None)
        self._bar_key: tuple[object, ...] = ()
        self._bar: list[Segment] = []
        self._bar_pool: dict[tuple[Segment, Style], Segment] = {}
        self._bar_actions: list[str | None] = []  # per content row: what a click on its thumb cell does
        self._bar_hover = False
        self._bar_grab: tuple[int, float] | None = None  # (screen y, scroll_y) where the thumb was grabbed

    def _style(self, definition: str) -> Style:
        style = self._style_cache.get(definition)
        if style is None:
            style = self._style_cache[definition] = Style.parse(definition) if definition else Style.null()
        return style

    def _color(self, workload: str) -> str:
        color = self._colors.get(workload)
        if color is None:
            color = self._colors[workload] = workload_color(len(self._colors))
        return color

    def format_line(self, line: TraceLine) -> Text:
        text = Text()
        text.append(f"{line.t_s:7.1f} ", style="dim")
        text.append(f"{line.workload:<{self._prefix_width}} ", style=f"bold {self._color(line.workload)}")
        text.append(line.line, style=TRACE_KIND_STYLES.get(line.kind, ""))
        return text

    def rows_of(self, line: TraceLine) -> list[TraceRow]:
        """The rows `format_line` renders to (several when the line holds newlines), as plain segments."""
        time_text = f"{line.t_s:7.1f} "
        prefix = f"{line.workload:<{self._prefix_width}} "
        body = strip_control_codes(line.line)
        if "\t" in body:
            body = (time_text + prefix + body).expandtabs(TAB_SIZE)[len(time_text) + len(prefix):]
        kind_style = self._style(TRACE_KIND_STYLES.get(line.kind, ""))
        parts = body.split("\n")
        first = [Segment(time_text, self._style("dim")),
                 Segment(prefix, self._style(f"bold {self._color(line.workload)}"))]
        if parts[0]:
            first.append(Segment(parts[0], kind_style))
        rows = [TraceRow(tuple(first))]
        rows += [TraceRow((Segment(part, kind_style),) if part else ()) for part in parts[1:]]
        return rows

    # ── writing ──────────────────────────────────────────────────────────────
    def write_trace(self, lines: Iterable[TraceLine]) -> None:
        """Append a batch: rows in, one repaint of the rows (or of the thumb alone), no layout pass."""
        rows = [row for line in lines for row in self.rows_of(line)]
        if not rows:
            return
        follow = self.is_vertical_scroll_end or self.max_scroll_y == 0
        self.lines.extend(rows)
        trimmed = 0
        if self.max_lines is not None and len(self.lines) > self.max_lines:
            trimmed = len(self.lines) - self.max_lines
            self._start_line += trimmed
            del self.lines[:trimmed]
        self._widest_line_width = max(self._widest_line_width, max(row.cell_length for row in rows))
        self.lines_written += len(rows)
        self._set_virtual_size(Size(self._widest_line_width + BAR_WIDTH, len(self.lines)))
        scroll_y = self.scroll_offset.y
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)  # in this frame, not one more
        if not self.is_mounted or self.scroll_offset.y != scroll_y:
            return  # (a scroll repaints the rows: watch_scroll_y)
        if follow or trimmed:
            self.refresh(self.size.region)  # new rows in view, or rows trimmed under a view held back
        else:
            self._refresh_bar()  # new rows below a view held back: only the thumb changes

    def _set_virtual_size(self, size: Size) -> None:
        widened = size.width != self.virtual_size.width
        self.set_reactive(Widget.virtual_size, size)
        if widened and self.is_mounted and self._size_known:
            # a line wider than the pane makes it scroll sideways (left/right): Textual decides that here
            self._refresh_scrollbars()

    def write(self, content: object, *args: object, **kwargs: object) -> "TracePane":
        """Anything else written (a string, a Rich renderable) goes through RichLog, then becomes rows."""
        super().write(content, *args, **kwargs)
        # the new strips are at the end (RichLog may have trimmed the head, so not where the list ended)
        index = len(self.lines) - 1
        while index >= 0 and isinstance(self.lines[index], Strip):
            self.lines[index] = TraceRow(tuple(self.lines[index]))
            index -= 1
        if self._size_known:  # (before that RichLog holds the write back)
            self._set_virtual_size(Size(self._widest_line_width + BAR_WIDTH, len(self.lines)))
        return self

    def clear(self) -> "TracePane":
        self._forget_drawn()
        super().clear()
        return self

    def _forget_drawn(self) -> None:
        self._drawn_for = ()
        self._drawn.clear()
        self._blank_rows.clear()

    # ── scrolling: the rows repaint, no ScrollBar widget to keep in step (ScrollView's watchers make one) ──
    def watch_scroll_x(self, old_value: float, new_value: float) -> None:
        if round(old_value) != round(new_value):
            self.refresh(self.size.region)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        if round(old_value) != round(new_value):
            self.refresh(self.size.region)
        else:
            self._refresh_bar()  # (an animated scroll) the thumb moves by eighths of a cell

    # ── drawing ──────────────────────────────────────────────────────────────
    def _text_width(self) -> int:
        return max(0, self.size.width - BAR_WIDTH)

    def _row_segments(self, index: int, scroll_x: int, width: int, style: Style) -> list[Segment]:
        """Row `index` of `lines` as the pane shows it: styled, cut to the view, padded to `width` cells."""
        if width <= 0:
            return []
        if index >= len(self.lines):
            return [Segment(" " * width, style)]
        row = self.lines[index]
        if scroll_x or row.cell_length > width:  # cut: Textual's Strip does it (rarely: lines are short)
            return list(row.strip().crop_extend(scroll_x, scroll_x + width, style).apply_style(style))
        # what Strip.crop_extend and apply_style make of it, without four intermediate Strips
        add = style.__add__
        segments = [Segment(text, None if control else add(segment_style), control)
                    for text, segment_style, control in row.segments]
        if row.cell_length < width:
            segments.append(Segment(" " * (width - row.cell_length), style))
        return segments

    def render_line(self, y: int) -> Strip:
        """Content row y and its thumb cell, the way RichLog built it (Textual's path, when `_fast_path` says no)."""
        scroll_x, scroll_y = self.scroll_offset
        style = self.rich_style
        width = self._text_width()
        index = scroll_y + y
        if index < len(self.lines):
            strip = self.lines[index].strip().crop_extend(scroll_x, scroll_x + width, style).apply_style(style)
        else:
            strip = Strip.blank(width, style)
        bar = self._bar_cells(style)
        if 0 <= y < len(bar):
            strip = Strip([*strip, bar[y]], width + BAR_WIDTH)
        return strip

    def _fast_path(self) -> bool:
        """Only a border around plain rows is drawn here; padding, tint, opacity, hatch, outline go to Textual."""
        styles = self.styles
        return (not styles.padding and not styles.tint.a and self.opacity == 1.0 and styles.text_opacity == 1.0
                and not (styles.has_rule("hatch") and styles.hatch != "none")
                and not any(edge for edge, _ in styles.outline))

    def _border_edges(self, base_background, background) -> tuple[Segment | None, Segment | None]:
        """The left and right border cells of a content row, as Textual's StylesCache draws them."""
        styles = self.styles
        border = styles.border
        key = (base_background, background, border)
        if self._edges[0] != key:
            (_, _), (right_type, right_color), (_, _), (left_type, left_color) = border
            # as StylesCache.get_inner_outer: the widget's background over its parent's, and the parent's
            inner = TextualStyle(background=base_background + background)
            outer = TextualStyle(background=base_background)
            left = right = None
            if left_type:
                left = get_box(left_type, inner, outer, TextualStyle(foreground=base_background + left_color))[1][0]
            if right_type:
                right = get_box(right_type, inner, outer,
                                TextualStyle(foreground=base_background + right_color))[1][2]
            self._edges = (key, left, right)
        return self._edges[1], self._edges[2]

    def _bar_cells(self, style: Style) -> list[Segment]:
        """One thumb-column cell per content row, drawn as Textual's vertical ScrollBar draws itself."""
        styles = self.styles
        height = self.size.height
        if self._bar_grab is not None:
            back, color = styles.scrollbar_background_active, styles.scrollbar_color_active
        elif self._bar_hover:
            back, color = styles.scrollbar_background_hover, styles.scrollbar_color_hover
        else:
            back, color = styles.scrollbar_background, styles.scrollbar_color
        virtual_height = self.virtual_size.height
        no_thumb = self.screen.styles.scrollbar_color.a == 0
        # ScrollBar.position: to an eighth of a cell
        key = (height, virtual_height, int(self.scroll_y * 8) / 8, back, color, style, no_thumb,
               self.background_colors[0] if back.a < 1 else None)
        if key == self._bar_key:
            return self._bar
        if back.a < 1:
            back = self.background_colors[0] + back
        color = back + color
        window = height if height < virtual_height else 0
        cells = list(ScrollBarRender.render_bar(
            size=height, virtual_size=0 if no_thumb else ceil(virtual_height), window_size=ceil(window),
            position=key[2], thickness=BAR_WIDTH, vertical=True,
            back_color=_color_or(back.rich_color, "#555555"),
            bar_color=_color_or(color.rich_color, "bright_magenta")).segments)
        # ScrollBar's mouse actions per cell ("scroll_up", "grab", "scroll_down" or none), for on_mouse_down: the
        # cells drawn carry no meta, which would send those actions to the pane itself
        actions: dict[Segment, str | None] = {}
        for cell in cells:
            if cell not in actions:
                actions[cell] = cell.style.meta.get("@mouse.down") if cell.style else None
        self._bar_actions = [actions[cell] for cell in cells]
        # the same few cells every time: the same Segment objects, so rows drawn with one are reused (see _drawn)
        pool = self._bar_pool
        if len(pool) > 64:
            pool.clear()
        self._bar = [pool.get((cell, style))
                     or pool.setdefault((cell, style), Segment(cell.text, style + cell.style.clear_meta_and_links()))
                     for cell in cells]
        self._bar_key = key
        return self._bar

    def _refresh_bar(self) -> None:
        if self.is_mounted:
            self.refresh(Region(self._text_width(), 0, BAR_WIDTH, self.size.height))

    def render_lines(self, crop: Region) -> list[Strip]:
        """The pane's lines: border rows from Textual's StylesCache, content rows from strips kept per row."""
        if not self._fast_path():
            return super().render_lines(crop)
        width, height = self.region.size
        top, _, bottom, _ = self.styles.gutter
        base_background, background = self.background_colors
        style = self.rich_style
        left, right = self._border_edges(base_background, background)
        scroll_x, scroll_y = self.scroll_offset
        text_width = self._text_width()
        drawn_for = (width, text_width, scroll_x, style, left, right)
        if drawn_for != self._drawn_for:
            self._forget_drawn()
            self._drawn_for = drawn_for
        bar = self._bar_cells(style)
        row_width = text_width + BAR_WIDTH + (left is not None) + (right is not None)
        filters = self.app.get_line_filters()
        drawn, blank_rows, start_line = self._drawn, self._blank_rows, self._start_line
        strips: list[Strip] = []
        for y in crop.line_range:
            row = y - top
            if y < top or y >= height - bottom or row >= len(bar):
                strips.append(self._border_row(y, width, base_background, background, filters))
                continue
            index = scroll_y + row
            cell = bar[row]
            cached = drawn.get(start_line + index) if index < len(self.lines) else blank_rows.get(cell)
            if cached is None:
                segments = self._row_segments(index, scroll_x, text_width, style)
                strip = self._finish(segments, cell, left, right, row_width)
                if index < len(self.lines):
                    drawn[start_line + index] = (cell, strip, segments)
                else:
                    blank_rows[cell] = (cell, strip, segments)
            elif cached[0] is not cell:  # the same row with another thumb cell
                strip = self._finish(cached[2], cell, left, right, row_width)
                drawn[start_line + index] = (cell, strip, cached[2])
            else:
                strip = cached[1]
            for line_filter in filters:
                strip = strip.apply_filter(line_filter, background)
            strips.append(strip)
        if len(drawn) > 3 * max(1, len(bar)):  # keep the rows in view, forget those scrolled away
            shown = range(start_line + scroll_y, start_line + scroll_y + len(bar))
            self._drawn = {index: drawn[index] for index in shown if index in drawn}
        if len(blank_rows) > 8:
            blank_rows.clear()
        if crop.column_span != (0, width):
            x1, x2 = crop.column_span
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips

    def _border_row(self, y: int, width: int, base_background, background, filters) -> Strip:
        """A row of the border (with the title), drawn by Textual's StylesCache once for what it shows."""
        styles = self.styles
        key = (y, width, base_background, background, styles.border, self.opacity, tuple(filters),
               self.border_title, styles.auto_border_title_color, styles.border_title_color,
               styles.border_title_background, styles.border_title_style, styles.border_title_align,
               self.border_subtitle, styles.auto_border_subtitle_color, styles.border_subtitle_color,
               styles.border_subtitle_background, styles.border_subtitle_style, styles.border_subtitle_align)
        cached = self._border_rows.get(y)
        if cached is None or cached[0] != key:
            cached = self._border_rows[y] = (key, super().render_lines(Region(0, y, width, 1))[0])
        return cached[1]

    @staticmethod
    def _finish(text: list[Segment], cell: Segment, left: Segment | None, right: Segment | None,
                width: int) -> Strip:
        segments = [*text, cell]
        if left is not None:
            segments.insert(0, left)
        if right is not None:
            segments.append(right)
        return Strip(segments, width)

    # ── the thumb and the mouse (what ScrollBar did: page on the track, drag the thumb, hover colours) ──
    def _bar_row(self, event: events.MouseEvent) -> int | None:
        offset = event.get_content_offset(self)
        if offset is None or not self._text_width() <= offset.x < self._text_width() + BAR_WIDTH:
            return None
        return offset.y

    def focus_on_click(self) -> bool:
        """Not from the thumb column: Textual's ScrollBar, a system widget, took clicks without moving focus."""
        x, y = self.app.mouse_position
        content = self.content_region
        bar_x = content.x + self._text_width()
        on_bar = bar_x <= x < bar_x + BAR_WIDTH and content.y <= y < content.bottom
        return super().focus_on_click() and not on_bar

    def _set_bar_hover(self, hover: bool) -> None:
        if hover != self._bar_hover:
            self._bar_hover = hover
            self._refresh_bar()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._bar_grab is not None:
            grab_y, grab_scroll_y = self._bar_grab
            window = self.size.height
            if window:
                y = grab_scroll_y + (event.screen_y - grab_y) * (self.virtual_size.height / window)
                self.scroll_to(y=y, animate=not self.app.supports_smooth_scrolling, duration=0.1)
            event.stop()
            return
        self._set_bar_hover(self._bar_row(event) is not None)

    def on_leave(self, event: events.Leave) -> None:
        if self._bar_grab is None:
            self._set_bar_hover(False)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        row = self._bar_row(event)
        if row is None or not 0 <= row < len(self._bar_actions):
            return
        event.stop()
        self._set_bar_hover(True)
        action = self._bar_actions[row]
        if action == "grab":
            self.capture_mouse()
            self._bar_grab = (event.screen_y, int(self.scroll_y * 8) / 8)  # ScrollBar.position's eighths
            self._refresh_bar()
        elif action == "scroll_up" and self.allow_vertical_scroll:
            self.scroll_page_up()
        elif action == "scroll_down" and self.allow_vertical_scroll:
            self.scroll_page_down()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._bar_grab is not None:
            self.release_mouse()
            event.stop()

    def on_mouse_release(self, event: events.MouseRelease) -> None:
        if self._bar_grab is not None:
            self._bar_grab = None
            self._refresh_bar()


def _color_or(color: RichColor | None, default: str) -> RichColor:
    return color if color is not None else RichColor.parse(default)
