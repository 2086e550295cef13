"""Bench 1: CPU (% of one core) of the dashboard, glances and htop, each in tmux 160x48, over the same 20 s windows."""

from __future__ import annotations

import shlex
import shutil
import sys
import time

from bench.common import Result, Tmux, cpu_seconds

WARMUP_S = 5.0
MEASURE_S = 20.0
# The default scenario's memory moves for its first ~25 s (allocations, drop, forced GC, scavenge), then stays
# put: the first window measures the changing phase, the second the steady one.
STEADY_START_S = 30.0
TMUX = Tmux("madvise-lab-bench")


def run() -> Result:
    result = Result(1, "dashboard CPU vs glances/htop (tmux 160x48, two 20 s windows)",
                    goal="dashboard <= glances in both windows")
    if shutil.which("tmux") is None:
        raise RuntimeError("tmux is not installed")
    commands = {
        "dashboard": f"{shlex.quote(sys.executable)} -m tui --config tui/default_config.yaml",
    }
    if shutil.which("glances"):
        commands["glances"] = "glances -t 1"
    if shutil.which("htop"):
        commands["htop"] = "htop -d 10"
    pids: dict[str, int] = {}
    windows: dict[str, dict[str, float]] = {}
    try:
        for name, command in commands.items():
            pids[name] = TMUX.start(f"bench-{name}", command)
        started = time.monotonic()
        for phase, start_s in (("changing", WARMUP_S), ("steady", STEADY_START_S)):
            time.sleep(max(0.0, started + start_s - time.monotonic()))
            windows[phase] = _measure(pids)
        screen = TMUX.run("capture-pane", "-p", "-t", "bench-dashboard")
    finally:
        TMUX.kill_server()
    core_pct = windows["changing"]
    result.figures = {"core_pct": core_pct, "core_pct_steady": windows["steady"], "warmup_s": WARMUP_S,
                      "measure_s": MEASURE_S, "steady_start_s": STEADY_START_S,
                      "dashboard_screen_nonempty": bool(screen.strip())}
    parts = []
    met = []
    for phase, pct in windows.items():
        text = f"dashboard {pct['dashboard']:.2f} %"
        for other in ("glances", "htop"):
            if other in pct:
                text += f", {other} {pct[other]:.2f} %"
        if "glances" in pct and pct["glances"] > 0:
            text += f", ratio {pct['dashboard'] / pct['glances']:.2f}"
            met.append(pct["dashboard"] <= pct["glances"])
        parts.append(f"{phase} ({_window(phase)}): {text}")
    if met:
        result.met = all(met)
    result.summary = "; ".join(parts)
    return result


def _window(phase: str) -> str:
    start_s = WARMUP_S if phase == "changing" else STEADY_START_S
    return f"{start_s:.0f}-{start_s + MEASURE_S:.0f} s"


def _measure(pids: dict[str, int]) -> dict[str, float]:
    """% of one core each process used over the next MEASURE_S seconds."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    time.sleep(MEASURE_S)
    elapsed = time.monotonic() - started
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return {name: 100 * (after[name] - before[name]) / elapsed for name in pids}
