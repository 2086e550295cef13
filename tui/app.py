"""The live dashboard: wires a Lab to the widgets; polls on notification, redraws only what changed."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from tui.core.model import LabUpdate, TraceLine, WorkloadStatus
from tui.core.kernel.system import SystemInfo, read_mem_available_bytes
from tui.messages import LabChanged
from tui.widgets.chart import ChartView, MemoryChart
from tui.widgets.format import MiB
from tui.widgets.header import LabHeader, header_text
from tui.widgets.mode_picker import ModePicker
from tui.widgets.panel import PanelView, WorkloadPanel
from tui.widgets.trace import TracePane

# one sparkline cell covers this much time, so a panel shows tens of seconds, not a few
SPARK_CELL_S = 1.0
# the chart is the costliest widget (plotext rebuilds its whole canvas): at most this often
CHART_INTERVAL_S = 1.0
# with steady figures the chart only needs to extend its time axis now and then
CHART_STEADY_S = 5.0
# without notifications (timeline steps, elapsed time) the app still polls this often
FALLBACK_POLL_S = 1.0
MEM_AVAILABLE_EVERY_S = 2.0
COMPACT_WIDTH = 100
COMPACT_HEIGHT = 30

# app action → the lab method it calls; the lab's `can(method)` says whether it applies (attach and replay
# refuse most). All but restart need the focused workload alive.
LAB_METHOD = {"toggle_madvise": "set_madvise", "pick_madvise": "set_madvise", "gc": "gc", "scavenge": "scavenge",
              "alloc": "alloc", "free_all": "free", "pressure": "pressure", "release_pressure": "release_pressure",
              "restart": "restart", "explain": "explain"}
_TOGGLE = {"MADV_FREE": "MADV_DONTNEED"}


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


class MadviseLabApp(App[int]):
    """madvise-lab: RSS, heap and LazyFree of each workload, a chart of the focused one, and the GC trace."""

    CSS_PATH = "app.tcss"
    TITLE = "madvise-lab"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("m", "toggle_madvise", "FREE⇄DONTNEED", id="madvise.toggle",
                tooltip="Toggle the focused workload between MADV_FREE and MADV_DONTNEED"),
        Binding("M", "pick_madvise", "Mode…", id="madvise.pick", tooltip="Pick any madvise mode"),
        Binding("g", "gc", "GC", id="workload.gc", tooltip="Force a garbage collection now"),
        Binding("s", "scavenge", "Scavenge", id="workload.scavenge", tooltip="Return idle heap pages now"),
        Binding("a", "alloc", "Alloc", id="workload.alloc", tooltip="Allocate a burst (alloc_bytes)"),
        Binding("f", "free_all", "Free", id="workload.free", tooltip="Free everything the workload holds"),
        Binding("p", "pressure", "Pressure", id="workload.pressure",
                tooltip="Lower the workload's cgroup limit so the kernel reclaims LazyFree pages"),
        Binding("P", "release_pressure", "Release", id="workload.release_pressure",
                tooltip="Lift the memory limit again"),
        Binding("space", "toggle_view_pause", "Pause view", id="view.pause",
                tooltip="Freeze the screen; sampling continues"),
        Binding("r", "restart", "Restart", id="workload.restart", tooltip="Restart the focused workload"),
        Binding("e", "explain", "Explain", id="workload.explain",
                tooltip="Where the focused process's RSS is, who holds it, and the knob (reads smaps once)"),
        Binding("tab", "focus_panel(1)", "Next", id="focus.next", priority=True, show=False),
        Binding("shift+tab", "focus_panel(-1)", "Prev", id="focus.prev", priority=True, show=False),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="What every figure means"),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Quit and stop every workload"),
        Binding("ctrl+c", "quit", "Quit", id="app.quit_ctrl_c", priority=True, show=False),
    ]

    view_paused: reactive[bool] = reactive(False, bindings=True)
    focused_workload: reactive[str | None] = reactive(None, bindings=True)

    def __init__(
        self,
        lab: Any,
        system_info: SystemInfo,
        *,
        redraw_interval_s: float = 0.25,
        sample_interval_s: float = 0.1,
        trace_lines: int = 2000,
        alloc_bytes: int = 64 * MiB,
        chart_interval_s: float = CHART_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        mem_available: Callable[[], int] = read_mem_available_bytes,
        start_lab: bool = True,
    ) -> None:
        super().__init__()
        self.lab = lab
        self.system_info = system_info
        self.redraw_interval_s = redraw_interval_s
        self.sample_interval_s = sample_interval_s
        self.trace_lines = trace_lines
        self.alloc_bytes = alloc_bytes
        self.chart_interval_s = chart_interval_s
        self.clock = clock
        self._mem_available = mem_available
        self._start_lab = start_lab
        self.names: tuple[str, ...] = tuple(lab.names)
        self._statuses: dict[str, WorkloadStatus] = {}
        self._shown_versions: dict[str, object] = {}
        self._chart_version: object = None
        self._chart_drawn_s = -1e9
        self._chart_timer: Timer | None = None
        self._poll_timer: Timer | None = None
        self._last_poll_s = -1e9
        self._notify_lock = threading.Lock()
        self._notify_pending = False
        self._held_trace: deque[TraceLine] = deque(maxlen=trace_lines)
        self._mem_available_bytes = system_info.mem_available_bytes
        self._mem_read_s = -1e9
        self._compact = False
        self._stopped = False
        self.poll_count = 0

    # ── layout ────────────────────────────────────────────────────────────────
    def compose(self) -> ComposeResult:
        yield LabHeader(id="header")
        with Container(id="panels"):
            for name in self.names:
                yield WorkloadPanel(name, id=f"panel-{name}")
        chart = MemoryChart(id="chart")
        chart.border_title = "chart"
        yield chart
        yield TracePane(self.names, max_lines=self.trace_lines, id="trace")
        yield Footer()

    def on_mount(self) -> None:
        # a class, not an inline style, so the compact layout's CSS can still stack the panels
        self.query_one("#panels").set_class(len(self.names) == 1, "-single")
        self._apply_compact(self.size.width, self.size.height)
        self._install_signal_handlers()
        if self._start_lab:
            self.lab.start()
        if self.names:
            self.query_one(f"#panel-{self.names[0]}", WorkloadPanel).focus()
        refusal = self.lab_refusal("pressure")
        if refusal:
            self.query_one(TracePane).write_trace([TraceLine(0.0, "lab", f"lab: {refusal}", "lab")])
        self.set_interval(FALLBACK_POLL_S, self._schedule_poll)
        self._poll_now()

    def on_resize(self, event: Any) -> None:
        self._apply_compact(event.size.width, event.size.height)

    def _apply_compact(self, width: int, height: int) -> None:
        compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        if compact != self._compact or self.screen.has_class("-compact") != compact:
            self._compact = compact
            self.screen.set_class(compact, "-compact")
            if not compact:
                self._chart_version = None  # the chart was hidden: draw it again
                self._schedule_chart()

    def _install_signal_handlers(self) -> None:
        """SIGTERM and SIGHUP (terminal closed) quit like `q`, so lab.stop() runs and no workload survives."""
        try:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(signum, self._quit_from_signal, signum)
        except (RuntimeError, NotImplementedError, ValueError):
            pass  # not the main thread (e.g. tests): the caller's finally still stops the lab

    def _quit_from_signal(self, signum: int = signal.SIGTERM) -> None:
        from tui.terminal import exit_if_still_running

        self.stop_lab()
        exit_if_still_running(128 + signum)  # a dead terminal must not keep us (tui/terminal.py)
        self.exit(0)

    # ── notifications and polling ───────────────────────────────────────────
    def lab_notify(self, *_: Any) -> None:
        """Called by the lab from any thread: post at most one LabChanged until the app handles it."""
        with self._notify_lock:
            if self._notify_pending:
                return
            self._notify_pending = True
        if not self.post_message(LabChanged()):
            with self._notify_lock:
                self._notify_pending = False

    def on_lab_changed(self, _: LabChanged) -> None:
        with self._notify_lock:
            self._notify_pending = False
        if getattr(self.lab, "urgent", False):
            # a release, marker, status change or a sample that moved > 1 MiB: show it now, not up to
            # redraw_interval later; the steady trickle of samples stays throttled
            if self._poll_timer is not None:
                self._poll_timer.stop()
                self._poll_timer = None
            self._poll_now()
            return
        self._schedule_poll()

    def _schedule_poll(self) -> None:
        """Poll now, or as soon as redraw_interval has passed since the last poll (≤ 1 pending timer)."""
        if self._poll_timer is not None:
            return
        delay_s = self._last_poll_s + self.redraw_interval_s - self.clock()
        if delay_s <= 0:
            self._poll_now()
        else:
            self._poll_timer = self.set_timer(delay_s, self._poll_from_timer)

    def _poll_from_timer(self) -> None:
        self._poll_timer = None
        self._poll_now()

    def _poll_now(self) -> None:
        if self._stopped:
            return
        self._last_poll_s = self.clock()
        self.poll_count += 1
        update: LabUpdate = self.lab.poll()
        self.apply_update(update)

    def apply_update(self, update: LabUpdate) -> None:
        """Hand what the poll brought to the widgets, inside one batch (one repaint)."""
        for status in update.statuses:
            self._statuses[status.name] = status
        if update.statuses:
            self.refresh_bindings()  # e.g. a workload died: grey out its actions
        if self.view_paused:
            self._held_trace.extend(update.trace_lines)
            return
        with self.batch_update():
            if update.trace_lines:
                self.query_one(TracePane).write_trace(update.trace_lines)
            self.refresh_view()

    def refresh_view(self) -> None:
        """Panels whose series or status changed, the header, and the chart when due."""
        for name in self.names:
            self._refresh_panel(name)
        self._refresh_header()
        self._schedule_chart()

    def _status(self, name: str) -> WorkloadStatus:
        status = self._statuses.get(name)
        if status is None:
            status = self._statuses[name] = self.lab.status(name)
        return status

    def _refresh_panel(self, name: str) -> None:
        panel = self.query_one(f"#panel-{name}", WorkloadPanel)
        series = self.lab.series(name)
        status = self._status(name)
        key = (id(series), self._visible_state(series), status, panel.size.width)
        if self._shown_versions.get(name) == key:
            return
        self._shown_versions[name] = key
        panel.show(self.panel_view(name, series, status, panel.spark_cells))

    @staticmethod
    def _visible_state(series: Any) -> object:
        """What a panel can show differently: the newest sparkline cell's bucket and the latest sample's figures.

        A sample that repeats the last figures inside the same cell changes nothing on screen (every older cell is
        fixed), so the panel is not rebuilt for it: steady memory rebuilds a panel once per cell, not per sample.
        """
        latest = series.latest
        if latest is None:
            return None
        return (int(latest.t_s // SPARK_CELL_S), latest.kernel, latest.heap, latest.madvise)

    def panel_view(self, name: str, series: Any, status: WorkloadStatus, cells: int) -> PanelView:
        cells = max(1, cells)
        # a little more than enough samples: sampling can run late, never early
        n = int(cells * SPARK_CELL_S / max(self.sample_interval_s, 1e-3) * 1.2) + 2
        picked = bucket_last(series.column("t_s", n), SPARK_CELL_S, cells)

        def cells_of(column: str) -> tuple[float, ...]:
            values = series.column(column, n)
            return tuple(values[i] for i in picked if i < len(values))

        latest = series.latest
        heap = latest.heap if latest is not None else None
        kernel = latest.kernel if latest is not None else None
        native = self.lab.native(name) if hasattr(self.lab, "native") else None  # attach and replay have none
        absent = native.absent if native is not None else ()
        madvise = status.madvise
        if latest is not None and latest.madvise and status.state != "exited":
            madvise = latest.madvise
        return PanelView(
            name=name,
            pid=status.pid,
            state=status.state,
            exit_code=status.exit_code,
            madvise=madvise,
            last_error=status.last_error,
            history=(
                ("rss", cells_of("rss_bytes")),
                ("inuse", cells_of("heap_inuse_bytes")),
                ("released", cells_of("heap_released_bytes")),
                ("lazyfree", cells_of("lazyfree_bytes")),
            ),
            current=(
                ("rss", kernel.rss_bytes if kernel else None),
                ("inuse", heap.heap_inuse_bytes if heap and "heap_inuse_bytes" not in absent else None),
                ("released", heap.heap_released_bytes if heap and "heap_released_bytes" not in absent else None),
                ("lazyfree", kernel.lazyfree_bytes if kernel else None),
            ),
            footprint_bytes=kernel.footprint_bytes if kernel else None,
            idle_bytes=heap.heap_idle_bytes if heap and "heap_idle_bytes" not in absent else None,
            absent=absent,
            allocator=native.allocator if native is not None else "",
            sys_bytes=heap.heap_sys_bytes if heap else None,
            gc_count=heap.gc_count if heap else None,
            runtime=status.runtime,
        )

    def _refresh_header(self) -> None:
        now_s = self.clock()
        if now_s - self._mem_read_s >= MEM_AVAILABLE_EVERY_S:
            self._mem_read_s = now_s
            self._mem_available_bytes = self._mem_available()
        upcoming: Iterable[object] = ()
        if hasattr(self.lab, "upcoming"):
            upcoming = tuple(self.lab.upcoming(2))
        elapsed_s = float(self.lab.t_s())
        # tenths of a second would repaint the header on every poll: whole seconds are enough
        text = header_text(self.system_info, self._mem_available_bytes, int(elapsed_s), self.view_paused,
                           tuple(upcoming))
        self.query_one(LabHeader).show(text)

    # ── chart ────────────────────────────────────────────────────────────────
    def _schedule_chart(self) -> None:
        if self._compact or self.view_paused or self.focused_workload is None or self._chart_timer is not None:
            return
        series = self.lab.series(self.focused_workload)
        signature = self._chart_signature(self.focused_workload, series)
        if signature == self._chart_version:
            return
        now_s = self.clock()
        if self._chart_version is not None and signature[:-1] == self._chart_version[:-1] \
                and now_s - self._chart_drawn_s < CHART_STEADY_S:
            return  # only the time axis moved: wait, the plotext rebuild is the costliest thing we draw
        delay_s = self._chart_drawn_s + self.chart_interval_s - now_s
        if delay_s <= 0:
            self.draw_chart()
        else:
            self._chart_timer = self.set_timer(delay_s, self._chart_from_timer)

    @staticmethod
    def _chart_signature(name: str, series: Any) -> tuple[object, ...]:
        """What the chart would show differently: the workload, latest figures (to 1 MiB), markers; version last."""
        latest = series.latest
        figures: tuple[int, ...] = ()
        if latest is not None:
            heap = latest.heap
            figures = (latest.kernel.rss_bytes >> 20, latest.kernel.lazyfree_bytes >> 20,
                       (heap.heap_inuse_bytes >> 20) if heap else -1, (heap.heap_released_bytes >> 20) if heap else -1)
        markers = series.markers
        last_marker = markers[-1] if markers else None
        return (name, figures, len(markers), last_marker, series.version)

    def _chart_from_timer(self) -> None:
        self._chart_timer = None
        if not (self._compact or self.view_paused or self._stopped):
            self.draw_chart()

    def draw_chart(self) -> None:
        name = self.focused_workload
        if name is None:
            return
        series = self.lab.series(name)
        self._chart_version = self._chart_signature(name, series)
        self._chart_drawn_s = self.clock()
        charts = self.query(MemoryChart)
        if not charts:
            return  # the screen is being torn down (a timer can fire during shutdown)
        chart = charts.first()
        chart.border_title = f"chart: {name}"
        chart.draw(ChartView(
            workload=name,
            t_s=tuple(series.column("t_s")),
            figures=(
                ("rss", tuple(series.column("rss_bytes"))),
                ("inuse", tuple(series.column("heap_inuse_bytes"))),
                ("released", tuple(series.column("heap_released_bytes"))),
                ("lazyfree", tuple(series.column("lazyfree_bytes"))),
            ),
            markers=tuple(series.markers),
        ))

    def on_workload_panel_resized(self, event: WorkloadPanel.Resized) -> None:
        if not self.view_paused:
            self._refresh_panel(event.panel.workload)

    # ── focus ────────────────────────────────────────────────────────────────
    def on_descendant_focus(self, event: Any) -> None:
        widget = event.widget if hasattr(event, "widget") else None
        if isinstance(widget, WorkloadPanel):
            self.focused_workload = widget.workload

    def watch_focused_workload(self, _old: str | None, _new: str | None) -> None:
        self._chart_drawn_s = -1e9  # a new focus draws at once
        if self._chart_timer is not None:
            self._chart_timer.stop()
            self._chart_timer = None
        if self.is_running:
            self._schedule_chart()

    def action_focus_panel(self, step: int) -> None:
        if not self.names or len(self.screen_stack) > 1:
            return
        current = self.focused_workload
        index = self.names.index(current) if current in self.names else -1
        name = self.names[(index + step) % len(self.names)]
        self.query_one(f"#panel-{name}", WorkloadPanel).focus()

    # ── keys ─────────────────────────────────────────────────────────────────
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in LAB_METHOD:
            if len(self.screen_stack) > 1:
                return False
            name = self.focused_workload
            if name is None:
                return None
            if action != "restart" and self._statuses.get(name) is not None \
                    and self._statuses[name].state == "exited":
                return None
            if self.lab_refusal(action) is not None:
                return None
        return True

    def lab_refusal(self, action: str) -> str | None:
        """The lab's reason for refusing an app action, or None when it allows it."""
        answer = self.lab.can(LAB_METHOD[action], self.focused_workload)
        return None if answer is True else str(answer)

    def _lab_call(self, what: str, method: Callable[..., Any], *args: Any) -> None:
        """Run a lab command; a refusal becomes a notification and a trace line, never a crash."""
        try:
            method(*args)
        except Exception as error:  # noqa: BLE001 - any refusal is shown to the user
            message = f"lab: {what} failed: {error}"
            self.notify(message, severity="error")
            self.query_one(TracePane).write_trace([TraceLine(float(self.lab.t_s()), self.focused_workload or "lab",
                                                             message, "error")])
        self._schedule_poll()

    def _workload_mode(self, name: str) -> str:
        series = self.lab.series(name)
        if series.latest is not None and series.latest.madvise:
            return series.latest.madvise
        return self._status(name).madvise

    def action_toggle_madvise(self) -> None:
        name = self.focused_workload
        if name is None:
            return
        mode = _TOGGLE.get(self._workload_mode(name), "MADV_FREE")
        self._lab_call(f"set_madvise {mode}", self.lab.set_madvise, name, mode)

    def action_pick_madvise(self) -> None:
        name = self.focused_workload
        if name is None:
            return

        def picked(mode: str | None) -> None:
            if mode:
                self._lab_call(f"set_madvise {mode}", self.lab.set_madvise, name, mode)

        self.push_screen(ModePicker(name, self._workload_mode(name), self.system_info.swap_total_bytes), picked)

    def action_gc(self) -> None:
        if self.focused_workload:
            self._lab_call("gc", self.lab.gc, self.focused_workload)

    def action_scavenge(self) -> None:
        if self.focused_workload:
            self._lab_call("scavenge", self.lab.scavenge, self.focused_workload)

    def action_alloc(self) -> None:
        if self.focused_workload:
            self._lab_call("alloc", self.lab.alloc, self.focused_workload, self.alloc_bytes)

    def action_free_all(self) -> None:
        if self.focused_workload:
            self._lab_call("free", self.lab.free, self.focused_workload)

    # the lab's commands never block: restart and pressure run on the lab's own threads
    def action_pressure(self) -> None:
        if self.focused_workload:
            self._lab_call("pressure", self.lab.pressure, self.focused_workload)

    def action_release_pressure(self) -> None:
        if self.focused_workload:
            self._lab_call("release pressure", self.lab.release_pressure, self.focused_workload)

    def action_restart(self) -> None:
        if self.focused_workload:
            self._lab_call("restart", self.lab.restart, self.focused_workload)

    def action_explain(self) -> None:
        name = self.focused_workload
        if name:
            from tui.widgets.explain import ExplainScreen  # on first use, like help

            self.push_screen(ExplainScreen(name, lambda: self._status(name).pid))

    def action_toggle_view_pause(self) -> None:
        self.view_paused = not self.view_paused

    def watch_view_paused(self, paused: bool) -> None:
        if not self.is_running:
            return
        if not paused:
            held = list(self._held_trace)
            self._held_trace.clear()
            with self.batch_update():
                if held:
                    self.query_one(TracePane).write_trace(held)
                self.refresh_view()
        else:
            self._refresh_header()

    def action_help(self) -> None:
        # imported on first use: the Markdown widget (markdown-it, pygments) costs ~4 MiB of RSS
        from tui.widgets.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self.stop_lab()
        self.exit(0)

    def stop_lab(self) -> None:
        """Stop every workload once (q, Ctrl+C, SIGTERM, SIGHUP, or leaving run())."""
        if self._stopped:
            return
        self._stopped = True
        self.lab.stop()

    def on_unmount(self) -> None:
        self.stop_lab()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands = [
            ("Toggle MADV_FREE ⇄ MADV_DONTNEED", "Switch the focused workload's madvise mode", "toggle_madvise"),
            ("Pick a madvise mode", "FREE, DONTNEED, COLD, PAGEOUT, munmap, none", "pick_madvise"),
            ("GC now", "Force a garbage collection in the focused workload", "gc"),
            ("Scavenge now", "Return idle heap pages with the current mode", "scavenge"),
            ("Allocate a burst", f"Allocate {self.alloc_bytes // MiB} MiB in the focused workload", "alloc"),
            ("Free everything", "Drop everything the focused workload holds", "free_all"),
            ("Apply memory pressure", "Lower the cgroup limit so the kernel reclaims LazyFree", "pressure"),
            ("Release memory pressure", "Lift the cgroup limit", "release_pressure"),
            ("Pause / resume the view", "Freeze the screen; sampling continues", "toggle_view_pause"),
            ("Restart the focused workload", "Stop it and start it again", "restart"),
            ("Explain the focused process", "Where its RSS is, who holds it, what would change it", "explain"),
            ("Help: what the figures mean", "RSS, LazyFree, footprint, heap figures, modes, keys", "help"),
        ]
        for title, help_text, action in commands:
            if self.check_action(action, ()) is True:
                yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))
            elif action in LAB_METHOD and self.lab_refusal(action):
                yield SystemCommand(f"{title} (unavailable)", self.lab_refusal(action), lambda: None)


