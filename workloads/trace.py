"""Go runtime trace lines (gctrace, scvg, scavtrace) formatted exactly as go1.12/go1.19/go1.21 print them."""

from __future__ import annotations

from dataclasses import dataclass

MB_SHIFT = 20
KIB_SHIFT = 10


def itoa_div(value: int, decimals: int) -> str:
    """Go runtime's itoaDiv: value / 10**decimals printed with exactly `decimals` decimals."""
    if decimals == 0:
        return str(value)
    digits = str(value).rjust(decimals + 1, "0")
    return digits[:-decimals] + "." + digits[-decimals:]


def fmt_ns_as_ms(ns: int) -> str:
    """Go runtime's fmtNSAsMS: whole ms from 10 ms on, else two significant digits with ≤ 3 decimals."""
    if ns >= 10_000_000:
        return itoa_div(ns // 1_000_000, 0)
    x = ns // 1000
    if x == 0:
        return "0"
    decimals = 3
    while x >= 100:
        x //= 10
        decimals -= 1
    return itoa_div(x, decimals)


@dataclass(frozen=True)
class GcCycle:
    """What one GC cycle did, in the units Go's gctrace needs (ns, bytes)."""

    n: int
    start_ms: int  # milliseconds since the process started (Go prints @s.mmm)
    cpu_percent: int
    clock_ns: tuple[int, int, int]  # sweep termination, concurrent mark, mark termination
    cpu_ns: tuple[int, int, int, int, int]  # sweep term, assist, background, idle, mark term
    heap_before: int
    heap_after: int
    heap_live: int
    goal: int
    procs: int
    forced: bool
    stacks: int = 0
    globals_: int = 0


def gctrace(cycle: GcCycle, fmt: str) -> str:
    """One gctrace line. go1.12: Go 1.12–1.17 format; go1.19/go1.21: with stacks and globals (Go 1.18+)."""
    clock = "+".join(fmt_ns_as_ms(ns) for ns in cycle.clock_ns)
    c = [fmt_ns_as_ms(ns) for ns in cycle.cpu_ns]
    cpu = f"{c[0]}+{c[1]}/{c[2]}/{c[3]}+{c[4]}"
    line = (
        f"gc {cycle.n} @{itoa_div(cycle.start_ms, 3)}s {cycle.cpu_percent}%: {clock} ms clock, {cpu} ms cpu, "
        f"{cycle.heap_before >> MB_SHIFT}->{cycle.heap_after >> MB_SHIFT}->{cycle.heap_live >> MB_SHIFT} MB, "
        f"{cycle.goal >> MB_SHIFT} MB goal, "
    )
    if fmt != "go1.12":
        line += f"{cycle.stacks >> MB_SHIFT} MB stacks, {cycle.globals_ >> MB_SHIFT} MB globals, "
    line += f"{cycle.procs} P"
    if cycle.forced:
        line += " (forced)"
    return line


GC_FORCED_LINE = "GC forced"  # what forcegchelper prints before the periodic (2-minute) GC


def scvg_lines(gen: int | None, released: int, inuse: int, idle_incl_released: int, sys: int,
               heap_released: int) -> list[str]:
    """Go 1.12 scavenger lines; gen None prints `scvg:` (Go 1.13), -1 is FreeOSMemory. idle includes released."""
    tag = "scvg:" if gen is None else f"scvg{gen}:"
    lines = [f"{tag} {released >> MB_SHIFT} MB released"] if released > 0 else []
    lines.append(
        f"{tag} inuse: {inuse >> MB_SHIFT}, idle: {idle_incl_released >> MB_SHIFT}, sys: {sys >> MB_SHIFT}, "
        f"released: {heap_released >> MB_SHIFT}, consumed: {(sys - heap_released) >> MB_SHIFT} (MB)"
    )
    return lines


def _util_percent(inuse: int, retained: int) -> int:
    return (inuse * 100) // retained if retained > 0 else 0


def scav_line_119(released: int, heap_released: int, inuse: int, retained: int, forced: bool = False) -> str:
    """Go 1.19 scavtrace: `scav W KiB work, T KiB total, U% util`; retained = inuse + idle not released."""
    line = (f"scav {released >> KIB_SHIFT} KiB work, {heap_released >> KIB_SHIFT} KiB total, "
            f"{_util_percent(inuse, retained)}% util")
    return line + " (forced)" if forced else line


def scav_line_121(released_bg: int, released_eager: int, heap_released: int, inuse: int, retained: int,
                  forced: bool = False) -> str:
    """Go 1.21+ scavtrace: background and eager work, released now, utilisation."""
    line = (f"scav {released_bg >> KIB_SHIFT} KiB work (bg), {released_eager >> KIB_SHIFT} KiB work (eager), "
            f"{heap_released >> KIB_SHIFT} KiB now, {_util_percent(inuse, retained)}% util")
    return line + " (forced)" if forced else line


def lab(text: str) -> str:
    """Our own line (mode switch, madvise timings, fallbacks, errors): never mistaken for Go's."""
    return "lab: " + text
