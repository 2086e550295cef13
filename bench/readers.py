"""`python3 -m bench.readers`: a workload reader of the supervisor through a real pipe, old path against today's.

The input is recorded churn output (`python3 -m workloads --pattern churn --live 48MiB --madvise MADV_FREE
--scavenger paced --trace-format go1.19`, 6 s, or --input FILE), cut into the writes the workload made (it flushes
once a tick: lines less than 2 ms apart went in one write). A feeder child writes them into a real pipe; the
reader runs on its own thread and hands messages to a real (unstarted) Lab, which a front-end-like loop polls at
most every 250 ms after a wake-up through a self-pipe, as the app does. Figures: the reader thread's CPU
(CLOCK_THREAD_CPUTIME_ID, user + system) per line, and lines/s.

  churn   each recorded write alone, 25 ms apart (a churning workload writes ~21 times a second): the reader
          sleeps between writes, so each wake-up finds cold caches, as in the dashboard
  hot     the same 2 ms apart: the per-line work with warm caches
  flood   everything at once (the pipe stays full): what one reader can take, lines/s
  stderr  the recorded gctrace/scavenger texts on stderr, 1 ms apart, each in pieces as Go's runtime prints them

old: the code before issue 16, kept here only to compare (text-mode Popen, TextIOWrapper.readline with a limit,
the regex and isprintable per line, the decoder's checks as they were, one Lab hand-off and queue put per line).
new: the supervisor's reader as it is (_Readers: one epoll thread for every pipe, one read per ready pipe into a reused
buffer, LineSplitter, one batch per wake-up, a 5 ms wait after a read that ends inside a line).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import select
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from bench.common import Result, median

REPO = Path(__file__).resolve().parent.parent
RECORD_COMMAND = ("sleep 8 | timeout 6 {python} -m workloads --pattern churn --live 48MiB --madvise MADV_FREE "
                  "--scavenger paced --trace-format go1.19")
WRITE_GAP_S = 0.002  # lines of one tick come within ~1 ms; ticks are >= 10 ms apart
CHURN_PACE_S = 0.025  # a churning workload writes ~21 times a second; half that gap keeps the run short
HOT_PACE_S = 0.002
STDERR_PACE_S = 0.001  # Go prints each gctrace line with its own write; bench 14 floods ~2,000 a second
FRAME_S = 0.25  # the app's redraw_interval in examples/churn.yaml
ROUNDS = 3
CONFIG = """\
sample_interval: 100ms
workloads:
  - {name: free, pattern: churn, live: 48MiB, madvise: MADV_FREE, scavenger: paced, trace_format: go1.19}
"""
FEEDER = r"""
import os, pickle, sys, time
writes, pace_s, fd = pickle.load(open(sys.argv[1], "rb")), float(sys.argv[2]), int(sys.argv[3])
sys.stdin.buffer.read(1)  # the go: the reader is waiting
for item in writes:
    for data in ([item] if isinstance(item, bytes) else item):  # a list: written piece by piece, back to back
        while data:
            data = data[os.write(fd, data):]
    if pace_s:
        time.sleep(pace_s)
"""


# --- the input ------------------------------------------------------------------------------------------------


def record(path: Path) -> None:
    command = RECORD_COMMAND.format(python=shlex.quote(sys.executable))
    with open(path, "wb") as out:
        subprocess.run(command, shell=True, stdout=out, cwd=REPO, check=False,
                       env={**os.environ, "PYTHONPATH": str(REPO)})


def recorded_writes(path: Path) -> list[bytes]:
    """The recording cut where the workload's writes were: a new write after a gap of more than WRITE_GAP_S."""
    writes: list[list[bytes]] = []
    last_t = None
    for raw in path.read_bytes().splitlines(keepends=True):
        t = json.loads(raw)["t"]
        if last_t is None or t - last_t > WRITE_GAP_S:
            writes.append([])
        writes[-1].append(raw)
        last_t = t
    return [b"".join(lines) for lines in writes]


def repeated(writes: list[bytes], times: int) -> list[bytes]:
    """The recording `times` over; the hello only the first time (a real workload says it once)."""
    again = [b"".join(line for line in w.splitlines(keepends=True) if b'"type":"hello"' not in line) for w in writes]
    return writes + [w for _ in range(times - 1) for w in again if w]


