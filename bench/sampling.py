"""Bench 2: the core Sampler's cost per sample on a 1 GiB workload in 4 KiB pages, and LazyFree staleness."""

from __future__ import annotations

import resource
import threading
import time

from bench.common import GiB, MemChild, Result, median
from tui.core.kernel.sampler import Sampler

RUN_S = 10.0
INTERVAL_S = 0.1


def _thread_cpu_run(sampler: Sampler, run_s: float) -> float:
    """CPU seconds the whole bench process used while only the sampler thread worked (RUSAGE_SELF)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    sampler.start()
    time.sleep(run_s)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cost(pid: int, rollup_max_age_s: float, skip_idle: bool = True) -> dict[str, float]:
    sampler = Sampler(INTERVAL_S, lambda *_: None, rollup_max_age_s=rollup_max_age_s, skip_idle=skip_idle)
    sampler.add(pid)
    cpu_s = _thread_cpu_run(sampler, RUN_S)
    stats = sampler.stats()
    sampler.stop()
    return {
        "ticks": stats.ticks,
        "rollup_reads": stats.rollup_reads,
        "rollups_skipped_idle": stats.rollups_skipped_idle,
        "ms_per_rollup": 1000 * stats.rollup_s / max(1, stats.rollup_reads),
        "ms_per_tick": 1000 * (stats.rollup_s + stats.statm_s) / max(1, stats.ticks),
        "core_pct": 100 * cpu_s / RUN_S,
    }


def _staleness(pid: int, child: MemChild, invalidate: bool) -> float:
    """Seconds from the MADV_FREE call's return until the sampler reports LazyFree >= 99 % of the mapping."""
    seen = threading.Event()
    seen_at: list[float] = []

    def callback(_pid, _t_s, memory):
        if memory is not None and memory.lazyfree_bytes >= 0.99 * GiB and not seen.is_set():
            seen_at.append(time.monotonic())
            seen.set()

    sampler = Sampler(INTERVAL_S, callback)
    sampler.add(pid)
    sampler.start()
    time.sleep(1.5)  # settled: the first rollup is old news
    _, released_at = child.command("MADV_FREE")
    if invalidate:
        sampler.invalidate(pid)  # what the Lab does when the workload's scavenge event arrives
    seen.wait(5)
    sampler.stop()
    child.command("touch")  # LazyFree back to 0 for the next trial
    return (seen_at[0] - released_at) if seen_at else float("inf")


def run() -> Result:
    result = Result(2, "sampling cost, 1 GiB in 4 KiB pages",
                    goal="<= 1 % core per GiB at 10 Hz; LazyFree fresh <= 1 s")
    with MemChild(GiB) as child:
        smart = _cost(child.pid, rollup_max_age_s=1.0)
        # a process that runs all the time gets the once-a-second rollup: what the idle rule cannot save
        running = _cost(child.pid, rollup_max_age_s=1.0, skip_idle=False)
        naive = _cost(child.pid, rollup_max_age_s=0.0, skip_idle=False)
        stale_plain = [_staleness(child.pid, child, invalidate=False) for _ in range(3)]
        stale_hinted = [_staleness(child.pid, child, invalidate=True) for _ in range(3)]
    worst_stale_s = max(stale_plain)
    result.figures = {
        "sampler": smart,
        "sampler_if_the_process_runs": running,
        "rollup_every_tick": naive,
        "lazyfree_staleness_s_no_hint": stale_plain,
        "lazyfree_staleness_s_with_invalidate": stale_hinted,
    }
    result.summary = (
        f"{smart['core_pct']:.2f} % core ({smart['ms_per_tick']:.2f} ms/tick, rollup {smart['ms_per_rollup']:.1f} ms "
        f"x{smart['rollup_reads']}, {smart['rollups_skipped_idle']} skipped: idle); "
        f"if it runs {running['core_pct']:.2f} % (x{running['rollup_reads']}); rollup every tick {naive['core_pct']:.1f} %; "
        f"LazyFree stale max {worst_stale_s * 1000:.0f} ms (with hint {median(stale_hinted) * 1000:.1f} ms)"
    )
    result.met = smart["core_pct"] <= 1.0 and worst_stale_s <= 1.0
    return result
