"""Messages the dashboard posts to itself (past-tense facts), and PendingOnce, which coalesces the source's wake-ups."""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.message import Message


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


class PendingOnce:
    """Calls `post` at most once until `handled()`: a source's threads may wake the app many times a frame, and one
    pending wake-up is enough; a post that was refused (the app is closing) leaves nothing pending."""

    def __init__(self, post: Callable[[], bool]) -> None:
        self._post = post
        self._lock = threading.Lock()
        self._pending = False

    def __call__(self) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
        if not self._post():
            self.handled()

    def handled(self) -> None:
        with self._lock:
            self._pending = False
