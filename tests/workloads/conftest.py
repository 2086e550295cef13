"""The workload tests' fixture: spawn real workload processes, all killed after the test."""

from __future__ import annotations

import pytest

from workload_support import Workload


@pytest.fixture
def spawn():
    started: list[Workload] = []

    def _spawn(*flags: str) -> Workload:
        workload = Workload(*flags)
        started.append(workload)
        return workload

    yield _spawn
    for workload in started:
        workload.close()
