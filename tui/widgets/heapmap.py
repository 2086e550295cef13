"""The heap map: one character per cell of the heap's address space, coloured by its pages' state, with a legend."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from tui.core.heapmap import STATES, HeapMap
from tui.widgets.format import mib
from tui.widgets.palette import FIGURE_RGB, hex_color

# state -> (legend label, colour). Released-but-resident has LazyFree's colour: it *is* LazyFree.
STATE_LOOK: dict[str, tuple[str, str]] = {
    "inuse_resident": ("in use", hex_color(FIGURE_RGB["inuse"])),
    "inuse_absent": ("in use, not resident", "#2e5a32"),
    "idle_resident": ("idle, backed", "#4db6ac"),
    "idle_absent": ("idle, not resident", "#24524d"),
    "released_resident": ("released, resident (LazyFree)", hex_color(FIGURE_RGB["lazyfree"])),
    "released_absent": ("released, gone", "#2a4a6b"),
    "unknown_resident": ("resident", "#bdbdbd"),
    "unknown_absent": ("not resident", "#424242"),
}
FULL, HALF = "█", "▌"  # a pure cell; a mixed one: left half its main state, right half the next (background)
_TEXT = Style()
_DIM = Style(dim=True)
_BOLD = Style(bold=True)


def scale_text(cell_bytes: int) -> str:
    """'1 cell = 1 MiB', '1 cell = 64 KiB'."""
    if cell_bytes >= 1 << 30 and cell_bytes % (1 << 30) == 0:
        return f"1 cell = {cell_bytes >> 30} GiB"
    if cell_bytes >= 1 << 20 and cell_bytes % (1 << 20) == 0:
        return f"1 cell = {cell_bytes >> 20} MiB"
    return f"1 cell = {cell_bytes >> 10} KiB"


def cell_segment(cell: tuple[int, ...]) -> Segment:
    """One cell: its main state's colour, half of it in the second state's when the cell is mixed."""
    ranked = sorted((n, -i) for i, n in enumerate(cell) if n)
    if not ranked:
        return Segment(" ")
    first = STATES[-ranked[-1][1]]
    color = STATE_LOOK[first][1]
    if len(ranked) == 1 or ranked[-2][0] * 8 < sum(cell):  # under 1/8 of the pages: shown as pure
        return Segment(FULL, Style(color=color))
    second = STATE_LOOK[STATES[-ranked[-2][1]]][1]
    return Segment(HALF, Style(color=color, bgcolor=second))


def legend_entries(heap_map: HeapMap) -> list[tuple[str, str, int]]:
    """(label, colour, pages) for each state the map can have (the kernel-only map: resident, not resident)."""
    states = STATES[6:] if heap_map.source == "kernel" else STATES[:6]
    return [(STATE_LOOK[s][0], STATE_LOOK[s][1], heap_map.pages.get(s, 0)) for s in states]


ADDRESS_CELLS = 13  # "7f0004000000 " before each row when the width allows


def row_cells(width: int) -> int:
    """Cells per row: the largest power of two that fits, so every row starts at a round address."""
    cells = 1
    while cells * 2 <= width:
        cells *= 2
    return cells


def layout(heap_map: HeapMap, columns: int) -> list[tuple[int, list[tuple[int, ...]]]]:
    """Rows as (start address, cells): each arena starts a row (the map was fitted so that they fit)."""
    rows = []
    for arena in heap_map.arenas:
        for i in range(0, len(arena.cells), columns):
            rows.append((arena.addr + i * heap_map.cell_bytes, list(arena.cells[i:i + columns])))
    return rows


class HeapMapView(Widget):
    """Draws a HeapMap given by `show()`; the app reads the map (≤ 1 Hz, only while this is visible)."""

    DEFAULT_CSS = "HeapMapView { height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.heap_map: HeapMap | None = None
        self.message = "no heap map yet"
        self.draw_count = 0
        self._key: object = None
        self._lines: list[Strip] = []

    def show(self, heap_map: HeapMap | None, message: str = "") -> None:
        """The map to draw, or None and why not."""
        if heap_map is self.heap_map and (message or self.message) == self.message:
            return
        self.heap_map, self.message = heap_map, message or self.message
        self.draw_count += 1
        self.refresh()

    def render_line(self, y: int) -> Strip:
        key = (self.size, self.draw_count)
        if key != self._key:
            self._key = key
            self._lines = self._build(self.size.width, self.size.height)
        return self._lines[y] if y < len(self._lines) else Strip.blank(self.size.width)

    def _build(self, width: int, height: int) -> list[Strip]:
        heap_map = self.heap_map
        if heap_map is None:
            return [Strip([Segment(self.message[:width], _DIM)])]
        legend = self._legend(heap_map, width)
        head = self._head(heap_map, width)
        grid_rows = max(1, height - len(head) - len(legend))
        with_addresses = width >= ADDRESS_CELLS + 16
        columns = row_cells(width - ADDRESS_CELLS if with_addresses else width)
        fitted = heap_map.fitted(columns, grid_rows)
        head = self._head(fitted, width)
        rows = layout(fitted, columns)[:grid_rows]  # cut only when even the coarsest scale does not fit
        lines = head
        for addr, cells in rows:
            prefix = [Segment(f"{addr:012x} ", _DIM)] if with_addresses else []
            lines.append(Strip(prefix + [cell_segment(cell) for cell in cells]).adjust_cell_length(width))
        lines += [Strip.blank(width)] * (height - len(lines) - len(legend))
        return (lines + legend)[:height]

    def _head(self, heap_map: HeapMap, width: int) -> list[Strip]:
        what = "kernel side only" if heap_map.source == "kernel" else "spans × pagemap"
        parts = [Segment(scale_text(heap_map.cell_bytes), _BOLD),
                 Segment(f" · {len(heap_map.arenas)} {'mapping' if heap_map.source == 'kernel' else 'arena'}{'' if len(heap_map.arenas) == 1 else 's'}, "
                         f"{mib(heap_map.n_bytes)} · {what}", _DIM)]
        if heap_map.method:
            parts.append(Segment(f" · pagemap via {'PAGEMAP_SCAN' if heap_map.method == 'scan' else 'pread'}", _DIM))
        lines = [Strip(parts).crop(0, width).adjust_cell_length(width)]
        if heap_map.note:
            lines.append(Strip([Segment(heap_map.note, _DIM)]).crop(0, width).adjust_cell_length(width))
        return lines

    def _legend(self, heap_map: HeapMap, width: int) -> list[Strip]:
        """Two entries a line (resident | not resident of one state): a swatch, the label, MiB and pages.

        Narrow areas get the short form ("32.0 MiB · 8192 p"), then labels without their note in parentheses.
        """
        shown = legend_entries(heap_map)
        formats = (lambda label, n: f" {label} {mib(n * heap_map.page_bytes)} ({n} pages)",
                   lambda label, n: f" {label} {mib(n * heap_map.page_bytes)} · {n} p",
                   lambda label, n: f" {label.split(' (')[0]} {mib(n * heap_map.page_bytes)} · {n} p")
        for fmt in formats:
            entries = [(label, color, fmt(label, pages)) for label, color, pages in shown]
            left = max(len(text) for _, _, text in entries[::2]) + 3
            right = max(len(text) for _, _, text in entries[1::2]) + 1
            if left + right <= width:
                break
        column = left if left + right <= width else width // 2
        lines = []
        for i in range(0, len(entries), 2):
            segments: list[Segment] = []
            for label, color, text in entries[i:i + 2]:
                segments += list(Strip([Segment(FULL, Style(color=color)), Segment(text, _TEXT)])
                                 .adjust_cell_length(column))
            lines.append(Strip(segments).adjust_cell_length(width))
        return lines
