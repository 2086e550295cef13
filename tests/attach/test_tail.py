"""FileFollower follows appends, rotation and truncation of a real file; StreamFollower reads a real pipe."""

from __future__ import annotations

import os
import queue
import threading
import time

from tui.core.sources.tail import FileFollower, StreamFollower


def _collect() -> tuple[queue.Queue[str], callable]:
    lines: queue.Queue[str] = queue.Queue()
    return lines, lines.put


def _take(lines: queue.Queue[str], n: int, timeout_s: float = 5.0) -> list[str]:
    return [lines.get(timeout=timeout_s) for _ in range(n)]


def _append(path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


def test_follows_appends_and_waits_for_whole_lines(tmp_path):
    path = tmp_path / "trace.log"
    path.write_text("old 1\nold 2\n")
    lines, sink = _collect()
    follower = FileFollower(str(path), sink, poll_interval_s=0.02).start()
    try:
        assert _take(lines, 2) == ["old 1", "old 2"]
        _append(path, "gc 1 @0.1s")
        time.sleep(0.1)
        assert lines.empty(), "a partial line must wait for its newline"
        _append(path, " 0%\nnext\n")
        assert _take(lines, 2) == ["gc 1 @0.1s 0%", "next"]
    finally:
        follower.stop()


def test_starts_near_the_end_of_a_big_file(tmp_path):
    path = tmp_path / "trace.log"
    path.write_text("".join(f"line {i}\n" for i in range(10000)))
    lines, sink = _collect()
    follower = FileFollower(str(path), sink, backlog_bytes=100, poll_interval_s=0.02).start()
    try:
        got = _take(lines, 1)
        while got[-1] != "line 9999":
            got.append(lines.get(timeout=2))
        assert 5 <= len(got) <= 11, "about 100 bytes of backlog, not the whole file"
        first = int(got[0].split()[1])
        assert got == [f"line {i}" for i in range(first, 10000)], "the first line read must be whole"
    finally:
        follower.stop()


def test_follows_rotation_and_truncation(tmp_path):
    path = tmp_path / "trace.log"
    path.write_text("a\n")
    lines, sink = _collect()
    follower = FileFollower(str(path), sink, poll_interval_s=0.02).start()
    try:
        assert _take(lines, 1) == ["a"]
        # rotation: logrotate renames the file, then a new one appears at the path
        os.rename(path, tmp_path / "trace.log.1")
        _append(tmp_path / "trace.log.1", "b\n")
        time.sleep(0.1)
        path.write_text("c\n")
        assert _take(lines, 2) == ["b", "c"]
        # truncation (copytruncate): same inode, size drops below our position
        _append(path, "d\n")
        assert _take(lines, 1) == ["d"]
        with open(path, "w") as f:
            f.write("")
        time.sleep(0.1)
        _append(path, "e\n")
        assert _take(lines, 1) == ["e"]
    finally:
        follower.stop()


def test_waits_for_a_missing_file(tmp_path):
    path = tmp_path / "later.log"
    lines, sink = _collect()
    follower = FileFollower(str(path), sink, poll_interval_s=0.02).start()
    try:
        time.sleep(0.1)
        path.write_text("first\n")
        assert _take(lines, 1) == ["first"]
    finally:
        follower.stop()


def test_stream_follower_reads_a_pipe_to_eof():
    read_fd, write_fd = os.pipe()
    lines, sink = _collect()
    ended = threading.Event()
    StreamFollower(read_fd, sink, on_eof=ended.set).start()
    os.write(write_fd, b"gc 1 @0.0s\nscvg0: 1 MB rel")
    os.write(write_fd, b"eased\nno newline")
    os.close(write_fd)
    assert ended.wait(5)
    assert _take(lines, 3) == ["gc 1 @0.0s", "scvg0: 1 MB released", "no newline"]
    os.close(read_fd)
