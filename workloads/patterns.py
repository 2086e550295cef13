"""Allocation patterns (seed, sawtooth, churn, burst, steady): what the program allocates, holds and drops, when."""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

CHURN_STEPS_PER_S = 10  # churn replaces objects in batches, ten times a second
CHURN_STEP_S = 1 / CHURN_STEPS_PER_S


class Mutator(Protocol):
    """What a pattern may do to the heap: allocate (held) and drop (garbage until the next GC)."""

    def alloc(self, n_bytes: int) -> Any: ...

    def drop(self, objects: list[Any]) -> None: ...


class Pattern:
    """Base: `step(now_s, mut)` does what is due at pattern time now_s and returns when it is next due."""

    def __init__(self, opts: dict[str, Any]) -> None:
        self.opts = opts
        self.held: list[Any] = []

    def step(self, now_s: float, mut: Mutator) -> float:
        raise NotImplementedError

    def forget_all(self) -> list[Any]:
        """Hand over everything held (the `free` command drops it)."""
        held, self.held = self.held, []
        return held


class Seed(Pattern):
    """The post: COUNT allocations of SIZE, INTERVAL apart, held for HOLD after the last, then dropped together."""

    def __init__(self, opts: dict[str, Any]) -> None:
        super().__init__(opts)
        self.done = 0
        self.dropped = False

    def step(self, now_s: float, mut: Mutator) -> float:
        count, interval_s = self.opts["count"], self.opts["interval"]
        while self.done < count and now_s >= self.done * interval_s:
            self.held.append(mut.alloc(self.opts["size"]))
            self.done += 1
        if self.done < count:
            return self.done * interval_s
        drop_s = (count - 1) * interval_s + self.opts["hold"]
        if not self.dropped:
            if now_s >= drop_s:
                mut.drop(self.forget_all())
                self.dropped = True
            else:
                return drop_s
        return float("inf")


class Sawtooth(Pattern):
    """Grow by SIZE every INTERVAL up to PEAK, drop everything, repeat."""

    def __init__(self, opts: dict[str, Any]) -> None:
        super().__init__(opts)
        self.steps = 0  # ticks done; tick k is due at k × INTERVAL (counted, so no float drift)
        self.held_bytes = 0

    def _due_s(self, step: int) -> float:
        return step * max(self.opts["interval"], 1e-3)

    def step(self, now_s: float, mut: Mutator) -> float:
        while now_s >= self._due_s(self.steps):
            if self.held and self.held_bytes >= self.opts["peak"]:
                mut.drop(self.forget_all())
                self.held_bytes = 0
            else:
                self.held.append(mut.alloc(self.opts["size"]))
                self.held_bytes += self.opts["size"]
            self.steps += 1
        return self._due_s(self.steps)

    def forget_all(self) -> list[Any]:
        self.held_bytes = 0
        return super().forget_all()


class Churn(Pattern):
    """Keep LIVE bytes of OBJECT_SIZE objects, replacing RATE bytes per second (oldest first): fragmentation."""

    def __init__(self, opts: dict[str, Any]) -> None:
        super().__init__(opts)
        self.objects: deque[Any] = deque()
        self.steps = 0  # batches done; batch k is due at k / CHURN_STEPS_PER_S
        self.replaced = 0  # objects replaced so far: whole objects due by integer arithmetic, no float carry

    def step(self, now_s: float, mut: Mutator) -> float:
        size = max(self.opts["object_size"], 1)
        target = self.opts["live"] // size
        if self.steps == 0:
            for _ in range(target):
                self.objects.append(mut.alloc(size))
            self.steps = 1
            return self.steps / CHURN_STEPS_PER_S
        while now_s >= self.steps / CHURN_STEPS_PER_S:
            due = self.opts["rate"] * self.steps // (size * CHURN_STEPS_PER_S)
            n, self.replaced = due - self.replaced, due
            # New objects first, then the oldest go: a GC triggered mid-batch never sees less than LIVE held.
            for _ in range(n):
                self.objects.append(mut.alloc(size))
            while len(self.objects) < target:  # refill after a `free` command
                self.objects.append(mut.alloc(size))
            mut.drop([self.objects.popleft() for _ in range(len(self.objects) - target)])
            self.steps += 1
        return self.steps / CHURN_STEPS_PER_S

    def forget_all(self) -> list[Any]:
        objects = list(self.objects)
        self.objects.clear()
        return objects


class Burst(Pattern):
    """Hold BASE; every INTERVAL add SIZE and drop it after HOLD (half an interval when HOLD is 0)."""

    def __init__(self, opts: dict[str, Any]) -> None:
        super().__init__(opts)
        self.base: list[Any] = []
        self.started = False
        self.n_bursts = 0  # burst k starts at k × INTERVAL (counted, so no float drift)
        self.bursts: deque[tuple[float, Any]] = deque()

    def step(self, now_s: float, mut: Mutator) -> float:
        if not self.started:
            self.base.append(mut.alloc(self.opts["base"]))
            self.started = True
        interval_s = max(self.opts["interval"], 1e-3)
        hold_s = self.opts["hold"] or interval_s / 2
        while self.bursts and now_s >= self.bursts[0][0]:
            mut.drop([self.bursts.popleft()[1]])
        while now_s >= self.n_bursts * interval_s:
            self.bursts.append((self.n_bursts * interval_s + hold_s, mut.alloc(self.opts["size"])))
            self.n_bursts += 1
        return min(self.n_bursts * interval_s, self.bursts[0][0] if self.bursts else float("inf"))

    def forget_all(self) -> list[Any]:
        objects = self.base + [obj for _, obj in self.bursts]
        self.base, self.bursts = [], deque()
        return objects


class Steady(Pattern):
    """Allocate SIZE once and hold it."""

    def step(self, now_s: float, mut: Mutator) -> float:
        if not getattr(self, "started", False):
            self.started = True
            self.held.append(mut.alloc(self.opts["size"]))
        return float("inf")


PATTERN_CLASSES = {"seed": Seed, "sawtooth": Sawtooth, "churn": Churn, "burst": Burst, "steady": Steady}


def make_pattern(opts: dict[str, Any]) -> Pattern:
    return PATTERN_CLASSES[opts["pattern"]](opts)
