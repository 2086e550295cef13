"""The workload's knobs: one table that drives the workload CLI, the dashboard's config checks and the docs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from workloads.units import DURATION_HELP, SIZE_HELP, MiB, parse_duration, parse_size, short_repr

PATTERNS = ("seed", "sawtooth", "churn", "burst", "steady")
MADVISE_MODES = ("MADV_FREE", "MADV_DONTNEED", "MADV_COLD", "MADV_PAGEOUT", "munmap", "none")
SCAVENGER_POLICIES = ("go1.12", "paced", "eager", "off")
TRACE_FORMATS = ("go1.12", "go1.19", "go1.21")
_WHOLE = re.compile(r"^[+-]?[0-9]{1,11}$")


NEVER_S = -1.0  # a "decay" option set to never (jemalloc's decay_ms -1: those pages are not purged by time)


@dataclass(frozen=True)
class Option:
    """One knob: `name` is the config key; the CLI flag is `--name` with dashes."""

    name: str
    kind: str  # "size" | "duration" | "decay" (a duration or never) | "int" | "choice" | "bool"
    default: Any  # already parsed: bytes, seconds, int, str, bool
    help: str
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, raw: Any) -> Any:
        """The parsed value, or ValueError saying what this option accepts."""
        if self.kind == "size":
            return parse_size(raw)
        if self.kind == "duration":
            return parse_duration(raw)
        if self.kind == "decay":  # jemalloc's decay times: a duration, or never (decay_ms -1)
            return NEVER_S if isinstance(raw, str) and raw.strip().lower() == "never" else parse_duration(raw)
        if self.kind == "int":
            if isinstance(raw, bool):
                raise ValueError(f"expected a whole number, got {raw!r}")
            if isinstance(raw, int) and abs(raw) >= 10**11:  # str() of a huge int would itself fail
                raise ValueError(f"expected a whole number (at most 11 digits), got {short_repr(raw)}")
            text = str(raw).strip() if isinstance(raw, (int, str)) else ""
            if not _WHOLE.fullmatch(text):
                raise ValueError(f"expected a whole number (at most 11 digits), got {short_repr(raw)}")
            return int(text, 10)
        if self.kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"expected true or false, got {raw!r}")
        if self.kind == "choice":
            for choice in self.choices:
                if str(raw).lower() == choice.lower():
                    return choice
            raise ValueError(f"expected one of {', '.join(self.choices)}, got {raw!r}")
        raise AssertionError(self.kind)

    def accepts(self) -> str:
        """What a user may write, for error messages and --help."""
        return {
            "size": SIZE_HELP,
            "duration": DURATION_HELP,
            "decay": DURATION_HELP + ", or never",
            "int": "a whole number",
            "bool": "true or false",
            "choice": "one of " + ", ".join(self.choices),
        }[self.kind]


OPTIONS: tuple[Option, ...] = (
    Option("pattern", "choice", "seed", "allocation pattern: seed (the post: COUNT allocations of SIZE every "
           "INTERVAL, held for HOLD, then dropped together), sawtooth (grow by SIZE every INTERVAL to PEAK, drop, "
           "repeat), churn (keep LIVE bytes of OBJECT_SIZE objects, replacing RATE bytes per second), burst "
           "(hold BASE, every INTERVAL add SIZE for HOLD), steady (hold SIZE)", PATTERNS),
    Option("size", "size", 512 * MiB, "bytes per allocation (seed, sawtooth, burst) or the live heap (steady)"),
    Option("count", "int", 2, "seed: how many allocations of SIZE"),
    Option("interval", "duration", 10.0, "time between allocations (seed, sawtooth) or between bursts"),
    Option("hold", "duration", 0.0, "how long allocations are held before they are dropped (seed, burst)"),
    Option("peak", "size", 256 * MiB, "sawtooth: the heap size at which everything is dropped"),
    Option("base", "size", 64 * MiB, "burst: the live heap held all the time"),
    Option("live", "size", 64 * MiB, "churn: the live heap kept while objects are replaced"),
    Option("object_size", "size", 64 * 1024, "churn: bytes per object"),
    Option("rate", "size", 16 * MiB, "churn: bytes replaced per second"),
    Option("madvise", "choice", "MADV_FREE", "how the scavenger returns idle pages to the kernel", MADVISE_MODES),
    Option("scavenger", "choice", "go1.12", "scavenger policy: go1.12 (periodic sweep of spans idle longer than "
           "SCAVENGE_IDLE, every SCAVENGE_PERIOD), paced (background, keeps retained memory near 110% of the heap "
           "goal), eager (right after each GC), off", SCAVENGER_POLICIES),
    Option("scavenge_period", "duration", 150.0, "go1.12 scavenger: time between sweeps (Go 1.12: 2.5 min)"),
    Option("scavenge_idle", "duration", 300.0, "go1.12 scavenger: release spans idle at least this long (Go 1.12: 5 min)"),
    Option("gogc", "int", 100, "GOGC: next GC when the heap reaches live x (1 + GOGC/100); -1 turns the pacer and the periodic GC off (as Go)"),
    Option("forced_gc_period", "duration", 120.0, "a GC is forced when none ran for this long (Go: 2 min)"),
    Option("trace_format", "choice", "go1.12", "which Go version's gctrace/scavenger lines to print", TRACE_FORMATS),
    Option("arena_size", "size", 64 * MiB, "heap arena size: memory is mapped in arenas this big (Go linux/amd64: 64MiB)"),
    Option("stats_interval", "duration", 0.1, "how often stats are sent while anything changes"),
    # Native allocator kinds (glibc, jemalloc, mimalloc, tcmalloc); None = the allocator's own default.
    Option("keep_one_in", "int", 64, "native allocators: when objects are dropped, 1 block in N stays allocated "
           "(long-lived neighbours that pin the heap, as in real programs; freed at the next drop); 0 keeps none"),
    Option("dirty_decay", "decay", None, "jemalloc: dirty_decay_ms, how long freed (dirty) pages wait before "
           "they decay to muzzy (MADV_FREE) or are purged"),
    Option("muzzy_decay", "decay", None, "jemalloc: muzzy_decay_ms, how long MADV_FREE'd (muzzy) pages wait "
           "before they are purged with MADV_DONTNEED (MADV_FREE mode: never unless set, so only the kernel takes "
           "them; MADV_DONTNEED mode: 0, no muzzy stage)"),
    Option("background_thread", "bool", None, "jemalloc: background_thread, a thread that runs decay while the "
           "program is idle (without it decay runs only on malloc/free)"),
    Option("purge_delay", "duration", None, "mimalloc: purge_delay (mimalloc 2.0: reset_delay and "
           "segment_decommit_delay), how long free pages wait before they are released"),
    Option("trim_threshold", "size", None, "glibc: glibc.malloc.trim_threshold, free memory at the heap top above "
           "this is given back by free()"),
    Option("arena_max", "int", None, "glibc: glibc.malloc.arena_max, the most malloc arenas"),
    Option("release_rate", "int", None, "tcmalloc: TCMALLOC_RELEASE_RATE, how fast free pages are released "
           "gradually (0 never, 10 fast)"),
)
NATIVE_SHARED_KEYS = ("pattern", "size", "count", "interval", "hold", "peak", "base", "live", "object_size", "rate",
                      "madvise", "stats_interval", "keep_one_in")

OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}


def defaults() -> dict[str, Any]:
    """Every option at its default (parsed) value."""
    return {option.name: option.default for option in OPTIONS}


POSITIVE_SIZES = ("size", "arena_size", "object_size")


def value_problem(values: dict[str, Any]) -> tuple[str, str] | None:
    """(option name, what was expected) for the first value that parses but cannot work, else None; the workload
    CLI and the dashboard's config check share it."""
    for name in POSITIVE_SIZES:
        if values[name] <= 0:
            return name, f"expected a size above zero, got {values[name]}"
    if values["count"] < 1:
        return "count", f"expected at least 1, got {values['count']}"
    if values["stats_interval"] <= 0:
        return "stats_interval", f"expected a duration above zero, got {values['stats_interval']:g}"
    if values["gogc"] < -1:
        return "gogc", f"expected -1 (off) or a whole number >= 0, got {values['gogc']}"
    if values.get("keep_one_in", 0) < 0:
        return "keep_one_in", f"expected 0 (keep none) or a whole number above 0, got {values['keep_one_in']}"
    if values.get("arena_max") is not None and values["arena_max"] < 1:
        return "arena_max", f"expected at least 1, got {values['arena_max']}"
    if values.get("release_rate") is not None and not 0 <= values["release_rate"] <= 10:
        return "release_rate", f"expected a whole number from 0 to 10, got {values['release_rate']}"
    return None


