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
