"""The chart's cheap path draws what plotext's ANSI string drew: matrix → segments, and markers thinned per column."""

from __future__ import annotations

import asyncio
import math

import pytest
from plotext._dict import themes as plotext_themes
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual_plotext.plot import Plot, _rgbify_theme, _sequence

from tui.core.model import Marker
from tui.core.views import ChartView
from tui.widgets.chart import MemoryChart, one_per_column
from tui.widgets.plot_cells import matrix_lines

MiB = 1 << 20
# what PlotextPlot registers for an app theme ("auto"): surface background, foreground ticks, RGB everywhere
plotext_themes.setdefault("test-auto", _rgbify_theme((30, 30, 30), (30, 30, 30), (224, 224, 224), "default",
                                                      _sequence))


def churn_view(samples: int = 3000, max_markers: int = 500) -> ChartView:
    t_s = [i * 0.1 for i in range(samples)]
    figure = lambda base, span, period: tuple((base + span * ((i % period) / period)) * MiB for i in range(samples))
    markers = [Marker(i * 0.7, "free", "gc", "gc") for i in range(int(t_s[-1] / 0.7))]
    markers += [Marker(t_s[-1] * 0.5, "free", "mode", "MADV_DONTNEED"), Marker(t_s[-1] * 0.9, "free", "pressure", "x")]
    markers.sort(key=lambda marker: marker.t_s)
    return ChartView("free", tuple(t_s), (("rss", figure(50, 12, 37)), ("inuse", figure(40, 8, 23)),
                                          ("released", figure(8, 8, 41)), ("lazyfree", figure(6, 6, 53))),
                     tuple(markers[-max_markers:]))


def ansi_lines(ansi: str, width: int, height: int, base: Style) -> list[list[Segment]]:
    """The old path: Text.from_ansi, render_lines(pad=True) at the widget's size, the widget's style under it."""
    console = Console(width=width, color_system="truecolor", force_terminal=True)
    options = console.options.update(width=width, height=height, no_wrap=True, overflow="crop")
    lines = console.render_lines(Text.from_ansi(ansi), options, pad=True, new_lines=False)
    return [list(Segment.apply_style(line, base)) for line in lines]


def cells(lines: list[list[Segment]]) -> list[list[tuple[str, Style | None]]]:
    return [[(char, segment.style) for segment in line for char in segment.text] for line in lines]


def sample_plot(width: int, height: int, theme: str) -> Plot:
    plt = Plot()
    plt.plotsize(width, height)
    plt.theme(theme)
    plt.title("t: MiB")
    xs = [i / 10 for i in range(400)]
    plt.plot(xs, [5 + 4 * math.sin(x) for x in xs], marker="hd", fillx=True, color=(255, 183, 77), label="fill")
    plt.plot(xs, [6 + 3 * math.cos(x) for x in xs], marker="braille", color="red", label="braille")
    plt.plot(xs, [2 + x / 10 for x in xs], marker="dot", color=33, style="bold", label="dot")
    plt.vertical_line(12.0, color=(150, 150, 150))
    plt.text("mode", 20.0, 9.0, color=(186, 104, 200), style="italic", background="blue")
    plt.ylabel("MiB")
    return plt


@pytest.mark.parametrize("theme", ["test-auto", "pro", "dreamland", "clear", "default"])
@pytest.mark.parametrize("size, widget", [((100, 20), (100, 20)), ((60, 12), (66, 15)), ((80, 16), (70, 10))])
def test_matrix_lines_equal_the_ansi_path(theme, size, widget):
    """Same characters, same Rich styles, same segment cuts as Text.from_ansi + render_lines, for plotext's colours
    (RGB, 256, 16-colour names, styles, backgrounds), a widget larger (padded) or smaller (cropped) than the plot."""
    plt = sample_plot(*size, theme)
    ansi = plt.build()  # builds the matrix too
    base = Style(color="white", bgcolor="#101010")
    expected = ansi_lines(ansi, *widget, base)
    got = matrix_lines(plt.monitor.matrix, *widget, base)
    assert cells(got) == cells(expected)
    assert got == expected
    assert len({segment.style for line in got for segment in line}) > 4  # the comparison covers several colours


@pytest.mark.parametrize("width, height", [(158, 17), (158, 30), (100, 12), (60, 10)])
def test_markers_thinned_to_one_per_column_draw_the_same_picture(width, height):
    chart = MemoryChart()
    view = churn_view()
    plt = chart.plt

    def build() -> str:
        plt.plotsize(width, height)  # after drawing, as the widget does (clear_figure forgets the size)
        plt._set_size(width, height)
        return plt.build()

    chart._plot_view(view, width, width)
    thinned = build()
    assert len(plt.monitor.matrix.Cols_canvas) == chart._canvas_cols, "the canvas width plotext used was predicted"
    assert len(plt.monitor.vcoord[0]) < len(view.markers) / 2, "thinning dropped markers"
    chart._plot_view(view, width, None)
    assert len(plt.monitor.vcoord[0]) == len(view.markers)
    assert build() == thinned


def test_one_per_column_keeps_the_last_marker_of_each_column_in_order():
    markers = [Marker(t, "w", kind, kind) for t, kind in ((0.0, "gc"), (0.4, "mode"), (5.0, "gc"), (9.9, "gc"),
                                                          (10.0, "restart"))]
    # 10 columns over 0..10 s: 0.0 and 0.4 share column 0, 9.9 and 10.0 share column 9
    assert [m.t_s for m in one_per_column(markers, (0.0, 10.0), 10)] == [0.4, 5.0, 10.0]


def test_a_resized_chart_shows_what_plotexts_ansi_path_shows():
    """Drawn at 120 columns, shown at 90: the markers are thinned again for 90, and the strips equal the old path's
    (every marker, PlotextPlot.render → render_lines) for the same drawing."""
    asyncio.run(_resized_chart())


async def _resized_chart():
    from textual.app import App, ComposeResult
    from textual.strip import Strip
    from textual_plotext import PlotextPlot

    class ChartApp(App):
        def compose(self) -> ComposeResult:
            yield MemoryChart(id="chart")

    app = ChartApp()
    view = churn_view()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = app.query_one(MemoryChart)
        await pilot.pause()
        chart.draw(view)
        await pilot.resize_terminal(90, 16)
        await pilot.pause()
        width, height = chart.size
        assert (width, height) == (90, 16) and chart._drawn_width == 120
        got = [chart.render_line(y) for y in range(height)]
        assert chart._vlines_width == 90
        chart._plot_view(view, 120, None)  # the same drawing with every marker
        console = app.console
        options = console.options.update(width=width, height=height, no_wrap=True, overflow="crop")
        lines = console.render_lines(PlotextPlot.render(chart), options, pad=True, new_lines=False)
        expected = [Strip(line, width).apply_style(chart.rich_style) for line in lines]
        assert [list(strip) for strip in got] == [list(strip) for strip in expected]

