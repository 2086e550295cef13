"""Spawn, command and watch the workload processes; their output becomes immutable messages for the Lab."""

from __future__ import annotations

import atexit
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from tui.core.config import WorkloadConfig
from tui.core.vocabulary import trace_kind
from workloads import protocol
from workloads.allocators import NATIVE_KINDS

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
MAX_LINE_CHARS = 2000  # a runaway child cannot flood the trace pane with one giant line
READ_LIMIT_CHARS = protocol.MAX_MESSAGE_CHARS  # the reader never holds more of one line than this (bounded memory)
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # surrogateescape: the bytes of the output that were not UTF-8


def read_lines(stream: Any, limit: int = READ_LIMIT_CHARS) -> Iterator[tuple[str, str | None]]:
    """(line, problem) per line of a text stream, reading at most `limit` characters at a time: a longer line
    is dropped (its first characters kept to show) with the problem named, so memory stays bounded however long
    a line a child prints; a last line cut off by the exit comes as it is (decode then says it is truncated)."""
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


def printable(line: str) -> tuple[str, str | None]:
    """The line as the trace pane can show it (bytes that were not UTF-8 as �, control characters escaped) and
    the encoding problem, if any."""
    problem = None
    bad = _UNDECODABLE.search(line)
    if bad:
        byte = ord(bad.group()) - 0xDC00
        problem = f"not UTF-8 (byte 0x{byte:02x} at column {bad.start() + 1})"
        line = _UNDECODABLE.sub("\ufffd", line)
    if not line.isprintable():
        line = "".join(ch if ch.isprintable() or ch == "\t" else repr(ch)[1:-1] for ch in line)
    return line, problem
EXIT_GRACE_S = 1.0

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
    """One running process and its reader threads."""

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
        self.stderr_done = threading.Event()
        self.exited = threading.Event()


class Supervisor:
    """One child process per workload. Spawns happen on one long-lived thread: PR_SET_PDEATHSIG fires when the
    *thread* that forked the child ends, so a short-lived worker thread must never fork a workload."""

    def __init__(self, workloads: tuple[WorkloadConfig, ...] | list[WorkloadConfig],
                 on_message: Callable[[SupervisorMessage], None], *, t0: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_raw: Callable[..., None] | None = None) -> None:
        self._configs = {w.name: w for w in workloads}
        self._on_message = on_message
        self._on_raw = on_raw
        self._clock = clock
        self._t0 = clock() if t0 is None else t0
        self._children: dict[str, _Child] = {}
        self._generations = {name: 0 for name in self._configs}
        self._lock = threading.Lock()
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="madvise-lab-spawn")
        self._stopped = False
        self._preexec: dict[str, Callable[[], None] | None] = {}
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
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                # surrogateescape: bytes that are not UTF-8 survive decoding, so the reader can say which
                text=True, encoding="utf-8", errors="surrogateescape", bufsize=1, close_fds=True,
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
        threading.Thread(target=self._read_stderr, args=(child,), name=f"stderr-{name}", daemon=True).start()
        threading.Thread(target=self._read_stdout, args=(child,), name=f"stdout-{name}", daemon=True).start()
        return proc.pid

    def _emit_line(self, name: str, pid: int | None, generation: int, text: str) -> None:
        self._on_message(OutputLine(name, pid or 0, generation, self.t_s(), f"lab: {text}", "lab", "stdout"))

    # --- reader threads ---

    def _read_stdout(self, child: _Child) -> None:
        _name_thread(f"stdout-{child.name}")
        pid = child.proc.pid
        try:
            for raw, problem in read_lines(child.stdout):
                if not raw:
                    continue
                t_s = self.t_s()
                line, encoding_problem = printable(raw)
                problem = problem or encoding_problem
                if problem is None and not line.startswith("{"):
                    # a print() of the workload's, not a message: shown as it is
                    self._on_message(OutputLine(child.name, pid, child.generation, t_s, line[:MAX_LINE_CHARS],
                                                "other", "stdout"))
                    continue
                try:
                    if problem is not None:
                        raise protocol.BadMessage(f"{problem}: {line[:80]!r}")
                    data = protocol.decode_message(line)
                except protocol.BadMessage as error:
                    self._bad_message(child, t_s, str(error))
                    continue
                if data.get("type") == "error":
                    child.last_error = str(data.get("message", ""))[:MAX_LINE_CHARS]
                if self._on_raw is not None:
                    try:
                        self._on_raw(child.name, data)
                    except Exception:  # noqa: BLE001 - a recorder bug must not stop the reader
                        pass
                self._on_message(Received(child.name, pid, child.generation, t_s, data))
        except (OSError, ValueError):
            pass
        child.stderr_done.wait(EXIT_GRACE_S)  # the traceback on stderr is the last error of a crash
        code = child.proc.wait()
        child.exited.set()
        last_error = child.last_error if child.last_error else child.last_stderr
        if code == 0 and child.requested_exit:
            last_error = child.last_error
        self._on_message(Exited(child.name, pid, child.generation, self.t_s(), code, last_error,
                                child.requested_exit))

    def _bad_message(self, child: _Child, t_s: float, reason: str) -> None:
        """A stdout line that is not a valid message: an error line in the trace pane, and in events.jsonl."""
        text = f"lab: bad message from the workload: {reason}"[:MAX_LINE_CHARS]
        self._on_message(OutputLine(child.name, child.proc.pid, child.generation, t_s, text, "error", "stdout"))
        if self._on_raw is not None:
            try:
                self._on_raw(child.name, {"type": "lab_error", "t": round(t_s, 6), "message": text})
            except Exception:  # noqa: BLE001 - a recorder bug must not stop the reader
                pass

    def _read_stderr(self, child: _Child) -> None:
        _name_thread(f"stderr-{child.name}")
        try:
            for raw, problem in read_lines(child.stderr):
                line = (printable(raw)[0] + (f" [{problem}]" if problem else ""))[:MAX_LINE_CHARS]
                if not line.strip():
                    continue
                child.last_stderr = line
                self._on_message(OutputLine(child.name, child.proc.pid, child.generation, self.t_s(), line,
                                            trace_kind(line), "stderr"))
        except (OSError, ValueError):
            pass
        child.stderr_done.set()

    # --- commands ---

    def send(self, name: str, cmd: str, **fields: Any) -> bool:
        """Write one command line to the workload; False when it is not running (a dead pipe is not an error)."""
        child = self._children.get(name)
        if child is None or child.exited.is_set():
            return False
        payload = protocol.encode_command(cmd, **fields) + "\n"
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
