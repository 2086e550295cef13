"""Scripted timeline steps from the config's `timeline:` section, run by the dashboard and by `record`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACTIONS = ("set_madvise", "gc", "scavenge", "alloc", "free", "pressure", "release_pressure", "restart")


@dataclass(frozen=True, slots=True)
class TimelineStep:
    """Do `do` to `workload` (a name, or "all") `at_s` seconds after the run started."""

    at_s: float
    do: str
    workload: str
    value: Any = None


class Timeline:
    """Steps sorted by time; `due(now_s)` hands out each step once, when its time has come."""

    def __init__(self, steps: "tuple[TimelineStep, ...] | list[TimelineStep]" = ()) -> None:
        # A stable sort keeps the config's order for steps at the same time.
        self._steps: tuple[TimelineStep, ...] = tuple(sorted(steps, key=lambda step: step.at_s))
        self._next_index = 0

    @property
    def steps(self) -> tuple[TimelineStep, ...]:
        return self._steps

    @property
    def done(self) -> bool:
        return self._next_index >= len(self._steps)

    def due(self, now_s: float) -> tuple[TimelineStep, ...]:
        """Steps whose `at_s` <= now_s not handed out before, in time order."""
        start = self._next_index
        end = start
        while end < len(self._steps) and self._steps[end].at_s <= now_s:
            end += 1
        self._next_index = end
        return self._steps[start:end]

    def upcoming(self, now_s: float, n: int = 3) -> tuple[TimelineStep, ...]:
        """The next `n` steps not yet handed out (for the dashboard's "next" line)."""
        del now_s  # what is pending depends on what due() handed out, not on the clock alone
        return self._steps[self._next_index:self._next_index + n]

    def reset(self) -> None:
        """Start over (e.g. a restarted run)."""
        self._next_index = 0

    def __len__(self) -> int:
        return len(self._steps)


def describe_step(step: TimelineStep) -> str:
    """One line for the trace pane: 'at 30s: set_madvise free MADV_DONTNEED'."""
    value = "" if step.value is None else f" {step.value}"
    return f"at {step.at_s:g}s: {step.do} {step.workload}{value}"
