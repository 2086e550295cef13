"""`madvise-lab record`: the dashboard's Lab run headless: samples.csv, trace.log, events.jsonl, heapmap.jsonl, a summary."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import queue
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from tui.core.errors import UsageError
from tui.core.model import LabUpdate
from tui.core.record.format import RunFiles
from tui.core.record.summary import SummaryBuilder, format_table
from workloads.units import parse_duration

PLOT_LINES = ("RSS", "heap in use", "heap released", "LazyFree")
PLOT_COLUMNS = ("rss_bytes", "heap_inuse_bytes", "heap_released_bytes", "lazyfree_bytes")
CHART_MARKER_KINDS = ("mode", "pressure", "restart")
PROGRESS_INTERVAL_S = 0.2
HEAPMAP_INTERVAL_S = 1.0  # heapmap.jsonl: at most one map a second per workload, and only when it changed


class _StopFlag:
    """SIGINT sets a flag the loop checks, so a row is never cut in half by a KeyboardInterrupt."""

    def __init__(self) -> None:
        self.stopped = False
        self._previous: Any = None

    def __enter__(self) -> "_StopFlag":
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:
            self._previous = None  # not the main thread (e.g. a test): Ctrl+C handling is the caller's
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.stopped = True

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, duration_s: float, stream: TextIO = sys.stderr) -> None:
        self.duration_s = duration_s
        self.stream = stream
        self.enabled = stream.isatty()
        self._last_s = -1.0

    def show(self, t_s: float, rss_by_name: dict[str, int]) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last_s < PROGRESS_INTERVAL_S:
            return
        self._last_s = now
        width = 30
        done = min(1.0, t_s / self.duration_s) if self.duration_s else 1.0
        bar = "#" * int(done * width) + "." * (width - int(done * width))
        rss = "  ".join(f"{name} {n_bytes / (1 << 20):.0f}MiB" for name, n_bytes in rss_by_name.items())
        self.stream.write(f"\r\x1b[Krecording [{bar}] {t_s:5.1f}/{self.duration_s:g}s  {rss}")
        self.stream.flush()

    def end(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _parse_positive_duration(flag: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"record: {flag}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"record: {flag}: expected a duration above zero, got {text!r}")
    return seconds


def check_writable(out_dir: Path, plot_path: str | None) -> None:
    """Create --out and probe it (and --plot's file) now, so a path that cannot be written is one line before
    any workload starts, not a traceback at the end of the run."""
    import errno
    import tempfile

    def reason(error: OSError | ValueError) -> str:
        if isinstance(error, ValueError):  # a NUL byte in the path
            return str(error)
        return f"{(error.strerror or str(error)).lower()} ({errno.errorcode.get(error.errno or 0, '?')})"

    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"record: --out: expected a directory, {str(out_dir)!r} is a file")
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except (OSError, ValueError) as error:
        raise UsageError(f"record: --out: expected a directory that can be created and written, got "
                         f"{str(out_dir)!r}: {reason(error)}") from None
    if plot_path:
        try:
            existed = os.path.exists(plot_path)
            with open(plot_path, "ab"):
                pass
        except (OSError, ValueError) as error:
            raise UsageError(f"record: --plot: expected a file that can be written, got {plot_path!r}: "
                             f"{reason(error)}") from None
        if not existed:
            os.unlink(plot_path)


class Recorder:
    """Runs a Lab for `duration_s` and writes what it saw; usable in-process (tests) and from the CLI."""

    def __init__(self, config: Any, out_dir: Path, duration_s: float, plot_path: str | None = None,
                 progress: Progress | None = None, metrics: Any = None) -> None:
        self.config = config
        self.out_dir = out_dir
        self.duration_s = duration_s
        self.plot_path = plot_path
        self.progress = progress
        self.metrics = metrics  # a bound MetricsServer (--metrics): it serves the Lab once there is one
        self.summary = SummaryBuilder(tuple(config.names))
        self.stopped_early = False
        self._messages: queue.SimpleQueue = queue.SimpleQueue()
        self._markers: dict[str, list[Any]] = {name: [] for name in config.names}
        self._rss_now: dict[str, int] = {}
        self._start_monotonic = 0.0
        self._heapmap_written: dict[str, tuple[float, Any]] = {}  # workload -> (t_s, what was written)
        self.lab: Any = None

    def _on_message(self, workload: str, message: Any, *rest: Any) -> None:
        # Called from the Lab's reader threads: only queue, the main loop writes.
        # The Lab's clock, so events.jsonl, samples.csv and trace.log share one time axis.
        t_s = self.lab.t_s() if self.lab is not None else time.monotonic() - self._start_monotonic
        self._messages.put((t_s, workload, message))

    def run(self, stop: _StopFlag | None = None) -> dict[str, Any]:
        files = RunFiles(self.out_dir)
        self._start_monotonic = time.monotonic()
        from tui.core.sources.live import Lab

        # every sample_interval throughout, a sleeping workload too: samples.csv is the measurement
        self.lab = Lab(self.config, on_message=self._on_message, idle_interval_s=None)
        if self.metrics is not None:
            self.metrics.attach(self.lab)
        poll_sleep_s = max(0.005, min(0.05, self.config.sample_interval_s / 2))
        try:
            self.lab.start()
            files.event({"t_s": 0.0, "workload": None, "type": "record",
                         "event": "start", "duration_s": self.duration_s, "raw_messages": True})
            while True:
                self._drain(files, self.lab.poll())
                t_s = self.lab.t_s()
                self._write_heapmaps(files, t_s)
                if self.progress:
                    self.progress.show(t_s, self._rss_now)
                if t_s >= self.duration_s:
                    break
                if stop is not None and stop.stopped:
                    self.stopped_early = True
                    break
                time.sleep(poll_sleep_s)
        finally:
            try:
                if self.lab is not None:
                    self.lab.stop()
                    self._drain(files, self.lab.poll())
            except Exception:  # noqa: BLE001 - stopping must not lose the files written so far
                pass
            if self.progress:
                self.progress.end()
            result = self.summary.result()
            result["stopped_early"] = self.stopped_early
            result["requested_duration_s"] = self.duration_s
            files.event({"t_s": result["duration_s"], "workload": None, "type": "record", "event": "end",
                         "stopped_early": self.stopped_early})
            files.close()
            (self.out_dir / "summary.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        if self.plot_path:
            self._plot(self.plot_path)
        return result

    def _drain(self, files: RunFiles, update: LabUpdate) -> None:
        for sample in update.samples:
            files.sample(sample)
            self.summary.add_sample(sample)
            self._rss_now[sample.workload] = sample.kernel.rss_bytes
        for line in update.trace_lines:
            files.trace(line.t_s, line.workload, line.line)
            if line.line.startswith("lab: "):
                # The lab's own notes (timeline steps, pressure steps, refusals with their reason) are events too.
                files.event({"t_s": round(line.t_s, 3), "workload": line.workload, "type": "lab",
                             "kind": line.kind, "line": line.line[len("lab: "):]})
        for marker in update.markers:
            if marker.kind in CHART_MARKER_KINDS:
                self._markers.setdefault(marker.workload, []).append(marker)
            files.event({"t_s": round(marker.t_s, 3), "workload": marker.workload, "type": "marker",
                         "kind": marker.kind, "label": marker.label})
        for status in update.statuses:
            files.event({"t_s": round(self.lab.t_s(), 3), "workload": status.name, "type": "status",
                         **{k: v for k, v in dataclasses.asdict(status).items() if k != "name"}})
        while True:
            try:
                t_s, workload, message = self._messages.get_nowait()
            except queue.Empty:
                break
            record = message if isinstance(message, dict) else {"type": "raw", "line": str(message)}
            files.event({"t_s": round(t_s, 3), "workload": workload, "message": record})
            self.summary.add_message(workload, record)
        files.flush()

    def _write_heapmaps(self, files: RunFiles, t_s: float) -> None:
        """A heap map per workload at most once a second, and only when its cells changed."""
        for name in self.config.names:
            last_s, last = self._heapmap_written.get(name, (-1e9, None))
            if t_s - last_s < HEAPMAP_INTERVAL_S:
                continue
            heap_map = self.lab.heapmap(name, force=True)  # gated here: once a second
            if heap_map is None:
                continue
            shown = (heap_map.cell_bytes, heap_map.arenas)
            self._heapmap_written[name] = (t_s, shown)
            if shown != last:
                files.heapmap(heap_map.t_s, name, heap_map)

    def _plot(self, plot_path: str) -> None:
        from tui.core.record.svgchart import ChartMarker, write_chart

        # Read back the CSV rather than keep every sample in memory during a long run.
        panels: dict[str, dict[str, list[tuple[float, int]]]] = {
            name: {label: [] for label in PLOT_LINES} for name in self.config.names
        }
        with open(self.out_dir / "samples.csv", newline="", encoding="utf-8") as samples:
            for row in csv.DictReader(samples):
                lines = panels.setdefault(row["workload"], {label: [] for label in PLOT_LINES})
                t_s = float(row["t_s"])
                for label, column in zip(PLOT_LINES, PLOT_COLUMNS):
                    lines[label].append((t_s, int(row[column] or 0)))
        markers = {
            name: [ChartMarker(m.t_s, m.label) for m in marks] for name, marks in self._markers.items()
        }
        write_chart(plot_path, panels, markers, title=f"madvise-lab record: {Path(self.config.path).name}")


def record_main(args: Any) -> int:
    duration_s = _parse_positive_duration("--duration", args.duration)
    interval_s = (
        _parse_positive_duration("--sample-interval", args.sample_interval)
        if getattr(args, "sample_interval", None) else None
    )
    if args.plot:
        from tui.core.record.svgchart import check_plot_path

        check_plot_path(args.plot)
    out_dir = Path(args.out)
    from tui.core.config import load_config

    config = load_config(getattr(args, "config", None))
    if interval_s is not None:
        config = dataclasses.replace(config, sample_interval_s=interval_s)
    from tui.core.export import start_metrics

    # bound before --out is created: a taken port leaves nothing behind
    metrics = start_metrics("record: --metrics", getattr(args, "metrics", None))
    try:
        check_writable(out_dir, args.plot)
        recorder = Recorder(config, out_dir, duration_s, args.plot, Progress(duration_s), metrics)
        with _StopFlag() as stop:
            result = recorder.run(stop)
    finally:
        if metrics is not None:
            metrics.stop()
    print(format_table(result))
    if recorder.stopped_early:
        print(f"stopped early at {result['duration_s']:.1f}s; files are complete", file=sys.stderr)
    print(f"wrote {os.path.join(args.out, 'samples.csv')}, trace.log, events.jsonl, heapmap.jsonl, summary.json"
          + (f" and {args.plot}" if args.plot else ""))
    return 0
