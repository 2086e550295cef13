"""What a recorded run shows, per workload: peak RSS, RSS and LazyFree at the end, time to drop, reuse cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tui.core.model import Sample
from tui.core.units import GiB, MiB

RELEASE_MIN_BYTES = MiB


@dataclass
class _WorkloadTally:
    """Running figures for one workload; fed one sample at a time so a long run keeps no history here."""

    peak_rss_bytes: int = 0
    end_rss_bytes: int = 0
    end_lazyfree_bytes: int = 0
    end_madvise: str = ""
    n_samples: int = 0
    last_released_bytes: int | None = None
    last_sys_bytes: int = 0
    first_release_t_s: float | None = None
    peak_before_release_bytes: int = 0
    drop_t_s: float | None = None
    # released_with mode -> [bytes, seconds] summed over reuse events
    reuse: dict[str, list[float]] = field(default_factory=dict)
    scavenged_bytes: int = 0


class SummaryBuilder:
    """Feed samples and protocol messages; `result()` gives the summary.json content."""

    def __init__(self, names: tuple[str, ...] | list[str] = ()) -> None:
        self._tallies: dict[str, _WorkloadTally] = {name: _WorkloadTally() for name in names}
        self.duration_s = 0.0

    def _tally(self, name: str) -> _WorkloadTally:
        return self._tallies.setdefault(name, _WorkloadTally())

    def add_sample(self, sample: Sample) -> None:
        tally = self._tally(sample.workload)
        rss_bytes = sample.kernel.rss_bytes
        tally.n_samples += 1
        tally.peak_rss_bytes = max(tally.peak_rss_bytes, rss_bytes)
        tally.end_rss_bytes = rss_bytes
        tally.end_lazyfree_bytes = sample.kernel.lazyfree_bytes
        tally.end_madvise = sample.madvise
        self.duration_s = max(self.duration_s, sample.t_s)
        # The first release: released grows while heap sys does not. Runtimes count freshly mapped memory
        # as released too (Go does, and so do our workloads), which grows sys as well; a real scavenge
        # moves idle pages to released and leaves sys alone. Under a MiB is the background scavenger's
        # trickle, not the release the story is about.
        heap = sample.heap
        if heap is not None:
            if tally.first_release_t_s is None and tally.last_released_bytes is not None:
                released_growth = heap.heap_released_bytes - tally.last_released_bytes
                sys_growth = heap.heap_sys_bytes - tally.last_sys_bytes
                if released_growth >= RELEASE_MIN_BYTES and sys_growth <= 0:
                    tally.first_release_t_s = round(sample.t_s, 3)
                    tally.peak_before_release_bytes = tally.peak_rss_bytes
            tally.last_released_bytes = heap.heap_released_bytes
            tally.last_sys_bytes = heap.heap_sys_bytes
        if (
            tally.first_release_t_s is not None
            and tally.drop_t_s is None
            and rss_bytes < 0.5 * tally.peak_before_release_bytes
        ):
            tally.drop_t_s = sample.t_s

    def add_message(self, workload: str, message: dict[str, Any]) -> None:
        """A protocol message from `workload`; reuse and scavenge events feed the summary."""
        if message.get("type") != "event":
            return
        tally = self._tally(workload)
        try:
            if message.get("event") == "reuse":
                mode = str(message.get("released_with") or "unknown")
                entry = tally.reuse.setdefault(mode, [0.0, 0.0])
                entry[0] += float(message.get("bytes", 0))
                entry[1] += float(message.get("seconds", 0.0))
            elif message.get("event") == "scavenge":
                tally.scavenged_bytes += int(message.get("released_bytes", 0))
        except (TypeError, ValueError):
            return  # a malformed event is the workload's bug; the summary skips it rather than fail the run

    def result(self) -> dict[str, Any]:
        workloads: dict[str, Any] = {}
        for name, tally in self._tallies.items():
            seconds_to_half = None
            if tally.drop_t_s is not None and tally.first_release_t_s is not None:
                seconds_to_half = round(tally.drop_t_s - tally.first_release_t_s, 3)
            workloads[name] = {
                "samples": tally.n_samples,
                "peak_rss_bytes": tally.peak_rss_bytes,
                "end_rss_bytes": tally.end_rss_bytes,
                "end_lazyfree_bytes": tally.end_lazyfree_bytes,
                "end_madvise": tally.end_madvise,
                "first_release_t_s": tally.first_release_t_s,
                "seconds_to_half_peak_rss": seconds_to_half,
                "scavenged_bytes": tally.scavenged_bytes,
                "reuse_ms_per_gib": {
                    mode: round(seconds * 1000.0 / (n_bytes / GiB), 2)
                    for mode, (n_bytes, seconds) in sorted(tally.reuse.items())
                    if n_bytes > 0
                },
            }
        return {"duration_s": round(self.duration_s, 3), "workloads": workloads}


def _half_text(entry: dict[str, Any]) -> str:
    if entry["first_release_t_s"] is None:
        return "no release"
    if entry["seconds_to_half_peak_rss"] is None:
        return "never"
    return f"{entry['seconds_to_half_peak_rss']:.2f}s"


def format_table(summary: dict[str, Any]) -> str:
    """The printed table: one row per workload."""
    headers = ("workload", "peak RSS", "end RSS", "end LazyFree", "first release→RSS<50%", "reuse ms/GiB")
    rows = []
    for name, entry in summary["workloads"].items():
        reuse = ", ".join(f"{mode} {ms:g}" for mode, ms in entry["reuse_ms_per_gib"].items()) or "-"
        rows.append((
            name,
            f"{entry['peak_rss_bytes'] / MiB:.1f} MiB",
            f"{entry['end_rss_bytes'] / MiB:.1f} MiB",
            f"{entry['end_lazyfree_bytes'] / MiB:.1f} MiB",
            _half_text(entry),
            reuse,
        ))
    widths = [max(len(str(row[i])) for row in (headers, *rows)) for i in range(len(headers))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in (headers, *rows)]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append(f"recorded {summary['duration_s']:.1f}s")
    return "\n".join(lines)
