"""Protocol junk both ways. Workload → dashboard: non-JSON, bytes that are not UTF-8, a 10 MiB line, JSON cut off
at exit, unknown types, wrong field types each become an error line in the trace pane (and in events.jsonl), the
reader's memory stays bounded, nothing crashes. Dashboard → workload: junk commands get an `error` reply and the
workload keeps running. Real subprocesses for a sample, in-process decoding for the bulk (Hypothesis)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import types
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzz_counts import CASES, count, total
from lab_runner import Run, make_lab
from tui.core.sources import supervisor
from tui.core.sources.supervisor import READ_CHUNK_BYTES, READ_LIMIT_CHARS, LineSplitter, OutputLine, Received, printable
from workloads import protocol

ROOT = Path(__file__).resolve().parents[2]
ONE = """\
sample_interval: 100ms
pressure: {cgroup_root: /proc}
workloads:
  - {name: junk, pattern: steady, size: 4MiB, arena_size: 4MiB}
"""
FUZZ = settings(deadline=timedelta(seconds=2), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
GOOD_STATS = {"type": "stats", "t": 1.0, **{f.name: (0 if f.type is int else "MADV_FREE")
                                              for f in protocol.STATS_FIELDS}}
TEMPLATES = [
    GOOD_STATS,
    {"type": "hello", "t": 0.0, "pid": 1234, "kind": "python", "madvise": "MADV_FREE", "options": {}},
    {"type": "trace", "t": 1.0, "line": "gc 1 @1.000s 0%: ...", "kind": "gc"},
    {"type": "event", "t": 1.0, "event": "scavenge", "released_bytes": 1 << 20},
    {"type": "event", "t": 1.0, "event": "mode", "old": "MADV_FREE", "new": "MADV_DONTNEED"},
    {"type": "event", "t": 1.0, "event": "gc", "n": 3, "forced": True},
    {"type": "error", "t": 1.0, "message": "boom"},
    {"type": "spans", "t": 1.0, "page_bytes": 4096, "arenas": [{"base": 0, "runs": [[0, 16, "inuse"]]}]},
]
ODD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=20),
                       st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(),
                                                                            max_size=2),
                       st.sampled_from(["\x1b[2J", "\udcff", "é" * 3, "MADV_BOGUS", "-1", "1e999"]))


def _lab():
    lab = make_lab(ONE)
    lab._generation["junk"] = 1  # as if spawned: the lab applies generation-1 messages
    return lab


def _through_the_dashboard(lab, raw: bytes, reads: list[int] | None = None) -> tuple[int, int]:
    """Feed one workload's stdout bytes, cut into reads of the given sizes, through the reader's splitter, its
    messages and the Lab's hand-off: (error lines, messages)."""
    splitter = LineSplitter(limit=4096)
    child = types.SimpleNamespace(name="junk", generation=1, proc=types.SimpleNamespace(pid=4242), last_error=None)
    errors = messages = 0
    pieces, at = [], 0
    for size in [*(reads or ()), len(raw)]:
        pieces.append(raw[at:at + max(1, size)])
        at += max(1, size)
    for lines in [*(splitter.feed(piece) for piece in pieces if piece), splitter.end()]:
        for line, _problem in lines:
            assert len(line) <= 4096
            shown, _ = printable(line)
            assert shown.isprintable() or "\t" in shown
        batch = lab._supervisor._stdout_messages(child, 4242, 1.0, lines)
        errors += sum(isinstance(m, OutputLine) and m.kind == "error" for m in batch)
        messages += sum(isinstance(m, Received) for m in batch)
        if batch:
            lab._on_supervisor_batch(batch)
    update = lab.poll()  # must not raise whatever the fields held
    for line in update.trace_lines:
        assert isinstance(line.line, str)
    return errors, messages


def _message_bytes(data) -> bytes:
    template = dict(data.draw(st.sampled_from(TEMPLATES)))
    for _ in range(data.draw(st.integers(0, 3))):
        key = data.draw(st.sampled_from([*template, "type", "t", "extra"]))
        template[key] = data.draw(ODD_VALUES)
    try:
        text = json.dumps(template)
    except (ValueError, TypeError):
        text = repr(template)
    raw = text.encode("utf-8", "surrogateescape")
    cut = data.draw(st.sampled_from(["none", "truncate", "flip", "junk"]))
    if cut == "truncate":
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    elif cut == "flip" and raw:
        at = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([data.draw(st.integers(0, 255))]) + raw[at + 1:]
    elif cut == "junk":
        raw = data.draw(st.binary(max_size=64))
    return raw


