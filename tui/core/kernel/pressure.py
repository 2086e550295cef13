"""Memory pressure for a live source: one cgroup per workload, squeezes and releases on one worker thread."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from tui.core.config import PressureConfig
from tui.core.kernel.cgroups import CgroupManager, PressureResult, WorkloadCgroup
from tui.core.model import KernelMemory
from tui.core.units import MiB

# A squeezed v1 workload that grows again waits (its OOM killer is off): check this often and lift the limit.
RELIEF_CHECK_S = 0.5

Preexec = Callable[[], None]


@dataclass(frozen=True, slots=True)
class PressureOutcome:
    """A squeeze, release or relief finished on the pressure thread. what: pressure, release_pressure, relieve."""

    name: str
    what: str
    result: PressureResult
    t_s: float

    def lines(self) -> tuple[tuple[str, bool], ...]:
        """(text, is_error) for the trace pane: each step, then the summary."""
        # "Nothing reclaimable" is an answer, not a failure: only a real failure is shown as an error.
        calm = self.result.ok or "nothing reclaimable" in self.result.message
        return (*((f"lab: {step}", False) for step in self.result.step_lines),
                (f"lab: {self.result.message}", not calm))

    def marker_label(self) -> str:
        """The chart mark: `pressure → 136 MiB, −384 MiB`, or `pressure released`."""
        if self.what != "pressure":
            return "pressure released"
        limit = self.result.limit_bytes
        label = "pressure" if limit is None else f"pressure → {limit / MiB:.0f} MiB"
        if self.result.reclaimed_bytes:
            label += f", −{self.result.reclaimed_bytes / MiB:.0f} MiB"
        return label


def _failed(message: str) -> PressureResult:
    return PressureResult(False, None, 0, 0.0, message)


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


class Pressure:
    """Owns the workloads' memory cgroups; results reach the source through `post`, notes through `say`.

    Callbacks: `post(outcome)` from the worker thread; `say(name, text, is_error)` for a lab: line;
    `t_s()` the source's clock; `generation(name)` the supervisor's current process generation of a workload.
    """

    def __init__(self, settings: PressureConfig, names: tuple[str, ...], *,
                 post: Callable[[PressureOutcome], None], say: Callable[[str, str, bool], None],
                 t_s: Callable[[], float], generation: Callable[[str], int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._settings, self._names = settings, names
        self._post, self._say, self._t_s, self._generation, self._clock = post, say, t_s, generation, clock
        self._manager: CgroupManager | None = None
        self._cgroups: dict[str, WorkloadCgroup] = {}
        self._reason: str | None = "not started"
        # Cgroup lifecycle: created before each spawn, removed when the process exits on its own; the lock keeps
        # a removal on the pressure thread from racing a re-creation for a restart on the caller's thread.
        self._lock = threading.Lock()
        self._wanted: dict[str, bool] = {}
        self._restart_pending: set[str] = set()
        self._squeezed: set[str] = set()
        self._relief_pending = False
        self._relief_checked_s = 0.0
        self._stopped = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="madvise-lab-pressure")

    # --- state ---

    @property
    def available(self) -> bool:
        return bool(self._cgroups)

    @property
    def reason(self) -> str | None:
        """Why pressure is unavailable (None when it is available)."""
        return None if self._cgroups else self._reason

    def preexec(self, name: str) -> Preexec | None:
        """What the workload's child runs before exec: join its cgroup (None without pressure)."""
        cgroup = self._cgroups.get(name)
        return cgroup.preexec if cgroup is not None else None

    # --- lifecycle ---

    def setup(self) -> None:
        """Find a writable memory cgroup, clean up a killed run's leftovers, create one cgroup per workload."""
        try:
            manager = CgroupManager(self._settings.cgroup_root)
            if not manager.available:
                self._reason = manager.reason or "no writable memory cgroup"
                return
            manager.cleanup_stale()
            self._manager = manager
            for name in self._names:
                self._cgroups[name] = manager.create(name)
                self._wanted[name] = True
            self._reason = None
        except Exception as error:  # noqa: BLE001 - pressure is optional: the lab runs without it
            self._reason = _first_line(error)
            self._cgroups = {}
            if self._manager is not None:
                self._manager.remove_all()

    def stop(self) -> None:
        """Stop the worker and remove every cgroup (the next start's cleanup catches what this cannot)."""
        self._stopped = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._manager is not None:
            try:
                self._manager.remove_all()
            except Exception:  # noqa: BLE001 - the next start's cleanup_stale removes leftovers
                pass

    def prepare_spawn(self, name: str) -> Preexec | None:
        """Make sure the workload's cgroup exists before its next spawn, so it is charged from its first page."""
        if self._manager is None or name not in self._cgroups:
            return None
        with self._lock:
            self._wanted[name] = True
            self._restart_pending.add(name)
            try:
                cgroup = self._manager.create(name)  # reuses the dir if it is still there; unlimited
            except Exception as error:  # noqa: BLE001 - the workload still runs, just without pressure
                self._say(name, f"pressure: cannot create the cgroup again: {error}", True)
                return None
            self._cgroups[name] = cgroup
            self._squeezed.discard(name)
            return cgroup.preexec

    def spawned(self, name: str) -> None:
        self._restart_pending.discard(name)

    def exited(self, name: str, generation: int, *, requested: bool, spawn_failed: bool) -> None:
        """A workload process ended: unless a stop or a restart follows, remove its cgroup on the worker."""
        if spawn_failed:
            self._restart_pending.discard(name)  # no Spawned will clear it
        if name not in self._cgroups or requested or name in self._restart_pending:
            return  # a stop removes every cgroup itself; a restart reuses it
        if generation != self._generation(name):
            return  # an old process: a newer one already uses the cgroup
        with self._lock:
            self._wanted[name] = False
            self._squeezed.discard(name)

        def remove() -> None:
            with self._lock:
                if self._wanted.get(name, True) or name in self._restart_pending \
                        or self._generation(name) != generation:
                    return
                cgroup = self._cgroups[name]
                try:
                    cgroup.remove()
                except Exception as error:  # noqa: BLE001 - stop() and the next start's cleanup try again
                    self._say(name, f"pressure: could not remove {cgroup.path}: {error}", True)
                    return
            self._say(name, f"removed cgroup {cgroup.path}", False)
        self._submit(remove)

    # --- squeezing (the caller checks that the workload runs) ---

    def squeeze(self, name: str, latest: KernelMemory) -> None:
        """Lower the limit step by step toward footprint + margin, on the worker; the outcome is posted."""
        cgroup = self._cgroups[name]
        settings = self._settings
        rss_footprint_bytes, lazyfree_bytes = latest.footprint_bytes, latest.lazyfree_bytes

        def run() -> PressureResult:
            # RSS also counts shared library pages charged to other cgroups; what this cgroup must keep is its
            # own charge minus the LazyFree pages. If LazyFree was reused meanwhile the workload waits for
            # memory and the relief check lifts the limit: never an OOM kill.
            footprint_bytes = max(0, min(rss_footprint_bytes, cgroup.usage_bytes() - lazyfree_bytes))
            self._say(name, f"pressure {name}: squeezing toward footprint {footprint_bytes / MiB:.0f} MiB "
                            f"+ margin {settings.margin_bytes / MiB:.0f} MiB, "
                            f"{settings.step_bytes / MiB:.0f} MiB per step", False)
            return cgroup.squeeze(footprint_bytes, settings.margin_bytes, settings.step_bytes)
        self._run_posting(name, "pressure", run)

    def release(self, name: str) -> None:
        self._run_posting(name, "release_pressure", self._cgroups[name].release)

    def applied(self, outcome: PressureOutcome) -> None:
        """The source applied an outcome (on its caller's thread): track which workloads are squeezed."""
        if outcome.what == "pressure" and outcome.result.ok:
            self._squeezed.add(outcome.name)
        elif outcome.what in ("release_pressure", "relieve") and outcome.result.ok:
            self._squeezed.discard(outcome.name)

    def check_relief(self) -> None:
        """At most every RELIEF_CHECK_S while squeezed: lift the limit of a workload waiting for memory."""
        if not self._squeezed or self._relief_pending:
            return
        now_s = self._clock()
        if now_s - self._relief_checked_s < RELIEF_CHECK_S:
            return
        self._relief_checked_s, self._relief_pending = now_s, True
        names = tuple(self._squeezed)

        def run() -> None:
            try:
                for name in names:
                    cgroup = self._cgroups.get(name)
                    try:
                        result = cgroup.relieve_if_stuck() if cgroup is not None else None
                    except Exception as error:  # noqa: BLE001 - shown as a lab: line, never raised
                        result = _failed(f"pressure {name}: relief check failed: {error}")
                    if result is not None:
                        self._post(PressureOutcome(name, "relieve", result, self._t_s()))
            finally:
                self._relief_pending = False
        if not self._submit(run):
            self._relief_pending = False

    def _run_posting(self, name: str, what: str, fn: Callable[[], PressureResult]) -> None:
        def run() -> None:
            try:
                result = fn()
            except Exception as error:  # noqa: BLE001 - shown as a lab: line, never raised
                result = _failed(_first_line(error))
            self._post(PressureOutcome(name, what, result, self._t_s()))
        self._submit(run)

    def _submit(self, fn: Callable[[], None]) -> bool:
        if self._stopped:
            return False
        try:
            self._pool.submit(fn)
            return True
        except RuntimeError:  # the pool shut down (stop) meanwhile
            return False
