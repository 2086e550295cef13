"""The dashboard: wires a source to the widgets; polls when woken, draws what the poll changed."""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from textual.app import App, ComposeResult
from textual.containers import Container
from textual.reactive import reactive
from textual.timer import Timer
from asyncio import TimerHandle

from tui.frames import LeanFrames
from tui.core.kernel.system import SystemInfo, read_mem_available_bytes
from tui.core.model import LabUpdate, TraceLine
from tui.core.sources.base import Source
from tui.core.units import MiB
from tui.core.views import (CHART_INTERVAL_S, ChartPacer, TraceCoalescer, chart_signature, chart_view, panel_state,
                             panel_view)
from tui.messages import PendingOnce
from tui.widgets.footer import BoundedFooter
from tui.widgets.chart import MemoryChart
from tui.widgets.header import LabHeader, header_text
from tui.widgets.heapmap import HeapMapView
from tui.widgets.panel import PanelGrid, WorkloadPanel
from tui.widgets.trace import TracePane
from tui.keys import KEY_BINDINGS, WorkloadActions
from tui.terminal import quit_on_signals
from tui.themes import QuickThemeLookup

# without notifications (timeline steps, elapsed time) the app still polls this often
FALLBACK_POLL_S = 1.0
# urgent items (a release, a status) are shown at once, but at most this often: a churning workload announces a
# release every 0.1 s, and a frame per announcement would repaint the screen as fast as they come (5 frames a
# second keep release → screen well under 250 ms)
URGENT_FRAME_S = 0.2
MEM_AVAILABLE_EVERY_S = 2.0
MANY_WORKLOADS = 4  # more than this: three panels a row, scrolling (app.tcss #panels.-many)
COMPACT_WIDTH = 100
COMPACT_HEIGHT = 30

