"""The trace pane: every workload's GC, scavenger and lab lines, prefixed and coloured, bounded, batched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.widgets import RichLog

from tui.core.model import TraceLine
from tui.widgets.palette import TRACE_KIND_STYLES, workload_color


class TracePane(RichLog):
    """A bounded RichLog; follows new lines only while the user has not scrolled back."""

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
        self.lines_written = 0

    def format_line(self, line: TraceLine) -> Text:
        color = self._colors.get(line.workload)
        if color is None:
            color = self._colors[line.workload] = workload_color(len(self._colors))
        text = Text()
        text.append(f"{line.t_s:7.1f} ", style="dim")
        text.append(f"{line.workload:<{self._prefix_width}} ", style=f"bold {color}")
        text.append(line.line, style=TRACE_KIND_STYLES.get(line.kind, ""))
        return text

    def write_trace(self, lines: Iterable[TraceLine]) -> None:
        """Append a batch as one write (one measure and render pass)."""
        texts = [self.format_line(line) for line in lines]
        if not texts:
            return
        follow = self.is_vertical_scroll_end or self.max_scroll_y == 0
        batch = Text("\n").join(texts)
        self.write(batch, scroll_end=follow)
        self.lines_written += len(texts)
        # once max_lines is reached the visible lines can go stale without a full refresh (see PERF.md)
        if self.max_lines is not None and len(self.lines) >= self.max_lines:
            self.refresh()
