"""The tests' own reading of /proc/PID/smaps_rollup, smaps and pagemap: an oracle independent of the product's readers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rollup:
    """Every `Name: N kB` field of smaps_rollup, in bytes; the ones we compare as attributes."""

    fields: dict[str, int]

    def __getitem__(self, name: str) -> int:
        return self.fields[name]

    def get(self, name: str, default: int = 0) -> int:
        return self.fields.get(name, default)

    @property
    def rss_bytes(self) -> int:
        return self.fields["Rss"]

    @property
    def anon_bytes(self) -> int:
        return self.fields["Anonymous"]

    @property
    def lazyfree_bytes(self) -> int:
        return self.fields["LazyFree"]

    @property
    def swap_bytes(self) -> int:
        return self.fields["Swap"]

    @property
    def anon_huge_bytes(self) -> int:
        return self.fields.get("AnonHugePages", 0)

    @property
    def footprint_bytes(self) -> int:
        return self.rss_bytes - self.lazyfree_bytes


def read_smaps_rollup(pid: int) -> Rollup | None:
    """The kernel's figures for `pid`, or None when the process is gone."""
    fields: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    fields[parts[0].rstrip(":")] = int(parts[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return Rollup(fields) if fields else None


def read_pagemap_present(pid: int, start: int, end: int) -> tuple[int, int, int]:
    """(present, swapped, absent) pages in [start, end) from /proc/PID/pagemap, one entry at a time (bits 63, 62)."""
    import os
    import struct

    page = os.sysconf("SC_PAGE_SIZE")
    first, last = start // page, -(-end // page)
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        pagemap.seek(first * 8)
        data = pagemap.read((last - first) * 8)
    present = swapped = 0
    for (entry,) in struct.iter_unpack("<Q", data):
        if entry >> 63 & 1:
            present += 1
        elif entry >> 62 & 1:
            swapped += 1
    return present, swapped, (last - first) - present - swapped


@dataclass(frozen=True)
class SmapsEntry:
    """One mapping of /proc/PID/smaps as the tests read it: the header line's parts and every `N kB` field."""

    start: int
    end: int
    perms: str
    path: str
    fields: dict[str, int]

    def get(self, name: str, default: int = 0) -> int:
        return self.fields.get(name, default)


def read_smaps(pid: int) -> list[SmapsEntry] | None:
    """Every mapping of /proc/PID/smaps, or None when the process is gone (a reader of its own, not the product's)."""
    entries: list[SmapsEntry] = []
    try:
        with open(f"/proc/{pid}/smaps") as smaps:
            text = smaps.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    current: SmapsEntry | None = None
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if "-" in parts[0] and not parts[0].endswith(":"):
            low, high = parts[0].split("-")
            path = line.split(None, 5)[5] if len(parts) > 5 else ""
            current = SmapsEntry(int(low, 16), int(high, 16), parts[1], path, {})
            entries.append(current)
        elif current is not None and len(parts) == 3 and parts[2] == "kB":
            current.fields[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return entries


def smaps_total(entries: list[SmapsEntry], name: str) -> int:
    """A field summed over every mapping (what smaps_rollup would say at that instant)."""
    return sum(entry.get(name) for entry in entries)
