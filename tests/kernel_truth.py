"""The tests' own reading of /proc/PID/smaps_rollup: an oracle independent of the product's sampler."""

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
