"""One workload's panel: status line, four one-colour sparklines with values, footprint — drawn as cached strips."""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.containers import Container
from textual.widget import Widget

from tui.core.views import PanelView
from tui.widgets.format import mib
from tui.widgets.palette import FIGURE_RGB, hex_color

SPARK_CHARS = " ▁▂▃▄▅▆▇█"
_SPARK_SET = frozenset(SPARK_CHARS)


def cell_width(text: str) -> int:
    """Terminal cells of `text`: ASCII and sparkline blocks are one a character (rich's cell_len walks each
    non-ASCII character in Python: a third of a panel rebuild); anything else asks rich."""
    return len(text) if text.isascii() or _SPARK_SET.issuperset(text) else cell_len(text)

# (figure key, label a newcomer can read); the order is the order on screen
ROWS: tuple[tuple[str, str], ...] = (
    ("rss", "RSS  resident (kernel)"),
    ("inuse", "in use  live heap"),
    ("released", "released  given back"),
    ("lazyfree", "LazyFree  reclaimable"),
)
LABEL_CELLS = 23
VALUE_CELLS = 11
LINE_COUNT = 2 + len(ROWS)  # status, rows, footprint

_STATE_STYLES = {
    "running": Style(color="#81c784", bold=True),
    "paused": Style(color="#ffd54f", bold=True),
    "starting": Style(dim=True),
    "exited": Style(color="#ef5350", bold=True),
}
_DIM = Style(dim=True)
_BOLD = Style(bold=True)
_ERROR = Style(color="#ef5350")
_LABEL = Style()


_ROW_FIGURE = {"inuse": "heap_inuse_bytes", "released": "heap_released_bytes"}


def spark(values: tuple[float, ...], cells: int, top: float) -> str:
    """The last `cells` values as block characters scaled to `top`; zero is blank, anything above zero shows."""
    values = values[-cells:] if cells > 0 else ()
    out = []
    for value in values:
        if value <= 0 or top <= 0:
            out.append(" ")
        else:
            level = min(8, max(1, int(value / top * 8 + 0.5)))
            out.append(SPARK_CHARS[level])
    return "".join(out).rjust(max(cells, 0))


def status_text(view: PanelView) -> list[tuple[str, Style]]:
    """The first line: pid, state, madvise mode (or, when that is unknown, the detected runtime and allocator)."""
    if view.state == "exited":
        state = f"✖ exited (code {view.exit_code})" if view.exit_code is not None else "✖ exited"
        if view.last_error:  # on the first line: the one line a compact layout always shows
            state += f": {view.last_error}"
    else:
        state = {"running": "● running", "paused": "❚❚ paused", "starting": "… starting"}.get(view.state, view.state)
    pid = f"pid {view.pid}" if view.pid else "pid —"
    parts = [
        (pid, _DIM),
        ("  ", _LABEL),
        (state, _STATE_STYLES.get(view.state, _LABEL)),
    ]
    if view.madvise and view.madvise != "unknown" or not view.runtime:
        parts += [("  madvise ", _DIM), (view.madvise or "—", _BOLD)]
    if view.runtime:
        parts += [("  ", _LABEL), (view.runtime, _BOLD)]
    if view.allocator:
        parts += [("  ", _LABEL), (view.allocator, _DIM)]
    return parts


def footer_text(view: PanelView) -> list[tuple[str, Style]]:
    """The last line: footprint and heap figures (a dead workload's last error is on the first line)."""
    parts: list[tuple[str, Style]] = [
        ("footprint ", _DIM),
        (mib(view.footprint_bytes), _BOLD),
        (" (RSS−LazyFree)", _DIM),
    ]
    if view.idle_bytes is not None:
        parts += [("  idle ", _DIM), (mib(view.idle_bytes), _LABEL)]
    if view.sys_bytes is not None:
        parts += [("  sys ", _DIM), (mib(view.sys_bytes), _LABEL)]
    if view.gc_count is not None and not view.allocator:
        parts += [("  GC ", _DIM), (str(view.gc_count), _LABEL)]
    if view.absent:
        who = view.allocator.split(" ")[0] if view.allocator else "the runtime"
        told = ", ".join(name.replace("heap_", "").replace("_bytes", "") for name in view.absent)
        parts += [(f"  {who} does not tell: {told}", _DIM)]
    if view.last_error and view.state != "exited":
        parts += [("  ⚠ ", _ERROR), (view.last_error, _ERROR)]
    return parts


