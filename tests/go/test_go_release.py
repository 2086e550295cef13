"""The real Go runtime releasing 2 x 128 MiB with FreeOSMemory: MADV_FREE keeps RSS (as LazyFree), DONTNEED drops it."""

from __future__ import annotations

import pytest

from gotest_support import MiB, read_smaps_rollup

pytestmark = pytest.mark.slow

SEED_2x128 = {"pattern": "seed", "size": 128 * MiB, "count": 2, "interval": 0.1, "hold": 0.3}


def release(go_workload, madvise: str) -> dict:
    """Run the seed case, scavenge after the drop; the figures before and after the release."""
    workload = go_workload({**SEED_2x128, "madvise": madvise})
    hello = workload.wait_for(lambda m: m["type"] == "hello")
    assert hello["madvise"] == madvise and hello["kind"] == "go"
    peak = {"rss": 0}

    def sample(_msg) -> None:
        peak["rss"] = max(peak["rss"], read_smaps_rollup(workload.pid)["Rss"])

    workload.event("free", on_message=sample)
    sample(None)
    workload.send({"cmd": "scavenge"})
    scavenge = workload.event("scavenge")
    after = read_smaps_rollup(workload.pid)
    stats = workload.wait_for(lambda m: m["type"] == "stats" and m["t"] >= scavenge["t"])
    figures = {"peak_rss": peak["rss"], "rss": after["Rss"], "lazyfree": after["LazyFree"],
               "released": scavenge["released_bytes"], "heap_released": stats["heap_released_bytes"],
               "scav_lines": [line for line in workload.stderr_lines if line.startswith("scav")]}
    print(f"\n{madvise}: peak Rss {peak['rss'] / MiB:.1f} MiB, after FreeOSMemory Rss {after['Rss'] / MiB:.1f} MiB, "
          f"LazyFree {after['LazyFree'] / MiB:.1f} MiB, released {scavenge['released_bytes'] / MiB:.1f} MiB "
          f"(heap_released {stats['heap_released_bytes'] / MiB:.1f} MiB, madvise_s {scavenge['madvise_s']:.4f})")
    return figures


def test_madv_free_keeps_rss_as_lazyfree(go_workload):
    f = release(go_workload, "MADV_FREE")
    assert f["peak_rss"] >= 256 * MiB
    assert f["released"] >= 250 * MiB, f
    assert f["rss"] >= 0.9 * f["peak_rss"], f
    assert abs(f["lazyfree"] - f["released"]) <= 0.05 * f["released"], f


def test_madv_dontneed_drops_rss(go_workload):
    f = release(go_workload, "MADV_DONTNEED")
    assert f["peak_rss"] >= 256 * MiB
    assert f["released"] >= 250 * MiB, f
    assert f["rss"] < 0.15 * f["peak_rss"], f
    assert f["lazyfree"] < 4 * MiB, f
