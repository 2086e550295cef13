"""Memory pressure against this machine's real memory cgroup, with real child processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ci_promise import skip_unless_promised

from tui.core.kernel.cgroups import CgroupManager, CgroupUnavailable, describe

CHILD = str(Path(__file__).with_name("child.py"))
MIB = 1 << 20
SIZE_BYTES = 256 * MIB
# A smaller margin than the config's 16MiB: Rss also counts shared library pages that are charged to other
# cgroups, so the floor already sits a few MiB above what this cgroup really holds.
MARGIN_BYTES = 8 * MIB
STEP_BYTES = 64 * MIB

pytestmark = pytest.mark.slow


@pytest.fixture
def manager():
    manager = CgroupManager()
    if not manager.available:
        skip_unless_promised(f"no writable memory cgroup: {manager.reason}")
    yield manager
    manager.remove_all()


class Child:
    """The test child in a cgroup from its first allocation; speaks one line per command."""

    def __init__(self, cgroup):
        self.proc = subprocess.Popen([sys.executable, CHILD, str(SIZE_BYTES)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, preexec_fn=cgroup.preexec)
        assert self.proc.stdout.readline().strip() == "touched"

    def ask(self, command: str) -> str:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def smaps(self) -> dict[str, int]:
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/smaps_rollup").read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) * 1024
        return fields

    def footprint_bytes(self) -> int:
        fields = self.smaps()
        return fields["Rss"] - fields["LazyFree"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


@pytest.fixture
def child_in(manager):
    children = []

    def start(workload: str):
        cgroup = manager.create(workload)
        children.append(Child(cgroup))
        return cgroup, children[-1]

    yield start
    for child in children:
        child.close()


def test_squeeze_reclaims_lazyfree_pages(child_in):
    cgroup, child = child_in("free")
    assert cgroup.usage_bytes() >= SIZE_BYTES  # charged from the first page: preexec put it in before exec
    assert child.ask("free") == "released"
    before = child.smaps()
    assert before["LazyFree"] >= SIZE_BYTES * 0.95

    result = cgroup.squeeze(before["Rss"] - before["LazyFree"], MARGIN_BYTES, STEP_BYTES)

    after = child.smaps()
    lazyfree_drop = before["LazyFree"] - after["LazyFree"]
    rss_drop = before["Rss"] - after["Rss"]
    print("\n" + "\n".join(result.step_lines))
    print(f"{result.message}; Rss {before['Rss'] // MIB} → {after['Rss'] // MIB} MiB, "
          f"LazyFree {before['LazyFree'] // MIB} → {after['LazyFree'] // MIB} MiB")
    assert result.ok, result.message
    assert after["LazyFree"] <= 0.10 * before["LazyFree"]
    assert abs(rss_drop - lazyfree_drop) <= 0.05 * lazyfree_drop
    assert result.limit_bytes is not None and result.limit_bytes >= before["Rss"] - before["LazyFree"] + MARGIN_BYTES
    assert result.reclaimed_bytes >= 0.9 * lazyfree_drop
    assert "\n" not in result.message and "reclaimed" in result.message
    assert len(result.step_lines) >= SIZE_BYTES // STEP_BYTES - 1
    assert f"in {len(result.step_lines)} steps" in result.message
    assert all("limit" in line and "reclaimed" in line for line in result.step_lines)
    # Reclaimed pages read back as zeros: the kernel really dropped them.
    assert int(child.ask("count")) >= 0.9 * lazyfree_drop
    assert child.proc.poll() is None

    released = cgroup.release()
    assert released.ok
    assert Path(cgroup.path, "memory.limit_in_bytes").read_text().strip() != str(result.limit_bytes)


def test_workload_growing_under_squeeze_waits_instead_of_dying_and_is_relieved(child_in):
    cgroup, child = child_in("grow")
    assert child.ask("free") == "released"
    assert cgroup.squeeze(child.footprint_bytes(), MARGIN_BYTES, STEP_BYTES).ok
    assert cgroup.relieve_if_stuck() is None

    child.proc.stdin.write("touch\n")  # needs 256 MiB again, far above the squeezed limit
    child.proc.stdin.flush()
    deadline = time.monotonic() + 20
    while not cgroup.under_oom() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cgroup.under_oom()
    relief = cgroup.relieve_if_stuck()

    assert relief is not None and relief.ok and "released" in relief.message
    assert child.proc.stdout.readline().strip() == "touched"  # woke up and finished, not OOM-killed
    assert child.proc.poll() is None


def test_squeeze_before_release_reports_nothing_reclaimable(child_in):
    cgroup, child = child_in("inuse")
    before = child.smaps()

    result = cgroup.squeeze(child.footprint_bytes(), MARGIN_BYTES, STEP_BYTES)

    assert not result.ok
    assert "nothing reclaimable" in result.message and "MADV_FREE" in result.message
    assert "\n" not in result.message
    assert result.limit_bytes is None
    assert child.proc.poll() is None
    assert child.smaps()["Rss"] >= before["Rss"] - 4 * MIB
    assert child.ask("count") == "0"  # every page still holds its data


def test_kernel_refuses_with_ebusy_when_memory_is_in_use(child_in):
    """Told the footprint is zero, the squeeze reaches the kernel, which refuses rather than OOM-kill."""
    cgroup, child = child_in("busy")

    result = cgroup.squeeze(0, MARGIN_BYTES, STEP_BYTES)

    print(f"\n{result.message}")
    assert not result.ok
    assert "nothing reclaimable" in result.message and "EBUSY" in result.message
    assert child.proc.poll() is None
    assert child.ask("count") == "0"
    assert "oom_kill_disable 0" in Path(cgroup.path, "memory.oom_control").read_text()


def test_dontneed_leaves_nothing_to_reclaim(child_in):
    cgroup, child = child_in("dontneed")
    assert child.ask("dontneed") == "released"
    assert child.smaps()["LazyFree"] == 0

    result = cgroup.squeeze(child.footprint_bytes(), MARGIN_BYTES, STEP_BYTES)

    assert not result.ok
    assert "nothing reclaimable" in result.message
    assert child.proc.poll() is None


def test_remove_moves_processes_out_and_is_idempotent(manager, child_in):
    cgroup, child = child_in("gone")
    other = manager.create("other")
    assert cgroup.pids() == [child.proc.pid]

    cgroup.remove()
    cgroup.remove()

    assert not os.path.exists(cgroup.path)
    assert child.proc.poll() is None  # moved to the parent, still running
    manager.remove_all()
    assert not os.path.exists(other.path)
    assert not [n for n in os.listdir(manager.root) if n.startswith(f"madvise-lab-{os.getpid()}-")]


def test_cleanup_stale_removes_dirs_of_dead_dashboards_only(manager):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = os.path.join(manager.root, f"madvise-lab-{dead.pid}-free")
    alive = os.path.join(manager.root, f"madvise-lab-{os.getppid()}-free")
    mine = manager.create("mine")
    os.mkdir(stale)
    os.mkdir(alive)
    # A workload left running inside the stale cgroup, as after a SIGKILLed dashboard.
    orphan = subprocess.Popen(["sleep", "30"], preexec_fn=lambda: Path(stale, "cgroup.procs").write_text("0"))
    try:
        removed = manager.cleanup_stale()

        assert removed == [stale]
        assert not os.path.exists(stale)
        assert os.path.exists(alive) and os.path.exists(mine.path)
        assert orphan.poll() is None
    finally:
        orphan.kill()
        orphan.wait()
        os.rmdir(alive)


DASHBOARD = """
import subprocess, sys
from tui.core.kernel.cgroups import CgroupManager
cgroup = CgroupManager().create("free")
subprocess.Popen(["sleep", "30"], preexec_fn=cgroup.preexec)
print(cgroup.path, flush=True)
sys.stdin.read()
"""


def test_cgroups_of_a_sigkilled_dashboard_are_removed_at_next_start(manager):
    dashboard = subprocess.Popen([sys.executable, "-c", DASHBOARD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, cwd=Path(__file__).parents[2])
    path = dashboard.stdout.readline().strip()
    orphan_pids = [int(p) for p in Path(path, "cgroup.procs").read_text().split()]
    dashboard.kill()
    dashboard.wait()
    try:
        assert os.path.isdir(path) and orphan_pids  # a crash leaves the cgroup and its workload behind

        removed = CgroupManager().cleanup_stale()

        assert path in removed and not os.path.exists(path)
    finally:
        for pid in orphan_pids:
            os.kill(pid, 9)


@pytest.mark.parametrize("root, expected", [
    ("/proc/self", "is not a memory cgroup"),
    ("/nonexistent/madvise-lab", "does not exist"),
    ("TMP", "is not a memory cgroup"),
])
def test_unwritable_root_is_unavailable_with_a_reason(root, expected):
    with tempfile.TemporaryDirectory() as tmp:
        root = tmp if root == "TMP" else root
        manager = CgroupManager(root)

        assert not manager.available
        assert expected in manager.reason and "\n" not in manager.reason
        assert expected in describe(root)
        assert manager.cleanup_stale() == []
        manager.remove_all()
        with pytest.raises(CgroupUnavailable, match=expected):
            manager.create("free")


def test_v2_hierarchy_without_memory_controller_is_unavailable():
    root = "/sys/fs/cgroup/unified"
    try:
        controllers = Path(root, "cgroup.controllers").read_text().split()
    except OSError:
        pytest.skip(f"no cgroup v2 hierarchy at {root}")
    if "memory" in controllers:
        pytest.skip(f"{root} has the memory controller")
    manager = CgroupManager(root)
    assert not manager.available and manager.version == 2
    assert "no memory controller" in manager.reason


def test_read_only_cgroup_dir_is_not_writable(tmp_path):
    """A dir that looks like a v1 memory cgroup on a read-only mount: the probe mkdir fails."""
    (tmp_path / "memory.limit_in_bytes").write_text("-1")
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(tmp_path), str(tmp_path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a read-only bind mount here: {done.stderr.decode().strip()}")
    try:
        manager = CgroupManager(str(tmp_path))
        assert not manager.available
        assert "is not writable" in manager.reason
    finally:
        subprocess.run(["umount", str(tmp_path)], check=True)


def test_auto_finds_our_own_memory_cgroup(manager):
    own = [line for line in Path("/proc/self/cgroup").read_text().splitlines() if ":memory:" in line]
    if manager.version == 1:
        assert manager.root.endswith(own[0].split(":", 2)[2].rstrip("/"))
    assert manager.describe().startswith(f"{manager.mode}: ") and ": writable" in manager.describe()
    assert manager.mode == ("v1" if manager.version == 1 else "v2" if os.geteuid() == 0 else "delegated")