@settings(FUZZ, max_examples=600)
@given(data=st.data())
@example(data=None)
def _workload_output(data):
    if data is None:  # once a crash: a scavenge event whose released_bytes is a string
        raw = b'{"type":"event","t":1,"event":"scavenge","released_bytes":"abc"}\n'
    else:
        raw = b"\n".join(_message_bytes(data) for _ in range(data.draw(st.integers(1, 5))))
        if data.draw(st.booleans()):
            raw += b"\n"  # else: the last line is cut off at exit
    reads = None if data is None else data.draw(st.lists(st.integers(1, 64), max_size=4))  # where reads cut it
    errors, messages = _through_the_dashboard(_lab(), raw, reads)
    count("workload output lines (in-process)", "error line" if errors else "applied" if messages else "plain text")


def test_workload_output_junk_in_process():
    before = total("workload output lines (in-process)")
    _workload_output()
    assert total("workload output lines (in-process)") - before >= 600


def test_overlong_line_is_dropped_with_bounded_memory():
    raw = b'{"type":"trace","t":1,"line":"' + b"x" * (10 << 20) + b'","kind":"gc"}\n{"type":"error","t":1,"message":"after"}\n'
    stream = io.BytesIO(raw)
    splitter = LineSplitter()
    lines = []
    tracemalloc.start()
    try:
        while data := stream.read(READ_CHUNK_BYTES):  # as the reader takes a pipe: a full pipe's worth a read
            lines += splitter.feed(data)
        lines += splitter.end()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    first_chars = raw.index(b"\n") + 1  # with its newline
    assert lines[0][1] == f"a line of {first_chars} characters (at most {READ_LIMIT_CHARS}), dropped"
    assert len(lines[0][0]) <= 80 and lines[1] == ('{"type":"error","t":1,"message":"after"}', None)
    assert peak < 4 * READ_LIMIT_CHARS * 4 + (1 << 20), f"the reader held {peak >> 20} MiB for one line"


# A workload that prints every kind of junk, then a message cut off by its exit.
JUNK_SCRIPT = textwrap.dedent(r'''
    import os, sys, time
    out = sys.stdout.buffer
    hello = b'{"type":"hello","t":0.0,"pid":%d,"kind":"python","madvise":"MADV_FREE","options":{}}\n' % os.getpid()
    for line in [hello, b"not json at all\n", b'{"type":"stats","t":1,"heap_inuse_bytes":"many"}\n',
                 b'{"type":"teleport","t":1}\n', b'{"type":"trace","t":1,"line":5,"kind":"gc"}\n',
                 b'{"type":"event","t":1,"event":"scavenge","released_bytes":"abc"}\n',
                 b'{"type":"error","t":1,"message":"caf\xe9 latin-1"}\n', b"\xff\xfe\x00 binary\n",
                 b'{"type":"trace","t":1,"line":"' + b"y" * (10 << 20) + b'","kind":"gc"}\n',
                 b'{"type":"trace","t":2,"line":"still talking","kind":"gc"}\n', b'{"type":"stats","t":3,"heap_in']:
        out.write(line)
        out.flush()
    sys.stdin.readline()  # until the dashboard stops us
''')


def test_a_real_workload_printing_junk(tmp_path, monkeypatch):
    script = tmp_path / "junk_workload.py"
    script.write_text(JUNK_SCRIPT)
    monkeypatch.setattr(supervisor, "workload_command", lambda workload, progress=None: (
        [sys.executable, str(script)], None))
    raw_records: list[dict] = []
    reader_crashes: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: reader_crashes.append(args.exc_value))
    lab = make_lab(ONE)
    lab._supervisor._on_raw = lambda name, data: raw_records.append(data)  # what record writes to events.jsonl
    run = Run(lab)
    lab.start()
    try:
        run.until(lambda: any("still talking" in t for t in run.texts()), 30, "the line after the 10 MiB one")
        run.until(lambda: sum("bad message from the workload" in t for t in run.texts()) >= 6, 10,
                  "an error line per junk line")
    finally:
        lab.stop()
    run.until(lambda: any("heap_in'" in t for t in run.texts()), 10, "the stats line cut off by the exit")
    errors = [t for t in run.texts() if "bad message from the workload" in t]
    joined = "\n".join(errors)
    for fragment in ("heap_inuse_bytes", "teleport", "trace:", "not UTF-8 (byte 0xe9", "not UTF-8 (byte 0xff",
                     "characters (at most 65536), dropped", "not JSON", "heap_in'"):  # the last: cut off at exit
        assert fragment in joined, (fragment, errors)
    assert any("bad event message from the workload" in t and "released_bytes" in t for t in run.texts())
    assert any(t.endswith("not json at all") for t in run.texts())  # a plain print is shown as it is
    assert sum(r.get("type") == "lab_error" for r in raw_records) == len(errors)  # each in events.jsonl too
    assert not reader_crashes, reader_crashes


