"""The cgroup-v2 VM lane as a pytest fixture: boot once per session, run the guest module, keep what it cost."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import lane as lane_module

REPO = Path(__file__).resolve().parents[2]
GUEST_TIMEOUT_S = 360
TIMES: dict[str, float | str] = {}  # for the terminal summary: the lane's cost in this run


def _cannot(reason: str):
    """CI promises the lane (it installs its packages and runs as root): there it fails, elsewhere it skips."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"the cgroup-v2 VM lane cannot boot on CI: {reason}", pytrace=False)
    pytest.skip(f"the cgroup-v2 VM lane cannot boot here: {reason}")


@pytest.fixture(scope="session")
def guest_results(tmp_path_factory) -> Path:
    """Boot the lane once, run tests/vm/guest/run.sh in it; the dir holding each phase's .rc and .log."""
    try:
        lane = lane_module.prepare()
    except (lane_module.LaneUnavailable, OSError) as error:
        _cannot(str(error))
    TIMES.update(kernel=lane.release, prepare_s=lane.prepare_s, fetched="yes" if lane.fetched else "no")
    out = tmp_path_factory.mktemp("v2lane")
    result = lane.run(f"exec sh tests/vm/guest/run.sh {out}", rw=(out,), cwd=REPO, timeout_s=GUEST_TIMEOUT_S)
    TIMES["run_s"] = result.seconds
    for path in out.glob("*.seconds"):
        figures = [float(x) for x in path.read_text().split()]
        TIMES[f"{path.stem}_s"] = figures[0] if len(figures) == 1 else figures[1] - figures[0]
    if result.boot_failed:
        _cannot(f"the VM did not boot (exit {result.rc}); console:\n{result.console_tail}")
    if result.rc == lane_module.RC_TIMEOUT:
        pytest.fail(f"the guest did not finish in {GUEST_TIMEOUT_S} s; its output:\n{result.output}", pytrace=False)
    return out


def pytest_terminal_summary(terminalreporter):
    if TIMES:
        figures = ", ".join(f"{k} {v:.1f} s" if isinstance(v, float) else f"{k} {v}" for k, v in TIMES.items())
        terminalreporter.write_line(f"cgroup-v2 VM lane: {figures}")
