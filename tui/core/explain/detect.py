"""Which runtime and allocator hold a process's memory: from its executable, its mapped libraries, its environment."""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass

from tui.core.explain import elf
from tui.core.kernel.smaps import Mapping

RUNTIMES = ("go", "cpython", "jvm", "node", "unknown")
RUNTIME_NAMES = {"go": "Go", "cpython": "CPython", "jvm": "JVM", "node": "Node"}
ALLOCATORS = ("glibc", "jemalloc", "mimalloc", "tcmalloc", "go", "jvm", "unknown")
# mapped library basename prefix → allocator (an interposing allocator wins over libc)
_LIBRARIES = (("libjemalloc.so", "jemalloc"), ("libmimalloc.so", "mimalloc"), ("libtcmalloc", "tcmalloc"))
# names that only a statically linked allocator brings into an executable's symbols or strings
_STATIC_MARKERS = {
    b"<jemalloc>:": "jemalloc", b"je_mallctl": "jemalloc", b"_rjem_mallctl": "jemalloc",
    b"mi_malloc_usable_size": "mimalloc", b"mimalloc: ": "mimalloc",
    b"tc_malloc_size": "tcmalloc", b"TCMALLOC_RELEASE_RATE": "tcmalloc",
}
_PY_LIB = re.compile(r"libpython(\d+\.\d+)")
_PY_EXE = re.compile(r"^python(\d+\.\d+)")
_PY_EXT = re.compile(r"\.cpython-(\d)(\d+)")
_JDK_VERSION = re.compile(r'^JAVA_VERSION="([^"]+)"', re.M)
_GO_VERSION = re.compile(r"^go(\d+)(?:\.(\d+))?(?:\.(\d+))?")


@dataclass(frozen=True, slots=True)
class Detected:
    """The runtime and allocator, how we know, and the settings that matter for releasing memory."""

    runtime: str  # one of RUNTIMES
    runtime_version: str | None
    allocator: str  # one of ALLOCATORS
    evidence: tuple[str, ...]  # how each was found, for the reader
    godebug: dict[str, str]  # effective GODEBUG for a Go binary: its defaults, then the environment's
    go_madvise: str | None  # the flag a Go runtime returns heap pages with, when we can tell
    environ_known: bool  # False when environ was unreadable: settings from the environment are unknown
    settings: dict[str, str]  # allocator and runtime variables found in the environment (MALLOC_CONF, ...)

    @property
    def label(self) -> str:
        """e.g. "Go 1.22.4", "CPython 3.11 · glibc", "jemalloc" (the release flag is shown apart)."""
        name = RUNTIME_NAMES.get(self.runtime, "")
        if self.runtime == "go":
            return f"Go {(self.runtime_version or '?').removeprefix('go')}"
        head = f"{name} {self.runtime_version}" if name and self.runtime_version else name
        if self.allocator in ("jvm", "go") or self.allocator == "unknown" and head:
            return head
        return f"{head} · {self.allocator}" if head else self.allocator


ENV_SETTINGS = ("MALLOC_CONF", "_RJEM_MALLOC_CONF", "MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_",
                "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES", "LD_PRELOAD", "GODEBUG", "GOGC",
                "GOMEMLIMIT", "PYTHONMALLOC", "MIMALLOC_PURGE_DELAY", "MIMALLOC_PURGE_DECOMMITS",
                "MIMALLOC_RESET_DELAY", "MIMALLOC_RESET_DECOMMITS", "TCMALLOC_RELEASE_RATE",
                "TCMALLOC_AGGRESSIVE_DECOMMIT", "JAVA_TOOL_OPTIONS", "NODE_OPTIONS")


def go_version_tuple(version: str | None) -> tuple[int, int, int] | None:
    """go1.21.6 → (1, 21, 6); devel builds and unknown → None."""
    match = _GO_VERSION.match(version or "")
    if not match:
        return None
    return (int(match.group(1)), int(match.group(2) or 0), int(match.group(3) or 0))


