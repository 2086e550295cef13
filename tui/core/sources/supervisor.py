"""Spawn, command and watch the workload processes; their output becomes immutable messages for the Lab."""

from __future__ import annotations

import atexit
import codecs
import ctypes
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from tui.core.config import WorkloadConfig
from tui.core.vocabulary import trace_kind
from workloads import protocol
from workloads.allocators import NATIVE_KINDS

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
MAX_LINE_CHARS = 2000  # a runaway child cannot flood the trace pane with one giant line
READ_LIMIT_CHARS = protocol.MAX_MESSAGE_CHARS  # the reader never holds more of one line than this (bounded memory)
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # surrogateescape: the bytes of the output that were not UTF-8
READ_CHUNK_BYTES = 64 * 1024  # one os.read takes what the pipe holds, up to this: one wake-up per write of a child
# A read that ends inside a line waits this long before the next: the line's rest is on its way (Go's runtime prints
# a gctrace line in ~40 writes; a flood fills 64 KiB reads), and one wake-up then takes it and what followed.
PIECES_WAIT_S = 0.005
# With more children than this, a wake-up waits this long before it reads: the writes of one grid tick (see
# workloads.runtime.CLOCK_GRID_S) come over a few milliseconds, and one read of each ready pipe then takes them all.
GATHER_FROM_CHILDREN, GATHER_S = 2, 0.01


def _too_long(chars: int, limit: int) -> str:
    return f"a line of {chars} characters (at most {limit}), dropped"


class LineSplitter:
    """A pipe's bytes, as they come, → (line, problem) per line: UTF-8 with surrogateescape (bytes that were not
    UTF-8 survive, so printable() can name them), lines ended by \\n, \\r\\n or \\r (as Popen's text mode did).

    Bounded memory: a line longer than `limit` characters is dropped (its first 80 kept to show) with the problem
    named, however long it is; the splitter holds at most `limit` characters of an unfinished line. A last line
    cut off by the exit comes from end() as it is (decode then says it is truncated).
    """

    def __init__(self, limit: int = READ_LIMIT_CHARS) -> None:
        self.limit = limit
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")  # keeps a character cut by a read
        self._pending = ""  # the unfinished line (≤ limit characters)
        self._after_cr = False  # the last text ended with a CR: an LF first in the next one ends no other line
        self._drop_head: str | None = None  # while dropping an over-long line: its first characters...
        self._drop_chars = 0  # ...and how many it has had so far

    def feed(self, data: bytes | memoryview) -> list[tuple[str, str | None]]:
        """The lines `data` completes (with what came before it)."""
        return self._split(self._decoder.decode(data))

    def end(self) -> list[tuple[str, str | None]]:
        """At the end of the stream: the lines still held (a last line without its newline)."""
        lines = self._split(self._decoder.decode(b"", True))
        if self._drop_head is not None:
            lines.append((self._drop_head, _too_long(self._drop_chars, self.limit)))
            self._drop_head = None
        elif self._pending:
            lines.append((self._pending, None))
        self._pending = ""
        return lines

    def _split(self, text: str) -> list[tuple[str, str | None]]:
        if not text:
            return []
        if self._after_cr:
            self._after_cr = False
            if text[0] == "\n":  # the LF of a CR LF that a read cut in two
                text = text[1:]
        if "\r" in text:
            self._after_cr = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        limit = self.limit
        lines: list[tuple[str, str | None]] = []
        if self._drop_head is not None:
            end = text.find("\n")
            if end < 0:
                self._drop_chars += len(text)
                return lines
            lines.append((self._drop_head, _too_long(self._drop_chars + end + 1, limit)))  # with its newline
            self._drop_head = None
            text = text[end + 1:]
        if self._pending:
            text = self._pending + text
        parts = text.split("\n")
        tail = parts.pop()
        head = min(80, limit + 1)  # what is shown of a dropped line (however reads cut it)
        for part in parts:
            lines.append((part, None) if len(part) <= limit else (part[:head], _too_long(len(part) + 1, limit)))
        if len(tail) > limit:
            self._drop_head, self._drop_chars, self._pending = tail[:head], len(tail), ""
        else:
            self._pending = tail
        return lines


