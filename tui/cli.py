"""`madvise-lab` command line: parses subcommands and hands each to its front end; user errors exit 2."""

from __future__ import annotations

import argparse
import os
import sys

from tui.core.errors import UsageError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line and exit 2 (argparse's default prints usage too)."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        if message.endswith("expected one argument"):
            message += " (a value that starts with - is written --flag=VALUE, e.g. --duration=-5s)"
        raise UsageError(f"{self.prog}: {message}")


RUN_KEYS = """\
Start the dashboard: one panel per workload, a chart of the focused one, the GC trace.

keys:
  m            toggle the focused workload between MADV_FREE and MADV_DONTNEED
  M            pick any madvise mode (FREE, DONTNEED, COLD, PAGEOUT, munmap, none)
  g / s        GC now / scavenge now
  a / f        allocate a burst (alloc_bytes) / free everything
  p / P        apply / release memory pressure (cgroup limit; greyed when unavailable)
  space        pause / resume the view (sampling continues)
  r            restart the focused workload
  e            explain the focused process: where its RSS is, who holds it, the knob
  tab          focus the next workload (shift+tab: previous)
  ?            help: what every figure means
  q, Ctrl+C    quit (every workload is stopped)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="madvise-lab",
        description="A live terminal lab: why a program's RSS stays high after its runtime released memory.",
    )
    parser.add_argument("--config", metavar="FILE", help="config file (default: ./config.yaml, else the packaged one)")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    run = sub.add_parser("run", help="start the dashboard (the default command)", description=RUN_KEYS,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--config", metavar="FILE", dest="sub_config", help="config file (as the top-level --config)")
    run.add_argument("--metrics", metavar="[HOST:]PORT", help="also serve Prometheus metrics of the workloads")
    record = sub.add_parser("record", help="run the workloads headless and write CSV, trace and summary files")
    record.add_argument("--config", metavar="FILE", dest="sub_config", help="config file (as the top-level --config)")
    record.add_argument("--duration", required=True, metavar="DURATION", help="how long to record, e.g. 60s")
    record.add_argument("--out", required=True, metavar="DIR", help="directory for samples.csv, trace.log, ...")
    record.add_argument("--plot", metavar="FILE", help="also draw a chart to FILE.png or FILE.svg")
    record.add_argument("--sample-interval", metavar="DURATION", help="override the config's sample_interval")
    record.add_argument("--metrics", metavar="[HOST:]PORT", help="also serve Prometheus metrics of the workloads")
    check = sub.add_parser("check", help="print what this machine allows (madvise flags, cgroups, Go, ...)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("--config", metavar="FILE", dest="sub_config",
                       help="judge pressure by this config's pressure.cgroup_root (as the top-level --config)")
    explain = sub.add_parser("explain", help="where a process's RSS is, which runtime and allocator hold it, and "
                                              "what would change it (reads /proc/PID/smaps once)")
    explain.add_argument("pid", metavar="PID", help="the process to explain")
    explain.add_argument("--json", action="store_true", help="one JSON object instead of the report")
    _add_watch_commands(sub)
    _add_export_command(sub)
    return parser


def _add_export_command(sub: argparse._SubParsersAction) -> None:
    """export (tui/core/export.py, which holds the defaults: prometheus_client loads only for this command)."""
    export = sub.add_parser("export", help="serve Prometheus metrics (RSS, LazyFree, footprint) of running processes")
    export.add_argument("pids", nargs="+", type=int, metavar="PID", help="process ids to export")
    export.add_argument("--listen", metavar="[HOST:]PORT",
                        help="address of /metrics (default: 127.0.0.1:9464, loopback only)")
    export.add_argument("--name", action="append", metavar="NAME", help="the workload label of the n-th PID")
    export.add_argument("--interval", metavar="DURATION", help="how often each process is sampled (default: 1s)")


def _add_watch_commands(sub: argparse._SubParsersAction) -> None:
    """attach, replay and serve (tui/watch.py, tui/serve.py)."""
    attach = sub.add_parser("attach", help="watch running processes we did not start (RSS, LazyFree, gctrace)")
    attach.add_argument("pids", nargs="+", type=int, metavar="PID", help="process ids to watch")
    attach.add_argument("--trace", action="append", metavar="FILE|-",
                        help="a gctrace/scavtrace stream for the n-th PID: a file to follow, or - for stdin")
    attach.add_argument("--name", action="append", metavar="NAME", help="a panel name for the n-th PID")
    replay = sub.add_parser("replay", help="play a `record` directory in the dashboard")
    replay.add_argument("dir", metavar="DIR", help="the --out DIR of `madvise-lab record`")
    replay.add_argument("--speed", type=float, choices=(1.0, 10.0, 60.0), metavar="1|10|60", help="start speed")
    serve = sub.add_parser("serve", help="serve the dashboard to a browser (textual-serve)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                       help="the madvise-lab command to serve, e.g. `replay DIR` (default: the dashboard)")


def explain_main(args: argparse.Namespace) -> int:
    """`madvise-lab explain PID [--json]`: the report (or JSON) on stdout; a pid we cannot explain exits 2."""
    import json

    from tui.core.explain import explain_pid, render_text

    if not (args.pid.isascii() and args.pid.isdigit() and len(args.pid) <= 10):
        raise UsageError(f"explain: PID: expected a process id (a number), got {args.pid!r}")
    explanation = explain_pid(int(args.pid))
    try:
        print(json.dumps(explanation.to_json(), indent=2) if args.json else render_text(explanation), flush=True)
    except BrokenPipeError:  # `explain PID | head`: the reader left, which is fine
        sys.stdout = open(os.devnull, "w")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "sub_config", None):
            args.config = args.sub_config
        command = args.command or "run"
        if command == "run":
            from tui.launch import run_dashboard

            return run_dashboard(args)
        if command == "record":
            from tui.core.record.recorder import record_main

            return record_main(args)
        if command == "check":
            from tui.core.kernel.check import check_main

            return check_main(args)
        if command == "explain":
            return explain_main(args)
        if command in ("attach", "replay"):
            from tui import watch

            return watch.run_attach(args) if command == "attach" else watch.run_replay(args)
        if command == "export":
            from tui.core.export import export_main

            return export_main(args)
        if command == "serve":
            from tui.serve import serve_main

            return serve_main(args)
        raise UsageError(f"madvise-lab: unknown command {command!r}")
    except UsageError as error:
        message = str(error)  # UsageError.__str__ is one printable line
        print(message if message.startswith("madvise-lab") else f"madvise-lab: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
