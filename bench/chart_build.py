"""`python3 -m bench.chart_build [-n N]`: ms per chart build under churn-like data, split by phase, old path vs new.

The view is what examples/churn.yaml gives after its 10-minute history fills: 6,000 samples of four figures and
the 500 newest markers (a GC every 1.2 s, a scavenge every 3 s, a mode switch and a pressure event). The chart is
mounted in a real Textual app at 158×17 and 158×30 (its content area inside a border at 160 columns).

Phases: draw (ChartView → plotext calls), plotext (its build of the character matrix), strips (→ Textual Strips).
"old" is tui/widgets/chart.py as of OLD_COMMIT (before issue 16's chart work, loaded from git): its draw, then
PlotextPlot.render's steps (plotext's ANSI string; Text.from_ansi and render_lines count as strips). "new" is the
working tree's MemoryChart. Both are mounted in one app at the same size and run alternately on the same view;
their strips are compared cell by cell (text and style) and the result printed.

tui/widgets/chart.py installs tui/widgets/plotext_fast at import (plotext's hottest helpers, value-for-value equal):
it is process-wide, so both paths run on it; the first line says whether it is active. --plotext-own puts plotext's
own functions back for the run (the figures before plotext_fast).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import subprocess
import time
import types

from rich.text import Text
from textual.app import App, ComposeResult
from textual.strip import Strip
from textual_plotext import PlotextPlot

from bench.common import REPO
from tui.core.model import Marker
from tui.core.views import ChartView
from tui.widgets import plotext_fast
from tui.widgets.chart import MemoryChart

MiB = 1 << 20
SIZES = ((158, 17), (158, 30))
OLD_COMMIT = "05cce1c"  # main before the chart was made cheap (issue 16)


def old_chart_class() -> type:
    """MemoryChart as it was at OLD_COMMIT, from git, so before and after run in the same process."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{OLD_COMMIT}:tui/widgets/chart.py"],
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("chart_before")
    exec(compile(source, f"{OLD_COMMIT}:tui/widgets/chart.py", "exec"), module.__dict__)  # noqa: S102 - our own file
    return module.MemoryChart


def churn_view(samples: int = 6000, interval_s: float = 0.1, max_markers: int = 500) -> ChartView:
    """Sawtooth figures like a churning 48 MiB heap (deterministic), and markers as dense as churn makes them."""
    t_s = [i * interval_s for i in range(samples)]
    rss = [(52 + 12 * ((i % 37) / 37) + 3 * math.sin(i / 50)) * MiB for i in range(samples)]
    inuse = [(40 + 8 * ((i % 23) / 23)) * MiB for i in range(samples)]
    released = [(8 + 8 * ((i % 41) / 41)) * MiB for i in range(samples)]
    lazyfree = [(6 + 6 * ((i % 53) / 53)) * MiB for i in range(samples)]
    end_s = t_s[-1]
    markers = [Marker(i * 1.2, "free", "gc", "gc") for i in range(int(end_s / 1.2))]
    markers += [Marker(i * 3.0 + 0.5, "free", "scavenge", "scvg") for i in range(int(end_s / 3.0))]
    markers += [Marker(end_s * 0.6, "free", "mode", "MADV_DONTNEED"), Marker(end_s * 0.8, "free", "pressure", "some")]
    markers.sort(key=lambda marker: marker.t_s)
    return ChartView("free", tuple(t_s), (("rss", tuple(rss)), ("inuse", tuple(inuse)),
                                          ("released", tuple(released)), ("lazyfree", tuple(lazyfree))),
                     tuple(markers[-max_markers:]))


class ChartApp(App):
    def __init__(self, old_class: type, height: int) -> None:
        super().__init__()
        self.old_class, self.chart_height = old_class, height

    def compose(self) -> ComposeResult:
        yield self.old_class(id="old")
        yield MemoryChart(id="new")

    def on_mount(self) -> None:
        for chart in self.query("#old, #new"):
            chart.styles.border = ("round", "white")
            chart.styles.height = self.chart_height + 2


