"""The heap map: the runtime's span states joined with the kernel's page residency, cut into a grid of cells."""

from __future__ import annotations

import bisect
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from tui.core.errors import UsageError
from tui.core.kernel.pagemap import PAGE_BYTES, PRESENT, PagemapReader, anonymous_mappings

# What a page is: the runtime's state (from the workload's spans) × the kernel's residency (our pagemap read).
# "unknown" is for processes whose runtime says nothing (kind go, attach): the kernel's side only.
RUNTIME_STATES = ("inuse", "idle", "released", "unknown")
STATES = tuple(f"{state}_{where}" for state in RUNTIME_STATES for where in ("resident", "absent"))
RECORDED_STATES = STATES[:6]  # heapmap.jsonl's `pages`: the six a runtime can tell
_STATE_INDEX = {state: i for i, state in enumerate(RUNTIME_STATES)}

MIN_READ_INTERVAL_S = 1.0  # pagemap is read at most this often per workload
KERNEL_ONLY_MAPPINGS = 4  # kind go / attach: the largest anonymous mappings (Go's heap arenas)
RECORD_GRID = (128, 48)  # the grid `record` writes (columns, rows); replay merges cells to fit smaller areas
MIN_CELL_BYTES = 64 << 10


@dataclass(frozen=True, slots=True)
class Region:
    """A range the map covers (an arena, or an anonymous mapping) and its runs as (offset, n_bytes, state)."""

    addr: int
    n_bytes: int
    runs: tuple[tuple[int, int, str], ...]


@dataclass(frozen=True, slots=True)
class SpanMap:
    """The runtime's side, from a workload's `spans` message."""

    t_s: float
    regions: tuple[Region, ...]


