"""plotext's character matrix → Rich segments per line, styled exactly as its ANSI string would decode (no string made)."""

from __future__ import annotations

from typing import Any

from plotext._utility import colors_to_ansi
from rich.ansi import AnsiDecoder
from rich.segment import Segment
from rich.style import Style

# (fullground, style, background) as plotext stores them -> the Rich style its ANSI codes decode to. A chart has a
# dozen of these; decoding each once through Rich's own decoder keeps the colours identical to Text.from_ansi.
_STYLES: dict[tuple[Any, Any, Any], Style] = {}


def cell_style(fullground: Any, style: Any, background: Any) -> Style:
    """The Rich style of one plotext cell: what Text.from_ansi gives for plotext's codes of these colours."""
    key = (_hashable(fullground), _hashable(style), _hashable(background))
    found = _STYLES.get(key)
    if found is None:
        # plotext's canvas starts every run from a reset (each run ends in ESC[0m), so a fresh decoder is exact
        text = AnsiDecoder().decode_line(colors_to_ansi(fullground, style, background) + "x")
        found = _STYLES[key] = text.spans[0].style if text.spans else Style.null()  # type: ignore[assignment]
    return found


def _hashable(color: Any) -> Any:
    return tuple(color) if isinstance(color, list) else color


def matrix_lines(matrix: Any, width: int, height: int, base: Style | None = None) -> list[list[Segment]]:
    """`height` lines of exactly `width` cells, top line first: one segment per run of equal colours.

    Runs are cut where plotext's ANSI string changes colour, so the segments equal those of
    Text.from_ansi(matrix canvas) rendered by render_lines(pad=True), with `base` under every style (as
    Strip.apply_style(base) would). Lines past the matrix are blank; columns past `width` are cropped.
    """
    base = base or Style.null()
    combined: dict[int, Style] = {}  # id(cell style) -> base + cell style, for this call's base
    lines: list[list[Segment]] = []
    rows = min(matrix.rows, height)
    cols = min(matrix.cols, width)
    for row in range(matrix.rows - 1, matrix.rows - 1 - rows, -1):
        markers = matrix.marker[row]
        colours = list(zip(matrix.fullground[row], matrix.style[row], matrix.background[row]))
        segments: list[Segment] = []
        start = 0
        while start < cols:
            run = colours[start]
            end = start + 1
            while end < cols and colours[end] == run:
                end += 1
            style = cell_style(*run)
            full = combined.get(id(style))
            if full is None:
                full = combined[id(style)] = base + style
            segments.append(Segment("".join(markers[start:end]), full))
            start = end
        if cols < width:
            segments.append(Segment(" " * (width - cols), base))
        lines.append(segments)
    while len(lines) < height:
        lines.append([Segment(" " * width, base)])
    return lines