def parse_godebug(text: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        if sep and name:
            settings[name] = value
    return settings


def go_release_flag(version: str | None, godebug: dict[str, str]) -> str | None:
    """MADV_FREE or MADV_DONTNEED: what this Go runtime's scavenger uses (Go 1.12-1.15 default FREE, 1.16+ DONTNEED)."""
    parsed = go_version_tuple(version)
    setting = godebug.get("madvdontneed")
    if parsed is not None and parsed < (1, 12, 0):
        return "MADV_DONTNEED"  # before Go 1.12 the runtime had only MADV_DONTNEED on Linux
    if setting == "1":
        return "MADV_DONTNEED"
    if setting == "0":
        return "MADV_FREE"
    if parsed is None:
        return None
    return "MADV_FREE" if parsed < (1, 16, 0) else "MADV_DONTNEED"


def _basename(path: str) -> str:
    return os.path.basename(path.removesuffix(" (deleted)"))


def _mapped_files(mappings: tuple[Mapping, ...]) -> list[str]:
    seen: dict[str, None] = {}
    for mapping in mappings:
        if mapping.path.startswith("/"):
            seen.setdefault(mapping.path, None)
    return list(seen)


def _jdk_version(libjvm: str) -> str | None:
    # .../lib/server/libjvm.so → JAVA_HOME/release holds JAVA_VERSION="17.0.15"
    home = os.path.dirname(os.path.dirname(os.path.dirname(libjvm.removesuffix(" (deleted)"))))
    try:
        with open(os.path.join(home, "release")) as file:
            match = _JDK_VERSION.search(file.read(4096))
    except OSError:
        match = None
    if match:
        return match.group(1)
    found = re.search(r"(?:java|jdk)-?(\d+)", libjvm)
    return found.group(1) if found else None


def detect(mappings: tuple[Mapping, ...], exe_path: str | None, environ: dict[str, str] | None,
           exe_open_path: str | None = None, *, scan_strings: bool = True) -> Detected:
    """Runtime and allocator of a process whose mappings (maps or smaps) we have read.

    `exe_open_path` is where the executable can be opened (/proc/PID/exe, so a deleted or namespaced binary
    still opens); None skips reading it (no Go build info, no static allocator search). `scan_strings` False
    looks for a statically linked allocator in the symbol tables only, not in every byte of the executable.
    """
    evidence: list[str] = []
    files = _mapped_files(mappings)
    bases = [_basename(path) for path in files]
    env = environ or {}
    settings = {name: env[name] for name in ENV_SETTINGS if name in env}
    exe_base = _basename(exe_path or "")

    buildinfo = None
    static_found: frozenset[bytes] = frozenset()
    library_allocator = next(((kind, files[i]) for i, base in enumerate(bases)
                              for prefix, kind in _LIBRARIES if base.startswith(prefix)), None)
    # CPython, Node and the JVM allocate through libc unless another allocator's library is mapped (CPython
    # ≥ 3.13 even carries mimalloc unused): their executables are not searched for a static allocator
    known_runtime = bool(_PY_EXE.match(exe_base) or exe_base in ("python", "python3", "node", "java")
                         or any(base == "libjvm.so" or base.startswith(("libpython", "libnode.so")) for base in bases))
    if exe_open_path is not None:
        try:
            with open(exe_open_path, "rb") as file:
                try:
                    binary = elf.ElfFile(file)
                    buildinfo = elf.go_buildinfo(binary)
                    if buildinfo is None and library_allocator is None and not known_runtime:
                        # a statically linked allocator leaves its names in the symbols, or its messages in
                        # the strings of a stripped binary
                        names = binary.symbol_names()
                        static_found = frozenset(m for m in _STATIC_MARKERS if m in names)
                        if not static_found and scan_strings:
                            static_found = elf.scan_for(file, tuple(_STATIC_MARKERS))
                except (ValueError, OSError, IndexError, struct.error) as error:
                    evidence.append(f"{exe_path}: not readable as ELF ({error})")
        except OSError as error:
            evidence.append(f"could not open the executable ({error.strerror})")

    runtime, version = "unknown", None
    godebug: dict[str, str] = {}
    go_madvise = None
    libjvm = next((files[i] for i, base in enumerate(bases) if base == "libjvm.so"), None)
    libpython = next((m.group(1) for m in map(_PY_LIB.search, bases) if m), None)
    if buildinfo is not None:
        runtime, version = "go", buildinfo.version
        evidence.append(f"Go build info in {exe_path}: {buildinfo.version}")
        for line in buildinfo.modinfo.splitlines():
            if line.startswith("build\tDefaultGODEBUG="):
                godebug.update(parse_godebug(line.split("=", 1)[1]))
        godebug.update(parse_godebug(env.get("GODEBUG", "")))
        go_madvise = go_release_flag(version, godebug)
    elif libjvm is not None:
        runtime, version = "jvm", _jdk_version(libjvm)
        evidence.append(f"libjvm.so mapped: {libjvm}")
    elif exe_base == "node" or any(base.startswith("libnode.so") for base in bases):
        runtime = "node"
        evidence.append(f"executable {exe_base}" if exe_base == "node" else "libnode.so mapped")
    elif libpython or _PY_EXE.match(exe_base) or exe_base in ("python", "python3"):
        runtime = "cpython"
        match = _PY_EXE.match(exe_base)
        version = libpython or (match.group(1) if match else None)
        if version is None:
            ext = next((m for m in map(_PY_EXT.search, bases) if m), None)
            version = f"{ext.group(1)}.{ext.group(2)}" if ext else None
        evidence.append(f"libpython{libpython} mapped" if libpython else f"executable {exe_base}")

    if runtime == "go":
        allocator = "go"
    elif runtime == "jvm":
        allocator = "jvm"
    elif library_allocator is not None:
        allocator = library_allocator[0]
        preload = " (LD_PRELOAD)" if os.path.basename(library_allocator[1]) in env.get("LD_PRELOAD", "") else ""
        evidence.append(f"{library_allocator[1]} mapped{preload}")
    elif static_found:
        allocator = _STATIC_MARKERS[sorted(static_found)[0]]
        evidence.append(f"{allocator} linked into {exe_path} ({', '.join(sorted(m.decode() for m in static_found))})")
    elif any(base.startswith("libc.so") or base.startswith("libc-2.") for base in bases):
        allocator = "glibc"
        evidence.append("libc.so.6 mapped, no other allocator")
    else:
        allocator = "unknown"
        evidence.append("no known allocator library mapped (static binary or musl)")
    return Detected(runtime, version, allocator, tuple(evidence), godebug, go_madvise, environ is not None,
                    settings)