def create_app(config: Any, system_info: SystemInfo | None = None, lab_factory: Callable[..., Any] | None = None,
               **overrides: Any) -> MadviseLabApp:
    """A dashboard over a new Lab for `config`, its notifications wired to the app (run_dashboard, tests)."""
    from tui.core.sources.live import Lab
    from tui.core.kernel.system import read_system_info

    app_ref: list[MadviseLabApp] = []

    def notify(*_: Any) -> None:
        if app_ref:
            app_ref[0].lab_notify()

    lab = (lab_factory or Lab)(config, notify=notify)
    settings = {
        "redraw_interval_s": config.redraw_interval_s,
        "sample_interval_s": config.sample_interval_s,
        "trace_lines": config.trace_lines,
        "alloc_bytes": config.alloc_bytes,
        **overrides,
    }
    app = MadviseLabApp(lab, system_info or read_system_info(), **settings)
    app_ref.append(app)
    return app


def run_dashboard(args: Any) -> int:
    """`madvise-lab [run]`: load the config (errors exit 2 via the CLI), start the lab, run the app, stop the lab."""
    from tui.core.config import load_config
    from tui.core.export import start_metrics

    config = load_config(getattr(args, "config", None))
    metrics = start_metrics("run: --metrics", getattr(args, "metrics", None))  # a taken port exits 2 before the app
    try:
        app = create_app(config)
    except BaseException:
        if metrics is not None:
            metrics.stop()
        raise
    lab = app.lab
    if metrics is not None:
        metrics.attach(lab)

    from tui.terminal import exit_if_still_running, guard_terminal_writer

    # until the app's own handlers are in place (and after it returns), a signal still stops the lab
    def stop_and_exit(signum: int, _frame: Any) -> None:
        lab.stop()
        exit_if_still_running(128 + signum)
        raise SystemExit(128 + signum)

    previous = {signum: signal.signal(signum, stop_and_exit) for signum in (signal.SIGTERM, signal.SIGHUP)}
    guard_terminal_writer()
    try:
        result = app.run()
    finally:
        lab.stop()
        if metrics is not None:
            metrics.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return int(result or 0)
