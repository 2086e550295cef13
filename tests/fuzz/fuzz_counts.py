"""The fuzz tests' case counter (one module object shared by the tests and conftest's end-of-run summary)."""

from __future__ import annotations

from collections import Counter

CASES: Counter[str] = Counter()


def count(kind: str, outcome: str) -> None:
    """One fuzz case of `kind` ended in `outcome` (loaded, one-line error, exit 2, ...)."""
    CASES[f"{kind}: {outcome}"] += 1
    CASES[f"{kind}: total"] += 1


def total(kind: str) -> int:
    return CASES[f"{kind}: total"]
