"""Bench 14: a trace flood from the real Go runtime (GOGC=0 churn, gctrace + scavtrace) into the real Lab and app
under Textual's Pilot: lines a second, line -> screen p50/p95 early and late, the dashboard's RSS and CPU.

Line -> screen is measured per `gc N @Ts ...` line (a line the app shows as it is: only our own `lab:` lines are
coalesced): the runtime stamps it with T, seconds since the runtime started, and prints it when the cycle ends,
T plus the cycle's wall-clock phases later. The workload's JSON messages carry `t` on the same program clock; the
smallest (our monotonic arrival - t) over them is the offset between the two clocks (it includes the quickest
pipe hand-off, tens of microseconds; the runtime starts a fraction of a millisecond before the program's own
clock, so latencies read at most that much high). The moment is the call of TracePane.write_trace with the line.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
import sys
import os
import re
import tempfile
import time
from array import array
from pathlib import Path

from bench.common import MiB, Result, Tmux, cpu_seconds, median, percentile, rss_bytes

WARMUP_S = 5.0
MEASURE_S = 30.0
EDGE_S = 5.0  # the first and the last 5 s of the window are compared: the lag must not grow
TAIL_S = 2.0  # after the window, lines still on their way get this long to reach the screen
GOAL_P95_MS = 250.0
# A GOGC=0 churn collects each time its heap grows past the live heap; the churn replaces at most the live heap
# per 100 ms tick, so RATE = 10 x LIVE is its ceiling. Each cycle prints a gc and a scav line. Measured on this
# 2-core VM, three of them at 64 MiB live: ~1,300-2,300 lines/s at ~1.2 cores with the default GOMAXPROCS (2),
# ~2,800 lines/s at ~0.55 of a core with GOMAXPROCS=1 (no cross-CPU handoffs per cycle), which leaves the other
# core to the dashboard. The workloads inherit our environment, so GOMAXPROCS=1 is set for the run.
WORKLOADS = 3
LIVE = "64MiB"
RATE = "640MiB"
WORKLOAD_ENV = {"GOMAXPROCS": "1"}
GOAL_LINES_PER_S = 2000
RSS_GROWTH_MIB = 4.0  # over the last 15 s: the trace pane, series and queues are all bounded
TMUX = Tmux("madvise-lab-bench-flood")
_GC_LINE = re.compile(r"^gc (\d+) @(\d+\.\d+)s \d+%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock")


def flood_config() -> str:
    lines = ["sample_interval: 100ms", "redraw_interval: 250ms", "history: 10m", "trace_lines: 2000",
             "defaults:", "  kind: go", "  pattern: churn", f"  live: {LIVE}", "  object_size: 64KiB",
             f"  rate: {RATE}", "  gogc: 0", "workloads:"]
    for i in range(WORKLOADS):
        lines += [f"  - name: flood{i}", f"    madvise: {'MADV_FREE' if i % 2 == 0 else 'MADV_DONTNEED'}"]
    return "\n".join(lines) + "\n"


async def _flood(config_path: str) -> dict[str, object]:
    from tui.app import MadviseLabApp
    from tui.core.config import load_config
    from tui.core.kernel.system import read_system_info
    from tui.core.sources.live import Lab
    from tui.launch import wire
    from tui.widgets.trace import TracePane

    offsets: dict[str, float] = {}  # our monotonic clock - the workload's program clock
    gc_counts: list[tuple[float, str, int]] = []  # (our time, workload, the runtime's GC count) from stats

    def on_message(name: str, message: dict) -> None:
        now = time.monotonic()
        t = message.get("t")
        if isinstance(t, (int, float)):
            offsets[name] = min(offsets.get(name, float("inf")), now - float(t))
            if message.get("type") == "stats" and isinstance(message.get("gc_count"), int):
                gc_counts.append((now, name, message["gc_count"]))

    config = load_config(config_path)
    lab = Lab(config, on_message=on_message)
    app = wire(MadviseLabApp(lab, read_system_info(), redraw_interval_s=config.redraw_interval_s,
                             sample_interval_s=config.sample_interval_s, trace_lines=config.trace_lines))
    # Bookkeeping in flat arrays (8 bytes a figure), so the RSS we read is the app's, not ours.
    shown_at, shown_emitted, shown_key = array("d"), array("d"), array("q")  # gc lines: when, runtime @T + cycle
    names = list(config.names)
    lines_counted = [0, 0.0, 0.0]  # lines of any kind shown inside the window; the window's ends (set below)
    rss: list[tuple[float, int]] = []
    me = os.getpid()
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            pane = app.query_one(TracePane)
            original = pane.write_trace

            def spy(lines, _original=original):
                now = time.monotonic()
                lines = list(lines)
                if lines_counted[1] <= now <= lines_counted[2]:
                    lines_counted[0] += len(lines)
                for line in lines:
                    match = _GC_LINE.match(line.line)
                    if match and line.workload in names:
                        cycle_s = sum(float(match.group(i)) for i in (3, 4, 5)) / 1000
                        shown_at.append(now)
                        shown_emitted.append(float(match.group(2)) + cycle_s)
                        shown_key.append(int(match.group(1)) * len(names) + names.index(line.workload))
                return _original(lines)
            pane.write_trace = spy  # type: ignore[method-assign]
            await pilot.pause(WARMUP_S)
            pids = [lab.status(name).pid for name in lab.names]
            window_start = time.monotonic()
            lines_counted[1:] = [window_start, window_start + MEASURE_S]
            cpu_start = cpu_seconds(me)
            work_cpu_start = sum(cpu_seconds(pid) for pid in pids if pid)
            rss.append((0.0, rss_bytes(me)))
            while time.monotonic() - window_start < MEASURE_S:
                await pilot.pause(1.0)
                rss.append((time.monotonic() - window_start, rss_bytes(me)))
            window_end = time.monotonic()
            cpu_s = cpu_seconds(me) - cpu_start
            work_cpu_s = sum(cpu_seconds(pid) for pid in pids if pid) - work_cpu_start
            await pilot.pause(TAIL_S)
    finally:
        lab.stop()
    elapsed = window_end - window_start
    # The runtime's GC count from its stats messages: each cycle prints one gc line (and one scav line).
    emitted_gcs = 0
    for name in lab.names:
        counts = [(t, n) for t, w, n in gc_counts if w == name]
        before = [n for t, n in counts if t <= window_start]
        inside = [n for t, n in counts if t <= window_end]
        if before and inside:
            emitted_gcs += inside[-1] - before[-1]
    # gc lines emitted inside the window, by the program clock converted to ours
    seen = set()
    latencies: list[tuple[float, float]] = []  # (emitted at, seconds to the screen)
    for now, program_s, key in zip(shown_at, shown_emitted, shown_key):
        name = names[key % len(names)]
        if name not in offsets:
            continue
        emitted = offsets[name] + program_s
        if window_start <= emitted <= window_end and key not in seen:
            seen.add(key)
            latencies.append((emitted, now - emitted))
    first = [lat for emitted, lat in latencies if emitted <= window_start + EDGE_S]
    last = [lat for emitted, lat in latencies if emitted >= window_end - EDGE_S]
    lines_in_window = lines_counted[0]
    half = [b for t, b in rss if t >= MEASURE_S / 2]
    return {
        "workloads": len(lab.names), "window_s": round(elapsed, 2),
        "gc_lines_emitted_per_s": emitted_gcs / elapsed,
        "gc_lines_shown_of_emitted": len(latencies) / emitted_gcs if emitted_gcs else float("nan"),
        "lines_shown_per_s": lines_in_window / elapsed,
        "p50_first_ms": 1000 * median(first), "p95_first_ms": 1000 * percentile(first, 0.95),
        "p50_last_ms": 1000 * median(last), "p95_last_ms": 1000 * percentile(last, 0.95),
        "p95_all_ms": 1000 * percentile([lat for _, lat in latencies], 0.95),
        "max_ms": 1000 * max((lat for _, lat in latencies), default=float("nan")),
        "min_ms": 1000 * min((lat for _, lat in latencies), default=float("nan")),
        "n_first": len(first), "n_last": len(last),
        "dashboard_core_pct": 100 * cpu_s / elapsed, "workloads_core_pct": 100 * work_cpu_s / elapsed,
        "bench_rss_start_mib": rss[0][1] / MiB, "bench_rss_end_mib": rss[-1][1] / MiB,
        "bench_rss_growth_second_half_mib": (half[-1] - half[0]) / MiB if half else float("nan"),
        "bench_rss_mib_each_s": [round(b / MiB, 1) for _, b in rss],
    }


def _in_tmux(config_path: str) -> dict[str, object]:
    """The real dashboard on the same flood in tmux 160x48: its CPU and RSS (no Pilot, no bookkeeping of ours)."""
    try:
        env = " ".join(f"{key}={shlex.quote(value)}" for key, value in WORKLOAD_ENV.items())
        pid = TMUX.start("bench-flood", f"env {env} {shlex.quote(sys.executable)} -m tui --config "
                                        f"{shlex.quote(config_path)}")
        time.sleep(WARMUP_S)
        before = cpu_seconds(pid)
        started = time.monotonic()
        rss = [(0.0, rss_bytes(pid))]
        while time.monotonic() - started < MEASURE_S:
            time.sleep(1.0)
            rss.append((time.monotonic() - started, rss_bytes(pid)))
        elapsed = time.monotonic() - started
        cpu_pct = 100 * (cpu_seconds(pid) - before) / elapsed
        screen = TMUX.run("capture-pane", "-p", "-t", "bench-flood")
    finally:
        TMUX.kill_server()
    half = [b for t, b in rss if t >= MEASURE_S / 2]
    return {"core_pct": cpu_pct, "rss_start_mib": rss[0][1] / MiB, "rss_end_mib": rss[-1][1] / MiB,
            "rss_growth_second_half_mib": (half[-1] - half[0]) / MiB, "rss_mib_each_s": [round(b / MiB, 1) for _, b in rss],
            "screen_shows_gc_lines": bool(re.search(r"gc \d+ @", screen))}


def run() -> Result:
    result = Result(14, f"trace flood: {WORKLOADS} Go GOGC=0 churns, GOMAXPROCS=1 (gctrace+scavtrace), Pilot 160x48, 30 s",
                    goal=f">= {GOAL_LINES_PER_S} lines/s; line->screen p95 <= {GOAL_P95_MS:.0f} ms first and last "
                         f"5 s; RSS +<= {RSS_GROWTH_MIB:.0f} MiB in the last 15 s")
    from tui.core.golang.toolchain import GoUnavailable, build_workload

    try:
        build_workload()  # once, before the clock runs
    except GoUnavailable as exc:
        raise RuntimeError(f"no Go workload: {exc}") from None
    saved = {key: os.environ.get(key) for key in WORKLOAD_ENV}
    os.environ.update(WORKLOAD_ENV)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "flood.yaml"
            path.write_text(flood_config())
            f = asyncio.run(_flood(str(path)))
            f["tmux"] = tmux = _in_tmux(str(path)) if shutil.which("tmux") else {}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    result.figures = f
    emitted_lines_per_s = 2 * f["gc_lines_emitted_per_s"]  # a gc and a scav line per cycle
    f["lines_emitted_per_s_estimate"] = emitted_lines_per_s
    result.summary = (
        f"{f['lines_shown_per_s']:.0f} lines/s shown (workloads: {f['gc_lines_emitted_per_s']:.0f} GC cycles/s, "
        f"gc+scav ~{emitted_lines_per_s:.0f} lines/s, {f['workloads_core_pct']:.0f} % core; "
        f"{min(100.0, 100 * f['gc_lines_shown_of_emitted']):.1f} % of gc lines shown); line->screen p50/p95 first 5 s "
        f"{f['p50_first_ms']:.0f}/{f['p95_first_ms']:.0f} ms, last 5 s {f['p50_last_ms']:.0f}/{f['p95_last_ms']:.0f} ms "
        f"(max {f['max_ms']:.0f}); under Pilot {f['dashboard_core_pct']:.0f} % core"
    )
    if tmux:
        result.summary += (f"; in tmux {tmux['core_pct']:.0f} % core, RSS {tmux['rss_start_mib']:.0f} -> "
                           f"{tmux['rss_end_mib']:.0f} MiB over 30 s (last 15 s {tmux['rss_growth_second_half_mib']:+.1f})")
    rss_flat = tmux.get("rss_growth_second_half_mib", f["bench_rss_growth_second_half_mib"]) <= RSS_GROWTH_MIB
    result.met = (f["lines_shown_per_s"] >= GOAL_LINES_PER_S * 0.95 and f["gc_lines_shown_of_emitted"] >= 0.99
                  and f["p95_first_ms"] <= GOAL_P95_MS and f["p95_last_ms"] <= GOAL_P95_MS and rss_flat)
    return result