def stderr_writes(writes: list[bytes]) -> list[list[bytes]]:
    """The recorded gctrace and scavenger lines as Go's runtime prints them on stderr: a write per number and per
    text between numbers (~40 for a gc line), back to back."""
    texts = [json.loads(line)["line"] + "\n" for w in writes for line in w.splitlines() if b'"type":"trace"' in line]
    return [[piece.encode() for piece in re.findall(r"\d+|\D+", text)] for text in texts]


# --- the code before issue 16 (only here, to compare) ------------------------------------------------------------

_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _old_read_lines(stream: Any, limit: int) -> Iterator[tuple[str, str | None]]:
    while True:
        chunk = stream.readline(limit + 1)
        if not chunk:
            return
        if chunk.endswith("\n") or len(chunk) <= limit:
            yield chunk.rstrip("\n"), None
            continue
        head, total = chunk[:80], len(chunk)
        while chunk and not chunk.endswith("\n"):
            chunk = stream.readline(limit + 1)
            total += len(chunk)
        yield head, f"a line of {total} characters (at most {limit}), dropped"


def _old_printable(line: str) -> tuple[str, str | None]:
    problem = None
    bad = _UNDECODABLE.search(line)
    if bad:
        byte = ord(bad.group()) - 0xDC00
        problem = f"not UTF-8 (byte 0x{byte:02x} at column {bad.start() + 1})"
        line = _UNDECODABLE.sub("\ufffd", line)
    if not line.isprintable():
        line = "".join(ch if ch.isprintable() or ch == "\t" else repr(ch)[1:-1] for ch in line)
    return line, problem


def _old_decode_message(line: str) -> dict[str, Any]:
    from workloads.protocol import MAX_MESSAGE_CHARS, MESSAGE_TYPES, STATS_FIELDS, TRACE_KINDS, BadMessage

    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value

    if len(line) > MAX_MESSAGE_CHARS:
        raise BadMessage("too long")
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        raise BadMessage("not JSON") from None
    if not isinstance(data, dict):
        raise BadMessage("not an object")
    type_ = data.get("type")
    if type_ not in MESSAGE_TYPES:
        raise BadMessage("type")
    if not number(data.get("t")):
        raise BadMessage("t")
    if type_ == "stats":
        for f in STATS_FIELDS:
            value = data.get(f.name)
            if not isinstance(value, f.type) or isinstance(value, bool) or (isinstance(value, int) and value < 0):
                raise BadMessage(f.name)
    elif type_ == "trace":
        if not isinstance(data.get("line"), str) or data.get("kind") not in TRACE_KINDS:
            raise BadMessage("trace")
    elif type_ == "event" and not isinstance(data.get("event"), str):
        raise BadMessage("event")
    elif type_ == "error" and not isinstance(data.get("message"), str):
        raise BadMessage("error")
    elif type_ == "spans" and not (isinstance(data.get("arenas"), list) and isinstance(data.get("page_bytes"), int)):
        raise BadMessage("spans")
    elif type_ == "hello" and not (isinstance(data.get("pid"), int) and data["pid"] > 0):
        raise BadMessage("hello")
    return data


def _old_put(queue: Any, item: Any, wake: bool = True, urgent: bool = False) -> None:
    call = False
    with queue._lock:
        if len(queue._items) == queue._items.maxlen:
            queue.dropped_items += 1
        queue._items.append(item)
        if urgent:
            queue._urgent = True
        if wake and (not queue._notified or (urgent and not queue._notified_urgent)):
            queue._notified = call = True
            queue._notified_urgent = urgent
    if call and queue._notify is not None:
        queue._notify()


def _old_on_received(lab: Any, message: Any) -> None:
    from tui.core.sources.live import URGENT_MESSAGES

    data = message.data
    kind = data.get("type")
    if kind == "hello" and isinstance(data.get("pid"), int) and data["pid"] != message.pid:
        lab._watch(message.name, data["pid"])
    urgent = kind in URGENT_MESSAGES
    if kind == "event" and lab._moves_pages(message.name, data):  # today's rule in both: only the reader differs
        pid = lab._sampled_pid.get(message.name)
        if pid is not None and lab._sampler.invalidate(pid):
            urgent = False
    wake = True
    if kind == "stats":
        figures = {key: value for key, value in data.items() if key != "t"}
        wake = figures != lab._last_stats.get(message.name)
        lab._last_stats[message.name] = figures
    _old_put(lab._queue, message, wake=wake, urgent=urgent)


