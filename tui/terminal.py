"""A terminal that dies under the dashboard (tmux killed, SSH dropped, pty closed) must not hang its shutdown.

The cause, in textual 8.2.8: the driver's WriterThread writes every frame to the terminal from a thread fed by a
queue of at most 30 writes. Once the terminal is gone, a write raises OSError (EIO), the exception ends the
thread, and nobody drains the queue any more. Shutdown still writes its escape sequences (mouse off, alt screen
off, ...): with enough frames queued, as with churning workloads redrawing often, the queue fills and
`App._shutdown → LinuxDriver.close → WriterThread.stop → Queue.put(None)` blocks forever.

The fix has two bounds: a writer thread that survives a dead terminal (it drops what it cannot write and keeps
draining, so puts never block for good), and, after a hang-up or SIGTERM has stopped the lab, a watchdog that
ends the process if the UI still has not exited after a grace period.

And an input thread that sleeps: textual's wakes every 0.1 s to check its exit flag and the escape-key timeout,
which is 0.1-0.15 % of a core on a dashboard that otherwise idles at ~1 % (IdleInputDriver).
"""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import threading
from codecs import getincrementaldecoder
from queue import Full
from typing import Any

from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
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


class _WakingEvent(threading.Event):
    """An Event whose set() also makes a pipe readable, so a thread blocked in select() on it wakes at once."""

    def __init__(self) -> None:
        super().__init__()
        self.read_fd, self._write_fd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)

    def set(self) -> None:
        super().set()
        try:
            os.write(self._write_fd, b"x")
        except OSError:  # full (already readable) or closed
            pass

    def clear(self) -> None:
        super().clear()
        try:
            while os.read(self.read_fd, 64):
                pass
        except OSError:  # BlockingIOError: drained
            pass

    def close(self) -> None:
        for fd in (self.read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class IdleInputDriver(linux_driver.LinuxDriver):
    """textual's Linux driver, with an input thread that blocks until a key, a mouse event or the exit comes.

    textual's own thread runs `select(0.1)` in a loop: ten wake-ups a second to poll `exit_event` and to give a
    lone ESC its timeout. Here the exit wakes the select through a pipe, and the select waits with a timeout only
    while the parser holds a sequence it may have to time out (its `_timeout_time`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exit_event = _WakingEvent()

    def run_input_thread(self) -> None:
        exit_event = self.exit_event
        if not isinstance(exit_event, _WakingEvent):  # replaced by someone else: textual's polling loop
            return super().run_input_thread()
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(exit_event.read_fd, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def process() -> bool:
            """Feed what stdin holds to the parser; False at end of input (a piped stdin, a closed pty)."""
            try:
                data = decode(os.read(self.fileno, 4096))
            except OSError:  # EIO: the terminal is gone (the hang-up handler quits the app)
                return False
            if not data:
                return False
            for event in parser.feed(data):
                self.process_message(event)
            return True

        try:
            open_input = True
            while not exit_event.is_set():
                deadline = parser._timeout_time  # a lone ESC (or a cut sequence) waits for its timeout
                timeout = None if deadline is None else max(0.0, deadline - get_time())
                ready = {key.fd for key, _ in selector.select(timeout)}
                if self.fileno in ready and open_input and not process():
                    open_input = False  # EOF: stop watching stdin, wait for the exit (as textual's loop does)
                    selector.unregister(self.fileno)
                for event in parser.tick():
                    self.process_message(event)
        finally:
            selector.close()
            try:
                for _ in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass

    def close(self) -> None:
        super().close()
        if isinstance(self.exit_event, _WakingEvent):
            self.exit_event.close()


def idle_input(app: Any) -> None:
    """Run `app` on IdleInputDriver when it would run on textual's Linux driver (not headless, not Windows)."""
    if getattr(app, "driver_class", None) is linux_driver.LinuxDriver:
        app.driver_class = IdleInputDriver


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
