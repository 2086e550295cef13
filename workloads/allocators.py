"""Native allocators through ctypes: malloc/free of real blocks, each allocator's own statistics and explicit release.

The allocator is the process's malloc: jemalloc, mimalloc and tcmalloc are loaded with LD_PRELOAD by whoever
spawns the workload (the dashboard's supervisor), so `CDLL(None).malloc` is theirs; glibc needs nothing.
Every figure here comes from the allocator itself; one it does not tell is None, never a guess.
"""

from __future__ import annotations

import ctypes
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

NATIVE_KINDS = ("glibc", "jemalloc", "mimalloc", "tcmalloc")
MALLCTL_ARENAS_ALL = 4096  # jemalloc's "all arenas" index in mallctl names
_size_t = ctypes.c_size_t


class AllocatorError(Exception):
    """The allocator cannot be used (not loaded, a symbol missing, a call failed); the message is one line."""


@dataclass(frozen=True)
class Figures:
    """One reading of the allocator's own statistics (bytes; None = the allocator does not tell)."""

    inuse: int | None  # bytes in live blocks
    idle: int | None  # free inside the allocator and still backed (it has not released them)
    released: int | None  # handed back to the kernel (madvise or munmap) but still part of its address space
    sys: int | None  # address space the allocator holds
    raw: dict[str, int] = field(default_factory=dict)  # the allocator's own names and values


class Native:
    """One allocator: `malloc`/`free`, `figures()`, `release()` (its explicit give-back) and a description."""

    name = "native"
    release_call = ""  # what `release()` calls, as the allocator's users know it
    modes: tuple[str, ...] = ("MADV_DONTNEED",)  # madvise modes this allocator can release with

    def __init__(self) -> None:
        self.lib = ctypes.CDLL(None, use_errno=True)  # the process's global symbols: the preloaded allocator first
        self.malloc = self._symbol("malloc", ctypes.c_void_p, (_size_t,))
        self.free = self._symbol("free", None, (ctypes.c_void_p,))

    def _symbol(self, name: str, restype, argtypes) -> Callable:
        try:
            function = getattr(self.lib, name)
        except AttributeError:
            preload = os.environ.get("LD_PRELOAD", "")
            raise AllocatorError(f"{self.name}: symbol {name} not found in this process (LD_PRELOAD={preload!r}): "
                                 f"the library did not load, or it is not {self.name}") from None
        function.restype, function.argtypes = restype, argtypes
        return function

    def version(self) -> str:
        return ""

    def settings(self) -> str:
        """The allocator's settings that decide when it releases, in its own words."""
        return ""

    def figures(self) -> Figures:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class Glibc(Native):
    name = "glibc"
    release_call = "malloc_trim(0)"

    class _Mallinfo2(ctypes.Structure):
        _fields_ = [(name, _size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                 "fsmblks", "uordblks", "fordblks", "keepcost")]

    def __init__(self) -> None:
        super().__init__()
        self._mallinfo2 = self._symbol("mallinfo2", self._Mallinfo2, ())
        self._trim = self._symbol("malloc_trim", ctypes.c_int, (_size_t,))
        self._version = self._symbol("gnu_get_libc_version", ctypes.c_char_p, ())

    def version(self) -> str:
        return self._version().decode()

    def settings(self) -> str:
        return os.environ.get("GLIBC_TUNABLES", "") or "default tunables"

    def figures(self) -> Figures:
        info = self._mallinfo2()
        raw = {field[0]: int(getattr(info, field[0])) for field in self._Mallinfo2._fields_}
        # mallinfo2 cannot tell free chunks that malloc_trim already gave back (MADV_DONTNEED) from backed ones:
        # fordblks counts both, so "released" is unknown and "idle" is every free byte in the heap.
        return Figures(inuse=raw["uordblks"] + raw["hblkhd"], idle=raw["fordblks"], released=None,
                       sys=raw["arena"] + raw["hblkhd"], raw=raw)

    def release(self) -> None:
        self._trim(0)


