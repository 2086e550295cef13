"""Driving `madvise-lab export` in tests: a free port, the real CLI as a subprocess, scraping /metrics."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20
KERNEL_METRICS = {  # metric -> the tests' own smaps_rollup figure (kernel_truth.Rollup attribute)
    "madvise_rss_bytes": "rss_bytes",
    "madvise_anon_bytes": "anon_bytes",
    "madvise_lazyfree_bytes": "lazyfree_bytes",
    "madvise_footprint_bytes": "footprint_bytes",
    "madvise_swap_bytes": "swap_bytes",
    "madvise_anon_huge_bytes": "anon_huge_bytes",
}

# Not ours in any sense the lab uses: 128 MiB of private anonymous memory, touched, 96 MiB of it released with
# MADV_FREE (LazyFree then holds steady: nothing squeezes it), plus 16 MiB asked to be transparent huge pages so
# AnonHugePages has something to show where THP is allowed. Says "released", exits when stdin closes.
CHILD = textwrap.dedent("""
    import mmap, sys
    def touch(m, size):
        page = b"x" * mmap.PAGESIZE
        for off in range(0, size, mmap.PAGESIZE):
            m[off:off + mmap.PAGESIZE] = page
    size = 128 << 20
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    touch(m, size)
    m.madvise(mmap.MADV_FREE, 0, 96 << 20)
    huge_size = 16 << 20
    huge = mmap.mmap(-1, huge_size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        huge.madvise(mmap.MADV_HUGEPAGE)
    touch(huge, huge_size)
    print("released", flush=True)
    sys.stdin.readline()
""")


PR_SET_PDEATHSIG = 1


def die_with_us() -> None:
    """preexec_fn: SIGKILL the child when the test process dies, so no child outlives a killed pytest."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def start_child() -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            preexec_fn=die_with_us)
    assert proc.stdout.readline().strip() == "released"
    return proc


def end_child(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def thp_enabled() -> bool:
    """False when THP is off (AnonHugePages is then 0 for everyone)."""
    try:
        mode = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return False
    return "[never]" not in mode


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui", *args]


CLI_ENV = {**os.environ, "PYTHONPATH": str(REPO)}  # this tree's tui, whatever the editable install points at


def run_cli(*args: str, timeout_s: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(cli(*args), cwd=REPO, env=CLI_ENV, capture_output=True, text=True, timeout=timeout_s)


def start_export(*args: str) -> subprocess.Popen:
    return subprocess.Popen(cli("export", *args), cwd=REPO, env=CLI_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=die_with_us)


def stop_export(proc: subprocess.Popen, signum: int = signal.SIGTERM, timeout_s: float = 10.0) -> tuple[int, str]:
    """Signal the exporter and wait: (exit code, stderr)."""
    if proc.poll() is None:
        proc.send_signal(signum)
    try:
        _out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(f"exporter still running {timeout_s}s after signal {signum}: {err}")
    return proc.returncode, err


def get(url: str) -> tuple[str, str]:
    """(content type, body) of one GET."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.headers.get("Content-Type", ""), response.read().decode()


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition, through prometheus_client's parser."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(port: int, host: str = "127.0.0.1") -> dict:
    return parse_metrics(get(f"http://{host}:{port}/metrics")[1])


def value(metrics: dict, name: str, **labels: str) -> float | None:
    return metrics.get((name, tuple(sorted(labels.items()))))


def wait_for(predicate, what: str, timeout_s: float = 20.0, interval_s: float = 0.1):
    """Poll until predicate() returns something truthy (and return it); fail naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
        except OSError as error:  # the server is not listening yet
            last_error = error
            result = None
        if result:
            return result
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last error: {last_error})")


def within(actual: float, expected: float, fraction: float = 0.02) -> bool:
    return abs(actual - expected) <= fraction * abs(expected)
