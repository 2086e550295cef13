"""Shared bench helpers: CPU time of a pid, a memory child, medians."""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
GiB = 1 << 30
MiB = 1 << 20


@dataclass
class Result:
    """One benchmark's figures; `summary` is the table's one-line result."""

    number: int
    name: str
    summary: str = ""
    goal: str = ""
    met: bool | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as file:
        text = file.read()
    fields = text[text.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class MemChild:
    """bench/_memchild.py as a subprocess: `n_bytes` touched, then madvise/touch on command."""

    def __init__(self, n_bytes: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench._memchild", str(n_bytes)], cwd=REPO,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"memory child failed to start: {line!r}")
        self.pid = self.proc.pid

    def command(self, cmd: str) -> tuple[float, float]:
        """Run `cmd`; returns (monotonic start, monotonic end) as the child saw them."""
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        parts = self.proc.stdout.readline().split()
        return float(parts[1]), float(parts[2])

    def close(self) -> None:
        try:
            self.proc.stdin.write("exit\n")
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "MemChild":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Tmux:
    """Our own tmux server (`-L socket`), so no one else's sessions are touched: 160x48 sessions, killed at the end."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    @staticmethod
    def require() -> None:
        """The benches that measure in a real terminal cannot run without tmux: say so."""
        if shutil.which("tmux") is None:
            raise RuntimeError("tmux is not installed")

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True).stdout

    def start(self, session: str, command: str) -> int:
        """A session running `command` in the repository; returns the pane's pid (the command's, it is exec'd)."""
        for attempt in range(10):  # right after kill_server the old server may still be going away: try again
            try:
                self.run("new-session", "-d", "-s", session, "-x", "160", "-y", "48",
                         f"cd {shlex.quote(str(REPO))} && exec {command}")
                break
            except subprocess.CalledProcessError:
                if attempt == 9:
                    raise
                time.sleep(0.3)
        return int(self.run("list-panes", "-t", session, "-F", "#{pane_pid}").split()[0])

    def kill_server(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def spy_on_panels(app: Any, names: Any, on_show: Any) -> None:
    """Call `on_show(name, view)` each time a workload's panel is handed a view (then show it as usual)."""
    from tui.widgets.panel import WorkloadPanel

    for name in names:
        panel = app.query_one(f"#panel-{name}", WorkloadPanel)

        def spy(view: Any, _original: Any = panel.show, _name: str = name) -> None:
            on_show(_name, view)
            _original(view)
        panel.show = spy


def peers() -> dict[str, str]:
    """The monitors we measure against, as installed: glances at its 1 s refresh, htop at 1 s."""
    found = {}
    if shutil.which("glances"):
        found["glances"] = "glances -t 1"
    if shutil.which("htop"):
        found["htop"] = "htop -d 10"
    return found
