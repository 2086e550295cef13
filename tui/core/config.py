"""config.yaml: parse, validate (one-line errors with file:line:field) and freeze the dashboard's settings."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from tui.core.errors import ConfigError
from tui.core.units import MiB
from tui.core.timeline import ACTIONS, TimelineStep
from workloads.allocator_env import KNOBS, refusal as allocator_refusal
from workloads.allocators import NATIVE_KINDS
from workloads.options import (MADVISE_MODES, NATIVE_SHARED_KEYS, OPTIONS, OPTIONS_BY_NAME, UNBOUNDED_HEAP_BYTES,
                               defaults as option_defaults, max_heap_bytes, native_max_heap_bytes,
                               value_problem)
from workloads.units import (SIZE_HELP, format_duration, format_size, parse_duration, parse_size,
                             short_repr)

KINDS = ("python", "go", *NATIVE_KINDS)
# A native allocator workload takes the pattern keys and its own allocator's knobs (workloads/allocator_env.py).
NATIVE_KEYS = {kind: ("name", "kind", *NATIVE_SHARED_KEYS, *KNOBS[kind]) for kind in NATIVE_KINDS}
ALL_KNOBS = frozenset(knob for knobs in KNOBS.values() for knob in knobs)
# The real Go runtime only takes what the go workload maps onto: everything else is Python-workload only.
GO_KEYS = ("name", "kind", "pattern", "size", "count", "interval", "hold", "peak", "base", "live", "object_size",
           "rate", "madvise", "gogc")
GO_MADVISE = ("MADV_FREE", "MADV_DONTNEED")
NAME_RE = re.compile(r"^[a-z0-9_-]+$")
TOP_KEYS = ("sample_interval", "redraw_interval", "history", "budget", "trace_lines", "alloc_bytes", "pressure",
            "defaults", "workloads", "timeline")
PRESSURE_KEYS = ("margin", "step", "cgroup_root")
STEP_KEYS = ("at", "do", "workload", "value")
WORKLOAD_KEYS = ("name", "kind", *(option.name for option in OPTIONS))

# (key, default, meaning): the README's configuration reference; tests check it names every key.
CONFIG_REFERENCE: tuple[tuple[str, str, str], ...] = (
    ("sample_interval", "100ms", "how often the dashboard reads each workload's memory from /proc (kernel truth)"),
    ("redraw_interval", "250ms", "how often the screen redraws (redraw costs CPU, sampling barely does)"),
    ("history", "10m", "how much history the sparklines and chart keep (bounded ring buffers)"),
    ("budget", "50%", "most memory the config may allocate: a % of MemAvailable at start, or a size such as 1GiB"),
    ("trace_lines", "2000", "how many lines the trace pane keeps"),
    ("alloc_bytes", "64MiB", "what the `a` key and an `alloc` timeline step without a value allocate"),
    ("pressure.margin", "16MiB", "memory pressure never squeezes a workload below its footprint + this margin"),
    ("pressure.step", "64MiB", "memory pressure lowers the cgroup limit by this much per step"),
    ("pressure.cgroup_root", "auto", "memory cgroup directory for pressure: auto (find a writable one) or a path"),
    ("defaults", "{}", "workload options merged into every workload entry (kind go takes only the keys it knows)"),
    ("workloads[].name", "(required)", "the workload's name: unique, lowercase letters, digits, - and _"),
    ("workloads[].kind", "python", "python (the simulated Go heap), go (a real Go 1.x program; fewer keys), or a "
     "native allocator: glibc, jemalloc, mimalloc, tcmalloc (real malloc/free blocks; the pattern keys and that "
     "allocator's knobs)"),
    *((f"workloads[].{option.name}",
       "(allocator's)" if option.default is None else
       format_size(option.default) if option.kind == "size" else
       format_duration(option.default) if option.kind == "duration" else str(option.default),
       option.help) for option in OPTIONS),
    ("timeline[].at", "(required)", "when the step runs: a duration after the start, e.g. 30s"),
    ("timeline[].do", "(required)", "what to do: " + ", ".join(ACTIONS)),
    ("timeline[].workload", "(required)", "which workload: a name, or all"),
    ("timeline[].value", "(none)", "set_madvise: the mode; alloc: a size (default alloc_bytes)"),
)


@dataclass(frozen=True)
class PressureConfig:
    """How memory pressure squeezes a workload's cgroup."""

    margin_bytes: int = 16 * MiB  # never squeeze below footprint + margin
    step_bytes: int = 64 * MiB  # lower the limit by this much per step
    cgroup_root: str = "auto"  # "auto" or a memory cgroup directory


