"""Property: any bytes given as a config file load, or fail as ONE printable line naming the file (a ConfigError,
exit 2 in the CLI), within a time bound. Cases: the default config with bytes flipped, inserted or cut, every
value swapped for another type, deep nesting, odd encodings, hostile YAML; a sample goes through the real CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzz_counts import count, total
from tui.core.config import Config, load_config, packaged_config_text
from tui.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GiB = 1 << 30
DEFAULT = packaged_config_text()
DEFAULT_BYTES = DEFAULT.encode()
LOAD_BOUND_S = 2.0  # per case; a real config loads in about a millisecond
# The hypothesis deadline is the per-case time bound (generous: two cores shared with other jobs).
FUZZ = settings(deadline=timedelta(seconds=LOAD_BOUND_S), database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
_DIR = tempfile.mkdtemp(prefix="fuzz-config-")
PATH = os.path.join(_DIR, "config.yaml")

# Every `key: value` line of the default config (value may be empty: a mapping or list follows).
VALUE_LINE = re.compile(r"^(?P<head>\s*(?:- )?(?P<key>[a-z_]+):)(?P<value>[^#\n]*?)(?P<tail>\s*(?:#.*)?)$", re.M)
VALUE_LINES = [m for m in VALUE_LINE.finditer(DEFAULT)]

# YAML scalars and collections of every type a value could be swapped for, hostile ones included.
NASTY = ["", "~", "null", "true", "no", "0", "-0", "-1", "0x7fffffffffffffff", "0o777", "1_000", "1:20:30", ".nan",
         "-.inf", ".inf", "1e999", "1.0e+999", "2024-13-45", "2001-12-14t21:59:43.10-05:00", "[]", "{}", "[1, [2]]",
         "{a: {b: c}}", "'10s'", '"\\0"', '"\\x1b[2J"', '"a\\nb"', "!!binary aGVsbG8=", "!!python/name:os.system",
         "!custom x", "&a x", "*a", "<<", "=", "|\n  block", ">\n  folded", "? complex", "0s", "0B", "0ms", "-5s",
         "1e999s", "nan", "inf", "9" * 5000, "9" * 4000, "9" * 40, "512MiB", "99999TiB", "1PiB", "MADV_FREE", "all",
         "%", "50%", "nan%", "1e9%", "-50%", "'" + "x" * 3000 + "'", "[" * 200 + "]" * 200, "{a: " * 100 + "1" + "}" * 100]
SCALARS = st.one_of(
    st.sampled_from(NASTY),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=40).map(lambda text: '"' + text.encode("unicode_escape").decode().replace('"', '\\"') + '"'),
    st.from_regex(r"[0-9]{1,12}(\.[0-9]{1,4})?\s?(B|KiB|MiB|GiB|TiB|KB|MB|ms|s|m|h|min|%|PiB|x)?", fullmatch=True),
)


def check_case(data: bytes) -> str:
    """The property for one file: loads, or one line starting with the path; returns the outcome."""
    with open(PATH, "wb") as f:
        f.write(data)
    started = time.monotonic()
    try:
        config = load_config(PATH, mem_available_bytes=16 * GiB)
    except ConfigError as error:
        message = str(error)
        assert "\n" not in message and message.isprintable(), message
        assert message.startswith(PATH), message
        assert " expected" in message or "yaml:" in message, message  # says what was expected
        outcome = "one-line error"
    else:
        assert isinstance(config, Config)
        outcome = "loaded"
    assert time.monotonic() - started < LOAD_BOUND_S
    return outcome


# Inputs that once ended in a traceback (the report and this test's own finds): kept as regressions.
REGRESSIONS = [
    DEFAULT.encode("utf-16"), DEFAULT.encode("utf-16-le"), DEFAULT.encode("latin-1", "replace") + b"\xe9\n",
    "# café\n".encode("latin-1") + DEFAULT_BYTES, DEFAULT_BYTES.replace(b"100ms", b"1\x00s", 1),
    b"x: " + b"[" * 3000 + b"]" * 3000, DEFAULT_BYTES + b"x: " + b"{a: " * 2000,
    DEFAULT_BYTES.replace(b"sample_interval: 100ms", b"sample_interval: !!python/object:os.system x"),
    DEFAULT_BYTES.replace(b"count: 2 ", b"count: " + b"9" * 5000 + b" "),
    DEFAULT_BYTES.replace(b"history: 10m", b"history: 2024-13-45"), b"<<: {a: 1}\n" + DEFAULT_BYTES,
    DEFAULT_BYTES.replace(b"interval: 4s", b"interval: .nan"), DEFAULT_BYTES.replace(b"size: 256MiB", b"size: 1e999"),
    DEFAULT_BYTES.replace(b"size: 256MiB", b"size: " + b"9" * 400), b"a: &a [1, 1]\nb: [*a, *a]\n" + DEFAULT_BYTES,
    b'"a\\nb": 1\n', b"", b"\xef\xbb\xbf" + DEFAULT_BYTES, DEFAULT_BYTES[:-300], DEFAULT_BYTES.replace(b"  - ", b"\t- "),
    DEFAULT_BYTES.replace(b"arena_size: 64MiB", b"arena_size: 0"),
    DEFAULT_BYTES.replace(b"alloc_bytes: 64MiB", b"alloc_bytes: 99999999999999999999"),
]


@settings(FUZZ, max_examples=500)
@given(data=st.data())
def _byte_mutations(data):
    """Flip, insert, delete bytes and cut the file: the editor-accident family."""
    raw = bytearray(DEFAULT_BYTES)
    for _ in range(data.draw(st.integers(1, 8), label="edits")):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate", "control"]))
        at = data.draw(st.integers(0, len(raw)))
        if op == "flip" and at < len(raw):
            raw[at] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del raw[at:at + data.draw(st.integers(1, 64))]
        elif op == "truncate":
            del raw[at:]
        else:
            raw[at:at] = bytes([data.draw(st.sampled_from([0, 7, 8, 11, 12, 27, 127, 0x85, 0xa0]))])
    count("config bytes (in-process)", check_case(bytes(raw)))


@pytest.mark.parametrize("case", range(len(REGRESSIONS)))
def test_regressions(case):
    count("config regressions (in-process)", check_case(REGRESSIONS[case]))


def test_byte_mutations():
    before = total("config bytes (in-process)")
    _byte_mutations()
    assert total("config bytes (in-process)") - before >= 500


@settings(FUZZ, max_examples=25)
@given(value=SCALARS, inline=st.booleans())
def _swap_value(line, value, inline):
    match = VALUE_LINES[line]
    if inline or "\n" in value:
        new = f"{match['head']} {value}{match['tail']}"
    else:
        head = match["head"]
        indent = " " * (len(head) - len(head.lstrip()) + (2 if "- " in head else 0) + 2)
        new = f"{head}\n{indent}{value}"  # the value on its own line, as a block
    count("config type swaps (in-process)", check_case((DEFAULT[:match.start()] + new + DEFAULT[match.end():]).encode()))


@pytest.mark.parametrize("line", range(len(VALUE_LINES)), ids=[m["key"] for m in VALUE_LINES])
def test_every_value_swapped_for_other_types(line):
    """Each `key: value` of the default config (every one, by parametrization) takes 25 other values."""
    before = total("config type swaps (in-process)")
    _swap_value(line)
    assert total("config type swaps (in-process)") - before >= 25


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def _structure(data):
    """Deep nesting, odd encodings, duplicated or reordered documents, a workload entry built from nasty values."""
    kind = data.draw(st.sampled_from(["nest", "encode", "entry", "repeat"]))
    if kind == "nest":
        depth = data.draw(st.integers(1, 6000))
        opener, closer = data.draw(st.sampled_from([("[", "]"), ("{a: ", "}"), ("- ", "")]))
        at = data.draw(st.sampled_from([m.end("head") for m in VALUE_LINES]))
        body = (" " + opener * depth + "x" + closer * depth) if closer else "\n" + "".join(
            "  " * i + opener + "\n" for i in range(min(depth, 200)))
        text = (DEFAULT[:at] + body + DEFAULT[at:]).encode()
    elif kind == "encode":
        encoding = data.draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252",
                                              "utf-8-sig", "shift_jis", "utf-7"]))
        extra = data.draw(st.text(alphabet="éü€日本\u00a0\u2028\ufeff\U0001f600", max_size=5))
        text = (f"# {extra}\n" + DEFAULT).encode(encoding, "replace")
    elif kind == "entry":
        keys = data.draw(st.lists(st.sampled_from([m["key"] for m in VALUE_LINES]), min_size=1, max_size=8))
        entry = ", ".join(f"{key}: {data.draw(SCALARS)}" for key in keys)
        text = f"workloads: [{{name: a, {entry}}}]\n".encode()
    else:
        times = data.draw(st.integers(2, 40))
        text = (DEFAULT + ("---\n" + DEFAULT if data.draw(st.booleans()) else DEFAULT) * times).encode()
    count("config structure (in-process)", check_case(text))


def test_structure_and_encodings():
    before = total("config structure (in-process)")
    _structure()
    assert total("config structure (in-process)") - before >= 300


def test_at_least_a_thousand_cases_in_process():
    """Runs after the three fuzz tests above in file order; on its own (-k) it runs them first."""
    kinds = ("config bytes (in-process)", "config type swaps (in-process)", "config structure (in-process)")
    if total(kinds[0]) == 0:
        test_byte_mutations()
    if total(kinds[2]) == 0:
        test_structure_and_encodings()
    if total(kinds[1]) == 0:
        for line in range(len(VALUE_LINES)):
            _swap_value(line)
    assert sum(total(kind) for kind in kinds) >= 1000


def _cli_check(path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tui", "check", "--config", path], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)


@settings(max_examples=20, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
@example(data=None)
def _through_the_cli(data, tmp):
    """The real CLI on a mutated file: exit 2 with one stderr line and no traceback, or the check report."""
    if data is None:
        raw = DEFAULT.encode("utf-16")
    else:
        raw = bytearray(DEFAULT_BYTES)
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, len(raw) - 1))
            raw[at:at + 1] = data.draw(st.sampled_from([b"\x00", b"\xff", b"[" * 500, b"!!binary ", b"*a ", b"9" * 5000,
                                                        b".nan", b"\t", b"\x1b", b"", b":"]))
    path = os.path.join(tmp, "config.yaml")
    with open(path, "wb") as f:
        f.write(bytes(raw))
    result = _cli_check(path)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    if result.returncode == 2:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"madvise-lab: error: {path}"), result.stderr
        count("config through the CLI", "exit 2, one line")
    else:
        assert result.returncode in (0, 1), result  # loaded: check reports what the machine allows
        count("config through the CLI", f"loaded, check exit {result.returncode}")


def test_a_sample_through_the_real_cli(tmp_path):
    before = total("config through the CLI")
    _through_the_cli(tmp=str(tmp_path))
    assert total("config through the CLI") - before >= 20
