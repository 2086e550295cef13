"""Memory pressure on a real cgroup-v2 kernel: the guest module's result, per phase, as this pytest's result."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
# The phases tests/vm/guest/run.sh runs, with the fewest guest tests each must pass (none may be skipped).
PHASES = {"root": 6, "delegated": 5}


@pytest.mark.parametrize("phase", PHASES)
def test_pressure_on_a_cgroup_v2_kernel(guest_results, phase):
    rc_file, log_file = guest_results / f"{phase}.rc", guest_results / f"{phase}.log"
    log = log_file.read_text(errors="replace") if log_file.exists() else "(no output)"
    assert rc_file.exists(), f"the {phase} phase did not finish; its output:\n{log}"
    rc = int(rc_file.read_text())
    assert rc == 0, f"the guest's pytest ({phase}) exited {rc}:\n{log}"
    summary = [line for line in log.splitlines() if re.search(r"\d+ passed", line)]
    assert summary, f"no pytest summary in the {phase} phase's output:\n{log}"
    passed = int(re.search(r"(\d+) passed", summary[-1]).group(1))
    assert passed >= PHASES[phase] and "skipped" not in summary[-1], f"{phase}: {summary[-1]}\n{log}"
