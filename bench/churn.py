"""Benches 11-13: the dashboard under real churn against glances, as the workloads grow, and its start-up time.

11  examples/churn.yaml (two churning workloads, FREE and DONTNEED) beside glances and htop, each in tmux 160x48:
    % of a core over the same window, median of three paired runs (the start order alternates).
12  1, 2, 4, 8 and 16 churning workloads (48 MiB each, half FREE, half DONTNEED): the dashboard's CPU in tmux, and
    release → screen (a scavenge announced by the workload → the next view its panel is handed) with the real Lab
    under Textual's Pilot.
13  From `madvise-lab` to the first frame with kernel figures (a panel's RSS in MiB), in tmux, median of three.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Result, Tmux, cpu_seconds, median, peers, percentile, spy_on_panels

TMUX = Tmux("madvise-lab-bench-churn")
WARMUP_S = 8.0
MEASURE_S = 20.0
COUNTS = (1, 2, 4, 8, 16)
COUNT_MEASURE_S = 15.0
LATENCY_S = 10.0


def churn_config(n_workloads: int) -> str:
    """n churning workloads like examples/churn.yaml, half MADV_FREE and half MADV_DONTNEED."""
    lines = ["sample_interval: 100ms", "redraw_interval: 250ms", "history: 10m", "budget: 8GiB", "defaults:",
             "  pattern: churn", "  live: 48MiB", "  object_size: 64KiB", "  rate: 16MiB", "  scavenger: paced",
             "  trace_format: go1.19", "workloads:"]
    for i in range(n_workloads):
        mode = "MADV_FREE" if i % 2 == 0 else "MADV_DONTNEED"
        lines += [f"  - name: {'free' if i % 2 == 0 else 'dontneed'}{i // 2 if n_workloads > 2 else ''}",
                  f"    madvise: {mode}"]
    return "\n".join(lines) + "\n"


def _dashboard_command(config_path: str) -> str:
    return f"{shlex.quote(sys.executable)} -m tui --config {shlex.quote(config_path)}"


def _side_by_side(commands: dict[str, str], warmup_s: float, measure_s: float) -> dict[str, float]:
    """% of one core each command used over the same window, all running at once."""
    try:
        pids = {name: TMUX.start(f"bench-{name}", command) for name, command in commands.items()}
        time.sleep(warmup_s)
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        time.sleep(measure_s)
        elapsed = time.monotonic() - started
        return {name: 100 * (cpu_seconds(pid) - before[name]) / elapsed for name, pid in pids.items()}
    finally:
        TMUX.kill_server()


def run_churn() -> Result:
    result = Result(11, "churn: two churning workloads vs glances (tmux 160x48, 3 paired runs)",
                    goal="dashboard <= 1.0 x glances (median)")
    Tmux.require()
    runs = []
    for i in range(3):
        commands = {"dashboard": _dashboard_command("examples/churn.yaml"), **peers()}
        if i % 2:  # alternate who starts first
            commands = dict(reversed(list(commands.items())))
        runs.append(_side_by_side(commands, WARMUP_S, MEASURE_S))
    ratios = [r["dashboard"] / r["glances"] for r in runs if r.get("glances")]
    med = {name: median([r[name] for r in runs if name in r]) for name in runs[0]}
    result.figures = {"runs_core_pct": runs, "median_core_pct": med, "ratios": ratios}
    text = ", ".join(f"{name} {pct:.2f} %" for name, pct in med.items())
    if ratios:
        result.summary = f"{text}; ratio dashboard/glances median {median(ratios):.2f} (runs {', '.join(f'{r:.2f}' for r in ratios)})"
        result.met = median(ratios) <= 1.0
    else:
        result.summary = text + " (glances not installed: no ratio)"
    return result


async def _release_latencies(config_path: str, seconds: float) -> list[float]:
    """Release (the workload's scavenge event, on our clock) → the next view its panel is handed."""
    from tui.app import MadviseLabApp
    from tui.core.config import load_config
    from tui.core.kernel.system import read_system_info
    from tui.core.sources.live import Lab
    from tui.launch import wire

    offsets: dict[str, float] = {}
    releases: list[tuple[str, float]] = []

    def on_message(name: str, message: dict) -> None:
        now = time.monotonic()
        if isinstance(message.get("t"), (int, float)):
            offsets[name] = min(offsets.get(name, float("inf")), now - float(message["t"]))
            if message.get("type") == "event" and message.get("event") == "scavenge" and message.get("released_bytes"):
                releases.append((name, offsets[name] + float(message["t"])))

    config = load_config(config_path)
    lab = Lab(config, on_message=on_message)
    app = wire(MadviseLabApp(lab, read_system_info(), redraw_interval_s=config.redraw_interval_s,
                             sample_interval_s=config.sample_interval_s))
    shown: dict[str, list[float]] = {name: [] for name in config.names}
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            spy_on_panels(app, lab.names, lambda name, _view: shown[name].append(time.monotonic()))
            await pilot.pause(3.0)  # spawned, first samples
            releases.clear()
            await pilot.pause(seconds)
            cutoff = time.monotonic() - 1.0  # a release in the last second may not have had its frame yet
    finally:
        lab.stop()
    latencies = []
    for name, released_at in releases:
        if released_at > cutoff:
            continue
        later = [t for t in shown[name] if t >= released_at]
        if later:
            latencies.append(later[0] - released_at)
    return latencies


def run_count() -> Result:
    result = Result(12, "churning workloads 1-16: dashboard CPU and release -> screen",
                    goal="CPU at 16 <= 2.5 x CPU at 2; p95 <= 250 ms at 16")
    Tmux.require()
    cpu: dict[int, float] = {}
    p95: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in COUNTS:
            path = Path(tmp) / f"churn-{n}.yaml"
            path.write_text(churn_config(n))
            cpu[n] = _side_by_side({"dashboard": _dashboard_command(str(path))}, WARMUP_S, COUNT_MEASURE_S)["dashboard"]
            latencies = asyncio.run(_release_latencies(str(path), LATENCY_S))
            p95[n] = percentile(latencies, 0.95) * 1000 if latencies else float("nan")
    result.figures = {"core_pct": cpu, "p95_ms": p95}
    result.summary = "; ".join(f"{n}: {cpu[n]:.1f} % core, p95 {p95[n]:.0f} ms" for n in COUNTS)
    result.met = cpu[16] <= 2.5 * cpu[2] and p95[16] <= 250
    result.summary += f" (16 vs 2: x{cpu[16] / cpu[2]:.2f})"
    return result


_FIGURE = re.compile(r"RSS\s+resident \(kernel\).*?\d+(\.\d+)? MiB")


def run_startup() -> Result:
    result = Result(13, "start-up: madvise-lab -> first frame with kernel figures (tmux, median of 3)",
                    goal="< 1 s")
    Tmux.require()
    times = []
    for _ in range(3):
        try:
            started = time.monotonic()
            TMUX.start("bench-startup", _dashboard_command("tui/default_config.yaml"))
            seen = None
            while time.monotonic() - started < 20:
                if _FIGURE.search(TMUX.run("capture-pane", "-p", "-t", "bench-startup")):
                    seen = time.monotonic() - started
                    break
                time.sleep(0.01)
            if seen is not None:
                times.append(seen)
        finally:
            TMUX.kill_server()
            time.sleep(0.5)
    if not times:
        raise RuntimeError("no frame with kernel figures within 20 s")
    result.figures = {"seconds": times}
    result.summary = f"median {median(times) * 1000:.0f} ms (runs {', '.join(f'{t * 1000:.0f}' for t in times)} ms)"
    result.met = median(times) < 1.0
    return result
