"""Shared helpers for the pressure tests: our own view of the memory cgroup tree."""

from __future__ import annotations

import os

import pytest

from ci_promise import skip_unless_promised

from tui.core.kernel.cgroups import CgroupManager

MiB = 1 << 20
GiB = 1 << 30


def cgroup_root() -> str:
    """The writable memory cgroup the Lab uses with cgroup_root auto; skips (fails on CI as root) when there is none."""
    manager = CgroupManager()
    if not manager.available:
        skip_unless_promised(f"no writable memory cgroup: {manager.reason}")
    return manager.root


def ours(root: str, dashboard_pid: int | None = None) -> list[str]:
    """Our cgroup dirs under root (of one dashboard pid, or of any)."""
    prefix = "madvise-lab-" if dashboard_pid is None else f"madvise-lab-{dashboard_pid}-"
    try:
        return sorted(n for n in os.listdir(root) if n.startswith(prefix) and not n.endswith("-probe"))
    except OSError:
        return []