ALWAYS_ON_COMMAND_LINE = ("pattern", "madvise")


@dataclass(frozen=True)
class WorkloadConfig:
    """One workload: its name, kind and every option (parsed; defaults filled in), read-only."""

    name: str
    kind: str
    options: Mapping[str, Any]
    max_heap_bytes: int
    line: int = field(default=0, compare=False)  # where the entry starts in the config file

    @property
    def madvise(self) -> str:
        return self.options["madvise"]

    def argv(self) -> list[str]:
        """The workload CLI flags (python -m workloads ...): pattern, mode and what differs from the defaults,
        in the units a user writes, so `ps` and `top` beside the dashboard show a readable command line."""
        flags: list[str] = []
        for name, value in self.options.items():
            if self.kind in NATIVE_KINDS and name not in NATIVE_KEYS[self.kind]:
                continue  # a python-heap knob a native workload does not read
            option = OPTIONS_BY_NAME[name]
            if name in ALWAYS_ON_COMMAND_LINE or value != option.default:
                flags += [option.flag, _format_flag(option.kind, value)]
        return flags

    def with_options(self, override: Mapping[str, Any]) -> "WorkloadConfig":
        """A copy with some options replaced (already parsed values), e.g. a restart in another madvise mode."""
        options = {**self.options, **override}
        return WorkloadConfig(self.name, self.kind, MappingProxyType(options), _max_heap(self.kind, options), self.line)


def _max_heap(kind: str, options: Mapping[str, Any]) -> int:
    return native_max_heap_bytes(dict(options)) if kind in NATIVE_KINDS else max_heap_bytes(dict(options))


def _allowed(kind: str, key: str) -> bool:
    """Whether a workload of `kind` takes option `key` (python takes every option except the allocator knobs)."""
    if kind == "go":
        return key in GO_KEYS
    if kind in NATIVE_KINDS:
        return key in NATIVE_KEYS[kind]
    return key not in ALL_KNOBS


def _format_flag(kind: str, value: Any) -> str:
    if kind == "bool":
        return "true" if value else "false"
    if kind == "size":
        return format_size(value)
    if kind == "decay" and value < 0:
        return "never"
    if kind in ("duration", "decay"):
        text = format_duration(value)
        return text if parse_duration(text) == value else repr(float(value))
    return str(value)


@dataclass(frozen=True)
class Config:
    """The whole validated config; values have units in their names."""

    path: str
    sample_interval_s: float = 0.1
    redraw_interval_s: float = 0.25
    history_s: float = 600.0
    budget_bytes: int = 0
    trace_lines: int = 2000
    alloc_bytes: int = 64 * MiB
    pressure: PressureConfig = PressureConfig()
    workloads: tuple[WorkloadConfig, ...] = ()
    timeline: tuple[TimelineStep, ...] = ()
    budget_text: str = "50%"  # as written, for messages

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(w.name for w in self.workloads)

    def workload(self, name: str) -> WorkloadConfig:
        for w in self.workloads:
            if w.name == name:
                return w
        raise KeyError(name)

    @property
    def history_samples(self) -> int:
        """Ring buffer length: history / sample interval."""
        return max(2, int(round(self.history_s / self.sample_interval_s)))

    @property
    def total_max_bytes(self) -> int:
        return sum(w.max_heap_bytes + self.alloc_bytes for w in self.workloads)


def packaged_config_text() -> str:
    """The default config shipped inside the package."""
    from importlib import resources

    return resources.files("tui").joinpath("default_config.yaml").read_text(encoding="utf-8")


MAX_CONFIG_BYTES = 1 << 20  # a real config is a few KiB; a bigger file is not a config
MAX_DEPTH = 32  # a real config nests 4 deep (top, workloads, entry, value); deeper is junk, not recursion
# What YAML allows in a stream (PyYAML's reader refuses the rest with a two-line error and no line number).
_NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
         (b"\xfe\xff", "UTF-16"))


