"""The wire protocol, coded once: messages workload → dashboard and commands dashboard → workload, both ways."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from workloads.madvise import RAW_PREFIX
from workloads.options import MADVISE_MODES
from workloads.units import parse_size

COMMANDS = ("set_madvise", "gc", "scavenge", "alloc", "free", "pause", "resume", "exit")
MESSAGE_TYPES = ("hello", "stats", "event", "trace", "error", "spans")
TRACE_KINDS = ("gc", "scav", "lab", "error", "other")
# A line longer than this is not a message of ours (the longest real one, hello, is ~1 KiB): shown cut, not parsed.
MAX_MESSAGE_CHARS = 64 * 1024


@dataclass(frozen=True)
class StatsField:
    """One figure of a `stats` message: its wire name (with its unit), its JSON type and what it means."""

    name: str
    type: type
    meaning: str


# The one table of `stats` fields: the Python and Go workloads send exactly these, the dashboard reads them by
# these names (tui.core.model.HeapStats uses the same ones), and docs/protocol.md lists them (a test checks all four).
STATS_FIELDS: tuple[StatsField, ...] = (
    StatsField("heap_inuse_bytes", int, "bytes in spans holding objects, live or garbage not yet collected"),
    StatsField("heap_idle_bytes", int, "bytes in free spans still backed by memory (Go's HeapIdle − HeapReleased)"),
    StatsField("heap_released_bytes", int, "bytes returned to the kernel with the current madvise mode"),
    StatsField("heap_sys_bytes", int, "bytes of heap mapped: inuse + idle + released"),
    StatsField("heap_goal_bytes", int, "the heap size at which the next GC starts"),
    StatsField("gc_count", int, "GC cycles so far"),
    StatsField("madvise", str, "the current release mode"),
)
STATS_NAMES = tuple(f.name for f in STATS_FIELDS)
# What decode_message checks per stats figure, in the table's order: json.loads makes exact ints, floats, strs and
# bools, so `type(v) is int` is isinstance(v, int) without bool.
_STATS_CHECKS = tuple((f.name, f.type) for f in STATS_FIELDS)
_MESSAGE_TYPE_SET = frozenset(MESSAGE_TYPES)
# The C scanner json.loads ends in (json.loads is three Python calls and two regex matches around it).
_SCAN_JSON: Callable[[str, int], tuple[Any, int]] = getattr(json.JSONDecoder(), "scan_once")


class BadMessage(ValueError):
    """A stdout line that is not a valid message; the text says what was expected."""


def encode(type_: str, t_s: float, **fields: Any) -> str:
    """One message line (no newline): {"type":..., "t":..., ...fields}."""
    return json.dumps({"type": type_, "t": round(t_s, 6), **fields}, separators=(",", ":"))


def encode_stats(t_s: float, **figures: Any) -> str:
    """A `stats` line with exactly the fields of STATS_FIELDS."""
    if tuple(figures) != STATS_NAMES:
        raise ValueError(f"stats fields must be {', '.join(STATS_NAMES)} in that order, got {', '.join(figures)}")
    return encode("stats", t_s, **figures)


def decode_message(line: str) -> dict[str, Any]:
    """One stdout line → a checked message dict (one json.loads); raises BadMessage naming what is wrong.

    Checked: a JSON object with a known "type" and a numeric "t"; stats carry every STATS_FIELDS figure with its
    type (ints not negative); trace has a string line and a known kind; error a string message; event a string name.
    """
    if len(line) > MAX_MESSAGE_CHARS:
        raise BadMessage(f"a line of {len(line)} characters (at most {MAX_MESSAGE_CHARS})")
    try:
        data, end = _SCAN_JSON(line, 0)
    except (StopIteration, ValueError, RecursionError):
        end = -1
    if end != len(line):  # not one JSON value from first to last character: json.loads says why (or allows spaces)
        try:
            data = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise BadMessage(f"not JSON ({getattr(exc, 'msg', exc)}): {line[:80]!r}") from None
    if not isinstance(data, dict):
        raise BadMessage(f"expected a JSON object, got {line[:80]!r}")
    type_ = data.get("type")
    if type(type_) is not str or type_ not in _MESSAGE_TYPE_SET:
        raise BadMessage(f"\"type\" must be one of {', '.join(MESSAGE_TYPES)}, got {_short(type_)}")
    t = data.get("t")
    if not (type(t) is float and t == t or type(t) is int):
        raise BadMessage(f"{type_}: \"t\" must be seconds (a number), got {_short(t)}")
    if type_ == "stats":
        for name, kind in _STATS_CHECKS:
            value = data.get(name)
            if type(value) is not kind or (type(value) is int and value < 0):
                raise BadMessage(f"stats: \"{name}\" must be {'a whole number ≥ 0' if kind is int else 'a string'}"
                                 f", got {_short(value)}")
    elif type_ == "trace":
        if not isinstance(data.get("line"), str) or data.get("kind") not in TRACE_KINDS:
            raise BadMessage(f"trace: expected a string \"line\" and \"kind\" one of {', '.join(TRACE_KINDS)}, "
                             f"got {_short(data.get('line'))}, {_short(data.get('kind'))}")
    elif type_ == "event" and not isinstance(data.get("event"), str):
        raise BadMessage(f"event: \"event\" must be a name, got {_short(data.get('event'))}")
    elif type_ == "error" and not isinstance(data.get("message"), str):
        raise BadMessage(f"error: \"message\" must be a string, got {_short(data.get('message'))}")
    elif type_ == "spans" and not (isinstance(data.get("arenas"), list) and isinstance(data.get("page_bytes"), int)):
        raise BadMessage(f"spans: expected \"arenas\" (a list) and \"page_bytes\", got {_short(data.get('arenas'))}")
    elif type_ == "hello" and not (isinstance(data.get("pid"), int) and data["pid"] > 0):
        raise BadMessage(f"hello: \"pid\" must be a process id, got {_short(data.get('pid'))}")
    return data


def encode_command(cmd: str, **args: Any) -> str:
    """One command line for a workload's stdin (no newline); `decode_command` is its inverse."""
    if cmd not in COMMANDS:
        raise ValueError(f"unknown command {cmd!r}: expected one of {', '.join(COMMANDS)}")
    return json.dumps({"cmd": cmd, **args}, separators=(",", ":"))


class Speaker:
    """The workload side of the protocol, shared by the Python heap and the native allocator runtimes: messages out
    through `write` (timed by `clock`), command lines in through `handle_line`, which calls the runtime's `handle`."""

    write: Callable[[str], None]
    clock: Callable[[], float]

    def emit(self, type_: str, **fields: Any) -> None:
        self.write(encode(type_, self.clock(), **fields))

    def event(self, name: str, **fields: Any) -> None:
        self.emit("event", event=name, **fields)

    def trace_line(self, line: str, kind: str) -> None:
        self.emit("trace", line=line, kind=kind)

    def error(self, message: str, **fields: Any) -> None:
        self.emit("error", message=message, **fields)

    def handle_line(self, line: str) -> None:
        """One stdin line: a command for `handle`, or an `error` message saying what was expected."""
        if not line.strip():
            return
        try:
            command = decode_command(line)
        except BadCommand as exc:
            self.error(f"stdin: {exc}")
            return
        self.handle(command)

    def handle(self, command: Command) -> None:
        raise NotImplementedError


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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


def decode_command(line: str) -> Command:
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
