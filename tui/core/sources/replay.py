"""ReplayLab: plays a `record` directory through the Lab facade, at 1×/10×/60×, with pause and seek."""

from __future__ import annotations

import bisect
import csv
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from tui.core.golang import trace as gotrace
from tui.core.errors import UsageError
from tui.core.heapmap import HeapMap, HeapMapLog
from tui.core.model import HeapStats, KernelMemory, LabUpdate, Marker, Sample, TraceLine, WorkloadStatus
from tui.core.record.recorder import CSV_COLUMNS
from tui.core.series import Series

SPEEDS = (1.0, 10.0, 60.0)
MAX_HISTORY_SAMPLES = 200_000
TRACE_LINES_ON_SEEK = 2000
# Seconds after a workload's last sample before its panel says it ended.
EXITED_AFTER_S = 1.0
REPLAY_REASON = "a replay: nothing runs, it only plays back what was recorded"

Clock = Callable[[], float]


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


def _trace_kind(line: str) -> str:
    if line.startswith("lab: "):
        return "error" if line.startswith("lab: error") else "lab"
    return gotrace.classify(line)


def _int_or_none(text: str) -> int | None:
    return None if text.strip() == "" else int(float(text))


def _sample_from_row(row: dict[str, str]) -> Sample:
    kernel = KernelMemory(int(float(row["rss_bytes"])), int(float(row["anon_bytes"])),
                          int(float(row["lazyfree_bytes"])), int(float(row.get("swap_bytes") or 0)))
    heap_values = [_int_or_none(row[c]) for c in ("heap_inuse_bytes", "heap_idle_bytes",
                                                   "heap_released_bytes", "heap_sys_bytes", "gc_count")]
    heap = None if any(v is None for v in heap_values) else HeapStats(*heap_values, madvise=row["madvise"])
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
            lines.append(TraceLine(t_s, workload, line, _trace_kind(line)))
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
    message = event.get("message") if isinstance(event.get("message"), dict) else event
    name = message.get("event")
    if name == "mode":
        old, new = message.get("old"), message.get("new")
        return Marker(float(t_s), workload, "mode", f"{old}→{new}" if old else str(new))
    if name in ("pressure", "release_pressure"):
        return Marker(float(t_s), workload, "pressure", name)
    if name == "gc":
        return Marker(float(t_s), workload, "gc", f"gc {message.get('n', '')}".strip())
    if name == "scavenge":
        return Marker(float(t_s), workload, "scavenge", "scavenge")
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
    statuses = [(float(r.get("t_s", r.get("t"))), st) for r in records if (st := _event_status(r)) is not None]
    markers.sort(key=lambda m: m.t_s)
    statuses.sort(key=lambda x: x[0])
    return tuple(markers), tuple(statuses)


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


