"""Skips that must not hide what CI promises: CI (CI=true) runs as root on a machine with a writable memory
cgroup, so there a missing one is a failure; elsewhere (a laptop, a container) the test skips and says why."""

from __future__ import annotations

import os

import pytest


def ci_promises_root() -> bool:
    return os.environ.get("CI") == "true" and os.geteuid() == 0


def skip_unless_promised(reason: str) -> None:
    """Skip with `reason`, or fail with it where CI promised the thing missing."""
    if ci_promises_root():
        pytest.fail(f"CI runs as root and promises this: {reason}", pytrace=False)
    pytest.skip(reason)