class MadviseLabApp(LeanFrames, QuickThemeLookup, WorkloadActions, App[int]):
    """madvise-lab: RSS, heap and LazyFree of each workload, a chart of the focused one, and the GC trace."""

    CSS_PATH = "app.tcss"
    TITLE = "madvise-lab"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = KEY_BINDINGS  # tui/keys.py: every key, and what it calls

    view_paused: reactive[bool] = reactive(False, bindings=True)
    focused_workload: reactive[str | None] = reactive(None, bindings=True)

    def __init__(self, lab: Source, system_info: SystemInfo, *, redraw_interval_s: float = 0.25,
                 sample_interval_s: float = 0.1, trace_lines: int = 2000, alloc_bytes: int = 64 * MiB,
                 chart_interval_s: float = CHART_INTERVAL_S, clock: Callable[[], float] = time.monotonic,
                 mem_available: Callable[[], int] = read_mem_available_bytes, start_lab: bool = True) -> None:
        super().__init__()
        self.lab, self.system_info = lab, system_info
        self.redraw_interval_s, self.sample_interval_s = redraw_interval_s, sample_interval_s
        self.trace_lines, self.alloc_bytes, self.chart_interval_s = trace_lines, alloc_bytes, chart_interval_s
        self.clock, self._mem_available, self._start_lab = clock, mem_available, start_lab
        self.names: tuple[str, ...] = tuple(lab.names)
        self._shown_versions: dict[str, object] = {}
        self.chart_pacer = ChartPacer(chart_interval_s)
        self._chart_timer: Timer | None = None
        self._poll_timer: TimerHandle | None = None  # a loop timer: one per frame (tui/frames.py)
        self._last_poll_s = self._last_urgent_poll_s = -1e9
        self._poll_due_s = -1e9  # when the pending poll timer fires
        self._wake = PendingOnce(lambda: self.call_from_any_thread(self._lab_changed))  # one until it has run
        self._held_trace: deque[TraceLine] = deque(maxlen=trace_lines)
        # repeated release/re-touch lines become one a second on screen (record's trace.log keeps every line)
        self._coalescer = TraceCoalescer()
        self._mem_available_bytes = system_info.mem_available_bytes
        self._mem_read_s, self._header_key = -1e9, ()  # the header's last (memory, seconds, pause, steps)
        self._epoch = lab.epoch
        self._compact = self._stopped = self.heapmap_shown = False
        self.poll_count = 0
        self._painted: list[Any] = []  # the widgets a poll can change, painted in its wake-up (on_mount)

    # ── layout ────────────────────────────────────────────────────────────────
    def compose(self) -> ComposeResult:
        yield LabHeader(id="header")
        with PanelGrid(id="panels"):
            for name in self.names:
                yield WorkloadPanel(name, id=f"panel-{name}")
        # chart and trace each in a box of their own size (app.tcss sizes the boxes, the compact layout hides them)
        with Container(id="view-box"):
            chart = MemoryChart(id="chart")
            chart.border_title = "chart"
            yield chart
            heap_map = HeapMapView(id="heapmap")
            heap_map.border_title = "heap map"
            yield heap_map
        with Container(id="trace-box"):
            yield TracePane(self.names, max_lines=self.trace_lines, id="trace")
        yield BoundedFooter()

    def on_mount(self) -> None:
        self._painted = list(self.query("LabHeader, WorkloadPanel, MemoryChart, HeapMapView, TracePane"))
        # a class, not an inline style, so the compact layout's CSS can still stack the panels
        self.query_one("#panels").set_class(len(self.names) == 1, "-single").set_class(
            len(self.names) > MANY_WORKLOADS, "-many")
        self._apply_compact(self.size.width, self.size.height)
        if self._start_lab:
            self.lab.start()
        if self.names:
            self.query_one(f"#panel-{self.names[0]}", WorkloadPanel).focus()
        refusal = self.lab_refusal("pressure")
        if refusal:
            self.query_one(TracePane).write_trace([TraceLine(0.0, "lab", f"lab: {refusal}", "lab")])
        quit_on_signals(self)  # SIGTERM, SIGHUP (terminal closed) quit like q: no workload survives
        self.set_interval(FALLBACK_POLL_S, self._schedule_poll)
        self._poll_now()
        self.call_after_refresh(gc.freeze)  # start-up's objects live as long as the app: no full GC walks them (29 ms)

    def on_resize(self, event: Any) -> None:
        self._apply_compact(event.size.width, event.size.height)

    def _apply_compact(self, width: int, height: int) -> None:
        compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        if compact != self._compact or self.screen.has_class("-compact") != compact:
            self._compact = compact
            self.screen.set_class(compact, "-compact")
            if not compact:
                self.chart_pacer.version = None  # the chart was hidden: draw it again
                self._schedule_chart()

    # ── notifications and polling ───────────────────────────────────────────
    def lab_notify(self) -> None:
        """Called by the source from any thread: at most one _lab_changed on the loop until it has run."""
        self._wake()

    def _lab_changed(self) -> None:
        self._wake.handled()
        self._schedule_poll(urgent=self.lab.urgent)

    def _schedule_poll(self, urgent: bool = False) -> None:
        """Poll when the frame is due: urgent news at once but at most every URGENT_FRAME_S (a lone release shows
        now, a churn of them 5 times a second), the rest redraw_interval after the last poll (≤ 1 pending timer)."""
        now_s = self.clock()
        due_s = (max(now_s, self._last_urgent_poll_s + URGENT_FRAME_S) if urgent
                 else self._last_poll_s + self.redraw_interval_s)
        if self._poll_timer is not None:
            if due_s >= self._poll_due_s:
                return  # the pending frame comes first
            self._poll_timer.cancel()
        if urgent:
            self._last_urgent_poll_s = due_s
        if due_s <= now_s:
            self._poll_timer = None
            self._poll_now()
        else:
            self._poll_due_s = due_s
            self._poll_timer = self.loop_timer(due_s - now_s, self._poll_from_timer)

    def _poll_from_timer(self) -> None:
        self._poll_timer = None
        self._poll_now()

    def _poll_now(self) -> None:
        if self._stopped:
            return
        self._last_poll_s = self.clock()
        self.poll_count += 1
        self.apply_update(self.lab.poll())
        self.paint_now(self._painted)  # in this wake-up, not in a frame timer's (tui/frames.py)

    def apply_update(self, update: LabUpdate) -> None:
        """Hand what the poll brought to the widgets, inside one batch (one repaint)."""
        if update.statuses:
            self.refresh_bindings()  # e.g. a workload died: grey out its actions
        if self.lab.epoch != self._epoch:
            # the source rebuilt its history (a replay seeking back): the trace pane starts over
            self._epoch = self.lab.epoch
            self._held_trace.clear()
            self.query_one(TracePane).clear()
        if update.more:
            self._schedule_poll(urgent=True)  # the source holds more than one poll applies: next frame
        lines = self._coalescer.feed(update.trace_lines) + self._coalescer.due(float(self.lab.t_s()))
        if self.view_paused:
            self._held_trace.extend(lines)
            return
        with self.batch_update():  # one frame; it renders only the widgets that changed (tui/frames.py)
            self.refresh_view()
            pane = self.query_one_optional(TracePane)  # none while the screen is torn down
            if lines and pane is not None:
                pane.write_trace(lines)

    def refresh_view(self) -> None:
        """Panels whose visible state changed, the header, and the chart (or the heap map) when due."""
        self._refresh_panels(*self.names)
        self._refresh_header()
        self._schedule_chart()
        if self.heapmap_shown:
            self.refresh_heapmap()

    def _refresh_panels(self, *names: str) -> None:
        grid = self.query_one_optional(PanelGrid)
        for name in names:
            panel = self.query_one_optional(f"#panel-{name}", WorkloadPanel)
            if panel is None or grid is None or not grid.shows(panel):
                continue  # scrolled out of view (built when it scrolls in), or the screen is being torn down
            series, status = self.lab.series(name), self.lab.status(name)
            key = (id(series), panel_state(series), status, panel.size.width)
            if self._shown_versions.get(name) != key:
                self._shown_versions[name] = key
                panel.show(panel_view(name, series, status, panel.spark_cells, self.sample_interval_s,
                                      self.lab.native(name)))

    def _refresh_header(self) -> None:
        now_s = self.clock()
        if now_s - self._mem_read_s >= MEM_AVAILABLE_EVERY_S:
            self._mem_read_s = now_s
            self._mem_available_bytes = self._mem_available()
        # tenths of a second would repaint the header on every poll: whole seconds are enough
        upcoming = self.lab.upcoming(2)
        key = (self._mem_available_bytes, int(self.lab.t_s()), self.view_paused, upcoming)
        header = self.query_one_optional(LabHeader)
        if header is not None and key != self._header_key:  # the text is built only when it can differ
            self._header_key = key
            header.show(header_text(self.system_info, *key))

    # ── chart ────────────────────────────────────────────────────────────────
    def _schedule_chart(self) -> None:
        chart = self.query_one_optional(MemoryChart)
        if self._compact or self.view_paused or self.heapmap_shown or self.focused_workload is None \
                or self._chart_timer is not None or chart is None:
            return
        signature = chart_signature(self.focused_workload, self.lab.series(self.focused_workload), chart.size.height)
        delay_s = self.chart_pacer.delay_s(signature, self.clock(), chart.build_s)
        if delay_s == 0:
            self.draw_chart()
        elif delay_s is not None:
            self._chart_timer = self.set_timer(delay_s, self._chart_from_timer)

    def _chart_from_timer(self) -> None:
        self._chart_timer = None
        if not (self._compact or self.view_paused or self._stopped):
            self.draw_chart()

    def draw_chart(self) -> None:
        name = self.focused_workload
        chart = self.query_one_optional(MemoryChart)
        if name is None or chart is None:
            return  # nothing focused, or the screen is being torn down (a timer can fire during shutdown)
        series = self.lab.series(name)
        self.chart_pacer.drawn(chart_signature(name, series, chart.size.height), self.clock())
        chart.border_title = f"chart: {name}"
        chart.draw(chart_view(name, series))

    def on_workload_panel_resized(self, event: WorkloadPanel.Resized) -> None:
        if not self.view_paused:
            self._refresh_panels(event.panel.workload)

    def on_panel_grid_scrolled(self, _: PanelGrid.Scrolled) -> None:
        if not self.view_paused:
            self._refresh_panels(*self.names)

    # ── focus ────────────────────────────────────────────────────────────────
    def on_descendant_focus(self, event: Any) -> None:
        if isinstance(event.widget, WorkloadPanel):
            self.focused_workload = event.widget.workload

    def watch_focused_workload(self, _old: str | None, _new: str | None) -> None:
        self.chart_pacer.drawn_s = -1e9  # a new focus draws at once
        if self.is_running and self.heapmap_shown:
            self.refresh_heapmap()
        if self._chart_timer is not None:
            self._chart_timer.stop()
            self._chart_timer = None
        if self.is_running:
            self._schedule_chart()

    def watch_view_paused(self, paused: bool) -> None:
        if not self.is_running:
            return
        if paused:
            self._refresh_header()
            return
        held = list(self._held_trace)
        self._held_trace.clear()
        with self.batch_update():
            if held:
                self.query_one(TracePane).write_trace(held)
            self.refresh_view()

    def stop_lab(self) -> None:
        """Stop every workload once (q, Ctrl+C, SIGTERM, SIGHUP, or leaving run())."""
        if not self._stopped:
            self._stopped = True
            self.lab.stop()

    def on_unmount(self) -> None:
        self.stop_lab()
        gc.unfreeze()  # another app in this process (tests) starts with a collector that sees everything again
