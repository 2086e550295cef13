"""Memory pressure through the Lab with real workloads in this machine's real memory cgroup (as root, like CI)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from kernel_truth import read_smaps_rollup
from lab_runner import Run, make_lab
from pressure_support import MiB, cgroup_root, ours

pytestmark = pytest.mark.slow

RELEASE_BYTES = 256 * MiB
FREE = """\
sample_interval: 50ms
pressure: {margin: 16MiB, step: 64MiB}
workloads:
  - {name: free, pattern: steady, size: 16MiB, arena_size: 16MiB, madvise: MADV_FREE}
"""
DONTNEED = FREE.replace("MADV_FREE", "MADV_DONTNEED").replace("name: free", "name: dontneed")
INUSE = """\
sample_interval: 50ms
workloads:
  - {name: inuse, pattern: steady, size: 128MiB, arena_size: 16MiB, madvise: MADV_FREE}
"""


@pytest.fixture
def lab_of():
    labs = []

    def start(text: str, **kwargs) -> Run:
        cgroup_root()
        messages: list[tuple[str, dict]] = []
        lab = make_lab(text, on_message=lambda name, data: messages.append((name, data)), **kwargs)
        run = Run(lab)
        run.messages = messages
        labs.append(lab)
        lab.start()
        name = lab.names[0]
        run.until(lambda: run.running(name) and run.lab.series(name).latest is not None, what=f"{name} running")
        return run

    yield start
    for lab in labs:
        lab.stop()


def release(run: Run, name: str) -> None:
    """Allocate RELEASE_BYTES, free everything, GC and scavenge: the pages go back with the workload's mode."""
    lab = run.lab
    lab.alloc(name, RELEASE_BYTES)
    run.until(lambda: lab.heap(name).heap_inuse_bytes >= RELEASE_BYTES, what="alloc")
    lab.free(name)
    lab.gc(name)
    lab.scavenge(name)
    run.until(lambda: lab.heap(name).heap_released_bytes >= RELEASE_BYTES and lab.heap(name).heap_inuse_bytes == 0,
              what="released")


def wait_for_sample_after(run: Run, name: str, t_s: float):
    run.until(lambda: run.latest_after(name, t_s + 0.1) is not None, 5, "a sample after the squeeze")
    return run.lab.series(name).latest


def squeeze(run: Run, name: str):
    """Press p and wait for the result; returns (its marker, the lines it wrote)."""
    n_lines = len(run.lines)
    run.lab.pressure(name)
    run.until(lambda: any(m.kind == "pressure" and m.workload == name for m in run.markers), 20, "pressure result")
    marker = [m for m in run.markers if m.kind == "pressure"][-1]
    run.poll()
    return marker, [l for l in run.lines[n_lines:] if l.workload == name]


def test_pressure_after_a_madv_free_release_reclaims_lazyfree(lab_of):
    run = lab_of(FREE)
    lab = run.lab
    release(run, "free")
    run.until(lambda: lab.series("free").latest.kernel.lazyfree_bytes >= 0.95 * RELEASE_BYTES, 5, "LazyFree seen")
    pid = lab.status("free").pid
    shown_before = lab.series("free").latest.kernel
    direct_before = read_smaps_rollup(pid)
    assert direct_before.lazyfree_bytes >= 0.95 * RELEASE_BYTES

    marker, lines = squeeze(run, "free")

    shown_after = wait_for_sample_after(run, "free", marker.t_s).kernel
    direct_after = read_smaps_rollup(pid)
    texts = [l.line for l in lines]
    print("\n" + "\n".join(texts))
    print(f"LazyFree {shown_before.lazyfree_bytes / MiB:.0f} → {shown_after.lazyfree_bytes / MiB:.0f} MiB (series), "
          f"{direct_before.lazyfree_bytes / MiB:.0f} → {direct_after.lazyfree_bytes / MiB:.0f} MiB (smaps_rollup); "
          f"RSS {direct_before.rss_bytes / MiB:.0f} → {direct_after.rss_bytes / MiB:.0f} MiB")
    for before, after in ((shown_before, shown_after), (direct_before, direct_after)):
        lazyfree_drop = before.lazyfree_bytes - after.lazyfree_bytes
        rss_drop = before.rss_bytes - after.rss_bytes
        assert after.lazyfree_bytes <= 0.10 * before.lazyfree_bytes, (before, after)
        assert abs(rss_drop - lazyfree_drop) <= 0.05 * lazyfree_drop, (before, after)
    assert lab.status("free").state == "running"
    # The trace shows each step (limit, reclaimed, kernel time), then one summary line, all as lab: lines.
    steps = [t for t in texts if ": step " in t]
    assert len(steps) >= 3 and all("limit" in t and "reclaimed" in t and " s" in t for t in steps)
    summary = [t for t in texts if "reclaimed" in t and ": step " not in t]
    assert len(summary) == 1 and "steps" in summary[0]
    assert all(t.startswith("lab: ") for t in texts) and all(l.kind == "lab" for l in lines)
    assert texts.index(steps[-1]) < texts.index(summary[0])
    assert "MiB" in marker.label and marker.workload == "free"
    assert marker in lab.series("free").markers


