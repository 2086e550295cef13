"""The wire protocol: JSON-line messages to the dashboard, and commands from it decoded or rejected with a reason."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from workloads.madvise import RAW_PREFIX
from workloads.options import MADVISE_MODES
from workloads.units import parse_size

COMMANDS = ("set_madvise", "gc", "scavenge", "alloc", "free", "pause", "resume", "exit")


def encode(type_: str, t_s: float, **fields: Any) -> str:
    """One message line (no newline): {"type":..., "t":..., ...fields}."""
    return json.dumps({"type": type_, "t": round(t_s, 6), **fields}, separators=(",", ":"))


@dataclass(frozen=True)
class Command:
    """A decoded command: name and its checked arguments."""

    cmd: str
    args: dict[str, Any] = field(default_factory=dict)


class BadCommand(ValueError):
    """A stdin line that is not a valid command; the message says what was expected."""


def _words(line: str) -> dict[str, Any]:
    """A command typed by hand in a terminal: `gc`, `alloc 64MiB`, `set_madvise MADV_DONTNEED`."""
    words = line.split()
    obj: dict[str, Any] = {"cmd": words[0] if words else ""}
    if len(words) > 1:
        obj["bytes" if obj["cmd"] == "alloc" else "value"] = words[1]
    return obj


def decode(line: str) -> Command:
    """Parse one stdin line (a JSON object, or words typed by hand) into a Command; raises BadCommand."""
    if not line.lstrip().startswith(("{", "[", '"')):
        obj = _words(line)
        if obj["cmd"] not in COMMANDS:
            raise BadCommand(f"expected a JSON object with \"cmd\" or one of {', '.join(COMMANDS)}, "
                             f"got {line.strip()[:80]!r}")
        return _checked(obj)
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadCommand(f"not JSON ({exc.msg if hasattr(exc, 'msg') else exc}): {line[:80]!r}") from None
    if not isinstance(obj, dict):
        raise BadCommand(f"expected a JSON object with \"cmd\", got {line[:80]!r}")
    return _checked(obj)


def _checked(obj: dict[str, Any]) -> Command:
    cmd = obj.get("cmd")
    if cmd not in COMMANDS:
        raise BadCommand(f"\"cmd\" must be one of {', '.join(COMMANDS)}, got {cmd!r}")
    if cmd == "set_madvise":
        value = obj.get("value")
        if not isinstance(value, str) or not (value in MADVISE_MODES or value.startswith(RAW_PREFIX)):
            raise BadCommand(f"set_madvise: \"value\" must be one of {', '.join(MADVISE_MODES)}, got {value!r}")
        return Command(cmd, {"value": value})
    if cmd == "alloc":
        raw = obj.get("bytes")
        try:
            n_bytes = parse_size(raw) if raw is not None else None
        except (ValueError, TypeError) as exc:
            raise BadCommand(f"alloc: \"bytes\": {exc}") from None
        if not n_bytes:
            raise BadCommand(f"alloc: \"bytes\" must be a positive size such as 67108864 or \"64MiB\", got {raw!r}")
        return Command(cmd, {"bytes": n_bytes})
    return Command(cmd)
