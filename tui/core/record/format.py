"""The recording format, written and read by this one module: samples.csv, trace.log, events.jsonl."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable, TextIO

from tui.core.errors import UsageError
from tui.core.model import HeapStats, KernelMemory, Marker, NativeInfo, Sample, TraceLine, WorkloadStatus
from tui.core.vocabulary import gc_label, mode_label, scavenge_label, trace_kind

CSV_COLUMNS = (
    "t_s", "workload", "pid", "madvise", "rss_bytes", "anon_bytes", "lazyfree_bytes",
    "heap_inuse_bytes", "heap_idle_bytes", "heap_released_bytes", "heap_sys_bytes", "gc_count",
)

def sample_row(sample: Sample) -> list[Any]:
    """One CSV row; the runtime's columns stay empty until the workload sent its first stats."""
    heap = sample.heap
    heap_cells = (
        [heap.heap_inuse_bytes, heap.heap_idle_bytes, heap.heap_released_bytes, heap.heap_sys_bytes, heap.gc_count]
        if heap is not None else ["", "", "", "", ""]
    )
    kernel = sample.kernel
    return [
        f"{sample.t_s:.3f}", sample.workload, sample.pid, sample.madvise,
        kernel.rss_bytes, kernel.anon_bytes, kernel.lazyfree_bytes, *heap_cells,
    ]


