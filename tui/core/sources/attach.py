"""AttachLab: the Lab facade over processes we did not start: kernel figures from /proc, heap from their gctrace."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import psutil

from tui.core.golang import trace as gotrace
from tui.core.errors import UsageError
from tui.core.explain.report import quick_detect
from tui.core.heapmap import HeapMap, HeapMapReader
from tui.core.model import HeapStats, KernelMemory, LabUpdate, Marker, Sample, TraceLine, WorkloadStatus
from tui.core.kernel.sampler import IDLE_INTERVAL_S, Sampler, parse_smaps_rollup
from tui.core.series import Series
from tui.core.vocabulary import gc_label, scavenge_label, trace_kind
from tui.core.sources.base import POLL_BATCH_ITEMS, ObserveOnly, SampleGate, SourceQueue
from tui.core.sources.tail import FileFollower, StreamFollower

ATTACH_REASON = "not our allocator: attach only observes"
DEFAULT_INTERVAL_S = 0.1
DEFAULT_HISTORY_SAMPLES = 6000
UNKNOWN_MADVISE = "unknown"
_NAME = re.compile(r"^[a-z0-9_-]+$")
# What a trace source is: None (no trace), a file path to follow, or an open pipe's fd.
TraceSource = Union[None, str, int]


@dataclass(frozen=True, slots=True)
class Target:
    """One process to watch, checked readable before anything starts."""

    pid: int
    name: str
    madvise: str  # a Go runtime's release flag (version and GODEBUG) when we can tell, else "unknown"
    runtime: str = ""  # the detected runtime and allocator, e.g. "CPython 3.11 · glibc" ("" when unknown)
    start_ticks: int | None = None  # when it started (clock ticks after boot): a reused pid has another


PF_KTHREAD = 0x00200000  # include/linux/sched.h: the task is a kernel thread


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, flags, start time in clock ticks) from /proc/PID/stat; None when there is no such process.

    Read directly, not through psutil: psutil has no kernel-thread flag (PF_KTHREAD), and its create_time() is
    this same start time turned into seconds since the epoch (rounded by the boot time), a weaker identity.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[6]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def gone_reason(pid: int, start_ticks: int | None) -> str:
    """Why a watched process has no memory to show any more, in words for its panel."""
    stat = proc_stat(pid)
    if stat is None:
        return "the process exited"
    state, _, started = stat
    if start_ticks is not None and started != start_ticks:
        comm = _read_comm(pid)
        return (f"the process exited; pid {pid} now belongs to another process"
                f"{f' ({comm})' if comm else ''}, which is not shown")
    if state in ("Z", "X"):
        return "the process exited: a zombie until its parent collects it"
    return "its memory can no longer be read (it may be exiting)"


def _read_comm(pid: int) -> str:
    """The process's name (psutil: the well-kept answer, /proc/PID/comm underneath), "" when it is gone."""
    try:
        return psutil.Process(pid).name()
    except (psutil.Error, ValueError):
        return ""


def madvise_hint(pid: int) -> str:
    """The Go runtime's release flag from the process's GODEBUG, when it says; Go ≥1.16 defaults to DONTNEED."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read().split(b"\0")
    except OSError:
        return UNKNOWN_MADVISE
    for entry in environ:
        if entry.startswith(b"GODEBUG="):
            for setting in entry[8:].split(b","):
                if setting == b"madvdontneed=1":
                    return "MADV_DONTNEED"
                if setting == b"madvdontneed=0":
                    return "MADV_FREE"
    return UNKNOWN_MADVISE


def default_name(pid: int) -> str:
    comm = re.sub(r"[^a-z0-9_-]+", "-", _read_comm(pid).lower()).strip("-")[:16]
    return f"{comm}-{pid}" if comm else f"pid-{pid}"


def check_pid(pid: int, command: str = "attach") -> None:
    """Raise a one-line UsageError (naming `command`) unless we may read the process's memory figures."""
    if pid <= 0:
        raise UsageError(f"{command}: {pid}: expected a process id above 0")
    path = f"/proc/{pid}/smaps_rollup"
    try:
        with open(path, "rb") as f:
            memory = parse_smaps_rollup(f.read())
    except (FileNotFoundError, ProcessLookupError):
        if proc_stat(pid) is None:
            raise UsageError(f"{command}: no process with pid {pid}") from None
        memory = None  # a zombie or a kernel thread: the process is there, its memory map is not
    except PermissionError:
        comm = _read_comm(pid)
        who = f"pid {pid} ({comm})" if comm else f"pid {pid}"
        raise UsageError(f"{command}: {who}: may not read {path} (EPERM): run as its user or as root") from None
    except OSError as error:
        raise UsageError(f"{command}: pid {pid}: cannot read {path}: {error.strerror}") from None
    if memory is None:
        stat, comm = proc_stat(pid), _read_comm(pid)
        who = f"pid {pid} ({comm})" if comm else f"pid {pid}"
        if stat is not None and stat[1] & PF_KTHREAD:
            raise UsageError(f"{command}: {who} is a kernel thread: it has no user memory to watch")
        if stat is not None and stat[0] in ("Z", "X"):
            raise UsageError(f"{command}: {who} is a zombie: it has exited and its parent has not collected it")
        raise UsageError(f"{command}: {who} has no user memory to watch")


