"""The heap map widget with fixed data: an SVG snapshot of the story after a release, and its drawing rules."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui.core.heapmap import STATES, Region, build
from tui.core.kernel.pagemap import ABSENT, PRESENT
from tui.widgets.heapmap import FULL, HALF, HeapMapView, cell_segment, legend_entries, scale_text

PAGE = 4096
MiB = 1 << 20


def story_map():
    """Two 64 MiB arenas after a MADV_FREE release: 8 MiB in use, a little idle, the rest released and still
    resident (LazyFree) except what pressure took from the second arena; one cell mixed in each boundary."""
    arena = 64 * MiB
    runs_a = ((0, 8 * MiB + 192 * 1024, "inuse"), (8 * MiB + 192 * 1024, 4 * MiB, "idle"),
              (12 * MiB + 192 * 1024, arena - 12 * MiB - 192 * 1024, "released"))
    runs_b = ((0, arena, "released"),)
    pages = arena // PAGE
    codes_a = bytes([PRESENT]) * pages
    codes_b = bytes([ABSENT]) * (pages // 2) + bytes([PRESENT, ABSENT]) * (pages // 8) + bytes([PRESENT]) * (pages // 4)
    return build(42.0, "free", "spans", [Region(0x7F0000000000, arena, runs_a), Region(0x7F0004000000, arena, runs_b)],
                 [codes_a, codes_b], cell_bytes=64 * 1024, page_bytes=PAGE, method="scan")


class MapApp(App):
    def __init__(self, heap_map) -> None:
        super().__init__()
        self.heap_map = heap_map

    def compose(self) -> ComposeResult:
        yield HeapMapView(id="map")

    def on_mount(self) -> None:
        self.query_one(HeapMapView).show(self.heap_map)


def test_heap_map_snapshot(snap_compare):
    """100 columns: an arena in two rows; orange = released but resident, blue-grey = gone."""
    assert snap_compare(MapApp(story_map()), terminal_size=(100, 14))


def test_scale_and_cells():
    assert scale_text(1 * MiB) == "1 cell = 1 MiB" and scale_text(64 * 1024) == "1 cell = 64 KiB"
    pure = [0] * len(STATES)
    pure[STATES.index("released_resident")] = 16
    assert cell_segment(tuple(pure)).text == FULL
    mixed = list(pure)
    mixed[STATES.index("released_absent")] = 8
    segment = cell_segment(tuple(mixed))
    assert segment.text == HALF and segment.style.bgcolor is not None
    assert cell_segment(tuple([0] * len(STATES))).text == " "


def test_legend_counts_pages_and_fits_the_width():
    heap_map = story_map()
    entries = legend_entries(heap_map)
    assert sum(pages for _, _, pages in entries) == 2 * 64 * MiB // PAGE
    assert [label for label, _, _ in entries][4] == "released, resident (LazyFree)"
    view = HeapMapView()
    view.heap_map = heap_map
    lines = view._legend(heap_map, 100)
    assert all(line.cell_length == 100 for line in lines) and len(lines) == 3


def test_a_narrow_legend_keeps_every_count_in_the_short_form():
    heap_map = story_map()
    view = HeapMapView()
    lines = [line.text for line in view._legend(heap_map, 78)]
    assert len(lines) == 3 and all(len(line) == 78 for line in lines)
    for _, _, pages in legend_entries(heap_map):
        assert any(f"· {pages} p" in line for line in lines), (pages, lines)
