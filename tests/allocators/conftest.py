"""Native allocator fixtures: Labs on real allocator workloads, stopped at teardown."""

from __future__ import annotations

import pytest
from allocator_support import NativeRun


@pytest.fixture
def native_run():
    runs: list[NativeRun] = []

    def start(text: str) -> NativeRun:
        run = NativeRun(text)
        runs.append(run)
        run.lab.start()
        return run
    yield start
    for run in runs:
        run.lab.stop()
