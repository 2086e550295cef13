"""Summary figures and the SVG chart from hand-built samples (pure: no processes)."""

import xml.etree.ElementTree as ET

import pytest

from tui.core.errors import UsageError
from tui.core.model import HeapStats, KernelMemory, Sample
from tui.core.record.format import CSV_COLUMNS, sample_row
from tui.core.record.summary import SummaryBuilder, format_table
from tui.core.record.svgchart import check_plot_path, render_svg

MiB = 1 << 20


def _sample(t_s, rss_mib, released_mib, lazyfree_mib=0, name="free", heap=True):
    stats = HeapStats(0, 0, released_mib * MiB, 512 * MiB, 1, "MADV_FREE") if heap else None
    kernel = KernelMemory(rss_mib * MiB, rss_mib * MiB, lazyfree_mib * MiB, 0)
    return Sample(t_s, name, 42, "MADV_FREE", kernel, stats)


def test_time_from_first_release_to_half_peak_rss():
    builder = SummaryBuilder(["free"])
    for t_s, rss, released in [(0.0, 10, 0), (1.0, 500, 0), (2.0, 500, 0), (3.0, 480, 256), (4.5, 200, 512)]:
        builder.add_sample(_sample(t_s, rss, released))
    entry = builder.result()["workloads"]["free"]
    assert entry["peak_rss_bytes"] == 500 * MiB
    assert entry["first_release_t_s"] == 3.0
    assert entry["seconds_to_half_peak_rss"] == 1.5
    assert entry["end_rss_bytes"] == 200 * MiB


def test_freshly_mapped_memory_is_not_a_release():
    # Runtimes count a new mapping as released until it is used (Go starts with a few MiB so): sys grows
    # with it. Only released growing at constant sys is the scavenger giving memory back.
    builder = SummaryBuilder(["go"])
    for t_s, rss, released, sys_mib in [(0.0, 4, 3, 8), (1.0, 136, 3, 140), (2.0, 264, 4, 272), (5.0, 264, 264, 272),
                                        (6.0, 5, 264, 272)]:
        stats = HeapStats(0, 0, released * MiB, sys_mib * MiB, 1, "MADV_DONTNEED")
        builder.add_sample(Sample(t_s, "go", 7, "MADV_DONTNEED", KernelMemory(rss * MiB, rss * MiB, 0, 0), stats))
    entry = builder.result()["workloads"]["go"]
    assert entry["first_release_t_s"] == 5.0
    assert entry["seconds_to_half_peak_rss"] == 1.0


def test_rss_that_stays_high_is_never():
    builder = SummaryBuilder(["free"])
    for t_s, rss, released, lazy in [(0.0, 500, 0, 0), (1.0, 500, 512, 490), (2.0, 499, 512, 490)]:
        builder.add_sample(_sample(t_s, rss, released, lazy))
    result = builder.result()
    assert result["workloads"]["free"]["seconds_to_half_peak_rss"] is None
    assert result["workloads"]["free"]["end_lazyfree_bytes"] == 490 * MiB
    assert "never" in format_table(result)


def test_reuse_cost_per_gib_by_mode():
    builder = SummaryBuilder(["free"])
    builder.add_message("free", {"type": "event", "event": "reuse", "bytes": 1 << 30, "seconds": 0.2,
                                 "released_with": "MADV_FREE"})
    builder.add_message("free", {"type": "event", "event": "reuse", "bytes": 1 << 29, "seconds": 0.2,
                                 "released_with": "MADV_DONTNEED"})
    builder.add_message("free", {"type": "event", "event": "reuse", "bytes": "junk"})
    assert builder.result()["workloads"]["free"]["reuse_ms_per_gib"] == {"MADV_DONTNEED": 400.0, "MADV_FREE": 200.0}


def test_csv_row_matches_columns_and_leaves_heap_empty_before_stats():
    row = sample_row(_sample(1.23456, 100, 0, heap=False))
    assert len(row) == len(CSV_COLUMNS)
    assert row[:4] == ["1.235", "free", 42, "MADV_FREE"]
    assert row[7:] == ["", "", "", "", ""]


def test_svg_is_valid_xml_with_one_line_per_series():
    points = [(t / 10, (t % 50) * MiB) for t in range(5000)]
    svg = render_svg({"free": {"RSS": points, "LazyFree": points[:10]}, "dontneed": {"RSS": points}})
    root = ET.fromstring(svg)
    polylines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(polylines) == 3
    # downsampled to the panel's width, not 5000 points
    assert len(polylines[0].get("points").split()) < 5000


def test_plot_path_must_be_svg_or_png():
    check_plot_path("chart.svg")
    with pytest.raises(UsageError, match="FILE.svg"):
        check_plot_path("chart.jpg")
