"""Which pages of a process are resident or swapped: /proc/PID/pagemap, with the PAGEMAP_SCAN ioctl where it exists."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import threading

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")

# One code per page in what `PagemapReader.read` returns.
ABSENT, PRESENT, SWAPPED = 0, 1, 2

# pagemap entries (Documentation/admin-guide/mm/pagemap.rst): 8 bytes per page, little-endian u64.
_ENTRY_BYTES = 8
_PRESENT_BIT = 1 << 63
_SWAPPED_BIT = 1 << 62
# The top byte of an entry carries both bits (63 -> 0x80, 62 -> 0x40): a translate table maps it to a code.
_TOP_BYTE_CODES = bytes(PRESENT if b & 0x80 else SWAPPED if b & 0x40 else ABSENT for b in range(256))

# PAGEMAP_SCAN (Linux >= 6.7, include/uapi/linux/fs.h).
PAGE_IS_PRESENT = 1 << 3
PAGE_IS_SWAPPED = 1 << 4


class _PageRegion(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64), ("categories", ctypes.c_uint64)]


class _PmScanArg(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "size", "flags", "start", "end", "walk_end", "vec", "vec_len", "max_pages",
        "category_inverted", "category_mask", "category_anyof_mask", "return_mask")]


def _iowr(type_char: str, number: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (ord(type_char) << 8) | number


PAGEMAP_SCAN = _iowr("f", 16, ctypes.sizeof(_PmScanArg))
_REGIONS_PER_CALL = 512  # 12 KiB of results per ioctl; a scan that fills it continues from walk_end


class PagemapReader:
    """A kept /proc/PID/pagemap fd; `read(start, end)` gives one code per page (ABSENT, PRESENT, SWAPPED).

    `method` is "scan" (the PAGEMAP_SCAN ioctl: the kernel sends runs of pages, not 8 bytes a page) when the
    kernel has it, else "read" (one pread of 8 bytes per page). `prefer="read"` forces the fallback.
    Raises FileNotFoundError/ProcessLookupError when the process is gone, PermissionError without access.
    """

    def __init__(self, pid: int, prefer: str = "scan") -> None:
        if prefer not in ("scan", "read"):
            raise ValueError(f"prefer: expected scan or read, got {prefer!r}")
        self.pid = pid
        self._fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        self._lock = threading.Lock()  # the ioctl's result buffer is shared
        self._regions = (_PageRegion * _REGIONS_PER_CALL)()
        self.method = "scan" if prefer == "scan" and self._scan_works() else "read"

    def _scan_works(self) -> bool:
        try:
            self._scan(0, PAGE_BYTES, bytearray(1))
        except OSError as exc:
            if exc.errno in (errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS, errno.EPERM):
                return False
            raise
        return True

    def read(self, start: int, end: int) -> bytes:
        """Codes of the pages in [start, end) (rounded out to whole pages): one byte per page."""
        start -= start % PAGE_BYTES
        end += -end % PAGE_BYTES
        if end <= start:
            return b""
        if self.method == "scan":
            codes = bytearray((end - start) // PAGE_BYTES)
            with self._lock:
                self._scan(start, end, codes)
            return bytes(codes)
        data = os.pread(self._fd, (end - start) // PAGE_BYTES * _ENTRY_BYTES, start // PAGE_BYTES * _ENTRY_BYTES)
        # Little-endian: byte 7 of each entry holds bits 56-63. A slice and a translate, no Python loop per page.
        return data[_ENTRY_BYTES - 1::_ENTRY_BYTES].translate(_TOP_BYTE_CODES)

    def _scan(self, start: int, end: int, codes: bytearray) -> None:
        arg = _PmScanArg(size=ctypes.sizeof(_PmScanArg), start=start, end=end,
                         vec=ctypes.addressof(self._regions), vec_len=_REGIONS_PER_CALL,
                         category_anyof_mask=PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                         return_mask=PAGE_IS_PRESENT | PAGE_IS_SWAPPED)
        base = start
        while arg.start < end:
            # The struct is passed as a mutable buffer (an int argument is a C int: too small for an address);
            # the kernel writes walk_end into it.
            n = fcntl.ioctl(self._fd, PAGEMAP_SCAN, arg, True)
            for region in self._regions[:n]:
                code = PRESENT if region.categories & PAGE_IS_PRESENT else SWAPPED
                first, last = (region.start - base) // PAGE_BYTES, (region.end - base) // PAGE_BYTES
                codes[first:last] = bytes((code,)) * (last - first)
            if arg.walk_end <= arg.start:  # no progress: never loop forever on a kernel quirk
                break
            arg.start = arg.walk_end

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "PagemapReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def count(codes: bytes, first: int = 0, last: int | None = None) -> tuple[int, int, int]:
    """(absent, present, swapped) page counts in codes[first:last]."""
    last = len(codes) if last is None else last
    present = codes.count(PRESENT, first, last)
    swapped = codes.count(SWAPPED, first, last)
    return max(0, last - first) - present - swapped, present, swapped


def anonymous_mappings(pid: int, largest: int = 4) -> list[tuple[int, int]]:
    """The `largest` private anonymous mappings of `pid` (no file, [heap] included) as (start, end), by address.

    What the heap map reads for processes whose runtime does not report its spans (kind go, attach): Go's
    heap arenas are its largest anonymous mappings.
    """
    found: list[tuple[int, int]] = []
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            path = parts[5].strip() if len(parts) > 5 else ""
            # Readable, writable and private: a Go heap's PROT_NONE reservation (---p) is address space only.
            if path not in ("", "[heap]") or not (parts[1].startswith("rw") and parts[1].endswith("p")):
                continue
            start, end = (int(x, 16) for x in parts[0].split("-"))
            found.append((start, end))
    found.sort(key=lambda r: r[1] - r[0], reverse=True)
    return sorted(found[:largest])
