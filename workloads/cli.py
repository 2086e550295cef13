"""`python -m workloads` command line: argparse generated from OPTIONS; a bad value is one line and exit 2."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from workloads.allocators import NATIVE_KINDS
from workloads.options import OPTIONS, OPTIONS_BY_NAME, value_problem
from workloads.units import format_duration, format_size

EXIT_USAGE = 2
PROG = "python -m workloads"


class UsageError(Exception):
    """A bad flag or value: printed as one line, exit 2."""

    def __str__(self) -> str:  # a flag value may hold a newline or an escape sequence: keep the line one line
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in super().__str__())
        return text if len(text) <= 400 else text[:397] + "..."


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's default prints the whole usage first
        raise UsageError(f"{PROG}: {message}")


def _default_text(option) -> str:
    if option.default is None:
        return "the allocator's own"
    if option.kind == "size":
        return format_size(option.default)
    if option.kind in ("duration", "decay"):
        return format_duration(option.default)
    return str(option.default)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A Go-like heap on real private anonymous memory that releases idle pages with a switchable "
                    "madvise flag. Speaks JSON lines: messages on stdout, commands on stdin (docs/protocol.md).",
    )
    parser.add_argument("--kind", default="python", choices=("python", *NATIVE_KINDS),
                        help="python (the simulated Go heap) or a native allocator whose malloc/free hold real blocks "
                             "(jemalloc, mimalloc and tcmalloc need LD_PRELOAD; run by hand, the workload sets it)")
    for option in OPTIONS:
        parser.add_argument(option.flag, dest=option.name, metavar=option.name.upper(), default=None,
                            help=f"{option.help}. Accepts {option.accepts()}. Default: {_default_text(option)}.".replace("%", "%%"))
    return parser


def parse_options(argv: list[str]) -> dict[str, Any]:
    """Parsed option values (defaults filled in); raises UsageError naming the flag and what it accepts."""
    return parse_command_line(argv)[1]


def parse_command_line(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """The workload kind (--kind) and the parsed option values; raises UsageError."""
    namespace = build_parser().parse_args(argv)
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = getattr(namespace, option.name)
        if raw is None:
            values[option.name] = option.default
            continue
        try:
            values[option.name] = option.parse(raw)
        except ValueError:
            raise UsageError(f"{PROG}: {option.flag}: expected {option.accepts()}, got {raw!r}") from None
    problem = value_problem(values)
    if problem:
        raise UsageError(f"{PROG}: {OPTIONS_BY_NAME[problem[0]].flag}: {problem[1]}")
    return namespace.kind, values


def main(argv: list[str] | None = None) -> int:
    try:
        kind, opts = parse_command_line(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if kind != "python":
        opts["kind"] = kind  # the native runtime reads it; the Python heap's options stay exactly the table's
    if kind != "python" and "MADVISE_LAB_PRELOADED" not in os.environ:
        return _exec_with_allocator(opts, sys.argv[1:] if argv is None else argv)
    from workloads.runtime import run

    return run(opts)


def _exec_with_allocator(opts: dict[str, Any], argv: list[str]) -> int:
    """Run by hand (`python -m workloads --kind jemalloc`): start again with the allocator's LD_PRELOAD and settings."""
    from workloads.allocator_env import AllocatorUnavailable, environment

    try:
        env = environment(opts["kind"], opts)
    except (AllocatorUnavailable, ValueError) as exc:
        print(f"{PROG}: --kind {opts['kind']}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    env["MADVISE_LAB_PRELOADED"] = "1"
    os.execve(sys.executable, [sys.executable, "-m", "workloads", *argv], env)
    return 0  # not reached