JUNK_COMMANDS = [b"not a command", b"[1, 2]", b'{"cmd": null}', b'{"cmd": "alloc", "bytes": "1PiB"}',
                 b'{"cmd": "alloc", "bytes": 1e400}', b'{"cmd": "alloc", "bytes": -5}', b"alloc 64TiB",
                 b'{"cmd": "set_madvise", "value": 7}', b'{"cmd": "gc", "x":', b"\xff\xfe junk", b"x" * 100_000,
                 b'{"cmd": "' + b"[" * 5000, b"\x1b[2J", b"set_madvise MADV_BOGUS"]


def _workload(*flags: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workloads", "--pattern", "steady", "--size", "4MiB",
                             "--arena-size", "4MiB", *flags], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)


MARKER = b'{"cmd": "alloc", "bytes": 0}'  # always refused: its reply marks that every line before it was handled


def _replies_until_marker(proc: subprocess.Popen, timeout_s: float = 20.0) -> list[dict]:
    """Messages up to the marker's error reply (a reader thread: a wedged workload fails the test, not hangs it)."""
    got: list[dict] = []
    done = threading.Event()

    def read() -> None:
        for raw in proc.stdout:
            got.append(json.loads(raw))
            if got[-1]["type"] == "error" and got[-1]["message"].endswith("got 0"):
                break
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(timeout_s), f"no reply to the marker; the last messages: {got[-3:]}"
    return got


def test_a_real_workload_answers_junk_commands_and_keeps_running():
    proc = _workload()
    try:
        proc.stdin.write(b"\n".join(JUNK_COMMANDS) + b'\n{"cmd": "gc"}\n' + MARKER + b"\n")
        proc.stdin.flush()
        replies = _replies_until_marker(proc)
        errors = [m["message"] for m in replies if m["type"] == "error"]
        assert len(errors) == len(JUNK_COMMANDS) + 1, errors  # one reply per junk line, and the marker's
        assert any("not UTF-8 (byte 0xff" in e for e in errors) and any("100001 bytes" in e for e in errors)
        assert any("more than half of MemAvailable" in e for e in errors)  # alloc 64TiB, refused before mmap
        assert any(m["type"] == "event" and m.get("event") == "gc" for m in replies), "the gc after the junk"
        assert proc.poll() is None, "the workload exited after junk commands"
    finally:
        proc.kill()
        proc.wait()


@settings(max_examples=20, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(JUNK_COMMANDS),
                                st.builds(lambda cmd, v: json.dumps({"cmd": cmd, "value": v, "bytes": v}).encode(),
                                          st.sampled_from([*protocol.COMMANDS, "bogus"]),
                                          st.one_of(st.text(max_size=8), st.integers(-5, 1 << 20), st.none()))),
                      min_size=1, max_size=6))
def _junk_commands_to_a_real_workload(lines):
    lines = [line.replace(b"\n", b" ") for line in lines if b"exit" not in line]  # exit would end it, rightly
    proc = _workload()
    try:
        proc.stdin.write(b"\n".join(lines) + b"\n" + MARKER + b"\n")
        proc.stdin.flush()
        _replies_until_marker(proc)
        assert proc.poll() is None, "the workload exited on junk commands"
    finally:
        proc.kill()
        proc.wait()
    count("junk commands to a real workload", "answered, still running")


def test_junk_commands_to_real_workloads_fuzzed():
    before = total("junk commands to a real workload")
    _junk_commands_to_a_real_workload()
    assert total("junk commands to a real workload") - before >= 20


@settings(FUZZ, max_examples=800)
@given(line=st.one_of(st.sampled_from(["gc", "scavenge", "alloc 64MiB", "free", "pause", "resume",
                                       "set_madvise MADV_DONTNEED", '{"cmd": "alloc", "bytes": 4096}',
                                       '{"cmd": "set_madvise", "value": "MADV_FREE"}', '{"cmd": "gc"}']),
                      st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace")), st.text(max_size=200),
                      st.builds(lambda d: json.dumps(d), st.dictionaries(st.sampled_from(["cmd", "value", "bytes", "x"]),
                                                                         ODD_VALUES, max_size=4))))
def _decode_command(line):
    try:
        command = protocol.decode_command(line)
    except protocol.BadCommand as error:
        assert str(error)
        count("commands decoded (in-process)", "refused with a reason")
    else:
        assert command.cmd in protocol.COMMANDS
        if command.cmd == "alloc":
            assert isinstance(command.args["bytes"], int) and command.args["bytes"] > 0
        count("commands decoded (in-process)", "valid")


def test_junk_commands_in_process():
    before = total("commands decoded (in-process)")
    _decode_command()
    assert total("commands decoded (in-process)") - before >= 800
    assert CASES["commands decoded (in-process): valid"] > 0, "the generator never made a valid command"