def _target(pid: int, name: str) -> Target:
    stat = proc_stat(pid)
    start_ticks = stat[2] if stat is not None else None
    detected = quick_detect(pid)
    if detected is None:
        return Target(pid, name, madvise_hint(pid), start_ticks=start_ticks)
    label = "" if detected.runtime == detected.allocator == "unknown" else detected.label
    return Target(pid, name, detected.go_madvise or madvise_hint(pid), label, start_ticks)


def resolve_targets(pids: Sequence[int], names: Sequence[str] | None = None,
                    command: str = "attach") -> tuple[Target, ...]:
    """Check every pid and name; `names[i]` names `pids[i]` (fewer names: the rest get `comm-PID`)."""
    names = list(names or ())
    if len(names) > len(pids):
        raise UsageError(f"{command}: --name: {len(names)} names for {len(pids)} pids (one --name per pid, in order)")
    if len(set(pids)) != len(pids):
        raise UsageError(f"{command}: each pid once, please (a pid was given twice)")
    targets = []
    for i, pid in enumerate(pids):
        check_pid(pid, command)
        name = names[i] if i < len(names) else default_name(pid)
        if not _NAME.match(name):
            raise UsageError(f"{command}: --name {name!r}: expected lowercase letters, digits, '_' or '-'")
        targets.append(_target(pid, name))
    taken = [t.name for t in targets]
    if len(set(taken)) != len(taken):
        raise UsageError(f"{command}: --name: names must be unique, got {', '.join(taken)}")
    return tuple(targets)


class TraceHeap:
    """The runtime's heap figures as far as its trace lines tell them (exact after a Go 1.12 scvg state line)."""

    def __init__(self) -> None:
        self.inuse_bytes = self.idle_bytes = self.released_bytes = self.sys_bytes = 0
        self.gc_count = 0
        self.known = False

    def _settle(self) -> None:
        self.sys_bytes = max(self.sys_bytes, self.inuse_bytes + self.released_bytes)
        self.idle_bytes = max(0, self.sys_bytes - self.inuse_bytes - self.released_bytes)

    def apply(self, parsed: gotrace.GcTrace | gotrace.ScavTrace) -> bool:
        """Fold one parsed line in; True when the figures changed."""
        before = (self.inuse_bytes, self.idle_bytes, self.released_bytes, self.sys_bytes, self.gc_count)
        if isinstance(parsed, gotrace.GcTrace):
            if parsed.announcement or parsed.n is None:
                return False
            # Heap after marking is what GC found live: what stays in use until the next cycle.
            self.gc_count = parsed.n
            self.inuse_bytes = parsed.heap_live_bytes
            self.sys_bytes = max(self.sys_bytes, parsed.heap_before_bytes, parsed.heap_after_bytes)
            self._settle()
        elif parsed.fmt == "scvg-state":
            self.inuse_bytes = parsed.inuse_bytes or 0
            self.released_bytes = parsed.total_released_bytes or 0
            self.sys_bytes = parsed.sys_bytes or 0
            self.idle_bytes = max(0, (parsed.idle_bytes or 0) - self.released_bytes)  # Go's idle includes released
        elif parsed.total_released_bytes is not None:
            self.released_bytes = parsed.total_released_bytes
            self._settle()
        elif parsed.released_bytes is not None:
            self.released_bytes += parsed.released_bytes
            self._settle()
        self.known = True
        return before != (self.inuse_bytes, self.idle_bytes, self.released_bytes, self.sys_bytes, self.gc_count)

    def stats(self, madvise: str) -> HeapStats | None:
        if not self.known:
            return None
        return HeapStats(self.inuse_bytes, self.idle_bytes, self.released_bytes, self.sys_bytes, self.gc_count,
                         madvise)