def load_config(path: str | None = None, *, mem_available_bytes: int | None = None) -> Config:
    """Load and validate: `path`, else ./config.yaml if present, else the packaged default."""
    if path is None:
        if Path("config.yaml").is_file():
            path = "config.yaml"
        else:
            return parse_config(packaged_config_text(), "default_config.yaml", mem_available_bytes=mem_available_bytes)
    return parse_config(decode_config(read_config_bytes(path), path), path, mem_available_bytes=mem_available_bytes)


def read_config_bytes(path: str) -> bytes:
    """The file's bytes; a FIFO, device or directory is refused without blocking (O_NONBLOCK, then fstat)."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except ValueError:
        raise ConfigError(f"{path}: expected a file name, got one with a NUL byte") from None
    except OSError as error:
        raise ConfigError(f"{path}: expected a readable config file, got {_os_reason(error)}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                    "a socket" if stat.S_ISSOCK(mode) else "a device")
            raise ConfigError(f"{path}: expected a regular config file, got {kind}")
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except ConfigError:
        raise
    except OSError as error:
        raise ConfigError(f"{path}: expected a readable config file, got {_os_reason(error)}") from None
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: expected a config file of at most 1 MiB, got a bigger file")
    return b"".join(chunks)


def _os_reason(error: OSError) -> str:
    import errno

    name = errno.errorcode.get(error.errno or 0)
    return f"{(error.strerror or str(error)).lower()}" + (f" ({name})" if name else "")


def decode_config(data: bytes, path: str) -> str:
    """UTF-8 text (a UTF-8 byte-order mark is dropped); other encodings name the byte, its offset and line."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            raise ConfigError(f"{path}:1: expected UTF-8 text, got a {encoding} byte-order mark "
                              f"({bom.hex(' ')}); save the file as UTF-8")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # some editors write a UTF-8 BOM: harmless
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        byte = data[error.start]
        hint = " (Latin-1 or Windows-1252?)" if byte >= 0x80 else ""
        raise ConfigError(f"{path}:{line}: expected UTF-8 text, got byte 0x{byte:02x} at offset {error.start}"
                          f"{hint}; save the file as UTF-8") from None


