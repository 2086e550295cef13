"""Messages the dashboard posts to itself: past-tense facts, posted from any thread."""

from __future__ import annotations

from textual.message import Message


class LabChanged(Message):
    """The lab has something new to poll (posted from the lab's threads, coalesced by the app)."""

    bubble = False


class ModePicked(Message):
    """The user picked a madvise mode for a workload in the mode picker."""

    def __init__(self, workload: str, mode: str) -> None:
        super().__init__()
        self.workload = workload
        self.mode = mode


class ExplanationRead(Message):
    """An explain worker finished reading a process: its explanation, or the one line saying why not."""

    def __init__(self, pid: int, explanation: object | None, error: str | None) -> None:
        super().__init__()
        self.pid = pid
        self.explanation = explanation  # tui.core.explain.Explanation
        self.error = error
