"""A terminal that dies under the dashboard (tmux killed, SSH dropped, pty closed) must not hang its shutdown.

The cause, in textual 8.2.8: the driver's WriterThread writes every frame to the terminal from a thread fed by a
queue of at most 30 writes. Once the terminal is gone, a write raises OSError (EIO), the exception ends the
thread, and nobody drains the queue any more. Shutdown still writes its escape sequences (mouse off, alt screen
off, ...): with enough frames queued, as with churning workloads redrawing often, the queue fills and
`App._shutdown → LinuxDriver.close → WriterThread.stop → Queue.put(None)` blocks forever.

The fix has two bounds: a writer thread that survives a dead terminal (it drops what it cannot write and keeps
draining, so puts never block for good), and, after a hang-up or SIGTERM has stopped the lab, a watchdog that
ends the process if the UI still has not exited after a grace period.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from queue import Full
from typing import Any

from textual.drivers import linux_driver
from textual.drivers._writer_thread import WriterThread

STOP_TIMEOUT_S = 0.5  # the writer's stop() waits this long for the queue and the thread, no longer
EXIT_GRACE_S = 1.0  # after a hang-up stopped the lab: the UI gets this long to exit on its own


class DrainingWriterThread(WriterThread):
    """textual's writer thread, minus the hang: a write to a dead terminal is dropped, not fatal."""

    terminal_lost = False

    def run(self) -> None:
        get, qsize = self._queue.get, self._queue.qsize
        while True:
            text = get()
            if text is None:
                break
            if self.terminal_lost:
                continue  # keep draining so the app's writes never block on a full queue
            try:
                self._file.write(text)
                if qsize() == 0:
                    self._file.flush()
            except (OSError, ValueError):  # EIO/EPIPE after a hang-up; ValueError: the file was closed
                self.terminal_lost = True
        if not self.terminal_lost:
            try:
                self._file.flush()
            except (OSError, ValueError):
                pass

    def stop(self) -> None:
        try:
            self._queue.put(None, timeout=STOP_TIMEOUT_S)
        except Full:
            pass  # the thread is wedged (or gone): a daemon thread, it does not keep the process alive
        self.join(STOP_TIMEOUT_S)


def guard_terminal_writer() -> None:
    """Make textual's Linux driver use DrainingWriterThread (idempotent; call before App.run)."""
    linux_driver.WriterThread = DrainingWriterThread  # type: ignore[misc]


def exit_if_still_running(code: int, grace_s: float = EXIT_GRACE_S) -> None:
    """After the lab is stopped on a hang-up or SIGTERM: if the process is still here after `grace_s`, the UI is
    stuck on a dead terminal; end it (workloads are already stopped, so nothing is lost or left behind)."""
    def watchdog() -> None:
        os._exit(code)

    timer = threading.Timer(grace_s, watchdog)
    timer.daemon = True
    timer.start()


def quit_on_signals(app: Any) -> None:
    """SIGTERM and SIGHUP (terminal closed) quit the app like `q` from its event loop: its source stops, and a dead
    terminal cannot keep the process (exit_if_still_running)."""
    def quit_from_signal(signum: int) -> None:
        app.stop_lab()
        exit_if_still_running(128 + signum)
        app.exit(0)
    try:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, quit_from_signal, signum)
    except (RuntimeError, NotImplementedError, ValueError):
        pass  # not the main thread (e.g. tests): the launcher's finally still stops the source
