"""A big memory child for bench 15: N bytes of private anonymous memory in 4 KiB pages (MADV_NOHUGEPAGE), all
touched, the last FREE bytes given back with MADV_FREE (LazyFree), then it keeps writing: one byte per page over
a 256 MiB window that moves every 50 ms through the rest, and every TOGGLE seconds a 64 MiB chunk of the freed
part is written again (LazyFree falls) or MADV_FREEd again (it rises), each change announced on stdout:
`lazyfree BYTES MONOTONIC` - CLOCK_MONOTONIC is system-wide, so the parent can compare it with its own clock."""

from __future__ import annotations

import mmap
import signal
import sys
import time

from workloads.madvise import set_parent_death_signal

PAGE = mmap.PAGESIZE
WINDOW = 256 << 20
WINDOW_EVERY_S = 0.05
CHUNK = 64 << 20


def main() -> int:
    set_parent_death_signal(signal.SIGKILL)  # the benchmark's lifetime bounds ours, even if it is killed
    n_bytes, free_bytes, toggle_s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    memory = mmap.mmap(-1, n_bytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    memory.madvise(mmap.MADV_NOHUGEPAGE)  # 4 KiB pages: the page walk the goal is about
    view = memoryview(memory)
    ones = b"\x01" * (WINDOW // PAGE)
    for start in range(0, n_bytes, WINDOW):  # one byte per page: resident and dirty
        end = min(n_bytes, start + WINDOW)
        view[start:end:PAGE] = ones[:(end - start + PAGE - 1) // PAGE]
    busy_bytes = n_bytes - free_bytes
    memory.madvise(mmap.MADV_FREE, busy_bytes, free_bytes)
    lazyfree = free_bytes
    print(f"ready {lazyfree} {time.monotonic():.6f}", flush=True)
    chunk_start = busy_bytes  # the freed part's first 64 MiB goes back and forth
    chunk_ones = b"\x02" * (CHUNK // PAGE)
    window = 0
    next_toggle = time.monotonic() + toggle_s
    dirty = False
    while True:
        start = window * WINDOW % max(WINDOW, busy_bytes - WINDOW)
        view[start:start + WINDOW:PAGE] = ones
        window += 1
        if time.monotonic() >= next_toggle:
            if dirty:
                memory.madvise(mmap.MADV_FREE, chunk_start, CHUNK)
                lazyfree += CHUNK
            else:
                view[chunk_start:chunk_start + CHUNK:PAGE] = chunk_ones
                lazyfree -= CHUNK
            dirty = not dirty
            print(f"lazyfree {lazyfree} {time.monotonic():.6f}", flush=True)
            next_toggle += toggle_s
        time.sleep(WINDOW_EVERY_S)


if __name__ == "__main__":
    sys.exit(main())