class ReplayLab:
    """The Lab facade over a recording: poll() hands out what happened up to the play position."""

    def __init__(self, directory: str, *, clock: Clock = time.monotonic,
                 history_samples: int | None = None, trace_lines: int = TRACE_LINES_ON_SEEK,
                 notify: Callable[[], None] | None = None) -> None:
        self.directory = directory
        self.recording = load_recording(directory)
        self.names = self.recording.names
        self._clock = clock
        self._max_trace_lines = trace_lines
        per_workload = max(sum(1 for s in self.recording.samples if s.workload == n) for n in self.names)
        maxlen = history_samples or min(per_workload, MAX_HISTORY_SAMPLES)
        self._series = {name: Series(maxlen) for name in self.names}
        self._sample_times = [s.t_s for s in self.recording.samples]
        self._trace_times = [x.t_s for x in self.recording.trace_lines]
        self._marker_times = [m.t_s for m in self.recording.markers]
        self._status_times = [t for t, _ in self.recording.statuses]
        self._first_seen = {}
        self._last_seen = {}
        for s in self.recording.samples:
            self._first_seen.setdefault(s.workload, s.t_s)
            self._last_seen[s.workload] = s.t_s
        self.speed = SPEEDS[0]
        self.paused = False
        self.generation = 0  # changes when a seek back rebuilt everything: the app clears its trace pane
        self._anchor_wall = self._clock()
        self._anchor_t_s = 0.0
        self._cursor_t_s = -math.inf  # everything at or before this was handed out
        self._statuses: dict[str, WorkloadStatus] = {}
        self.pressure_available = False
        self.pressure_reason = "nothing runs in a replay"
        self.on_change = notify  # a replay has no threads: the app's fallback timer polls it
        self._heapmaps = HeapMapLog(os.path.join(directory, "heapmap.jsonl"))

    # -- play position -------------------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        return self.recording.duration_s

    def t_s(self) -> float:
        """The play position, in the recording's seconds."""
        if self.paused:
            return self._anchor_t_s
        position = self._anchor_t_s + (self._clock() - self._anchor_wall) * self.speed
        return min(position, self.duration_s)

    def _reanchor(self, position_s: float) -> None:
        self._anchor_t_s = max(0.0, min(position_s, self.duration_s))
        self._anchor_wall = self._clock()

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._reanchor(self.t_s())
        self.speed = float(speed)

    def cycle_speed(self) -> float:
        """1× → 10× → 60× → 1×; returns the new speed."""
        later = [s for s in SPEEDS if s > self.speed]
        self.set_speed(later[0] if later else SPEEDS[0])
        return self.speed

    def toggle_pause(self) -> bool:
        """Pause or resume the playback; returns whether it is now paused."""
        self._reanchor(self.t_s())
        self.paused = not self.paused
        return self.paused

    def seek(self, delta_s: float) -> float:
        """Move the play position by delta_s (negative: back); returns the new position."""
        target = max(0.0, min(self.t_s() + delta_s, self.duration_s))
        self._reanchor(target)
        if target < self._cursor_t_s:
            self._rebuild(target)
        return target

    def seek_to(self, position_s: float) -> float:
        return self.seek(position_s - self.t_s())

    def _rebuild(self, position_s: float) -> None:
        """After seeking back: series hold only what happened up to position_s; next poll resends the trace."""
        for series in self._series.values():
            series.clear()
        self._cursor_t_s = -math.inf
        self._statuses.clear()
        self.generation += 1

    # -- the Lab facade ------------------------------------------------------------------------------
    def start(self) -> None:
        self._reanchor(0.0)

    def stop(self) -> None:
        """Nothing runs: idempotent."""

    def series(self, name: str) -> Series:
        return self._series[name]

    def heapmap(self, name: str, force: bool = False) -> HeapMap | None:
        """The heap map recorded last at or before the play position (None: none recorded yet)."""
        return self._heapmaps.at(name, self.t_s())

    def _status_at(self, name: str, position_s: float) -> WorkloadStatus:
        i = bisect.bisect_right(self._sample_times, position_s) - 1
        latest = next((s for s in reversed(self.recording.samples[: i + 1]) if s.workload == name), None) \
            if i >= 0 else None
        pid = latest.pid if latest else None
        madvise = latest.madvise if latest else ""
        recorded = self._recorded_status(name, position_s)
        if recorded is not None:
            state = "paused" if self.paused and recorded.state == "running" else recorded.state
            return WorkloadStatus(name, recorded.pid or pid, state, recorded.exit_code, madvise or recorded.madvise,
                                  recorded.last_error)
        if position_s < self._first_seen.get(name, 0.0):
            return WorkloadStatus(name, pid, "starting", None, madvise)
        if position_s > self._last_seen.get(name, 0.0) + EXITED_AFTER_S and position_s < self.duration_s:
            return WorkloadStatus(name, pid, "exited", None, madvise)
        return WorkloadStatus(name, pid, "paused" if self.paused else "running", None, madvise)

    def _recorded_status(self, name: str, position_s: float) -> WorkloadStatus | None:
        i = bisect.bisect_right(self._status_times, position_s)
        return next((st for _, st in reversed(self.recording.statuses[:i]) if st.name == name), None)

    def status(self, name: str) -> WorkloadStatus:
        if name not in self._series:
            raise KeyError(name)
        return self._statuses.get(name) or self._status_at(name, self.t_s())

    def poll(self) -> LabUpdate:
        """Everything recorded between the last poll and the play position, applied to the series."""
        position = self.t_s()
        lo = self._cursor_t_s
        samples = self._between(self.recording.samples, self._sample_times, lo, position)
        rebuilding = lo == -math.inf
        if rebuilding:
            # Only the newest history fits the ring buffers; the trace pane gets its bounded tail.
            samples = samples[-self._series[self.names[0]].maxlen * len(self.names):]
        for sample in samples:
            self._series[sample.workload].append(sample)
        markers = self._between(self.recording.markers, self._marker_times, lo, position)
        for marker in markers:
            if marker.workload in self._series:
                self._series[marker.workload].add_marker(marker)
        trace_lines = self._between(self.recording.trace_lines, self._trace_times, lo, position)
        if len(trace_lines) > self._max_trace_lines:
            trace_lines = trace_lines[-self._max_trace_lines:]
        self._cursor_t_s = position
        statuses = []
        for name in self.names:
            status = self._status_at(name, position)
            if self._statuses.get(name) != status:
                self._statuses[name] = status
                statuses.append(status)
        return LabUpdate(tuple(samples), tuple(trace_lines), tuple(markers), tuple(statuses))

    @staticmethod
    def _between(items: tuple, times: list[float], lo: float, hi: float) -> tuple:
        """Items with lo < t ≤ hi (lo = -inf: everything up to hi)."""
        start = 0 if lo == -math.inf else bisect.bisect_right(times, lo)
        return items[start: bisect.bisect_right(times, hi)]

    @property
    def finished(self) -> bool:
        return self.t_s() >= self.duration_s

    # -- actions: a replay only plays back ----------------------------------------------------------
    def can(self, action: str, name: str | None = None) -> bool | str:
        """True when the action applies; else the reason it does not (the app shows it and greys the key)."""
        if action in ("set_speed", "cycle_speed", "toggle_pause", "seek"):
            return True
        return REPLAY_REASON

    def _refuse(self, *_args: object) -> str:
        return REPLAY_REASON

    set_madvise = gc = scavenge = alloc = free = pause = resume = restart = _refuse
    pressure = release_pressure = _refuse
