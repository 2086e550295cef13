"""Inside the lane's VM (cgroup v2 only): pressure with real workloads, as root and as a user in a delegated subtree.

Not collected on the host (no test_ prefix): tests/vm/guest/run.sh runs it in the guest with
MADVISE_LAB_LANE_MODE=root or delegated; tests/vm/test_v2_lane.py reports the result.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel_truth import read_smaps_rollup
from lab_runner import Run, make_lab
from tui.core.kernel.cgroups import CgroupManager
from tui.core.config import parse_config
from tui.core.record.recorder import Recorder

MiB = 1 << 20
GiB = 1 << 30
MODE = os.environ.get("MADVISE_LAB_LANE_MODE", "")
REPO = Path(__file__).resolve().parents[3]
# Small: TCG page faults are slow (256 MiB take ~4 s to touch).
RELEASE_BYTES = 80 * MiB
TWO = """\
sample_interval: 100ms
pressure: {margin: 4MiB, step: 32MiB}
workloads:
  - {name: free, pattern: steady, size: 8MiB, arena_size: 8MiB, madvise: MADV_FREE}
  - {name: dontneed, pattern: steady, size: 8MiB, arena_size: 8MiB, madvise: MADV_DONTNEED}
"""

pytestmark = pytest.mark.skipif(not Path("/sys/fs/cgroup/cgroup.controllers").exists() or MODE not in
                                ("root", "delegated"), reason="runs inside the cgroup-v2 VM lane only")


def own_cgroup() -> Path:
    return Path("/sys/fs/cgroup") / Path("/proc/self/cgroup").read_text().split("::", 1)[1].strip().lstrip("/")


def ours(root: Path) -> list[str]:
    """Every cgroup dir of any dashboard under root (workloads' and dashboards' leaves)."""
    return sorted(n for n in os.listdir(root) if n.startswith("madvise-lab-") and (root / n).is_dir())


@pytest.fixture
def home():
    """The cgroup this test process starts in, and its state, which every test must leave as it found it."""
    cgroup = own_cgroup()
    before = ((cgroup / "cgroup.subtree_control").read_text(), ours(cgroup))
    yield cgroup
    assert own_cgroup() == cgroup, "the dashboard did not move its processes back"
    assert ((cgroup / "cgroup.subtree_control").read_text(), ours(cgroup)) == before


def release(run: Run, name: str) -> None:
    """Allocate, free everything, GC and scavenge: the pages go back with the workload's madvise mode."""
    lab = run.lab
    lab.alloc(name, RELEASE_BYTES)
    run.until(lambda: lab.heap(name).heap_inuse_bytes >= RELEASE_BYTES, 30, f"{name} alloc")
    lab.free(name)
    lab.gc(name)
    lab.scavenge(name)
    run.until(lambda: lab.heap(name).heap_released_bytes >= RELEASE_BYTES and lab.heap(name).heap_inuse_bytes == 0,
              30, f"{name} released")


def press(run: Run, name: str, action: str = "pressure"):
    """p (or P) and wait for its marker; returns (the marker, the lines written since)."""
    n_lines, n_markers = len(run.lines), len(run.markers)
    getattr(run.lab, action)(name)
    run.until(lambda: any(m.kind == "pressure" and m.workload == name for m in run.markers[n_markers:]), 30,
              f"{action} {name}")
    run.poll()
    return [m for m in run.markers if m.kind == "pressure"][-1], [l.line for l in run.lines[n_lines:]
                                                                  if l.workload == name]


def test_check_says_which_case_applies():
    manager = CgroupManager()
    print("\n" + manager.describe())
    assert manager.available, manager.reason
    mode = {"root": "v2", "delegated": "delegated"}[MODE]
    assert manager.mode == mode
    assert manager.describe().startswith(f"{mode}: cgroup v2 at {own_cgroup()}: writable")
    assert "memory.reclaim" in manager.describe()
    if MODE == "delegated":
        assert f"writable by uid {os.geteuid()}, delegated to it" in manager.describe()


