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
