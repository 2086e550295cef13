"""Bench 9: each native allocator's first-touch and reuse cost per GiB after its own release, beside the Python heap's."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.common import REPO, Result, median
from bench.touch_workloads import GIB, heap_first_touch_s, reuse_ms_per_gib
from workloads.allocator_env import AllocatorUnavailable, environment

N_BYTES = 256 << 20
BLOCK_BYTES = 32 << 10
TRIALS = 3
# (label, kind, options, explicit release): jemalloc MADV_FREE releases by its background thread's decay (dirty_decay
# 100 ms; 0 would purge with DONTNEED at once), muzzy pages never purged;
# the others give memory back with their explicit call (MADV_DONTNEED), as `s` does.
CASES = (
    ("glibc malloc_trim", "glibc", {"madvise": "MADV_DONTNEED"}, True),
    ("jemalloc MADV_FREE decay", "jemalloc", {"madvise": "MADV_FREE", "dirty_decay": 0.1,
                                                        "background_thread": True}, False),
    ("jemalloc purge", "jemalloc", {"madvise": "MADV_DONTNEED"}, True),
    ("mimalloc mi_collect", "mimalloc", {"madvise": "MADV_DONTNEED"}, True),
    ("tcmalloc ReleaseFreeMemory", "tcmalloc", {"madvise": "MADV_DONTNEED"}, True),
)


def _child(kind: str, options: dict, explicit: bool) -> dict:
    env = environment(kind, options)
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-m", "bench._allocchild", kind, str(N_BYTES), str(BLOCK_BYTES),
                           "explicit" if explicit else "decay"], env=env, capture_output=True, text=True,
                          timeout=120, check=False, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{kind}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> Result:
    result = Result(9, "allocators: first touch and reuse after release", goal="(measured)")
    rows: dict[str, dict[str, float]] = {}
    for label, kind, options, explicit in CASES:
        try:
            trials = [_child(kind, options, explicit) for _ in range(TRIALS)]
        except (AllocatorUnavailable, RuntimeError) as exc:
            rows[label] = {"error": str(exc)}  # type: ignore[dict-item]
            continue
        rows[label] = {key: median([t[key] for t in trials]) for key in ("first_ms_per_gib", "reuse_ms_per_gib",
                                                                          "release_ms")}
    python_first = median([heap_first_touch_s(N_BYTES, 64 << 20) * 1000 / (N_BYTES / GIB) for _ in range(TRIALS)])
    for mode in ("MADV_FREE", "MADV_DONTNEED"):
        rows[f"Python heap {mode}"] = {"first_ms_per_gib": python_first,
                                       "reuse_ms_per_gib": median([reuse_ms_per_gib(N_BYTES, 64 << 20, mode)
                                                                   for _ in range(TRIALS)])}
    result.figures = rows
    result.summary = "; ".join(
        f"{label} {row['first_ms_per_gib']:.0f}/{row['reuse_ms_per_gib']:.0f}" if "error" not in row
        else f"{label}: {row['error']}" for label, row in rows.items()) + " (first touch/reuse ms/GiB, 256 MiB of 32 KiB)"
    return result
