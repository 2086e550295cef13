"""The header line: machine facts (kernel, THP, swap, MemAvailable), elapsed time, view state, upcoming steps."""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from tui.core.kernel.system import SystemInfo
from tui.core.timeline import TimelineStep, describe_step
from tui.widgets.format import human_bytes


def header_text(
    info: SystemInfo, mem_available_bytes: int, elapsed_s: float, view_paused: bool, upcoming: Sequence[TimelineStep]
) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" madvise-lab ", style="bold reverse")
    text.append("  kernel ", style="dim")
    text.append(info.kernel_release)
    text.append("  THP ", style="dim")
    text.append(info.thp_mode)
    text.append("  swap ", style="dim")
    text.append(human_bytes(info.swap_total_bytes) if info.swap_total_bytes else "none")
    text.append("  MemAvailable ", style="dim")
    text.append(human_bytes(mem_available_bytes))
    text.append("  t ", style="dim")
    text.append(f"{elapsed_s:.0f}s")
    if view_paused:
        text.append("  ❚❚ VIEW PAUSED (sampling continues) ", style="bold black on #ffd54f")
    if upcoming:
        text.append("  next: ", style="dim")
        text.append(" · ".join(describe_step(step) for step in upcoming), style="#ffb74d")
    return text


class LabHeader(Widget):
    """One line, drawn as one cached strip; `show()` repaints only when the text changed.

    Not a Static: Static's update and render path (Content, visual styles) cost ~1.7 ms for this one line, once a
    second, a sixth of the steady dashboard's main thread; rich renders the same segments in a fraction of that.
    """

    DEFAULT_CSS = """
    LabHeader { height: 1; background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._text = Text()
        self._shown: str | None = None
        self._strip: Strip | None = None

    @property
    def text(self) -> Text:
        """The text shown (before it is cut to the width)."""
        return self._text

    def show(self, text: Text) -> None:
        plain = text.plain + repr(text.spans)
        if plain != self._shown:
            self._shown = plain
            self._text = text
            self._strip = None
            self.refresh()

    def on_resize(self) -> None:
        self._strip = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip = None  # a theme change: drawn again under the new background

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y != 0:
            return Strip.blank(width, self.rich_style)
        if self._strip is None or self._strip.cell_length != width:
            base = self.rich_style  # the header's background under every span's colour (walks the DOM: not per frame)
            text = self._text.copy()
            text.truncate(width, overflow="ellipsis")
            segments = [Segment(segment.text, base + segment.style if segment.style else base)
                        for segment in text.render(self.app.console, end="")]
            # the padding as Static pads: the background alone
            self._strip = Strip(segments).extend_cell_length(width, Style(bgcolor=base.bgcolor))
        return self._strip
