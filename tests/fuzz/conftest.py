"""Fuzz tests: the run ends with how many cases each fuzz test fed in and how they ended."""

from __future__ import annotations

import pytest

from fuzz_counts import CASES


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter) -> None:
    if not CASES:
        return
    terminalreporter.section("fuzz case counts")
    for key in sorted(CASES):
        terminalreporter.write_line(f"{key:<56} {CASES[key]:>6}")
