"""Bench 10: an accelerated hour under faults: 8 real workloads, a mode toggle every 10 s, a pressure step every
minute, a workload SIGKILLed every 5 minutes and restarted with `r`; the dashboard's RSS, and what is left behind.

Time runs 12x: the hour takes 5 minutes (MADVISE_SOAK_S overrides the wall-clock length; events scale with it).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import time

from bench.common import REPO, MiB, Result, rss_bytes

SPEEDUP = 12.0
WALL_S = float(os.environ.get("MADVISE_SOAK_S", 3600.0 / SPEEDUP))
TOGGLE_S, PRESSURE_S, KILL_S = 10.0 / SPEEDUP, 60.0 / SPEEDUP, 300.0 / SPEEDUP
HISTORY_S = 60.0  # wall-clock seconds of history: the series rings are full after this
WARMUP_S = max(WALL_S / 6, HISTORY_S * 1.25)  # rings and the trace pane filling, imports, first draws
KEYS = tuple(os.environ.get("MADVISE_SOAK_KEYS", "tab m").split())  # what a toggle presses
NAMES = tuple(f"w{i}" for i in range(8))
CONFIG = "\n".join([
    "sample_interval: 100ms",
    f"history: {HISTORY_S:g}s",
    "alloc_bytes: 4MiB",
    "defaults: {pattern: sawtooth, size: 4MiB, peak: 16MiB, interval: 250ms, arena_size: 4MiB,",
    "           forced_gc_period: 2s, scavenger: eager, stats_interval: 100ms}",
    "workloads:",
    *(f"  - {{name: {name}, madvise: {'MADV_FREE' if i % 2 else 'MADV_DONTNEED'}}}" for i, name in enumerate(NAMES)),
]) + "\n"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] not in "ZX"
    except OSError:
        return False


async def _soak() -> dict:
    from tui.launch import create_app
    from tui.core.config import parse_config

    config = parse_config(CONFIG, "soak.yaml")
    app = create_app(config)
    lab = app.lab
    pids: set[int] = set()
    kills = restarts = toggles = pressure_steps = 0
    kill_to_exited_s: list[float] = []
    points: list[tuple[float, int]] = []
    crashed = ""

    async def wait_for(predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.05)
        return predicate()

    try:
        async with app.run_test(size=(200, 60)) as pilot:
            assert await wait_for(lambda: all(lab.status(n).state == "running" for n in NAMES), 60)
            started = time.monotonic()
            next_toggle, next_pressure, next_kill, next_point = TOGGLE_S, PRESSURE_S, KILL_S, 0.0
            victim = 0
            while (now := time.monotonic() - started) < WALL_S:
                pids.update(lab.status(n).pid for n in NAMES if lab.status(n).pid)
                if now >= next_point:
                    gc.collect()
                    points.append((now * SPEEDUP, rss_bytes(os.getpid())))
                    next_point += WALL_S / 60
                if now >= next_toggle:
                    await pilot.press(*KEYS)
                    toggles += 1
                    next_toggle += TOGGLE_S
                if now >= next_pressure:
                    # a step down; every fourth time lift it, so the squeeze keeps having room
                    await pilot.press("P" if pressure_steps % 4 == 3 else "p")
                    pressure_steps += 1
                    next_pressure += PRESSURE_S
                if now >= next_kill:
                    name = NAMES[victim % len(NAMES)]
                    victim += 1
                    pid = lab.status(name).pid
                    if pid:
                        killed_at = time.monotonic()
                        os.kill(pid, signal.SIGKILL)
                        kills += 1
                        if await wait_for(lambda: getattr(app.query_one(f"#panel-{name}").view, "state", "") == "exited", 10):
                            kill_to_exited_s.append(time.monotonic() - killed_at)
                        app.query_one(f"#panel-{name}").focus()
                        await pilot.press("r")
                        if await wait_for(lambda: lab.status(name).state == "running"
                                          and lab.status(name).pid not in (None, pid), 20):
                            restarts += 1
                    next_kill += KILL_S
                await pilot.pause(0.05)
            await pilot.press("q")
    except Exception as error:  # noqa: BLE001 - the figure to report
        crashed = f"{type(error).__name__}: {error}"
    finally:
        lab.stop()
    await asyncio.sleep(0.5)
    left = sorted(pid for pid in pids if _alive(pid))
    return {"points": points, "kills": kills, "restarts": restarts, "shown_exited": len(kill_to_exited_s),
            "kill_to_exited_s": kill_to_exited_s, "toggles": toggles, "pressure_steps": pressure_steps,
            "left_behind": left, "crashed": crashed, "workload_pids": len(pids)}


def run() -> Result:
    result = Result(10, "soak under faults (accelerated hour)",
                    goal="no crash, RSS ±10% after warm-up, each kill shown and restarted, nothing left")
    done = subprocess.run([sys.executable, "-m", "bench.soak_faults"], cwd=REPO, capture_output=True, text=True,
                          check=True, timeout=WALL_S + 300)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    after = [rss for t, rss in figures["points"] if t >= WARMUP_S * SPEEDUP]
    middle = sorted(after)[len(after) // 2]
    spread = (max(after) - min(after)) / 2 / middle
    figures.update(rss_after_warmup_mib=(round(min(after) / MiB, 1), round(max(after) / MiB, 1)),
                   rss_median_mib=round(middle / MiB, 1), rss_spread_pct=round(100 * spread, 1))
    worst_exit = max(figures["kill_to_exited_s"], default=float("nan"))
    result.figures = figures
    result.summary = (f"{'crashed: ' + figures['crashed'] if figures['crashed'] else 'no crash'}; RSS "
                      f"{min(after) / MiB:.0f}-{max(after) / MiB:.0f} MiB after warm-up (±{100 * spread:.1f} %); "
                      f"{figures['toggles']} toggles, {figures['pressure_steps']} pressure steps, {figures['kills']} "
                      f"kills: {figures['shown_exited']} shown exited (worst {worst_exit:.2f} s), "
                      f"{figures['restarts']} restarted with r; {len(figures['left_behind'])} processes left")
    result.met = (not figures["crashed"] and spread <= 0.10 and figures["kills"] > 0
                  and figures["shown_exited"] == figures["restarts"] == figures["kills"]
                  and not figures["left_behind"])
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_soak())))
