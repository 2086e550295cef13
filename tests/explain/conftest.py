"""Explain-test fixtures: real processes started by the test, every one killed at teardown."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from explain_support import Child


@pytest.fixture
def spawn() -> Iterator:
    """spawn(argv, env) starts a child; every child is killed at teardown."""
    children: list[Child] = []

    def start(argv: Sequence[str], env: dict[str, str] | None = None, cwd: str | None = None) -> Child:
        child = Child(argv, env, cwd)
        children.append(child)
        return child

    yield start
    for child in children:
        child.close()
