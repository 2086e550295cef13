"""Bench 6: the dashboard's RSS while an hour of samples and trace lines is fed through it at high speed."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys

from bench.common import REPO, MiB, Result, rss_bytes
from tui.core.model import HeapStats, KernelMemory, LabUpdate, Sample, TraceLine, WorkloadStatus
from tui.core.series import Series

HOUR_S = 3600.0
SAMPLE_INTERVAL_S = 0.1
CHUNK_S = 30.0  # simulated seconds per apply_update: 300 samples per workload
HISTORY_S = 600.0
NAMES = ("free", "dontneed")


class SoakLab:
    """A stand-in Lab with real bounded Series; the bench pushes synthetic hours through it."""

    def __init__(self) -> None:
        self.names = NAMES
        self._series = {name: Series(maxlen=int(HISTORY_S / SAMPLE_INTERVAL_S)) for name in NAMES}
        self._statuses = {name: WorkloadStatus(name, 1000 + i, "running", None, "MADV_FREE")
                          for i, name in enumerate(NAMES)}
        self.now_s = 0.0
        self.pressure_available = False
        self.pressure_reason = "soak benchmark"

    def can(self, action: str, name: str | None = None) -> str: return "soak benchmark"
    def start(self) -> None: ...
    def stop(self) -> None: ...
    urgent = False
    epoch = 0
    names: tuple[str, ...]

    def set_notify(self, notify) -> None: ...
    def native(self, name: str) -> None: return None
    def poll(self, max_items: int = 2000) -> LabUpdate: return LabUpdate()
    def series(self, name: str) -> Series: return self._series[name]
    def status(self, name: str) -> WorkloadStatus: return self._statuses[name]
    def upcoming(self, n: int = 3): return ()

    def t_s(self) -> float:
        return self.now_s

    def feed(self, seconds: float) -> LabUpdate:
        """`seconds` of 10 Hz samples (a seed-like sawtooth) and ~2 trace lines/s, appended to the series."""
        samples, lines = [], []
        steps = int(seconds / SAMPLE_INTERVAL_S)
        for step in range(steps):
            t_s = self.now_s + step * SAMPLE_INTERVAL_S
            phase = (t_s % 60.0) / 60.0
            for i, name in enumerate(NAMES):
                inuse = int(512 * MiB * min(1.0, phase * 2)) if phase < 0.5 else 0
                rss = 520 * MiB if phase >= 0.25 or i == 0 else inuse + 8 * MiB
                heap = HeapStats(inuse, 0, 512 * MiB - inuse, 512 * MiB, int(t_s // 5), "MADV_FREE")
                sample = Sample(t_s, name, 1000 + i, "MADV_FREE", KernelMemory(rss, rss, 512 * MiB - inuse, 0), heap)
                self._series[name].append(sample)
                samples.append(sample)
            if step % 5 == 0:
                lines.append(TraceLine(t_s, NAMES[step % 2], f"gc {int(t_s)} @{t_s:.3f}s 0%: 0.004+5.6+0.013 ms clock, "
                                       "0.009+1.2/1.2/5.6+0.027 ms cpu, 512->512->0 MB, 4 MB goal, 2 P", "gc"))
        self.now_s += steps * SAMPLE_INTERVAL_S
        return LabUpdate(samples=tuple(samples), trace_lines=tuple(lines))


async def _soak() -> list[tuple[float, int]]:
    from tui.app import MadviseLabApp
    from tui.core.kernel.system import read_system_info

    lab = SoakLab()
    app = MadviseLabApp(lab, read_system_info(), chart_interval_s=0.0)
    points: list[tuple[float, int]] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        gc.collect()
        points.append((0.0, rss_bytes(os.getpid())))
        while lab.now_s < HOUR_S:
            app.apply_update(lab.feed(CHUNK_S))
            app.draw_chart()
            await pilot.pause()
            if int(lab.now_s) % 300 == 0:
                gc.collect()
                points.append((lab.now_s, rss_bytes(os.getpid())))
    return points


def run() -> Result:
    result = Result(6, "dashboard RSS after an accelerated hour", goal="<= 60 MiB and flat")
    # In a fresh process: run in the suite's own process, the figure carried what benches 1-5 left behind.
    done = subprocess.run([sys.executable, "-m", "bench.soak"], cwd=REPO, capture_output=True, text=True,
                          check=True)
    points = [(float(t), int(rss)) for t, rss in json.loads(done.stdout.strip().splitlines()[-1])]
    first_mib = points[0][1] / MiB
    at_30min = next(rss for t, rss in points if t >= HOUR_S / 2) / MiB
    at_10min = next(rss for t, rss in points if t >= HISTORY_S) / MiB
    end_mib = points[-1][1] / MiB
    peak_mib = max(rss for _, rss in points) / MiB
    growth_after_history_mib = end_mib - at_10min  # once the 10-minute rings are full, nothing should grow
    result.figures = {"rss_mib_by_simulated_s": [(t, round(rss / MiB, 1)) for t, rss in points],
                      "first_mib": first_mib, "at_10min_mib": at_10min, "end_mib": end_mib, "peak_mib": peak_mib,
                      "growth_after_history_full_mib": growth_after_history_mib,
                      "growth_last_30min_mib": end_mib - at_30min}
    result.summary = (f"RSS {first_mib:.0f} MiB idle, {at_10min:.0f} at 10 min (history full), {at_30min:.0f} at 30 min, "
                      f"{end_mib:.0f} at 60 min (peak {peak_mib:.0f}); last 30 min {end_mib - at_30min:+.1f} MiB")
    result.met = peak_mib <= 60 and end_mib - at_30min <= 2
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_soak())))
