"""`attach` and `replay` front ends: the live dashboard over an AttachLab or a ReplayLab, plus replay keys."""

from __future__ import annotations

import os
from typing import Any

from textual.binding import Binding

from tui.app import MadviseLabApp
from tui.core.sources.replay import ReplayLab
from tui.launch import run, wire
from tui.core.errors import UsageError
from tui.core.model import TraceLine
from tui.widgets.header import LabHeader, header_text
from tui.widgets.trace import TracePane

SEEK_S = 10.0
SEEK_FAR_S = 60.0


class WatchApp(MadviseLabApp):
    """The dashboard over a lab that may refuse actions: keys it refuses are greyed, the reason is shown once."""

    def on_mount(self) -> None:
        # Textual runs every class's on_mount in the MRO: no super() call here.
        reason = self.lab_refusal("toggle_madvise")
        if reason:
            self.query_one(TracePane).write_trace([TraceLine(0.0, "lab", f"lab: {reason} (mode, GC, scavenge, alloc,"
                                                                         " free and restart keys are off)", "lab")])


class ReplayApp(WatchApp):
    """The dashboard over a ReplayLab: space plays/pauses, ←/→ seek, x or 1/2/3 set the speed."""

    BINDINGS = [
        Binding("space", "toggle_playback", "Play/Pause", id="replay.pause", tooltip="Pause or resume the replay"),
        Binding("left", "seek(-10)", "−10s", id="replay.back", priority=True, tooltip="Seek back 10 seconds"),
        Binding("right", "seek(10)", "+10s", id="replay.forward", priority=True, tooltip="Seek forward 10 seconds"),
        Binding("shift+left", "seek(-60)", "−60s", id="replay.back_far", priority=True, show=False),
        Binding("shift+right", "seek(60)", "+60s", id="replay.forward_far", priority=True, show=False),
        Binding("x", "cycle_speed", "Speed", id="replay.speed", tooltip="Replay speed 1× → 10× → 60×"),
        Binding("1", "set_speed(1)", "1×", id="replay.speed1", show=False),
        Binding("2", "set_speed(10)", "10×", id="replay.speed10", show=False),
        Binding("3", "set_speed(60)", "60×", id="replay.speed60", show=False),
    ]

    lab: ReplayLab

    def on_mount(self) -> None:
        # A replay has no threads to notify the app: poll at the redraw rate so 1× plays smoothly.
        self.set_interval(self.redraw_interval_s, self._schedule_poll)
        self.query_one(TracePane).write_trace([TraceLine(0.0, "lab", (
            f"lab: replaying {self.lab.directory} ({self.lab.duration_s:.0f} s): space play/pause, ←/→ seek 10 s,"
            " shift+←/→ 60 s, x speed 1×/10×/60×"), "lab")])

    def _refresh_header(self) -> None:
        """The lab header, with the replay's length, speed and play state."""
        lab = self.lab
        state = "❚❚ paused" if lab.paused else "▶ playing"
        text = header_text(self.system_info, self._mem_available_bytes, int(lab.t_s()), self.view_paused, ())
        text.append(f"  replay of {lab.duration_s:.0f}s at {lab.speed:g}× {state} ", style="bold black on #80cbc4")
        self.query_one(LabHeader).show(text)

    def action_toggle_playback(self) -> None:
        self.lab.toggle_pause()
        self._poll_now()

    def action_seek(self, delta_s: float) -> None:
        self.lab.seek(float(delta_s))
        self._poll_now()

    def action_cycle_speed(self) -> None:
        self.lab.cycle_speed()
        self._poll_now()

    def action_set_speed(self, speed: float) -> None:
        self.lab.set_speed(float(speed))
        self._poll_now()


def _served() -> bool:
    """True when textual-serve runs us: stdin then carries the browser's keys, not a trace."""
    return "web_driver" in os.environ.get("TEXTUAL_DRIVER", "")


def trace_sources(traces: list[str] | None) -> list[str | int | None]:
    """`--trace` values → file paths, or the stdin pipe's fd for `-` (the terminal goes back on fd 0)."""
    from tui.core.sources.tail import detach_stdin_from_terminal

    sources: list[str | int | None] = []
    for value in traces or ():
        if value != "-":
            sources.append(value)
            continue
        if any(isinstance(v, int) for v in sources):
            raise UsageError("attach: --trace -: stdin can be read once; give the other traces as files")
        if _served():
            raise UsageError("attach: --trace -: under `serve` stdin carries the browser's keys; use --trace FILE")
        if os.isatty(0):
            raise UsageError("attach: --trace -: stdin is a terminal; pipe the trace in, e.g. "
                             "GODEBUG=gctrace=1 ./svc 2>&1 | madvise-lab attach PID --trace -")
        try:
            sources.append(detach_stdin_from_terminal())
        except OSError as error:
            raise UsageError(f"attach: --trace -: the keyboard needs a terminal (/dev/tty: {error.strerror})") from None
    return sources


def run_attach(args: Any) -> int:
    """`madvise-lab attach PID... [--trace FILE|-] [--name NAME]`: watch processes we did not start."""
    from tui.core.sources.attach import AttachLab, resolve_targets
    from tui.core.kernel.system import read_system_info

    resolve_targets(args.pids, args.name)  # a bad pid is one line before the terminal is touched
    app = wire(WatchApp(AttachLab(args.pids, names=args.name, traces=trace_sources(args.trace)), read_system_info()))
    app.title = "madvise-lab attach"
    return run(app)


def run_replay(args: Any) -> int:
    """`madvise-lab replay DIR`: play a record directory in the dashboard."""
    from tui.core.kernel.system import read_system_info

    lab = ReplayLab(args.dir)
    if args.speed:
        lab.set_speed(float(args.speed))
    app = wire(ReplayApp(lab, read_system_info()))
    app.title = "madvise-lab replay"
    return run(app)
