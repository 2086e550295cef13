"""Every subcommand's bad arguments, through the real CLI: exit 2, one stderr line, no traceback, nothing started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _gone_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# (argv, fragment of the one line); OUT and a FILE are filled in per test
CASES = [
    (["record", "--duration", "abc", "--out", "OUT"], "record: --duration: expected a duration such as 500ms"),
    (["record", "--duration=-5s", "--out", "OUT"], "record: --duration: expected a duration"),
    (["record", "--duration", "-5s", "--out", "OUT"], "--duration: expected one argument (a value that starts with -"),
    (["record", "--duration", "nan", "--out", "OUT"], "got 'nan'"),
    (["record", "--duration", "inf", "--out", "OUT"], "got 'inf'"),
    (["record", "--duration", "1e999s", "--out", "OUT"], "got '1e999s'"),
    (["record", "--duration", "9999h", "--out", "OUT"], "expected a duration of at most a year"),
    (["record", "--duration", "0", "--out", "OUT"], "--duration: expected a duration above zero"),
    (["record", "--duration", "5s", "--out", "OUT", "--sample-interval", "0"],
     "--sample-interval: expected a duration above zero, got '0'"),
    (["record", "--duration", "5s", "--out", "OUT", "--sample-interval", "0s"], "expected a duration above zero"),
    (["record", "--duration", "5s", "--out", "/proc/1/nope"],
     "record: --out: expected a directory that can be created and written, got '/proc/1/nope'"),
    (["record", "--duration", "5s", "--out", "FILE"], "record: --out: expected a directory"),
    (["record", "--duration", "5s", "--out", "OUT", "--plot", "chart.gif"], "--plot: expected a FILE.svg or FILE.png"),
    (["record", "--duration", "5s", "--out", "OUT", "--plot", "/proc/1/nope/x.svg"],
     "--plot: expected a file that can be written"),
    (["record", "--duration", "5s"], "the following arguments are required: --out"),
    (["record", "--out", "OUT", "--duration", "5s", "--bogus"], "unrecognized arguments: --bogus"),
    (["attach", "abc"], "argument PID: invalid int value: 'abc'"),
    (["attach", "0"], "attach: 0: expected a process id above 0"),
    (["attach", "-5"], "expected a process id above 0"),
    (["attach", "GONE"], "attach: no process with pid"),
    (["attach", "1.5"], "invalid int value: '1.5'"),
    (["attach", "9" * 5000], "invalid int value"),
    (["attach", str(os.getpid()), "--name", "Bad Name"], "expected lowercase letters"),
    (["attach", str(os.getpid()), str(os.getpid())], "each pid once"),
    (["replay", "/nonexistent/dir"], "replay: /nonexistent/dir: not a directory"),
    (["replay", "OUT", "--speed", "5"], "argument --speed: invalid choice"),
    (["replay", "OUT", "--speed", "nan"], "argument --speed: invalid choice"),
    (["serve", "--port", "70000"], "serve: --port: expected a port from 1 to 65535, got 70000"),
    (["serve", "--port", "0"], "expected a port from 1 to 65535, got 0"),
    (["serve", "--port", "abc"], "argument --port: invalid int value: 'abc'"),
    (["serve", "--host", "not an address"], "serve: --host: expected an IP address or a host name"),
    (["serve", "--host", "999.1.1.1"], "got '999.1.1.1'"),
    (["serve", "bogus"], "serve: ARGS: expected one of"),
    (["check", "--json", "--bogus"], "unrecognized arguments: --bogus"),
    (["bogus"], "argument COMMAND: invalid choice: 'bogus'"),
    (["--config"], "argument --config: expected one argument"),
    (["run", "--config", "/nonexistent.yaml"], "expected a readable config file, got no such file"),
]


@pytest.mark.parametrize("argv, fragment", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_argument_is_exit_2_one_line(tmp_path, argv, fragment):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "file").write_text("x")
    names = {"OUT": str(out), "FILE": str(tmp_path / "file"), "GONE": str(_gone_pid())}
    argv = [names.get(arg, arg) for arg in argv]
    result = subprocess.run([sys.executable, "-m", "tui", *argv], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL)
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert fragment in lines[0], lines[0]
    assert result.stdout == "", "nothing may start (or print) before the arguments are known to be good"
    assert list(out.iterdir()) == [], "record wrote into --out before refusing"


WORKLOAD_CASES = [
    (["--size", "abc"], "--size: expected a size such as 512MiB"),
    (["--size=-5MiB"], "--size: expected a size"),
    (["--size", "1e999"], "--size: expected a size"),
    (["--size", "0"], "--size: expected a size above zero, got 0"),
    (["--size", "2PiB"], "--size: expected a size"),
    (["--interval", "nan"], "--interval: expected a duration"),
    (["--interval", "1e999s"], "--interval: expected a duration"),
    (["--hold", "-5s"], "--hold: expected one argument"),
    (["--count", "99999999999999999999"], "--count: expected a whole number"),
    (["--count", "0"], "--count: expected at least 1, got 0"),
    (["--gogc", "-7"], "--gogc: expected -1 (off) or a whole number >= 0, got -7"),
    (["--stats-interval", "0"], "--stats-interval: expected a duration above zero"),
    (["--arena-size", "0"], "--arena-size: expected a size above zero"),
    (["--pattern", "bogus"], "--pattern: expected one of seed"),
    (["--madvise", "MADV_BOGUS"], "--madvise: expected one of MADV_FREE"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["extra"], "unrecognized arguments: extra"),
]


@pytest.mark.parametrize("argv, fragment", WORKLOAD_CASES, ids=[" ".join(a) for a, _ in WORKLOAD_CASES])
def test_bad_workload_flag_is_exit_2_one_line(argv, fragment):
    result = subprocess.run([sys.executable, "-m", "workloads", *argv], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL)
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert fragment in lines[0], lines[0]
    assert result.stdout == "", "the workload said hello (started) despite a bad flag"
