"""Bench 1: CPU (% of one core) of the dashboard on the default config, glances and htop, each in tmux 160x48,
over the same two 20 s windows (the changing and the steady phase), median of three paired runs."""

from __future__ import annotations

import shlex
import sys
import time

from bench.common import Result, Tmux, cpu_seconds, median, peers

WARMUP_S = 5.0
MEASURE_S = 20.0
# The default scenario's memory moves for its first ~25 s (allocations, drop, forced GC, scavenge), then stays
# put: the first window measures the changing phase, the second the steady one.
STEADY_START_S = 30.0
RUNS = 3
GOAL_RATIO = 0.7
PHASES = (("changing", WARMUP_S), ("steady", STEADY_START_S))
TMUX = Tmux("madvise-lab-bench")


def run() -> Result:
    result = Result(1, "dashboard CPU vs glances/htop (default config, tmux 160x48, 3 paired runs)",
                    goal=f"dashboard <= {GOAL_RATIO} x glances in both windows (median)")
    Tmux.require()
    commands = {"dashboard": f"{shlex.quote(sys.executable)} -m tui --config tui/default_config.yaml", **peers()}
    runs: list[dict[str, dict[str, float]]] = []
    screens_nonempty = []
    for i in range(RUNS):
        order = list(commands.items())
        if i % 2:  # alternate who starts first: the first one started pays the cold caches
            order.reverse()
        windows, screen = _paired_run(dict(order))
        runs.append(windows)
        screens_nonempty.append(bool(screen.strip()))
    figures: dict[str, object] = {"runs": runs, "warmup_s": WARMUP_S, "measure_s": MEASURE_S,
                                  "steady_start_s": STEADY_START_S, "dashboard_screen_nonempty": screens_nonempty}
    parts = []
    met = []
    for phase, _ in PHASES:
        pct = {name: median([r[phase][name] for r in runs]) for name in commands}
        figures[f"median_core_pct_{phase}"] = pct
        text = ", ".join(f"{name} {value:.2f} %" for name, value in pct.items())
        ratios = [r[phase]["dashboard"] / r[phase]["glances"] for r in runs if r[phase].get("glances")]
        if ratios:
            figures[f"ratios_{phase}"] = ratios
            text += f"; ratio median {median(ratios):.2f} (runs {', '.join(f'{r:.2f}' for r in ratios)})"
            met.append(median(ratios) <= GOAL_RATIO)
        parts.append(f"{phase} ({_window(phase)}): {text}")
    result.figures = figures
    if len(met) == len(PHASES):
        result.met = all(met)
    else:
        parts.append("glances not installed: no ratio")
    result.summary = "; ".join(parts)
    return result


def _paired_run(commands: dict[str, str]) -> tuple[dict[str, dict[str, float]], str]:
    """All commands started together; % of a core each used in the changing and in the steady window."""
    windows: dict[str, dict[str, float]] = {}
    try:
        pids = {name: TMUX.start(f"bench-{name}", command) for name, command in commands.items()}
        started = time.monotonic()
        for phase, start_s in PHASES:
            time.sleep(max(0.0, started + start_s - time.monotonic()))
            windows[phase] = _measure(pids)
        screen = TMUX.run("capture-pane", "-p", "-t", "bench-dashboard")
    finally:
        TMUX.kill_server()
    return windows, screen


def _window(phase: str) -> str:
    start_s = dict(PHASES)[phase]
    return f"{start_s:.0f}-{start_s + MEASURE_S:.0f} s"


def _measure(pids: dict[str, int]) -> dict[str, float]:
    """% of one core each process used over the next MEASURE_S seconds."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    time.sleep(MEASURE_S)
    elapsed = time.monotonic() - started
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return {name: 100 * (after[name] - before[name]) / elapsed for name in pids}