def old_strips(chart: PlotextPlot) -> tuple[list[Strip], float, float]:
    """The pre-issue-16 render: PlotextPlot.render's steps, then Text.from_ansi and render_lines."""
    started_s = time.perf_counter()
    width, height = chart.size
    plt = chart.plt
    plt.plotsize(width, height)
    plt._set_size(width, height)
    plt.theme(chart._get_plotext_theme_name(chart.app.theme))
    ansi = plt.build()
    built_s = time.perf_counter()
    text = Text.from_ansi(ansi)
    console = chart.app.console
    options = console.options.update(width=width, height=height, no_wrap=True, overflow="crop")
    lines = console.render_lines(text, options, pad=True, new_lines=False)
    strips = [Strip(line, width).apply_style(chart.rich_style) for line in lines]
    return strips, built_s - started_s, time.perf_counter() - built_s


def new_strips(chart: MemoryChart) -> tuple[list[Strip], float, float]:
    started_s = time.perf_counter()
    matrix = chart.build_matrix()
    built_s = time.perf_counter()
    strips = chart.matrix_strips(matrix)
    return strips, built_s - started_s, time.perf_counter() - built_s


def cells(strips: list[Strip]) -> list[list[tuple[str, object]]]:
    return [[(char, segment.style) for segment in strip for char in segment.text] for strip in strips]


async def measure(size: tuple[int, int], view: ChartView, builds: int, old_class: type) -> dict[str, object]:
    width, height = size
    app = ChartApp(old_class, height)
    async with app.run_test(size=(width + 2, 2 * (height + 2))) as pilot:
        await pilot.pause()
        charts = {"old": app.query_one("#old"), "new": app.query_one("#new", MemoryChart)}
        assert all(tuple(chart.size) == size for chart in charts.values()), [chart.size for chart in charts.values()]
        times: dict[str, list[float]] = {f"{path} {phase}": [] for path in charts
                                         for phase in ("draw", "plotext", "strips")}
        same = True
        for _ in range(builds):
            results = {}
            for path, build in (("old", old_strips), ("new", new_strips)):
                chart = charts[path]
                started_s = time.perf_counter()
                chart.draw(view)
                times[f"{path} draw"].append(time.perf_counter() - started_s)
                strips, plotext_s, strips_s = build(chart)
                times[f"{path} plotext"].append(plotext_s)
                times[f"{path} strips"].append(strips_s)
                results[path] = cells(strips)
            same = same and results["old"] == results["new"]
        return {"ms": {name: statistics.median(values) * 1e3 for name, values in times.items()}, "same": same}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.chart_build", description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--builds", type=int, default=30, help="builds per size and path (median printed)")
    parser.add_argument("--plotext-own", action="store_true",
                        help="run on plotext's own functions, not plotext_fast's (the figures before it)")
    args = parser.parse_args(argv)
    if args.plotext_own:
        import plotext._utility as ut
        for name, function in plotext_fast.ORIGINALS.items():
            setattr(ut, name, function)
    print(f"plotext {plotext_fast.plotext_version()}: plotext_fast "
          f"{'active' if plotext_fast.installed() else 'not active'} (both paths)")
    view = churn_view()
    old_class = old_chart_class()
    print(f"old: chart.py at {OLD_COMMIT}; new: this tree. view: {len(view.t_s)} samples × {len(view.figures)} figures, {len(view.markers)} markers; "
          f"median of {args.builds} builds, ms")
    print(f"{'size':>7}  {'path':4}  {'draw':>6}  {'plotext':>7}  {'strips':>6}  {'total':>6}")
    for size in SIZES:
        result = asyncio.run(measure(size, view, args.builds, old_class))
        ms = result["ms"]
        for path in ("old", "new"):
            draw, plotext, strips = (ms[f"{path} {phase}"] for phase in ("draw", "plotext", "strips"))
            print(f"{size[0]}×{size[1]:<3}  {path:4}  {draw:6.2f}  {plotext:7.2f}  {strips:6.2f}  "
                  f"{draw + plotext + strips:6.2f}")
        print(f"{'':7}  same cells (text and style) old vs new: {'yes' if result['same'] else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