def printable(line: str) -> tuple[str, str | None]:
    """The line as the trace pane can show it (bytes that were not UTF-8 as �, control characters escaped) and
    the encoding problem, if any."""
    if line.isascii():  # O(1) in CPython: no surrogates (undecodable bytes) in it, so no search for them
        return (line if line.isprintable() else _escaped(line)), None
    problem = None
    bad = _UNDECODABLE.search(line)
    if bad:
        byte = ord(bad.group()) - 0xDC00
        problem = f"not UTF-8 (byte 0x{byte:02x} at column {bad.start() + 1})"
        line = _UNDECODABLE.sub("\ufffd", line)
    return (line if line.isprintable() else _escaped(line)), problem


def _escaped(line: str) -> str:
    return "".join(ch if ch.isprintable() or ch == "\t" else repr(ch)[1:-1] for ch in line)


EXIT_GRACE_S = 1.0
# After a child's stdout ended, its process is looked for this often (doubling up to the max): it exits within
# milliseconds of closing its pipes, and a zombie is not worth a thread blocked in wait().
EXIT_POLL_MIN_S, EXIT_POLL_MAX_S = 0.005, 0.2

_prctl: Any
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: the child only calls it
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


def _name_thread(name: str) -> None:
    """Give the calling thread its name in the kernel too (top -H, /proc/PID/task/*/comm show it, not python3)."""
    if _prctl is not None:
        _prctl(PR_SET_NAME, name.encode("utf-8", "replace")[:15], 0, 0, 0)


# --- messages (from reader threads to the Lab) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spawned:
    """A workload process started (generation counts restarts)."""

    name: str
    pid: int
    generation: int
    t_s: float
    madvise: str


@dataclass(frozen=True, slots=True)
class Received:
    """One protocol message (a parsed JSON object with "type") from a workload's stdout."""

    name: str
    pid: int
    generation: int
    t_s: float
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OutputLine:
    """A free-text line: stderr, or stdout that was not a protocol message. kind: gc, scav, other."""

    name: str
    pid: int
    generation: int
    t_s: float
    line: str
    kind: str
    stream: str  # "stderr" | "stdout"


@dataclass(frozen=True, slots=True)
class Exited:
    """A workload process ended; `requested` when we asked it to (stop, restart)."""

    name: str
    pid: int | None
    generation: int
    t_s: float
    exit_code: int | None
    last_error: str | None
    requested: bool


SupervisorMessage = Spawned | Received | OutputLine | Exited


def workload_command(workload: WorkloadConfig,
                     progress: Callable[[str], None] = lambda message: None) -> tuple[list[str], dict[str, str] | None]:
    """argv and environment (None: inherit) for one workload; raises with a one-line reason."""
    if workload.kind == "go":
        from tui.core.golang.toolchain import go_command  # lazily: building Go is only for kind go

        argv, env = go_command(workload.options, progress)
        return list(argv), env
    if workload.kind in NATIVE_KINDS:
        from workloads.allocator_env import environment  # LD_PRELOAD and the allocator's settings, read at start

        env = environment(workload.kind, workload.options)  # AllocatorUnavailable: "jemalloc not installed: ..."
        env["MADVISE_LAB_PRELOADED"] = "1"  # the workload must not set it up again
        return [sys.executable, "-m", "workloads", "--kind", workload.kind, *workload.argv()], env
    return [sys.executable, "-m", "workloads", *workload.argv()], None


def _child_setup(parent_pid: int, extra: Callable[[], None] | None) -> Callable[[], None]:
    def setup() -> None:
        # Runs in the child between fork and exec: die with the dashboard, even on SIGKILL.
        if _prctl is not None:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the dashboard died before prctl took hold
            os._exit(1)
        if extra is not None:
            extra()
    return setup


