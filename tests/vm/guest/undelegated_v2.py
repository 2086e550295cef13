"""Inside the lane's VM, as root: a user whose cgroup is not delegated gets `p` greyed with the command to run.

Not collected on the host (no test_ prefix): tests/vm/guest/run.sh runs it in the guest's root phase.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui.core.kernel.cgroups import DELEGATE_HINT

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(not Path("/sys/fs/cgroup/cgroup.controllers").exists() or os.geteuid() != 0,
                                reason="runs inside the cgroup-v2 VM lane only, as root")


UNDELEGATED = """
from lab_runner import make_lab
lab = make_lab("workloads:\\n  - {name: free, pattern: steady, size: 8MiB, arena_size: 8MiB}\\n")
lab.start()
print(lab.can("pressure"))
lab.stop()
"""


def test_without_a_delegated_cgroup_pressure_is_greyed_with_the_command_to_run():
    plain = Path("/sys/fs/cgroup/plain.scope")  # root's, not handed to the user
    plain.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": "/tmp"}
    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    def join() -> None:
        (plain / "cgroup.procs").write_text("0")
    try:
        can = subprocess.run(as_user + [sys.executable, "-c", UNDELEGATED], preexec_fn=join, env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=60)
        check = subprocess.run(as_user + [sys.executable, "-m", "tui", "check"], preexec_fn=join, env=env, cwd=REPO,
                               capture_output=True, text=True, timeout=60)
    finally:
        plain.rmdir()
    print("\n" + can.stdout + check.stdout)
    assert can.returncode == 0, can.stderr
    reason = can.stdout.strip()
    assert reason.startswith("pressure unavailable: not root and not in a delegated cgroup: ")
    assert str(plain) in reason and DELEGATE_HINT in reason
    assert "systemd-run --user --scope -p Delegate=yes madvise-lab" in reason
    [line] = [l for l in check.stdout.splitlines() if l.startswith("pressure")]
    assert "none: " in line and "systemd-run --user --scope -p Delegate=yes madvise-lab" in line
