"""pagemap reads (PAGEMAP_SCAN and the pread fallback) on a real mapping, against the test's own pagemap read."""

from __future__ import annotations

import ctypes
import mmap
import os
import platform

import pytest

from kernel_truth import read_pagemap_present
from tui.core.kernel.pagemap import ABSENT, PAGE_BYTES, PRESENT, PagemapReader, count

MAPPING_BYTES = 64 << 20


def _kernel_at_least(major: int, minor: int) -> bool:
    parts = platform.release().split(".")
    return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)


@pytest.fixture
def mapping():
    """A private anonymous mapping without THP: touched pages, DONTNEED'd holes, MADV_FREE'd runs, a stride."""
    m = mmap.mmap(-1, MAPPING_BYTES, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    m.madvise(mmap.MADV_NOHUGEPAGE)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    quarter = MAPPING_BYTES // 4
    ctypes.memset(addr, 0x5A, 3 * quarter)  # last quarter never touched
    m.madvise(mmap.MADV_DONTNEED, 0, quarter // 2)  # gone at once
    m.madvise(mmap.MADV_FREE, quarter, quarter)  # lazily freed: still present until reclaim
    for offset in range(3 * quarter, MAPPING_BYTES, 3 * PAGE_BYTES):  # many short runs: > one ioctl's vector
        m[offset] = 1
    yield m, addr
    m.close()


@pytest.mark.parametrize("prefer", ["scan", "read"])
def test_reader_matches_own_read(mapping, prefer):
    m, addr = mapping
    with PagemapReader(os.getpid(), prefer=prefer) as reader:
        codes = reader.read(addr, addr + MAPPING_BYTES)
        truth = read_pagemap_present(os.getpid(), addr, addr + MAPPING_BYTES)
        absent, present, swapped = count(codes)
        assert (present, swapped, absent) == truth
        assert len(codes) == MAPPING_BYTES // PAGE_BYTES
        # where: the DONTNEED'd half-quarter is absent, the MADV_FREE'd quarter present, the rest touched
        quarter_pages = len(codes) // 4
        assert count(codes, 0, quarter_pages // 2) == (quarter_pages // 2, 0, 0)
        assert count(codes, quarter_pages, 2 * quarter_pages) == (0, quarter_pages, 0)
        assert codes[3 * quarter_pages] == PRESENT and codes[3 * quarter_pages + 1] == ABSENT


def test_scan_and_read_agree_page_by_page(mapping):
    m, addr = mapping
    with PagemapReader(os.getpid(), prefer="scan") as scan, PagemapReader(os.getpid(), prefer="read") as read:
        assert read.method == "read"
        if _kernel_at_least(6, 7):
            assert scan.method == "scan", "PAGEMAP_SCAN exists since Linux 6.7"
        for start, end in ((addr, addr + MAPPING_BYTES), (addr + 5, addr + 3 * PAGE_BYTES + 7),
                           (addr + MAPPING_BYTES // 4 - PAGE_BYTES, addr + MAPPING_BYTES // 2 + PAGE_BYTES)):
            assert scan.read(start, end) == read.read(start, end)


def test_touch_after_dontneed_is_seen(mapping):
    """A reader kept open sees later changes (the dashboard keeps its fd)."""
    m, addr = mapping
    with PagemapReader(os.getpid()) as reader:
        assert count(reader.read(addr, addr + PAGE_BYTES * 8))[1] == 0
        ctypes.memset(addr, 1, PAGE_BYTES * 8)
        assert count(reader.read(addr, addr + PAGE_BYTES * 8))[1] == 8


def test_gone_process_raises():
    with pytest.raises((FileNotFoundError, ProcessLookupError)):
        PagemapReader(2 ** 22 + 12345)


def test_bad_prefer():
    with pytest.raises(ValueError):
        PagemapReader(os.getpid(), prefer="fast")
