"""Property: any command line is refused as ONE line with exit 2 before anything starts, or gets as far as starting
(the start is replaced by a sentinel here, so nothing runs). Same for `python -m workloads` flags."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzz_counts import count, total
from tui import cli
from tui.core.errors import UsageError

ARGV = settings(max_examples=400, deadline=timedelta(seconds=2), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_TMP = tempfile.mkdtemp(prefix="fuzz-argv-")
OUT_OK = os.path.join(_TMP, "out")
A_FILE = os.path.join(_TMP, "a-file")
open(A_FILE, "w").close()
BAD_CONFIG = os.path.join(_TMP, "bad.yaml")
with open(BAD_CONFIG, "wb") as _f:
    _f.write(b"x: [[[\xff")


class Started(Exception):
    """The command got past its argument checks and would start now."""


@pytest.fixture(autouse=True)
def _nothing_starts(monkeypatch):
    def started(*_args, **_kwargs):
        raise Started()

    import textual_serve.server

    import tui.launch
    import tui.core.kernel.check
    import tui.core.record.recorder
    import tui.watch

    monkeypatch.setattr(tui.launch, "create_app", started)  # run: after the config loaded
    monkeypatch.setattr(tui.core.record.recorder.Recorder, "run", started)  # record: after every check
    monkeypatch.setattr(tui.core.kernel.check, "gather", started)  # check: after its config
    monkeypatch.setattr(tui.watch, "run", started)  # attach / replay: labs built, screen not touched
    monkeypatch.setattr(textual_serve.server.Server, "serve", started)


DURATIONS = st.sampled_from(["abc", "-5s", "nan", "inf", "-inf", "1e999s", "0", "0s", "0ms", "1ms", "10s", "", " ",
                             "1e3", "9999h", "1.5m", "9" * 400, "10 s", "+5s", "--", "-"])
PATHS = st.sampled_from([OUT_OK, "/proc/1/nope", A_FILE, "", "/", "/dev/null", "/nonexistent/x", "x\x00y", "a" * 5000])
PLOTS = st.sampled_from(["x.gif", "x", os.path.join(_TMP, "c.svg"), "/proc/1/x.svg", ".svg", "", "x.PNG"])
PIDS = st.one_of(st.sampled_from(["abc", "0", "-1", "1.5", "", "9" * 5000, "99999999", "0x10", str(os.getpid()), "1"]),
                 st.integers(-10, 5_000_000).map(str))
PORTS = st.one_of(st.sampled_from(["abc", "0", "-1", "65536", "70000", "", "1e3", "8000"]),
                  st.integers(-(2**40), 2**40).map(str))
HOSTS = st.sampled_from(["not an address", "999.1.1.1", "256.0.0.1", "", "::1", "127.0.0.1", "-", "a" * 300,
                         "localhost", "\x00"])
WORDS = st.one_of(st.text(max_size=12), st.sampled_from(["--bogus", "-x", "--config", BAD_CONFIG, "--json", "--"]))


def _subcommand_argv(data) -> list[str]:
    command = data.draw(st.sampled_from(["record", "attach", "replay", "serve", "check", "run", "junk"]))
    argv: list[str] = []
    if data.draw(st.booleans()):
        argv += ["--config", data.draw(st.sampled_from([BAD_CONFIG, A_FILE, "/nonexistent", _TMP]))]
    if command == "record":
        argv += ["record"]
        if data.draw(st.integers(0, 9)):
            argv += [f"--duration={data.draw(DURATIONS)}"]
        if data.draw(st.integers(0, 9)):
            argv += ["--out", data.draw(PATHS)]
        if data.draw(st.booleans()):
            argv += [f"--sample-interval={data.draw(DURATIONS)}"]
        if data.draw(st.booleans()):
            argv += ["--plot", data.draw(PLOTS)]
    elif command == "attach":
        argv += ["attach", *data.draw(st.lists(PIDS, min_size=0, max_size=3))]
        if data.draw(st.booleans()):
            argv += ["--name", data.draw(st.sampled_from(["ok", "Bad Name", "", "x" * 100]))]
    elif command == "replay":
        argv += ["replay", data.draw(PATHS)]
        if data.draw(st.booleans()):
            argv += ["--speed", data.draw(st.sampled_from(["1", "10", "5", "nan", "-1", "abc"]))]
    elif command == "serve":
        argv += ["serve", "--port", data.draw(PORTS), "--host", data.draw(HOSTS)]
        argv += data.draw(st.lists(st.sampled_from(["serve", "replay", "attach", "bogus", "run"]), max_size=2))
    elif command == "check":
        argv += ["check"]
    elif command == "run":
        argv += ["run"]
    else:
        argv += [data.draw(WORDS)]
    argv += data.draw(st.lists(WORDS, max_size=2)) if data.draw(st.integers(0, 4)) == 0 else []
    return argv


def run_argv(argv: list[str]) -> str:
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
    except Started:
        said = stderr.getvalue()
        assert said == "" or (said.startswith("madvise-lab: serving") and said.count("\n") == 1), said
        return "started (valid)"
    except SystemExit as exit_:  # --help and -h only
        assert exit_.code == 0, (argv, stderr.getvalue())
        return "help"
    lines = stderr.getvalue().splitlines()
    assert code == 2, (argv, code, stderr.getvalue())
    assert len(lines) == 1 and lines[0].startswith("madvise-lab") and lines[0].isprintable(), (argv, lines)
    return "exit 2, one line"


@settings(ARGV)
@given(data=st.data())
@example(data=None)
def _argv_case(data):
    argv = ["record", "--duration", "5s", "--out", "/proc/1/nope"] if data is None else _subcommand_argv(data)
    count("madvise-lab argv (in-process)", run_argv(argv))


def test_madvise_lab_command_lines():
    before = total("madvise-lab argv (in-process)")
    _argv_case()
    assert total("madvise-lab argv (in-process)") - before >= 400
    assert os.listdir(OUT_OK) == [] if os.path.isdir(OUT_OK) else True


@settings(ARGV, max_examples=400)
@given(argv=st.lists(st.one_of(
    st.sampled_from([option.flag for option in __import__("workloads.options", fromlist=["OPTIONS"]).OPTIONS]),
    DURATIONS, st.sampled_from(["0", "-1", "9" * 30, "512MiB", "0B", "MADV_FREE", "seed", "bogus", "1PiB", "nan"]),
    st.text(max_size=8)), max_size=6))
def _workload_argv(argv):
    from workloads.cli import UsageError as WorkloadUsageError
    from workloads.cli import parse_options

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            values = parse_options(argv)
    except WorkloadUsageError as error:
        message = str(error)
        assert "\n" not in message and message.startswith("python -m workloads: "), message
        count("workload argv (in-process)", "usage error, one line")
    except SystemExit as exit_:
        assert exit_.code == 0 and any(a in ("-h", "--help") for a in argv), argv
        count("workload argv (in-process)", "help")
    else:
        assert isinstance(values, dict)
        count("workload argv (in-process)", "valid")


def test_workload_command_lines():
    before = total("workload argv (in-process)")
    _workload_argv()
    assert total("workload argv (in-process)") - before >= 400


def test_usage_error_is_always_one_printable_line():
    assert str(UsageError("a\nb\x1b[2J")) == "a\\nb\\x1b[2J"