def test_pressure_reclaims_lazyfree_dontneed_has_nothing_and_P_lifts(home):
    lab = make_lab(TWO)
    run = Run(lab)
    try:
        lab.start()
        run.until(lambda: run.running("free") and run.running("dontneed"), 30, "both running")
        root = Path(CgroupManager().root)
        assert root == home
        assert own_cgroup() == home / f"madvise-lab-{os.getpid()}.dashboard"  # moved aside: v2's no-internal rule
        free_cg = root / f"madvise-lab-{os.getpid()}-free"
        pid = lab.status("free").pid
        assert str(pid) in (free_cg / "cgroup.procs").read_text().split()
        release(run, "free")
        release(run, "dontneed")
        run.until(lambda: lab.series("free").latest.kernel.lazyfree_bytes >= 0.95 * RELEASE_BYTES, 10,
                  "LazyFree seen")
        before = read_smaps_rollup(pid)
        assert before.lazyfree_bytes >= 0.95 * RELEASE_BYTES

        marker, texts = press(run, "free")

        after = read_smaps_rollup(pid)
        print("\n" + "\n".join(texts))
        print(f"LazyFree {before.lazyfree_bytes / MiB:.0f} → {after.lazyfree_bytes / MiB:.0f} MiB, "
              f"RSS {before.rss_bytes / MiB:.0f} → {after.rss_bytes / MiB:.0f} MiB (smaps_rollup)")
        lazyfree_drop = before.lazyfree_bytes - after.lazyfree_bytes
        rss_drop = before.rss_bytes - after.rss_bytes
        assert after.lazyfree_bytes <= 0.10 * before.lazyfree_bytes
        assert abs(rss_drop - lazyfree_drop) <= 0.05 * lazyfree_drop
        steps = [t for t in texts if ": step " in t]
        assert steps and all("memory.reclaim" in t and "reclaimed" in t and " s;" in t for t in steps)
        assert all("pglazyfree " in t and "pglazyfreed " in t for t in steps)
        stat = dict(line.split() for line in (free_cg / "memory.stat").read_text().splitlines())
        assert int(stat["pglazyfreed"]) * os.sysconf("SC_PAGE_SIZE") >= 0.9 * lazyfree_drop  # the kernel's account
        assert marker.label.startswith("pressure → ") and "−" in marker.label
        held_bytes = int((free_cg / "memory.high").read_text())  # the squeeze holds until P
        assert held_bytes < before.rss_bytes - lazyfree_drop / 2
        assert lab.status("free").state == "running"

        _, texts = press(run, "dontneed")
        print("\n".join(texts))
        assert any("nothing reclaimable" in t for t in texts)
        assert (root / f"madvise-lab-{os.getpid()}-dontneed" / "memory.high").read_text().strip() == "max"

        marker, texts = press(run, "free", "release_pressure")
        print("\n".join(texts))
        assert marker.label == "pressure released"
        assert (free_cg / "memory.high").read_text().strip() == "max"
        lab.alloc("free", 32 * MiB)  # not throttled any more: the heap grows at once
        run.until(lambda: lab.heap("free").heap_inuse_bytes >= 32 * MiB, 20, "alloc after P")
    finally:
        lab.stop()
    assert not [n for n in ours(home)], "cgroups left after stop"


def test_timeline_pressure_in_record_shows_in_samples_trace_and_events(home, tmp_path):
    config = parse_config("""\
sample_interval: 100ms
pressure: {margin: 4MiB, step: 32MiB}
workloads:
  - {name: free, pattern: steady, size: 8MiB, arena_size: 8MiB, madvise: MADV_FREE}
timeline:
  - {at: 0.5s, do: alloc, workload: free, value: 80MiB}
  - {at: 5s, do: free, workload: free}
  - {at: 5.2s, do: gc, workload: free}
  - {at: 5.4s, do: scavenge, workload: free}
  - {at: 10s, do: pressure, workload: free}
  - {at: 11.5s, do: release_pressure, workload: free}
""", "timeline.yaml", mem_available_bytes=16 * GiB)

    # Generous gaps: under TCG on a busy host the workload can take seconds to start and to touch 80 MiB.
    Recorder(config, tmp_path, duration_s=12.5).run()

    with open(tmp_path / "samples.csv", newline="") as file:
        rows = [(float(r["t_s"]), int(r["lazyfree_bytes"] or 0), int(r["rss_bytes"])) for r in csv.DictReader(file)]
    trace = (tmp_path / "trace.log").read_text()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    markers = [e["label"] for e in events if e.get("type") == "marker" and e.get("kind") == "pressure"]
    # The step starts the squeeze; its marker comes when the squeeze is done (slow on a busy TCG host).
    step_t_s = next(e["t_s"] for e in events if e.get("type") == "lab" and e["line"].startswith("timeline at 10s"))
    pressure_t_s = next(e["t_s"] for e in events if e.get("type") == "marker" and e.get("kind") == "pressure")
    before = [lazyfree for t, lazyfree, _ in rows if step_t_s - 1.0 < t < step_t_s]
    after = [lazyfree for t, lazyfree, _ in rows if pressure_t_s + 0.3 < t]
    print("\n" + trace)
    print(markers)
    assert before and after and min(before) >= 0.95 * RELEASE_BYTES
    assert max(after) <= 0.10 * min(before)
    assert "timeline at 10s: pressure free" in trace and ": step 1: memory.reclaim" in trace and "pglazyfreed" in trace
    assert markers[0].startswith("pressure → ") and markers[-1] == "pressure released"
    assert not [n for n in ours(home)]


