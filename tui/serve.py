"""`madvise-lab serve`: the dashboard (live, replay or attach) in a browser through textual-serve, on loopback by default."""

from __future__ import annotations

import os
import shlex
import socket
import sys
from pathlib import Path
from typing import Any, Sequence

from tui.core.errors import UsageError

SERVABLE = ("run", "replay", "attach")


def served_argv(args: Sequence[str], config: str | None = None) -> list[str]:
    """The madvise-lab command each browser session runs; `--` before ARGS is optional."""
    rest = list(args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    command, skip = "run", False
    for word in rest:
        if skip or word.startswith("-"):
            skip = word == "--config"  # its value is not the command
            continue
        command = word
        break
    if command == "serve":
        raise UsageError("serve: ARGS: expected the command to serve (run, replay DIR, attach PID...), not serve")
    if command not in SERVABLE:
        raise UsageError(f"serve: ARGS: expected one of {', '.join(SERVABLE)} (a dashboard), got {command!r}")
    if config and "--config" not in rest:
        rest = ["--config", os.path.abspath(config), *rest]
    return [sys.executable, "-m", "tui", *rest]


def check_bindable(host: str, port: int) -> None:
    """A taken port or unknown host is one line now, not an aiohttp traceback later."""
    if not 0 < port < 65536:
        raise UsageError(f"serve: --port: expected a port from 1 to 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as error:  # unknown name; a label over 63 bytes; a NUL byte
        reason = getattr(error, "strerror", None) or str(error)
        raise UsageError(f"serve: --host: expected an IP address or a host name this machine resolves, got "
                         f"{host!r} ({reason})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise UsageError(f"serve: cannot listen on {host}:{port}: {error.strerror}") from None


def serve_main(args: Any) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UsageError("serve: needs textual-serve: pip install textual-serve") from None
    argv = served_argv(args.args or (), getattr(args, "config", None))
    check_bindable(args.host, args.port)
    # Each browser session runs this same tui package, installed or not.
    package_root = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host  # an IPv6 address in a URL
    print(f"madvise-lab: serving `{' '.join(argv[3:]) or 'run'}` on http://{shown_host}:{args.port}/", file=sys.stderr)
    Server(shlex.join(argv), host=args.host, port=args.port, title="madvise-lab").serve()
    return 0
