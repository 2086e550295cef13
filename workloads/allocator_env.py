"""Where each native allocator's library is, which madvise modes it can release with, and the environment
(LD_PRELOAD and its own settings: MALLOC_CONF, MIMALLOC_*, GLIBC_TUNABLES, TCMALLOC_*) a workload starts with.

Standard library only: the dashboard (config checks, spawning, `check`) and a workload run by hand both use it.
"""

from __future__ import annotations

import glob
import os
import re
import sysconfig
from dataclasses import dataclass
from typing import Any, Mapping

from workloads.allocators import NATIVE_KINDS

LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib",
                "/lib/x86_64-linux-gnu")
# kind -> (file name patterns, newest first; what brings it)
LIBRARIES: dict[str, tuple[tuple[str, ...], str]] = {
    "jemalloc": (("libjemalloc.so.2",), "apt-get install libjemalloc2"),
    "mimalloc": (("libmimalloc.so.3*", "libmimalloc.so.2*"), "apt-get install libmimalloc2.0 (or pip install "
                 "'madvise-lab[allocators]' for mimalloc 3)"),
    "tcmalloc": (("libtcmalloc_minimal.so.4", "libtcmalloc.so.4"), "apt-get install libtcmalloc-minimal4"),
}
# The allocator knobs (config keys) each kind takes, besides the shared pattern keys.
KNOBS: dict[str, tuple[str, ...]] = {
    "glibc": ("trim_threshold", "arena_max"),
    "jemalloc": ("dirty_decay", "muzzy_decay", "background_thread"),
    "mimalloc": ("purge_delay",),
    "tcmalloc": ("release_rate",),
}
# MADV_FREE needs a muzzy stage (Debian's jemalloc 5.3 defaults muzzy_decay_ms to 0). Never purging muzzy pages by
# time leaves them to the kernel, as Go 1.12 did; a timed muzzy decay in 5.3's background thread also purges a
# varying part of them at once (measured: 10 s kept 12-90 % of 141 MiB after 2.5 s, 60 s kept less), -1 keeps all.
JEMALLOC_MUZZY_DECAY_S = -1.0


class AllocatorUnavailable(Exception):
    """The allocator's library is not installed here; the message says what to install."""


@dataclass(frozen=True)
class Library:
    """A found allocator library: its path and the version its file name tells (e.g. 2.0 for libmimalloc.so.2.0)."""

    kind: str
    path: str
    file_version: str


def _search_dirs() -> list[str]:
    dirs = list(LIBRARY_DIRS)
    # PyPI's cmeel-mimalloc (mimalloc 3) installs into site-packages/cmeel.prefix/lib
    import sys

    for base in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *sys.path):
        if base:
            dirs.append(os.path.join(base, "cmeel.prefix", "lib"))
    return list(dict.fromkeys(dirs))


def find_library(kind: str) -> Library | None:
    """The library for `kind` (None for glibc, which is always there, and when it is not installed)."""
    if kind not in LIBRARIES:
        return None
    override = os.environ.get(f"MADVISE_LAB_{kind.upper()}")  # tests point it at a missing file to hide a library
    if override is not None:
        return Library(kind, override, _file_version(override)) if os.path.isfile(override) else None
    patterns, _ = LIBRARIES[kind]
    for pattern in patterns:
        for directory in _search_dirs():
            for path in sorted(glob.glob(os.path.join(directory, pattern))):
                if os.path.isfile(path):
                    return Library(kind, path, _file_version(path))
    return None


def _file_version(path: str) -> str:
    """'2.0' from libmimalloc.so.2.0 (through symlinks), '' when the name carries no version."""
    real = os.path.basename(os.path.realpath(path))
    match = re.search(r"\.so\.([0-9]+(?:\.[0-9]+)?)", real)
    return match.group(1) if match else ""


def how_to_get(kind: str) -> str:
    return f"{kind} not installed: {LIBRARIES[kind][1]}"


