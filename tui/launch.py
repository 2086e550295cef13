"""Launching the dashboard over any source: the live lab, attached processes or a replay — signals, wake-ups, run."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from tui.app import MadviseLabApp
from tui.core.config import Config
from tui.core.kernel.system import SystemInfo, read_system_info
from tui.core.sources.base import Source
from tui.terminal import exit_if_still_running, guard_terminal_writer, idle_input


def wire(app: MadviseLabApp) -> MadviseLabApp:
    """The source wakes the app (from its threads) through the app's coalescing lab_notify."""
    app.lab.set_notify(app.lab_notify)
    return app


def create_app(config: Config, system_info: SystemInfo | None = None,
               lab_factory: Callable[[Config], Source] | None = None, **overrides: Any) -> MadviseLabApp:
    """A dashboard over a new live Lab for `config` (run_dashboard, tests, benchmarks)."""
    from tui.core.sources.live import Lab

    lab = (lab_factory or Lab)(config)
    settings = {"redraw_interval_s": config.redraw_interval_s, "sample_interval_s": config.sample_interval_s,
                "trace_lines": config.trace_lines, "alloc_bytes": config.alloc_bytes, **overrides}
    return wire(MadviseLabApp(lab, system_info or read_system_info(), **settings))


def run(app: MadviseLabApp, metrics: Any = None) -> int:
    """Run the app until it quits; whatever ends it (q, a signal, a crash), its source (and `metrics`) stop.

    The app installs SIGTERM/SIGHUP handlers on its event loop once mounted; until then (and after it returns)
    these plain handlers still stop the source, so no workload outlives the dashboard.
    """
    source = app.lab

    def stop_and_exit(signum: int, _frame: Any) -> None:
        source.stop()
        exit_if_still_running(128 + signum)
        raise SystemExit(128 + signum)

    previous = {signum: signal.signal(signum, stop_and_exit) for signum in (signal.SIGTERM, signal.SIGHUP)}
    guard_terminal_writer()  # a dead terminal must not block Textual's writer thread (tui/terminal.py)
    idle_input(app)  # nor an idle one wake Textual's input thread ten times a second
    try:
        return int(app.run() or 0)
    finally:
        source.stop()
        if metrics is not None:
            metrics.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_dashboard(args: Any) -> int:
    """`madvise-lab [run]`: load the config (errors exit 2 via the CLI), run the dashboard over a live Lab."""
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
    if metrics is not None:
        metrics.attach(app.lab)
    return run(app, metrics)
