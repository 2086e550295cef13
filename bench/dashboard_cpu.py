"""Bench 1: CPU (% of one core) of the dashboard, glances and htop, each in tmux 160x48, over the same 20 s."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time

from bench.common import REPO, Result, cpu_seconds

WARMUP_S = 5.0
MEASURE_S = 20.0
SOCKET = "madvise-lab-bench"  # our own tmux server, so no one else's sessions are touched


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], check=True, capture_output=True, text=True).stdout


def _start(session: str, command: str) -> int:
    _tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "48", f"cd {shlex.quote(str(REPO))} && exec {command}")
    return int(_tmux("list-panes", "-t", session, "-F", "#{pane_pid}").split()[0])


def run() -> Result:
    result = Result(1, "dashboard CPU vs glances/htop (tmux 160x48, 20 s)", goal="dashboard <= glances")
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
    try:
        for name, command in commands.items():
            pids[name] = _start(f"bench-{name}", command)
        time.sleep(WARMUP_S)
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        time.sleep(MEASURE_S)
        elapsed = time.monotonic() - started
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        screen = _tmux("capture-pane", "-p", "-t", "bench-dashboard")
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)
    core_pct = {name: 100 * (after[name] - before[name]) / elapsed for name in pids}
    result.figures = {"core_pct": core_pct, "warmup_s": WARMUP_S, "measure_s": elapsed,
                      "dashboard_screen_nonempty": bool(screen.strip())}
    parts = [f"dashboard {core_pct['dashboard']:.2f} %"]
    for other in ("glances", "htop"):
        if other in core_pct:
            parts.append(f"{other} {core_pct[other]:.2f} %")
    if "glances" in core_pct and core_pct["glances"] > 0:
        parts.append(f"ratio dashboard/glances {core_pct['dashboard'] / core_pct['glances']:.2f}")
        result.met = core_pct["dashboard"] <= core_pct["glances"]
    result.summary = "; ".join(parts)
    return result
