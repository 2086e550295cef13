"""The dashboard over AttachLab: a real MADV_FREE process in the panels, a piped gctrace through a real terminal."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.core.sources.attach import AttachLab
from kernel_truth import read_smaps_rollup
from tui.core.kernel.system import SystemInfo
from tui.watch import WatchApp
from tui.widgets.panel import WorkloadPanel

MiB = 1 << 20
REPO = Path(__file__).resolve().parents[2]
SYSTEM_INFO = SystemInfo(kernel_release="6.18.0-lab", page_size=4096, thp_mode="madvise",
                         swap_total_bytes=0, mem_available_bytes=22 * 1024 * MiB)
pytestmark = pytest.mark.slow

SEED_TRACE = (
    "gc 2 @21.385s 0%: 0.004+5696+0.013 ms clock, 0.009+1.2/1.2/5693+0.027 ms cpu, 1024->1024->1024 MB, 1025 MB goal, 2 P\n"
    "GC forced\n"
    "gc 3 @141.387s 0%: 0.006+0.25+0.004 ms clock, 0.012+0/0.12/0.24+0.008 ms cpu, 1024->1024->0 MB, 2048 MB goal, 2 P (forced)\n"
    "scvg2: 1024 MB released\n"
    "scvg2: inuse: 0, idle: 1087, sys: 1087, released: 1087, consumed: 0 (MB)\n"
)


def test_panel_shows_proc_figures_and_exit(child):
    asyncio.run(_panel_shows_proc_figures_and_exit(child))


async def _panel_shows_proc_figures_and_exit(child):
    lab = AttachLab([child.pid], names=["svc"], sample_interval_s=0.05)
    app = WatchApp(lab, SYSTEM_INFO, redraw_interval_s=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        panel = app.query_one("#panel-svc", WorkloadPanel)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (panel.view is None or dict(panel.view.current)["rss"] is None):
            await pilot.pause(0.05)
        proc = read_smaps_rollup(child.pid)
        shown = dict(panel.view.current)
        assert proc.lazyfree_bytes >= 60 * MiB
        assert shown["rss"] == pytest.approx(proc.rss_bytes, rel=0.02)
        assert shown["lazyfree"] == pytest.approx(proc.lazyfree_bytes, rel=0.02)
        assert panel.view.footprint_bytes == pytest.approx(proc.rss_bytes - proc.lazyfree_bytes, rel=0.02)
        assert panel.view.pid == child.pid and panel.view.state == "running"
        assert app.check_action("toggle_madvise", ()) is None
        child.kill()
        child.wait()
        while time.monotonic() < deadline + 5 and panel.view.state != "exited":
            await pilot.pause(0.05)
        assert panel.view.state == "exited"


def _capture(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-t", session, "-p"], capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal")
def test_piped_gctrace_in_a_real_terminal(child, tmp_path):
    # `... 2>&1 | madvise-lab attach PID --trace -`: the pipe feeds the trace, the keyboard still reaches the app.
    trace = tmp_path / "trace.txt"
    trace.write_text(SEED_TRACE)
    done = tmp_path / "exit_code"
    session = f"attach-test-{os.getpid()}"
    command = (f"cd {REPO} && (cat {trace}; sleep 30) | {{ {sys.executable} -m tui attach {child.pid} --name svc"
               f" --trace -; echo $? > {done}; }}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", command], check=True)
    try:
        deadline = time.monotonic() + 20
        screen = ""
        while time.monotonic() < deadline:
            screen = _capture(session)
            if "scvg2: inuse: 0, idle: 1087" in screen and "1087.0 MiB" in screen:
                break
            time.sleep(0.2)
        assert "gc 3 @141.387s" in screen, screen
        assert "scvg2: inuse: 0, idle: 1087" in screen, screen
        assert "1087.0 MiB" in screen, "heap released from the scvg line shows in the panel\n" + screen
        assert "GCs 3" in screen or "GC 3" in screen, screen
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        while time.monotonic() < deadline + 10 and not done.exists():
            time.sleep(0.1)
        assert done.exists(), "q from the terminal quits although stdin is the pipe"
        assert done.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