class WorkloadPanel(Widget, can_focus=True):
    """A workload's figures; `show(view)` repaints only the lines whose text changed."""

    DEFAULT_CSS = """
    WorkloadPanel {
        height: auto;
        border: round $panel-lighten-2;
        border-title-style: bold;
        padding: 0 1;
    }
    WorkloadPanel:focus {
        border: round $accent;
        border-title-color: $accent;
    }
    """

    class Resized(Message):
        """The panel's width changed: the app hands it a view with the right number of sparkline cells."""

        def __init__(self, panel: "WorkloadPanel") -> None:
            super().__init__()
            self.panel = panel

    def __init__(self, workload: str, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.workload = workload
        self.border_title = workload
        self._view: PanelView | None = None
        self._keys: list[object] = [None] * LINE_COUNT
        self._strips: list[Strip | None] = [None] * LINE_COUNT
        self._styles = {key: Style(color=hex_color(rgb)) for key, rgb in FIGURE_RGB.items()}
        self._base: Style | None = None  # rich_style walks the DOM: kept until the styles change
        self._combined: dict[Style, Style] = {}  # base + a segment's style, for that base
        self._frame: _Frame | None = None  # the border and padding around a content line, as Textual drew them

    @property
    def view(self) -> PanelView | None:
        return self._view

    @property
    def spark_cells(self) -> int:
        """How many sparkline cells fit at the current width (the app fetches that many points)."""
        return max(0, self.size.width - LABEL_CELLS - VALUE_CELLS - 2)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return LINE_COUNT

    def show(self, view: PanelView) -> None:
        """Take a new view; repaint the lines that look different."""
        self._view = view
        self._rebuild(view)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        # a theme or focus change: the lines are rebuilt under the new base style, in a frame of the new colours
        self._base, self._combined, self._keys, self._frame = None, {}, [None] * LINE_COUNT, None
        if self._view is not None:
            self.call_later(self.show, self._view)

    def on_resize(self) -> None:
        self._keys = [None] * LINE_COUNT
        if self._view is not None:
            self._rebuild(self._view)
        self.post_message(self.Resized(self))

    def _rebuild(self, view: PanelView) -> None:
        width = self.size.width
        if width <= 0:
            return
        lines = self._line_parts(view)
        if self._base is None:
            self._base, self._combined = self.rich_style, {}
        base = self._base  # the widget's own style (background) under each segment's colour
        combined = self._combined
        changed: list[Region] = []
        for y, parts in enumerate(lines):
            key = (width, tuple(parts))
            if key == self._keys[y]:
                continue
            self._keys[y] = key
            segments = []
            for text, style in parts:
                full = combined.get(style)
                if full is None:
                    full = combined[style] = base + style
                segments.append(Segment(text, full))
            cells = sum(cell_width(text) for text, _ in parts)
            if cells < width:
                segments.append(Segment(" " * (width - cells), base))
                self._strips[y] = Strip(segments, width)
            else:
                self._strips[y] = Strip(segments, cells).crop(0, width)
            changed.append(Region(0, y, width, 1))
        if changed:
            self.refresh(*changed)  # one call: each refresh() also checks the widget's idle state

    def _line_parts(self, view: PanelView) -> list[list[tuple[str, Style]]]:
        cells = self.spark_cells
        history = dict(view.history)
        current = dict(view.current)
        # one scale for all rows of a panel, so "released" and "LazyFree" compare to RSS by eye
        top = max((max(values) for values in history.values() if values), default=0.0)
        lines = [status_text(view)]
        for key, label in ROWS:
            style = self._styles[key]
            label_text = label[:LABEL_CELLS].ljust(LABEL_CELLS)
            row = [(label_text, _LABEL), (" ", _LABEL)]
            if cells > 0:
                row.append((spark(history.get(key, ()), cells, top), style))
            value = current.get(key)
            text = "not told" if value is None and _ROW_FIGURE.get(key) in view.absent else mib(value)
            row.append((text.rjust(VALUE_CELLS), style + _BOLD))
            lines.append(row)
        lines.append(footer_text(view))
        return lines

    def render_lines(self, crop: Region) -> list[Strip]:
        """Textual's rendering, except for a changed content line: that is its strip in the border and padding that
        Textual drew around it last time (a churn changes five lines of every panel five times a second, and
        Textual's styles cache builds each line's border, padding and filters anew: a third of a frame)."""
        width = self.outer_size.width
        x1, x2 = crop.column_span
        frame = self._frame
        if frame is None or frame.width != width:
            whole = super().render_lines(Region(0, crop.y, width, crop.height))  # whole lines, to learn from
            self._frame = _Frame.learn(self, crop.y, whole)
            return whole if (x1, x2) == (0, width) else [strip.crop(x1, x2) for strip in whole]
        top, content_only = frame.top, (x1, x2) == frame.content_span
        strips = []
        for y in crop.line_range:
            content = self._strips[y - top] if 0 <= y - top < LINE_COUNT else None
            if content is None:  # a border line, or a line not drawn yet: Textual's (its cache keeps borders)
                strips.extend(super().render_lines(Region(x1, y, x2 - x1, 1)))
                continue
            for line_filter in frame.filters:
                content = content.apply_filter(line_filter, frame.background)
            if content_only:  # what a changed line repaints: the content alone
                strips.append(content)
            else:
                line = Strip.join((frame.left, content, frame.right))
                strips.append(line if (x1, x2) == (0, width) else line.crop(x1, x2))
        return strips

    def render_line(self, y: int) -> Strip:
        if 0 <= y < LINE_COUNT and self._strips[y] is not None:
            return self._strips[y]  # type: ignore[return-value]
        if y == 0 and self._view is None:
            return Strip([Segment("waiting for the first sample…", self.rich_style + _DIM)]).crop_extend(
                0, self.size.width, self.rich_style)
        return Strip.blank(self.size.width, self.rich_style)


class _Frame:
    """What Textual draws around a panel's content line (border and padding, filtered), learnt from a line it drew.

    Only for what a join of the three parts reproduces: no tint, opacity, text opacity or hatch (each of those
    changes the content's own cells). The filters Textual applies to a whole line (e.g. ANSI colours to true
    colour) work segment by segment, so the content is filtered alone and the borders are kept filtered.
    """

    __slots__ = ("width", "top", "content_span", "left", "right", "filters", "background")

    def __init__(self, width: int, top: int, content_span: tuple[int, int], left: Strip, right: Strip,
                 filters: tuple, background: object) -> None:
        self.width, self.top, self.content_span, self.left, self.right = width, top, content_span, left, right
        self.filters, self.background = filters, background

    @classmethod
    def learn(cls, panel: "WorkloadPanel", first_y: int, whole_lines: list[Strip]) -> "_Frame | None":
        """From whole lines Textual drew, starting at line first_y; None when there is no content line among them
        or the styles change content cells."""
        styles = panel.styles
        if (styles.tint.a or panel.opacity != 1.0 or styles.text_opacity != 1.0
                or (styles.has_rule("hatch") and styles.hatch != "none")):
            return None
        width, gutter = panel.outer_size.width, styles.gutter
        for y, strip in enumerate(whole_lines, first_y):
            if 0 <= y - gutter.top < LINE_COUNT and panel._strips[y - gutter.top] is not None:
                left, right = strip.crop(0, gutter.left), strip.crop(width - gutter.right, width)
                return cls(width, gutter.top, (gutter.left, width - gutter.right), left, right,
                           tuple(panel.get_line_filters()), panel.background_colors[1])
        return None


class PanelGrid(Container):
    """The panels' grid; with many workloads it scrolls, and panels scrolled out of view are not rebuilt (16 churning
    workloads: 7 of 16 hidden, ~2 ms a poll), so a scroll asks for the ones coming into view."""

    class Scrolled(Message):
        """The grid scrolled: panels now in view may show figures older than the last poll's."""

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):  # after the frame: panels' regions are the scrolled ones then
            self.call_after_refresh(self.post_message, self.Scrolled())

    def shows(self, panel: Widget) -> bool:
        """Whether any line of `panel` is inside the grid's window (not before the first layout)."""
        return panel.region.overlaps(self.region)
