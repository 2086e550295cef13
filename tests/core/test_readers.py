"""The workload readers: the line splitter (long lines dropped and named, a cut last line, bytes that are not UTF-8,
CR, tab and control characters, lines cut by reads) and the hand-off of one read's messages to the Lab as one batch
(order, wake and urgency per batch, the recorder sees every message), with real pipes and processes where it
matters; the splitter alone against the text-mode reading it replaced (Hypothesis)."""

from __future__ import annotations

import io
import os
import sys
import textwrap
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab_runner import Run, make_lab
from tui.core.sources import supervisor
from tui.core.sources.base import SourceQueue
from tui.core.sources.supervisor import LineSplitter, OutputLine, Received, Spawned, printable

ONE = """\
sample_interval: 100ms
pressure: {cgroup_root: /proc}
workloads:
  - {name: w, pattern: steady, size: 4MiB, arena_size: 4MiB}
"""
STATS = ('{"type":"stats","t":%s,"heap_inuse_bytes":%d,"heap_idle_bytes":0,"heap_released_bytes":0,'
         '"heap_sys_bytes":4194304,"heap_goal_bytes":8388608,"gc_count":1,"madvise":"MADV_FREE"}')


def split(pieces: list[bytes], limit: int = 16) -> list[tuple[str, str | None]]:
    splitter = LineSplitter(limit)
    lines = [line for piece in pieces for line in splitter.feed(piece)]
    return lines + splitter.end()


# --- the splitter ------------------------------------------------------------------------------------------------


def test_a_long_line_is_dropped_and_named_and_the_next_one_comes():
    long = b"x" * 100
    assert split([long[:30], long[30:] + b"\nafter\n"]) == [
        ("x" * 17, "a line of 101 characters (at most 16), dropped"), ("after", None)]  # 80 at most, here 17
    assert split([b"w" * 200 + b"\n"], limit=100) == [("w" * 80, "a line of 201 characters (at most 100), dropped")]
    assert split([b"y" * 17 + b"\n"]) == [("y" * 17, "a line of 18 characters (at most 16), dropped")]
    assert split([b"z" * 16 + b"\n"]) == [("z" * 16, None)]  # exactly the limit is kept


def test_a_long_line_cut_by_the_exit_is_named_without_a_newline():
    assert split([b"ok\n", b"q" * 40]) == [("ok", None), ("q" * 17, "a line of 40 characters (at most 16), dropped")]


def test_the_last_line_cut_by_the_exit_comes_as_it_is():
    assert split([b'{"a":1}\n{"b"'], limit=64) == [('{"a":1}', None), ('{"b"', None)]
    assert split([b"done\n"]) == [("done", None)]  # nothing more at the end


def test_bytes_that_are_not_utf8_survive_and_are_named():
    (line, problem), = split([b"caf\xe9 latin-1\n"])
    assert problem is None and line == "caf\udce9 latin-1"
    assert printable(line) == ("caf\ufffd latin-1", "not UTF-8 (byte 0xe9 at column 4)")
    e_acute = "é".encode()
    assert split([b"caf" + e_acute[:1], e_acute[1:] + b"\n"]) == [("café", None)]  # a character cut by a read
    assert printable("café") == ("café", None)


def test_cr_ends_a_line_as_text_mode_did_and_tab_and_controls_show():
    assert split([b"a\r\nb\rc\n"]) == [("a", None), ("b", None), ("c", None)]
    assert split([b"a\r", b"\nb\n"]) == [("a", None), ("b", None)]  # a CR LF cut by a read: no empty line
    assert split([b"a\r", b"", b"b\n"]) == [("a", None), ("b", None)]
    (line, _), = split([b"col\tumn \x1b[2J\x00\n"], limit=64)
    assert printable(line) == ("col\tumn \\x1b[2J\\x00", None)
    assert printable("plain ascii") == ("plain ascii", None)


def _text_mode_lines(raw: bytes, limit: int) -> list[tuple[str, str | None]]:
    """What the reader did before issue 16: Popen's text mode (universal newlines) and readline with a limit."""
    stream = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="surrogateescape")
    lines = []
    while chunk := stream.readline(limit + 1):
        if chunk.endswith("\n") or len(chunk) <= limit:
            lines.append((chunk.rstrip("\n"), None))
            continue
        head, total = chunk[:80], len(chunk)
        while chunk and not chunk.endswith("\n"):
            chunk = stream.readline(limit + 1)
            total += len(chunk)
        lines.append((head, f"a line of {total} characters (at most {limit}), dropped"))
    return lines


@settings(max_examples=400, deadline=None, database=None)
@given(raw=st.lists(st.one_of(st.binary(max_size=30), st.sampled_from([b"\n", b"\r", b"\r\n", "é€𝄞".encode(),
                                                                       b"\xff", b"\xe2\x82", b"x" * 40, b"\t"])),
                    max_size=12).map(b"".join),
       cuts=st.lists(st.integers(1, 40), max_size=8))
