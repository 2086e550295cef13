"""The focused workload's chart (textual-plotext): RSS, in use, released, LazyFree over elapsed seconds, with markers."""

from __future__ import annotations

import math
import time
from typing import Any

from plotext._utility import get_matrix_data
from textual.strip import Strip
from textual_plotext import PlotextPlot

from tui.core.model import Marker
from tui.core.views import ChartView, nice_step
from tui.widgets.format import MiB
from tui.widgets.palette import FIGURE_RGB, MARKER_RGB
from tui.widgets.plot_cells import matrix_lines
from tui.widgets.plotext_fast import install as install_plotext_fast

# plotext's own line, HD-marker and flatten helpers are most of a build; equal, faster ones (for the verified release)
install_plotext_fast()

# drawn in this order, so RSS (the figure the story is about) is on top where lines overlap
LINES: tuple[tuple[str, str], ...] = (
    ("lazyfree", "LazyFree"),
    ("released", "released"),
    ("inuse", "in use"),
    ("rss", "RSS"),
)
# marker kinds that also get a text label at the top of the plot (GCs are too frequent for text)
LABELLED_MARKERS = ("mode", "pressure", "restart")


def one_per_column(markers: list[Marker], x_lim: tuple[float, float], columns: int) -> list[Marker]:
    """The last of `markers` in each of `columns` canvas columns, in their order, columns as plotext computes them."""
    if columns <= 0:
        return markers
    cols = get_matrix_data([marker.t_s for marker in markers], list(x_lim), columns)
    last = {col: index for index, col in enumerate(cols)}
    return [markers[index] for index in sorted(last.values())]