def _old_read_stdout(sup: Any, lab: Any, child: Any) -> None:
    from tui.core.sources.supervisor import MAX_LINE_CHARS, READ_LIMIT_CHARS, OutputLine, Received
    from workloads.protocol import BadMessage

    pid = child.proc.pid
    for raw, problem in _old_read_lines(child.stdout, READ_LIMIT_CHARS):
        if not raw:
            continue
        t_s = sup.t_s()
        line, encoding_problem = _old_printable(raw)
        problem = problem or encoding_problem
        if problem is None and not line.startswith("{"):
            _old_put(lab._queue, OutputLine(child.name, pid, child.generation, t_s, line[:MAX_LINE_CHARS], "other",
                                            "stdout"))
            continue
        try:
            if problem is not None:
                raise BadMessage(problem)
            data = _old_decode_message(line)
        except BadMessage:
            continue
        if data.get("type") == "error":
            child.last_error = str(data.get("message", ""))[:MAX_LINE_CHARS]
        _old_on_received(lab, Received(child.name, pid, child.generation, t_s, data))


def _old_read_stderr(sup: Any, lab: Any, child: Any) -> None:
    from tui.core.sources.supervisor import MAX_LINE_CHARS, READ_LIMIT_CHARS, OutputLine
    from tui.core.vocabulary import trace_kind

    for raw, problem in _old_read_lines(child.stderr, READ_LIMIT_CHARS):
        line = (_old_printable(raw)[0] + (f" [{problem}]" if problem else ""))[:MAX_LINE_CHARS]
        if not line.strip():
            continue
        child.last_stderr = line
        _old_put(lab._queue, OutputLine(child.name, child.proc.pid, child.generation, sup.t_s(), line,
                                        trace_kind(line), "stderr"))


# --- one run -----------------------------------------------------------------------------------------------------