def test_the_splitter_reads_as_text_mode_did_however_reads_cut_it(raw, cuts):
    pieces, at = [], 0
    for size in cuts:
        pieces.append(raw[at:at + size])
        at += size
    pieces.append(raw[at:])
    assert split(pieces, limit=24) == _text_mode_lines(raw, 24)


# --- the queue: one put for a batch ------------------------------------------------------------------------------


def test_a_batch_counts_its_items_against_the_bound_and_poll_takes_at_most_max_items():
    woken = []
    queue = SourceQueue(lambda: woken.append(1), max_items=10)
    queue.put_many(list(range(15)))
    assert queue.dropped_items == 5 and woken == [1]  # the oldest go; one wake-up for the batch
    items, more = queue.take(4)
    assert items == [5, 6, 7, 8] and more
    items, more = queue.take(100)
    assert items == list(range(9, 15)) and not more


# --- the Lab's hand-off: wake and urgency per batch ----------------------------------------------------------------


def _stats(t_s: float, inuse: int) -> Received:
    import json

    return Received("w", os.getpid(), 1, t_s, json.loads(STATS % (t_s, inuse)))


def _event(name: str, **fields) -> Received:
    return Received("w", os.getpid(), 1, 1.0, {"type": "event", "t": 1.0, "event": name, **fields})


def test_a_batch_wakes_if_any_message_would_and_is_urgent_if_any_is():
    woken: list[int] = []
    lab = make_lab(ONE, notify=lambda: woken.append(1))
    lab._on_supervisor(Spawned("w", os.getpid(), 1, 0.0, "MADV_FREE"))  # sample ourselves: a real pid
    lab.poll()
    woken.clear()
    lab._on_supervisor_batch([_stats(1.0, 4096)])
    assert woken == [1] and not lab.urgent  # new figures wake, but are not urgent
    lab.poll()
    lab._on_supervisor_batch([_stats(1.1, 4096), _stats(1.2, 4096)])
    assert woken == [1] and not lab.urgent  # the same figures again: queued, nobody woken
    assert [s.t_s for s in lab.poll().trace_lines] == [] and lab._queue.take(10) == ([], False)
    lab._on_supervisor_batch([_stats(1.3, 4096), _event("pause")])
    assert woken == [1, 1] and lab.urgent  # an event is urgent: the batch is
    lab.poll()
    lab._on_supervisor_batch([_event("alloc", bytes=4096), _stats(1.4, 8192)])
    assert woken == [1, 1, 1] and not lab.urgent  # an alloc invalidates the rollup: its read is the urgent one
    lab.poll()
    lab._on_supervisor_batch([_stats(1.5, 8192), Received("w", os.getpid(), 1, 1.5,
                                                          {"type": "error", "t": 1.5, "message": "boom"})])
    assert lab.urgent and "lab: error: boom" in [line.line for line in lab.poll().trace_lines]


# --- real processes ----------------------------------------------------------------------------------------------

BURST = textwrap.dedent(r'''
    import os, re, sys, time
    hello = '{"type":"hello","t":0.0,"pid":%d,"kind":"python","madvise":"MADV_FREE","options":{}}\n' % os.getpid()
    lines = [hello] + ['{"type":"trace","t":1,"line":"line %d","kind":"other"}\n' % i for i in range(40)]
    lines.insert(20, "not json but a print\n")
    lines.insert(30, '{"type":"teleport","t":1}\n')
    os.write(1, "".join(lines).encode())  # one write (under PIPE_BUF: the reader takes it whole)
    gc = "gc 1 @0.010s 0%: 0.01+0.1+0.01 ms clock, 0.02+0/0/0+0.02 ms cpu, 4->4->0 MB, 4 MB goal, 1 P\n"
    for piece in re.findall(r"\d+|\D+", gc):  # as Go's runtime prints it: a write per number and text between
        os.write(2, piece.encode())
        time.sleep(0.0002)
    os.write(2, b"scav 0 KiB work, 4096 KiB total, 100% util\nlast words\n")
    sys.stdin.readline()  # until the dashboard stops us
''')


@pytest.fixture
def burst(tmp_path, monkeypatch):
    script = tmp_path / "burst.py"
    script.write_text(BURST)
    monkeypatch.setattr(supervisor, "workload_command", lambda workload, progress=None: (
        [sys.executable, str(script)], None))
    crashes: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: crashes.append(args.exc_value))
    yield crashes
    assert not crashes, crashes


