"""libc mmap/munmap/madvise through ctypes: private anonymous mappings, advice numbers, and support probes."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os

MADV_DONTNEED = 4
MADV_FREE = 8
MADV_COLD = 20
MADV_PAGEOUT = 21

# Python's mmap module lacks COLD/PAGEOUT on many builds, so the numbers are ours (linux/amd64 uapi values).
ADVICE = {"MADV_FREE": MADV_FREE, "MADV_DONTNEED": MADV_DONTNEED, "MADV_COLD": MADV_COLD, "MADV_PAGEOUT": MADV_PAGEOUT}
# Modes that are not a madvise call: munmap of whole free arenas, or no syscall at all.
NON_ADVICE_MODES = ("munmap", "none")
# Testing aid: "advice:N" sends the raw number N (e.g. advice:99 to see a refusal end to end).
RAW_PREFIX = "advice:"

PROT_READ = mmap.PROT_READ
PROT_WRITE = mmap.PROT_WRITE
MAP_PRIVATE = mmap.MAP_PRIVATE
MAP_SHARED = mmap.MAP_SHARED
MAP_ANONYMOUS = mmap.MAP_ANONYMOUS
PAGE_BYTES = mmap.PAGESIZE
_MAP_FAILED = ctypes.c_void_p(-1).value

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
_libc.munmap.restype = ctypes.c_int
_libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_libc.madvise.restype = ctypes.c_int
_libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)


def kernel_release() -> str:
    """The running kernel's release string, for error messages."""
    return os.uname().release


def _raise_errno(what: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def map_anonymous(n_bytes: int, shared: bool = False) -> int:
    """Map `n_bytes` of anonymous memory (private unless `shared`, which exists for tests) and return its address."""
    flags = (MAP_SHARED if shared else MAP_PRIVATE) | MAP_ANONYMOUS
    addr = _libc.mmap(None, n_bytes, PROT_READ | PROT_WRITE, flags, -1, 0)
    if addr is None or addr == _MAP_FAILED:
        _raise_errno(f"mmap({n_bytes})")
    return addr


def unmap(addr: int, n_bytes: int) -> None:
    """munmap a range; raises OSError."""
    if _libc.munmap(addr, n_bytes) != 0:
        _raise_errno(f"munmap({n_bytes})")


def madvise(addr: int, n_bytes: int, advice: int) -> None:
    """madvise(addr, n_bytes, advice); raises OSError with the errno the kernel gave."""
    if _libc.madvise(addr, n_bytes, advice) != 0:
        _raise_errno(f"madvise({advice})")


def touch(addr: int, n_bytes: int, value: int = 0x5A) -> None:
    """Write every byte of a range at memset speed (a non-zero value, so pages really hold data)."""
    ctypes.memset(addr, value, n_bytes)


def set_parent_death_signal(signum: int) -> bool:
    """prctl(PR_SET_PDEATHSIG, signum): the kernel sends signum when the parent exits. False if unsupported."""
    pr_set_pdeathsig = 1
    return _libc.prctl(pr_set_pdeathsig, signum, 0, 0, 0) == 0


def advice_number(mode: str) -> int | None:
    """The madvise advice for a mode name, None for munmap/none; ValueError for an unknown name."""
    if mode in ADVICE:
        return ADVICE[mode]
    if mode in NON_ADVICE_MODES:
        return None
    if mode.startswith(RAW_PREFIX):
        try:
            return int(mode[len(RAW_PREFIX):], 10)
        except ValueError:
            pass
    raise ValueError(f"expected one of {', '.join([*ADVICE, *NON_ADVICE_MODES])} (or advice:N), got {mode!r}")


def probe(mode: str) -> tuple[bool, str]:
    """Whether this kernel accepts `mode`, tried for real on a small fresh private anonymous mapping."""
    try:
        advice = advice_number(mode)
    except ValueError as exc:
        return False, str(exc)
    if advice is None:
        return True, f"{mode}: no madvise call needed"
    n_bytes = 4 * PAGE_BYTES
    try:
        addr = map_anonymous(n_bytes)
    except OSError as exc:
        return False, f"cannot map a probe page: {exc}"
    try:
        touch(addr, n_bytes)
        # Zero length validates the advice alone (the kernel checks the advice before the length).
        madvise(addr, 0, advice)
        madvise(addr, n_bytes, advice)
    except OSError as exc:
        code = exc.errno or 0
        name = errno.errorcode.get(code, str(code))
        return False, f"{mode} refused: {name} ({os.strerror(code)}) on Linux {kernel_release()}"
    finally:
        unmap(addr, n_bytes)
    return True, f"{mode} (advice {advice}) accepted on Linux {kernel_release()}"


def probe_all() -> dict[str, tuple[bool, str]]:
    """probe() for every madvise mode the lab knows."""
    return {mode: probe(mode) for mode in (*ADVICE, *NON_ADVICE_MODES)}
