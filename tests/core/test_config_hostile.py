"""Hostile config files: each one loads or is one line `FILE[:LINE]: [field: ]expected ..., got ...` (exit 2 in the
CLI), never a traceback: encodings, control characters, deep nesting, alias bombs, tags, odd numbers, odd files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drop_privileges import as_nobody

from tui.core.config import MAX_DEPTH, load_config
from tui.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GiB = 1 << 30
GOOD = b"""\
workloads:
  - name: free
    size: 64MiB
    count: 1
"""

# (id, file bytes, a fragment the one-line message must hold)
CASES = [
    ("utf16", GOOD.decode().encode("utf-16"), "expected UTF-8 text, got a UTF-16 byte-order mark"),
    ("utf16be", b"\xfe\xff" + GOOD.decode().encode("utf-16-be"), "UTF-16 byte-order mark"),
    ("utf32", GOOD.decode().encode("utf-32"), "UTF-32 byte-order mark"),
    ("latin1", b"# caf\xe9\n" + GOOD, ":1: expected UTF-8 text, got byte 0xe9 at offset 5"),
    ("latin1-line3", GOOD[:30] + b"\xff" + GOOD[30:], ":3: expected UTF-8 text, got byte 0xff at offset 30"),
    ("nul", b"sample_interval: 1\x00s\n" + GOOD, ":1: expected printable text, got the control character U+0000 (NUL)"),
    ("escape", GOOD + b"# \x1b[2J\n", ":5: expected printable text, got the control character U+001B (ESC)"),
    ("del", b"history: 1m\x7f\n" + GOOD, "U+007F (DEL)"),
    ("c1-control", "history: 1m\x9b\n".encode() + GOOD, "U+009B"),
    ("deep-flow-list", b"x: " + b"[" * 5000 + b"]" * 5000 + b"\n", f"expected at most {MAX_DEPTH} levels of nesting"),
    ("deep-flow-map", b"x: " + b"{a: " * 3000 + b"1" + b"}" * 3000 + b"\n", "levels of nesting"),
    ("deep-block", b"".join(b"  " * i + b"k:\n" for i in range(200)), "levels of nesting"),
    ("deep-block-list", b"- " * 300 + b"x\n", "levels of nesting"),
    ("alias-bomb", b"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n" + GOOD, "anchors and aliases are not supported"),
    ("alias-only", GOOD + b"defaults: *x\n", "expected plain values, got the alias *x"),
    ("merge-key", b"<<: {history: 1m}\n" + GOOD, "expected a value YAML can read, got '<<'"),
    ("python-tag", b"history: !!python/object/apply:os.system [echo hi]\n" + GOOD, "got the tag !!python/object/apply"),
    ("binary-tag", b"history: !!binary aGVsbG8=\n" + GOOD, "got the tag !!binary"),
    ("custom-tag", b"history: !mine 1m\n" + GOOD, "got the tag !mine"),
    ("nan-duration", b"history: .nan\n" + GOOD, "history: expected a duration such as 500ms"),
    ("inf-duration", b"sample_interval: .inf\n" + GOOD, "sample_interval: expected a duration"),
    ("negative-duration", b"redraw_interval: -1\n" + GOOD, "redraw_interval: expected a duration"),
    ("zero-duration", b"sample_interval: 0s\n" + GOOD, "sample_interval: expected a duration above zero"),
    ("huge-duration", b"history: 1e999s\n" + GOOD, "history: expected a duration"),
    ("year-plus-duration", b"history: 9000h\n" + GOOD, "history: expected a duration of at most a year"),
    ("nan-size", GOOD + b"    peak: .nan\n", "workloads.free.peak: expected a size"),
    ("negative-size", GOOD + b"    live: -64MiB\n", "workloads.free.live: expected a size"),
    ("zero-size", GOOD.replace(b"64MiB", b"0"), "workloads.free.size: expected a size above zero, got 0"),
    ("huge-size", GOOD.replace(b"64MiB", b"99999999999999999999999999999999"), "expected a size of at most 1PiB"),
    ("huge-size-unit", GOOD.replace(b"64MiB", b"9999999999TiB"), "expected a size of at most 1PiB"),
    ("huge-int", GOOD.replace(b"count: 1", b"count: " + b"9" * 5000), "got a 5000-digit number"),
    ("big-int", GOOD.replace(b"count: 1", b"count: " + b"9" * 200), "count: expected a whole number"),
    ("zero-alloc", GOOD + b"timeline: [{at: 1s, do: alloc, workload: free, value: 0}]\n",
     "timeline[0].value: expected a size above zero"),
    ("bad-date", b"history: 2024-13-45\n" + GOOD, "history: expected a value YAML can read, got '2024-13-45'"),
    ("key-with-newline", b'"hist\\nory": 1m\n' + GOOD, "hist\\nory: unknown key"),
    ("two-documents", GOOD + b"---\n" + GOOD, "yaml: expected a single document"),
    ("empty-list", b"workloads: []\n", "workloads: expected a list of at least one workload, got an empty list"),
    ("only-comments", b"# nothing here\n", "expected at least one workload, got an empty file"),
    ("scalar-root", b"hello\n", "expected a mapping of keys, got 'hello'"),
    ("tab-indent", b"workloads:\n\t- name: a\n", "yaml:"),
]


def _message(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_config(str(path), mem_available_bytes=16 * GiB)
    message = str(info.value)
    assert "\n" not in message and message.isprintable(), message
    assert message.startswith(str(path)), message
    return message


@pytest.mark.parametrize("name, data, fragment", CASES, ids=[case[0] for case in CASES])
def test_hostile_file_is_one_line(tmp_path, name, data, fragment):
    started = time.monotonic()
    message = _message(tmp_path, data)
    assert fragment in message, message
    assert time.monotonic() - started < 5, "a hostile file must not take the loader long"


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD)
    assert load_config(str(path), mem_available_bytes=16 * GiB).names == ("free",)


def test_empty_file(tmp_path):
    assert "got an empty file" in _message(tmp_path, b"")


def test_directory_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="expected a regular config file, got a directory"):
        load_config(str(tmp_path))


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)  # nobody ever writes: a blocking open would hang here forever
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"expected a regular config file, got a FIFO \(named pipe\)"):
        load_config(str(fifo))
    assert time.monotonic() - started < 2


def test_device_is_refused():
    with pytest.raises(ConfigError, match="expected a regular config file, got a device"):
        load_config("/dev/zero")  # endless: reading it would never stop


def test_missing_file():
    with pytest.raises(ConfigError, match=r"expected a readable config file, got no such file or directory \(ENOENT\)"):
        load_config("/nonexistent/config.yaml")


def test_too_big_file(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(GOOD + b"#" * (2 << 20) + b"\n")
    with pytest.raises(ConfigError, match="expected a config file of at most 1 MiB"):
        load_config(str(path))


def _cli(*argv: str, user: list[str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*(user or []), sys.executable, "-m", "tui", *argv], capture_output=True, text=True,
                          timeout=60, env=env, cwd=cwd, stdin=subprocess.DEVNULL)


def _assert_usage(result: subprocess.CompletedProcess, fragment: str) -> None:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert fragment in lines[0], lines[0]


def test_unreadable_file_as_another_user(tmp_path):
    """Permission denied, as a user who may not read the file (root reads everything: the check runs as nobody)."""
    path = tmp_path / "secret.yaml"
    path.write_bytes(GOOD)
    path.chmod(0o600)
    tmp_path.chmod(0o755)
    said = as_nobody(lambda: repr(load_config(str(path))))
    assert said == f"raised: ConfigError: {path}: expected a readable config file, got permission denied (EACCES)"


# The real CLI on broken configs, end to end: every command that reads a config.
CLI_CASES = [(name, data, fragment) for name, data, fragment in CASES
             if name in ("utf16", "latin1", "nul", "deep-flow-list", "alias-bomb", "python-tag", "huge-int",
                         "nan-duration", "zero-size")]


@pytest.mark.parametrize("name, data, fragment", CLI_CASES, ids=[case[0] for case in CLI_CASES])
@pytest.mark.parametrize("command", ["check", "record", "run"])
def test_cli_broken_config_is_exit_2_and_one_line(tmp_path, name, data, fragment, command):
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    argv = {
        "check": ["check", "--config", str(path)],
        "record": ["--config", str(path), "record", "--duration", "1s", "--out", str(tmp_path / "out")],
        "run": ["run", "--config", str(path)],
    }[command]
    result = _cli(*argv)
    _assert_usage(result, fragment)
    assert not (tmp_path / "out").exists(), "record created its --out before the config was known to be good"


def test_cli_fifo_config_does_not_block(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    _assert_usage(_cli("--config", str(fifo), "record", "--duration", "1s", "--out", str(tmp_path / "o")),
                  "expected a regular config file, got a FIFO")
