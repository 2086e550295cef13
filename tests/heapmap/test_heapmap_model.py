"""The heap map model: cells from spans × residency, scale, merging, heapmap.jsonl records; a real mapping for reads."""

from __future__ import annotations

import ctypes
import json
import mmap
import os

import pytest

from kernel_truth import read_pagemap_present
from tui.core.heapmap import (RECORDED_STATES, STATES, HeapMap, HeapMapReader, Region, SpanMap, build,
                              choose_cell_bytes, rows_needed, span_map_from_message)
from tui.core.kernel.pagemap import ABSENT, PRESENT

PAGE = 4096
KiB, MiB = 1 << 10, 1 << 20


def idx(state: str) -> int:
    return STATES.index(state)


def test_build_counts_pages_by_state_and_residency_per_cell():
    # one 64 KiB region of 16 pages, cells of 16 KiB (4 pages): runs split cells, residency per page
    region = Region(0x10000, 64 * KiB, ((0, 24 * KiB, "inuse"), (24 * KiB, 8 * KiB, "idle"),
                                        (32 * KiB, 32 * KiB, "released")))
    codes = bytes([PRESENT] * 6 + [ABSENT] * 2 + [PRESENT] * 4 + [ABSENT] * 4)
    heap_map = build(1.0, "w", "spans", [region], [codes], cell_bytes=16 * KiB, page_bytes=PAGE)
    cells = heap_map.arenas[0].cells
    assert len(cells) == 4
    assert cells[0][idx("inuse_resident")] == 4
    assert (cells[1][idx("inuse_resident")], cells[1][idx("idle_absent")]) == (2, 2)
    assert cells[2][idx("released_resident")] == 4
    assert cells[3][idx("released_absent")] == 4
    assert heap_map.pages["released_resident"] == 4 and heap_map.pages["inuse_resident"] == 6
    assert sum(heap_map.pages.values()) == 16


def test_rescaled_and_fitted_keep_the_totals():
    region = Region(0, 8 * MiB, ((0, 3 * MiB, "inuse"), (3 * MiB, 5 * MiB, "released")))
    codes = bytes([PRESENT]) * (4 * MiB // PAGE) + bytes([ABSENT]) * (4 * MiB // PAGE)
    heap_map = build(0.0, "w", "spans", [region, Region(16 * MiB, 8 * MiB, region.runs)], [codes, codes],
                     cell_bytes=64 * KiB, page_bytes=PAGE)
    assert heap_map.n_cells == 256
    merged = heap_map.rescaled(4)
    assert merged.cell_bytes == 256 * KiB and merged.n_cells == 64 and merged.pages == heap_map.pages
    fitted = heap_map.fitted(columns=16, rows=4)  # 2 arenas of 8 MiB, each starting a row: 2 rows of 16 cells
    assert rows_needed([len(a.cells) for a in fitted.arenas], 16) <= 4
    assert fitted.cell_bytes == 256 * KiB and heap_map.fitted(columns=16, rows=3).cell_bytes == 512 * KiB
    assert [sum(map(sum, a.cells)) for a in fitted.arenas] == [2048, 2048]


def test_choose_cell_bytes_fits_arena_per_row():
    assert choose_cell_bytes([64 * MiB, 64 * MiB], 128, 48) == 64 * KiB  # 1024 cells = 8 rows each
    assert choose_cell_bytes([256 * MiB, 256 * MiB], 128, 48) == 128 * KiB
    assert choose_cell_bytes([64 * MiB] * 8, 64, 8) == 1 * MiB  # "1 cell = 1 MiB": an arena a row
    assert rows_needed([10, 1, 0], 4) == 4


def test_record_round_trip():
    region = Region(0x7F0000000000, 1 * MiB, ((0, 512 * KiB, "inuse"), (512 * KiB, 512 * KiB, "released")))
    codes = bytes([PRESENT]) * 200 + bytes([ABSENT]) * 56
    heap_map = build(3.5, "free", "spans", [region], [codes], cell_bytes=64 * KiB, page_bytes=PAGE)
    record = {"t_s": 3.5, "workload": "free", **heap_map.to_record()}
    assert set(record["pages"]) == set(RECORDED_STATES)
    back = HeapMap.from_record(json.loads(json.dumps(record)))
    assert back == heap_map


def test_span_map_from_message_rejects_unknown_states():
    good = {"type": "spans", "arenas": [{"addr": 4096, "bytes": 8192, "runs": [[0, 8192, "idle"]]}]}
    assert span_map_from_message(good, 1.0).regions[0].runs == ((0, 8192, "idle"),)
    with pytest.raises(ValueError):
        span_map_from_message({"arenas": [{"addr": 0, "bytes": 8192, "runs": [[0, 8192, "weird"]]}]}, 0)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reader_over_a_real_mapping_matches_own_read_and_is_throttled():
    n_bytes = 8 * MiB
    m = mmap.mmap(-1, n_bytes, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        m.madvise(mmap.MADV_NOHUGEPAGE)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
        ctypes.memset(addr, 1, 6 * MiB)
        m.madvise(mmap.MADV_FREE, 2 * MiB, 2 * MiB)
        m.madvise(mmap.MADV_DONTNEED, 4 * MiB, 2 * MiB)
        spans = SpanMap(0.0, (Region(addr, n_bytes, ((0, 2 * MiB, "inuse"), (2 * MiB, 4 * MiB, "released"),
                                                     (6 * MiB, 2 * MiB, "released"))),))
        clock = Clock()
        reader = HeapMapReader(clock=clock)
        heap_map = reader.read("w", os.getpid(), 1.0, spans)
        truth_released = read_pagemap_present(os.getpid(), addr + 2 * MiB, addr + n_bytes)
        assert heap_map.pages["inuse_resident"] * PAGE == 2 * MiB
        assert heap_map.pages["released_resident"] == truth_released[0] == 2 * MiB // PAGE
        assert heap_map.pages["released_absent"] * PAGE == 4 * MiB
        ctypes.memset(addr + 4 * MiB, 1, 1 * MiB)
        assert reader.read("w", os.getpid(), 1.5, spans) is heap_map and reader.reads == 1  # < 1 s: no read
        clock.now += 1.0
        again = reader.read("w", os.getpid(), 2.0, spans)
        assert reader.reads == 2 and again.pages["released_resident"] * PAGE == 3 * MiB
        # without spans: the kernel's side only, over the largest anonymous mappings
        kernel_only = reader.read("w", os.getpid(), 3.0, None, force=True)
        assert kernel_only.source == "kernel" and "largest anonymous mappings" in kernel_only.note
        assert kernel_only.pages["unknown_resident"] > 0 and kernel_only.pages["inuse_resident"] == 0
        reader.close()
    finally:
        m.close()
