"""Bounded per-workload history: one compact ring buffer of floats per figure, plus chart markers."""

from __future__ import annotations

from array import array
from collections import deque

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
    """The last `maxlen` samples as columns of 8-byte floats; `version` changes on every append (widgets skip redraws).

    A column is an `array('d')` that grows to 2 × maxlen and then drops its oldest half in one move: 8 bytes per
    value instead of a float object plus a deque slot (~32 bytes), and appends stay O(1) amortised.
    """

    def __init__(self, maxlen: int, max_markers: int = MAX_MARKERS) -> None:
        self.maxlen = max(1, maxlen)
        self._columns = {name: array("d") for name in COLUMNS}
        self._start = 0  # index of the oldest kept value in every column
        self.markers: deque[Marker] = deque(maxlen=max_markers)
        self.latest: Sample | None = None
        self.version = 0

    def append(self, sample: Sample) -> None:
        columns = self._columns.values()
        for column, value in zip(columns, _row(sample)):
            column.append(value)
        length = len(self._columns["t_s"])
        if length - self._start > self.maxlen:
            self._start += 1
            if self._start >= self.maxlen:  # compact: keep exactly the newest maxlen values
                for column in columns:
                    del column[:self._start]
                self._start = 0
        self.latest = sample
        self.version += 1

    def add_marker(self, marker: Marker) -> None:
        self.markers.append(marker)
        self.version += 1

    def __len__(self) -> int:
        return len(self._columns["t_s"]) - self._start

    def column(self, name: str, last_n: int | None = None) -> list[float]:
        """One figure's history (oldest first); the last `last_n` values when given."""
        values = self._columns[name]  # KeyError names an unknown column
        size = len(values) - self._start
        if last_n is None or last_n >= size:
            return values[self._start:].tolist()
        if last_n <= 0:
            return []
        return values[len(values) - last_n:].tolist()

    def clear(self) -> None:
        for column in self._columns.values():
            del column[:]
        self._start = 0
        self.markers.clear()
        self.latest = None
        self.version += 1
