"""The one facade both front ends use: workloads, sampler, series, timeline and pressure behind poll()."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Mapping, Sequence

from tui.core.config import Config
from tui.core.heapmap import HeapMap, HeapMapReader, SpanMap, span_map_from_message
from tui.core.model import HeapStats, NativeInfo, KernelMemory, LabUpdate, Marker, Sample, TraceLine, WorkloadStatus
from tui.core.kernel.pressure import Pressure, PressureOutcome
from tui.core.kernel.sampler import IDLE_INTERVAL_S, Sampler
from tui.core.series import Series
from tui.core.sources.base import POLL_BATCH_ITEMS, SampleGate, SourceQueue
from tui.core.sources.supervisor import Exited, OutputLine, Received, Spawned, Supervisor
from tui.core.timeline import Timeline, TimelineStep, describe_step
from workloads.allocator_env import refusal as allocator_refusal
from workloads.allocators import NATIVE_KINDS
from tui.core.vocabulary import TRACE_KINDS, gc_label, mode_label, restart_label, scavenge_label

# Events after which the process's pages may have moved: read smaps_rollup now, not at the next tick.
INVALIDATING_EVENTS = frozenset({"alloc", "free", "gc", "scavenge", "mode", "reuse", "release"})
# Of those, the ones that touch pages in our Python workloads (a GC, a free or a mode switch only moves spans
# between its own lists): a Go 1.12 sweep every few seconds and a forced GC each cost a page walk otherwise.
PAGE_EVENTS = frozenset({"alloc", "scavenge", "reuse", "release"})
RELEASE_EVENTS = frozenset({"scavenge", "release"})
# Our workloads releasing with these leave no LazyFree: while so, the sampler answers an RSS change from statm alone.
NO_LAZYFREE_MODES = frozenset({"MADV_DONTNEED", "MADV_COLD", "MADV_PAGEOUT", "munmap", "none"})
# Workloads that read their release settings only at start: a mode switch restarts them.
RESTART_ON_MODE_KINDS = frozenset({"go", *NATIVE_KINDS})
# Our Python workloads announce every release and re-touch (the events above invalidate the rollup at once), and
# reclaim drops RSS (statm sees it), so their safety rollup (~2.5 ms per resident 512 MiB) can be much rarer than the
# sampler's 1 s: at 5 s it was 40 % of the default config's sampling once memory settled. Go's runtime does not.
ANNOUNCED_ROLLUP_MAX_AGE_S = 30.0
# Protocol messages that change a status or add a chart marker (not the periodic stats) are urgent too.
URGENT_MESSAGES = frozenset({"hello", "event", "error"})
HEAP_FIELDS = tuple(field.name for field in dataclasses.fields(HeapStats))


class Lab:
    """Owns the workloads of one config; threads feed one queue, `poll()` applies it on the caller's thread."""

    def __init__(self, config: Config, *, notify: Callable[[], None] | None = None,
                 on_message: Callable[[str, dict], None] | None = None,
                 idle_interval_s: float | None = IDLE_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`idle_interval_s`: how often a workload that has not run is read (None: every sample_interval, as
        `record` does, whose samples.csv is the measurement)."""
        self.config = config
        self._clock = clock
        self._t0: float | None = None
        self._queue = SourceQueue(notify)
        self._gate = SampleGate()
        self._series = {w.name: Series(config.history_samples) for w in config.workloads}
        self._statuses = {w.name: WorkloadStatus(w.name, None, "starting", None, w.madvise) for w in config.workloads}
        self._heap: dict[str, HeapStats | None] = {w.name: None for w in config.workloads}
        self._spans: dict[str, SpanMap | None] = {w.name: None for w in config.workloads}  # the latest span map
        self._heapmaps = HeapMapReader()
        self._native: dict[str, NativeInfo | None] = {w.name: None for w in config.workloads}
        self._generation = {w.name: 0 for w in config.workloads}
        self._pid_names: dict[int, str] = {}  # sampled pid -> workload (reader and sampler threads write)
        self._sampled_pid: dict[str, int] = {}
        self._proc_pid: dict[str, int] = {}
        self._last_stats: dict[str, dict] = {}  # per workload, written only by its stdout reader thread
        self.timeline = Timeline(config.timeline)
        self._deferred: list[tuple[TimelineStep, str]] = []
        self._on_message = on_message
        self._started = self._stopped = False
        self._sampler = Sampler(config.sample_interval_s, self._on_sample, idle_interval_s=idle_interval_s, clock=clock)
        self._supervisor = Supervisor(config.workloads, self._on_supervisor, clock=clock, on_raw=on_message,
                                      on_batch=self._on_supervisor_batch)
        self._pressure = Pressure(config.pressure, config.names, post=lambda outcome: self._put(outcome, urgent=True),
                                  say=lambda name, text, error: self._lab_line(name, text, "error" if error else "lab"),
                                  t_s=self.t_s, generation=self._supervisor.generation, clock=clock)

    # --- reading ---

    @property
    def names(self) -> tuple[str, ...]:
        return self.config.names

    def series(self, name: str) -> Series:
        return self._series[name]

    def status(self, name: str) -> WorkloadStatus:
        return self._statuses[name]

    def heap(self, name: str) -> HeapStats | None:
        return self._heap[name]

    def native(self, name: str) -> NativeInfo | None:
        """The allocator and the figures it does not tell, for a native allocator workload (None otherwise)."""
        return self._native[name]

    def kind(self, name: str) -> str:
        return self._supervisor.config(name).kind

    def heapmap(self, name: str, force: bool = False) -> HeapMap | None:
        """The heap map of `name`: its latest span map with our own pagemap read (≤ 1 a second unless `force`).

        kind go and the native allocator kinds: the kernel's side only, over the largest anonymous mappings.
        None before there is anything to show (not running, or a python workload's first span map not in yet).
        """
        spans = self._spans[name]
        if spans is None and self.kind(name) == "python":
            return None
        return self._heapmaps.read(name, self._sampled_pid.get(name), self.t_s(), spans, force=force)

    def workload_config(self, name: str):
        """The workload's current config (options change when a Go workload restarts in another mode)."""
        return self._supervisor.config(name)

    def t_s(self) -> float:
        """Seconds since the lab started: the time axis of samples, trace lines and the timeline."""
        return 0.0 if self._t0 is None else self._clock() - self._t0

    def upcoming(self, n: int = 3) -> tuple[TimelineStep, ...]:
        return self.timeline.upcoming(self.t_s(), n)

    @property
    def pressure_available(self) -> bool:
        return self._pressure.available

    @property
    def pressure_reason(self) -> str | None:
        """Why pressure is unavailable (None when it is available)."""
        return self._pressure.reason

    def can(self, action: str, name: str | None = None) -> bool | str:
        """True when the lab method `action` applies (to workload `name`), else the reason (the app greys the key)."""
        if action in ("pressure", "release_pressure") and not self.pressure_available:
            return f"pressure unavailable: {self.pressure_reason}"
        if name is not None and name in self._statuses and self.kind(name) in NATIVE_KINDS:
            kind = self.kind(name)
            if action == "gc":
                return "no collector: free is immediate"
            refusal = allocator_refusal(kind, "MADV_FREE")
            if action == "set_madvise" and refusal:
                return refusal
        return True

    @property
    def urgent(self) -> bool:
        """True when the queue holds a release, marker, status change or a sample that moved > 1 MiB.

        A front end that throttles its polls (the app: at most every redraw_interval) polls at once for these.
        """
        return self._queue.urgent

    @property
    def epoch(self) -> int:
        return 0  # a live lab never rewrites its history

    @property
    def dropped_items(self) -> int:
        return self._queue.dropped_items

    def set_notify(self, notify: Callable[[], None] | None) -> None:
        self._queue.set_notify(notify)

    # --- lifecycle ---

    def start(self) -> None:
        """Create cgroups, start the sampler and spawn every workload (spawns finish in the background)."""
        if self._started:
            return
        self._started = True
        self._t0 = self._clock()
        self._sampler.set_epoch(self._t0)  # one time axis for samples and messages
        self._supervisor.set_epoch(self._t0)
        self._pressure.setup()
        self._sampler.start()
        for name in self.names:
            self._supervisor.start(name, self._pressure.preexec(name))

    def stop(self) -> None:
        """Exit every workload (SIGKILL after 1 s), stop the sampler, remove cgroups. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._supervisor.stop()
        self._sampler.stop()
        self._pressure.stop()
        self._heapmaps.close()

    # --- threads -> queue ---

    def _put(self, item: Any, wake: bool = True, urgent: bool = False) -> None:
        self._queue.put(item, wake=wake, urgent=urgent)

    def _on_sample(self, pid: int, t_s: float, memory: KernelMemory | None) -> None:
        name = self._pid_names.get(pid)
        if name is None:
            return
        if memory is None:
            self._pid_names.pop(pid, None)
            self._gate.forget(pid)
            return
        changed, urgent = self._gate.check(pid, memory)
        # An unchanged sample still extends the series, but only a change wakes the front end.
        self._put(("sample", name, pid, t_s, memory), wake=changed, urgent=urgent)

    def _on_supervisor(self, message: Any) -> None:
        self._put(message, *self._route(message))

    def _on_supervisor_batch(self, messages: Sequence[Any]) -> None:
        """What a reader took from one read of a pipe: one put, which wakes if any message would and is urgent if
        any is (their order kept)."""
        wake = urgent = False
        for message in messages:
            woke, pressing = self._route(message)
            wake |= woke
            urgent |= pressing
        self._queue.put_many(messages, wake=wake, urgent=urgent)

    def _route(self, message: Any) -> tuple[bool, bool]:
        """A supervisor message's effects on the reader's thread (sampling, invalidation); (wake, urgent) for it."""
        if isinstance(message, Received):
            data = message.data
            kind = data.get("type")
            if kind == "stats":
                # a workload repeats unchanged stats every second: queued, but only a change wakes the front end
                figures = dict(data)
                figures.pop("t", None)
                wake = figures != self._last_stats.get(message.name)
                self._last_stats[message.name] = figures
                return wake, False
            if kind == "hello" and isinstance(data.get("pid"), int) and data["pid"] != message.pid:
                self._watch(message.name, data["pid"])  # e.g. a launcher in between: sample the real program
            urgent = kind in URGENT_MESSAGES
            if kind == "event" and data.get("event") in INVALIDATING_EVENTS:
                pid = self._sampled_pid.get(message.name)
                # the kernel read it triggers follows within a tick and is urgent itself (it moved): the frame waits
                # for that, not for the announcement, so one release is one frame with its figures; in a churn the
                # read waits for the page-walk budget, and the announcement (its heap figures) is shown at once.
                # One that moves no page (a GC, a free) is not urgent either: it would spend the urgent frame a
                # release right after it needs (bench 5: free, GC, then a scavenge 0.1 s later waited ~100 ms)
                urgent = bool(self._moves_pages(message.name, data) and pid is not None
                              and not self._sampler.invalidate(pid))
            return True, urgent
        if isinstance(message, Spawned):
            self._pressure.spawned(message.name)
            self._proc_pid[message.name] = message.pid
            self._watch(message.name, message.pid)
        elif isinstance(message, Exited):
            pid = self._sampled_pid.get(message.name)
            # After a restart the old process's exit can arrive late: only the current process unregisters.
            if pid is not None and self._proc_pid.get(message.name) == message.pid:
                self._sampler.remove(pid)
                self._pid_names.pop(pid, None)
            self._pressure.exited(message.name, message.generation, requested=message.requested,
                                  spawn_failed=message.pid is None)
        return True, isinstance(message, (Spawned, Exited))

    def _moves_pages(self, name: str, event: Mapping[str, Any]) -> bool:
        """Whether the workload's pages may have moved with `event` (then its rollup is read at once)."""
        what = event.get("event")
        if what in RELEASE_EVENTS and event.get("released_bytes") == 0:
            return False  # a sweep that found nothing idle long enough
        return what in (PAGE_EVENTS if self._announces(name) else INVALIDATING_EVENTS)

    def _announces(self, name: str) -> bool:
        """Our Python workloads announce every release and re-touch; real runtimes and allocators do not."""
        return self._supervisor.config(name).kind == "python"

    def _watch(self, name: str, pid: int) -> None:
        old = self._sampled_pid.get(name)
        if old is not None and old != pid:
            self._sampler.remove(old)
            self._pid_names.pop(old, None)
        self._sampled_pid[name] = pid
        self._pid_names[pid] = name
        announced = self._announces(name)
        self._sampler.add(pid, ANNOUNCED_ROLLUP_MAX_AGE_S if announced else None, announced=announced)
        self._sampler.set_no_lazyfree(pid, self._statuses[name].madvise in NO_LAZYFREE_MODES)

    # --- the caller's thread ---

    def poll(self, max_items: int = POLL_BATCH_ITEMS) -> LabUpdate:
        """Apply up to max_items of what the threads queued, run due timeline steps; returns what changed."""
        items, more = self._queue.take(max_items)
        out = _Collect(more)
        for item in items:
            if isinstance(item, tuple):
                self._apply_sample(out, *item[1:])
            elif isinstance(item, Received):
                try:
                    self._apply_received(out, item)
                except (KeyError, TypeError, ValueError, OverflowError) as error:
                    # decode_message checks the shape; a field it does not check must not stop the dashboard
                    out.line(TraceLine(item.t_s, item.name, f"lab: error: bad {item.data.get('type')} message from "
                                       f"the workload: {error!r:.120}", "error"))
            elif isinstance(item, OutputLine):
                out.line(TraceLine(item.t_s, item.name, item.line, item.kind if item.kind in TRACE_KINDS else "other"))
            elif isinstance(item, Spawned):
                self._apply_spawned(out, item)
            elif isinstance(item, Exited):
                self._apply_exited(out, item)
            elif isinstance(item, PressureOutcome):
                self._apply_pressure(out, item)
        if self._started and not self._stopped:
            waiting, self._deferred = self._deferred, []
            for step, name in waiting:
                self._run_step_on(out, step, name)
            for step in self.timeline.due(self.t_s()):
                self._run_step(out, step)
            self._pressure.check_relief()
        return out.update()

    def _set_status(self, out: "_Collect", name: str, **changes: Any) -> None:
        old = self._statuses[name]
        new = dataclasses.replace(old, **changes)
        if new != old:
            self._statuses[name] = new
            out.statuses[name] = new
            pid = self._sampled_pid.get(name)
            if new.madvise != old.madvise and pid is not None:
                self._sampler.set_no_lazyfree(pid, new.madvise in NO_LAZYFREE_MODES)

    def _apply_sample(self, out: "_Collect", name: str, pid: int, t_s: float, memory: KernelMemory) -> None:
        heap = self._heap[name]
        madvise = heap.madvise if heap is not None else self._statuses[name].madvise
        sample = Sample(t_s, name, pid, madvise, memory, heap)
        self._series[name].append(sample)
        out.samples.append(sample)

    def _apply_spawned(self, out: "_Collect", item: Spawned) -> None:
        self._generation[item.name] = item.generation
        self._heap[item.name] = None
        self._spans[item.name] = None
        self._set_status(out, item.name, pid=item.pid, state="starting", exit_code=None, madvise=item.madvise,
                         last_error=None)
        if item.generation > 1:
            self._marker(out, item.t_s, item.name, "restart", restart_label(item.madvise))
        out.line(TraceLine(item.t_s, item.name, f"lab: started pid {item.pid} with {item.madvise}", "lab"))

    def _apply_exited(self, out: "_Collect", item: Exited) -> None:
        if item.generation < self._generation[item.name]:
            return  # the old process of a restart: the new one's status stands
        self._set_status(out, item.name, state="exited", exit_code=item.exit_code, last_error=item.last_error)
        if item.requested and item.exit_code in (0, None, -9):
            text = f"lab: stopped (code {item.exit_code})"
        else:
            reason = f": {item.last_error}" if item.last_error else ""
            text = f"lab: exited (code {item.exit_code}){reason}"
        out.line(TraceLine(item.t_s, item.name, text, "lab" if item.requested else "error"))

    def _apply_received(self, out: "_Collect", item: Received) -> None:
        name, data, t_s = item.name, item.data, item.t_s
        if item.generation < self._generation[name]:
            return
        kind = data.get("type")
        if kind == "stats":
            self._apply_stats(out, name, data)
        elif kind == "trace":
            line_kind = data.get("kind")
            out.line(TraceLine(t_s, name, str(data.get("line", "")), line_kind if line_kind in TRACE_KINDS else "other"))
        elif kind == "event":
            self._apply_event(out, name, t_s, data)
        elif kind == "spans":
            try:
                self._spans[name] = span_map_from_message(data, t_s)
            except (KeyError, TypeError, ValueError) as error:
                out.line(TraceLine(t_s, name, f"lab: error: bad spans message: {error!r:.80}", "error"))
        elif kind == "hello":
            allocator = data.get("allocator")
            if isinstance(allocator, dict):
                text = " ".join(str(allocator.get(key) or "") for key in ("name", "version", "settings")).strip()
                self._native[name] = NativeInfo(text)
            madvise = str(data.get("madvise") or self._statuses[name].madvise)
            self._set_status(out, name, pid=int(data.get("pid") or item.pid), state="running", madvise=madvise)
        elif kind == "error":
            message = str(data.get("message", ""))
            self._set_status(out, name, last_error=message)
            out.line(TraceLine(t_s, name, f"lab: error: {message}", "error"))

    def _apply_stats(self, out: "_Collect", name: str, data: Any) -> None:
        # decode_message checked every field of the protocol's table; HeapStats takes them by the same names
        heap = HeapStats(**{field: data[field] for field in HEAP_FIELDS})
        native = self._native[name]
        if native is not None:  # a native allocator names the figures it does not tell
            absent = tuple(f for f in (data.get("absent") or ()) if f in HEAP_FIELDS)
            if absent != native.absent:
                self._native[name] = NativeInfo(native.allocator, absent)
        self._heap[name] = heap
        if self._statuses[name].state == "starting":
            self._set_status(out, name, state="running")
        if heap.madvise != self._statuses[name].madvise:
            self._set_status(out, name, madvise=heap.madvise)

    def _apply_event(self, out: "_Collect", name: str, t_s: float, data: Any) -> None:
        event = data.get("event")
        if event == "gc":
            self._marker(out, t_s, name, "gc", gc_label(data.get("n", ""), bool(data.get("forced"))))
        elif event == "scavenge":
            released = data.get("released_bytes", 0)
            if not isinstance(released, int) or isinstance(released, bool) or released < 0:
                raise TypeError(f"scavenge: released_bytes must be a byte count, got {released!r:.40}")
            if released:  # a sweep that found nothing idle long enough is not worth a chart mark
                self._marker(out, t_s, name, "scavenge", scavenge_label(released))
        elif event == "mode":
            new = str(data.get("new", ""))
            self._marker(out, t_s, name, "mode", mode_label(data.get("old", "?"), new))
            if new:
                self._set_status(out, name, madvise=new)
        elif event == "pause":
            self._set_status(out, name, state="paused")
        elif event == "resume":
            self._set_status(out, name, state="running")

    def _apply_pressure(self, out: "_Collect", outcome: PressureOutcome) -> None:
        self._pressure.applied(outcome)
        for text, is_error in outcome.lines():
            out.line(TraceLine(outcome.t_s, outcome.name, text, "error" if is_error else "lab"))
        self._marker(out, outcome.t_s, outcome.name, "pressure", outcome.marker_label())
        pid = self._sampled_pid.get(outcome.name)
        if pid is not None:
            self._sampler.invalidate(pid)  # the kernel just reclaimed (or may reclaim again): read the rollup now

    def _marker(self, out: "_Collect", t_s: float, name: str, kind: str, label: str) -> None:
        marker = Marker(t_s, name, kind, label)
        self._series[name].add_marker(marker)
        out.markers.append(marker)

    def _lab_line(self, name: str, text: str, kind: str = "lab") -> None:
        """A lab: line from an action on the caller's thread; it shows with the next poll."""
        self._put(OutputLine(name, 0, self._generation.get(name, 0), self.t_s(), f"lab: {text}", kind, "lab"))

    # --- timeline ---

    def _run_step(self, out: "_Collect", step: TimelineStep) -> None:
        targets = self.names if step.workload == "all" else (step.workload,)
        for name in targets:
            self._run_step_on(out, step, name)

    def _run_step_on(self, out: "_Collect", step: TimelineStep, name: str) -> None:
        if (self._supervisor.pid(name) is None and self._statuses[name].state == "starting"
                and step.do != "restart"):
            self._deferred.append((step, name))  # still spawning (e.g. building Go): run it once it is up
            return
        out.line(TraceLine(self.t_s(), name, f"lab: timeline {describe_step(step)}", "lab"))
        self.do(step.do, name, step.value)

    def do(self, action: str, name: str, value: Any = None) -> None:
        """Run one timeline action by name (the same verbs as the config's `do:`)."""
        if action == "set_madvise":
            self.set_madvise(name, value)
        elif action == "alloc":
            self.alloc(name, value)
        else:
            verbs: dict[str, Callable[[str], None]] = {
                "gc": self.gc, "scavenge": self.scavenge, "free": self.free, "pause": self.pause,
                "resume": self.resume, "restart": self.restart, "pressure": self.pressure,
                "release_pressure": self.release_pressure}
            if action not in verbs:
                raise ValueError(f"unknown action {action!r}")
            verbs[action](name)

    # --- commands (caller's thread; never block on the workload) ---

    def _send(self, name: str, cmd: str, **fields: Any) -> bool:
        if self._supervisor.send(name, cmd, **fields):
            return True
        self._lab_line(name, f"{cmd}: {name} is not running ({self._statuses[name].state}); r restarts it", "error")
        return False

    def set_madvise(self, name: str, mode: str) -> None:
        kind = self.kind(name)
        if kind in NATIVE_KINDS:
            reason = allocator_refusal(kind, mode)
            if reason:
                self._lab_line(name, f"set_madvise {mode}: {reason}", "error")
                return
        if kind in RESTART_ON_MODE_KINDS:
            why = ("Go reads GODEBUG=madvdontneed only at start" if kind == "go"
                   else f"{kind} reads its release settings only at start")
            self._lab_line(name, f"{why}: restarting {name} with {mode}")
            self._prepare_spawn(name)
            self._supervisor.restart(name, {"madvise": mode})
            return
        self._send(name, "set_madvise", value=mode)

    def gc(self, name: str) -> None:
        self._send(name, "gc")

    def scavenge(self, name: str) -> None:
        self._send(name, "scavenge")

    def alloc(self, name: str, n_bytes: int | None = None) -> None:
        self._send(name, "alloc", bytes=int(self.config.alloc_bytes if n_bytes is None else n_bytes))

    def free(self, name: str) -> None:
        self._send(name, "free")

    def pause(self, name: str) -> None:
        self._send(name, "pause")

    def resume(self, name: str) -> None:
        self._send(name, "resume")

    def restart(self, name: str) -> None:
        """Stop and start the workload again (in the background); its history stays."""
        self._lab_line(name, f"restarting {name}")
        self._prepare_spawn(name)
        self._supervisor.restart(name)

    def _prepare_spawn(self, name: str) -> None:
        """Before a restart: the workload's cgroup exists again, and the new child joins it."""
        if self._pressure.available:
            self._supervisor.set_preexec(name, self._pressure.prepare_spawn(name))

    def pressure(self, name: str) -> None:
        """Squeeze the workload's cgroup (on the pressure thread) so the kernel reclaims its LazyFree pages."""
        if self._pressure_refused(name, "pressure"):
            return
        latest = self._series[name].latest
        if latest is None:
            self._lab_line(name, "pressure: no sample yet", "error")
            return
        self._pressure.squeeze(name, latest.kernel)

    def release_pressure(self, name: str) -> None:
        if not self._pressure_refused(name, "release pressure"):
            self._pressure.release(name)

    def _pressure_refused(self, name: str, what: str) -> bool:
        """Say why pressure cannot act on `name` now (a lab: error line), or return False when it can."""
        if not self._pressure.available:
            self._lab_line(name, f"pressure unavailable: {self.pressure_reason}", "error")
            return True
        if self._supervisor.pid(name) is None:
            self._lab_line(name, f"{what}: {name} is not running ({self._statuses[name].state}); r restarts it",
                           "error")
            return True
        return False



class _Collect:
    """What one poll gathers, before it becomes a frozen LabUpdate."""

    def __init__(self, more: bool) -> None:
        self.more = more
        self.samples: list[Sample] = []
        self.lines: list[TraceLine] = []
        self.markers: list[Marker] = []
        self.statuses: dict[str, WorkloadStatus] = {}

    def line(self, line: TraceLine) -> None:
        self.lines.append(line)

    def update(self) -> LabUpdate:
        return LabUpdate(tuple(self.samples), tuple(self.lines), tuple(self.markers), tuple(self.statuses.values()),
                         self.more)
