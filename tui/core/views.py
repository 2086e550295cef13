"""What the widgets draw, built from a source without Textual: panel and chart views, and when they change."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tui.core.model import Marker, NativeInfo, TraceLine, WorkloadStatus
from tui.core.series import Series

# one sparkline cell covers this much time, so a panel shows tens of seconds, not a few
SPARK_CELL_S = 1.0
# the four figures of a panel and of the chart: (view key, series column)
FIGURE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rss", "rss_bytes"),
    ("inuse", "heap_inuse_bytes"),
    ("released", "heap_released_bytes"),
    ("lazyfree", "lazyfree_bytes"),
)


@dataclass(frozen=True, slots=True)
class PanelView:
    """What one panel shows: a status plus, per figure, the sparkline cells (oldest first) and the current bytes."""

    name: str
    pid: int | None
    state: str
    exit_code: int | None
    madvise: str
    last_error: str | None = None
    history: tuple[tuple[str, tuple[float, ...]], ...] = ()  # (figure, values per cell)
    current: tuple[tuple[str, int | None], ...] = ()  # (figure, bytes or None when unknown)
    footprint_bytes: int | None = None
    idle_bytes: int | None = None
    sys_bytes: int | None = None
    gc_count: int | None = None
    runtime: str = ""  # detected runtime and allocator (attach), shown instead of an unknown madvise mode
    absent: tuple[str, ...] = ()  # heap figures the allocator does not tell (heap_inuse_bytes, ...)
    allocator: str = ""  # a native allocator's name, version and release settings


@dataclass(frozen=True, slots=True)
class ChartView:
    """One workload's history: elapsed seconds and bytes per figure, aligned, plus its markers."""

    workload: str
    t_s: tuple[float, ...]
    figures: tuple[tuple[str, tuple[float, ...]], ...]
    markers: tuple[Marker, ...] = ()


