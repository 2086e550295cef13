"""The GC pacer (GOGC goal, forced period) and one collection cycle over the heap's garbage spans."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from workloads.heap import Heap, Span
from workloads.trace import GcCycle

MIN_HEAP_BYTES = 4 << 20  # Go's heapminimum at GOGC=100: the first goal


class Pacer:
    """When the next GC is due: the heap reached its goal, or none ran for the forced period. Pure: time is passed in."""

    def __init__(self, gogc: int, forced_period_s: float, start_s: float = 0.0) -> None:
        self.gogc = gogc
        self.forced_period_s = forced_period_s
        self.last_gc_s = start_s
        self.goal_bytes = self.goal_for(0)

    def goal_for(self, live_bytes: int) -> int:
        """live × (1 + GOGC/100), never below Go's minimum heap scaled by GOGC; 0 when GOGC is off."""
        if self.gogc < 0:
            return 0
        return max(live_bytes * (100 + self.gogc) // 100, MIN_HEAP_BYTES * self.gogc // 100)

    def reached_goal(self, inuse_bytes: int) -> bool:
        return self.gogc >= 0 and inuse_bytes >= self.goal_bytes

    def forced_due(self, now_s: float) -> bool:
        return now_s >= self.next_forced_s()

    def next_forced_s(self) -> float:
        # Go's gcTrigger.test refuses the time trigger too when GOGC is off: no periodic GC then.
        if self.forced_period_s <= 0 or self.gogc < 0:
            return float("inf")
        return self.last_gc_s + self.forced_period_s

    def cycle_done(self, now_s: float, live_bytes: int) -> None:
        self.last_gc_s = now_s
        self.goal_bytes = self.goal_for(live_bytes)


@dataclass(frozen=True)
class GcResult:
    """One finished cycle: the trace figures and what it freed."""

    cycle: GcCycle
    freed_bytes: int


def collect(heap: Heap, garbage: list[Span], n: int, now_s: float, goal_bytes: int, forced: bool,
            gc_cpu_s: float) -> GcResult:
    """Free every garbage span into idle (stop-the-world, trivially short), timing the phases for gctrace."""
    t_start = time.perf_counter_ns()
    before = heap.stats().inuse
    spans = list(garbage)  # "mark": everything not held is garbage already
    t_mark = time.perf_counter_ns()
    freed = 0
    for span in spans:
        freed += span.n_bytes
        heap.free(span, now_s)
    garbage.clear()
    t_term = time.perf_counter_ns()
    live = heap.stats().inuse
    t_end = time.perf_counter_ns()
    clock = (t_mark - t_start, t_term - t_mark, t_end - t_term)
    total_cpu_s = gc_cpu_s + (t_end - t_start) / 1e9
    percent = int(total_cpu_s * 100 / now_s) if now_s > 0 else 0
    cycle = GcCycle(
        n=n, start_ms=int(now_s * 1000), cpu_percent=percent, clock_ns=clock,
        cpu_ns=(clock[0], 0, clock[1], 0, clock[2]), heap_before=before, heap_after=before, heap_live=live,
        goal=goal_bytes if goal_bytes > 0 else before, procs=os.cpu_count() or 1, forced=forced,
    )
    return GcResult(cycle, freed)