class Jemalloc(Native):
    name = "jemalloc"
    release_call = f"arena.{MALLCTL_ARENAS_ALL}.purge"
    modes = ("MADV_FREE", "MADV_DONTNEED")

    def __init__(self) -> None:
        super().__init__()
        self._mallctl = self._symbol("mallctl", ctypes.c_int, (ctypes.c_char_p, ctypes.c_void_p,
                                                               ctypes.POINTER(_size_t), ctypes.c_void_p, _size_t))
        self.page_bytes = self._read("arenas.page", ctypes.c_size_t)

    def _read(self, name: str, ctype):
        value = ctype()
        size = _size_t(ctypes.sizeof(value))
        err = self._mallctl(name.encode(), ctypes.byref(value), ctypes.byref(size), None, 0)
        if err:
            raise AllocatorError(f"jemalloc: mallctl {name!r} failed: {os.strerror(err)}")
        return value.value

    def _call(self, name: str) -> None:
        err = self._mallctl(name.encode(), None, None, None, 0)
        if err:
            raise AllocatorError(f"jemalloc: mallctl {name!r} failed: {os.strerror(err)}")

    def version(self) -> str:
        return (self._read("version", ctypes.c_char_p) or b"").decode().split("-")[0]

    def option(self, name: str):
        """An `opt.*` setting (as MALLOC_CONF set it)."""
        ctype = ctypes.c_bool if name == "background_thread" else ctypes.c_ssize_t
        return self._read(f"opt.{name}", ctype)

    def background_thread(self) -> bool:
        return bool(self._read("background_thread", ctypes.c_bool))

    def settings(self) -> str:
        return (f"dirty_decay_ms:{self.option('dirty_decay_ms')},muzzy_decay_ms:{self.option('muzzy_decay_ms')},"
                f"background_thread:{'true' if self.background_thread() else 'false'}")

    def figures(self) -> Figures:
        epoch = ctypes.c_uint64(1)
        self._mallctl(b"epoch", None, None, ctypes.byref(epoch), ctypes.sizeof(epoch))  # refresh the stats
        raw = {name: int(self._read(f"stats.{name}", ctypes.c_size_t))
               for name in ("allocated", "active", "resident", "mapped", "retained")}
        all_arenas = f"stats.arenas.{MALLCTL_ARENAS_ALL}"
        raw["dirty"] = int(self._read(f"{all_arenas}.pdirty", ctypes.c_size_t)) * self.page_bytes
        raw["muzzy"] = int(self._read(f"{all_arenas}.pmuzzy", ctypes.c_size_t)) * self.page_bytes
        raw["dirty_purged_pages"] = int(self._read(f"{all_arenas}.dirty_purged", ctypes.c_uint64))
        raw["muzzy_purged_pages"] = int(self._read(f"{all_arenas}.muzzy_purged", ctypes.c_uint64))
        raw["page_bytes"] = int(self.page_bytes)
        # muzzy: MADV_FREE'd (still resident until the kernel takes them); retained: purged (MADV_DONTNEED) address
        # space jemalloc keeps for reuse instead of munmap.
        return Figures(inuse=raw["allocated"], idle=raw["dirty"], released=raw["muzzy"] + raw["retained"],
                       sys=raw["mapped"] + raw["retained"], raw=raw)

    def release(self) -> None:
        self._call(f"arena.{MALLCTL_ARENAS_ALL}.purge")


class Tcmalloc(Native):
    name = "tcmalloc"
    release_call = "MallocExtension_ReleaseFreeMemory()"
    PROPERTIES = {"current_allocated_bytes": "generic.current_allocated_bytes", "heap_size": "generic.heap_size",
                  "pageheap_free_bytes": "tcmalloc.pageheap_free_bytes",
                  "pageheap_unmapped_bytes": "tcmalloc.pageheap_unmapped_bytes",
                  "central_cache_free_bytes": "tcmalloc.central_cache_free_bytes",
                  "thread_cache_free_bytes": "tcmalloc.current_total_thread_cache_bytes"}

    def __init__(self) -> None:
        super().__init__()
        self._get = self._symbol("MallocExtension_GetNumericProperty", ctypes.c_int,
                                 (ctypes.c_char_p, ctypes.POINTER(_size_t)))
        self._release = self._symbol("MallocExtension_ReleaseFreeMemory", None, ())
        self._version = self._symbol("tc_version", ctypes.c_char_p, (ctypes.POINTER(ctypes.c_int),) * 3)

    def version(self) -> str:
        parts = [ctypes.c_int() for _ in range(3)]
        self._version(*(ctypes.byref(p) for p in parts))
        return ".".join(str(p.value) for p in parts[:2])

    def settings(self) -> str:
        return f"TCMALLOC_RELEASE_RATE={os.environ.get('TCMALLOC_RELEASE_RATE', '1.0 (default)')}"

    def figures(self) -> Figures:
        raw: dict[str, int] = {}
        for short, prop in self.PROPERTIES.items():
            value = _size_t()
            if self._get(prop.encode(), ctypes.byref(value)):
                raw[short] = int(value.value)
        # heap_size counts the unmapped (released) bytes too: it is the address space, as Go's HeapSys
        return Figures(inuse=raw.get("current_allocated_bytes"), idle=raw.get("pageheap_free_bytes"),
                       released=raw.get("pageheap_unmapped_bytes"), sys=raw.get("heap_size"), raw=raw)

    def release(self) -> None:
        self._release()


