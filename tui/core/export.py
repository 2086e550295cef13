"""Prometheus metrics of any source (attach, the live lab): a prometheus_client collector, its server, `export`."""

from __future__ import annotations

import errno
import ipaddress
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tui.core.errors import UsageError
from tui.core.model import HeapStats, KernelMemory, Sample, WorkloadStatus
from workloads.units import parse_duration

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9464  # the port OpenTelemetry's Prometheus exporters use; no other madvise-lab service takes it
DEFAULT_LISTEN = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
DEFAULT_INTERVAL = "1s"
MIN_INTERVAL_S = 0.01  # faster than 100 Hz is a busy loop, not a sampler
LABELS = ("workload", "pid")
# The exporter keeps no history: a scrape reads the latest sample only. Two keeps the Series bounded and tiny.
EXPORT_HISTORY_SAMPLES = 2


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One exported figure: its name, type, help text and how to read it from a sample's kernel or heap part."""

    name: str
    kind: str  # gauge or counter
    help: str
    part: str  # kernel, heap, mode, up
    read: Callable[[Any], float] = float  # kernel and heap parts: the figure; mode and up are set by the collector


def _kernel(attribute: str) -> Callable[[KernelMemory], float]:
    return lambda kernel: getattr(kernel, attribute)


def _heap(attribute: str) -> Callable[[HeapStats], float]:
    return lambda heap: getattr(heap, attribute)


METRICS = (
    MetricSpec("madvise_rss_bytes", "gauge", "Resident set size (Rss in /proc/PID/smaps_rollup), LazyFree pages included.",
               "kernel", _kernel("rss_bytes")),
    MetricSpec("madvise_anon_bytes", "gauge", "Resident anonymous memory (Anonymous in smaps_rollup).",
               "kernel", _kernel("anon_bytes")),
    MetricSpec("madvise_lazyfree_bytes", "gauge",
               "Pages released with MADV_FREE that the kernel has not reclaimed yet: still counted in RSS.",
               "kernel", _kernel("lazyfree_bytes")),
    MetricSpec("madvise_footprint_bytes", "gauge", "RSS minus LazyFree: what the kernel cannot drop without a fault.",
               "kernel", _kernel("footprint_bytes")),
    MetricSpec("madvise_swap_bytes", "gauge", "Anonymous memory swapped out (Swap in smaps_rollup).",
               "kernel", _kernel("swap_bytes")),
    MetricSpec("madvise_anon_huge_bytes", "gauge",
               "Anonymous memory in transparent huge pages (AnonHugePages in smaps_rollup), part of RSS.",
               "kernel", _kernel("anon_huge_bytes")),
    MetricSpec("madvise_heap_inuse_bytes", "gauge", "The runtime's heap in use (Go's HeapInuse), from the workload.",
               "heap", _heap("heap_inuse_bytes")),
    MetricSpec("madvise_heap_idle_bytes", "gauge",
               "Free heap spans the runtime still holds (HeapIdle - HeapReleased), from the workload.",
               "heap", _heap("heap_idle_bytes")),
    MetricSpec("madvise_heap_released_bytes", "gauge",
               "Heap the runtime returned to the kernel with madvise or munmap (HeapReleased), from the workload.",
               "heap", _heap("heap_released_bytes")),
    MetricSpec("madvise_gc", "counter", "Garbage collections the runtime reported (exposed as madvise_gc_total).",
               "heap", _heap("gc_count")),
    MetricSpec("madvise_mode_info", "gauge", "The madvise mode the runtime releases memory with (always 1).", "mode"),
    MetricSpec("madvise_up", "gauge",
               "1 while the process is alive; 0 once it is gone (its last figures stay until it restarts).", "up"),
)
METRIC_NAMES = tuple(f"{m.name}_total" if m.kind == "counter" else m.name for m in METRICS)


class Source(Protocol):
    """What the collector reads: any source with the Lab facade (Lab, AttachLab)."""

    @property
    def names(self) -> Sequence[str]: ...

    def series(self, name: str) -> Any: ...  # .latest: the last Sample applied by poll(), or None

    def status(self, name: str) -> WorkloadStatus: ...


class SourceCollector:
    """A custom collector: every scrape reads each target's latest Sample and status, nothing from /proc.

    Both are frozen values that the source's poll loop replaces by one assignment, so reading them from the HTTP
    thread needs no lock and a scrape never sees half of an update (rss and lazyfree come from one Sample).
    """

    def __init__(self, source: Source | None = None) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        source = self.source
        families: dict[str, Any] = {}
        for spec in METRICS:
            labels = (*LABELS, "mode") if spec.part == "mode" else LABELS
            family_type = CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily
            families[spec.name] = family_type(spec.name, spec.help, labels=labels)
        if source is not None:
            for name in source.names:
                self._add_target(families, name, source.status(name), source.series(name).latest)
        yield from families.values()

    @staticmethod
    def _add_target(families: dict[str, Any], name: str, status: WorkloadStatus, latest: Sample | None) -> None:
        pid = latest.pid if latest is not None else status.pid
        if pid is None or (latest is None and status.state != "exited"):
            return  # a target appears with its first sample: never `up 1` without the figures beside it
        # A restarted workload has a new pid: the old pid's figures are a gone process's (up 0) until its first sample.
        alive = status.state != "exited" and status.pid == pid
        labels = (name, str(pid))
        families["madvise_up"].add_metric(labels, 1 if alive else 0)
        if latest is None:
            return
        mode = status.madvise if status.pid == pid else latest.madvise
        for spec in METRICS:
            if spec.part == "kernel":
                families[spec.name].add_metric(labels, spec.read(latest.kernel))
            elif spec.part == "heap" and latest.heap is not None:
                families[spec.name].add_metric(labels, spec.read(latest.heap))
        if mode and mode != "unknown":
            families["madvise_mode_info"].add_metric((*labels, mode), 1)