CHILD = str(REPO / "tests" / "cgroups" / "child.py")  # mmaps, touches, MADV_FREEs on "free", counts zero pages


def test_without_memory_reclaim_memory_high_steps_take_the_lazyfree_pages(home):
    """Kernels before 5.19 have no memory.reclaim: the squeeze lowers memory.high instead."""
    manager = CgroupManager()
    cgroup = manager.create("high")
    child = subprocess.Popen([sys.executable, CHILD, str(RELEASE_BYTES)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, preexec_fn=cgroup.preexec)
    try:
        assert child.stdout.readline().strip() == "touched"
        child.stdin.write("free\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "released"
        before = read_smaps_rollup(child.pid)
        assert before.lazyfree_bytes >= 0.95 * RELEASE_BYTES

        result = cgroup.squeeze(before.rss_bytes - before.lazyfree_bytes, 4 * MiB, 32 * MiB, use_reclaim=False)

        after = read_smaps_rollup(child.pid)
        print("\n" + "\n".join(result.step_lines) + "\n" + result.message)
        print(f"LazyFree {before.lazyfree_bytes / MiB:.0f} → {after.lazyfree_bytes / MiB:.0f} MiB, "
              f"RSS {before.rss_bytes / MiB:.0f} → {after.rss_bytes / MiB:.0f} MiB (smaps_rollup)")
        lazyfree_drop = before.lazyfree_bytes - after.lazyfree_bytes
        assert result.ok and result.step_lines and all("memory.high" in t for t in result.step_lines)
        # memory.high's reclaim stops short of memory.reclaim's here (6.1, THP): most, not all, goes.
        assert after.lazyfree_bytes <= 0.25 * before.lazyfree_bytes
        assert abs((before.rss_bytes - after.rss_bytes) - lazyfree_drop) <= 0.05 * lazyfree_drop
        high_bytes = int(Path(cgroup.path, "memory.high").read_text())
        assert high_bytes == result.limit_bytes
        assert cgroup.usage_bytes() <= high_bytes + (1 << 20)  # never left below usage: that only throttles
        assert not cgroup.under_oom()
        child.stdin.write("count\n")
        child.stdin.flush()
        assert int(child.stdout.readline()) >= 0.9 * lazyfree_drop  # the reclaimed pages read back as zeros
        assert cgroup.release().ok and Path(cgroup.path, "memory.high").read_text().strip() == "max"
    finally:
        child.kill()
        child.wait()
        manager.remove_all()


DASHBOARD = """
import subprocess, sys
from tui.core.kernel.cgroups import CgroupManager
cgroup = CgroupManager().create("free")
subprocess.Popen(["sleep", "60"], preexec_fn=cgroup.preexec)
print(cgroup.path, flush=True)
sys.stdin.read()
"""


def test_cgroups_of_a_sigkilled_dashboard_go_at_the_next_start(home):
    dashboard = subprocess.Popen([sys.executable, "-c", DASHBOARD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, cwd=REPO)
    path = Path(dashboard.stdout.readline().strip())
    orphans = [int(p) for p in (path / "cgroup.procs").read_text().split()]
    leaf = home / f"madvise-lab-{dashboard.pid}.dashboard"
    # It moved every process of the cgroup (this test's too) into its leaf before enabling memory.
    assert own_cgroup() == leaf
    dashboard.kill()
    dashboard.wait()
    for pid in orphans:  # the Lab's workloads die with it (PDEATHSIG); this stand-in does not
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while (path / "cgroup.procs").read_text().split() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.is_dir() and leaf.is_dir()  # a SIGKILL leaves them

    lab = make_lab(TWO)
    try:
        lab.start()  # the next start, here inside the dead dashboard's leaf, removes its cgroups
        assert not path.exists()
        assert set(ours(home)) == {leaf.name, f"madvise-lab-{os.getpid()}-free",
                                   f"madvise-lab-{os.getpid()}-dontneed"}
    finally:
        lab.stop()
    # ... and its stop leaves the cgroup as it was before either (the home fixture checks the rest).
    assert not leaf.exists()