class Mimalloc(Native):
    name = "mimalloc"
    release_call = "mi_collect(true)"
    _STAT_LINE = re.compile(r"^\s*(reserved|committed|reset|purged|normal|huge|large|segments|pages)\s*:\s*(.*)$")
    _AMOUNT = re.compile(r"(-?[0-9.]+)\s*(b|KiB|MiB|GiB|TiB)?\b")

    def __init__(self) -> None:
        super().__init__()
        self._version = self._symbol("mi_version", ctypes.c_int, ())
        self._collect = self._symbol("mi_collect", None, (ctypes.c_bool,))
        self._info = self._symbol("mi_process_info", None, (ctypes.POINTER(_size_t),) * 8)
        self._out_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p)
        self._print = self._symbol("mi_stats_print_out", None, (self._out_type, ctypes.c_void_p))
        self._option_get = self._symbol("mi_option_get", ctypes.c_long, (ctypes.c_int,))

    def version_number(self) -> int:
        return int(self._version())

    def version(self) -> str:
        v = self.version_number()  # 209 for 2.0.9; 30403 for 3.4.3 (mimalloc 3 gives minor and patch two digits)
        if v >= 10000:
            return f"{v // 10000}.{v // 100 % 100}.{v % 100}"
        return f"{v // 100}.{v // 10 % 10}.{v % 10}"

    def settings(self) -> str:
        names = [n for n in os.environ if n.startswith("MIMALLOC_")]
        return ",".join(f"{n}={os.environ[n]}" for n in sorted(names)) or "default options"

    def _stats(self) -> dict[str, int]:
        """The `current` column of mi_stats_print_out for the OS-level lines (reserved, committed, reset, purged)."""
        chunks: list[bytes] = []
        callback = self._out_type(lambda msg, _arg: chunks.append(msg or b""))
        self._print(callback, None)
        out: dict[str, int] = {}
        for line in b"".join(chunks).decode(errors="replace").splitlines():
            match = self._STAT_LINE.match(line)
            if not match:
                continue
            amounts = self._AMOUNT.findall(match.group(2))
            # mimalloc 2.0 prints peak, total, freed, current; mimalloc 3 peak, total, current; a lone number is
            # a running total (mimalloc 3's purged and reset bytes)
            column = 3 if len(amounts) >= 4 else 2 if len(amounts) == 3 else None
            if column is not None:
                number, unit = amounts[column]
                out[match.group(1)] = int(float(number) * _UNIT_BYTES.get(unit or "b", 1))
            elif len(amounts) == 1 and match.group(1) in ("purged", "reset"):
                number, unit = amounts[0]
                out[f"{match.group(1)}_total"] = int(float(number) * _UNIT_BYTES.get(unit or "b", 1))
        return out

    def figures(self) -> Figures:
        values = [_size_t() for _ in range(8)]
        self._info(*(ctypes.byref(v) for v in values))
        raw = {"current_commit": int(values[5].value), "peak_commit": int(values[6].value)}
        stats = self._stats()
        raw.update({f"stats_{k}": v for k, v in stats.items()})
        reserved = stats.get("reserved")
        committed = raw["current_commit"]
        # mimalloc tells what it reserved and committed, not how much of the committed memory is free: idle and
        # in use are unknown; released = reserved address space that is not committed (decommitted or never used).
        return Figures(inuse=None, idle=None, released=None if reserved is None else max(0, reserved - committed),
                       sys=reserved, raw=raw)

    def release(self) -> None:
        self._collect(True)


_UNIT_BYTES = {"b": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
CLASSES: dict[str, type[Native]] = {"glibc": Glibc, "jemalloc": Jemalloc, "mimalloc": Mimalloc, "tcmalloc": Tcmalloc}


def load(kind: str) -> Native:
    """The allocator of `kind`, checked to be this process's malloc; raises AllocatorError with one line."""
    allocator = CLASSES[kind]()
    if kind != "glibc":
        # With LD_PRELOAD the allocator's malloc comes first; if ld.so ignored the preload, malloc is glibc's.
        malloc: Any = allocator.malloc  # a ctypes function pointer
        ours = ctypes.cast(malloc, ctypes.c_void_p).value
        libc = ctypes.CDLL("libc.so.6")
        if ours == ctypes.cast(libc.malloc, ctypes.c_void_p).value:
            raise AllocatorError(f"{kind}: malloc is still glibc's: LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r} "
                                 "did not replace it")
    return allocator


def probe_main(kind: str) -> int:
    """`python -m workloads.allocators KIND`: print the loaded allocator's version as JSON (madvise-lab check)."""
    import json

    try:
        allocator = load(kind)
        print(json.dumps({"kind": kind, "version": allocator.version(), "settings": allocator.settings()}))
        return 0
    except AllocatorError as exc:
        print(json.dumps({"kind": kind, "error": str(exc)}))
        return 1


if __name__ == "__main__":
    import sys

    raise SystemExit(probe_main(sys.argv[1] if len(sys.argv) > 1 else "glibc"))
