"""The workload process: pattern, heap, GC and scavenger driven by one loop on a monotonic clock, talking JSON lines."""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
from typing import Any, Callable

from workloads import madvise as mv
from workloads import protocol, trace
from workloads.gc import Pacer, collect
from workloads.heap import GO_PAGE_BYTES, Heap, Span
from workloads.patterns import make_pattern
from workloads.protocol import COMMANDS
from workloads.scavenger import Plan, Scavenger, release

GIB = 1 << 30
KEEPALIVE_S = 1.0  # stats are sent at least this often even when nothing changes
SPANS_INTERVAL_S = 1.0  # the span map (heap map) is sent at most this often, and only when it changed
# The scavenger's pass and the stats, when due this close to a pattern step, run in the step's tick: one write for
# the dashboard's reader to wake for, not two (a churn steps, scavenges and sends stats ten times a second each).
RIDE_ALONG_S = 0.05
_EOF = object()
_WAKE = object()  # put by a signal handler's helper thread: the loop looks at `stop` at once
# The loop sleeps until its next periodic work, a command or a signal; at most this long, for a parent that died
# without PR_SET_PDEATHSIG (the one thing only polling getppid() sees). Waking every 0.1 s made an idle workload
# look busy to the sampler (its CPU time moved every tick), which then never slowed down for it.
MAX_WAIT_S = 1.0
# Every workload's clock starts on the same grid of CLOCK_MONOTONIC, which all processes share: their ticks (a churn
# steps ten times a second, on multiples of 0.1 s) then come together, and the dashboard's one reader thread takes
# all their writes in one wake-up, not one each. Time 0 is thus up to this long before the process started.
CLOCK_GRID_S = 0.1


