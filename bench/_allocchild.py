"""Child of bench 9: one allocator (already LD_PRELOADed): first touch, free + its release, reuse; JSON on stdout."""

from __future__ import annotations

import ctypes
import json
import sys
import time

from workloads.allocators import load

GiB = 1 << 30


def main(kind: str, n_bytes: int, block_bytes: int, explicit: bool) -> None:
    allocator = load(kind)

    def fill() -> tuple[list[int], float]:
        t0 = time.thread_time()  # this thread's CPU: page faults and zero-fill included, waiting for a core not
        blocks = []
        for _ in range(n_bytes // block_bytes):
            address = allocator.malloc(block_bytes)
            ctypes.memset(address, 0x5A, block_bytes)
            blocks.append(address)
        return blocks, time.thread_time() - t0

    blocks, first_s = fill()
    for address in blocks:
        allocator.free(address)
    released_s = 0.0
    if not explicit:  # jemalloc MADV_FREE: wait for the background thread's decay to take the dirty pages to muzzy
        t0 = time.perf_counter()
        while allocator.figures().idle > (1 << 20) and time.perf_counter() - t0 < 10:
            time.sleep(0.05)
        released_s = time.perf_counter() - t0
    if explicit:
        t0 = time.perf_counter()
        allocator.release()
        released_s = time.perf_counter() - t0
    blocks, reuse_s = fill()
    print(json.dumps({"first_ms_per_gib": first_s * 1000 / (n_bytes / GiB),
                      "reuse_ms_per_gib": reuse_s * 1000 / (n_bytes / GiB),
                      "release_ms": released_s * 1000, "version": allocator.version()}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "explicit")
