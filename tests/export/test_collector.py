"""The collector and the listen address without a server: fixed values in, exposition out (pure unit tests)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from export_support import parse_metrics, value
from tui.core.errors import UsageError
from tui.core.export import METRIC_NAMES, SourceCollector, parse_listen
from tui.core.kernel.sampler import parse_smaps_rollup
from tui.core.model import HeapStats, KernelMemory, Sample, WorkloadStatus
from tui.core.series import Series

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
MiB = 1 << 20


class FakeSource:
    """The facade's reading side, set by hand."""

    def __init__(self) -> None:
        self.names: tuple[str, ...] = ()
        self._series: dict[str, Series] = {}
        self._status: dict[str, WorkloadStatus] = {}

    def put(self, status: WorkloadStatus, sample: Sample | None = None) -> None:
        if status.name not in self._series:
            self.names += (status.name,)
            self._series[status.name] = Series(2)
        self._status[status.name] = status
        if sample is not None:
            self._series[status.name].append(sample)

    def series(self, name: str) -> Series:
        return self._series[name]

    def status(self, name: str) -> WorkloadStatus:
        return self._status[name]


def _sample(name: str, pid: int, rss_mib: int, lazyfree_mib: int, heap: HeapStats | None = None) -> Sample:
    kernel = KernelMemory(rss_mib * MiB, (rss_mib - 1) * MiB, lazyfree_mib * MiB, 0, 2 * MiB)
    return Sample(1.0, name, pid, heap.madvise if heap else "unknown", kernel, heap)


def _scrape(source) -> dict:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SourceCollector(source))
    return parse_metrics(generate_latest(registry).decode())


def test_a_workload_exports_kernel_and_runtime_figures_from_one_sample():
    source = FakeSource()
    heap = HeapStats(0, 0, 64 * MiB, 64 * MiB, 7, "MADV_FREE")
    source.put(WorkloadStatus("free", 41, "running", None, "MADV_FREE"), _sample("free", 41, 80, 64, heap))
    metrics = _scrape(source)
    labels = {"workload": "free", "pid": "41"}
    assert value(metrics, "madvise_rss_bytes", **labels) == 80 * MiB
    assert value(metrics, "madvise_lazyfree_bytes", **labels) == 64 * MiB
    assert value(metrics, "madvise_footprint_bytes", **labels) == 16 * MiB
    assert value(metrics, "madvise_anon_huge_bytes", **labels) == 2 * MiB
    assert value(metrics, "madvise_heap_released_bytes", **labels) == 64 * MiB
    assert value(metrics, "madvise_gc_total", **labels) == 7
    assert value(metrics, "madvise_mode_info", **labels, mode="MADV_FREE") == 1
    assert value(metrics, "madvise_up", **labels) == 1


def test_a_gone_process_is_up_0_with_its_last_figures_until_a_restart_replaces_it():
    source = FakeSource()
    source.put(WorkloadStatus("w", 41, "running", None, "MADV_FREE"), _sample("w", 41, 80, 64))
    source.put(WorkloadStatus("w", 41, "exited", 1, "MADV_FREE"))
    metrics = _scrape(source)
    assert value(metrics, "madvise_up", workload="w", pid="41") == 0
    assert value(metrics, "madvise_lazyfree_bytes", workload="w", pid="41") == 64 * MiB
    # restarted: the new process has no sample yet, the old pid's figures are a gone process's
    source.put(WorkloadStatus("w", 42, "starting", None, "MADV_DONTNEED"))
    assert value(_scrape(source), "madvise_up", workload="w", pid="41") == 0
    source.put(WorkloadStatus("w", 42, "running", None, "MADV_DONTNEED"), _sample("w", 42, 30, 0))
    metrics = _scrape(source)
    assert value(metrics, "madvise_up", workload="w", pid="42") == 1
    assert not [key for key in metrics if ("pid", "41") in key[1]]


def test_a_target_appears_with_its_first_sample():
    source = FakeSource()
    source.put(WorkloadStatus("w", None, "starting", None, "MADV_FREE"))
    assert not _scrape(source)
    assert not _scrape(None)
    source.put(WorkloadStatus("w", 41, "running", None, "MADV_FREE"))
    assert not _scrape(source)
    source.put(WorkloadStatus("w", 41, "exited", 1, "MADV_FREE"))  # gone before its first sample
    assert _scrape(source) == {("madvise_up", (("pid", "41"), ("workload", "w"))): 0}


@pytest.mark.parametrize("text, expected", [
    ("9464", ("127.0.0.1", 9464)), ("0.0.0.0:80", ("0.0.0.0", 80)), ("[::1]:9464", ("::1", 9464)),
    ("localhost:65535", ("localhost", 65535)),
])
def test_listen_addresses(text, expected):
    assert parse_listen("x", text) == expected


@pytest.mark.parametrize("text", ["0", "65536", "", ":9464", "host:", "a:b:c", "[::1]", "[::1]:x", "9464x"])
def test_bad_listen_addresses_are_usage_errors(text):
    with pytest.raises(UsageError, match=r"^x: "):
        parse_listen("x", text)


def test_the_rollup_parser_reads_anon_huge_pages():
    text = b"Rss: 10240 kB\nAnonymous: 8192 kB\nLazyFree: 1024 kB\nAnonHugePages: 4096 kB\nSwap: 0 kB\n"
    assert parse_smaps_rollup(text) == KernelMemory(10 * MiB, 8 * MiB, 1 * MiB, 0, 4 * MiB)


def test_every_metric_is_documented_in_the_readme():
    section = README.split("## Metrics for Prometheus", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(madvise_[a-z_]+)", section))
    assert set(METRIC_NAMES) <= documented, set(METRIC_NAMES) - documented
