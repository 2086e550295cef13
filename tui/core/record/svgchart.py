"""A small dependency-free SVG line chart for `record --plot`: one panel per workload, MiB over seconds."""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from tui.core.errors import UsageError
from tui.core.units import MiB
from tui.core.views import nice_step

LINE_COLOURS = {
    "RSS": "#d62728",
    "heap in use": "#1f77b4",
    "heap released": "#2ca02c",
    "LazyFree": "#ff7f0e",
}
PANEL_WIDTH = 960
PANEL_HEIGHT = 280
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 34, 36


@dataclass(frozen=True)
class ChartMarker:
    """A vertical mark on a workload's panel (e.g. a madvise mode switch)."""

    t_s: float
    label: str


def check_plot_path(path: str) -> None:
    """Fail before the run, not after it, when the chart cannot be written."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".svg", ".png"):
        raise UsageError(f"record: --plot: expected a FILE.svg or FILE.png, got {path!r}")
    if suffix == ".png" and shutil.which("rsvg-convert") is None:
        raise UsageError(
            "record: --plot: PNG needs rsvg-convert (apt-get install librsvg2-bin); use FILE.svg instead"
        )


def _downsample(points: list[tuple[float, float]], n_max: int) -> list[tuple[float, float]]:
    """Keep min and max per bucket so a short spike or drop still shows at panel width."""
    if len(points) <= n_max:
        return points
    bucket = len(points) / (n_max / 2)
    kept: list[tuple[float, float]] = []
    start = 0.0
    while int(start) < len(points):
        chunk = points[int(start):int(start + bucket)] or points[int(start):int(start) + 1]
        low = min(chunk, key=lambda p: p[1])
        high = max(chunk, key=lambda p: p[1])
        kept.extend(sorted({low, high}))
        start += bucket
    return kept


def _panel(
    title: str,
    lines: dict[str, list[tuple[float, float]]],
    markers: list[ChartMarker],
    x_max_s: float,
    top_px: int,
) -> list[str]:
    plot_w = PANEL_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = PANEL_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    y_max_mib = max((v for pts in lines.values() for _, v in pts), default=1.0)
    y_step = nice_step(y_max_mib or 1.0)
    y_top = max(y_step, math.ceil((y_max_mib or 1.0) / y_step) * y_step)
    x_step = nice_step(x_max_s or 1.0, 8)
    x_top = max(x_max_s, 1e-9)
    left, top = MARGIN_LEFT, top_px + MARGIN_TOP

    def px(t_s: float, v_mib: float) -> tuple[float, float]:
        return left + t_s / x_top * plot_w, top + plot_h - v_mib / y_top * plot_h

    out = [f'<text x="{left}" y="{top_px + 20}" class="title">{escape(title)}</text>']
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>')
    tick = 0.0
    while tick <= y_top + 1e-9:
        _, y = px(0, tick)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="ylab">{tick:g}</text>')
        tick += y_step
    tick = 0.0
    while tick <= x_top + 1e-9:
        x, _ = px(tick, 0)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" class="grid"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" class="xlab">{tick:g}s</text>')
        tick += x_step
    out.append(f'<text x="14" y="{top + plot_h / 2:.0f}" class="axis" transform="rotate(-90 14 {top + plot_h / 2:.0f})">MiB</text>')
    for index, marker in enumerate(markers):
        x, _ = px(marker.t_s, 0)
        label_y = top + 12 + 12 * (index % 3)  # staggered: steps at the same moment keep readable labels
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" class="marker"/>')
        out.append(f'<text x="{x + 3:.1f}" y="{label_y}" class="mlab">{escape(marker.label)}</text>')
    for name, points in lines.items():
        if not points:
            continue
        coords = " ".join("{:.1f},{:.1f}".format(*px(t, v)) for t, v in _downsample(points, plot_w * 2))
        colour = LINE_COLOURS.get(name, "#555")
        out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
    legend_x = left + plot_w - 4
    for i, name in enumerate(reversed(list(lines))):
        colour = LINE_COLOURS.get(name, "#555")
        out.append(f'<text x="{legend_x}" y="{top_px + 20}" class="legend" fill="{colour}" '
                   f'dx="{-i * 120}">{escape(name)}</text>')
    return out


def render_svg(
    panels: dict[str, dict[str, list[tuple[float, int]]]],
    markers: dict[str, list[ChartMarker]] | None = None,
    title: str = "madvise-lab record",
) -> str:
    """panels: workload -> line name -> [(t_s, bytes)]. Returns the SVG document."""
    markers = markers or {}
    x_max_s = max((t for lines in panels.values() for pts in lines.values() for t, _ in pts), default=1.0)
    height = PANEL_HEIGHT * max(1, len(panels)) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{PANEL_WIDTH}" height="{height}" '
        f'viewBox="0 0 {PANEL_WIDTH} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
        "<style>.title{font-size:15px;font-weight:bold}.frame{fill:none;stroke:#888}"
        ".grid{stroke:#e4e4e4}.ylab{font-size:11px;text-anchor:end}.xlab{font-size:11px;text-anchor:middle}"
        ".axis{font-size:12px}.legend{font-size:12px;text-anchor:end;font-weight:bold}"
        ".marker{stroke:#999;stroke-dasharray:4 3}.mlab{font-size:10px;fill:#666}</style>",
        f'<rect width="{PANEL_WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{PANEL_WIDTH / 2}" y="20" text-anchor="middle" font-size="16">{escape(title)}</text>',
    ]
    for index, (name, lines) in enumerate(panels.items()):
        mib_lines = {line: [(t, v / MiB) for t, v in pts] for line, pts in lines.items()}
        out.extend(_panel(name, mib_lines, markers.get(name, []), x_max_s, 30 + index * PANEL_HEIGHT))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_chart(path: str, panels, markers=None, title: str = "madvise-lab record") -> None:
    """Write FILE.svg, or FILE.png through rsvg-convert."""
    svg = render_svg(panels, markers, title)
    target = Path(path)
    if target.suffix.lower() == ".svg":
        target.write_text(svg, encoding="utf-8")
        return
    svg_path = target.with_suffix(".svg.tmp")
    svg_path.write_text(svg, encoding="utf-8")
    try:
        subprocess.run(["rsvg-convert", "-w", str(PANEL_WIDTH * 2), str(svg_path), "-o", str(target)],
                       check=True, capture_output=True, timeout=60)
    finally:
        svg_path.unlink(missing_ok=True)
