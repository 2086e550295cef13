"""The source protocol every memory source speaks (live lab, attach, replay), and the pieces they share."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from tui.core.heapmap import HeapMap
from tui.core.model import KernelMemory, LabUpdate, NativeInfo, WorkloadStatus
from tui.core.series import Series
from tui.core.timeline import TimelineStep
from tui.core.units import MiB

# If nobody polls for a long time, the oldest items go rather than the memory.
MAX_QUEUE_ITEMS = 100_000
# What one poll applies on the caller's thread (the app's event loop): the rest waits for the next frame, so a
# flood of trace lines can delay a frame by a bounded amount, never freeze it.
POLL_BATCH_ITEMS = 2_000
# A sample whose RSS or LazyFree moved by more than this is urgent: the front end should show it at once.
URGENT_CHANGE_BYTES = MiB
# The actions a source may offer on a workload (the config's timeline verbs plus pause/resume).
WORKLOAD_ACTIONS = frozenset({"set_madvise", "gc", "scavenge", "alloc", "free", "pause", "resume", "restart",
                              "pressure", "release_pressure"})

Notify = Callable[[], None]


@runtime_checkable
class Source(Protocol):
    """What the dashboard, the recorder, the exporter and the launchers need of a memory source.

    Threads of a source only queue immutable values; `poll()` applies at most `max_items` of them on the caller's
    thread and returns what changed; `notify` is called (from any thread) at most once between two polls.
    """

    @property
    def names(self) -> tuple[str, ...]: ...
    @property
    def urgent(self) -> bool:
        """The queue holds something a user should see now (a release, a marker, a status, a big move)."""
    @property
    def epoch(self) -> int:
        """Changes when the source rebuilt its history (a replay seeking back): front ends start over."""
    @property
    def pressure_available(self) -> bool: ...
    @property
    def pressure_reason(self) -> str | None: ...

    def set_notify(self, notify: Notify | None) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def poll(self, max_items: int = POLL_BATCH_ITEMS) -> LabUpdate: ...
    def t_s(self) -> float: ...
    def series(self, name: str) -> Series: ...
    def status(self, name: str) -> WorkloadStatus: ...
    def upcoming(self, n: int = 3) -> tuple[TimelineStep, ...]: ...
    def can(self, action: str, name: str | None = None) -> bool | str:
        """True when `action` (a WORKLOAD_ACTIONS verb, or `explain`) applies (to `name`), else the reason."""
    def native(self, name: str) -> NativeInfo | None:
        """A native allocator workload's allocator and the figures it does not tell (None for any other)."""
    def heapmap(self, name: str, force: bool = False) -> HeapMap | None:
        """The heap map of `name` (pagemap read at most once a second unless forced), or None."""

    def set_madvise(self, name: str, mode: str) -> None: ...
    def gc(self, name: str) -> None: ...
    def scavenge(self, name: str) -> None: ...
    def alloc(self, name: str, n_bytes: int | None = None) -> None: ...
    def free(self, name: str) -> None: ...
    def pause(self, name: str) -> None: ...
    def resume(self, name: str) -> None: ...
    def restart(self, name: str) -> None: ...
    def pressure(self, name: str) -> None: ...
    def release_pressure(self, name: str) -> None: ...


class SourceQueue:
    """The one bounded queue between a source's threads and its poll(), with the wake-up rule of every source.

    `put` from any thread; at most one `notify` between two polls, plus one more when the first was not urgent and
    a later item is; items put with wake=False (an unchanged sample) extend the series but wake nobody.
    """

    def __init__(self, notify: Notify | None = None, max_items: int = MAX_QUEUE_ITEMS) -> None:
        self._items: deque[Any] = deque(maxlen=max_items)
        self._max_items = max_items
        self._lock = threading.Lock()
        self._notify = notify
        self._notified = False
        self._notified_urgent = False
        self._urgent = False
        self.dropped_items = 0

    def set_notify(self, notify: Notify | None) -> None:
        self._notify = notify

    @property
    def urgent(self) -> bool:
        return self._urgent

    def put(self, item: Any, *, wake: bool = True, urgent: bool = False) -> None:
        self.put_many((item,), wake=wake, urgent=urgent)

    def put_many(self, items: Sequence[Any], *, wake: bool = True, urgent: bool = False) -> None:
        """Queue `items` in order under one lock with at most one wake-up: `wake` if any of them would wake the
        front end, `urgent` if any is urgent (a reader hands over all the messages of one read of a pipe)."""
        call = False
        with self._lock:
            overflow = len(self._items) + len(items) - self._max_items  # the oldest go (deque's maxlen)
            if overflow > 0:
                self.dropped_items += overflow
            self._items.extend(items)
            if urgent:
                self._urgent = True
            if wake and (not self._notified or (urgent and not self._notified_urgent)):
                self._notified = call = True
                self._notified_urgent = urgent
        notify = self._notify
        if call and notify is not None:
            try:
                notify()
            except Exception:  # noqa: BLE001 - a front end's wake-up must not kill a sampling thread
                pass

    def take(self, max_items: int) -> tuple[list[Any], bool]:
        """Up to `max_items` of the oldest items, and whether more wait (the caller polls again next frame)."""
        with self._lock:
            n_items = min(len(self._items), max(1, max_items))
            items = [self._items.popleft() for _ in range(n_items)]
            more = bool(self._items)
            # With more waiting the front end polls again by itself: no wake-up is owed until then.
            self._notified = more
            self._urgent = self._notified_urgent = more and self._urgent
        return items, more


class SampleGate:
    """Per pid, whether a new kernel read should wake the front end (changed) and show at once (urgent)."""

    def __init__(self) -> None:
        self._last: dict[int, KernelMemory] = {}

    def check(self, pid: int, memory: KernelMemory) -> tuple[bool, bool]:
        last = self._last.get(pid)
        self._last[pid] = memory
        if last is None:
            return True, True
        urgent = (abs(memory.rss_bytes - last.rss_bytes) > URGENT_CHANGE_BYTES
                  or abs(memory.lazyfree_bytes - last.lazyfree_bytes) > URGENT_CHANGE_BYTES)
        return last != memory, urgent

    def forget(self, pid: int) -> None:
        self._last.pop(pid, None)


class ObserveOnly:
    """For sources that only watch (attach, replay): every workload action is refused with `refusal`, once."""

    refusal = "this source only observes"
    pressure_available = False
    pressure_reason: str | None = "nothing of ours runs here"

    def can(self, action: str, name: str | None = None) -> bool | str:
        return self.refusal if action in WORKLOAD_ACTIONS else True

    def native(self, name: str) -> NativeInfo | None:
        return None  # not our workload: its allocator is what explain finds

    def upcoming(self, n: int = 3) -> tuple[TimelineStep, ...]:
        return ()

    def _refuse(self, *_args: object) -> None:
        """Nothing to do: can() already told the front end why (its keys are greyed)."""

    set_madvise = gc = scavenge = alloc = free = pause = resume = restart = _refuse
    pressure = release_pressure = _refuse