def _marker_for(t_s: float, name: str, parsed: gotrace.GcTrace | gotrace.ScavTrace) -> Marker | None:
    if isinstance(parsed, gotrace.GcTrace):
        if parsed.announcement:
            return None
        return Marker(t_s, name, "gc", gc_label(parsed.n, parsed.forced))
    if parsed.released_bytes:
        return Marker(t_s, name, "scavenge", scavenge_label(parsed.released_bytes))
    return None


class AttachLab(ObserveOnly):
    """Watches processes we did not start: the source protocol, no actions (`can()` says why)."""

    refusal = ATTACH_REASON
    pressure_reason = "attached processes are not in a memory cgroup of ours"
    epoch = 0  # attach never rewrites its history

    def __init__(self, pids: Sequence[int], *, names: Sequence[str] | None = None,
                 traces: Sequence[TraceSource] | None = None, sample_interval_s: float = DEFAULT_INTERVAL_S,
                 history_samples: int = DEFAULT_HISTORY_SAMPLES, clock: Callable[[], float] = time.monotonic,
                 backlog_bytes: int | None = None, notify: Callable[[], None] | None = None,
                 command: str = "attach") -> None:
        self.targets = resolve_targets(pids, names, command)  # `command` names the CLI command in errors
        traces = list(traces or ())
        if len(traces) > len(self.targets):
            raise UsageError(f"attach: --trace: {len(traces)} traces for {len(self.targets)} pids (one per pid, in order)")
        self.names = tuple(t.name for t in self.targets)
        self._by_pid = {t.pid: t for t in self.targets}
        self._by_name = {t.name: t for t in self.targets}
        self._clock = clock
        self._t0 = clock()
        self._queue = SourceQueue(notify)
        self._gate = SampleGate()
        self._series = {t.name: Series(history_samples) for t in self.targets}
        self._heap = {t.name: TraceHeap() for t in self.targets}
        self._statuses = {t.name: WorkloadStatus(t.name, t.pid, "running", None, t.madvise, runtime=t.runtime)
                          for t in self.targets}
        self._announced = False
        self._sampler = Sampler(sample_interval_s, self._on_sample, t0=self._t0, idle_interval_s=IDLE_INTERVAL_S,
                                clock=clock)
        self._followers: list[FileFollower | StreamFollower] = []
        self._trace_sources = {self.targets[i].name: source for i, source in enumerate(traces) if source is not None}
        self._backlog_bytes = backlog_bytes
        self._stopped = threading.Event()
        self._heapmaps = HeapMapReader()

    # -- threads: only queue immutable values --------------------------------------------------------
    def _on_sample(self, pid: int, t_s: float, memory: KernelMemory | None) -> None:
        if memory is None:
            self._gate.forget(pid)
            self._queue.put(("sample", self._by_pid[pid].name, t_s, None), urgent=True)
            return
        # An unchanged sample still extends the series, but only a change wakes the front end.
        changed, urgent = self._gate.check(pid, memory)
        self._queue.put(("sample", self._by_pid[pid].name, t_s, memory), wake=changed, urgent=urgent)

    def _line_sink(self, name: str) -> Callable[[str], None]:
        def sink(line: str) -> None:
            self._queue.put(("trace", name, self.t_s(), line), urgent=True)
        return sink

    def _eof_sink(self, name: str) -> Callable[[], None]:
        def on_eof() -> None:
            if not self._stopped.is_set():
                self._queue.put(("trace", name, self.t_s(), "lab: trace stream ended (the writer closed the pipe)"),
                                urgent=True)
        return on_eof

    # -- the source protocol -------------------------------------------------------------------------
    @property
    def urgent(self) -> bool:
        return self._queue.urgent

    def set_notify(self, notify: Callable[[], None] | None) -> None:
        self._queue.set_notify(notify)

    def start(self) -> None:
        for target in self.targets:
            # The sampler's fds stay bound to the process it opened; opened after a reuse they would be a
            # stranger's: compare start times once they are open.
            if not self._sampler.add(target.pid) or not self._same_process(target):
                self._sampler.remove(target.pid)
                self._queue.put(("sample", target.name, self.t_s(), None))
        self._sampler.start()
        for name, source in self._trace_sources.items():
            follower: FileFollower | StreamFollower
            if isinstance(source, int):
                follower = StreamFollower(source, self._line_sink(name), on_eof=self._eof_sink(name))
            else:
                extra = {} if self._backlog_bytes is None else {"backlog_bytes": self._backlog_bytes}
                follower = FileFollower(source, self._line_sink(name), **extra)
            self._followers.append(follower.start())

    def stop(self) -> None:
        """Stop watching (the processes are not ours: they keep running). Idempotent."""
        self._stopped.set()
        self._sampler.stop()
        for follower in self._followers:
            follower.stop()
        self._heapmaps.close()

    def t_s(self) -> float:
        """Seconds since we attached."""
        return self._clock() - self._t0

    def series(self, name: str) -> Series:
        return self._series[name]

    def status(self, name: str) -> WorkloadStatus:
        return self._statuses[name]

    def _same_process(self, target: Target) -> bool:
        """Is `target.pid` still the process we attached to (not exited, its number not reused)?"""
        stat = proc_stat(target.pid)
        return stat is not None and stat[0] not in ("Z", "X") and (
            target.start_ticks is None or stat[2] == target.start_ticks)

    def heapmap(self, name: str, force: bool = False) -> HeapMap | None:
        """The kernel's side only (we do not know the runtime's spans): the largest anonymous mappings."""
        status = self._statuses[name]
        if status.state == "exited" or not self._same_process(self._by_name[name]):
            return None  # read by pid: after an exit that number may be a stranger's
        return self._heapmaps.read(name, status.pid, self.t_s(), None, force=force)

    def poll(self, max_items: int = POLL_BATCH_ITEMS) -> LabUpdate:
        """Apply up to max_items of what the sampler and trace followers queued to the series."""
        samples: list[Sample] = []
        trace_lines: list[TraceLine] = []
        markers: list[Marker] = []
        statuses: list[WorkloadStatus] = []
        if not self._announced:
            self._announced = True
            statuses.extend(self._statuses.values())
        items, more = self._queue.take(max_items)
        for kind, name, t_s, payload in items:
            if kind == "sample":
                self._apply_sample(name, t_s, payload, samples, statuses)
            else:
                self._apply_trace(name, t_s, payload, trace_lines, markers)
        return LabUpdate(tuple(samples), tuple(trace_lines), tuple(markers), tuple(statuses), more)

    def _apply_sample(self, name: str, t_s: float, memory: KernelMemory | None,
                      samples: list[Sample], statuses: list[WorkloadStatus]) -> None:
        status = self._statuses[name]
        if memory is None:
            if status.state != "exited":
                # Not our child: its exit code is its parent's to collect.
                target = self._by_name[name]
                status = WorkloadStatus(name, status.pid, "exited", None, status.madvise,
                                        gone_reason(target.pid, target.start_ticks), status.runtime)
                self._statuses[name] = status
                statuses.append(status)
            return
        sample = Sample(t_s, name, status.pid or 0, status.madvise, memory, self._heap[name].stats(status.madvise))
        self._series[name].append(sample)
        samples.append(sample)

    def _apply_trace(self, name: str, t_s: float, line: str,
                     trace_lines: list[TraceLine], markers: list[Marker]) -> None:
        trace_lines.append(TraceLine(t_s, name, line, trace_kind(line)))
        parsed = gotrace.parse_line(line)
        if parsed is None:
            return
        self._heap[name].apply(parsed)
        marker = _marker_for(t_s, name, parsed)
        if marker is not None:
            self._series[name].add_marker(marker)
            markers.append(marker)
        pid = self._statuses[name].pid
        if pid is not None and self._statuses[name].state != "exited":
            self._sampler.invalidate(pid)  # a GC or scavenge just changed memory: read the rollup now

    def can(self, action: str, name: str | None = None) -> bool | str:
        """ObserveOnly's answer, and: no explain once the process exited or its pid was reused (it reads /proc by
        number: it would explain a stranger)."""
        if action == "explain" and name in self._by_name and (self._statuses[name].state == "exited"
                                                                or not self._same_process(self._by_name[name])):
            return "the process exited: nothing to explain (its pid may belong to another process now)"
        return super().can(action, name)
