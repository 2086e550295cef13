"""Bench 4: cost of reusing 1 GiB released with MADV_FREE vs MADV_DONTNEED (re-touch after release), ms/GiB."""

from __future__ import annotations

import time

from bench.common import GiB, Result, median
from workloads.madvise import ADVICE, madvise, map_anonymous, touch, unmap

TRIALS = 3


def _trial(addr: int, n_bytes: int, mode: str) -> tuple[float, float]:
    """(madvise ms, re-touch ms) for one release of the whole mapping with `mode`."""
    touch(addr, n_bytes, 0x11)
    started = time.perf_counter()
    madvise(addr, n_bytes, ADVICE[mode])
    released = time.perf_counter()
    # Re-touch at once: this VM hands memory idle for ~2 s back to its host, which would slow a later touch.
    touch(addr, n_bytes, 0x22)
    done = time.perf_counter()
    return (released - started) * 1000, (done - released) * 1000


def run() -> Result:
    result = Result(4, "reuse after MADV_FREE vs MADV_DONTNEED", goal="(measured; FREE cheaper)")
    n_bytes = GiB
    addr = map_anonymous(n_bytes)
    figures: dict[str, dict[str, list[float]]] = {m: {"madvise_ms": [], "retouch_ms": []}
                                                   for m in ("MADV_FREE", "MADV_DONTNEED")}
    try:
        touch(addr, n_bytes, 0x01)
        for _ in range(TRIALS):
            for mode in ("MADV_FREE", "MADV_DONTNEED"):  # alternate so drift hits both alike
                madvise_ms, retouch_ms = _trial(addr, n_bytes, mode)
                figures[mode]["madvise_ms"].append(madvise_ms)
                figures[mode]["retouch_ms"].append(retouch_ms)
        started = time.perf_counter()
        touch(addr, n_bytes, 0x33)  # resident rewrite: the ceiling
        rewrite_ms = (time.perf_counter() - started) * 1000
    finally:
        unmap(addr, n_bytes)
    free_ms = median(figures["MADV_FREE"]["retouch_ms"])
    dontneed_ms = median(figures["MADV_DONTNEED"]["retouch_ms"])
    result.figures = {**figures, "resident_rewrite_ms": rewrite_ms,
                      "free_ms_per_gib": free_ms, "dontneed_ms_per_gib": dontneed_ms,
                      "dontneed_over_free": dontneed_ms / free_ms}
    result.summary = (f"reuse {free_ms:.0f} ms/GiB after FREE vs {dontneed_ms:.0f} ms/GiB after DONTNEED "
                      f"(x{dontneed_ms / free_ms:.2f}); madvise {median(figures['MADV_FREE']['madvise_ms']):.0f} vs "
                      f"{median(figures['MADV_DONTNEED']['madvise_ms']):.0f} ms; resident rewrite {rewrite_ms:.0f} ms")
    result.met = free_ms < dontneed_ms
    return result