def _round_up(n_bytes: int, unit: int) -> int:
    return -(-n_bytes // unit) * unit


UNBOUNDED_HEAP_BYTES = 1 << 50  # GOGC off with a pattern that keeps dropping: only commands ever collect garbage
_MIN_HEAP_BYTES = 4 * MiB  # Go's heapminimum at GOGC=100 (workloads.gc.MIN_HEAP_BYTES; stdlib-only import order)


NATIVE_OVERHEAD = 8  # size classes and allocator metadata: up to 1/8 more than the blocks (budget margin)


def native_max_heap_bytes(values: dict[str, Any]) -> int:
    """The most a native-allocator workload can hold: free is immediate, so the pattern's peak plus size-class slack."""
    v = {**defaults(), **values}
    pattern, size = v["pattern"], v["size"]
    if pattern == "seed":
        held = size * v["count"]
    elif pattern == "steady":
        held = size
    elif pattern == "sawtooth":
        held = max(_round_up(v["peak"], max(size, 1)), size) + size
    elif pattern == "churn":
        unit = max(v["object_size"], 1)
        held = v["live"] // unit * unit + -(-v["rate"] // (10 * unit)) * unit
    else:  # burst
        interval_s = max(v["interval"], 1e-3)
        hold_s = v["hold"] or interval_s / 2
        held = int(v["base"] + size * max(-(-hold_s // interval_s), 1))
    return held + held // NATIVE_OVERHEAD


def max_heap_bytes(values: dict[str, Any]) -> int:
    """The most heap memory a workload with these (parsed) options can map, in whole arenas.

    Dropped objects stay in use until a GC, and a GC starts only when the heap reaches its goal
    (live x (1 + GOGC/100)), so patterns that keep dropping can hold up to the goal plus the allocation
    that crossed it.
    """
    v = {**defaults(), **values}
    pattern, size = v["pattern"], v["size"]
    if pattern == "seed":
        return _round_up(size * v["count"], v["arena_size"])  # dropped once, at the end: nothing after it
    if pattern == "steady":
        return _round_up(size, v["arena_size"])
    if pattern == "sawtooth":
        held, unit = max(_round_up(v["peak"], max(size, 1)), size), size  # the first step at or past the peak
    elif pattern == "churn":
        unit = max(v["object_size"], 1)
        batch = -(-v["rate"] // (10 * unit)) * unit  # one 0.1 s batch is held with the live heap while it swaps in
        held = v["live"] // unit * unit + batch
    else:  # burst
        interval_s = max(v["interval"], 1e-3)
        hold_s = v["hold"] or interval_s / 2
        held, unit = v["base"] + size * max(-(-hold_s // interval_s), 1), max(size, v["base"])
        held = int(held)
    if v["gogc"] < 0:
        return UNBOUNDED_HEAP_BYTES
    goal = max(held * (100 + v["gogc"]) // 100, _MIN_HEAP_BYTES * v["gogc"] // 100)
    return _round_up(max(held, goal + unit), v["arena_size"])