class Runtime(protocol.Speaker):
    """Everything one workload does, driven by `tick(now_s)` and `handle(command)`; the clock is the caller's."""

    def __init__(self, opts: dict[str, Any], write: Callable[[str], None], heap: Heap | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.opts = opts
        self.clock = clock or (lambda: self.now_s)  # message timestamps; decisions use now_s
        self.write = write
        self.heap = heap or Heap(opts["arena_size"])
        self.pacer = Pacer(opts["gogc"], opts["forced_gc_period"])
        self.scavenger = Scavenger(opts["scavenger"], opts["scavenge_period"], opts["scavenge_idle"])
        self.pattern = make_pattern(opts)
        self.mode = opts["madvise"]
        self.fmt = opts["trace_format"]
        self.garbage: list[Span] = []
        self.manual: list[Span] = []
        self.gc_count = 0
        self.gc_cpu_s = 0.0
        self.now_s = 0.0
        self.paused_at_s: float | None = None
        self.paused_total_s = 0.0
        self.pattern_next_s = 0.0
        self.last_stats: tuple | None = None
        self._scav_work = {"bg": 0, "eager": 0}  # Go >= 1.19 formats: scavenger work since the last GC's line
        self.last_stats_s = -1e9
        self.exit_reason: str | None = None
        self.spans_version = -1  # the heap's span-map version last sent
        self.last_spans_s = -1e9
        self._batch = {"alloc": 0, "reused": 0, "reuse_s": 0.0, "modes": {}}

    def send_stats(self) -> None:
        s = self.heap.stats()
        figures = self._figures()
        self.write(protocol.encode_stats(self.clock(), heap_inuse_bytes=s.inuse, heap_idle_bytes=s.idle,
                                         heap_released_bytes=s.released, heap_sys_bytes=s.sys,
                                         heap_goal_bytes=self.pacer.goal_bytes, gc_count=self.gc_count,
                                         madvise=self.mode))
        self.last_stats, self.last_stats_s = figures, self.now_s

    def _figures(self) -> tuple:
        s = self.heap.stats()
        return (s.inuse, s.idle, s.released, s.sys, self.pacer.goal_bytes, self.gc_count, self.mode)

    def next_stats_s(self) -> float:
        """Stats every stats_interval while figures change, every second otherwise."""
        changed = self._figures() != self.last_stats
        return self.last_stats_s + (min(self.opts["stats_interval"], KEEPALIVE_S) if changed else KEEPALIVE_S)

    def maybe_stats(self, stepped: bool = False) -> None:
        if self.now_s >= self._when(self.next_stats_s(), stepped):
            self.send_stats()

    def next_spans_s(self) -> float:
        """The span map goes out when it changed, at most once per SPANS_INTERVAL_S (coalesced in between)."""
        return self.last_spans_s + SPANS_INTERVAL_S if self.heap.version != self.spans_version else float("inf")

    def maybe_spans(self) -> None:
        if self.now_s >= self.next_spans_s():
            grain, arenas = self.heap.span_map()
            self.emit("spans", page_bytes=GO_PAGE_BYTES, grain=grain, arenas=arenas)
            self.spans_version, self.last_spans_s = self.heap.version, self.now_s

    def hello(self) -> None:
        self.emit("hello", pid=os.getpid(), kind="python", madvise=self.mode, options=self.opts)

    # ---- the mutator (what patterns and commands call) -------------------------------------------------
    def alloc(self, n_bytes: int) -> Span | None:
        if n_bytes <= 0:
            return None
        got = self.heap.alloc(n_bytes, self.now_s)
        self._batch["alloc"] += got.span.n_bytes
        if got.reused_bytes:
            self._batch["reused"] += got.reused_bytes
            self._batch["reuse_s"] += got.reuse_s
            modes = self._batch["modes"]
            modes[got.released_with] = modes.get(got.released_with, 0) + got.reused_bytes
        if self.pacer.reached_goal(self.heap.stats().inuse):
            self.flush_allocs()
            self.run_gc(forced=False, reason="goal")
        return got.span

    def drop(self, objects: list[Span | None]) -> None:
        spans = [o for o in objects if o is not None]
        if spans:
            self.garbage.extend(spans)
            self.event("free", bytes=sum(s.n_bytes for s in spans))

    def flush_allocs(self) -> None:
        """One alloc event (and one reuse event) per batch, so churn does not flood the pipe."""
        b = self._batch
        if b["alloc"]:
            self.event("alloc", bytes=b["alloc"])
        if b["reused"]:
            mode = max(b["modes"], key=b["modes"].get)
            ms_per_gib = b["reuse_s"] * 1000 / (b["reused"] / GIB)
            self.event("reuse", bytes=b["reused"], seconds=round(b["reuse_s"], 6),
                       ms_per_gib=round(ms_per_gib, 3), released_with=mode)
            self.trace_line(trace.lab(f"reuse: wrote {b['reused'] >> 20} MiB released with {mode} at "
                                      f"{ms_per_gib:.1f} ms/GiB"), "lab")
        self._batch = {"alloc": 0, "reused": 0, "reuse_s": 0.0, "modes": {}}

    # ---- GC and scavenging ------------------------------------------------------------------------------
    def run_gc(self, forced: bool, reason: str) -> None:
        if reason == "period":
            self.trace_line(trace.GC_FORCED_LINE, "gc")
        self.gc_count += 1
        goal = self.pacer.goal_bytes
        result = collect(self.heap, self.garbage, self.gc_count, self.now_s, goal, forced, self.gc_cpu_s)
        self.gc_cpu_s += sum(result.cycle.clock_ns) / 1e9
        self.pacer.cycle_done(self.now_s, result.cycle.heap_live)
        self.trace_line(trace.gctrace(result.cycle, self.fmt), "gc")
        if self.fmt != "go1.12":
            # Go >= 1.19 prints one scavtrace line per GC cycle, summing the background and eager work since the
            # last one: a paced scavenger's many small passes are one line, as in the real runtime's trace.
            self.trace_line(self._scav_line(self._scav_work["bg"], self._scav_work["eager"], forced=False), "scav")
            self._scav_work = {"bg": 0, "eager": 0}
        self.event("gc", n=self.gc_count, forced=forced or reason == "period", reason=reason,
                   heap_before=result.cycle.heap_before, heap_after=result.cycle.heap_live, goal=goal)
        self.send_stats()
        plan = self.scavenger.after_gc(self.heap.idle_spans())
        if plan is not None:
            self.scavenge(plan)

    def scavenge(self, plan: Plan) -> None:
        done = release(self.heap, plan, self.mode)
        if done.error is not None:
            err = done.error
            self.error(f"{self.mode} refused by the kernel: {os.strerror(err.errno)} (errno {err.errno}); "
                       f"pages stay idle", flag=self.mode, errno=err.errno, kernel=mv.kernel_release())
            self.trace_line(trace.lab(f"{self.mode} refused: errno {err.errno} on Linux {mv.kernel_release()}"),
                            "lab")
        if done.fallback:
            self.trace_line(trace.lab(f"munmap: arena still partly in use (or not all due), released its "
                                      f"idle spans with {done.fallback} instead"), "lab")
        if self.fmt != "go1.12" and plan.why != "forced":
            self._scav_work["bg" if plan.why == "bg" else "eager"] += done.n_bytes  # printed at the next GC
        elif done.n_bytes or plan.why == "forced" or (plan.gen is not None and self.opts["scavenger"] == "go1.12"):
            for line in self._scav_lines(plan, done.n_bytes):
                self.trace_line(line, "scav")
        if done.n_bytes:
            self.trace_line(trace.lab(f"{done.mode}: released {done.n_bytes >> 20} MiB in "
                                      f"{done.madvise_s * 1000:.1f} ms"), "lab")
        fields = {"fallback": done.fallback} if done.fallback else {}
        self.event("scavenge", released_bytes=done.n_bytes, madvise=done.mode, madvise_s=round(done.madvise_s, 6),
                   **fields)
        self.send_stats()

    def _scav_lines(self, plan: Plan, released: int) -> list[str]:
        if self.fmt == "go1.12":
            s = self.heap.stats()
            return trace.scvg_lines(plan.gen, released, s.inuse, s.idle + s.released, s.sys, s.released)
        bg, eager = (released, 0) if plan.why == "bg" else (0, released)
        return [self._scav_line(bg, eager, forced=plan.why == "forced")]

    def _scav_line(self, bg_bytes: int, eager_bytes: int, forced: bool) -> str:
        """A Go 1.19 or 1.21 scavtrace line for this much work, with the heap's figures now."""
        s = self.heap.stats()
        retained = s.inuse + s.idle
        if self.fmt == "go1.19":
            return trace.scav_line_119(bg_bytes + eager_bytes, s.released, s.inuse, retained, forced)
        return trace.scav_line_121(bg_bytes, eager_bytes, s.released, s.inuse, retained, forced)

    # ---- commands --------------------------------------------------------------------------------------
    def handle(self, command: protocol.Command) -> None:
        cmd = command.cmd
        if cmd == "set_madvise":
            self.set_mode(command.args["value"])
        elif cmd == "gc":
            self.run_gc(forced=True, reason="command")
        elif cmd == "scavenge":
            self.scavenge(self.scavenger.forced(self.heap.idle_spans()))
        elif cmd == "alloc":
            n_bytes, available = command.args["bytes"], _mem_available_bytes()
            if available is not None and n_bytes > available // 2:
                # the pages are touched: a junk or typo'd size must not get the machine's OOM killer going
                self.error(f"alloc {n_bytes} bytes: more than half of MemAvailable ({available >> 20} MiB); refused")
                return
            try:
                span = self.alloc(n_bytes)
            except (OSError, MemoryError) as exc:
                self.error(f"alloc {n_bytes} bytes: {exc}; nothing allocated")
                return
            if span is not None:
                self.manual.append(span)
            self.flush_allocs()
            self.send_stats()
        elif cmd == "free":
            objects, self.manual = self.manual + self.pattern.forget_all(), []
            self.drop(objects)
            self.send_stats()
        elif cmd == "pause" and self.paused_at_s is None:
            self.paused_at_s = self.now_s
            self.event("pause")
        elif cmd == "resume" and self.paused_at_s is not None:
            self.paused_total_s += self.now_s - self.paused_at_s
            self.paused_at_s = None
            self.event("resume")
        elif cmd == "exit":
            self.exit_reason = "command"

    def set_mode(self, new: str) -> None:
        ok, detail = mv.probe(new)
        if not ok:
            err = _errno_in(detail)
            self.error(f"set_madvise {new}: {detail}; keeping {self.mode}", flag=new, errno=err,
                       kernel=mv.kernel_release())
            self.trace_line(trace.lab(f"{new} refused ({detail}); keeping {self.mode}"), "lab")
            return
        old, self.mode = self.mode, new
        self.event("mode", old=old, new=new)
        self.trace_line(trace.lab(f"madvise mode {old} -> {new} (applies to the next release)"), "lab")
        self.send_stats()

    # ---- time --------------------------------------------------------------------------------------------
    def tick(self, now_s: float) -> None:
        """Do whatever is due at now_s: pattern steps, a GC on goal/period, a scavenger pass, stats."""
        self.now_s = now_s
        stepped = False
        if self.paused_at_s is None:
            pattern_now = now_s - self.paused_total_s
            if pattern_now >= self.pattern_next_s:
                self.pattern_next_s = self.pattern.step(pattern_now, self)
                self.flush_allocs()
                stepped = True
            if self.pacer.forced_due(now_s):
                self.run_gc(forced=False, reason="period")
            # the paced scavenger earns its release budget by the time since its last pass: early or late, none lost
            if now_s >= self._when(self.scavenger.next_due_s(), stepped):
                s = self.heap.stats()
                plan = self.scavenger.tick(now_s, self.heap.idle_spans(), s.inuse, self.pacer.goal_bytes)
                if plan is not None:
                    self.scavenge(plan)
        self.maybe_stats(stepped)
        self.maybe_spans()

    def next_due_s(self) -> float:
        """When tick() next has something to do (the loop sleeps until then or a command arrives)."""
        due = min(self._when(self.next_stats_s()), self.next_spans_s())
        if self.paused_at_s is None:
            due = min(due, self.pattern_next_s + self.paused_total_s, self.pacer.next_forced_s(),
                      self._when(self.scavenger.next_due_s()))
        return due

    def _when(self, due_s: float, stepped: bool = False) -> float:
        """When periodic work due at due_s runs: now if this tick stepped the pattern and it is due within
        RIDE_ALONG_S, with the next step if that comes at most RIDE_ALONG_S after due_s, else at due_s."""
        if self.paused_at_s is not None:
            return due_s
        if stepped and due_s <= self.now_s + RIDE_ALONG_S:
            return self.now_s
        step_s = self.pattern_next_s + self.paused_total_s
        return step_s if due_s <= step_s <= due_s + RIDE_ALONG_S else due_s


def _errno_in(detail: str) -> int | None:
    for number, name in ((22, "EINVAL"), (1, "EPERM"), (12, "ENOMEM"), (38, "ENOSYS")):
        if name in detail:
            return number
    return None


def _mem_available_bytes() -> int | None:
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


MAX_COMMAND_BYTES = 4096  # a real command is under 100 bytes; the reader never holds more of a line than this


def _stdin_reader(lines: "queue.Queue[object]", fd: int = 0) -> None:
    """Blocking reads in a thread so the main loop keeps its own time; EOF is a message too. Raw os.read on the
    fd, not sys.stdin: a daemon thread blocked inside a buffered reader's lock aborts the interpreter at exit.
    A line that is not UTF-8 or is longer than MAX_COMMAND_BYTES becomes a refused command (the `error` reply),
    never the end of stdin; memory stays bounded however long the line."""
    pending = bytearray()
    skipped = 0  # > 0 while dropping the rest of an overlong line
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending += chunk
            while True:
                end = pending.find(b"\n")
                if end < 0:
                    if len(pending) > MAX_COMMAND_BYTES:
                        skipped += len(pending)
                        pending.clear()
                    break
                raw, pending[:] = bytes(pending[:end]), pending[end + 1:]
                if skipped:
                    lines.put(_Refused(f"a command line of {skipped + len(raw) + 1} bytes "
                                       f"(at most {MAX_COMMAND_BYTES})"))
                    skipped = 0
                elif len(raw) > MAX_COMMAND_BYTES:
                    lines.put(_Refused(f"a command line of {len(raw) + 1} bytes (at most {MAX_COMMAND_BYTES})"))
                else:
                    lines.put(_decoded(raw))
    except OSError:
        pass
    if pending and not skipped:
        lines.put(_decoded(bytes(pending)))  # a last command without its newline
    lines.put(_EOF)


def _decoded(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Refused(f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")


class _Refused(str):
    """A stdin line refused before decoding; the text says why."""


_pending: list[str] = []  # lines said since the last _flush


def _write_stdout(line: str) -> None:
    """Held until the main loop's once-a-tick _flush, so a churn step's messages reach the dashboard's reader in one
    write (one wake-up of its thread), not one each (stdout may be unbuffered: PYTHONUNBUFFERED, -u)."""
    _pending.append(line + "\n")


def _flush() -> None:
    if _pending:
        text = "".join(_pending)
        _pending.clear()
        sys.stdout.write(text)
    sys.stdout.flush()


def _write_for_a_person(line: str) -> None:
    """In a terminal (beside `top`), show what Go's GODEBUG=gctrace=1 would, not ten JSON lines a second."""
    message = json.loads(line)
    kind = message["type"]
    if kind == "trace":
        text = message["line"]
    elif kind == "error":
        text = f"lab: error: {message['message']}"
    elif kind == "hello":
        text = (f"lab: pid {message['pid']}, pattern {message['options']['pattern']}, {message['madvise']}; "
                f"type {', '.join(COMMANDS)} (e.g. `set_madvise MADV_DONTNEED`, `alloc 64MiB`); "
                "watch it with: grep -E 'Rss|LazyFree' /proc/PID/smaps_rollup")
    else:
        return
    _write_stdout(text)


PARENT_DEATH_SIGNAL = signal.SIGUSR1  # not SIGTERM: PDEATHSIG also fires when the spawning *thread* exits


def run(opts: dict[str, Any]) -> int:
    """The process main loop; returns the exit code."""
    t0 = time.monotonic()
    t0 -= t0 % CLOCK_GRID_S
    parent_pid = os.getppid()
    stop: list[str] = []
    lines: "queue.Queue[object]" = queue.Queue()

    def on_signal(signum: int, _frame: Any) -> None:
        # The handler runs on the main thread between bytecodes, possibly while it holds the queue's lock inside
        # lines.get(): taking that lock here (lines.put) deadlocked the process. So it appends to `stop`, and a
        # thread of its own puts the wake-up (it waits for the lock, which lines.get() releases while it waits).
        if signum == PARENT_DEATH_SIGNAL:
            if os.getppid() == parent_pid:
                return  # only the spawning thread ended; the parent process lives on
            stop.append("parent died")
        else:
            stop.append(signal.Signals(signum).name)
        threading.Thread(target=lines.put, args=(_WAKE,), daemon=True).start()

    for signum in (signal.SIGTERM, signal.SIGINT, PARENT_DEATH_SIGNAL):
        signal.signal(signum, on_signal)
    mv.set_parent_death_signal(PARENT_DEATH_SIGNAL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        return 0

    write = _write_for_a_person if sys.stdout.isatty() else _write_stdout
    clock = lambda: time.monotonic() - t0  # noqa: E731
    if opts.get("kind", "python") != "python":
        from workloads.allocators import AllocatorError
        from workloads.native import NativeRuntime

        try:
            rt: Any = NativeRuntime(opts, write, clock=clock)
        except AllocatorError as exc:  # one line the panel shows, never a traceback
            write(protocol.encode("error", clock(), message=str(exc)))
            _flush()
            return 1
    else:
        rt = Runtime(opts, write, clock=clock)
    threading.Thread(target=_stdin_reader, args=(lines,), daemon=True, name="stdin").start()
    try:
        rt.hello()
        ok, detail = mv.probe(rt.mode) if isinstance(rt, Runtime) else (True, "")
        if not ok:
            rt.error(f"--madvise {rt.mode}: {detail}; using MADV_DONTNEED", flag=rt.mode, errno=_errno_in(detail),
                     kernel=mv.kernel_release())
            rt.mode = "MADV_DONTNEED"
        while rt.exit_reason is None:
            rt.tick(time.monotonic() - t0)
            if stop:
                rt.exit_reason = stop[0]
                break
            if os.getppid() != parent_pid:
                rt.exit_reason = "parent died"
                break
            wait_s = min(max(rt.next_due_s() - (time.monotonic() - t0), 0.0), MAX_WAIT_S)
            _flush()  # what this tick and the commands before it said, in one write
            try:
                item = lines.get(timeout=wait_s)
            except queue.Empty:
                continue
            while True:  # handle everything queued before the next tick
                if item is _EOF:
                    rt.exit_reason = "stdin closed"
                    break
                if isinstance(item, _Refused):
                    rt.error(f"stdin: {item}")
                elif isinstance(item, str):
                    rt.now_s = time.monotonic() - t0
                    rt.handle_line(item)
                    if rt.exit_reason:
                        break
                try:
                    item = lines.get_nowait()
                except queue.Empty:
                    break
        rt.now_s = time.monotonic() - t0
        rt.event("exit", reason=rt.exit_reason or "unknown")
    except BrokenPipeError:
        pass  # the dashboard is gone; nobody is left to tell
    finally:
        try:
            _flush()
        except BrokenPipeError:
            pass
    return 0
