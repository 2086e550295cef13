"""What the workload keys do: each app action calls one source method, greyed with the source's reason."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tui.core.model import TraceLine
from tui.widgets.heapmap import HeapMapView
from tui.widgets.mode_picker import ModePicker
from tui.widgets.panel import WorkloadPanel
from tui.widgets.trace import TracePane

# app action → the source method it calls; the source's `can(method)` says whether it applies (attach and replay
# refuse them). All but restart need the focused workload alive.
LAB_METHOD = {"toggle_madvise": "set_madvise", "pick_madvise": "set_madvise", "gc": "gc", "scavenge": "scavenge",
              "alloc": "alloc", "free_all": "free", "pressure": "pressure", "release_pressure": "release_pressure",
              "restart": "restart", "explain": "explain"}
_TOGGLE = {"MADV_FREE": "MADV_DONTNEED"}
# Keys that are greyed when the source refuses them, and say the reason when pressed anyway.
GREYED_KEYS_SAY_WHY = {"p": "pressure", "P": "release_pressure"}


# The dashboard's keys (MadviseLabApp.BINDINGS); each has an id, shows in the footer and the palette.
KEY_BINDINGS = [
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
    Binding("h", "toggle_heapmap", "Heap map", id="view.heapmap",
            tooltip="Swap the chart for the focused workload's heap map (and back)"),
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


class WorkloadActions:
    """The app's key actions (mixed into MadviseLabApp, whose BINDINGS name them): workloads, view, focus, help."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in LAB_METHOD:
            name = self.focused_workload
            if len(self.screen_stack) > 1:
                return False
            if name is None or self.lab_refusal(action) is not None:
                return None
            if action != "restart" and self.lab.status(name).state == "exited":
                return None
        return True

    def lab_refusal(self, action: str) -> str | None:
        """The source's reason for refusing an app action, or None when it allows it."""
        answer = self.lab.can(LAB_METHOD[action], self.focused_workload)
        return None if answer is True else str(answer)

    def on_key(self, event: Any) -> None:
        # A greyed p or P still answers: pressing it where pressure cannot act says why, never nothing.
        action = GREYED_KEYS_SAY_WHY.get(event.character or "")
        name = self.focused_workload
        if action is None or len(self.screen_stack) > 1 or name is None:
            return
        refusal = self.lab_refusal(action)
        if refusal:
            self.notify(refusal, severity="warning")
            self.query_one(TracePane).write_trace([TraceLine(float(self.lab.t_s()), name, f"lab: {refusal}", "error")])

    def _lab_call(self, what: str, method: Callable[..., Any], *args: Any) -> None:
        """Run a source command on the focused workload; a refusal becomes a notification and a trace line."""
        name = self.focused_workload
        if name is None:
            return
        try:
            method(name, *args)
        except Exception as error:  # noqa: BLE001 - any refusal is shown to the user
            message = f"lab: {what} failed: {error}"
            self.notify(message, severity="error")
            self.query_one(TracePane).write_trace([TraceLine(float(self.lab.t_s()), name, message, "error")])
        self._schedule_poll(urgent=True)

    def _workload_mode(self, name: str) -> str:
        latest = self.lab.series(name).latest
        return latest.madvise if latest is not None and latest.madvise else self.lab.status(name).madvise

    def action_toggle_madvise(self) -> None:
        if self.focused_workload:
            mode = _TOGGLE.get(self._workload_mode(self.focused_workload), "MADV_FREE")
            self._lab_call(f"set_madvise {mode}", self.lab.set_madvise, mode)

    def action_pick_madvise(self) -> None:
        name = self.focused_workload
        if name is None:
            return

        def picked(mode: str | None) -> None:
            if mode:
                self._lab_call(f"set_madvise {mode}", self.lab.set_madvise, mode)
        self.push_screen(ModePicker(name, self._workload_mode(name), self.system_info.swap_total_bytes), picked)

    # the source's commands never block: restart and pressure run on its own threads
    def action_gc(self) -> None: self._lab_call("gc", self.lab.gc)
    def action_scavenge(self) -> None: self._lab_call("scavenge", self.lab.scavenge)
    def action_alloc(self) -> None: self._lab_call("alloc", self.lab.alloc, self.alloc_bytes)
    def action_free_all(self) -> None: self._lab_call("free", self.lab.free)
    def action_pressure(self) -> None: self._lab_call("pressure", self.lab.pressure)
    def action_release_pressure(self) -> None: self._lab_call("release pressure", self.lab.release_pressure)
    def action_restart(self) -> None: self._lab_call("restart", self.lab.restart)

    def action_explain(self) -> None:
        name = self.focused_workload
        if name:
            from tui.widgets.explain import ExplainScreen  # on first use, like help

            self.push_screen(ExplainScreen(name, lambda: self.lab.status(name).pid))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: Textual's own commands, then every key of ours that has a tooltip, greyed like the key."""
        yield from super().get_system_commands(screen)
        ours = [binding for cls in reversed(type(self).__mro__) if issubclass(cls, WorkloadActions)
                for binding in cls.__dict__.get("BINDINGS", ())]
        for binding in ours:
            if not isinstance(binding, Binding) or not binding.tooltip:
                continue
            action = binding.action.split("(")[0]
            title = f"{binding.description} ({binding.key_display or binding.key})"
            if self.check_action(action, ()) is True:
                yield SystemCommand(title, binding.tooltip, getattr(self, f"action_{action}"))
            elif action in LAB_METHOD and self.lab_refusal(action):
                yield SystemCommand(f"{title} (unavailable)", str(self.lab_refusal(action)), lambda: None)

    # ── view, focus, help, quit ──────────────────────────────────────────────
    def action_focus_panel(self, step: int) -> None:
        if not self.names or len(self.screen_stack) > 1:
            return
        current = self.focused_workload
        index = self.names.index(current) if current in self.names else -1
        self.query_one(f"#panel-{self.names[(index + step) % len(self.names)]}", WorkloadPanel).focus()

    def action_toggle_view_pause(self) -> None:
        self.view_paused = not self.view_paused

    def action_help(self) -> None:
        # imported on first use: the Markdown widget (markdown-it, pygments) costs ~4 MiB of RSS
        from tui.widgets.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self.stop_lab()
        self.exit(0)

    def action_toggle_heapmap(self) -> None:
        """Swap the chart area for the focused workload's heap map, and back."""
        self.heapmap_shown = not self.heapmap_shown
        self.screen.set_class(self.heapmap_shown, "-heapmap")
        if self.heapmap_shown:
            self.refresh_heapmap()
        else:
            self.chart_pacer.version = None  # the chart was hidden: draw it again
            self._schedule_chart()

    def refresh_heapmap(self) -> None:
        """Every poll while shown; the source reads pagemap at most once a second (else returns its last map)."""
        view = self.query_one_optional(HeapMapView)
        name = self.focused_workload
        if not self.heapmap_shown or self.view_paused or self._stopped or name is None or view is None:
            return
        view.border_title = f"heap map: {name}"
        heap_map = self.lab.heapmap(name)
        if heap_map is not None:
            view.show(heap_map)
            return
        state = self.lab.status(name).state
        view.show(None, f"no heap map yet: {name} is {state}" if state != "running"
                  else f"no heap map yet: waiting for {name}'s span map")
