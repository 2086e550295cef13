"""Bench 5: latency from a release in the workload (its scavenge event's t) to the dashboard's panel showing it.

The app runs headless (Textual Pilot, 160x48) on a real Lab and real workloads. A workload's clock is mapped
to ours by the smallest receive delay of its messages (pipe latency is well under a millisecond). "Shown" is
the moment the panel is handed a view whose RSS (DONTNEED) or LazyFree (FREE) reflects the release; the
paint follows in the same frame.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import MiB, Result, percentile, spy_on_panels

TRIALS_PER_MODE = 8
ALLOC_BYTES = 64 * MiB
CONFIG = """
sample_interval: 100ms
redraw_interval: 250ms
budget: 1GiB
defaults:
  pattern: steady
  size: 8MiB
  scavenger: "off"
  forced_gc_period: 1h
workloads:
  - name: free
    madvise: MADV_FREE
  - name: dontneed
    madvise: MADV_DONTNEED
"""


async def _measure(config_path: str) -> dict[str, list[float]]:
    from tui.app import MadviseLabApp
    from tui.launch import wire
    from tui.core.config import load_config
    from tui.core.sources.live import Lab
    from tui.core.kernel.system import read_system_info

    offsets: dict[str, float] = {}
    releases: dict[str, list[float]] = {"free": [], "dontneed": []}

    def on_message(name: str, message: dict) -> None:
        now = time.monotonic()
        if "t" in message:
            # The workload's clock mapped to ours by the smallest delay seen: a message can arrive late, never
            # early. (The hello alone was sent some ms after its t=0, which put releases late and skipped a
            # panel update that came within those ms.)
            offsets[name] = min(offsets.get(name, float("inf")), now - float(message["t"]))
        if message.get("type") == "event" and message.get("event") == "scavenge" and message.get("released_bytes"):
            releases[name].append(offsets[name] + float(message["t"]))

    config = load_config(config_path)
    lab = Lab(config, on_message=on_message)
    app = wire(MadviseLabApp(lab, read_system_info(), redraw_interval_s=config.redraw_interval_s,
                             sample_interval_s=config.sample_interval_s))
    shown: dict[str, list[tuple[float, int, int]]] = {"free": [], "dontneed": []}
    latencies: dict[str, list[float]] = {"free": [], "dontneed": []}
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            def on_show(name: str, view) -> None:
                current = dict(view.current)
                shown[name].append((time.monotonic(), current.get("rss") or 0, current.get("lazyfree") or 0))

            spy_on_panels(app, lab.names, on_show)
            deadline = time.monotonic() + 10
            while len(offsets) < 2 and time.monotonic() < deadline:
                await pilot.pause(0.05)
            for _ in range(TRIALS_PER_MODE):
                for name in lab.names:
                    lab.alloc(name, ALLOC_BYTES)
                    await pilot.pause(0.4)
                    lab.free(name)
                    lab.gc(name)
                    await pilot.pause(0.1)
                    before = shown[name][-1] if shown[name] else (0.0, 0, 0)
                    n_releases = len(releases[name])
                    lab.scavenge(name)
                    deadline = time.monotonic() + 3
                    while len(releases[name]) == n_releases and time.monotonic() < deadline:
                        await pilot.pause(0.01)
                    if len(releases[name]) == n_releases:
                        continue
                    released_at = releases[name][-1]
                    deadline = time.monotonic() + 3
                    seen_at = None
                    while seen_at is None and time.monotonic() < deadline:
                        for t, rss, lazyfree in shown[name]:
                            if t < released_at:
                                continue
                            if name == "free" and lazyfree - before[2] >= ALLOC_BYTES // 2:
                                seen_at = t
                                break
                            if name == "dontneed" and before[1] - rss >= ALLOC_BYTES // 2:
                                seen_at = t
                                break
                        await pilot.pause(0.01)
                    if seen_at is not None:
                        latencies[name].append(seen_at - released_at)
                    await pilot.pause(0.3)
    finally:
        lab.stop()
    return latencies


def run() -> Result:
    result = Result(5, "release -> screen latency (Pilot, real Lab)", goal="p95 <= 250 ms")
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "latency.yaml"
        config_path.write_text(CONFIG)
        latencies = asyncio.run(_measure(str(config_path)))
    every = latencies["free"] + latencies["dontneed"]
    if not every:
        raise RuntimeError("no release was seen on screen")
    p50, p95 = percentile(every, 0.5), percentile(every, 0.95)
    result.figures = {"latency_ms": {k: [round(v * 1000, 1) for v in vs] for k, vs in latencies.items()},
                      "p50_ms": p50 * 1000, "p95_ms": p95 * 1000, "n": len(every)}
    result.summary = (f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms over {len(every)} releases "
                      f"(FREE p50 {percentile(latencies['free'], 0.5) * 1000:.0f} ms, "
                      f"DONTNEED p50 {percentile(latencies['dontneed'], 0.5) * 1000:.0f} ms)")
    result.met = p95 <= 0.25
    return result
