"""A bare memory child for the benchmarks: maps and touches N bytes, then madvises on command (stdin lines)."""

from __future__ import annotations

import sys
import time

from workloads.madvise import ADVICE, madvise, map_anonymous, touch


def main() -> int:
    n_bytes = int(sys.argv[1])
    addr = map_anonymous(n_bytes)
    touch(addr, n_bytes, 0x5A)
    print(f"ready {time.monotonic():.6f}", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd in ADVICE:
            started = time.monotonic()
            madvise(addr, n_bytes, ADVICE[cmd])
            # CLOCK_MONOTONIC is system-wide, so the parent can compare these times with its own.
            print(f"done {started:.6f} {time.monotonic():.6f}", flush=True)
        elif cmd == "touch":
            started = time.monotonic()
            touch(addr, n_bytes, 0x5B)
            print(f"done {started:.6f} {time.monotonic():.6f}", flush=True)
        elif cmd == "exit":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