def run_reader(path: str, stream: str, writes: list[Any], pace_s: float) -> dict[str, float]:
    """Feed `writes` through a real pipe into the reader of `stream` by `path` (old, new); its figures."""
    from tui.core.config import parse_config
    from tui.core.sources.live import Lab
    from tui.core.sources.supervisor import Received, OutputLine, Spawned, _Child, _Readers

    lab = Lab(parse_config(CONFIG, "bench.yaml", mem_available_bytes=16 << 30))
    wake_r, wake_w = os.pipe()  # the front end's self-pipe (asyncio's call_soon_threadsafe writes one like it)
    lab.set_notify(lambda: os.write(wake_w, b"x"))
    delivered = {"messages": 0, "lines": 0}
    take = lab._queue.take

    def counting_take(max_items: int):
        items, more = take(max_items)
        delivered["messages"] += sum(isinstance(i, Received) for i in items)
        delivered["lines"] += sum(isinstance(i, OutputLine) for i in items)
        return items, more
    lab._queue.take = counting_take
    lab._t0 = time.monotonic()
    sup = lab._supervisor
    sup.set_epoch(lab._t0)
    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as file:
        pickle.dump(writes, file)
    fd = 1 if stream == "stdout" else 2
    text = path == "old"
    proc = subprocess.Popen([sys.executable, "-c", FEEDER, file.name, str(pace_s), str(fd)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
                            **({"text": True, "encoding": "utf-8", "errors": "surrogateescape", "bufsize": 1}
                               if text else {}))
    lab._on_supervisor(Spawned("free", proc.pid, 1, sup.t_s(), "MADV_FREE"))
    child = _Child("free", 1, proc)
    cpu: dict[str, float] = {}
    target: Callable[[], None]
    if text:
        target = (lambda: _old_read_stdout(sup, lab, child)) if stream == "stdout" else \
            (lambda: _old_read_stderr(sup, lab, child))
    else:  # today's reader, run on this bench's thread (it ends when both pipes ended and the exit was reported)
        readers = _Readers(sup)
        readers.add(child, start_thread=False)
        target = readers.run

    def timed() -> None:
        start = time.thread_time()
        target()
        cpu["reader_s"] = time.thread_time() - start
        cpu["ended"] = time.monotonic()

    reader = threading.Thread(target=timed, name=f"bench-{stream}")
    reader.start()
    time.sleep(0.05)
    started = time.monotonic()
    proc.stdin.write("g" if text else b"g")
    proc.stdin.flush()
    last_poll = 0.0
    while reader.is_alive():  # the front end: a wake-up, then a poll at the next frame
        if select.select([wake_r], [], [], FRAME_S)[0]:
            os.read(wake_r, 4096)
        time.sleep(max(0.0, last_poll + FRAME_S - time.monotonic()))
        last_poll = time.monotonic()
        lab.poll()
    proc.wait()
    elapsed_s = cpu["ended"] - started
    while lab._queue._items:
        lab.poll(100_000)
    os.unlink(file.name)
    os.close(wake_r)
    os.close(wake_w)
    lab._sampler.remove(proc.pid)
    lines = sum((w if isinstance(w, bytes) else b"".join(w)).count(b"\n") for w in writes)
    return {"lines": lines, "delivered": delivered["messages"] + delivered["lines"], "cpu_s": cpu["reader_s"],
            "us_per_line": 1e6 * cpu["reader_s"] / lines, "lines_per_s": lines / elapsed_s}


def compare(writes: list[bytes], rounds: int = ROUNDS) -> dict[str, dict[str, float]]:
    cases = {"churn": ("stdout", repeated(writes, 5), CHURN_PACE_S),
             "hot": ("stdout", repeated(writes, 20), HOT_PACE_S),
             "flood": ("stdout", repeated(writes, 300), 0.0),
             "stderr": ("stderr", stderr_writes(repeated(writes, 40)), STDERR_PACE_S)}
    figures: dict[str, dict[str, float]] = {}
    for case, (stream, feed, pace_s) in cases.items():
        runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
        for i in range(rounds):
            for path in (("old", "new") if i % 2 == 0 else ("new", "old")):  # alternate who goes first
                runs[path].append(run_reader(path, stream, feed, pace_s))
        for path, results in runs.items():
            if len({r["delivered"] for r in results}) != 1 or results[0]["delivered"] != results[0]["lines"]:
                raise AssertionError(f"{case} {path}: delivered {[r['delivered'] for r in results]} of "
                                     f"{results[0]['lines']} lines")
            figures[f"{case}_{path}"] = {"lines": results[0]["lines"],
                                         "us_per_line": median([r["us_per_line"] for r in results]),
                                         "lines_per_s": median([r["lines_per_s"] for r in results])}
    return figures


def run(input_path: str | None = None) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(input_path) if input_path else Path(tmp) / "churn.out"
        if not input_path:
            record(path)
        writes = recorded_writes(path)
    figures: dict[str, Any] = {"recorded_lines": sum(w.count(b"\n") for w in writes), "recorded_writes": len(writes)}
    figures.update(compare(writes))
    paced_old, paced_new = figures["churn_old"]["us_per_line"], figures["churn_new"]["us_per_line"]
    summary = (f"churn {paced_old:.1f} -> {paced_new:.1f} us/line, flood {figures['flood_old']['lines_per_s']:,.0f}"
               f" -> {figures['flood_new']['lines_per_s']:,.0f} lines/s, stderr "
               f"{figures['stderr_old']['us_per_line']:.1f} -> {figures['stderr_new']['us_per_line']:.1f} us/line")
    return Result(16, "reader threads: recorded churn through a real pipe", summary=summary,
                  goal="new below old", met=paced_new < paced_old, figures=figures)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python3 -m bench.readers", description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="recorded workload stdout (default: record 6 s of churn now)")
    args = parser.parse_args()
    result = run(args.input)
    f = result.figures
    print(f"input: {f['recorded_lines']} lines in {f['recorded_writes']} writes (recorded churn, 6 s)")
    print(f"{'case':8} {'path':4} {'lines':>7} {'CPU us/line':>12} {'lines/s':>10}")
    for key, value in f.items():
        if isinstance(value, dict):
            case, _, path = key.partition("_")
            print(f"{case:8} {path:4} {value['lines']:7} {value['us_per_line']:12.1f} {value['lines_per_s']:10,.0f}")
    print(result.summary)


if __name__ == "__main__":
    main()
