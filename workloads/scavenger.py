"""Scavenger policies (go1.12, paced, eager, off) deciding what to release, and releasing it with a madvise mode."""

from __future__ import annotations

import time
from dataclasses import dataclass

from workloads.heap import GO_PAGE_BYTES, Heap, Span, round_up

PACED_RATE_BYTES_PER_S = 64 << 20  # background release rate: slow enough to watch RSS creep down
PACED_MAX_DT_S = 0.5  # a late or first tick after a pause earns at most this much release budget
PACED_RETAIN_RATIO = 1.10  # Go's background scavenger keeps retained memory near 110% of the goal


@dataclass(frozen=True)
class Plan:
    """What to release: (span, bytes from its start) pairs, and why (bg, eager, forced)."""

    parts: tuple[tuple[Span, int], ...]
    why: str
    gen: int | None = None  # go1.12 scvgN number; -1 for a forced release

    @property
    def n_bytes(self) -> int:
        return sum(n for _, n in self.parts)


class Scavenger:
    """Decides when and what to release. Pure: time and idle spans are passed in, so tests use a fake clock."""

    def __init__(self, policy: str, period_s: float, idle_s: float, start_s: float = 0.0) -> None:
        self.policy = policy
        self.period_s = period_s
        self.idle_s = idle_s
        self.next_sweep_s = start_s + period_s
        self.gen = 0
        self.last_tick_s = start_s

    def next_due_s(self) -> float:
        if self.policy == "go1.12":
            return self.next_sweep_s
        if self.policy == "paced":
            return self.last_tick_s + 0.1
        return float("inf")

    def after_gc(self, idle: list[Span]) -> Plan | None:
        """eager: release all idle memory right after a GC."""
        if self.policy != "eager" or not idle:
            return None
        return Plan(tuple((s, s.n_bytes) for s in idle), "eager", self._next_gen())

    def forced(self, idle: list[Span]) -> Plan:
        """On command (debug.FreeOSMemory): release everything idle, whatever the policy."""
        return Plan(tuple((s, s.n_bytes) for s in idle), "forced", -1)

    def tick(self, now_s: float, idle: list[Span], inuse_bytes: int, goal_bytes: int) -> Plan | None:
        """go1.12: a periodic sweep of long-idle spans; paced: release a little when retained exceeds the target."""
        dt_s, self.last_tick_s = now_s - self.last_tick_s, now_s
        if self.policy == "go1.12" and now_s >= self.next_sweep_s:
            while self.next_sweep_s <= now_s:
                self.next_sweep_s += self.period_s if self.period_s > 0 else float("inf")
            old = tuple((s, s.n_bytes) for s in idle if now_s - s.freed_at_s >= self.idle_s)
            return Plan(old, "bg", self._next_gen())  # Go prints the summary even when nothing was old enough
        if self.policy == "paced" and goal_bytes > 0:
            retained = inuse_bytes + sum(s.n_bytes for s in idle)
            excess = retained - int(goal_bytes * PACED_RETAIN_RATIO)
            budget = min(excess, int(PACED_RATE_BYTES_PER_S * min(max(dt_s, 0.0), PACED_MAX_DT_S)))
            if budget <= 0 or not idle:  # over target with nothing idle (garbage not yet swept): no empty pass
                return None
            parts = []
            for span in sorted(idle, key=lambda s: s.freed_at_s):  # longest idle first
                take = min(span.n_bytes, budget)
                parts.append((span, take))
                budget -= take
                if budget <= 0:
                    break
            return Plan(tuple(parts), "bg", self._next_gen())
        return None

    def _next_gen(self) -> int:
        gen, self.gen = self.gen, self.gen + 1
        return gen


@dataclass(frozen=True)
class Released:
    """What one scavenge did to the kernel: bytes, syscall time, a fallback note, or the refusal."""

    n_bytes: int
    madvise_s: float
    mode: str
    fallback: str | None = None
    error: OSError | None = None


def release(heap: Heap, plan: Plan, mode: str) -> Released:
    """Release the plan's spans with `mode`; munmap takes whole free arenas and falls back to DONTNEED elsewhere."""
    t0 = time.perf_counter()
    released, fallback = 0, None
    parts = list(plan.parts)
    if mode == "munmap":
        before = heap.stats()
        planned = {id(s) for s, n in parts if n == s.n_bytes}
        heap.unmap_free_arenas(lambda arena: all(s.state == "released" or id(s) in planned for s in arena.spans))
        after = heap.stats()
        released += before.idle - after.idle
        alive = {id(s) for a in heap.arenas for s in a.spans}
        parts = [(s, n) for s, n in parts if id(s) in alive]
        if parts:
            fallback = "MADV_DONTNEED"
    try:
        for span, n_bytes in parts:
            if span.state != "idle":
                continue
            take = min(round_up(n_bytes, GO_PAGE_BYTES), span.n_bytes)  # what heap.release really releases
            heap.release(span, take, fallback or mode)
            released += take
    except OSError as exc:
        return Released(released, time.perf_counter() - t0, mode, fallback, exc)
    return Released(released, time.perf_counter() - t0, mode, fallback)
