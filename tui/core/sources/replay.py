"""ReplayLab: plays a `record` directory through the Lab facade, at 1×/10×/60×, with pause and seek."""

from __future__ import annotations

import bisect
import math
import os
import time
from typing import Callable

from tui.core.heapmap import HeapMap, HeapMapLog
from tui.core.model import LabUpdate, NativeInfo, WorkloadStatus
from tui.core.record.format import load_recording, read_native
from tui.core.series import Series
from tui.core.sources.base import POLL_BATCH_ITEMS, ObserveOnly

SPEEDS = (1.0, 10.0, 60.0)
MAX_HISTORY_SAMPLES = 200_000
TRACE_LINES_ON_SEEK = 2000
# Seconds after a workload's last sample before its panel says it ended.
EXITED_AFTER_S = 1.0
REPLAY_REASON = "a replay: nothing runs, it only plays back what was recorded"

Clock = Callable[[], float]


class ReplayLab(ObserveOnly):
    """The source protocol over a recording: poll() hands out what happened up to the play position."""

    refusal = REPLAY_REASON
    pressure_reason = "nothing runs in a replay"
    urgent = False  # nothing arrives by itself: the app polls a replay at the redraw rate

    def __init__(self, directory: str, *, clock: Clock = time.monotonic,
                 history_samples: int | None = None, trace_lines: int = TRACE_LINES_ON_SEEK) -> None:
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
        self._first_seen: dict[str, float] = {}
        self._last_seen: dict[str, float] = {}
        for s in self.recording.samples:
            self._first_seen.setdefault(s.workload, s.t_s)
            self._last_seen[s.workload] = s.t_s
        self.speed = SPEEDS[0]
        self.paused = False
        self.epoch = 0  # changes when a seek back rebuilt everything: the app clears its trace pane
        self._anchor_wall = self._clock()
        self._anchor_t_s = 0.0
        self._cursor_t_s = -math.inf  # everything at or before this was handed out
        self._statuses: dict[str, WorkloadStatus] = {}
        self._heapmaps = HeapMapLog(os.path.join(directory, "heapmap.jsonl"))
        self._native = read_native(os.path.join(directory, "events.jsonl"))

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
        """Move the play position to `position_s`; returns it (bounded by the recording)."""
        return self.seek(position_s - self.t_s())

    def _rebuild(self, position_s: float) -> None:
        """After seeking back: series hold only what happened up to position_s; next poll resends the trace."""
        for series in self._series.values():
            series.clear()
        self._cursor_t_s = -math.inf
        self._statuses.clear()
        self.epoch += 1

    # -- the source protocol -------------------------------------------------------------------------
    def set_notify(self, notify: Callable[[], None] | None) -> None:
        """A replay has no threads to wake anyone: the app polls it at the redraw rate."""

    def start(self) -> None:
        self._reanchor(0.0)

    def stop(self) -> None:
        """Nothing runs: idempotent."""

    def native(self, name: str) -> NativeInfo | None:
        """A recorded native allocator workload's allocator and the figures it did not tell (None otherwise)."""
        return self._native.get(name)

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

    def poll(self, max_items: int = POLL_BATCH_ITEMS) -> LabUpdate:
        """Everything recorded between the last poll and the play position, applied to the series.

        A recording is in memory and sliced by time: the trace lines resent after a seek are bounded by
        `trace_lines`, so `max_items` is not needed here.
        """
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
