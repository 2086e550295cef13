"""Where the RSS is: every smaps mapping put in exactly one category, so the categories sum to RSS."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from tui.core.kernel.smaps import Mapping
from tui.core.units import MiB

HEAP = "heap (brk)"
ANON_SMALL = "anonymous <1 MiB"
ANON_MEDIUM = "anonymous 1-64 MiB"
ANON_LARGE = "anonymous >=64 MiB"
STACKS = "thread stacks"
CODE = "file-backed code"
FILES = "other file mappings"
SHMEM = "shared memory"
KERNEL = "kernel ([vdso], [vvar])"
# the order in which categories are listed; named anonymous mappings ([anon:NAME]) come after ANON_LARGE
ORDER = (HEAP, ANON_SMALL, ANON_MEDIUM, ANON_LARGE, STACKS, CODE, FILES, SHMEM, KERNEL)
ANON_CATEGORIES = (HEAP, ANON_SMALL, ANON_MEDIUM, ANON_LARGE)
# glibc puts a PROT_NONE guard page (or a few) right below each thread stack it maps
STACK_GUARD_MAX_BYTES = 64 << 10
STACK_MAX_BYTES = 64 * MiB
_SHMEM_PREFIXES = ("/dev/shm/", "/SYSV", "/memfd:", "/dev/zero", "[anon_shmem")


@dataclass(frozen=True, slots=True)
class Category:
    """One category's figures (bytes) and how many mappings it has."""

    name: str
    rss_bytes: int
    anon_bytes: int
    lazyfree_bytes: int
    anon_huge_bytes: int
    swap_bytes: int
    mappings: int

    def to_json(self) -> dict[str, int]:
        return {"rss_bytes": self.rss_bytes, "anon_bytes": self.anon_bytes, "lazyfree_bytes": self.lazyfree_bytes,
                "anon_huge_bytes": self.anon_huge_bytes, "swap_bytes": self.swap_bytes, "mappings": self.mappings}


def _anon_size_class(length_bytes: int) -> str:
    if length_bytes < MiB:
        return ANON_SMALL
    if length_bytes < 64 * MiB:
        return ANON_MEDIUM
    return ANON_LARGE


def _is_shmem(mapping: Mapping) -> bool:
    path = mapping.path
    return path.startswith(_SHMEM_PREFIXES) or (mapping.shared and mapping.inode != 0 and not path)


def stack_indices(mappings: tuple[Mapping, ...], stack_pointers: tuple[int, ...]) -> frozenset[int]:
    """Indices of the mappings that are thread stacks: [stack], those holding a thread's stack pointer, and
    anonymous rw mappings sitting right above a small PROT_NONE guard (how glibc maps a thread's stack)."""
    found: set[int] = set()
    starts = [m.start for m in mappings]
    for sp in stack_pointers:
        i = bisect.bisect_right(starts, sp) - 1
        if i >= 0 and mappings[i].start <= sp < mappings[i].end and mappings[i].anonymous \
                and not mappings[i].path.startswith("[anon:"):
            found.add(i)
    for i, mapping in enumerate(mappings):
        if mapping.path.startswith("[stack"):
            found.add(i)
        elif i > 0 and mapping.anonymous and not mapping.path and mapping.perms.startswith("rw") \
                and mapping.length_bytes <= STACK_MAX_BYTES:
            below = mappings[i - 1]
            if below.end == mapping.start and below.perms.startswith("---") and below.anonymous \
                    and not below.path and below.length_bytes <= STACK_GUARD_MAX_BYTES:
                found.add(i)
    return frozenset(found)


def classify(mapping: Mapping, is_stack: bool) -> str:
    """The one category a mapping's resident pages count in."""
    path = mapping.path
    if is_stack:
        return STACKS
    if path == "[heap]":
        return HEAP
    if _is_shmem(mapping):
        return SHMEM
    if path.startswith("[anon:"):
        return path  # named anonymous memory: one category per name (e.g. Go ≥ 1.25's "[anon: Go: heap]")
    if path.startswith("["):
        return KERNEL  # [vdso], [vvar], [vsyscall], [uprobes]
    if mapping.anonymous:
        return _anon_size_class(mapping.length_bytes)
    return CODE if mapping.executable else FILES


def categorize(mappings: tuple[Mapping, ...], stack_pointers: tuple[int, ...] = ()
               ) -> tuple[tuple[Category, ...], tuple[str, ...]]:
    """Categories with resident memory (in ORDER, named ones after the anonymous size classes), and the category
    of each mapping (same order as `mappings`)."""
    stacks = stack_indices(mappings, stack_pointers)
    totals: dict[str, list[int]] = {}
    names: list[str] = []
    for i, mapping in enumerate(mappings):
        name = classify(mapping, i in stacks)
        names.append(name)
        figures = totals.setdefault(name, [0, 0, 0, 0, 0, 0])
        figures[0] += mapping.rss_bytes
        figures[1] += mapping.anon_bytes
        figures[2] += mapping.lazyfree_bytes
        figures[3] += mapping.anon_huge_bytes
        figures[4] += mapping.swap_bytes
        figures[5] += 1

    def rank(name: str) -> tuple[int, int]:
        if name in ORDER:
            position = ORDER.index(name)
            return (position if position <= ORDER.index(ANON_LARGE) else position + 1, 0)
        return (ORDER.index(ANON_LARGE) + 1, -totals[name][0])  # named anonymous, biggest first

    categories = tuple(Category(name, *figures) for name, figures in sorted(totals.items(), key=lambda kv: rank(kv[0]))
                       if figures[0] or figures[4])
    return categories, tuple(names)