def _major(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0


def modes(kind: str, library: Library | None = None) -> tuple[str, ...]:
    """The madvise modes `kind` can release with here."""
    if kind == "jemalloc":
        return ("MADV_FREE", "MADV_DONTNEED")
    if kind == "mimalloc":
        library = library or find_library("mimalloc")
        if library is not None and _major(library.file_version) >= 3:
            return ("MADV_FREE", "MADV_DONTNEED")
    return ("MADV_DONTNEED",)


def refusal(kind: str, mode: str) -> str | None:
    """Why `kind` cannot release with `mode` (one line), or None when it can."""
    if mode in modes(kind):
        return None
    if kind == "mimalloc":
        library = find_library("mimalloc")
        where = f"mimalloc {library.file_version} ({library.path})" if library else "mimalloc"
        return (f"{where} releases with MADV_DONTNEED only; {mode} needs mimalloc >= 3 with purge_decommits off "
                "(pip install 'madvise-lab[allocators]')") if mode == "MADV_FREE" else \
            f"mimalloc releases with MADV_DONTNEED (or MADV_FREE from version 3), not {mode}"
    if kind == "jemalloc":
        return f"jemalloc releases with MADV_FREE (muzzy decay) or MADV_DONTNEED, not {mode}"
    how = {"glibc": "free trims the heap top, malloc_trim uses MADV_DONTNEED",
           "tcmalloc": "its page heap releases with MADV_DONTNEED"}[kind]
    return f"{kind} releases with MADV_DONTNEED only ({how}), not {mode}"


def _ms(seconds: float) -> str:
    return "-1" if seconds < 0 else str(int(round(seconds * 1000)))


def environment(kind: str, options: Mapping[str, Any], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment a `kind` workload starts with; raises AllocatorUnavailable or ValueError (bad mode)."""
    if kind not in NATIVE_KINDS:
        raise ValueError(f"not a native allocator kind: {kind!r}")
    env = dict(os.environ if base is None else base)
    for name in ("LD_PRELOAD", "MALLOC_CONF", "GLIBC_TUNABLES", "TCMALLOC_RELEASE_RATE"):
        env.pop(name, None)  # the dashboard's own settings must not leak into another allocator's workload
    for name in [n for n in env if n.startswith("MIMALLOC_")]:
        env.pop(name)
    mode = options.get("madvise", "MADV_DONTNEED")
    reason = refusal(kind, mode)
    if reason:
        raise ValueError(reason)
    library = find_library(kind)
    if kind != "glibc":
        if library is None:
            raise AllocatorUnavailable(how_to_get(kind))
        env["LD_PRELOAD"] = library.path
    if kind == "jemalloc":
        conf = []
        if options.get("dirty_decay") is not None:
            conf.append(f"dirty_decay_ms:{_ms(options['dirty_decay'])}")
        muzzy_s = options.get("muzzy_decay")
        # MADV_FREE is jemalloc's dirty -> muzzy step; muzzy_decay_ms:0 skips it, so dirty pages are purged
        # with MADV_DONTNEED straight away.
        conf.append(f"muzzy_decay_ms:{_ms(JEMALLOC_MUZZY_DECAY_S if muzzy_s is None else muzzy_s)}"
                    if mode == "MADV_FREE" else "muzzy_decay_ms:0")
        if options.get("background_thread") is not None:
            conf.append(f"background_thread:{'true' if options['background_thread'] else 'false'}")
        env["MALLOC_CONF"] = ",".join(conf)
    elif kind == "mimalloc":
        delay = options.get("purge_delay")
        if library is not None and _major(library.file_version) >= 3:
            env["MIMALLOC_PURGE_DECOMMITS"] = "0" if mode == "MADV_FREE" else "1"
            if delay is not None:
                env["MIMALLOC_PURGE_DELAY"] = _ms(delay)
        elif delay is not None:  # mimalloc 2.0: page reset and segment decommit delays
            env["MIMALLOC_RESET_DELAY"] = _ms(delay)
            env["MIMALLOC_SEGMENT_DECOMMIT_DELAY"] = _ms(delay)
    elif kind == "glibc":
        tunables = []
        if options.get("trim_threshold") is not None:
            tunables.append(f"glibc.malloc.trim_threshold={int(options['trim_threshold'])}")
        if options.get("arena_max") is not None:
            tunables.append(f"glibc.malloc.arena_max={int(options['arena_max'])}")
        if tunables:
            env["GLIBC_TUNABLES"] = ":".join(tunables)
    elif kind == "tcmalloc" and options.get("release_rate") is not None:
        env["TCMALLOC_RELEASE_RATE"] = str(options["release_rate"])
    return env


def setting_text(kind: str, env: Mapping[str, str]) -> str:
    """The allocator settings in `env`, as a user would write them (for the panel and the first trace line)."""
    names = {"jemalloc": ("MALLOC_CONF",), "glibc": ("GLIBC_TUNABLES",), "tcmalloc": ("TCMALLOC_RELEASE_RATE",),
             "mimalloc": tuple(sorted(n for n in env if n.startswith("MIMALLOC_")))}[kind]
    return " ".join(f"{n}={env[n]}" for n in names if n in env) or "defaults"
