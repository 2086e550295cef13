"""Bench 8: what one `explain` costs for a process with 1 GiB resident in 4 KiB pages (smaps is a page walk)."""

from __future__ import annotations

import time

from bench.common import GiB, MemChild, Result, median
from tui.core.explain import explain_pid

READS = 15


def _explain_ms(pid: int) -> dict[str, float]:
    """Median smaps read+parse, whole explanation (wall) and its CPU, in ms."""
    smaps_ms, total_ms, cpu_ms = [], [], []
    mappings = 0
    for _ in range(READS):
        c0 = time.thread_time()
        explanation = explain_pid(pid)
        cpu_ms.append((time.thread_time() - c0) * 1000)
        smaps_ms.append(explanation.smaps_read_s * 1000)
        total_ms.append(explanation.total_s * 1000)
        mappings = explanation.mapping_count
    return {"smaps_ms": round(median(smaps_ms), 2), "explain_ms": round(median(total_ms), 2),
            "cpu_ms": round(median(cpu_ms), 2), "mappings": mappings}


def run() -> Result:
    result = Result(8, "one explain of a 1 GiB process", goal="(measured; on demand only, never at the sample rate)")
    figures: dict[str, dict[str, float]] = {}
    with MemChild(GiB) as child:
        for state in ("resident", "MADV_FREE"):
            if state != "resident":
                child.command(state)
            figures[state] = _explain_ms(child.pid)
            print(f"  {state:9} smaps {figures[state]['smaps_ms']:6.2f} ms, explain {figures[state]['explain_ms']:6.2f}"
                  f" ms wall, {figures[state]['cpu_ms']:6.2f} ms CPU, {figures[state]['mappings']} mappings", flush=True)
    result.figures = figures
    result.summary = "; ".join(f"{state}: smaps read+parse {f['smaps_ms']:.1f} ms, whole explain {f['explain_ms']:.1f} ms"
                               f" ({f['mappings']:.0f} mappings)" for state, f in figures.items())
    result.met = None
    return result
