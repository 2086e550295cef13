"""kind go in the Lab: the heap map is the kernel's side only, over the Go heap's largest anonymous mappings."""

from __future__ import annotations

import pytest

from kernel_truth import read_pagemap_present
from lab_runner import Run, make_lab

pytestmark = pytest.mark.slow
MiB = 1 << 20
PAGE = 4096
CONFIG = """
sample_interval: 100ms
workloads:
  - {name: gosteady, kind: go, pattern: steady, size: 64MiB, madvise: MADV_FREE}
"""


def test_go_workload_map_is_the_kernels_side_and_says_so():
    lab = make_lab(CONFIG)
    run = Run(lab)
    try:
        lab.start()
        run.until(lambda: lab.status("gosteady").state == "running" and lab.heap("gosteady") is not None
                  and lab.heap("gosteady").heap_inuse_bytes >= 64 * MiB, timeout_s=120, what="the Go heap")
        heap_map = lab.heapmap("gosteady", force=True)
        assert heap_map is not None and heap_map.source == "kernel"
        assert "kernel side only" in heap_map.note and "largest anonymous mappings" in heap_map.note
        pid = lab.status("gosteady").pid
        own_present = sum(read_pagemap_present(pid, a.addr, a.addr + a.n_bytes)[0] for a in heap_map.arenas)
        shown = heap_map.pages["unknown_resident"]
        print(f"\ngo: {len(heap_map.arenas)} mappings, {heap_map.n_bytes / MiB:.0f} MiB; map {shown * PAGE / MiB:.1f} "
              f"MiB resident, own pagemap {own_present * PAGE / MiB:.1f} MiB")
        assert shown * PAGE >= 64 * MiB, "the 64 MiB live heap is in the largest mappings"
        assert abs(shown - own_present) * PAGE <= 2 * MiB
        assert heap_map.pages["inuse_resident"] == heap_map.pages["released_resident"] == 0
    finally:
        lab.stop()
