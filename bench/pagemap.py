"""Bench 7: what reading a process's page residency costs per GiB: PAGEMAP_SCAN ioctl against pread of pagemap."""

from __future__ import annotations

import time

from bench.common import GiB, MemChild, Result, median
from tui.core.kernel.pagemap import PagemapReader, anonymous_mappings, count

READS = 15


def _per_read_ms(reader: PagemapReader, start: int, end: int) -> tuple[float, float, int]:
    """Median wall and CPU milliseconds of one read of [start, end), and its present pages (a sanity figure)."""
    wall, cpu = [], []
    present = 0
    for _ in range(READS):
        w0, c0 = time.perf_counter(), time.thread_time()
        codes = reader.read(start, end)
        cpu.append((time.thread_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
        present = count(codes)[1]
    return median(wall), median(cpu), present


def run() -> Result:
    result = Result(7, "pagemap read per GiB (heap map)", goal="(measured; read at most once a second while shown)")
    figures: dict[str, dict[str, float]] = {}
    with MemChild(GiB) as child:
        start, end = anonymous_mappings(child.pid, largest=1)[0]
        gib = (end - start) / GiB
        with PagemapReader(child.pid, prefer="scan") as scan, PagemapReader(child.pid, prefer="read") as read:
            readers = [("scan", scan), ("read", read)] if scan.method == "scan" else [("read", read)]
            for state in ("resident", "MADV_FREE", "MADV_DONTNEED"):
                if state != "resident":
                    child.command(state)
                for name, reader in readers:
                    wall_ms, cpu_ms, present = _per_read_ms(reader, start, end)
                    figures[f"{name} {state}"] = {"ms_per_gib": round(wall_ms / gib, 3),
                                                  "cpu_ms_per_gib": round(cpu_ms / gib, 3),
                                                  "present_pages": present}
                    print(f"  {name:4} {state:13} {wall_ms / gib:7.2f} ms/GiB wall, {cpu_ms / gib:7.2f} ms/GiB CPU, "
                          f"{present} pages present", flush=True)
    result.figures = figures
    parts = []
    for state in ("resident", "MADV_FREE", "MADV_DONTNEED"):
        row = " vs ".join(f"{name} {figures[f'{name} {state}']['ms_per_gib']:.2f}"
                          for name in ("scan", "read") if f"{name} {state}" in figures)
        parts.append(f"{state} {row}")
    result.summary = "ms per GiB in 4 KiB pages: " + "; ".join(parts)
    result.met = None
    return result
