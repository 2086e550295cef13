"""Parse and format sizes ("512MiB") and durations ("10s", "2m") as users write them."""

from __future__ import annotations

import re

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30  # the one definition; tui.core.units re-exports it

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1 << 10, "kib": 1 << 10, "kb": 1000,
    "m": 1 << 20, "mib": 1 << 20, "mb": 1000**2,
    "g": 1 << 30, "gib": 1 << 30, "gb": 1000**3,
    "t": 1 << 40, "tib": 1 << 40, "tb": 1000**4,
}
_DURATION_UNITS = {"": 1.0, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_NUMBER_UNIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$")

# Bounds no real machine or run exceeds: a value past them is a typo, not a setting (and would overflow later).
MAX_SIZE_BYTES = 1 << 50  # 1 PiB
MAX_DURATION_S = 366 * 86400.0  # a year

SIZE_HELP = "a size such as 512MiB, 64KiB, 1GiB or a byte count (KiB/MiB/GiB are binary, KB/MB/GB decimal)"
DURATION_HELP = "a duration such as 500ms, 10s, 2.5m, 1h or a number of seconds"


def parse_size(text: str | int) -> int:
    """Bytes in `text` (0 to 1 PiB); raises ValueError with what is accepted."""
    if isinstance(text, bool):
        raise ValueError(f"expected {SIZE_HELP}, got {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"expected {SIZE_HELP}, got a negative number {short_repr(text)}")
        if text > MAX_SIZE_BYTES:
            raise ValueError(f"expected a size of at most 1PiB, got {short_repr(text)}")
        return text
    match = _NUMBER_UNIT.match(str(text)) if len(str(text)) <= 64 else None
    unit = match.group(2).lower() if match else None
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(f"expected {SIZE_HELP}, got {short_repr(text)}")
    n_bytes = float(match.group(1)) * _SIZE_UNITS[unit]
    if not n_bytes <= MAX_SIZE_BYTES:  # also catches inf from a very long number
        raise ValueError(f"expected a size of at most 1PiB, got {short_repr(text)}")
    return int(n_bytes)


def parse_duration(text: str | int | float) -> float:
    """Seconds in `text` (0 to a year, finite); raises ValueError with what is accepted."""
    if isinstance(text, bool):
        raise ValueError(f"expected {DURATION_HELP}, got {text!r}")
    if isinstance(text, (int, float)):
        if text != text or text in (float("inf"), float("-inf")):
            raise ValueError(f"expected {DURATION_HELP}, got {text!r}")
        if text < 0:
            raise ValueError(f"expected {DURATION_HELP}, got a negative number {short_repr(text)}")
        if text > MAX_DURATION_S:
            raise ValueError(f"expected a duration of at most a year (8784h), got {short_repr(text)}s")
        return float(text)
    match = _NUMBER_UNIT.match(str(text)) if len(str(text)) <= 64 else None
    unit = match.group(2).lower() if match else None
    if not match or unit not in _DURATION_UNITS:
        raise ValueError(f"expected {DURATION_HELP}, got {short_repr(text)}")
    seconds = float(match.group(1)) * _DURATION_UNITS[unit]
    if not seconds <= MAX_DURATION_S:
        raise ValueError(f"expected a duration of at most a year (8784h), got {short_repr(text)}")
    return seconds


def short_repr(value: object) -> str:
    """repr of a value for a message, cut to a readable length (a 5000-digit number stays one short line)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"a {len(str(abs(value))) if abs(value) < 10**4000 else 'several thousand'}-digit number"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_size(n_bytes: int) -> str:
    """Shortest exact binary form: 536870912 -> '512MiB'."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n_bytes and n_bytes % factor == 0:
            return f"{n_bytes // factor}{unit}"
    return f"{n_bytes}B"


def format_duration(seconds: float) -> str:
    """'10s', '2.5m', '500ms' — the inverse of parse_duration for round values."""
    if seconds and seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 60 and seconds % 6 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def mib(n_bytes: int | float) -> float:
    """Bytes as MiB (float)."""
    return n_bytes / (1 << 20)
