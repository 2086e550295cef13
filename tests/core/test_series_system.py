"""Series ring buffers and system facts (pure, plus a read of this machine)."""

from __future__ import annotations

import os

import pytest

from tui.core.model import HeapStats, KernelMemory, Marker, Sample
from tui.core.series import COLUMNS, Series
from tui.core.kernel.system import parse_thp_mode, read_meminfo, read_system_info


def sample(i: int, heap: bool = True) -> Sample:
    kernel = KernelMemory(rss_bytes=1000 + i, anon_bytes=900 + i, lazyfree_bytes=100, swap_bytes=0)
    stats = HeapStats(10 * i, 20, 30, 60, i, "MADV_FREE") if heap else None
    return Sample(i * 0.1, "w", 42, "MADV_FREE", kernel, stats)


def test_series_is_bounded_and_versioned():
    series = Series(maxlen=5)
    assert series.latest is None and series.column("rss_bytes") == []
    for i in range(8):
        before = series.version
        series.append(sample(i))
        assert series.version == before + 1
    assert len(series) == 5
    assert series.column("rss_bytes") == [1003.0, 1004.0, 1005.0, 1006.0, 1007.0]
    assert series.column("footprint_bytes", 2) == [906.0, 907.0]
    assert series.column("heap_inuse_bytes", 0) == []
    assert series.column("t_s", 100) == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7])
    assert series.latest.kernel.rss_bytes == 1007
    assert set(COLUMNS) >= {"lazyfree_bytes", "heap_released_bytes", "heap_sys_bytes", "swap_bytes"}
    with pytest.raises(KeyError):
        series.column("nope")


def test_series_without_heap_and_markers_bounded():
    series = Series(maxlen=3, max_markers=2)
    series.append(sample(1, heap=False))
    assert series.column("heap_inuse_bytes") == [0.0]
    for i in range(4):
        series.add_marker(Marker(i, "w", "gc", f"gc {i}"))
    assert [m.label for m in series.markers] == ["gc 2", "gc 3"]


def test_system_info_of_this_machine():
    info = read_system_info()
    assert info.kernel_release == os.uname().release
    assert info.page_size == os.sysconf("SC_PAGE_SIZE")
    try:  # the bracketed word of the kernel's own file, read here
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as file:
            expected = file.read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        expected = "unknown"
    assert info.thp_mode == expected
    assert info.mem_available_bytes > 0
    assert read_meminfo()["MemTotal"] >= info.mem_available_bytes
    assert parse_thp_mode("always [madvise] never\n") == "madvise"
    assert parse_thp_mode("garbage") == "unknown"
