"""Bounded per-workload history: one ring buffer per figure, plus chart markers."""

from __future__ import annotations

from collections import deque
from itertools import islice

from tui.core.model import Marker, Sample

COLUMNS = ("t_s", "rss_bytes", "anon_bytes", "lazyfree_bytes", "swap_bytes", "footprint_bytes",
           "heap_inuse_bytes", "heap_idle_bytes", "heap_released_bytes", "heap_sys_bytes")
MAX_MARKERS = 500


def _row(sample: Sample) -> tuple[float, ...]:
    kernel, heap = sample.kernel, sample.heap
    heap_row = ((heap.heap_inuse_bytes, heap.heap_idle_bytes, heap.heap_released_bytes, heap.heap_sys_bytes)
                if heap is not None else (0, 0, 0, 0))
    return (sample.t_s, kernel.rss_bytes, kernel.anon_bytes, kernel.lazyfree_bytes, kernel.swap_bytes,
            kernel.footprint_bytes, *heap_row)


class Series:
    """Ring buffers of the last `maxlen` samples; `version` changes on every append (widgets skip redraws)."""

    def __init__(self, maxlen: int, max_markers: int = MAX_MARKERS) -> None:
        self.maxlen = maxlen
        self._columns = {name: deque(maxlen=maxlen) for name in COLUMNS}
        self.markers: deque[Marker] = deque(maxlen=max_markers)
        self.latest: Sample | None = None
        self.version = 0

    def append(self, sample: Sample) -> None:
        for column, value in zip(self._columns.values(), _row(sample)):
            column.append(float(value))
        self.latest = sample
        self.version += 1

    def add_marker(self, marker: Marker) -> None:
        self.markers.append(marker)
        self.version += 1

    def __len__(self) -> int:
        return len(self._columns["t_s"])

    def column(self, name: str, last_n: int | None = None) -> list[float]:
        """One figure's history (oldest first); the last `last_n` values when given."""
        values = self._columns[name]  # KeyError names an unknown column
        if last_n is None or last_n >= len(values):
            return list(values)
        if last_n <= 0:
            return []
        return list(islice(values, len(values) - last_n, None))

    def clear(self) -> None:
        for column in self._columns.values():
            column.clear()
        self.markers.clear()
        self.latest = None
        self.version += 1
