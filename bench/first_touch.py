"""Bench 3: the workload heap's first touch against ctypes.memset on a fresh mapping (bench/touch_workloads.py)."""

from __future__ import annotations

from bench.common import GiB, Result, median
from bench.touch_workloads import heap_first_touch_s, memset_fresh_s

N_BYTES = 512 << 20
ARENA_BYTES = 64 << 20
RUNS = 5


def run() -> Result:
    result = Result(3, "first-touch throughput vs ctypes.memset", goal=">= 90 % of memset")
    base_s, heap_s = [], []
    for _ in range(RUNS):  # interleaved: this VM's first-touch speed drifts
        base_s.append(memset_fresh_s(N_BYTES))
        heap_s.append(heap_first_touch_s(N_BYTES, ARENA_BYTES))
    gib = N_BYTES / GiB
    base_gibps, heap_gibps = gib / median(base_s), gib / median(heap_s)
    ratio = heap_gibps / base_gibps
    result.figures = {"memset_gib_per_s": base_gibps, "heap_gib_per_s": heap_gibps, "ratio": ratio,
                      "memset_s": base_s, "heap_s": heap_s, "bytes": N_BYTES}
    result.summary = (f"heap {heap_gibps:.2f} GiB/s vs memset {base_gibps:.2f} GiB/s = {ratio * 100:.0f} % "
                      f"(512 MiB, medians of {RUNS})")
    result.met = ratio >= 0.9
    return result
