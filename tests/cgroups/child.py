"""Test child: maps private anonymous memory, touches it, releases it as told on stdin, reports on stdout."""

import mmap
import sys

MADVISE = {"free": mmap.MADV_FREE, "dontneed": mmap.MADV_DONTNEED}


def touch(region: mmap.mmap, size_bytes: int) -> None:
    chunk = b"\x5a" * (1 << 20)
    for offset in range(0, size_bytes, len(chunk)):
        region[offset:offset + len(chunk)] = chunk
    print("touched", flush=True)


def main() -> None:
    size_bytes = int(sys.argv[1])
    region = mmap.mmap(-1, size_bytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    touch(region, size_bytes)
    for line in sys.stdin:
        command = line.strip()
        if command == "touch":
            touch(region, size_bytes)
        elif command in MADVISE:
            region.madvise(MADVISE[command])
            print("released", flush=True)
        elif command == "count":
            # Pages the kernel reclaimed read back as zeros; untouched lazy-free ones keep 0x5a.
            zero_pages = sum(1 for off in range(0, size_bytes, mmap.PAGESIZE) if region[off] == 0)
            print(zero_pages * mmap.PAGESIZE, flush=True)
        elif command == "exit":
            break


if __name__ == "__main__":
    main()
