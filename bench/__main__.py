"""`python3 -m bench [--only N ...]`: run the benchmarks, print a table, write bench/results/latest.json."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from bench.common import Result

BENCHMARKS = {
    1: ("bench.dashboard_cpu", "dashboard CPU vs glances/htop, default config, median of 3"),
    2: ("bench.sampling", "sampling cost, 1 GiB in 4 KiB pages"),
    3: ("bench.first_touch", "first-touch throughput vs ctypes.memset"),
    4: ("bench.reuse", "reuse after MADV_FREE vs MADV_DONTNEED"),
    5: ("bench.latency", "release -> screen latency"),
    6: ("bench.soak", "dashboard RSS after an accelerated hour"),
    7: ("bench.pagemap", "pagemap read per GiB (heap map)"),
    8: ("bench.explain", "one explain of a 1 GiB process"),
    9: ("bench.allocators", "allocators: first touch and reuse after release"),
    10: ("bench.soak_faults", "soak under faults (accelerated hour)"),
    11: ("bench.churn:run_churn", "churn: two churning workloads vs glances"),
    12: ("bench.churn:run_count", "churning workloads 1-16: CPU and release -> screen"),
    13: ("bench.churn:run_startup", "start-up to the first frame with kernel figures"),
    14: ("bench.trace_flood", "trace flood: real Go gctrace at ~2,000 lines/s -> screen, RSS, CPU"),
    15: ("bench.big_process", "big process: attach to 8 GiB in 4 KiB pages, cost per GiB, LazyFree age"),
}
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, object]:
    from tui.core.kernel.system import read_system_info

    info = read_system_info()
    meminfo_total = 0
    with open("/proc/meminfo") as file:
        for line in file:
            if line.startswith("MemTotal:"):
                meminfo_total = int(line.split()[1]) * 1024
    model = ""
    with open("/proc/cpuinfo") as file:
        for line in file:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu_model": model, "mem_total_gib": round(meminfo_total / (1 << 30), 1),
            "kernel": info.kernel_release, "thp": info.thp_mode, "swap_bytes": info.swap_total_bytes,
            "python": platform.python_version()}


def run_one(number: int) -> Result:
    target, name = BENCHMARKS[number]
    module_name, _, function = target.partition(":")
    started = time.monotonic()
    try:
        result = getattr(importlib.import_module(module_name), function or "run")()
    except Exception as exc:  # noqa: BLE001 - one failing benchmark must not hide the others
        traceback.print_exc(file=sys.stderr)
        result = Result(number, name, summary=f"could not run: {exc}", error=f"{type(exc).__name__}: {exc}")
    result.figures["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def table(results: list[Result]) -> str:
    rows = [("#", "benchmark", "result", "goal", "met")]
    for r in results:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        rows.append((str(r.number), r.name, r.summary, r.goal, met))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(results: list[Result]) -> str:
    lines = ["| # | benchmark | result | goal | met |", "|---|---|---|---|---|"]
    for r in results:
        met = "-" if r.met is None else ("yes" if r.met else "no")
        lines.append(f"| {r.number} | {r.name} | {r.summary} | {r.goal} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__)
    parser.add_argument("--only", type=int, action="append", choices=sorted(BENCHMARKS), metavar="N",
                        help="run benchmark N only (repeatable): " +
                             ", ".join(f"{n} {name}" for n, (_, name) in BENCHMARKS.items()))
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown (README)")
    args = parser.parse_args(argv)
    numbers = args.only or sorted(BENCHMARKS)
    results = []
    for number in numbers:
        print(f"[{number}] {BENCHMARKS[number][1]} ...", file=sys.stderr, flush=True)
        results.append(run_one(number))
    print(table(results))
    if args.markdown:
        print()
        print(markdown(results))
    RESULTS.mkdir(exist_ok=True)
    document = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), "command": " ".join(sys.argv),
                "results": [dataclasses.asdict(r) for r in results]}
    name = "latest.json" if not args.only else f"latest-only-{'-'.join(map(str, numbers))}.json"
    (RESULTS / name).write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS / name}", file=sys.stderr)
    return 0 if all(r.error is None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
