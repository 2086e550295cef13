"""attach: the heap map shows the kernel's side only, over the largest anonymous mappings, and says so."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from kernel_truth import read_pagemap_present
from tui.core.sources.attach import AttachLab

pytestmark = pytest.mark.slow
MiB = 1 << 20
# Not ours: 128 MiB private anonymous, touched, the first 32 MiB dropped with MADV_DONTNEED, then it waits.
CHILD = textwrap.dedent("""
    import ctypes, mmap, sys
    size = 128 << 20
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    m.madvise(mmap.MADV_NOHUGEPAGE)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    ctypes.memset(addr, 7, size)
    m.madvise(mmap.MADV_DONTNEED, 0, 32 << 20)
    print(addr, flush=True)
    sys.stdin.readline()
""")


def test_attached_process_map_is_the_kernels_side_over_its_largest_mapping():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lab = None
    try:
        addr = int(proc.stdout.readline())
        lab = AttachLab([proc.pid])
        lab.start()
        name = lab.names[0]
        heap_map = lab.heapmap(name, force=True)
        own_present, _, own_absent = read_pagemap_present(proc.pid, addr, addr + 128 * MiB)
        assert heap_map.source == "kernel" and "kernel side only" in heap_map.note
        assert any(a.addr <= addr and addr + 128 * MiB <= a.addr + a.n_bytes for a in heap_map.arenas)
        biggest = max(heap_map.arenas, key=lambda a: a.n_bytes)
        present = sum(c[6] for c in biggest.cells)  # unknown_resident
        assert abs(present - own_present) * 4096 <= 1 * MiB and abs(present * 4096 - 96 * MiB) <= 1 * MiB
        assert heap_map.pages["inuse_resident"] == heap_map.pages["released_resident"] == 0
    finally:
        if lab is not None:
            lab.stop()
        proc.kill()
        proc.wait()
