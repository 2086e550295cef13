"""Follow a text stream line by line in a thread: a file like `tail -F` (rotation, truncation) or a pipe."""

from __future__ import annotations

import os
import threading
from typing import Callable

LineSink = Callable[[str], None]

POLL_INTERVAL_S = 0.1
# A service's trace file may be huge; like `tail`, start near the end but keep some recent context.
DEFAULT_BACKLOG_BYTES = 64 * 1024
_READ_BYTES = 64 * 1024


class _LineSplitter:
    """Bytes in, whole decoded lines out; a partial last line waits for its newline."""

    def __init__(self, sink: LineSink) -> None:
        self._sink = sink
        self._pending = b""

    def feed(self, data: bytes) -> None:
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for raw in lines:
            self._sink(raw.rstrip(b"\r").decode("utf-8", "replace"))

    def flush(self) -> None:
        """Emit a partial line (the writer ended without a newline)."""
        if self._pending:
            pending, self._pending = self._pending, b""
            self._sink(pending.rstrip(b"\r").decode("utf-8", "replace"))

    def drop(self) -> None:
        self._pending = b""


class FileFollower:
    """Reads new lines appended to `path`; reopens after rotation, rewinds after truncation.

    Starts `backlog_bytes` before the end (at the first whole line), so a big old log is not replayed.
    A missing file is waited for. `sink` runs on the follower's thread.
    """

    def __init__(self, path: str, sink: LineSink, *, backlog_bytes: int = DEFAULT_BACKLOG_BYTES,
                 poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self.path = path
        self._sink = sink
        self._backlog_bytes = backlog_bytes
        self._poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tail {path}", daemon=True)
        self._splitter = _LineSplitter(sink)
        self._fd: int | None = None
        self._ino: tuple[int, int] | None = None
        self._pos = 0

    def start(self) -> "FileFollower":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    def _open(self, first: bool) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        st = os.fstat(fd)
        self._fd, self._ino = fd, (st.st_dev, st.st_ino)
        self._pos = 0
        if first and st.st_size > self._backlog_bytes:
            self._pos = st.st_size - self._backlog_bytes
            os.lseek(fd, self._pos, os.SEEK_SET)
            self._skip_partial_line()
        return True

    def _skip_partial_line(self) -> None:
        """After seeking into the middle of a file, drop bytes up to the next newline."""
        assert self._fd is not None
        while True:
            chunk = os.read(self._fd, 4096)
            if not chunk:
                return
            cut = chunk.find(b"\n")
            if cut >= 0:
                self._pos += cut + 1
                os.lseek(self._fd, self._pos, os.SEEK_SET)
                return
            self._pos += len(chunk)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = self._ino = None

    def _drain(self) -> None:
        assert self._fd is not None
        while data := os.read(self._fd, _READ_BYTES):
            self._pos += len(data)
            self._splitter.feed(data)

    def _check_moved(self) -> None:
        """Rotation: the path names another file (finish the old one first). Truncation: size < position."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return  # rotated away and not yet recreated: keep reading the old one
        if (st.st_dev, st.st_ino) != self._ino:
            self._drain()
            self._splitter.flush()
            self._close()
            self._open(first=False)
        elif st.st_size < self._pos:
            self._splitter.drop()
            self._pos = 0
            assert self._fd is not None
            os.lseek(self._fd, 0, os.SEEK_SET)

    def _run(self) -> None:
        first = True
        try:
            while not self._stop.is_set():
                if self._fd is None:
                    if not self._open(first):
                        self._stop.wait(self._poll_interval_s)
                        continue
                    first = False
                self._drain()
                self._check_moved()
                self._stop.wait(self._poll_interval_s)
        finally:
            self._close()


class StreamFollower:
    """Reads lines from a pipe (e.g. stdin duplicated away from fd 0) until EOF; `on_eof` runs at the end."""

    def __init__(self, fd: int, sink: LineSink, on_eof: Callable[[], None] | None = None) -> None:
        self.fd = fd
        self._sink = sink
        self._on_eof = on_eof
        self._splitter = _LineSplitter(sink)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pipe fd {fd}", daemon=True)

    def start(self) -> "StreamFollower":
        self._thread.start()
        return self

    def stop(self) -> None:
        # A blocked os.read cannot be interrupted portably; the daemon thread ends with the process or at EOF.
        self._stop.set()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    data = os.read(self.fd, _READ_BYTES)
                except OSError:
                    break
                if not data:
                    break
                self._splitter.feed(data)
            self._splitter.flush()
        finally:
            if self._on_eof is not None:
                self._on_eof()


def detach_stdin_from_terminal() -> int:
    """When stdin is a pipe: move the pipe to a new fd and put the controlling terminal on fd 0.

    Textual's Linux driver reads keys from fd 0 (`sys.__stdin__`), so the app gets the keyboard and we
    get the piped trace. Returns the pipe's new fd. Raises OSError when there is no terminal.
    """
    pipe_fd = os.dup(0)
    try:
        tty_fd = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        os.close(pipe_fd)
        raise
    os.dup2(tty_fd, 0)
    os.close(tty_fd)
    return pipe_fd
