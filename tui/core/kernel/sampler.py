"""Kernel truth: a plain thread reading /proc/PID/statm every tick and smaps_rollup when it can have changed."""

from __future__ import annotations

import dataclasses
import os
import re
import select
import threading
import time
from dataclasses import dataclass
from typing import Callable

from tui.core.model import KernelMemory

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# Direct /proc reads, not psutil: psutil has no LazyFree (nor Anonymous from the rollup), and its memory_info()
# opens and parses statm anew each call where a kept fd and one pread serve the 10 Hz tick.
# smaps_rollup is a page walk (~3-8 ms per resident GiB); statm is a counter read (~1 us). Reading the
# rollup only when statm moved, when told a release happened, or at least this often keeps LazyFree
# fresh (MADV_FREE does not change RSS, so statm alone cannot see it) at a fraction of the cost.
# The once-a-second read is skipped while the process has not run at all: only the process itself can
# MADV_FREE or re-touch its pages, and what the kernel does on its own (reclaim, swap-out) moves RSS.
ROLLUP_MAX_AGE_S = 1.0
# Page walks out of that floor (statm moved, a release announced) spend from one bucket for all pids, refilled at
# this share of a core: a lone release is read at once (the bucket is full), a churning workload's LazyFree is as
# fresh as the budget pays for (and never older than the floor), so the cost does not follow how busy it is.
ROLLUP_BUDGET = 0.002
ROLLUP_BURST_S = 0.05  # the bucket holds this many seconds of page walks (a burst of lone releases read at once)
# A process that has not run since the last tick cannot have moved its own memory (only the kernel can, by reclaim:
# under pressure, which invalidates, or a low machine): while every watched pid sleeps, the sampler ticks this often.
# At 10 Hz its wake-ups alone cost this VM ~0.1 % of a core (~105 us each, cold caches, whatever the tick does).
IDLE_INTERVAL_S = 0.5
_ROLLUP_FIELDS = re.compile(rb"^(Rss|Anonymous|LazyFree|AnonHugePages|Swap):\s+(\d+) kB", re.M)

# callback(pid, t_s, memory): memory is None once the process is gone (then the pid is forgotten).
SampleCallback = Callable[[int, float, "KernelMemory | None"], None]


def parse_smaps_rollup(text: bytes) -> KernelMemory | None:
    """Rss, Anonymous, LazyFree, Swap and AnonHugePages (bytes) from smaps_rollup; None when empty (a zombie has no mm)."""
    fields = {name: int(kib) * 1024 for name, kib in _ROLLUP_FIELDS.findall(text)}
    if b"Rss" not in fields:
        return None
    return KernelMemory(fields[b"Rss"], fields.get(b"Anonymous", 0), fields.get(b"LazyFree", 0),
                        fields.get(b"Swap", 0), fields.get(b"AnonHugePages", 0))


def parse_statm_rss_pages(text: bytes) -> int | None:
    parts = text.split()
    return int(parts[1]) if len(parts) > 1 else None


def parse_statm_anon_pages(text: bytes) -> int | None:
    """Anonymous resident pages: statm's resident minus its shared (file-backed and shmem) pages."""
    parts = text.split()
    return int(parts[1]) - int(parts[2]) if len(parts) > 2 else None


def process_cpu_clock(pid: int) -> int:
    """The clock id of a process's CPU time, all threads, in ns (what clock_getcpuclockid(3) returns)."""
    return ((~pid) << 3) | 2  # CPUCLOCK_SCHED for the whole thread group; no permission needed to read it


def read_cpu_ns(clock_id: int) -> int | None:
    """The process's CPU time in ns, or None when it cannot be read (the process is gone)."""
    try:
        return time.clock_gettime_ns(clock_id)
    except OSError:
        return None


