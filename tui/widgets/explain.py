"""The `e` screen: the focused process explained (where its RSS is, who holds it, the knob), read on demand."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.messages import ExplanationRead


class ExplainScreen(ModalScreen[None]):
    """Reads /proc/PID/smaps in a worker thread when opened and on `r`; never at the sample rate."""

    BINDINGS = [
        Binding("r", "refresh_explanation", "Read again", id="explain.refresh",
                tooltip="Read /proc/PID/smaps again and explain the process anew"),
        Binding("escape,e,q", "dismiss", "Close", id="explain.close"),
    ]

    DEFAULT_CSS = """
    ExplainScreen { align: center middle; }
    ExplainScreen > VerticalScroll {
        width: 112; max-width: 96%; height: 92%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ExplainScreen #explain-status { color: $text-muted; }
    """

    def __init__(self, workload: str, pid_of: Callable[[], int | None]) -> None:
        super().__init__()
        self.workload = workload
        self._pid_of = pid_of  # the workload's current pid (a restart gives it a new one)
        self.explanation: object | None = None
        self.error: str | None = None
        self.reads = 0  # explanations shown so far (tests wait on it)

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = f"explain: {self.workload}"
            scroll.border_subtitle = "r read again · esc close"
            yield Static(id="explain-status")
            yield Static(id="explain-text", markup=False)

    def on_mount(self) -> None:
        self.action_refresh_explanation()

    def action_refresh_explanation(self) -> None:
        pid = self._pid_of()
        status = self.query_one("#explain-status", Static)
        if not pid:
            status.update(Text(f"{self.workload} has no process to explain right now"))
            return
        status.update(Text(f"reading /proc/{pid}/smaps …"))
        self.run_worker(lambda: self._read(pid), thread=True, exclusive=True, group="explain")

    def _read(self, pid: int) -> None:
        # a worker thread: it only posts the result, the screen draws it
        from tui.core.explain import CannotExplain, explain_pid

        try:
            self.post_message(ExplanationRead(pid, explain_pid(pid), None))
        except CannotExplain as error:
            self.post_message(ExplanationRead(pid, None, str(error)))

    def on_explanation_read(self, message: ExplanationRead) -> None:
        from tui.core.explain import render_text

        self.explanation, self.error = message.explanation, message.error
        self.reads += 1
        status = self.query_one("#explain-status", Static)
        text = self.query_one("#explain-text", Static)
        stamp = time.strftime("%H:%M:%S")
        if message.error is not None:
            status.update(Text(f"{stamp}: {message.error}", style="bold red"))
            text.update("")
            return
        status.update(Text(f"read at {stamp} (once; r reads again)"))
        text.update(Text(render_text(message.explanation)))  # type: ignore[arg-type]

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
