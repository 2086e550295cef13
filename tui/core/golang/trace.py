"""Classify and parse the Go runtime's gctrace and scavenger lines, tolerant of every format since Go 1.12."""

from __future__ import annotations

import re
from dataclasses import dataclass
from tui.core.units import KiB

MB = 1 << 20

# gctrace (Go 1.12 .. current). The tail after "goal," varies by version: 1.18+ adds stacks and globals.
_GC = re.compile(
    r"^gc (?P<n>\d+) @(?P<at>[0-9.]+)s (?P<pct>\d+)%: "
    r"(?P<clock>[^ ]+) ms clock, (?P<cpu>[^ ]+) ms cpu, "
    r"(?P<before>\d+)->(?P<after>\d+)->(?P<live>\d+) MB, (?P<goal>\d+) MB goal, "
    r"(?:(?P<stacks>\d+) MB stacks, )?(?:(?P<globals>\d+) MB globals, )?"
    r"(?P<procs>\d+) P(?P<forced> \(forced\))?\s*$"
)
_GC_FORCED = re.compile(r"^GC forced\s*$")
# Go 1.12: "scvg2: 1024 MB released"; Go 1.13: "scvg: ..."; FreeOSMemory: "scvg-1: ...".
_SCVG_RELEASED = re.compile(r"^scvg(?P<n>-1|\d+)?: (?P<released>\d+) MB released\s*$")
_SCVG_STATE = re.compile(
    r"^scvg(?P<n>-1|\d+)?: inuse: (?P<inuse>\d+), idle: (?P<idle>\d+), sys: (?P<sys>\d+), "
    r"released: (?P<released>\d+), consumed: (?P<consumed>\d+) \(MB\)\s*$"
)
# Both scav formats end in " (forced)" after debug.FreeOSMemory, or " [controller reset]" when the
# scavenger's pacing controller failed. "total"/"now" is all memory released so far.
_SCAV_TAIL = r"(?P<util>\d+)% util(?: (?P<forced>\(forced\))| \[controller reset\])?\s*$"
# Go 1.14-1.18: "scav GEN N KiB work, N KiB total, N% util"; Go 1.19-1.20 dropped GEN.
_SCAV_119 = re.compile(r"^scav (?:(?P<gen>\d+) )?(?P<work>\d+) KiB work, (?P<total>\d+) KiB total, " + _SCAV_TAIL)
# Go 1.21+: "scav N KiB work (bg), N KiB work (eager), N KiB now, N% util" (the docs say "total").
_SCAV_NOW = re.compile(
    r"^scav (?P<bg>\d+) KiB work \(bg\), (?P<eager>\d+) KiB work \(eager\), "
    r"(?P<now>\d+) KiB (?:now|total), " + _SCAV_TAIL
)
_CLASSIFY_GC = re.compile(r"^(gc \d+ @|GC forced)")
_CLASSIFY_SCAV = re.compile(r"^(scvg(-1|\d+)?:|scav \d)")


@dataclass(frozen=True)
class GcTrace:
    """One GC cycle (or the `GC forced` announcement, where `n` is None and figures are 0)."""

    n: int | None
    at_s: float
    forced: bool
    heap_before_bytes: int
    heap_after_bytes: int
    heap_live_bytes: int
    goal_bytes: int
    stacks_bytes: int | None
    globals_bytes: int | None
    procs: int
    cpu_percent: int = 0
    announcement: bool = False  # the bare `GC forced` line that precedes a periodic forced GC


@dataclass(frozen=True)
class ScavTrace:
    """One scavenger line; fields a format does not print are None."""

    fmt: str  # "scvg-released" | "scvg-state" | "scav-1.19" | "scav"
    released_bytes: int | None = None  # bytes this line says were released (scvg "N MB released", scav work)
    cycle: int | None = None  # scvgN: N (-1 for FreeOSMemory, None for Go 1.13 "scvg:"); scav GEN (1.14-1.18)
    inuse_bytes: int | None = None
    idle_bytes: int | None = None
    sys_bytes: int | None = None
    total_released_bytes: int | None = None  # all released so far: scvg "released:", scav "total"/"now"
    consumed_bytes: int | None = None
    work_bytes: int | None = None
    work_bg_bytes: int | None = None
    work_eager_bytes: int | None = None
    util_percent: int | None = None
    forced: bool = False  # scav line printed for debug.FreeOSMemory


def classify(line: str) -> str:
    """'gc' for gctrace lines and `GC forced`, 'scav' for scavenger lines, else 'other'."""
    text = line.strip()
    if _CLASSIFY_GC.match(text):
        return "gc"
    if _CLASSIFY_SCAV.match(text):
        return "scav"
    return "other"


def _cycle(raw: str | None) -> int | None:
    return None if raw is None else int(raw)


def _parse_gc(m: re.Match[str]) -> GcTrace:
    stacks, globals_ = m.group("stacks"), m.group("globals")
    return GcTrace(
        n=int(m.group("n")),
        at_s=float(m.group("at")),
        forced=m.group("forced") is not None,
        heap_before_bytes=int(m.group("before")) * MB,
        heap_after_bytes=int(m.group("after")) * MB,
        heap_live_bytes=int(m.group("live")) * MB,
        goal_bytes=int(m.group("goal")) * MB,
        stacks_bytes=None if stacks is None else int(stacks) * MB,
        globals_bytes=None if globals_ is None else int(globals_) * MB,
        procs=int(m.group("procs")),
        cpu_percent=int(m.group("pct")),
    )


def parse_line(line: str) -> GcTrace | ScavTrace | None:
    """The parsed figures of a runtime trace line, or None when it is not one we know (show it as is)."""
    text = line.strip()
    if m := _GC.match(text):
        return _parse_gc(m)
    if _GC_FORCED.match(text):
        return GcTrace(None, 0.0, True, 0, 0, 0, 0, None, None, 0, announcement=True)
    if m := _SCVG_RELEASED.match(text):
        return ScavTrace("scvg-released", released_bytes=int(m.group("released")) * MB, cycle=_cycle(m.group("n")))
    if m := _SCVG_STATE.match(text):
        return ScavTrace(
            "scvg-state",
            cycle=_cycle(m.group("n")),
            inuse_bytes=int(m.group("inuse")) * MB,
            idle_bytes=int(m.group("idle")) * MB,
            sys_bytes=int(m.group("sys")) * MB,
            total_released_bytes=int(m.group("released")) * MB,
            consumed_bytes=int(m.group("consumed")) * MB,
        )
    if m := _SCAV_NOW.match(text):
        bg, eager = int(m.group("bg")) * KiB, int(m.group("eager")) * KiB
        return ScavTrace(
            "scav",
            released_bytes=bg + eager,
            work_bytes=bg + eager,
            work_bg_bytes=bg,
            work_eager_bytes=eager,
            total_released_bytes=int(m.group("now")) * KiB,
            util_percent=int(m.group("util")),
            forced=m.group("forced") is not None,
        )
    if m := _SCAV_119.match(text):
        work = int(m.group("work")) * KiB
        return ScavTrace(
            "scav-1.19",
            released_bytes=work,
            cycle=_cycle(m.group("gen")),
            work_bytes=work,
            total_released_bytes=int(m.group("total")) * KiB,
            util_percent=int(m.group("util")),
            forced=m.group("forced") is not None,
        )
    return None