def read_smaps_rollup(pid: int) -> KernelMemory | None:
    """A one-off read (tests, tools); the sampler keeps its files open instead."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as file:
            return parse_smaps_rollup(file.read())
    except OSError:
        return None


PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
RECLAIM_PAGES = (1 << 20) // PAGE_BYTES  # RSS dropping by more than a MiB unannounced may be reclaim of LazyFree

class _Watched:
    """One pid's kept file descriptors and last figures."""

    __slots__ = ("pid", "statm_fd", "rollup_fd", "cpu_clock", "rss_pages", "memory", "rollup_at", "rollup_cpu_ns",
                 "stale", "max_age_s", "sampled_at", "no_lazyfree", "urgent_at", "walk_s", "announced",
                 "tick_cpu_ns")

    def __init__(self, pid: int, max_age_s: float | None = None, announced: bool = False) -> None:
        self.pid = pid
        self.announced = announced  # every MADV_FREE and re-touch of it is announced (invalidate)
        self.max_age_s = max_age_s  # None: the sampler's own rollup_max_age_s
        self.statm_fd = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
        try:
            self.rollup_fd = os.open(f"/proc/{pid}/smaps_rollup", os.O_RDONLY)
        except OSError:
            os.close(self.statm_fd)
            raise
        self.cpu_clock = process_cpu_clock(pid)
        self.rss_pages: int | None = None
        self.memory: KernelMemory | None = None
        self.rollup_at = 0.0
        self.rollup_cpu_ns: int | None = None  # the process's CPU time just before the last rollup
        self.stale = True
        self.sampled_at = -1e9
        self.urgent_at = -1e9  # the last read out of turn (an invalidation)
        self.no_lazyfree = False  # told: this process releases nothing with MADV_FREE (set_no_lazyfree)
        self.walk_s = 0.0  # how long its last page walk took (an 8 GiB process: ~50 ms)
        self.tick_cpu_ns: int | None = None  # its CPU time at the last tick (unchanged: it slept)

    def close(self) -> None:
        for fd in (self.statm_fd, self.rollup_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class _Wake:
    """Event-like wake-up on an eventfd: waiting in poll(2) costs this VM ~1/3 less CPU per tick than Event.wait."""

    def __init__(self) -> None:
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)

    def set(self) -> None:
        try:
            os.eventfd_write(self._fd, 1)
        except OSError:
            pass  # closed (stopped): nobody waits any more

    def wait(self, timeout_s: float) -> bool:
        """True when set() was called (and clears it), False after timeout_s."""
        if not self._poll.poll(max(0, int(timeout_s * 1000 + 0.999))):
            return False
        try:
            os.eventfd_read(self._fd)
        except OSError:  # BlockingIOError: another waiter cleared it
            pass
        return True

    def __del__(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass


@dataclass(frozen=True, slots=True)
class SamplerStats:
    """Read counts and time spent, for the benchmark."""

    ticks: int
    statm_reads: int
    rollup_reads: int
    rollups_skipped_idle: int
    statm_s: float
    rollup_s: float
    samples: int
    statm_only: int = 0  # changes answered by statm alone (no LazyFree possible, or an announced process)
    rollups_deferred: int = 0  # changes answered by statm with the last LazyFree (the page-walk budget was spent)


class Sampler:
    """Samples registered pids every `interval_s` on its own thread; `invalidate(pid)` forces a fresh rollup now."""

    def __init__(self, interval_s: float, callback: SampleCallback, *, t0: float | None = None,
                 rollup_max_age_s: float = ROLLUP_MAX_AGE_S, skip_idle: bool = True,
                 rollup_budget: float = ROLLUP_BUDGET, rollup_burst_s: float = ROLLUP_BURST_S,
                 idle_interval_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        # None: every tick at interval_s; else the interval while every watched pid slept since the last tick
        self.idle_interval_s = None if idle_interval_s is None else max(interval_s, idle_interval_s)
        self.all_asleep = False  # at the last tick
        self._callback = callback
        self._clock = clock
        self._t0 = clock() if t0 is None else t0
        self._rollup_max_age_s = rollup_max_age_s
        self._skip_idle = skip_idle  # False: the periodic rollup even for a process that did not run (benchmarks)
        self._lock = threading.Lock()
        self._watched: dict[int, _Watched] = {}
        self._urgent: set[int] = set()
        self._wake = _Wake()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticks = self._statm_reads = self._rollup_reads = self._samples = self._rollups_skipped = 0
        self._statm_only = 0  # changes read from statm alone (a process that leaves no LazyFree)
        self._deferred = 0
        self._budget, self._burst_s = rollup_budget, rollup_burst_s
        self._credit_s, self._credit_at = rollup_burst_s, clock()  # the page-walk bucket (ROLLUP_BUDGET)
        self._statm_s = self._rollup_s = 0.0

    # --- called from any thread ---


    def set_epoch(self, t0: float) -> None:
        """Time samples from `t0` (the source's start), so samples and messages share one time axis."""
        self._t0 = t0
    def add(self, pid: int, rollup_max_age_s: float | None = None, announced: bool = False) -> bool:
        """Start sampling `pid`; False when it is already gone.

        `rollup_max_age_s` overrides the periodic rollup's age for this pid: a workload that announces each
        release (and the Lab invalidates on it) needs the safety read less often. `announced`: it does (our
        Python workloads), so RSS growing or shrinking a little needs no page walk (LazyFree only moves with what it
        announces, or with reclaim, which drops RSS by more).
        """
        with self._lock:
            if pid in self._watched:
                return True
            try:
                self._watched[pid] = _Watched(pid, rollup_max_age_s, announced)
            except OSError:
                return False
        self.invalidate(pid)
        return True

    def remove(self, pid: int) -> None:
        with self._lock:
            watched = self._watched.pop(pid, None)
            self._urgent.discard(pid)
        if watched is not None:
            watched.close()

    def set_no_lazyfree(self, pid: int, no_lazyfree: bool) -> None:
        """Whether `pid` releases memory only in ways that leave no LazyFree (MADV_DONTNEED, munmap, none).

        While so and its last rollup showed no LazyFree, a change of RSS needs no page walk: statm's resident and
        anonymous counts are the rollup's Rss and Anonymous and LazyFree stays 0 (the periodic rollup still runs).
        """
        with self._lock:
            watched = self._watched.get(pid)
            if watched is not None:
                watched.no_lazyfree = no_lazyfree

    def invalidate(self, pid: int) -> bool:
        """The pid's memory just changed (release, alloc, ...): read its rollup now if the budget pays for it,
        else at the first tick it does (or the floor); waking the thread for a read it cannot make costs a core.

        True when the read comes now or at the next tick; False when it waits for the budget (a churn).
        """
        with self._lock:
            watched = self._watched.get(pid)
            if watched is None:
                return False
            watched.stale = True
            now = self._clock()
            if not self._affordable(now):
                return False
            if now - watched.urgent_at < self.interval_s:
                return True  # read out of turn a moment ago: the next tick reads it
            self._urgent.add(pid)
        self._wake.set()
        return True

    def _affordable(self, now: float) -> bool:
        """Whether the bucket is out of debt (called under the lock): a walk spends what it cost, and the debt is
        repaid at the budget's rate, so paid walks average at most ROLLUP_BUDGET of a core."""
        self._credit_s = min(self._burst_s, self._credit_s + (now - self._credit_at) * self._budget)
        self._credit_at = now
        return self._credit_s >= 0

    @property
    def pids(self) -> tuple[int, ...]:
        with self._lock:
            return tuple(self._watched)

    def stats(self) -> SamplerStats:
        return SamplerStats(self._ticks, self._statm_reads, self._rollup_reads, self._rollups_skipped,
                            self._statm_s, self._rollup_s, self._samples, self._statm_only, self._deferred)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="madvise-lab-sampler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        with self._lock:
            watched, self._watched = list(self._watched.values()), {}
        for w in watched:
            w.close()

    # --- the sampling thread ---

    def _run(self) -> None:
        next_tick = self._clock()
        while not self._stopping.is_set():
            timeout = next_tick - self._clock()
            if timeout > 0 and self._wake.wait(timeout):
                with self._lock:
                    urgent, self._urgent = self._urgent, set()
                if self._stopping.is_set():
                    break
                if urgent and next_tick - self._clock() > 0:
                    self.sample_pids(self._ready(urgent))
                    # something moved: back to interval_s (a sleeping tick may have been up to idle_interval_s away)
                    self.all_asleep = False
                    next_tick = min(next_tick, self._clock() + self.interval_s)
                    continue
            self.tick()
            next_tick = max(next_tick + self.next_interval_s(), self._clock())  # skip ticks we missed, never burst

    def next_interval_s(self) -> float:
        """How long until the next tick: interval_s, or idle_interval_s while every watched pid slept."""
        return self.idle_interval_s if self.all_asleep and self.idle_interval_s is not None else self.interval_s

    def _ready(self, urgent: set[int]) -> list[int]:
        """The invalidated pids to read now: at most one read out of turn per pid and interval; the others stay
        stale for the next tick.

        A lone release is read at once (release → screen in milliseconds); a churning workload announces a release,
        an allocation and a re-touch every 0.1 s, and reading its rollup on each would be a page walk per
        announcement, while one out of turn per tick keeps LazyFree at most interval_s old whatever it does.
        """
        now = self._clock()
        with self._lock:
            ready = [w for pid in urgent if (w := self._watched.get(pid)) is not None
                     and now - w.urgent_at >= self.interval_s and self._affordable(now)]
            for w in ready:
                w.urgent_at = now
            return [w.pid for w in ready]

    def tick(self) -> None:
        """Sample every watched pid once (the thread calls this; tests may too)."""
        self._ticks += 1
        with self._lock:
            self._urgent.clear()
        pids = self.pids
        self.sample_pids(pids)
        if self.idle_interval_s is not None:
            self.all_asleep = bool(pids) and all([self._slept(pid) for pid in pids])  # each pid's clock read

    def _slept(self, pid: int) -> bool:
        """Whether `pid` has not run since the last tick (its CPU time is unchanged)."""
        with self._lock:
            watched = self._watched.get(pid)
        if watched is None:
            return True  # gone: nothing to sample
        cpu_ns = read_cpu_ns(watched.cpu_clock)
        slept = cpu_ns is not None and cpu_ns == watched.tick_cpu_ns
        watched.tick_cpu_ns = cpu_ns
        return slept

    def sample_pids(self, pids) -> None:
        for pid in pids:
            with self._lock:
                watched = self._watched.get(pid)
            if watched is None:
                continue
            memory = self._read(watched)
            watched.sampled_at = self._clock()
            t_s = watched.sampled_at - self._t0
            if memory is None:
                self.remove(pid)
                self._callback(pid, t_s, None)
            else:
                self._samples += 1
                self._callback(pid, t_s, memory)

    @staticmethod
    def _from_statm(watched: _Watched, last: KernelMemory, statm: bytes, rss_pages: int, stale: bool) -> KernelMemory:
        """The last walk's figures with RSS and Anonymous from statm (resident − shared), no page walk."""
        anon_pages = parse_statm_anon_pages(statm) or 0
        watched.stale = stale
        watched.rss_pages = rss_pages
        watched.memory = dataclasses.replace(last, rss_bytes=rss_pages * PAGE_BYTES,
                                             anon_bytes=max(0, anon_pages) * PAGE_BYTES)
        return watched.memory

    def _read(self, watched: _Watched) -> KernelMemory | None:
        started = time.perf_counter()
        try:
            statm = os.pread(watched.statm_fd, 256, 0)
            rss_pages = parse_statm_rss_pages(statm)
        except OSError:
            return None
        finally:
            self._statm_reads += 1
            self._statm_s += time.perf_counter() - started
        now = self._clock()
        due = watched.stale or rss_pages != watched.rss_pages or not rss_pages
        cpu_ns = None
        max_age_s = self._rollup_max_age_s if watched.max_age_s is None else watched.max_age_s
        # ages as they will be at the next tick's end: a walk that would be over age by then is made now, so what is
        # shown is never older than the max age (not max age + a tick + the walk)
        age_s = now - watched.rollup_at + self.interval_s + watched.walk_s
        last = watched.memory
        if due and rss_pages and last is not None:
            no_lazyfree = watched.no_lazyfree and last.lazyfree_bytes == 0
            # an announced process's LazyFree moves only with what it announces, or with reclaim (RSS drops by more)
            told = (watched.announced and not watched.stale and watched.rss_pages is not None
                    and watched.rss_pages - rss_pages <= RECLAIM_PAGES)
            if (no_lazyfree or told) and age_s <= max_age_s:
                # the counters say all that a page walk would (LazyFree as it was)
                self._statm_only += 1
                return self._from_statm(watched, last, statm, rss_pages, stale=False)
            # a change may wait for the budget at most the sampler's floor (1 s), even for a pid with a rarer
            # safety read
            if age_s <= min(max_age_s, self._rollup_max_age_s):
                with self._lock:
                    affordable = self._affordable(now)
                if not affordable:
                    # the budget is spent (churn): RSS from statm now, LazyFree from the last walk (younger than the
                    # floor); stale, so the first tick the budget pays for walks again
                    self._deferred += 1
                    return self._from_statm(watched, last, statm, rss_pages, stale=True)
        if not due and age_s > max_age_s:
            cpu_ns = read_cpu_ns(watched.cpu_clock) if self._skip_idle else None
            if cpu_ns is not None and cpu_ns == watched.rollup_cpu_ns:
                # it has not run since the last rollup: nothing but RSS (statm) can have moved
                watched.rollup_at = now
                self._rollups_skipped += 1
            else:
                due = True
        if due:
            paid = age_s <= max_age_s  # the floor's own walks are not paid from the bucket
            watched.stale = False
            watched.rss_pages = rss_pages
            watched.rollup_at = now
            # read before the rollup, so anything the process does during or after the read counts as running
            watched.rollup_cpu_ns = cpu_ns if cpu_ns is not None else read_cpu_ns(watched.cpu_clock)
            started = time.perf_counter()
            try:
                watched.memory = parse_smaps_rollup(os.pread(watched.rollup_fd, 4096, 0))
            except OSError:
                watched.memory = None
            finally:
                cost_s = watched.walk_s = time.perf_counter() - started
                self._rollup_reads += 1
                self._rollup_s += cost_s
                if paid:
                    with self._lock:
                        self._credit_s -= cost_s
        return watched.memory