def test_one_write_of_a_real_process_is_one_batch_in_order_and_the_recorder_sees_all(burst):
    raw: list[dict] = []
    lab = make_lab(ONE, on_message=lambda name, data: raw.append(data))
    batches: list[list] = []
    put_many = lab._queue.put_many

    def spy(items, **kwargs):
        batches.append(list(items))
        put_many(items, **kwargs)
    lab._queue.put_many = spy
    run = Run(lab)
    lab.start()
    try:
        run.until(lambda: "line 39" in run.texts() and "last words" in run.texts(), 20, "the burst and stderr")
    finally:
        lab.stop()
    stdout = [b for b in batches if any(isinstance(m, Received) for m in b)]
    assert len(stdout) == 1, [len(b) for b in stdout]  # one read, one put
    kinds = [m.data["type"] if isinstance(m, Received) else m.line[:12] for m in stdout[0]]
    assert kinds[0] == "hello" and kinds[20] == "not json but" and kinds[30] == "lab: bad mes"
    texts = [m.data["line"] for m in stdout[0] if isinstance(m, Received) and m.data["type"] == "trace"]
    assert texts == [f"line {i}" for i in range(40)]
    assert [d.get("line", d["type"]) for d in raw] == ["hello", *(f"line {i}" for i in range(28)), "lab_error",
                                                       *(f"line {i}" for i in range(28, 40))]
    stderr = [b for b in batches if b and all(isinstance(m, OutputLine) and m.stream == "stderr" for m in b)]
    assert [(m.kind, m.line) for b in stderr for m in b] == [
        ("gc", "gc 1 @0.010s 0%: 0.01+0.1+0.01 ms clock, 0.02+0/0/0+0.02 ms cpu, 4->4->0 MB, 4 MB goal, 1 P"),
        ("scav", "scav 0 KiB work, 4096 KiB total, 100% util"), ("other", "last words")]  # the gc line whole
    shown = [line.line for line in run.lines]
    assert shown.index("line 0") < shown.index("not json but a print") < shown.index("line 39")


def test_the_last_stderr_line_of_a_real_process_is_its_last_error(burst):
    lab = make_lab(ONE)
    run = Run(lab)
    lab.start()
    try:
        run.until(lambda: "last words" in run.texts(), 20, "stderr")
        os.kill(lab._supervisor.pid("w"), 9)
        run.until(lambda: lab.status("w").state == "exited", 20, "the exit")
    finally:
        lab.stop()
    assert lab.status("w").last_error == "last words"


THREE = """\
sample_interval: 100ms
pressure: {cgroup_root: /proc}
defaults: {pattern: steady, size: 4MiB, arena_size: 4MiB}
workloads:
  - {name: a}
  - {name: b}
  - {name: c}
"""


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "madvise-lab-read" or t.name.startswith(("stdout-", "stderr-"))]


def test_one_thread_reads_every_workload_and_ends_with_them():
    lab = make_lab(THREE)
    run = Run(lab)
    before = _reader_threads()
    lab.start()
    try:
        run.until(lambda: all(run.running(name) for name in "abc"), 30, "three workloads running")
        readers = [t for t in _reader_threads() if t not in before]
        assert [t.name for t in readers] == ["madvise-lab-read"]  # one thread for six pipes, not one per pipe
        pid_b = lab._supervisor.pid("b")
        os.kill(pid_b, 9)  # one child dies: its exit is reported and the others are still read
        run.until(lambda: lab.status("b").state == "exited", 20, "b's exit")
        assert lab.status("b").exit_code == -9
        seen = {name: run.lab.series(name).latest.t_s for name in "ac"}
        run.until(lambda: all(run.lab.series(name).latest.t_s > seen[name] + 0.3 for name in "ac"), 20,
                  "a and c still sampled")
        assert readers[0].is_alive()
        lab._supervisor.restart("b")  # a new child joins the running reader
        run.until(lambda: run.running("b") and lab._supervisor.pid("b") != pid_b, 30, "b again")
        assert [t for t in _reader_threads() if t not in before] == readers
    finally:
        lab.stop()
    readers[0].join(5)
    assert not readers[0].is_alive(), "the reader outlived every child"


def test_a_failing_read_is_an_error_line_and_the_reader_goes_on(monkeypatch):
    crashes: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: crashes.append(args.exc_value))
    original = supervisor.Supervisor._stdout_messages
    calls = {"n": 0}

    def fails_once(self, child, pid, t_s, lines):  # the second read of stdout meets a bug
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("a bug in reading")
        return original(self, child, pid, t_s, lines)

    monkeypatch.setattr(supervisor.Supervisor, "_stdout_messages", fails_once)
    raw: list[dict] = []
    lab = make_lab(ONE, on_message=lambda name, data: raw.append(data))
    run = Run(lab)
    lab.start()
    try:
        run.until(lambda: any("reading its output failed: RuntimeError('a bug in reading')" in t for t in run.texts()),
                  20, "the error line")
        after = calls["n"]
        run.until(lambda: calls["n"] > after + 2 and run.running("w"), 20, "reads after the failure")
    finally:
        lab.stop()
    assert not crashes, crashes
    assert [d["message"] for d in raw if d["type"] == "lab_error"] == [
        "lab: reading its output failed: RuntimeError('a bug in reading')"]  # events.jsonl keeps it too
