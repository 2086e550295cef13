"""The cause of the hang on a dead terminal, on a real pty: textual's writer thread dies of EIO and its bounded
queue then blocks stop() forever; tui.terminal's DrainingWriterThread keeps draining and stops at once."""

from __future__ import annotations

import os
import queue
import threading
import time

import pytest
from textual.drivers._writer_thread import MAX_QUEUED_WRITES, WriterThread

from app_support import wait_until
from tui.terminal import DrainingWriterThread


def _dead_terminal():
    """The slave side of a pty whose master has been closed: every write to it fails with EIO."""
    master, slave = os.openpty()
    os.close(master)
    return open(slave, "w", encoding="utf-8", errors="replace")


def _stop_returns(writer: WriterThread, within_s: float) -> bool:
    done = threading.Event()

    def stop() -> None:
        writer.stop()
        done.set()

    threading.Thread(target=stop, daemon=True).start()  # a hung stop() must not hang the test
    return done.wait(within_s)


def _write_frames(writer: WriterThread, met_the_error) -> int:
    """A frame that meets the dead terminal, then the shutdown's escape sequences; how many writes were taken."""
    writer.write("\x1b[H" + "x" * 4000)
    assert wait_until(met_the_error, 5.0), "the writer thread never met the dead terminal"
    for taken in range(3 * MAX_QUEUED_WRITES):
        try:
            writer._queue.put("\x1b[?1000l", timeout=0.5)
        except queue.Full:  # nobody drains it any more
            return taken
    return 3 * MAX_QUEUED_WRITES


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the EIO that kills it
def test_textual_writer_thread_dies_on_a_dead_terminal_and_stop_hangs():
    """What happens without tui/terminal.py (if textual fixes this, this test says so and can go)."""
    with _dead_terminal() as file:
        writer = WriterThread(file)
        writer.start()
        taken = _write_frames(writer, lambda: not writer.is_alive())
        assert not writer.is_alive(), "textual's writer thread survived EIO: upstream fixed it?"
        assert taken == MAX_QUEUED_WRITES and writer._queue.full()
        assert not _stop_returns(writer, 1.0), "stop() returned although nobody drains the full queue"


def test_draining_writer_survives_a_dead_terminal_and_stops_at_once():
    with _dead_terminal() as file:
        writer = DrainingWriterThread(file)
        writer.start()
        assert _write_frames(writer, lambda: writer.terminal_lost) == 3 * MAX_QUEUED_WRITES  # every put taken
        assert writer.is_alive()
        started = time.monotonic()
        assert _stop_returns(writer, 1.0)
        assert not writer.is_alive() and time.monotonic() - started < 1.0