def downsample(xs: tuple[float, ...], ys: tuple[float, ...], points: int) -> tuple[list[float], list[float]]:
    """Every k-th point so that at most `points` remain, always keeping the newest."""
    n = min(len(xs), len(ys))
    if n == 0 or points <= 0:
        return [], []
    step = max(1, -(-n // points))
    idx = list(range(n - 1, -1, -step))[::-1]
    return [xs[i] for i in idx], [ys[i] for i in idx]


class MemoryChart(PlotextPlot):
    """Draws a ChartView; the app decides when (on change, at most ~1 Hz, never while hidden or paused)."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.drawn_view: ChartView | None = None
        self.draw_count = 0
        self.build_count = 0
        self._render_key: object = None
        self._strips: list[Strip] = []
        self._drawn_width = 0  # the widget's width when drawn: samples and x ticks follow it
        self._vlines_width: int | None = None  # the build width markers were thinned for (None: not thinned)
        self._canvas_cols = 0  # plotext's canvas columns expected at that width
        self.build_s = 0.0  # how long the last plotext build and render took (the app paces the chart by it)

    def on_mount(self) -> None:
        super().on_mount()
        self._draw_empty()

    def render_line(self, y: int) -> Strip:
        """Lines of the last plotext build, cached as strips.

        plotext rebuilds its whole character matrix: that happens only when the data, size or theme changed,
        not on every layout pass elsewhere on the screen. The matrix becomes strips directly (PlotextPlot's
        ANSI string → Text.from_ansi → render_lines gave the same cells at several times the cost).
        """
        width = self.size.width
        key = (self.size, self.draw_count, self.app.theme, self.theme)
        if key != self._render_key:
            started_s = time.perf_counter()
            self._render_key = key
            self.build_count += 1
            self._strips = self.matrix_strips(self.build_matrix())
            self.build_s = time.perf_counter() - started_s
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)

    def build_matrix(self) -> Any:
        """plotext's character matrix at the widget's size and theme: PlotextPlot.render without the ANSI string."""
        width, height = self.size
        view = self.drawn_view
        if view is not None and self._vlines_width != width:
            self._plot_view(view, self._drawn_width, width)  # resized since drawn: thin the markers for this width
        matrix = self._build_plotext(width, height)
        if view is not None and self._vlines_width is not None and len(matrix.Cols_canvas) != self._canvas_cols:
            # plotext laid the canvas out otherwise than expected: draw every marker so the picture stays exact
            self._plot_view(view, self._drawn_width, None)
            matrix = self._build_plotext(width, height)
        return matrix

    def _build_plotext(self, width: int, height: int) -> Any:
        plt = self._plot
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        plt._set_sizes()  # plt.build() without its last step, matrix.set_canvas (the ANSI string)
        plt._build_matrix()
        return plt.monitor.matrix

    def matrix_strips(self, matrix: Any) -> list[Strip]:
        """One strip per line of the widget, the widget's style under plotext's colours."""
        width, height = self.size
        return [Strip(line, width) for line in matrix_lines(matrix, width, height, self.rich_style)]

    def _draw_empty(self) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title("chart: waiting for samples")
        plt.xlabel("elapsed s")

    def draw(self, view: ChartView) -> None:
        """Replace the plot's data with `view`, downsampled to the plot's width."""
        self.drawn_view = view
        self.draw_count += 1
        self._drawn_width = self.size.width
        self._plot_view(view, self._drawn_width, self._drawn_width)
        if view.t_s:
            self.refresh()

    def _plot_view(self, view: ChartView, width: int, build_width: int | None) -> None:
        """`view` into plotext as drawn at widget `width`; markers thinned to one per column of a `build_width` plot.

        A churning workload has hundreds of markers and plotext's build costs grow with vertical lines times
        columns; lines in one column overwrite each other, so only the last in each column is kept (None: all).
        """
        plt = self.plt
        plt.clear_figure()
        plt.title(f"{view.workload}: MiB over elapsed seconds")
        plt.xlabel("elapsed s")
        width = max(10, width - 10)
        # braille packs 2 points per cell
        points = width * 2
        self._vlines_width = build_width
        if not view.t_s:
            return
        top = 1.0
        for key, label in LINES:
            values = dict(view.figures).get(key, ())
            xs, ys = downsample(view.t_s, values, points)
            if not xs:
                continue
            ys_mib = [y / MiB for y in ys]
            top = max(top, max(ys_mib))
            # LazyFree as a filled area under the lines: "RSS is high, but this much of it is LazyFree"
            fill = key == "lazyfree"
            plt.plot(xs, ys_mib, label=label, color=FIGURE_RGB[key], marker="hd" if fill else "braille", fillx=fill)
        first_s, last_s = view.t_s[0], view.t_s[-1]
        x_lim = (first_s, max(last_s, first_s + 1.0))
        plt.xlim(*x_lim)
        x_step = nice_step(max(last_s - first_s, 1.0), ticks=max(2, width // 16))
        x_ticks = [x_step * i for i in range(math.ceil(first_s / x_step), int(last_s / x_step) + 1)]
        plt.xticks(x_ticks, [f"{tick:g}" for tick in x_ticks])
        step = nice_step(top)
        ticks = [step * i for i in range(int(top * 1.15 / step) + 1)]
        y_labels = [f"{tick:g}" for tick in ticks]
        plt.ylim(0, top * 1.15)
        plt.yticks(ticks, y_labels)
        plt.ylabel("MiB")
        markers = [marker for marker in view.markers if first_s <= marker.t_s <= last_s]
        lines = markers
        if build_width is not None:
            # plotext's canvas: the plot's width less its two y axes and the left y tick labels
            self._canvas_cols = build_width - 2 - max((len(label) for label in y_labels), default=0)
            lines = one_per_column(markers, x_lim, self._canvas_cols)
        for marker in lines:
            plt.vertical_line(marker.t_s, color=MARKER_RGB.get(marker.kind, (150, 150, 150)))
        for marker in markers:
            if marker.kind in LABELLED_MARKERS:
                plt.text(marker.label, marker.t_s, top * 1.08, color=MARKER_RGB.get(marker.kind))
