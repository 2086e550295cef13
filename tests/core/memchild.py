"""A tiny real process for sampler tests: maps private anonymous memory and obeys one-word commands on stdin."""

import ctypes
import mmap
import sys

MADV = {"free": 8, "dontneed": 4}
size = int(sys.argv[1])
region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
address = ctypes.addressof(ctypes.c_char.from_buffer(region))
libc = ctypes.CDLL(None, use_errno=True)
libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
print("ready", flush=True)
for line in sys.stdin:
    word = line.strip()
    if word == "touch":
        ctypes.memset(address, 0x5A, size)
    elif word in MADV:
        if libc.madvise(address, size, MADV[word]) != 0:
            print("error", ctypes.get_errno(), flush=True)
            continue
    print("done", flush=True)