class _Child:
    """One running process, its pipes and what its reading learnt (the end of each, its last error)."""

    def __init__(self, name: str, generation: int, proc: subprocess.Popen) -> None:
        self.name = name
        self.generation = generation
        self.proc = proc
        # spawned with stdin, stdout and stderr pipes: never None
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self.stdin, self.stdout, self.stderr = proc.stdin, proc.stdout, proc.stderr
        self.write_lock = threading.Lock()
        self.last_error: str | None = None
        self.last_stderr: str | None = None
        self.requested_exit = False
        self.stdout_ended_s: float | None = None  # monotonic, when its stdout ended (then it is waited for)
        self.stderr_ended = False
        self.exited = threading.Event()  # reaped, and its Exited message sent


class Supervisor:
    """One child process per workload. Spawns happen on one long-lived thread: PR_SET_PDEATHSIG fires when the
    *thread* that forked the child ends, so a short-lived worker thread must never fork a workload.

    `on_message` gets one message at a time; `on_batch`, when given, gets what a reader took from one read of a
    pipe (in order, never empty) in one call, so a churn's tick of messages costs one hand-off, not one each.
    """

    def __init__(self, workloads: tuple[WorkloadConfig, ...] | list[WorkloadConfig],
                 on_message: Callable[[SupervisorMessage], None], *, t0: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_raw: Callable[..., None] | None = None,
                 on_batch: Callable[[Sequence[SupervisorMessage]], None] | None = None) -> None:
        self._configs = {w.name: w for w in workloads}
        self._on_message = on_message
        self._on_batch = on_batch
        self._on_raw = on_raw
        self._clock = clock
        self._t0 = clock() if t0 is None else t0
        self._children: dict[str, _Child] = {}
        self._generations = {name: 0 for name in self._configs}
        self._lock = threading.Lock()
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="madvise-lab-spawn")
        self._stopped = False
        self._preexec: dict[str, Callable[[], None] | None] = {}
        self._readers = _Readers(self)
        atexit.register(self.stop)

    def t_s(self) -> float:
        return self._clock() - self._t0

    def set_epoch(self, t0: float) -> None:
        """Time messages from `t0` (the source's start), so samples and messages share one time axis."""
        self._t0 = t0

    def set_preexec(self, name: str, preexec_extra: Callable[[], None] | None) -> None:
        """What the workload's next spawn runs in the child before exec (e.g. join its memory cgroup)."""
        self._preexec[name] = preexec_extra

    def generation(self, name: str) -> int:
        """How many times the workload was spawned: messages of older generations are stale."""
        return self._generations[name]

    def config(self, name: str) -> WorkloadConfig:
        return self._configs[name]

    def pid(self, name: str) -> int | None:
        child = self._children.get(name)
        return child.proc.pid if child is not None and not child.exited.is_set() else None

    # --- lifecycle ---

    def start(self, name: str, preexec_extra: Callable[[], None] | None = None):
        """Spawn `name` on the spawner thread; returns a Future (result: pid, or None when it failed)."""
        self._preexec[name] = preexec_extra
        return self._submit(self._spawn, name)

    def restart(self, name: str, options_override: Mapping[str, Any] | None = None):
        """Stop `name` (if running) and start it again, optionally with other options; returns a Future."""
        if options_override:
            self._configs[name] = self._configs[name].with_options(options_override)
        return self._submit(self._restart, name)

    def _submit(self, fn, name: str):
        if self._stopped:
            from concurrent.futures import Future

            future: Future = Future()
            future.set_result(None)
            return future
        return self._spawner.submit(fn, name)

    def _restart(self, name: str) -> int | None:
        child = self._children.get(name)
        if child is not None:
            self._end(child)
        return self._spawn(name)

    def _spawn(self, name: str) -> int | None:
        if self._stopped:
            return None
        workload = self._configs[name]
        with self._lock:
            self._generations[name] += 1
            generation = self._generations[name]
        try:
            argv, env = workload_command(workload, lambda text: self._emit_line(name, None, generation, text))
            proc = subprocess.Popen(
                # binary pipes: the readers take each write whole with os.read and decode it themselves
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, close_fds=True,
                start_new_session=True,  # Ctrl+C in the terminal reaches the dashboard, which stops them in order
                preexec_fn=_child_setup(os.getpid(), self._preexec.get(name)),
            )
        except Exception as error:  # noqa: BLE001 - any failure to start is shown, never raised into the UI
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            self._on_message(Exited(name, None, generation, self.t_s(), None, f"could not start: {reason}", False))
            return None
        child = _Child(name, generation, proc)
        with self._lock:
            self._children[name] = child
        if self._stopped:  # stop() ran while this spawn was under way
            child.requested_exit = True
            _kill(proc)
        self._on_message(Spawned(name, proc.pid, generation, self.t_s(), workload.madvise))
        self._readers.add(child)
        return proc.pid

    def _emit_line(self, name: str, pid: int | None, generation: int, text: str) -> None:
        self._on_message(OutputLine(name, pid or 0, generation, self.t_s(), f"lab: {text}", "lab", "stdout"))

    # --- reading (one thread for every child's pipes: _Readers) ---

    def _deliver(self, batch: Sequence[SupervisorMessage]) -> None:
        if self._on_batch is not None:
            self._on_batch(batch)
        else:
            for message in batch:
                self._on_message(message)

    def _stdout_messages(self, child: _Child, pid: int, t_s: float,
                         lines: list[tuple[str, str | None]]) -> list[SupervisorMessage]:
        """The messages of one read of stdout, in order; each one also goes to the recorder hook."""
        batch: list[SupervisorMessage] = []
        name, generation, on_raw = child.name, child.generation, self._on_raw
        for raw, problem in lines:
            if not raw:
                continue
            if raw.isascii() and raw.isprintable():  # a message of ours: printable() would return it as it is
                line = raw
            else:
                line, encoding_problem = printable(raw)
                problem = problem or encoding_problem
            if problem is None and not line.startswith("{"):
                # a print() of the workload's, not a message: shown as it is
                batch.append(OutputLine(name, pid, generation, t_s, line[:MAX_LINE_CHARS], "other", "stdout"))
                continue
            try:
                if problem is not None:
                    raise protocol.BadMessage(f"{problem}: {line[:80]!r}")
                data = protocol.decode_message(line)
            except protocol.BadMessage as error:
                batch.append(self._bad_message(child, t_s, str(error)))
                continue
            if data["type"] == "error":
                child.last_error = str(data.get("message", ""))[:MAX_LINE_CHARS]
            if on_raw is not None:
                try:
                    on_raw(name, data)
                except Exception:  # noqa: BLE001 - a recorder bug must not stop the reader
                    pass
            batch.append(Received(name, pid, generation, t_s, data))
        return batch

    def _bad_message(self, child: _Child, t_s: float, reason: str) -> OutputLine:
        """A stdout line that is not a valid message."""
        return self._lab_error(child, t_s, f"lab: bad message from the workload: {reason}", "stdout")

    def _lab_error(self, child: _Child, t_s: float, text: str, stream: str) -> OutputLine:
        """An error of ours about a workload's output: an error line for the trace pane, and one in events.jsonl."""
        text = text[:MAX_LINE_CHARS]
        if self._on_raw is not None:
            try:
                self._on_raw(child.name, {"type": "lab_error", "t": round(t_s, 6), "message": text})
            except Exception:  # noqa: BLE001 - a recorder bug must not stop the reader
                pass
        return OutputLine(child.name, child.proc.pid, child.generation, t_s, text, "error", stream)

    def _stderr_messages(self, child: _Child, t_s: float, lines: list[tuple[str, str | None]]) -> list[OutputLine]:
        """The trace lines of one read of stderr, in order (blank lines dropped)."""
        batch: list[OutputLine] = []
        pid, name, generation = child.proc.pid, child.name, child.generation
        for raw, problem in lines:
            line = (printable(raw)[0] + (f" [{problem}]" if problem else ""))[:MAX_LINE_CHARS]
            if line.strip():
                batch.append(OutputLine(name, pid, generation, t_s, line, trace_kind(line), "stderr"))
        if batch:
            child.last_stderr = batch[-1].line
        return batch

    def _exited(self, child: _Child) -> Exited:
        """The exit of a child whose stdout ended and whose process was reaped."""
        code = child.proc.returncode
        last_error = child.last_error if child.last_error else child.last_stderr
        if code == 0 and child.requested_exit:
            last_error = child.last_error
        return Exited(child.name, child.proc.pid, child.generation, self.t_s(), code, last_error,
                      child.requested_exit)

    # --- commands ---

    def send(self, name: str, cmd: str, **fields: Any) -> bool:
        """Write one command line to the workload; False when it is not running (a dead pipe is not an error)."""
        child = self._children.get(name)
        if child is None or child.exited.is_set():
            return False
        payload = (protocol.encode_command(cmd, **fields) + "\n").encode()
        with child.write_lock:
            try:
                child.stdin.write(payload)
                child.stdin.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                return False

    def _end(self, child: _Child, grace_s: float = EXIT_GRACE_S) -> None:
        """Ask politely (exit, then closed stdin), then SIGKILL; waits for the reader to report the exit."""
        self._ask_to_exit(child)
        try:
            child.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            _kill(child.proc)
        child.exited.wait(grace_s + 1.0)

    def _ask_to_exit(self, child: _Child) -> None:
        """The `exit` command, then a closed stdin (which a workload also takes as the dashboard gone)."""
        child.requested_exit = True
        if child.proc.poll() is not None:
            return
        self.send(child.name, "exit")
        with child.write_lock:
            try:
                child.stdin.close()
            except (OSError, ValueError):
                pass

    def stop(self) -> None:
        """Exit every workload (≤ 1 s grace, then SIGKILL). Idempotent; safe from signal handlers and atexit."""
        if self._stopped:
            return
        self._stopped = True
        self._spawner.shutdown(wait=False, cancel_futures=True)
        children = list(self._children.values())
        for child in children:
            self._ask_to_exit(child)
        deadline = time.monotonic() + EXIT_GRACE_S
        for child in children:
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill(child.proc)
        for child in children:
            try:
                child.proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass
            child.exited.wait(0.5)
        atexit.unregister(self.stop)


