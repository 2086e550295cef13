"""Pressure in the dashboard: keys with the real Lab, greyed with the reason, cleanup at quit and after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app_support import live_app, reap, start_dashboard, sync, trace_text, wait_for, wait_until
from lab_runner import Run, make_lab
from pressure_support import MiB, cgroup_root, ours
from tui.app import MadviseLabApp
from tui.widgets.help import HelpScreen
from tui.widgets.panel import WorkloadPanel

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
FREE = """\
sample_interval: 100ms
alloc_bytes: 256MiB
workloads:
  - {name: free, pattern: steady, size: 16MiB, arena_size: 16MiB, madvise: MADV_FREE}
"""
UNAVAILABLE = """\
sample_interval: 100ms
alloc_bytes: 16MiB
pressure: {cgroup_root: /proc}
workloads:
  - {name: steady, pattern: steady, size: 32MiB, arena_size: 16MiB, madvise: MADV_FREE}
"""
TWO = """\
sample_interval: 100ms
workloads:
  - {name: one, pattern: steady, size: 16MiB, arena_size: 16MiB}
  - {name: two, pattern: steady, size: 16MiB, arena_size: 16MiB, madvise: MADV_DONTNEED}
"""


def shown(app: MadviseLabApp, name: str, figure: str):
    view = app.query_one(f"#panel-{name}", WorkloadPanel).view
    return None if view is None else dict(view.current)[figure]


@sync
async def test_p_squeezes_the_focused_workload_and_the_panel_shows_lazyfree_fall():
    root = cgroup_root()
    app = live_app(FREE)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: shown(app, "free", "inuse") == 16 * MiB, "the heap on screen")
        assert app.check_action("pressure", ()) is True, (app.focused_workload, app.lab_refusal("pressure"))
        for key in "afgs":
            await pilot.press(key)
            await pilot.pause(0.2)
        await wait_for(pilot, lambda: (shown(app, "free", "lazyfree") or 0) >= 256 * MiB, "LazyFree on screen")
        before_rss, before_lazyfree = shown(app, "free", "rss"), shown(app, "free", "lazyfree")

        await pilot.press("p")

        await wait_for(pilot, lambda: (shown(app, "free", "lazyfree") or 0) <= 0.10 * before_lazyfree,
                       "LazyFree falls on screen")
        await wait_for(pilot, lambda: any("reclaimed" in t and "steps" in t for t in trace_text(app)), "the summary")
        after_rss, after_lazyfree = shown(app, "free", "rss"), shown(app, "free", "lazyfree")
        lines = [t for t in trace_text(app) if "pressure free" in t]
        print(f"\nRSS {before_rss / MiB:.0f} → {after_rss / MiB:.0f} MiB, LazyFree {before_lazyfree / MiB:.0f} → "
              f"{after_lazyfree / MiB:.0f} MiB\n" + "\n".join(lines))
        assert abs((before_rss - after_rss) - (before_lazyfree - after_lazyfree)) <= 0.05 * before_lazyfree
        assert sum(1 for t in lines if ": step " in t) >= 3
        assert any(m.kind == "pressure" for m in app.lab.series("free").markers)

        await pilot.press("P")
        await wait_for(pilot, lambda: any("released, limit back to unlimited" in t for t in trace_text(app)),
                       "the release line")
        [mine] = ours(root, os.getpid())
        assert int(Path(root, mine, "memory.limit_in_bytes").read_text()) > 1 << 40
        await pilot.press("q")
        await pilot.pause(0.2)
    app.lab.stop()
    assert ours(root, os.getpid()) == []


@sync
async def test_without_a_writable_cgroup_p_is_greyed_with_the_reason_and_the_rest_works():
    app = live_app(UNAVAILABLE)
    lab = app.lab
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: shown(app, "steady", "inuse") == 32 * MiB, "the heap on screen")
        reason = lab.can("pressure")
        assert isinstance(reason, str) and "/proc" in reason and "not a memory cgroup" in reason
        assert lab.can("release_pressure") == reason
        assert lab.can("alloc") is True and lab.can("gc") is True
        assert app.check_action("pressure", ()) is None  # greyed in the footer
        assert app.check_action("release_pressure", ()) is None
        assert any(reason in t for t in trace_text(app))  # said once at start

        n_lines = len(trace_text(app))
        await pilot.press("p")
        await pilot.pause(0.3)
        assert not any("squeez" in t for t in trace_text(app)[n_lines:])
        said = [t for t in trace_text(app)[n_lines:] if reason in t]  # pressed anyway: it says why, not nothing
        assert len(said) == 1, trace_text(app)[n_lines:]

        await pilot.press("question_mark")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HelpScreen)
        help_text = app.screen.query_one("#help-text").source
        assert "greyed out" in help_text and reason in help_text
        await pilot.press("escape")
        await pilot.pause(0.1)

        await pilot.press("a")  # everything else works
        await wait_for(pilot, lambda: shown(app, "steady", "inuse") == 48 * MiB, "alloc on screen")
        await pilot.press("q")
        await pilot.pause(0.2)
    lab.stop()


def test_help_says_pressure_is_available_when_it_is():
    cgroup_root()

    @sync
    async def run() -> None:
        app = live_app(FREE)
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("question_mark")
            await pilot.pause(0.2)
            text = app.screen.query_one("#help-text").source
            assert "Here pressure is available." in text and "greyed out" not in text
            await pilot.press("escape")
            await pilot.press("q")
            await pilot.pause(0.2)
        app.lab.stop()
    run()


def test_check_says_pressure_is_unavailable_with_the_reason(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(UNAVAILABLE)

    done = subprocess.run([sys.executable, "-m", "tui", "--config", str(config), "check"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)

    line = [l for l in done.stdout.splitlines() if l.startswith("pressure")]
    print("\n" + "\n".join(line))
    assert done.returncode == 0, done.stderr
    assert len(line) == 1 and "unavailable" in line[0] and "/proc is not a memory cgroup" in line[0]


def test_a_read_only_cgroup_root_leaves_the_lab_working_without_pressure(tmp_path):
    """A dir that looks like a v1 memory cgroup, on a read-only bind mount."""
    (tmp_path / "memory.limit_in_bytes").write_text("-1")
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(tmp_path), str(tmp_path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a read-only bind mount here: {done.stderr.decode().strip()}")
    lab = make_lab(UNAVAILABLE.replace("/proc", str(tmp_path)))
    run = Run(lab)
    try:
        lab.start()
        run.until(lambda: run.running("steady"), what="steady running")
        reason = lab.can("pressure")
        assert isinstance(reason, str) and "is not writable" in reason
        lab.pressure("steady")
        run.until(lambda: any("pressure unavailable" in t for t in run.texts()), 5, "the refusal")
        lab.alloc("steady", 16 * MiB)
        run.until(lambda: lab.heap("steady").heap_inuse_bytes >= 48 * MiB, 5, "alloc")
    finally:
        lab.stop()
        subprocess.run(["umount", str(tmp_path)], check=True)


# --- the dashboard process in a pty ---------------------------------------------------------------

def charged(root: str, name: str) -> bool:
    try:
        return bool(Path(root, name, "cgroup.procs").read_text().split())
    except OSError:
        return False


@pytest.mark.parametrize("how", ["q", "SIGKILL"])
def test_no_cgroup_of_ours_outlives_the_dashboard(tmp_path, how):
    root = cgroup_root()
    config = tmp_path / "config.yaml"
    config.write_text(TWO)
    pid, master = start_dashboard(config)
    reaped = False
    try:
        assert wait_until(lambda: len(ours(root, pid)) == 2 and all(charged(root, n) for n in ours(root, pid)), 20), \
            "the dashboard never put two workloads in cgroups"
        time.sleep(1.0)  # up and drawing
        if how == "q":
            os.write(master, b"q")
        else:
            os.kill(pid, signal.SIGKILL)
        reaped = reap(pid, 10)
        assert reaped, f"the dashboard did not exit after {how}"
        if how == "q":
            assert ours(root, pid) == []
            return
        assert wait_until(lambda: not any(charged(root, n) for n in ours(root, pid)), 5)  # PDEATHSIG
        assert len(ours(root, pid)) == 2  # a SIGKILLed dashboard cannot clean up ...

        lab = make_lab(TWO)
        try:
            lab.start()  # ... the next start does
            assert ours(root, pid) == []
        finally:
            lab.stop()
        assert ours(root, os.getpid()) == []
    finally:
        if not reaped:
            os.kill(pid, signal.SIGKILL)
            reap(pid, 5)
        os.close(master)
