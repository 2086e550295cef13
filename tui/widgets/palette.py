"""Colours shared by panels, chart and trace pane, so one figure has one colour everywhere."""

from __future__ import annotations

# figure -> (r, g, b); plotext takes the tuples, Rich takes the hex form
FIGURE_RGB: dict[str, tuple[int, int, int]] = {
    "rss": (229, 115, 115),
    "inuse": (129, 199, 132),
    "released": (100, 181, 246),
    "lazyfree": (255, 183, 77),
}

# one colour per workload in the trace pane prefix (cycled)
WORKLOAD_COLORS = ("#4fc3f7", "#f06292", "#aed581", "#ffd54f", "#ba68c8", "#4db6ac")

# trace line kind -> Rich style of the text after the prefix
TRACE_KIND_STYLES = {
    "gc": "",
    "scav": "#64b5f6",
    "lab": "bold #ffb74d",
    "error": "bold #ef5350",
    "other": "dim",
}

# marker kind -> plotext colour
MARKER_RGB = {
    "gc": (150, 150, 150),
    "scavenge": (100, 181, 246),
    "mode": (255, 183, 77),
    "pressure": (239, 83, 80),
    "restart": (186, 104, 200),
}


def hex_color(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def workload_color(index: int) -> str:
    return WORKLOAD_COLORS[index % len(WORKLOAD_COLORS)]
