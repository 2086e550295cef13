"""attach and replay from the command line: bad input is one line and exit code 2, before any screen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=30, input=stdin)


def one_line_exit_2(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_attach_nonexistent_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert one_line_exit_2(run("attach", str(proc.pid))) == f"madvise-lab: error: attach: no process with pid {proc.pid}"


def test_attach_not_a_pid():
    assert "invalid int value: 'abc'" in one_line_exit_2(run("attach", "abc"))


def test_attach_trace_stdin_needs_a_terminal_for_keys():
    # No controlling terminal here (capture_output, no tty): say so rather than crash in the driver.
    line = one_line_exit_2(subprocess.run(
        [sys.executable, "-m", "tui", "attach", str(__import__("os").getpid()), "--trace", "-"], cwd=REPO,
        capture_output=True, text=True, timeout=30, input="gc 1 @0.1s\n", start_new_session=True))
    assert "--trace -" in line and "terminal" in line


def test_replay_missing_and_bad_dirs(tmp_path):
    assert "not a directory" in one_line_exit_2(run("replay", str(tmp_path / "nope")))
    assert "samples.csv: missing" in one_line_exit_2(run("replay", str(tmp_path)))
    (tmp_path / "samples.csv").write_text("t_s,rss\n1,2\n")
    assert "samples.csv:1: expected the columns" in one_line_exit_2(run("replay", str(tmp_path)))
