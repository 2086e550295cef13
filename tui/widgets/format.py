"""Number formatting shared by the widgets (MiB with one decimal, seconds)."""

from __future__ import annotations

from tui.core.units import GiB, MiB


def mib(n_bytes: int | float | None) -> str:
    """'256.0 MiB'; '—' when unknown."""
    if n_bytes is None:
        return "—"
    return f"{n_bytes / MiB:.1f} MiB"


def human_bytes(n_bytes: int | float) -> str:
    """'22.1 GiB' above 1 GiB, else MiB."""
    if abs(n_bytes) >= GiB:
        return f"{n_bytes / GiB:.1f} GiB"
    return mib(n_bytes)
