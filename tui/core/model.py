"""Immutable values that flow from threads and workloads to the front ends (app and recorder)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class KernelMemory:
    """What the kernel says about a process, from /proc/PID/smaps_rollup (bytes)."""

    rss_bytes: int
    anon_bytes: int
    lazyfree_bytes: int
    swap_bytes: int
    anon_huge_bytes: int = 0  # AnonHugePages: anonymous memory in transparent huge pages (part of RSS)

    @property
    def footprint_bytes(self) -> int:
        """RSS − LazyFree: what the kernel cannot drop without a fault."""
        return self.rss_bytes - self.lazyfree_bytes


@dataclass(frozen=True, slots=True)
class HeapStats:
    """What the runtime believes, from the workload's own `stats` message (bytes)."""

    heap_inuse_bytes: int
    heap_idle_bytes: int
    heap_released_bytes: int
    heap_sys_bytes: int
    gc_count: int
    madvise: str


@dataclass(frozen=True, slots=True)
class NativeInfo:
    """A native allocator workload: the allocator's name, version and release settings, and the heap figures it does
    not tell (their HeapStats values are 0 and the panel says "not told")."""

    allocator: str
    absent: tuple[str, ...] = ()  # HeapStats field names, e.g. heap_released_bytes for glibc


@dataclass(frozen=True, slots=True)
class Sample:
    """One kernel read of one workload, with the runtime's latest figures beside it."""

    t_s: float
    workload: str
    pid: int
    madvise: str
    kernel: KernelMemory
    heap: HeapStats | None


@dataclass(frozen=True, slots=True)
class TraceLine:
    """A line for the trace pane. kind: gc, scav, lab (our own events), error, other."""

    t_s: float
    workload: str
    line: str
    kind: str


@dataclass(frozen=True, slots=True)
class Marker:
    """A moment worth marking on the chart. kind: gc, scavenge, mode, pressure, restart."""

    t_s: float
    workload: str
    kind: str
    label: str


@dataclass(frozen=True, slots=True)
class WorkloadStatus:
    """A workload's lifecycle. state: starting, running, paused, exited."""

    name: str
    pid: int | None
    state: str
    exit_code: int | None
    madvise: str
    last_error: str | None = None
    runtime: str = ""  # what runs in it when we had to find out (attach): e.g. "CPython 3.11 · glibc", "Go 1.22.4"


@dataclass(frozen=True, slots=True)
class LabUpdate:
    """Everything one Lab.poll() brought, in arrival order within each kind."""

    samples: tuple[Sample, ...] = ()
    trace_lines: tuple[TraceLine, ...] = ()
    markers: tuple[Marker, ...] = ()
    statuses: tuple[WorkloadStatus, ...] = field(default=())
    more: bool = False  # the source holds more than one poll applies: poll again at the next frame

    def __bool__(self) -> bool:
        return bool(self.samples or self.trace_lines or self.markers or self.statuses)

    def workloads(self) -> set[str]:
        """The workloads whose panel this update changes (new samples, markers or a status)."""
        return ({s.workload for s in self.samples} | {m.workload for m in self.markers}
                | {s.name for s in self.statuses})
