"""The must-show: real workloads through the Lab, the heap map against the test's own pagemap and smaps_rollup reads."""

from __future__ import annotations

import pytest

from kernel_truth import read_pagemap_present, read_smaps_rollup
from lab_runner import Run, make_lab
from tui.core.kernel.cgroups import CgroupManager

pytestmark = pytest.mark.slow

MiB = 1 << 20
RELEASE_BYTES = 2 * 64 * MiB
MARGIN_BYTES = 16 * MiB  # pressure.margin below
# The default scenario (seed: allocate, hold, drop, a forced GC finds the heap empty, the go1.12 scavenger
# releases long-idle spans), small and fast: 2 x 64 MiB, one second apart, released at ~6 s.
STORY = """\
sample_interval: 50ms
pressure: {margin: 16MiB, step: 64MiB}
defaults: {pattern: seed, size: 64MiB, count: 2, interval: 1s, hold: 1s, forced_gc_period: 3s,
           scavenger: go1.12, scavenge_period: 1s, scavenge_idle: 1s, arena_size: 64MiB}
workloads:
  - {name: free, madvise: MADV_FREE}
  - {name: dontneed, madvise: MADV_DONTNEED}
"""


@pytest.fixture
def story():
    labs = []

    def start(text: str) -> Run:
        messages: list[tuple[str, dict]] = []
        lab = make_lab(text, on_message=lambda name, data: messages.append((name, data)))
        labs.append(lab)
        run = Run(lab)
        run.messages = messages
        lab.start()
        for name in lab.names:
            run.until(lambda: run.running(name), what=f"{name} running")
        return run

    yield start
    for lab in labs:
        lab.stop()


def released_runs(run: Run, name: str) -> list[tuple[int, int]]:
    """(start, end) of the released runs in the workload's latest spans message, parsed by the test itself."""
    last = [data for who, data in run.messages if who == name and data.get("type") == "spans"][-1]
    return [(arena["addr"] + offset, arena["addr"] + offset + n_bytes)
            for arena in last["arenas"] for offset, n_bytes, state in arena["runs"] if state == "released"]


def own_released(run: Run, name: str) -> tuple[int, int]:
    """(present, absent) pages in the released runs, from the test's own pagemap read."""
    pid = run.lab.status(name).pid
    present = absent = 0
    for start, end in released_runs(run, name):
        p, s, a = read_pagemap_present(pid, start, end)
        present, absent = present + p, absent + a + s
    return present, absent


def wait_released(run: Run, name: str):
    """Until the runtime released the whole heap and the map (fed by its spans message) shows it."""
    lab = run.lab
    run.until(lambda: lab.heap(name).heap_released_bytes >= RELEASE_BYTES and lab.heap(name).heap_inuse_bytes == 0,
              timeout_s=30, what=f"{name} released")
    pages = RELEASE_BYTES // 4096

    def shown():
        heap_map = lab.heapmap(name, force=True)
        return heap_map is not None and (heap_map.pages["released_resident"] + heap_map.pages["released_absent"]
                                          >= pages) and heap_map.pages["inuse_resident"] == 0
    run.until(shown, timeout_s=5, what=f"{name}'s map shows the release")
    return lab.heapmap(name, force=True)


def test_after_the_release_free_pages_stay_resident_as_lazyfree_dontneed_pages_are_gone(story):
    run = story(STORY)
    page = 4096
    free_map = wait_released(run, "free")
    dontneed_map = wait_released(run, "dontneed")
    free_pid = run.lab.status("free").pid
    lazyfree = read_smaps_rollup(free_pid).lazyfree_bytes
    own_free = own_released(run, "free")
    own_dontneed = own_released(run, "dontneed")
    free_pages, dontneed_pages = free_map.pages, dontneed_map.pages
    print(f"\nfree: map released_resident {free_pages['released_resident'] * page / MiB:.1f} MiB, "
          f"released_absent {free_pages['released_absent'] * page / MiB:.1f} MiB; own pagemap "
          f"{own_free[0] * page / MiB:.1f} MiB present; LazyFree {lazyfree / MiB:.1f} MiB")
    print(f"dontneed: map released_resident {dontneed_pages['released_resident'] * page / MiB:.1f} MiB, "
          f"released_absent {dontneed_pages['released_absent'] * page / MiB:.1f} MiB; own pagemap "
          f"{own_dontneed[0] * page / MiB:.1f} MiB present")
    assert free_map.source == dontneed_map.source == "spans"
    # MADV_FREE: the released pages are still resident, exactly the kernel's LazyFree (within a few MiB)
    assert abs(free_pages["released_resident"] * page - lazyfree) <= 4 * MiB
    assert abs(free_pages["released_resident"] - own_free[0]) * page <= 1 * MiB
    assert free_pages["released_resident"] * page >= RELEASE_BYTES - 4 * MiB
    # MADV_DONTNEED: the released pages are gone at once
    assert dontneed_pages["released_resident"] * page <= 1 * MiB and own_dontneed[0] * page <= 1 * MiB
    assert dontneed_pages["released_absent"] * page >= RELEASE_BYTES
    assert read_smaps_rollup(run.lab.status("dontneed").pid).lazyfree_bytes <= 1 * MiB
    # the cells add up to the pages, and each cell holds cell_bytes of pages
    for heap_map in (free_map, dontneed_map):
        assert sum(heap_map.pages.values()) * page == heap_map.n_bytes
        assert all(sum(c) * page <= heap_map.cell_bytes for a in heap_map.arenas for c in a.cells)


def test_after_a_pressure_step_the_free_workloads_released_pages_go_absent(story):
    manager = CgroupManager()
    if not manager.available:
        pytest.skip(f"no writable memory cgroup (CI runs as root with one): {manager.reason}")
    run = story(STORY.replace("  - {name: dontneed, madvise: MADV_DONTNEED}\n", ""))
    lab = run.lab
    page = 4096
    before = wait_released(run, "free")
    assert before.pages["released_resident"] * page >= RELEASE_BYTES - 4 * MiB
    # the squeeze aims at footprint + margin from the latest sample: wait until the sampler has seen the LazyFree
    run.until(lambda: lab.series("free").latest.kernel.lazyfree_bytes >= RELEASE_BYTES - 4 * MiB, 10, "LazyFree seen")
    n_lines = len(run.lines)
    lab.pressure("free")
    run.until(lambda: any(m.kind == "pressure" and m.workload == "free" for m in run.markers), 20, "pressure result")
    run.poll()
    print("\n" + "\n".join(line.line for line in run.lines[n_lines:] if line.workload == "free"))
    after = lab.heapmap("free", force=True)
    own = own_released(run, "free")
    lazyfree = read_smaps_rollup(lab.status("free").pid).lazyfree_bytes
    print(f"\nafter pressure: map released_resident {after.pages['released_resident'] * page / MiB:.1f} MiB "
          f"(before {before.pages['released_resident'] * page / MiB:.1f}), released_absent "
          f"{after.pages['released_absent'] * page / MiB:.1f} MiB; own pagemap {own[0] * page / MiB:.1f} MiB "
          f"present; LazyFree {lazyfree / MiB:.1f} MiB")
    # the squeeze stops at footprint + pressure.margin (16 MiB): all but at most that much went absent
    assert after.pages["released_resident"] * page <= MARGIN_BYTES + 4 * MiB
    assert after.pages["released_absent"] * page >= RELEASE_BYTES - MARGIN_BYTES - 4 * MiB
    assert abs(after.pages["released_resident"] - own[0]) * page <= 1 * MiB
    assert abs(after.pages["released_resident"] * page - lazyfree) <= 4 * MiB
