"""One vocabulary for every source: chart marker labels and trace-line kinds, live, attached and replayed alike."""

from __future__ import annotations

from tui.core.golang import trace as gotrace
from tui.core.units import MiB

# Marker kinds (the chart's marks) and trace kinds (the trace pane's colours): each word means one thing.
MARKER_KINDS = ("gc", "scavenge", "mode", "pressure", "restart")
TRACE_KINDS = ("gc", "scav", "lab", "error", "other")  # the same as workloads.protocol.TRACE_KINDS


def gc_label(n: object, forced: bool) -> str:
    """`gc 3`, or `gc 3 (forced)` for a command or the periodic forced GC."""
    return f"gc {n}" + (" (forced)" if forced else "")


def scavenge_label(released_bytes: int) -> str:
    """`scavenge 512 MiB`: what one scavenger pass returned to the kernel."""
    return f"scavenge {released_bytes / MiB:.0f} MiB"


def mode_label(old: object, new: object) -> str:
    """`MADV_FREE → MADV_DONTNEED`."""
    return f"{old} → {new}" if old else str(new)


def restart_label(madvise: str) -> str:
    return f"restart ({madvise})"


def trace_kind(line: str) -> str:
    """The kind of a trace line from its text: our `lab:` lines (errors among them), else Go's gctrace/scavenger."""
    if line.startswith("lab: "):
        return "error" if line.startswith("lab: error") else "lab"
    try:
        return gotrace.classify(line)
    except Exception:  # noqa: BLE001 - a classifier bug must not kill a reader thread
        return "other"