@dataclass(frozen=True, slots=True)
class ArenaCells:
    """One region's cells, each a tuple of page counts in STATES order."""

    addr: int
    n_bytes: int
    cells: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class HeapMap:
    """One workload's map at `t_s`: cells of `cell_bytes` each, page counts (of `page_bytes`) by state."""

    t_s: float
    workload: str
    source: str  # "spans": runtime + kernel; "kernel": the kernel's side only, over the largest anon mappings
    page_bytes: int
    cell_bytes: int
    arenas: tuple[ArenaCells, ...]
    note: str = ""
    method: str = ""  # how pagemap was read: "scan" (PAGEMAP_SCAN) or "read" (pread)
    pages: dict[str, int] = field(default_factory=dict)  # totals by state (every STATES key)

    def __post_init__(self) -> None:
        if not self.pages:
            totals = [0] * len(STATES)
            for arena in self.arenas:
                for cell in arena.cells:
                    for i, n in enumerate(cell):
                        totals[i] += n
            object.__setattr__(self, "pages", dict(zip(STATES, totals)))

    @property
    def n_cells(self) -> int:
        return sum(len(a.cells) for a in self.arenas)

    @property
    def n_bytes(self) -> int:
        return sum(a.n_bytes for a in self.arenas)

    def rescaled(self, factor: int) -> "HeapMap":
        """The same map with every `factor` neighbouring cells of an arena merged into one."""
        if factor <= 1:
            return self
        arenas = []
        for arena in self.arenas:
            cells = []
            for i in range(0, len(arena.cells), factor):
                group = arena.cells[i:i + factor]
                cells.append(tuple(sum(column) for column in zip(*group)))
            arenas.append(ArenaCells(arena.addr, arena.n_bytes, tuple(cells)))
        return HeapMap(self.t_s, self.workload, self.source, self.page_bytes, self.cell_bytes * factor,
                       tuple(arenas), self.note, self.method, self.pages)

    def fitted(self, columns: int, rows: int) -> "HeapMap":
        """Merged by the smallest power of two that fits the area (each arena starting a row when it can)."""
        factor = 1
        while rows_needed([(len(a.cells) + factor - 1) // factor for a in self.arenas], columns) > rows and \
                factor * self.cell_bytes < max(self.n_bytes, 1):
            factor *= 2
        return self.rescaled(factor)

    def to_record(self) -> dict[str, Any]:
        """One heapmap.jsonl object (t_s and workload are the caller's)."""
        return {"page_bytes": self.page_bytes, "pages": {k: self.pages[k] for k in RECORDED_STATES},
                "cell_bytes": self.cell_bytes, "source": self.source, "note": self.note, "pagemap": self.method,
                "states": list(STATES),
                "cells": [{"addr": a.addr, "bytes": a.n_bytes, "counts": [list(c) for c in a.cells]}
                          for a in self.arenas]}

    @classmethod
    def from_record(cls, obj: dict[str, Any]) -> "HeapMap":
        """The inverse of to_record (with t_s and workload); raises ValueError/KeyError/TypeError on bad input."""
        order = [STATES.index(s) for s in obj.get("states", STATES)]
        arenas = []
        for arena in obj["cells"]:
            cells = []
            for counts in arena["counts"]:
                cell = [0] * len(STATES)
                for i, n in zip(order, counts):
                    cell[i] = int(n)
                cells.append(tuple(cell))
            arenas.append(ArenaCells(int(arena["addr"]), int(arena["bytes"]), tuple(cells)))
        return cls(float(obj["t_s"]), str(obj["workload"]), str(obj.get("source", "spans")), int(obj["page_bytes"]),
                   int(obj["cell_bytes"]), tuple(arenas), str(obj.get("note", "")), str(obj.get("pagemap", "")))


def rows_needed(cells_per_arena: Sequence[int], columns: int) -> int:
    """Rows when every arena starts a new row; when there are more arenas than that allows, cells just flow."""
    columns = max(1, columns)
    return sum(-(-n // columns) for n in cells_per_arena)


def choose_cell_bytes(region_bytes: Sequence[int], columns: int, rows: int, page_bytes: int = PAGE_BYTES) -> int:
    """The smallest power-of-two cell (≥ 64 KiB) at which the regions fit columns × rows, arena per row."""
    cell = max(MIN_CELL_BYTES, page_bytes)
    total = max(sum(region_bytes), 1)
    while cell < total and rows_needed([-(-n // cell) for n in region_bytes], columns) > rows:
        cell *= 2
    return cell


def span_map_from_message(data: Mapping[str, Any], t_s: float) -> SpanMap:
    """A `spans` protocol message as a SpanMap; raises ValueError/KeyError/TypeError on a malformed one."""
    regions = []
    for arena in data["arenas"]:
        runs = tuple((int(o), int(n), str(state)) for o, n, state in arena["runs"])
        for _, _, state in runs:
            if state not in _STATE_INDEX:
                raise ValueError(f"spans: unknown state {state!r}")
        regions.append(Region(int(arena["addr"]), int(arena["bytes"]), runs))
    return SpanMap(t_s, tuple(sorted(regions, key=lambda r: r.addr)))


def build(t_s: float, workload: str, source: str, regions: Iterable[Region], codes: Sequence[bytes],
          cell_bytes: int, page_bytes: int = PAGE_BYTES, note: str = "", method: str = "") -> HeapMap:
    """Count each cell's pages by state: region runs give the runtime's state, `codes` (one per page) residency."""
    if cell_bytes % page_bytes:
        raise ValueError(f"cell_bytes {cell_bytes} is not a multiple of the page size {page_bytes}")
    arenas = []
    for region, region_codes in zip(regions, codes):
        n_pages = region.n_bytes // page_bytes
        cells = [[0] * len(STATES) for _ in range(-(-n_pages * page_bytes // cell_bytes))]
        per_cell = cell_bytes // page_bytes
        for offset, n_bytes, state in region.runs:
            first, last = offset // page_bytes, min(n_pages, (offset + n_bytes) // page_bytes)
            base = 2 * _STATE_INDEX[state]
            page = first
            while page < last:  # one step per cell the run touches
                stop = min(last, (page // per_cell + 1) * per_cell)
                present = region_codes.count(PRESENT, page, stop)
                cell = cells[page // per_cell]
                cell[base] += present
                cell[base + 1] += stop - page - present  # swapped counts as absent: not in RAM
                page = stop
        arenas.append(ArenaCells(region.addr, region.n_bytes, tuple(tuple(c) for c in cells)))
    return HeapMap(t_s, workload, source, page_bytes, cell_bytes, tuple(arenas), note, method)


class HeapMapReader:
    """The dashboard's own pagemap reads behind a heap map: kept fds per pid, at most one read a second each."""

    def __init__(self, min_interval_s: float = MIN_READ_INTERVAL_S, prefer: str = "scan",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval_s = min_interval_s
        self.prefer = prefer
        self.clock = clock
        self._readers: dict[str, PagemapReader] = {}
        self._last: dict[str, tuple[float, tuple, HeapMap | None]] = {}
        self.reads = 0  # pagemap reads done (tests and the bench count them)

    @property
    def method(self) -> str | None:
        """"scan" or "read" (of any reader open), for the legend."""
        return next((r.method for r in self._readers.values()), None)

    def read(self, workload: str, pid: int | None, t_s: float, spans: SpanMap | None,
             grid: tuple[int, int] = RECORD_GRID, force: bool = False) -> HeapMap | None:
        """The map of `workload` (process `pid`): over its spans when it reports them, else over its largest
        anonymous mappings (kernel side only). Within min_interval_s of the last read the last map is returned
        (unless `force`). None when there is nothing to read (no pid yet, process gone, no spans yet)."""
        now = self.clock()
        key = (pid, spans, grid)
        last = self._last.get(workload)
        if last is not None and not force and now - last[0] < self.min_interval_s and last[1][0] == pid:
            return last[2]
        heap_map = self._read(workload, pid, t_s, spans, grid)
        self._last[workload] = (now, key, heap_map)
        return heap_map

    def _reader(self, workload: str, pid: int) -> PagemapReader:
        reader = self._readers.get(workload)
        if reader is None or reader.pid != pid:
            if reader is not None:
                reader.close()
            reader = self._readers[workload] = PagemapReader(pid, prefer=self.prefer)
        return reader

    def _read(self, workload: str, pid: int | None, t_s: float, spans: SpanMap | None,
              grid: tuple[int, int]) -> HeapMap | None:
        if pid is None:
            return None
        try:
            if spans is not None:
                regions, source = spans.regions, "spans"
                note = ""
            else:
                ranges = anonymous_mappings(pid, KERNEL_ONLY_MAPPINGS)
                regions = tuple(Region(start, end - start, ((0, end - start, "unknown"),)) for start, end in ranges)
                source = "kernel"
                note = (f"kernel side only: the {len(regions)} largest anonymous mappings "
                        "(the runtime does not report its spans)")
            reader = self._reader(workload, pid)
            codes = [reader.read(r.addr, r.addr + r.n_bytes) for r in regions]
            self.reads += 1
        except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
            self.forget(workload)
            return None
        cell_bytes = choose_cell_bytes([r.n_bytes for r in regions], *grid)
        return build(t_s, workload, source, regions, codes, cell_bytes, note=note, method=reader.method)

    def forget(self, workload: str) -> None:
        reader = self._readers.pop(workload, None)
        if reader is not None:
            reader.close()
        self._last.pop(workload, None)

    def close(self) -> None:
        for workload in list(self._readers):
            self.forget(workload)


class HeapMapLog:
    """A recorded heapmap.jsonl, indexed by workload and time; a line is parsed only when it is shown."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._times: dict[str, list[float]] = {}
        self._offsets: dict[str, list[int]] = {}
        self._cached: tuple[int, HeapMap] | None = None
        try:
            file = open(path, "rb")
        except FileNotFoundError:
            return  # a recording made before heap maps: replay shows none
        with file:
            offset, number = 0, 0
            for line in file:
                number += 1
                if line.strip():
                    t_s, workload = self._head(line, number)
                    self._times.setdefault(workload, []).append(t_s)
                    self._offsets.setdefault(workload, []).append(offset)
                offset += len(line)
        for workload, times in self._times.items():  # written in time order; sort defensively, stable
            order = sorted(range(len(times)), key=times.__getitem__)
            self._times[workload] = [times[i] for i in order]
            self._offsets[workload] = [self._offsets[workload][i] for i in order]

    def _head(self, line: bytes, number: int) -> tuple[float, str]:
        try:
            obj = json.loads(line)
            return float(obj["t_s"]), str(obj["workload"])
        except (ValueError, KeyError, TypeError) as error:
            raise UsageError(f"{self.path}:{number}: expected a JSON object with t_s and workload ({error})") from None

    @property
    def workloads(self) -> tuple[str, ...]:
        return tuple(self._times)

    def at(self, workload: str, t_s: float) -> HeapMap | None:
        """The newest map of `workload` recorded at or before t_s."""
        times = self._times.get(workload)
        if not times:
            return None
        i = bisect.bisect_right(times, t_s) - 1
        if i < 0:
            return None
        offset = self._offsets[workload][i]
        if self._cached is not None and self._cached[0] == offset:
            return self._cached[1]
        with open(self.path, "rb") as file:
            file.seek(offset)
            line = file.readline()
        try:
            heap_map = HeapMap.from_record(json.loads(line))
        except (ValueError, KeyError, TypeError) as error:
            raise UsageError(f"{self.path}: the map of {workload} at {t_s:.1f} s: {error}") from None
        self._cached = (offset, heap_map)
        return heap_map