def test_a_squeezed_workload_that_grows_again_gets_its_memory(lab_of):
    run = lab_of(FREE)
    lab = run.lab
    release(run, "free")
    run.until(lambda: lab.series("free").latest.kernel.lazyfree_bytes >= 0.95 * RELEASE_BYTES, 5, "LazyFree seen")
    marker, _ = squeeze(run, "free")
    assert "→" in marker.label  # squeezed to a limit
    limit_file = Path(cgroup_root(), ours(cgroup_root(), os.getpid())[0], "memory.limit_in_bytes")
    assert int(limit_file.read_text()) < 128 * MiB
    n_allocs = sum(1 for _, d in run.messages if d.get("event") == "alloc")

    lab.alloc("free", 128 * MiB)  # far above the squeezed limit: without relief it would wait forever

    run.until(lambda: sum(1 for _, d in run.messages if d.get("event") == "alloc") > n_allocs, 10, "the alloc event")
    run.until(lambda: any("limit lifted" in t for t in run.texts("free")), 5, "a relief line")
    relief = [l for l in run.lines if "limit lifted" in l.line]
    print("\n" + relief[0].line)
    assert len(relief) == 1 and relief[0].line.startswith("lab: ") and relief[0].kind == "lab"
    assert lab.status("free").state == "running"
    assert int(limit_file.read_text()) > 1 << 40  # unlimited again
    run.until(lambda: lab.heap("free").heap_inuse_bytes >= 128 * MiB, 5, "the heap grew")


def test_pressure_before_any_release_says_nothing_is_reclaimable(lab_of):
    run = lab_of(INUSE)
    lab = run.lab
    pid = lab.status("inuse").pid
    rss_before = read_smaps_rollup(pid).rss_bytes
    assert rss_before >= 128 * MiB

    _, lines = squeeze(run, "inuse")
    run.settle(1.0)

    said = [l for l in run.lines if "reclaimable" in l.line]
    print("\n" + "\n".join(l.line for l in said))
    assert len(said) == 1, said
    assert ("only MADV_FREE'd pages can be reclaimed without swap — scavenge with MADV_FREE first"
            in said[0].line)
    assert said[0].kind == "lab" and said[0].line.startswith("lab: ")
    assert not [l for l in run.lines if l.kind == "error"]
    assert lab.status("inuse").state == "running" and os.path.exists(f"/proc/{pid}")
    assert read_smaps_rollup(pid).rss_bytes >= rss_before - 4 * MiB
    lab.alloc("inuse", 16 * MiB)  # the workload still works, and was not left squeezed
    run.until(lambda: lab.heap("inuse").heap_inuse_bytes >= 144 * MiB, 5, "alloc after the refusal")


def test_pressure_on_a_madv_dontneed_workload_has_nothing_to_reclaim(lab_of):
    run = lab_of(DONTNEED)
    lab = run.lab
    release(run, "dontneed")
    run.settle(0.3)
    latest = lab.series("dontneed").latest.kernel
    assert latest.lazyfree_bytes == 0 and latest.rss_bytes < 64 * MiB  # DONTNEED dropped it at once

    _, lines = squeeze(run, "dontneed")

    said = [l for l in run.lines if "reclaimable" in l.line]
    print("\n" + "\n".join(l.line for l in said))
    assert len(said) == 1 and "nothing reclaimable" in said[0].line and "MADV_FREE" in said[0].line
    assert said[0].kind == "lab"
    assert lab.status("dontneed").state == "running"


def test_cgroup_goes_with_the_process_and_comes_back_before_the_restart(lab_of):
    run = lab_of(INUSE)
    lab = run.lab
    root = cgroup_root()
    [mine] = ours(root, os.getpid())
    pid = lab.status("inuse").pid
    assert Path(root, mine, "cgroup.procs").read_text().split() == [str(pid)]

    os.kill(pid, signal.SIGKILL)  # it dies on its own (not asked to)

    run.until(lambda: lab.status("inuse").state == "exited", 10, "exited")
    run.until(lambda: not ours(root, os.getpid()), 10, "cgroup removed")
    assert lab.can("pressure") is True  # still available: the next start gets a cgroup again

    lab.restart("inuse")

    run.until(lambda: run.running("inuse") and lab.status("inuse").pid != pid, 20, "restarted")
    new_pid = lab.status("inuse").pid
    assert ours(root, os.getpid()) == [mine]
    assert Path(root, mine, "cgroup.procs").read_text().split() == [str(new_pid)]
    # charged from its first allocation: the 128 MiB heap is in this cgroup's usage
    assert int(Path(root, mine, "memory.usage_in_bytes").read_text()) >= 128 * MiB


def test_stop_removes_every_cgroup_and_start_cleans_leftovers():
    root = cgroup_root()
    ghost = subprocess_pid_that_is_gone()
    leftover = Path(root, f"madvise-lab-{ghost}-free")
    leftover.mkdir()
    lab = make_lab(FREE + "  - {name: two, pattern: steady, size: 16MiB, arena_size: 16MiB}\n")
    run = Run(lab)
    try:
        lab.start()
        assert not leftover.exists()  # a crashed run's cgroup goes at the next start
        run.until(lambda: run.running("free") and run.running("two"), what="both running")
        assert ours(root, os.getpid()) == [f"madvise-lab-{os.getpid()}-free", f"madvise-lab-{os.getpid()}-two"]
    finally:
        lab.stop()
        if leftover.exists():
            leftover.rmdir()
    assert ours(root, os.getpid()) == []


def subprocess_pid_that_is_gone() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