def _check_printable(text: str, path: str) -> None:
    bad = _NON_PRINTABLE.search(text)
    if bad is None:
        return
    line = text.count("\n", 0, bad.start()) + 1
    column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
    code = ord(bad.group())
    name = {0: "NUL", 0x1b: "ESC", 0x7f: "DEL", 0x0c: "form feed", 0x0b: "vertical tab", 0x08: "backspace"}.get(code)
    raise ConfigError(f"{path}:{line}: expected printable text, got the control character U+{code:04X}"
                      f"{f' ({name})' if name else ''} at column {column}")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses what no config needs and what attacks the loader: tags, anchors/aliases (alias
    bombs), nesting deeper than MAX_DEPTH (checked in the scanner, before any recursion or quadratic work)."""

    def __init__(self, text: str, path: str) -> None:
        super().__init__(text)
        self.config_path = path
        self._depth = 0

    def _refuse(self, mark: Any, message: str) -> ConfigError:
        line = mark.line + 1 if mark is not None else 1
        return ConfigError(f"{self.config_path}:{line}: {message}")

    def _check_depth(self, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise self._refuse(self.get_mark(), f"yaml: expected at most {MAX_DEPTH} levels of nesting, "
                               "got deeper (lists or mappings inside each other)")

    def fetch_flow_sequence_start(self) -> None:
        self._check_depth(self.flow_level + len(self.indents) + 1)
        super().fetch_flow_sequence_start()

    def fetch_flow_mapping_start(self) -> None:
        self._check_depth(self.flow_level + len(self.indents) + 1)
        super().fetch_flow_mapping_start()

    def add_indent(self, column: int) -> bool:
        self._check_depth(len(self.indents) + 1)
        return super().add_indent(column)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise self._refuse(event.start_mark, f"yaml: expected plain values, got the alias *{event.anchor} "
                               "(anchors and aliases are not supported)")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise self._refuse(event.start_mark, f"yaml: expected plain values, got the anchor &{anchor} "
                               "(anchors and aliases are not supported)")
        tag = getattr(event, "tag", None)
        if tag not in (None, "!"):
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise self._refuse(event.start_mark, f"yaml: expected plain values, got the tag {shown} "
                               "(YAML tags are not supported)")
        self._depth += 1
        try:
            self._check_depth(self._depth)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Doc:
    """A composed yaml document and the file name, for error messages."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        if len(text) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: expected a config of at most 1 MiB, got {len(text)} characters")
        _check_printable(text, path)
        self._loader = _StrictLoader(text, path)
        try:
            self.root = self._loader.get_single_node()
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            context = getattr(error, "context", None)
            if context and context.startswith("expected"):  # "expected a single document", "but found another"
                problem = f"{context}, {problem}"
            elif context:
                problem = f"{problem} ({context})"
            raise ConfigError(f"{path}:{line}: yaml: {problem}") from None
        except RecursionError:  # MAX_DEPTH should stop this first; never a traceback either way
            raise ConfigError(f"{path}:1: yaml: expected at most {MAX_DEPTH} levels of nesting, got deeper") from None

    def fail(self, node: yaml.Node | None, where: str, message: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else 1
        return ConfigError(f"{self.path}:{line}: {where}: {message}")

    def value(self, node: yaml.Node, where: str = "value") -> Any:
        try:
            return self._loader.construct_object(node, deep=True)
        except (ValueError, OverflowError, TypeError, yaml.YAMLError) as error:
            # e.g. a 5000-digit integer (int() refuses it), a date such as 2024-13-45, a merge key `<<`
            raw = str(node.value) if isinstance(node, yaml.ScalarNode) else "a nested value"
            shown = f"a {len(raw)}-digit number" if raw.isdigit() and len(raw) > 40 else short_repr(raw)
            reason = (getattr(error, "problem", None) or str(error)).replace("tag:yaml.org,2002:", "!!")
            reason = "" if raw.isdigit() else f" ({short_repr(reason)[1:-1]})"
            raise self.fail(node, where, f"expected a value YAML can read, got {shown}{reason}") from None

    def mapping(self, node: yaml.Node, where: str, allowed: tuple[str, ...]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """{key: (key_node, value_node)}; unknown or repeated keys are errors with a suggestion."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where or "config", f"expected a mapping of keys, got {_shown(self, node)}")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(self.value(key_node, f"{where}.(key)" if where else "(key)"))
            here = f"{where}.{key}" if where else key
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean `{close[0]}`?" if close else f" (known keys: {', '.join(allowed)})"
                raise self.fail(key_node, here, f"unknown key{hint}")
            if key in out:
                raise self.fail(key_node, here, "key given twice")
            out[key] = (key_node, value_node)
        return out


def _shown(doc: _Doc, node: yaml.Node | None, where: str = "value") -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list" if node.value else "an empty list"
    if node is None:
        return "nothing"
    value = doc.value(node, where)
    return "nothing" if value is None else short_repr(value)


def _scalar(doc: _Doc, node: yaml.Node, where: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise doc.fail(node, where, f"expected a single value, got {_shown(doc, node, where)}")
    return doc.value(node, where)


def _size(doc: _Doc, node: yaml.Node, where: str) -> int:
    raw = _scalar(doc, node, where)
    try:
        return parse_size(raw if isinstance(raw, (int, str)) and not isinstance(raw, bool) else str(raw))
    except ValueError as error:
        raise doc.fail(node, where, str(error)) from None


def _duration(doc: _Doc, node: yaml.Node, where: str, *, positive: bool = True) -> float:
    raw = _scalar(doc, node, where)
    try:
        seconds = parse_duration(raw if not isinstance(raw, bool) else str(raw))
    except ValueError as error:
        raise doc.fail(node, where, str(error)) from None
    if positive and seconds <= 0:
        raise doc.fail(node, where, f"expected a duration above zero, got {raw!r}")
    if positive and seconds < 1e-3:
        raise doc.fail(node, where, f"expected at least 1ms, got {raw!r}")
    return seconds


def _option(doc: _Doc, node: yaml.Node, where: str, name: str) -> Any:
    option = OPTIONS_BY_NAME[name]
    raw = _scalar(doc, node, where)
    if raw is None:
        raise doc.fail(node, where, f"expected {option.accepts()}, got nothing")
    try:
        return option.parse(raw)
    except ValueError as error:
        raise doc.fail(node, where, str(error)) from None


def parse_config(text: str, path: str, *, mem_available_bytes: int | None = None) -> Config:
    """Validate config text; `path` names the file in errors."""
    doc = _Doc(text, path)
    if doc.root is None:
        raise ConfigError(f"{path}:1: workloads: expected at least one workload, got an empty file")
    top = doc.mapping(doc.root, "", TOP_KEYS)
    kwargs: dict[str, Any] = {}
    for key, attr in (("sample_interval", "sample_interval_s"), ("redraw_interval", "redraw_interval_s"),
                      ("history", "history_s")):
        if key in top:
            kwargs[attr] = _duration(doc, top[key][1], key)
    if "trace_lines" in top:
        kwargs["trace_lines"] = _whole(doc, top["trace_lines"][1], "trace_lines", low=10, high=1_000_000)
    if "alloc_bytes" in top:
        kwargs["alloc_bytes"] = _size(doc, top["alloc_bytes"][1], "alloc_bytes")
        if kwargs["alloc_bytes"] <= 0:
            raise doc.fail(top["alloc_bytes"][1], "alloc_bytes", "expected a size above zero, got 0")
    if "pressure" in top:
        kwargs["pressure"] = _pressure(doc, top["pressure"][1])
    history_s = kwargs.get("history_s", 600.0)
    if history_s / kwargs.get("sample_interval_s", 0.1) > 1_000_000:
        raise doc.fail(top["history"][1], "history", "expected at most a million samples of history, "
                       f"got {history_s:g}s at one sample every {kwargs.get('sample_interval_s', 0.1):g}s")
    shared = _defaults(doc, top["defaults"][1]) if "defaults" in top else {}
    if "workloads" not in top:
        raise doc.fail(doc.root, "workloads", "expected a list of workloads, got none")
    workloads = _workloads(doc, top["workloads"][1], shared)
    timeline = _timeline(doc, top["timeline"][1], workloads) if "timeline" in top else ()
    budget_node = top["budget"][1] if "budget" in top else None
    budget_bytes, budget_text = _budget(doc, budget_node, mem_available_bytes)
    config = Config(path=path, budget_bytes=budget_bytes, budget_text=budget_text, workloads=workloads,
                    timeline=timeline, **kwargs)
    _check_budget(doc, top["workloads"][0], config)
    return config


def _whole(doc: _Doc, node: yaml.Node, where: str, *, low: int, high: int) -> int:
    raw = _scalar(doc, node, where)
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise doc.fail(node, where, f"expected a whole number from {low} to {high}, got {raw!r}")
    return raw


def _pressure(doc: _Doc, node: yaml.Node) -> PressureConfig:
    keys = doc.mapping(node, "pressure", PRESSURE_KEYS)
    kwargs: dict[str, Any] = {}
    if "margin" in keys:
        kwargs["margin_bytes"] = _size(doc, keys["margin"][1], "pressure.margin")
    if "step" in keys:
        kwargs["step_bytes"] = _size(doc, keys["step"][1], "pressure.step")
        if kwargs["step_bytes"] < MiB:
            raise doc.fail(keys["step"][1], "pressure.step", f"expected at least 1MiB, got {kwargs['step_bytes']}")
    if "cgroup_root" in keys:
        raw = _scalar(doc, keys["cgroup_root"][1], "pressure.cgroup_root")
        if not isinstance(raw, str) or not raw or (raw != "auto" and not raw.startswith("/")):
            raise doc.fail(keys["cgroup_root"][1], "pressure.cgroup_root",
                           f"expected auto or an absolute path to a memory cgroup directory, got {raw!r}")
        kwargs["cgroup_root"] = raw
    return PressureConfig(**kwargs)


def _defaults(doc: _Doc, node: yaml.Node) -> dict[str, tuple[yaml.Node, Any]]:
    """Option name -> (value node, parsed value); kind may be given too."""
    keys = doc.mapping(node, "defaults", WORKLOAD_KEYS[1:])
    out: dict[str, tuple[yaml.Node, Any]] = {}
    for key, (_, value_node) in keys.items():
        if key == "kind":
            out[key] = (value_node, _kind(doc, value_node, "defaults.kind"))
        else:
            out[key] = (value_node, _option(doc, value_node, f"defaults.{key}", key))
    return out


def _kind(doc: _Doc, node: yaml.Node, where: str) -> str:
    raw = _scalar(doc, node, where)
    if raw not in KINDS:
        raise doc.fail(node, where, f"expected one of {', '.join(KINDS)}, got {raw!r}")
    return raw


def _workloads(doc: _Doc, node: yaml.Node, shared: dict[str, tuple[yaml.Node, Any]]) -> tuple[WorkloadConfig, ...]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise doc.fail(node, "workloads", f"expected a list of at least one workload, got {_shown(doc, node)}")
    if len(node.value) > 16:
        raise doc.fail(node, "workloads", f"expected at most 16 workloads, got {len(node.value)}")
    seen: dict[str, int] = {}
    out = []
    for index, entry in enumerate(node.value):
        where = f"workloads[{index}]"
        keys = doc.mapping(entry, where, WORKLOAD_KEYS)
        if "name" not in keys:
            raise doc.fail(entry, f"{where}.name", "expected a name, got none")
        name = _scalar(doc, keys["name"][1], f"{where}.name")
        if not isinstance(name, str) or not NAME_RE.match(name) or name == "all":
            raise doc.fail(keys["name"][1], f"{where}.name",
                           f"expected lowercase letters, digits, - or _ (and not `all`), got {name!r}")
        if name in seen:
            raise doc.fail(keys["name"][1], f"{where}.name", f"expected a unique name, got {name!r} again "
                           f"(first on line {seen[name]})")
        seen[name] = keys["name"][1].start_mark.line + 1
        where = f"workloads.{name}"
        if "kind" in keys:
            kind = _kind(doc, keys["kind"][1], f"{where}.kind")
        else:
            kind = shared["kind"][1] if "kind" in shared else "python"
        options = option_defaults()
        for key, (value_node, value) in shared.items():
            if key == "kind" or not _allowed(kind, key):
                continue  # defaults for other kinds (python heap knobs, another allocator's) do not apply here
            options[key] = value
        for key, (key_node, value_node) in keys.items():
            if key in ("name", "kind"):
                continue
            if not _allowed(kind, key):
                accepted = GO_KEYS if kind == "go" else NATIVE_KEYS[kind] if kind in NATIVE_KINDS else WORKLOAD_KEYS
                raise doc.fail(key_node, f"{where}.{key}", f"not available for kind {kind}; expected one of "
                               + ", ".join(k for k in accepted if not (kind == "python" and k in ALL_KNOBS)))
            options[key] = _option(doc, value_node, f"{where}.{key}", key)
        if kind in NATIVE_KINDS and "madvise" not in keys and "madvise" not in shared:
            # unless asked, an allocator releases the way it can: MADV_FREE where it has that stage
            options["madvise"] = "MADV_DONTNEED" if allocator_refusal(kind, "MADV_FREE") else "MADV_FREE"
        if kind in NATIVE_KINDS:
            reason = allocator_refusal(kind, options["madvise"])
            if reason:
                node_at = keys["madvise"][1] if "madvise" in keys else shared.get("madvise", (entry,))[0]
                raise doc.fail(node_at, f"{where}.madvise", reason)
        if kind == "go" and options["madvise"] not in GO_MADVISE:
            node_at = keys["madvise"][1] if "madvise" in keys else shared.get("madvise", (entry,))[0]
            raise doc.fail(node_at, f"{where}.madvise",
                           f"expected MADV_FREE or MADV_DONTNEED for kind go, got {options['madvise']!r}")
        _check_options(doc, entry, keys, where, options)
        out.append(WorkloadConfig(name, kind, MappingProxyType(options), _max_heap(kind, options),
                                  entry.start_mark.line + 1))
    return tuple(out)


def _check_options(doc: _Doc, entry: yaml.Node, keys: dict, where: str, options: dict[str, Any]) -> None:
    """Values that parse but cannot work."""
    def node_of(key: str) -> yaml.Node:
        return keys[key][1] if key in keys else entry

    problem = value_problem(options)
    if problem:
        raise doc.fail(node_of(problem[0]), f"{where}.{problem[0]}", problem[1])


def _timeline(doc: _Doc, node: yaml.Node, workloads: tuple[WorkloadConfig, ...]) -> tuple[TimelineStep, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise doc.fail(node, "timeline", f"expected a list of steps, got {_shown(doc, node)}")
    by_name = {w.name: w for w in workloads}
    steps = []
    for index, entry in enumerate(node.value):
        where = f"timeline[{index}]"
        keys = doc.mapping(entry, where, STEP_KEYS)
        for required in ("at", "do", "workload"):
            if required not in keys:
                raise doc.fail(entry, f"{where}.{required}", "expected a value, got none")
        at_s = _duration(doc, keys["at"][1], f"{where}.at", positive=False)
        do = _scalar(doc, keys["do"][1], f"{where}.do")
        if do not in ACTIONS:
            close = difflib.get_close_matches(str(do), ACTIONS, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise doc.fail(keys["do"][1], f"{where}.do", f"expected one of {', '.join(ACTIONS)}, got {do!r}{hint}")
        target = _scalar(doc, keys["workload"][1], f"{where}.workload")
        if target != "all" and target not in by_name:
            names = ", ".join([*by_name, "all"])
            raise doc.fail(keys["workload"][1], f"{where}.workload", f"expected one of {names}, got {target!r}")
        value = _step_value(doc, keys, where, do, [by_name[target]] if target != "all" else list(workloads))
        steps.append(TimelineStep(at_s, do, target, value))
    return tuple(sorted(steps, key=lambda step: step.at_s))


def _step_value(doc: _Doc, keys: dict, where: str, do: str, targets: list[WorkloadConfig]) -> Any:
    node = keys["value"][1] if "value" in keys else None
    if do == "set_madvise":
        if node is None:
            raise doc.fail(keys["do"][1], f"{where}.value", f"expected a madvise mode ({', '.join(MADVISE_MODES)}), "
                           "got none")
        mode = _option(doc, node, f"{where}.value", "madvise")
        for target in targets:
            if target.kind == "go" and mode not in GO_MADVISE:
                raise doc.fail(node, f"{where}.value", f"expected MADV_FREE or MADV_DONTNEED for kind go workload "
                               f"{target.name!r}, got {mode!r}")
            reason = allocator_refusal(target.kind, mode) if target.kind in NATIVE_KINDS else None
            if reason:
                raise doc.fail(node, f"{where}.value", f"workload {target.name!r}: {reason}")
        return mode
    if do == "alloc":
        if node is None:
            return None
        n_bytes = _size(doc, node, f"{where}.value")
        if n_bytes <= 0:
            raise doc.fail(node, f"{where}.value", "expected a size above zero, got 0")
        return n_bytes
    if node is not None:
        raise doc.fail(node, f"{where}.value", f"expected no value for {do}, got {_shown(doc, node)}")
    return None


def _budget(doc: _Doc, node: yaml.Node | None, mem_available_bytes: int | None) -> tuple[int, str]:
    raw: Any = "50%"
    if node is not None:
        raw = _scalar(doc, node, "budget")
    text = str(raw).strip()
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            percent = -1.0
        if not 0 < percent <= 100:
            raise doc.fail(node, "budget", f"expected a percentage from 1% to 100% or a size ({SIZE_HELP}), "
                           f"got {raw!r}")
        if mem_available_bytes is None:
            from tui.core.kernel.system import read_mem_available_bytes

            mem_available_bytes = read_mem_available_bytes()
        return int(mem_available_bytes * percent / 100), f"{percent:g}% of MemAvailable {mem_available_bytes // MiB} MiB"
    try:
        return parse_size(raw if isinstance(raw, int) and not isinstance(raw, bool) else text), text
    except ValueError:
        raise doc.fail(node, "budget", f"expected a percentage such as 50% or {SIZE_HELP}, got {raw!r}") from None


def _check_budget(doc: _Doc, workloads_key: yaml.Node, config: Config) -> None:
    for workload in config.workloads:
        if workload.max_heap_bytes >= UNBOUNDED_HEAP_BYTES:
            raise ConfigError(
                f"{doc.path}:{workload.line or 1}: workloads.{workload.name}.gogc: gogc -1 turns the GC off, so "
                f"pattern {workload.options['pattern']} would grow without bound; use gogc 0 or more, "
                f"or pattern seed or steady")
    need = config.total_max_bytes
    if need <= config.budget_bytes:
        return
    parts = " + ".join(f"{w.name} {(w.max_heap_bytes + config.alloc_bytes) // MiB}" for w in config.workloads)
    raise doc.fail(workloads_key, "workloads",
                   f"workloads need up to {need // MiB} MiB ({parts}, each heap + alloc_bytes), above the budget "
                   f"of {config.budget_bytes // MiB} MiB ({config.budget_text}); lower sizes or raise `budget`")
