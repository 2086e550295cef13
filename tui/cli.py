"""`madvise-lab` command line: parses subcommands and hands each to its front end; user errors exit 2."""

from __future__ import annotations

import argparse
import sys

from tui.core.errors import UsageError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line and exit 2 (argparse's default prints usage too)."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="madvise-lab",
        description="A live terminal lab: why a program's RSS stays high after its runtime released memory.",
    )
    parser.add_argument("--config", metavar="FILE", help="config file (default: ./config.yaml, else the packaged one)")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    sub.add_parser("run", help="start the dashboard (the default command)")
    record = sub.add_parser("record", help="run the workloads headless and write CSV, trace and summary files")
    record.add_argument("--config", metavar="FILE", dest="sub_config", help=argparse.SUPPRESS)
    record.add_argument("--duration", required=True, metavar="DURATION", help="how long to record, e.g. 60s")
    record.add_argument("--out", required=True, metavar="DIR", help="directory for samples.csv, trace.log, ...")
    record.add_argument("--plot", metavar="FILE", help="also draw a chart to FILE.png or FILE.svg")
    record.add_argument("--sample-interval", metavar="DURATION", help="override the config's sample_interval")
    check = sub.add_parser("check", help="print what this machine allows (madvise flags, cgroups, Go, ...)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "sub_config", None):
            args.config = args.sub_config
        command = args.command or "run"
        if command == "run":
            from tui.app import run_dashboard

            return run_dashboard(args)
        if command == "record":
            from tui.core.recorder import record_main

            return record_main(args)
        if command == "check":
            from tui.core.check import check_main

            return check_main(args)
        raise UsageError(f"madvise-lab: unknown command {command!r}")
    except UsageError as error:
        print(f"madvise-lab: error: {error}" if not str(error).startswith("madvise-lab") else str(error), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