class _Stream:
    """One pipe of a child, as the reader thread holds it."""

    __slots__ = ("child", "fd", "is_stdout", "splitter")

    def __init__(self, child: _Child, fd: int, is_stdout: bool) -> None:
        self.child, self.fd, self.is_stdout = child, fd, is_stdout
        self.splitter = LineSplitter()


class _Readers:
    """One thread reads the stdout and stderr of every child (epoll), and reports each child's exit.

    Why one: a thread's wake-up costs ~0.1 ms of CPU whatever it does, and two threads per workload woke ~11 times a
    second each (a churn writes once a tick); at 16 workloads that was ~176 wake-ups a second. One thread takes
    every pipe that is ready in one wake-up, and workloads step on a shared 100 ms grid (workloads.runtime), so
    their writes come together. The thread exists while any child has a pipe open or an exit to report.
    """

    def __init__(self, supervisor: "Supervisor") -> None:
        self._supervisor = supervisor
        self._lock = threading.Lock()
        self._epoll: select.epoll | None = None  # the running thread's (None: no thread)
        self._streams: dict[int, _Stream] = {}  # fd → stream, while it is open
        self._ending: list[_Child] = []  # stdout ended, Exited not sent yet
        # One buffer for every read: a fresh 64 KiB bytes a read, shrunk to the few hundred bytes read, fragments
        # the reader thread's malloc arena (the dashboard's RSS grew ~6 MiB a minute under bench 14's flood).
        self._buffer = bytearray(READ_CHUNK_BYTES)

    def add(self, child: _Child, start_thread: bool = True) -> None:
        """Read `child`'s stdout and stderr from now on (a thread starts if none runs; `start_thread` False: the
        caller runs `run()` itself, as the readers benchmark does)."""
        streams = (_Stream(child, child.stdout.fileno(), True), _Stream(child, child.stderr.fileno(), False))
        with self._lock:
            epoll, start = self._epoll, self._epoll is None
            if epoll is None:
                epoll = self._epoll = select.epoll()
            for stream in streams:
                self._streams[stream.fd] = stream  # before the epoll knows it: the thread looks it up at once
                epoll.register(stream.fd, select.EPOLLIN)
        if start and start_thread:
            threading.Thread(target=self.run, name="madvise-lab-read", daemon=True).start()

    def run(self) -> None:
        """The reader thread: until no child has a pipe open or an exit to report."""
        _name_thread("madvise-lab-read")
        epoll = self._epoll
        assert epoll is not None
        view = memoryview(self._buffer)
        exit_wait_s = EXIT_POLL_MIN_S
        while True:
            with self._lock:
                if not self._streams and not self._ending:
                    self._epoll = None  # the next add() starts a thread with a new epoll
                    epoll.close()
                    return
            events = epoll.poll(exit_wait_s if self._ending else -1)
            if events and len(self._streams) > 2 * GATHER_FROM_CHILDREN:
                time.sleep(GATHER_S)  # the other children's writes of this grid tick are on their way
                events = epoll.poll(0)
            batch: list[SupervisorMessage] = []
            in_pieces = False  # a read ended inside a line: its rest is on the way
            for fd, _mask in events:
                stream = self._streams.get(fd)
                if stream is None:
                    continue
                try:
                    in_pieces |= self._read(stream, view, batch)
                except Exception as error:  # noqa: BLE001 - a bug in one read must not stop every workload's
                    batch.append(self._supervisor._lab_error(stream.child, self._supervisor.t_s(),
                                                             f"lab: reading its output failed: {error!r}",
                                                             "stdout" if stream.is_stdout else "stderr"))
            if self._ending:
                exits = self._reap()
                if exits:
                    exit_wait_s = EXIT_POLL_MIN_S
                    batch.extend(exits)
                elif not events:
                    exit_wait_s = min(2 * exit_wait_s, EXIT_POLL_MAX_S)
            if batch:
                self._supervisor._deliver(batch)  # one hand-off for what every pipe said in this wake-up
            if in_pieces:
                time.sleep(PIECES_WAIT_S)

    def _read(self, stream: _Stream, view: memoryview, batch: list[SupervisorMessage]) -> bool:
        """One read of a ready pipe into `batch`; True when it ended inside a line."""
        sup, child = self._supervisor, stream.child
        try:
            n_bytes = os.readv(stream.fd, (self._buffer,))  # takes the whole write (up to READ_CHUNK_BYTES)
        except OSError:
            n_bytes = 0  # the pipe is gone: as its end
        lines = stream.splitter.feed(view[:n_bytes]) if n_bytes else stream.splitter.end()
        if lines:
            t_s = sup.t_s()  # one clock read per read: its lines arrived together
            if stream.is_stdout:
                batch.extend(sup._stdout_messages(child, child.proc.pid, t_s, lines))
            else:
                batch.extend(sup._stderr_messages(child, t_s, lines))
        if n_bytes:
            return self._buffer[n_bytes - 1] not in b"\n\r"
        with self._lock:  # the end of this pipe
            del self._streams[stream.fd]
            if self._epoll is not None:
                try:
                    self._epoll.unregister(stream.fd)
                except OSError:  # closed already: the epoll forgot it itself
                    pass
            if stream.is_stdout:
                child.stdout_ended_s = time.monotonic()
                self._ending.append(child)
            else:
                child.stderr_ended = True
        return False

    def _reap(self) -> list[Exited]:
        """Exited for each child whose stdout ended, whose stderr ended too (or had EXIT_GRACE_S to: the
        traceback on stderr is the last error of a crash) and whose process was reaped."""
        now_s, done = time.monotonic(), []
        for child in list(self._ending):
            assert child.stdout_ended_s is not None
            if not child.stderr_ended and now_s - child.stdout_ended_s < EXIT_GRACE_S:
                continue
            if child.proc.poll() is None:  # not reaped yet (or another thread is in wait() right now)
                continue
            self._ending.remove(child)
            child.exited.set()
            done.append(self._supervisor._exited(child))
        return done


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: anything it forked goes too
    except OSError:
        try:
            proc.kill()
        except OSError:
            pass
    try:
        proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        pass
