"""The trace pane: every workload's GC, scavenger and lab lines, prefixed and coloured, bounded, batched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.cells import cell_len
from rich.control import strip_control_codes
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import RichLog

from tui.core.model import TraceLine
from tui.widgets.palette import TRACE_KIND_STYLES, workload_color

TAB_SIZE = 8  # Rich's default, as RichLog expanded tabs


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
    """

    DEFAULT_CSS = """
    TracePane {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        scrollbar-size-vertical: 1;
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

    def write_trace(self, lines: Iterable[TraceLine]) -> None:
        """Append a batch: rows in, one repaint, no layout pass unless a scrollbar appears or goes."""
        rows = [row for line in lines for row in self.rows_of(line)]
        if not rows:
            return
        follow = self.is_vertical_scroll_end or self.max_scroll_y == 0
        self.lines.extend(rows)
        if self.max_lines is not None and len(self.lines) > self.max_lines:
            self._start_line += len(self.lines) - self.max_lines
            del self.lines[:len(self.lines) - self.max_lines]
        self._widest_line_width = max(self._widest_line_width, max(row.cell_length for row in rows))
        self.lines_written += len(rows)
        self._set_virtual_size(Size(self._widest_line_width, len(self.lines)))
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)  # in this frame, not one more

    def _set_virtual_size(self, size: Size) -> None:
        if not self.is_mounted or not self._size_known:
            self.set_reactive(Widget.virtual_size, size)
            return
        scrollbars = (self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        self.set_reactive(Widget.virtual_size, size)
        self._scroll_update(size)
        # a scrollbar that appears or goes changes the content region: only then is a layout pass needed
        self.refresh(layout=(self.show_vertical_scrollbar, self.show_horizontal_scrollbar) != scrollbars)

    def write(self, content: object, *args: object, **kwargs: object) -> "TracePane":
        """Anything else written (a string, a Rich renderable) goes through RichLog, then becomes rows."""
        strips_before = len(self.lines)
        super().write(content, *args, **kwargs)
        for index in range(strips_before, len(self.lines)):
            line = self.lines[index]
            if isinstance(line, Strip):
                self.lines[index] = TraceRow(tuple(line))
        return self

    def _render_line(self, y: int, scroll_x: int, width: int) -> Strip:
        if y >= len(self.lines):
            return Strip.blank(width, self.rich_style)
        key = (y + self._start_line, scroll_x, width, self._widest_line_width)
        cached = self._line_cache.get(key)
        if cached is not None:
            return cached
        line = self.lines[y].strip().crop_extend(scroll_x, scroll_x + width, self.rich_style)
        self._line_cache[key] = line
        return line