def parse_listen(where: str, text: str) -> tuple[str, int]:
    """`[HOST:]PORT` (IPv6 as `[::1]:PORT`) → (host, port); the host defaults to loopback."""
    expected = f"{where}: expected [HOST:]PORT with a port 1-65535, got {text!r}"
    host, port_text = DEFAULT_HOST, text.strip()
    if port_text.startswith("["):
        end = port_text.find("]")
        if end < 0 or port_text[end + 1:end + 2] != ":":
            raise UsageError(expected)
        host, port_text = port_text[1:end], port_text[end + 2:]
    elif port_text.count(":") > 1:
        raise UsageError(f"{where}: an IPv6 address goes in brackets, e.g. [::1]:{DEFAULT_PORT}, got {text!r}")
    elif ":" in port_text:
        host, port_text = port_text.split(":")
    if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UsageError(expected)
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MetricsServer:
    """`/metrics` over HTTP for one source, on prometheus_client's own server thread; bound at construction."""

    def __init__(self, where: str, listen: str, source: Source | None = None) -> None:
        self.host, port = parse_listen(where, listen)
        self.collector = SourceCollector(source)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)  # duck-typed: prometheus_client takes any object with collect()
        try:
            self._httpd, self._thread = start_http_server(port, self.host, registry=self.registry)
        except socket.gaierror:
            raise UsageError(f"{where}: {listen}: cannot resolve host {self.host!r}") from None
        except OverflowError:
            raise UsageError(f"{where}: expected a port 1-65535, got {listen!r}") from None
        except OSError as error:
            raise UsageError(f"{where}: {listen}: {_bind_error(error, self.host, port)}") from None
        self.port = int(self._httpd.server_port)
        self._stopped = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    @property
    def public(self) -> bool:
        """True when bound beyond loopback (only when the user named such an address)."""
        return not is_loopback(self.host)

    def attach(self, source: Source) -> None:
        """Serve `source` from now on (record creates its Lab after the port is bound)."""
        self.collector.source = source

    def stop(self) -> None:
        """Close the listening socket and end the server thread. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=2)


def _bind_error(error: OSError, host: str, port: int) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"port {port} is already in use (another exporter?): pick another port"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine"
    if error.errno == errno.EACCES:
        return f"may not bind port {port} (ports below 1024 need root)"
    return f"cannot listen: {error.strerror or error}"


def start_metrics(where: str, listen: str | None, source: Source | None = None) -> MetricsServer | None:
    """`--metrics [HOST:]PORT` of run and record: bind now (errors exit 2 before anything starts), or None."""
    if not listen:
        return None
    server = MetricsServer(where, listen, source)
    _announce(server, "serving")
    return server


def _announce(server: MetricsServer, what: str) -> None:
    print(f"madvise-lab: {what} {server.url}", file=sys.stderr)
    if server.public:
        print(f"madvise-lab: {server.host} is not loopback: anyone who can reach it can read these metrics",
              file=sys.stderr)


def parse_interval(where: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None
    if seconds < MIN_INTERVAL_S:
        raise UsageError(f"{where}: expected a duration of at least 10ms, e.g. 1s or 500ms, got {text!r}")
    return seconds


def export_main(args: Any) -> int:
    """`madvise-lab export PID...`: the attach source driven by a headless poll loop until SIGTERM/SIGINT."""
    from tui.core.sources.attach import AttachLab

    interval_s = parse_interval("export: --interval", args.interval or DEFAULT_INTERVAL)
    listen = args.listen or DEFAULT_LISTEN
    parse_listen("export: --listen", listen)  # a bad flag is reported before the pids are looked at
    wake = threading.Event()
    source = AttachLab(args.pids, names=args.name, sample_interval_s=interval_s,
                       history_samples=EXPORT_HISTORY_SAMPLES, notify=wake.set, command="export")
    server = MetricsServer("export: --listen", listen, source)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()
        wake.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        source.start()
        targets = ", ".join(f"{t.name} (pid {t.pid})" for t in source.targets)
        _announce(server, f"export: serving {targets} on")
        while not stop.is_set():
            # The sampler's thread wakes us after each sample: poll() applies it, so the next scrape sees it.
            wake.wait(interval_s)
            wake.clear()
            for status in source.poll().statuses:
                if status.state == "exited":
                    print(f"madvise-lab: export: {status.name} (pid {status.pid}) is gone: madvise_up 0, "
                          "its last figures stay", file=sys.stderr)
    finally:
        server.stop()
        source.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