class RunFiles:
    """The output directory's files, flushed after every poll so an interrupted run leaves whole lines."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self._csv_file: TextIO = open(out_dir / "samples.csv", "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._csv_file, lineterminator="\n")
        self._csv.writerow(CSV_COLUMNS)
        self._trace: TextIO = open(out_dir / "trace.log", "w", encoding="utf-8")
        self._events: TextIO = open(out_dir / "events.jsonl", "w", encoding="utf-8")
        self._heapmap: TextIO = open(out_dir / "heapmap.jsonl", "w", encoding="utf-8")

    def sample(self, sample: Sample) -> None:
        self._csv.writerow(sample_row(sample))

    def trace(self, t_s: float, workload: str, line: str) -> None:
        # One line per entry even when a workload's stderr line carried a newline of its own.
        self._trace.write(f"{t_s:.3f} {workload} {line.rstrip()}\n".replace("\r", ""))

    def event(self, record: dict[str, Any]) -> None:
        self._events.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")

    def heapmap(self, t_s: float, workload: str, heap_map: Any) -> None:
        """One heapmap.jsonl line (tui.core.heapmap.HeapMapLog reads it back)."""
        record = {"t_s": round(t_s, 3), "workload": workload, **heap_map.to_record()}
        self._heapmap.write(json.dumps(record, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        for file in (self._csv_file, self._trace, self._events, self._heapmap):
            file.flush()

    def close(self) -> None:
        for file in (self._csv_file, self._trace, self._events, self._heapmap):
            file.close()



@dataclass(frozen=True, slots=True)
class Recording:
    """Everything a record directory holds, sorted by time."""

    names: tuple[str, ...]
    samples: tuple[Sample, ...]
    trace_lines: tuple[TraceLine, ...]
    markers: tuple[Marker, ...]
    statuses: tuple[tuple[float, WorkloadStatus], ...]  # as recorded, (t_s, status) sorted by time

    @property
    def duration_s(self) -> float:
        ends = [x[-1].t_s for x in (self.samples, self.trace_lines, self.markers) if x]
        return max(ends, default=0.0)


def _int_or_none(text: str) -> int | None:
    return None if text.strip() == "" else int(float(text))


def _sample_from_row(row: dict[str, str]) -> Sample:
    kernel = KernelMemory(int(float(row["rss_bytes"])), int(float(row["anon_bytes"])),
                          int(float(row["lazyfree_bytes"])), int(float(row.get("swap_bytes") or 0)))
    heap_values = [_int_or_none(row[c]) for c in ("heap_inuse_bytes", "heap_idle_bytes",
                                                   "heap_released_bytes", "heap_sys_bytes", "gc_count")]
    heap = None
    if all(v is not None for v in heap_values):
        inuse, idle, released, sys_, gc_count = (int(v or 0) for v in heap_values)
        heap = HeapStats(inuse, idle, released, sys_, gc_count, row["madvise"])
    return Sample(float(row["t_s"]), row["workload"], int(float(row["pid"] or 0)), row["madvise"], kernel, heap)


def read_samples(path: str) -> tuple[Sample, ...]:
    """samples.csv → Samples sorted by time; a bad header or row is a one-line UsageError."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise UsageError(f"{path}:1: expected the columns {','.join(CSV_COLUMNS)}; missing {','.join(missing)}")
            samples = []
            for row in reader:
                try:
                    samples.append(_sample_from_row(row))
                except (ValueError, TypeError, KeyError) as error:
                    raise UsageError(f"{path}:{reader.line_num}: expected numbers in every figure ({error})") from None
    except FileNotFoundError:
        raise UsageError(f"{path}: missing: a record directory holds samples.csv (made by `madvise-lab record`)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"{path}: cannot read: {error}") from None
    samples.sort(key=lambda s: s.t_s)
    return tuple(samples)


def read_trace_log(path: str) -> tuple[TraceLine, ...]:
    """trace.log lines `t_s workload line`; an unreadable line is kept as text at the previous time."""
    if not os.path.exists(path):
        return ()
    lines, last_t_s = [], 0.0
    with open(path, errors="replace") as f:
        for raw in f:
            raw = raw.rstrip("\n")
            parts = raw.split(" ", 2)
            try:
                t_s, workload, line = float(parts[0]), parts[1], parts[2] if len(parts) > 2 else ""
            except (ValueError, IndexError):
                t_s, workload, line = last_t_s, "", raw
            last_t_s = t_s
            lines.append(TraceLine(t_s, workload, line, trace_kind(line)))
    lines.sort(key=lambda x: x.t_s)
    return tuple(lines)


def _event_marker(event: dict) -> Marker | None:
    """A chart marker: the recorder's own `marker` records, else protocol events worth marking."""
    t_s = event.get("t_s", event.get("t"))
    workload = event.get("workload") or ""
    if not isinstance(t_s, (int, float)):
        return None
    if event.get("type") == "marker" and isinstance(event.get("kind"), str):
        return Marker(float(t_s), workload, event["kind"], str(event.get("label", "")))
    raw = event.get("message")
    message: dict = raw if isinstance(raw, dict) else event
    name = message.get("event")
    if name == "mode":
        return Marker(float(t_s), workload, "mode", mode_label(message.get("old"), message.get("new")))
    if name in ("pressure", "release_pressure"):
        return Marker(float(t_s), workload, "pressure", "pressure" if name == "pressure" else "pressure released")
    if name == "gc":
        return Marker(float(t_s), workload, "gc", gc_label(message.get("n", ""), bool(message.get("forced"))))
    if name == "scavenge" and message.get("released_bytes"):
        return Marker(float(t_s), workload, "scavenge", scavenge_label(int(message["released_bytes"])))
    return None


def _event_status(event: dict) -> WorkloadStatus | None:
    """A recorded lifecycle change (the recorder writes each status a poll brought)."""
    if event.get("type") != "status" or not isinstance(event.get("workload"), str):
        return None
    try:
        return WorkloadStatus(event["workload"], event.get("pid"), str(event["state"]), event.get("exit_code"),
                              str(event.get("madvise", "")), event.get("last_error"))
    except KeyError:
        return None


def read_events(path: str) -> tuple[tuple[Marker, ...], tuple[tuple[float, WorkloadStatus], ...]]:
    """events.jsonl → chart markers and timed statuses; junk lines are skipped.

    The recorder writes each marker once as a `marker` record and also the raw protocol messages; when
    marker records exist, raw messages are not turned into markers again.
    """
    records: list[dict] = []
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            for raw in f:
                try:
                    event = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if isinstance(event, dict) and isinstance(event.get("t_s", event.get("t")), (int, float)):
                    records.append(event)
    has_marker_records = any(r.get("type") == "marker" for r in records)
    markers = [m for r in records if not has_marker_records or r.get("type") == "marker"
               if (m := _event_marker(r)) is not None]
    statuses = [(float(r.get("t_s", r.get("t")) or 0.0), st) for r in records if (st := _event_status(r)) is not None]
    markers.sort(key=lambda m: m.t_s)
    statuses.sort(key=lambda x: x[0])
    return tuple(markers), tuple(statuses)


HEAP_STATS_FIELDS = frozenset(f.name for f in fields(HeapStats))


def read_native(path: str) -> dict[str, NativeInfo]:
    """events.jsonl → each native allocator workload's allocator text and the figures it did not tell (replay's panel)."""
    out: dict[str, NativeInfo] = {}
    if not os.path.exists(path):
        return out
    with open(path, errors="replace") as f:
        for raw in f:
            if '"allocator"' not in raw:  # only native workloads' hello and stats carry it
                continue
            try:
                event = json.loads(raw)
            except json.JSONDecodeError:
                continue
            name, message = event.get("workload"), event.get("message")
            if not isinstance(name, str) or not isinstance(message, dict):
                continue
            allocator = message.get("allocator")
            if message.get("type") == "hello" and isinstance(allocator, dict):
                text = " ".join(str(allocator.get(k) or "") for k in ("name", "version", "settings")).strip()
                out[name] = NativeInfo(text, out[name].absent if name in out else ())
            elif message.get("type") == "stats" and name in out and isinstance(message.get("absent"), list):
                absent = tuple(str(f) for f in message["absent"] if f in HEAP_STATS_FIELDS)
                if absent != out[name].absent:
                    out[name] = NativeInfo(out[name].allocator, absent)
    return out


def _markers_from_trace(trace_lines: Iterable[TraceLine]) -> list[Marker]:
    """Pressure steps and mode switches named in our own `lab:` lines (when events.jsonl lacks them)."""
    markers = []
    for line in trace_lines:
        if line.kind != "lab":
            continue
        text = line.line.lower()
        if "pressure" in text:
            markers.append(Marker(line.t_s, line.workload, "pressure", line.line[5:45]))
        elif "madvise" in text and ("→" in text or "->" in text or "switch" in text):
            markers.append(Marker(line.t_s, line.workload, "mode", line.line[5:45]))
    return markers


def load_recording(directory: str) -> Recording:
    """Read a record DIR; a missing or bad DIR is a one-line UsageError."""
    if not os.path.isdir(directory):
        raise UsageError(f"replay: {directory}: not a directory (expected the --out DIR of `madvise-lab record`)")
    samples = read_samples(os.path.join(directory, "samples.csv"))
    if not samples:
        raise UsageError(f"{os.path.join(directory, 'samples.csv')}: no samples to replay")
    trace_lines = read_trace_log(os.path.join(directory, "trace.log"))
    markers, statuses = read_events(os.path.join(directory, "events.jsonl"))
    kinds = {m.kind for m in markers}
    extra = [m for m in _markers_from_trace(trace_lines) if m.kind not in kinds]
    all_markers = tuple(sorted((*markers, *extra), key=lambda m: m.t_s))
    names = tuple(dict.fromkeys(s.workload for s in samples))
    return Recording(names, samples, trace_lines, all_markers, statuses)


