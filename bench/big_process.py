"""Bench 15: attach to a running 8 GiB process in 4 KiB pages that keeps writing to its memory (bench/_bigchild.py):
the sampler thread's CPU and the whole `madvise-lab attach` dashboard's (tmux 160x48), per GiB; how old LazyFree
is; and the kernel's floor, one smaps_rollup page walk of that process, timed here.

LazyFree's age is measured two ways. From outside: the child moves LazyFree by 64 MiB every 1.3 s (re-writing or
re-freeing a chunk, which statm cannot see: RSS stays put) and says when; the age is the time from the change to
the first sample the attach source hands out that shows it. From the sampler's stats(): each sample's age is the
time since the latest smaps_rollup read before it (rollup reads seen by polling stats() every 20 ms).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
import time

from bench.common import CLK_TCK, GiB, MiB, REPO, Result, Tmux, cpu_seconds, median, percentile

SIZE_BYTES = 8 * GiB
FREE_BYTES = 1 * GiB
TOGGLE_S = 1.3  # not a multiple of the 1 s periodic rollup, so the changes land at every phase of it
SPARE_BYTES = 2 * GiB  # MemAvailable must hold the child and this much more
IN_PROCESS_S = 30.0
TMUX_WARMUP_S = 3.0
TMUX_MEASURE_S = 20.0
STATS_POLL_S = 0.02
ROLLUP_READS = 10
GOAL_PCT_PER_GIB = 1.0
GOAL_AGE_S = 1.0
TMUX = Tmux("madvise-lab-bench-big")


def mem_available_bytes() -> int:
    with open("/proc/meminfo") as file:
        for line in file:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


class BigChild:
    """bench/_bigchild.py as a subprocess; `changes` collects its (LazyFree bytes, monotonic time) announcements."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench._bigchild", str(SIZE_BYTES), str(FREE_BYTES), str(TOGGLE_S)],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        self.changes: list[tuple[int, float]] = []
        line = self.proc.stdout.readline()  # touching 8 GiB takes a few seconds
        if not line.startswith("ready"):
            self.close()
            raise RuntimeError(f"the 8 GiB child failed to start: {line!r}")
        _, lazyfree, at = line.split()
        self.changes.append((int(lazyfree), float(at)))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "lazyfree":
                self.changes.append((int(parts[1]), float(parts[2])))

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _thread_cpu_s(pid: int, tid: int) -> float:
    with open(f"/proc/{pid}/task/{tid}/stat", "rb") as file:
        text = file.read()
    fields = text[text.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _sampler_tid(pid: int) -> int | None:
    """The sampler thread of another process, when the OS knows its name (comm holds 15 characters)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as file:
                if file.read().strip().startswith("madvise-lab-sam"):
                    return int(tid)
        except OSError:
            continue
    return None


def rollup_floor(pid: int) -> dict[str, float]:
    """One read of /proc/PID/smaps_rollup (the kernel walks every page table entry), median of ROLLUP_READS."""
    walls, cpus = [], []
    with open(f"/proc/{pid}/smaps_rollup", "rb", buffering=0) as file:
        for _ in range(ROLLUP_READS):
            wall, cpu = time.perf_counter(), time.thread_time()
            file.seek(0)
            file.read(4096)
            cpus.append(time.thread_time() - cpu)
            walls.append(time.perf_counter() - wall)
    return {"rollup_ms": 1000 * median(walls), "rollup_cpu_ms": 1000 * median(cpus),
            "rollup_ms_min": 1000 * min(walls), "rollup_ms_max": 1000 * max(walls)}


def in_process(child: BigChild) -> dict[str, object]:
    """AttachLab in this process for IN_PROCESS_S: the sampler thread's CPU, and LazyFree's age both ways."""
    from tui.core.sources.attach import AttachLab

    lab = AttachLab([child.pid], names=["big"])
    samples: list[tuple[float, int]] = []  # (our monotonic time of the sample, LazyFree bytes)
    rollups: list[float] = []  # when the sampler's rollup count went up (our clock, within STATS_POLL_S)
    sampler = getattr(lab, "_sampler", None)  # not public: the per-sample age is skipped if it moves
    stats = getattr(sampler, "stats", None)
    cpu_s = None
    lab.start()
    try:
        epoch = time.monotonic() - lab.t_s()
        tid = next((t.native_id for t in threading.enumerate() if t.name == "madvise-lab-sampler"), None)
        me = os.getpid()
        cpu_before = _thread_cpu_s(me, tid) if tid else None
        started = time.monotonic()
        last_reads = stats().rollup_reads if stats else 0
        stats_before = stats() if stats else None
        next_poll = started
        while time.monotonic() - started < IN_PROCESS_S:
            now = time.monotonic()
            if stats:
                reads = stats().rollup_reads
                if reads != last_reads:
                    rollups.append(now)
                    last_reads = reads
            if now >= next_poll:  # as the app does: take what the source queued
                next_poll = now + 0.05
                update = lab.poll(10_000)
                samples += [(epoch + s.t_s, s.kernel.lazyfree_bytes) for s in update.samples]
            time.sleep(STATS_POLL_S)
        elapsed = time.monotonic() - started
        if cpu_before is not None:
            cpu_s = _thread_cpu_s(me, tid) - cpu_before
        stats_after = stats() if stats else None
    finally:
        lab.stop()
    out: dict[str, object] = {"seconds": round(elapsed, 1), "samples": len(samples),
                              "sampler_thread_found": tid is not None}
    if cpu_s is not None:
        out["sampler_core_pct"] = 100 * cpu_s / elapsed
    if stats_before is not None and stats_after is not None:
        reads = stats_after.rollup_reads - stats_before.rollup_reads
        out["rollup_reads"] = reads
        out["rollups_per_s"] = reads / elapsed
        out["ms_per_rollup_sampler"] = 1000 * (stats_after.rollup_s - stats_before.rollup_s) / max(1, reads)
        out["statm_reads"] = stats_after.statm_reads - stats_before.statm_reads
    # outside: change -> first sample showing it
    ages = []
    for expected, changed_at in child.changes[1:]:
        if not started <= changed_at <= started + elapsed - 2.0:
            continue
        seen = next((t for t, lazyfree in samples if t >= changed_at and abs(lazyfree - expected) < MiB), None)
        ages.append(seen - changed_at if seen is not None else float("inf"))
    out["change_to_sample_s"] = ages
    # inside: each sample's age since the latest rollup before it
    if rollups:
        per_sample = []
        index = 0
        for t, _ in samples:
            while index + 1 < len(rollups) and rollups[index + 1] <= t:
                index += 1
            if rollups[index] <= t:
                per_sample.append(t - rollups[index])
        out["sample_age_p95_s"] = percentile(per_sample, 0.95)
        out["sample_age_max_s"] = max(per_sample, default=float("nan"))
        gaps = [b - a for a, b in zip(rollups, rollups[1:])]
        out["rollup_gap_max_s"] = max(gaps, default=float("nan"))
    return out


def in_tmux(child: BigChild) -> dict[str, object]:
    """`madvise-lab attach PID` in tmux 160x48: the whole dashboard's CPU, and its sampler thread's if named."""
    if shutil.which("tmux") is None:
        return {}
    try:
        pid = TMUX.start("bench-attach", f"{shlex.quote(sys.executable)} -m tui attach {child.pid}")
        time.sleep(TMUX_WARMUP_S)
        tid = _sampler_tid(pid)
        before, thread_before = cpu_seconds(pid), (_thread_cpu_s(pid, tid) if tid else None)
        started = time.monotonic()
        time.sleep(TMUX_MEASURE_S)
        elapsed = time.monotonic() - started
        out: dict[str, object] = {"dashboard_core_pct": 100 * (cpu_seconds(pid) - before) / elapsed,
                                  "sampler_thread_named": tid is not None}
        if tid is not None and thread_before is not None:
            out["sampler_core_pct"] = 100 * (_thread_cpu_s(pid, tid) - thread_before) / elapsed
        out["screen_shows_pid"] = str(child.pid) in TMUX.run("capture-pane", "-p", "-t", "bench-attach")
        return out
    finally:
        TMUX.kill_server()


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run() -> Result:
    result = Result(15, "big process: attach to 8 GiB in 4 KiB pages that keeps writing",
                    goal=f"sampling <= {GOAL_PCT_PER_GIB:.0f} % core per GiB; LazyFree age <= {GOAL_AGE_S:.0f} s")
    available = mem_available_bytes()
    if available < SIZE_BYTES + SPARE_BYTES:
        raise RuntimeError(f"needs MemAvailable >= {(SIZE_BYTES + SPARE_BYTES) / GiB:.0f} GiB for the 8 GiB child, "
                           f"has {available / GiB:.1f} GiB")
    child = BigChild()
    try:
        rss_gib = _rss_bytes(child.pid) / GiB
        floor = rollup_floor(child.pid)
        inside = in_process(child)
        tmux = in_tmux(child)
        floor_after = rollup_floor(child.pid)
    finally:
        child.close()
    floor_pct = floor["rollup_cpu_ms"] / 10  # one walk a second: CPU ms per second / 10 = % of a core
    f: dict[str, object] = {"rss_gib": rss_gib, "floor": floor, "floor_after": floor_after,
                            "floor_1hz_core_pct": floor_pct, "floor_1hz_pct_per_gib": floor_pct / rss_gib,
                            "in_process": inside, "tmux": tmux}
    result.figures = f
    parts = [f"RSS {rss_gib:.1f} GiB"]
    sampler_pct = inside.get("sampler_core_pct")
    if sampler_pct is not None:
        parts.append(f"sampler thread {sampler_pct:.2f} % core = {sampler_pct / rss_gib:.3f} %/GiB "
                     f"({inside.get('rollups_per_s', float('nan')):.2f} rollups/s, "
                     f"{inside.get('ms_per_rollup_sampler', float('nan')):.0f} ms wall each; "
                     f"{sampler_pct / floor_pct:.2f} x the floor)")
    if "dashboard_core_pct" in tmux:
        pct = tmux["dashboard_core_pct"]
        text = f"attach dashboard (tmux) {pct:.2f} % = {pct / rss_gib:.3f} %/GiB"
        if "sampler_core_pct" in tmux:
            text += f", its sampler {tmux['sampler_core_pct']:.2f} %"
        else:
            text += " (its sampler thread has no OS name to find it by)"
        parts.append(text)
    ages = inside["change_to_sample_s"]
    if ages:
        parts.append(f"LazyFree change -> sample p95 {percentile(ages, 0.95) * 1000:.0f} ms, "
                     f"max {max(ages) * 1000:.0f} ms (n={len(ages)})")
    if "sample_age_max_s" in inside:
        parts.append(f"age at each sample p95 {inside['sample_age_p95_s'] * 1000:.0f} ms, "
                     f"max {inside['sample_age_max_s'] * 1000:.0f} ms")
    parts.append(f"floor: one smaps_rollup {floor['rollup_ms']:.1f} ms wall, {floor['rollup_cpu_ms']:.1f} ms CPU "
                 f"(median of {ROLLUP_READS}) -> 1 Hz = "
                 f"{floor_pct:.2f} % core = {floor_pct / rss_gib:.3f} %/GiB")
    result.summary = "; ".join(parts)
    worst_age = max([*ages, inside.get("sample_age_max_s", 0.0)]) if ages else float("inf")
    cost = sampler_pct if sampler_pct is not None else tmux.get("dashboard_core_pct")
    if cost is not None:
        result.met = cost / rss_gib <= GOAL_PCT_PER_GIB and worst_age <= GOAL_AGE_S
    return result
