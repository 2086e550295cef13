"""A fixed-data stand-in for tui.core.sources.live.Lab, for SVG snapshots and pure drawing tests (no processes)."""

from __future__ import annotations

from dataclasses import replace

from tui.core.model import HeapStats, KernelMemory, LabUpdate, Marker, Sample, TraceLine, WorkloadStatus
from tui.core.series import Series
from tui.core.kernel.system import SystemInfo

MiB = 1 << 20

SYSTEM_INFO = SystemInfo(kernel_release="6.18.0-lab", page_size=4096, thp_mode="madvise",
                         swap_total_bytes=0, mem_available_bytes=22 * 1024 * MiB)


def story_samples(name: str, madvise: str, pid: int, n: int = 400, dt_s: float = 0.1) -> list[Sample]:
    """The seed story in numbers: grow to 512 MiB, free, scavenge at 20 s; FREE keeps RSS, DONTNEED drops it."""
    samples = []
    for i in range(n):
        t_s = i * dt_s
        if t_s < 8:
            inuse = int(min(512, 64 * (1 + int(t_s / 1))) * MiB)
            released = 0
        elif t_s < 20:
            inuse, released = 0, 0
        else:
            inuse, released = 0, 512 * MiB
        rss = max(inuse, 512 * MiB if t_s >= 8 else inuse)
        lazyfree = 0
        if t_s >= 20:
            if madvise == "MADV_FREE":
                lazyfree = 512 * MiB
            else:
                rss = 0
        rss += 9 * MiB  # the interpreter
        heap = HeapStats(heap_inuse_bytes=inuse, heap_idle_bytes=(512 * MiB - inuse - released) if t_s >= 8 else 0,
                         heap_released_bytes=released, heap_sys_bytes=512 * MiB, gc_count=int(t_s // 5),
                         madvise=madvise)
        kernel = KernelMemory(rss_bytes=rss, anon_bytes=rss - 9 * MiB, lazyfree_bytes=lazyfree, swap_bytes=0)
        samples.append(Sample(t_s=t_s, workload=name, pid=pid, madvise=madvise, kernel=kernel, heap=heap))
    return samples


class FakeLab:
    """Serves prepared series, statuses and one batch of trace lines; records the commands it was given."""

    def __init__(self, names=("free", "dontneed"), now_s: float = 39.9, pressure: bool = False) -> None:
        self.names = tuple(names)
        self.calls: list[tuple] = []
        self.now_s = now_s
        self.pressure_available = pressure
        self.pressure_reason = "" if pressure else "no writable memory cgroup (test)"
        self._series = {}
        self._statuses = {}
        self._pending = LabUpdate()
        modes = {"free": "MADV_FREE", "dontneed": "MADV_DONTNEED"}
        for index, name in enumerate(self.names):
            series = Series(maxlen=6000)
            mode = modes.get(name, "MADV_FREE")
            for sample in story_samples(name, mode, 4200 + index):
                series.append(sample)
            series.add_marker(Marker(8.0, name, "gc", "gc 2"))
            series.add_marker(Marker(20.0, name, "scavenge", "scvg"))
            series.add_marker(Marker(30.0, name, "mode", "→ DONTNEED" if mode == "MADV_FREE" else "→ FREE"))
            self._series[name] = series
            self._statuses[name] = WorkloadStatus(name, 4200 + index, "running", None, mode)
        self.trace = tuple(
            TraceLine(t_s, name, line, kind)
            for name in self.names
            for t_s, line, kind in (
                (8.0, "gc 2 @8.000s 0%: 0.004+12+0.013 ms clock, 0.009+1.2/1.2/10+0.027 ms cpu, 512->512->0 MB, 4 MB goal, 2 P", "gc"),
                (20.0, "scvg1: 512 MB released", "scav"),
                (20.0, "scvg1: inuse: 0, idle: 512, sys: 512, released: 512, consumed: 0 (MB)", "scav"),
                (20.1, f"lab: scavenge released 512 MiB with {self._statuses[name].madvise} in 12.3 ms", "lab"),
            )
        )
        self._pending = LabUpdate(trace_lines=self.trace, statuses=tuple(self._statuses.values()))

    urgent = False
    epoch = 0

    def native(self, name: str):
        return None

    def set_notify(self, notify) -> None:
        self.calls.append(("set_notify",))

    def can(self, action: str, name: str | None = None):
        if action in ("pressure", "release_pressure") and not self.pressure_available:
            return f"pressure unavailable: {self.pressure_reason}"
        return True

    def start(self) -> None:
        self.calls.append(("start",))

    def poll(self, max_items: int = 2000) -> LabUpdate:
        update, self._pending = self._pending, LabUpdate()
        return update

    def push(self, update: LabUpdate) -> None:
        self._pending = update

    def series(self, name: str) -> Series:
        return self._series[name]

    def status(self, name: str) -> WorkloadStatus:
        return self._statuses[name]

    def set_status(self, name: str, **changes) -> WorkloadStatus:
        self._statuses[name] = replace(self._statuses[name], **changes)
        return self._statuses[name]

    def t_s(self) -> float:
        return self.now_s

    def upcoming(self, n: int = 3):
        return ()

    def __getattr__(self, method: str):
        if method in ("set_madvise", "gc", "scavenge", "alloc", "free", "pause", "resume", "restart", "pressure",
                      "release_pressure", "stop"):
            return lambda *args: self.calls.append((method, *args))
        raise AttributeError(method)