def bucket_last(t_s: list[float], cell_s: float, cells: int) -> list[int]:
    """Indices of the last sample in each of the newest `cells` time buckets of `cell_s` seconds.

    Buckets are aligned to absolute time, so a sparkline scrolls once per cell and otherwise stays put
    (picking every k-th sample from the newest would shift every cell on every sample: a repaint each time).
    """
    picked: list[int] = []
    last_bucket = None
    for index in range(len(t_s) - 1, -1, -1):
        bucket = int(t_s[index] // cell_s)
        if bucket != last_bucket:
            picked.append(index)
            last_bucket = bucket
            if len(picked) == cells:
                break
    picked.reverse()
    return picked


def panel_view(name: str, series: Series, status: WorkloadStatus, cells: int, sample_interval_s: float,
               native: NativeInfo | None = None) -> PanelView:
    """The panel of `name`: its status, the newest `cells` sparkline cells of each figure and the latest values.

    For a native allocator (`native`), the heap figures it does not tell are shown as such, not as zero.
    """
    cells = max(1, cells)
    # a little more than enough samples: sampling can run late, never early
    n = int(cells * SPARK_CELL_S / max(sample_interval_s, 1e-3) * 1.2) + 2
    picked = bucket_last(series.column("t_s", n), SPARK_CELL_S, cells)

    def cells_of(column: str) -> tuple[float, ...]:
        values = series.column(column, n)
        return tuple(values[i] for i in picked if i < len(values))

    latest = series.latest
    heap = latest.heap if latest is not None else None
    kernel = latest.kernel if latest is not None else None
    absent = native.absent if native is not None else ()

    def told(figure: str) -> int | None:
        return getattr(heap, figure) if heap is not None and figure not in absent else None
    madvise = status.madvise
    if latest is not None and latest.madvise and status.state != "exited":
        madvise = latest.madvise
    return PanelView(
        name=name, pid=status.pid, state=status.state, exit_code=status.exit_code, madvise=madvise,
        last_error=status.last_error,
        history=tuple((key, cells_of(column)) for key, column in FIGURE_COLUMNS),
        current=(
            ("rss", kernel.rss_bytes if kernel else None),
            ("inuse", told("heap_inuse_bytes")),
            ("released", told("heap_released_bytes")),
            ("lazyfree", kernel.lazyfree_bytes if kernel else None),
        ),
        footprint_bytes=kernel.footprint_bytes if kernel else None,
        idle_bytes=told("heap_idle_bytes"),
        absent=absent,
        allocator=native.allocator if native is not None else "",
        sys_bytes=heap.heap_sys_bytes if heap else None,
        gc_count=heap.gc_count if heap else None,
        runtime=status.runtime,
    )


def panel_state(series: Series) -> object:
    """What a panel can show differently: the newest sparkline cell's bucket and the latest sample's figures.

    A sample that repeats the last figures inside the same cell changes nothing on screen (every older cell is
    fixed), so the panel is not rebuilt for it: steady memory rebuilds a panel once per cell, not per sample.
    """
    latest = series.latest
    if latest is None:
        return None
    return int(latest.t_s // SPARK_CELL_S), latest.kernel, latest.heap, latest.madvise


def chart_signature(name: str, series: Series, rows: int = 0) -> tuple[object, ...]:
    """What the chart would show differently: the workload, latest figures, markers; version last.

    Figures count to 1 MiB, or, given the plot's `rows`, to what one braille dot of its height stands for (the plot
    spans 0 to 1.15 × the highest figure, four dots a row): a churning heap that moves a few MiB at a time moves no
    dot of a 1 GiB plot, so it does not rebuild plotext's whole canvas every second.
    """
    latest = series.latest
    figures: tuple[int, ...] = ()
    if latest is not None:
        heap = latest.heap
        values = (latest.kernel.rss_bytes, latest.kernel.lazyfree_bytes,
                  heap.heap_inuse_bytes if heap else -1, heap.heap_released_bytes if heap else -1)
        dot_bytes = max(1 << 20, int(max(values) * 1.15 / (4 * rows))) if rows > 0 else 1 << 20
        figures = tuple(value // dot_bytes for value in values)
    markers = series.markers
    last_marker = markers[-1] if markers else None
    return name, figures, len(markers), last_marker, series.version


MAX_PACE_S = 10.0  # the longest the chart waits between two builds while its figures move
# the chart is the costliest widget (plotext rebuilds its whole canvas): at most this often
CHART_INTERVAL_S = 1.0
# plotext rebuilds its whole canvas (~9 ms for 160 columns with tui/widgets/plotext_fast.py, 20-50 ms without):
# while the figures keep moving (churn) the chart redraws no more often than keeps its builds under this share of a
# core (0.1 %: every ~9 s under churn, as often as at 0.3 % before plotext_fast; the saving is taken as CPU)
CHART_BUDGET = 0.001
# with steady figures the chart only needs to extend its time axis now and then (a rebuild is ~25 ms)
CHART_STEADY_S = 10.0


class ChartPacer:
    """When the chart is rebuilt: on a visible change, at most every `interval_s` (longer while a build costs more
    than `budget` of a core at that pace), and for a moving time axis alone only every `steady_s` (or as long as
    the budget says); never more than MAX_PACE_S apart while anything moves."""

    def __init__(self, interval_s: float = CHART_INTERVAL_S, budget: float = CHART_BUDGET,
                 steady_s: float = CHART_STEADY_S) -> None:
        self.interval_s, self.budget, self.steady_s = interval_s, budget, steady_s
        self.version: tuple[object, ...] | None = None  # the signature last drawn (None: draw again)
        self.drawn_s = -1e9

    def delay_s(self, signature: tuple[object, ...], now_s: float, build_s: float) -> float | None:
        """Seconds until the chart should be rebuilt for `signature`, or None when it shows that already."""
        if signature == self.version:
            return None
        if self.version is not None and signature[:-1] == self.version[:-1] \
                and now_s - self.drawn_s < min(max(self.steady_s, build_s / self.budget), MAX_PACE_S):
            return None  # only the time axis moved: wait (as long as the budget says), plotext's rebuild is our costliest
        # one slow build (the first, a busy machine) must not leave the chart stale for long: at most MAX_PACE_S
        pace_s = min(max(self.interval_s, build_s / self.budget), max(self.interval_s, MAX_PACE_S))
        return max(0.0, self.drawn_s + pace_s - now_s)

    def drawn(self, signature: tuple[object, ...], now_s: float) -> None:
        self.version, self.drawn_s = signature, now_s


def chart_view(name: str, series: Series) -> ChartView:
    """The chart of `name`: its whole history, every figure, every marker."""
    return ChartView(workload=name, t_s=tuple(series.column("t_s")),
                     figures=tuple((key, tuple(series.column(column))) for key, column in FIGURE_COLUMNS),
                     markers=tuple(series.markers))


def nice_step(top: float, ticks: int = 5) -> float:
    """A round tick step (1, 2, 5 × 10^k) giving about `ticks` ticks up to `top` (the chart and the SVG plot)."""
    raw = max(top / ticks, 1e-9)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


# Our own lines a churning workload repeats many times a second: (kind, pattern). On screen a lone one shows at once;
# while they keep coming, each second's become one summary line; record's trace.log keeps every line.
_RELEASED = re.compile(r"^lab: (?P<mode>\S+): released (?P<mib>\d+) MiB in (?P<ms>[\d.]+) ms$")
_REUSE = re.compile(r"^lab: reuse: wrote (?P<mib>\d+) MiB released with (?P<mode>\S+) at (?P<rate>[\d.]+) ms/GiB$")
COALESCE_WINDOW_S = 1.0


@dataclass
class _Window:
    index: int  # which window_s of the time axis (windows are aligned, so every summary is due at once)
    calls: int = 0
    mib: int = 0
    ms: float = 0.0  # released: milliseconds in madvise; reuse: the sum of ms/GiB (averaged when shown)
    mode: str = ""
    held: TraceLine | None = None  # the window's only line so far, shown as it is if no other follows


class TraceCoalescer:
    """Folds repeated `lab:` release and reuse lines into one line per workload and kind per second, for the screen.

    `feed(lines)` returns what to show now: every other line as it is, and a repeated line at once when its
    workload and kind were quiet the second before (a lone release); `due(now_s)` returns the summaries of the
    seconds that ended ("released 10 MiB in 10 calls, 1.2 ms"), all at one moment, so a churn costs the trace pane
    one write a second, not one per workload and kind.
    """

    def __init__(self, window_s: float = COALESCE_WINDOW_S) -> None:
        self.window_s = window_s
        self._windows: dict[tuple[str, str], _Window] = {}
        self._last_index: dict[tuple[str, str], int] = {}  # the last window each key had a line in

    def feed(self, lines: Iterable[TraceLine]) -> list[TraceLine]:
        shown: list[TraceLine] = []
        for line in lines:
            kind, match = self._classify(line.line)
            if match is None:
                shown.append(line)
                continue
            key = (line.workload, kind)
            index = math.floor(line.t_s / self.window_s)
            window = self._windows.get(key)
            if window is not None and window.index != index:
                summary = self._summary(key, self._windows.pop(key))
                if summary is not None:
                    shown.append(summary)
                window = None
            if window is None:
                window = self._windows[key] = _Window(index)
                if self._last_index.get(key, index - 2) < index - 1:
                    self._last_index[key] = index
                    shown.append(line)  # quiet before: it shows at once
                    continue
            self._last_index[key] = index
            window.calls += 1
            window.mib += int(match["mib"])
            window.ms += float(match["ms"] if kind == "released" else match["rate"])
            window.mode = match["mode"]
            window.held = line if window.calls == 1 else None
        return shown

    def due(self, now_s: float) -> list[TraceLine]:
        """Summaries of the windows that ended by `now_s` (the app asks once a poll)."""
        current = math.floor(now_s / self.window_s)
        out = []
        for key, window in list(self._windows.items()):
            if window.index < current:
                del self._windows[key]
                summary = self._summary(key, window)
                if summary is not None:
                    out.append(summary)
        return out

    def _summary(self, key: tuple[str, str], window: _Window) -> TraceLine | None:
        if window.held is not None:
            return window.held  # one line in the window: it is its own summary
        if not window.calls:
            return None
        workload, kind = key
        t_s = (window.index + 1) * self.window_s
        if kind == "released":
            text = (f"lab: {window.mode}: released {window.mib} MiB in {window.calls} calls, {window.ms:.1f} ms "
                    f"(in {self.window_s:g} s)")
        else:
            text = (f"lab: reuse: wrote {window.mib} MiB in {window.calls} batches released with {window.mode}, "
                    f"{window.ms / window.calls:.1f} ms/GiB on average (in {self.window_s:g} s)")
        return TraceLine(t_s, workload, text, "lab")

    @staticmethod
    def _classify(text: str) -> tuple[str, re.Match[str] | None]:
        if not text.startswith("lab: "):
            return "", None
        match = _RELEASED.match(text)
        if match is not None:
            return "released", match
        return "reuse", _REUSE.match(text)
