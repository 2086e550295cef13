"""Benchmark: heap first-touch vs ctypes.memset on a fresh mapping, and reuse cost after MADV_FREE vs MADV_DONTNEED."""

from __future__ import annotations

import argparse
import statistics
import time

from workloads import madvise as mv
from workloads.heap import Heap
from workloads.units import parse_size

GIB = 1 << 30


def memset_fresh_s(n_bytes: int) -> float:
    """ctypes.memset over a fresh private anonymous mapping: the baseline."""
    addr = mv.map_anonymous(n_bytes)
    try:
        t0 = time.thread_time()
        mv.touch(addr, n_bytes)
        return time.thread_time() - t0
    finally:
        mv.unmap(addr, n_bytes)


def heap_first_touch_s(n_bytes: int, arena_bytes: int) -> float:
    """Heap.alloc on an empty heap (maps arenas, then writes every byte)."""
    heap = Heap(arena_bytes)
    try:
        t0 = time.thread_time()
        heap.alloc(n_bytes, 0.0)
        return time.thread_time() - t0
    finally:
        heap.close()


def reuse_ms_per_gib(n_bytes: int, arena_bytes: int, mode: str) -> float:
    """Allocate, free, release with `mode`, allocate again: the reported reuse cost."""
    heap = Heap(arena_bytes)
    try:
        span = heap.alloc(n_bytes, 0.0).span
        heap.free(span, 0.0)
        for idle in heap.idle_spans():
            heap.release(idle, idle.n_bytes, mode)
        got = heap.alloc(n_bytes, 0.0)
        return got.reuse_s * 1000 / (got.reused_bytes / GIB)
    finally:
        heap.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="512MiB", help="bytes per run (default 512MiB)")
    parser.add_argument("--arena-size", default="64MiB")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n_bytes, arena_bytes = parse_size(args.size), parse_size(args.arena_size)
    gib = n_bytes / GIB
    base, heap = [], []
    # CPU time of this thread (faults included): wall time on this shared 2-core VM swings 2x run to run.
    for _ in range(args.runs):  # interleaved, because this VM's first-touch speed drifts
        base.append(memset_fresh_s(n_bytes))
        heap.append(heap_first_touch_s(n_bytes, arena_bytes))
    base_gbps, heap_gbps = gib / statistics.median(base), gib / statistics.median(heap)
    print(f"first touch of {args.size}: ctypes.memset fresh mapping {base_gbps:.2f} GiB/s, "
          f"heap {heap_gbps:.2f} GiB/s ({heap_gbps / base_gbps * 100:.0f}% of memset), medians of {args.runs}")
    for mode in ("MADV_FREE", "MADV_DONTNEED", "MADV_COLD", "none"):
        runs = [reuse_ms_per_gib(n_bytes, arena_bytes, mode) for _ in range(args.runs)]
        print(f"reuse after {mode:13s}: {statistics.median(runs):7.1f} ms/GiB (median of {args.runs}, "
              f"min {min(runs):.1f}, max {max(runs):.1f})")


if __name__ == "__main__":
    main()
