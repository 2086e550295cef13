"""The header line: machine facts (kernel, THP, swap, MemAvailable), elapsed time, view state, upcoming steps."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

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


class LabHeader(Static):
    """One line; `show()` skips the update when the text is unchanged."""

    DEFAULT_CSS = """
    LabHeader { height: 1; background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__("", id=id)
        self._shown: str | None = None

    def show(self, text: Text) -> None:
        plain = text.plain + repr(text.spans)
        if plain != self._shown:
            self._shown = plain
            self.update(text, layout=False)
