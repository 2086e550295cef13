"""Memory cgroups per workload: find a writable one, charge workloads from birth, squeeze and release."""

from __future__ import annotations

import errno
import os
import re
import time
from dataclasses import dataclass

PREFIX = "madvise-lab-"
_OURS = re.compile(r"^madvise-lab-(\d+)-(.+)$")
# On cgroup v2 the dashboard's own processes move into this leaf child of its cgroup (a workload name cannot
# hold a dot): a non-root cgroup with processes in it cannot enable a controller for its children.
_LEAF = re.compile(r"^madvise-lab-(\d+)\.dashboard$")
DELEGATE_HINT = "run it as `systemd-run --user --scope -p Delegate=yes madvise-lab`"
_MIB = 1 << 20
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_V1_UNLIMITED = b"-1"
_V2_UNLIMITED = b"max"
# How long remove() waits for exiting processes to leave a cgroup before giving up.
_RMDIR_WAIT_S = 2.0
# A v2 workload this far above its squeezed memory.high is being throttled for memory it needs: lift the limit.
_V2_STUCK_SLACK_BYTES = 1 << 20

NOTHING_RECLAIMABLE = ("nothing reclaimable: only MADV_FREE'd pages can be reclaimed without swap — "
                       "scavenge with MADV_FREE first")


class CgroupUnavailable(RuntimeError):
    """No writable memory cgroup; the message is the one-line reason."""


@dataclass(frozen=True)
class PressureResult:
    """What one squeeze or release did; `message` is one line for the trace pane."""

    ok: bool
    limit_bytes: int | None
    reclaimed_bytes: int
    seconds: float
    message: str
    # One line per accepted step ("pressure free: step 2: limit 136 MiB, reclaimed 64 MiB in 0.01 s").
    step_lines: tuple[str, ...] = ()


def _mib(n_bytes: int) -> str:
    return f"{n_bytes / _MIB:.0f} MiB"


def _read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read()


def _write(path: str, data: bytes) -> None:
    """Unbuffered write that raises on error: a buffered write would lose EBUSY at close."""
    fd = os.open(path, os.O_WRONLY)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(errno.EIO, f"short write ({written} of {len(data)} bytes)", path)
    finally:
        os.close(fd)


def _pids(cgroup_dir: str) -> list[int]:
    try:
        return [int(x) for x in _read(os.path.join(cgroup_dir, "cgroup.procs")).split()]
    except OSError:
        return []


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _move_out_and_rmdir(cgroup_dir: str, evacuate_to: str | None = None) -> None:
    """Move live processes to `evacuate_to` (default the parent), then rmdir; raise OSError if the dir stays."""
    parent_procs = os.path.join(evacuate_to or os.path.dirname(cgroup_dir), "cgroup.procs")
    deadline = time.monotonic() + _RMDIR_WAIT_S
    while True:
        for pid in _pids(cgroup_dir):
            try:
                _write(parent_procs, str(pid).encode())
            except OSError:
                pass  # exited meanwhile, or a zombie: rmdir below tells
        try:
            os.rmdir(cgroup_dir)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            # EBUSY while an exiting process is still being torn down: wait a little.
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


# --- finding our cgroup ---------------------------------------------------------------------------

def _mounts() -> list[tuple[str, str, str, str]]:
    """(mount root, mount point, fstype, super options) of every cgroup mount."""
    rows: list[tuple[str, str, str, str]] = []
    try:
        text = _read("/proc/self/mountinfo")
    except OSError:
        return rows
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) >= 5 and len(rfields) >= 3 and rfields[0] in ("cgroup", "cgroup2"):
            rows.append((fields[3], fields[4].replace("\\040", " "), rfields[0], rfields[2]))
    return rows


def _join(mount_point: str, mount_root: str, cgroup_path: str) -> str:
    rel = os.path.relpath(cgroup_path, mount_root) if mount_root != "/" else cgroup_path.lstrip("/")
    return os.path.normpath(os.path.join(mount_point, "" if rel == "." else rel))


def _own_cgroup() -> tuple[int | None, str | None, str | None]:
    """(version, our own memory cgroup dir, reason if none) from /proc/self/cgroup and mountinfo."""
    try:
        lines = _read("/proc/self/cgroup").splitlines()
    except OSError:
        return None, None, "no /proc/self/cgroup (not Linux?)"
    v1_path = v2_path = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            v1_path = path
        elif controllers == "":
            v2_path = path
    mounts = _mounts()
    if v1_path is not None:
        for root, point, fstype, opts in mounts:
            if fstype == "cgroup" and "memory" in opts.split(","):
                return 1, _join(point, root, v1_path), None
        return 1, None, "cgroup v1 memory controller is not mounted"
    if v2_path is not None:
        for root, point, fstype, _ in mounts:
            if fstype == "cgroup2":
                return 2, _join(point, root, v2_path), None
        return 2, None, "cgroup v2 is not mounted"
    return None, None, "no memory controller in /proc/self/cgroup"


def _is_root_cgroup(path: str) -> bool:
    """The v2 root cgroup has no cgroup.type: the "no internal processes" rule does not apply to it."""
    return not os.path.exists(os.path.join(path, "cgroup.type"))


def _not_yours(root: str) -> str:
    if os.geteuid() == 0:
        return f"{root} is not writable"
    try:
        owner = f"uid {os.stat(root).st_uid}"
    except OSError:
        owner = "someone else"
    return (f"not root and not in a delegated cgroup: {root} belongs to {owner}, not to uid {os.geteuid()} — "
            f"{DELEGATE_HINT}")


def _probe(root: str) -> tuple[int | None, str | None, str]:
    """(version, reason if unusable, what the dashboard will do there) for a candidate parent dir.

    Passive but for one probe child, created and removed: the v2 set-up that moves processes waits for create().
    """
    plan = ""
    if not os.path.isdir(root):
        return None, f"{root} does not exist", plan
    if os.path.exists(os.path.join(root, "memory.limit_in_bytes")):
        version = 1
    elif os.path.exists(os.path.join(root, "cgroup.subtree_control")):
        version = 2
        control = os.path.join(root, "cgroup.subtree_control")
        try:
            available = _read(os.path.join(root, "cgroup.controllers")).split()
            enabled = _read(control).split()
        except OSError as exc:
            return 2, f"{root}: cannot read its cgroup controllers ({exc.strerror})", plan
        if "memory" not in available:
            return 2, f"no memory controller in {root}/cgroup.controllers (is it bound to cgroup v1?)", plan
        if "memory" not in enabled:
            if not all(os.access(p, os.W_OK) for p in (root, control, os.path.join(root, "cgroup.procs"))):
                return 2, _not_yours(root), plan
            if _is_root_cgroup(root):
                plan = "; the dashboard enables memory in its cgroup.subtree_control"
            else:
                plan = (f"; the dashboard moves the processes of this cgroup into its leaf child "
                        f"{PREFIX}<pid>.dashboard and enables memory in its cgroup.subtree_control "
                        f"(cgroup v2 lets only a cgroup without processes of its own do that)")
    else:
        return None, f"{root} is not a memory cgroup (no memory.limit_in_bytes or cgroup.subtree_control)", plan
    probe_dir = os.path.join(root, f"{PREFIX}{os.getpid()}-probe")
    try:
        os.mkdir(probe_dir)
    except FileExistsError:
        pass
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM) and os.geteuid():
            reason = _not_yours(root) if version == 2 else "not root and no delegated cgroup"
        else:
            reason = f"{root} is not writable ({exc.strerror})"
        return version, reason, plan
    try:
        os.rmdir(probe_dir)
    except OSError:
        pass
    return version, None, plan


# --- one workload's cgroup ------------------------------------------------------------------------

class WorkloadCgroup:
    """A child memory cgroup holding one workload from its first allocation."""

    def __init__(self, path: str, version: int, workload: str, evacuate_to: str | None = None):
        self.path = path
        self.version = version
        self.workload = workload
        # Where remove() moves live processes: the parent, or on v2 the dashboard's leaf (a parent that enables
        # memory for its children may hold no processes).
        self.evacuate_to = evacuate_to
        self._procs_path = os.path.join(path, "cgroup.procs").encode()
        self._removed = False

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def preexec(self) -> None:
        """Runs in the forked child before exec: join the cgroup so every page is charged here."""
        fd = os.open(self._procs_path, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    def pids(self) -> list[int]:
        return _pids(self.path)

    def usage_bytes(self) -> int:
        return int(_read(self._file("memory.usage_in_bytes" if self.version == 1 else "memory.current")))

    def under_oom(self) -> bool:
        """True when a squeezed workload waits for memory: v1 under_oom (OOM kill is off while squeezed), v2
        usage above its squeezed memory.high (the kernel throttles it there instead)."""
        try:
            if self.version == 1:
                return "under_oom 1" in _read(self._file("memory.oom_control"))
            high = _read(self._file("memory.high")).strip()
            return high != "max" and self.usage_bytes() > int(high) + _V2_STUCK_SLACK_BYTES
        except (OSError, ValueError):
            return False

    def relieve_if_stuck(self) -> PressureResult | None:
        """Release the squeeze if the workload waits for memory it cannot get; call it every sample."""
        if not self.under_oom():
            return None
        result = self.release()
        if not result.ok:
            return result
        how = ("waiting for memory (no OOM kill while squeezed)" if self.version == 1
               else "throttled above memory.high")
        return PressureResult(True, None, 0, result.seconds,
                              f"pressure {self.workload}: it needed more than the squeezed limit and was {how}: "
                              f"limit lifted, released back to unlimited")

    def lazyfree_counters(self) -> dict[str, int]:
        """The kernel's own account of lazily freed pages in this cgroup (v2 memory.stat; v1 has none)."""
        try:
            fields = dict(line.split() for line in _read(self._file("memory.stat")).splitlines() if " " in line)
        except (OSError, ValueError):
            return {}
        return {key: int(fields[key]) for key in ("pglazyfree", "pglazyfreed") if key in fields}

    def squeeze(self, footprint_bytes: int, margin_bytes: int, step_bytes: int, *,
                use_reclaim: bool | None = None) -> PressureResult:
        """Lower the limit step by step toward footprint + margin (never below) and measure the reclaim.

        v2: memory.reclaim where the kernel has it (use_reclaim None), else memory.high (tests pick with it).
        """
        self._step_lines: list[str] = []
        floor_bytes = -(-(footprint_bytes + margin_bytes) // _PAGE_BYTES) * _PAGE_BYTES
        step_bytes = max(step_bytes, _PAGE_BYTES)
        try:
            before_bytes = self.usage_bytes()
        except OSError as exc:
            return self._failed(f"cannot read usage ({exc.strerror})")
        if before_bytes <= floor_bytes:
            return PressureResult(False, None, 0, 0.0,
                                  f"pressure {self.workload}: {NOTHING_RECLAIMABLE} (usage {_mib(before_bytes)}, "
                                  f"footprint + margin {_mib(floor_bytes)})")
        if self.version == 1:
            return self._squeeze_v1(before_bytes, floor_bytes, step_bytes)
        if use_reclaim if use_reclaim is not None else os.path.exists(self._file("memory.reclaim")):
            return self._squeeze_v2_reclaim(before_bytes, floor_bytes, step_bytes)
        return self._squeeze_v2_high(before_bytes, floor_bytes, step_bytes)

    def _failed(self, what: str) -> PressureResult:
        return PressureResult(False, None, 0, 0.0, f"pressure {self.workload}: {what}")

    def _targets(self, before_bytes: int, floor_bytes: int, step_bytes: int) -> list[int]:
        targets, limit = [], before_bytes
        while limit > floor_bytes:
            limit = max(floor_bytes, limit - step_bytes)
            targets.append(limit)
        return targets

    def _summary(self, before_bytes: int, lowest: int | None, steps: int, kernel_s: float,
                 stopped: str, verb: str = "limit") -> PressureResult:
        after_bytes = self.usage_bytes()
        reclaimed = max(0, before_bytes - after_bytes)
        if steps == 0:
            message = f"pressure {self.workload}: {NOTHING_RECLAIMABLE} (usage {_mib(before_bytes)}{stopped})"
            return PressureResult(False, None, reclaimed, kernel_s, message)
        target = _mib(lowest) if lowest is not None else _mib(after_bytes)
        message = (f"pressure {self.workload}: {verb} {_mib(before_bytes)} → {target} in {steps} "
                   f"step{'s' if steps != 1 else ''}, reclaimed {_mib(reclaimed)} in {kernel_s:.2f} s{stopped}")
        return PressureResult(True, lowest, reclaimed, kernel_s, message, tuple(self._step_lines))

    def _record_step(self, what: str, usage_before_bytes: int, seconds: float) -> None:
        reclaimed = max(0, usage_before_bytes - self.usage_bytes())
        counters = self.lazyfree_counters()
        # Page counts since the cgroup was made: lazily freed by the workload, and of those reclaimed by the kernel.
        stat = ("; memory.stat " + ", ".join(f"{key} {_mib(n_pages * _PAGE_BYTES)}"
                                             for key, n_pages in counters.items())) if counters else ""
        self._step_lines.append(f"pressure {self.workload}: step {len(self._step_lines) + 1}: {what}, "
                                f"reclaimed {_mib(reclaimed)} in {seconds:.3f} s{stat}")

    def _squeeze_v1(self, before_bytes: int, floor_bytes: int, step_bytes: int) -> PressureResult:
        limit_file = self._file("memory.limit_in_bytes")
        # Wait instead of dying if the workload allocates while squeezed; release() wakes it.
        self._oom_kill(False)
        lowest, steps, kernel_s, stopped = None, 0, 0.0, ""
        for target in self._targets(before_bytes, floor_bytes, step_bytes):
            usage_bytes = self.usage_bytes()
            start = time.perf_counter()
            try:
                _write(limit_file, str(target).encode())
            except OSError as exc:
                kernel_s += time.perf_counter() - start
                if exc.errno == errno.EBUSY:
                    stopped = (", then nothing more reclaimable" if steps
                               else f"; the kernel refused limit {_mib(target)} with EBUSY")
                    break
                self._oom_kill(True)
                return self._failed(f"cannot write {limit_file}: {exc.strerror}")
            step_s = time.perf_counter() - start
            kernel_s += step_s
            lowest, steps = target, steps + 1
            self._record_step(f"limit {_mib(target)}", usage_bytes, step_s)
        if steps == 0:
            self._oom_kill(True)
        return self._summary(before_bytes, lowest, steps, kernel_s, stopped)

    def _oom_kill(self, enabled: bool) -> None:
        try:
            _write(self._file("memory.oom_control"), b"0" if enabled else b"1")
        except OSError:
            pass  # older kernels or a cgroup without it: limits stay above the footprint anyway

    def _squeeze_v2_reclaim(self, before_bytes: int, floor_bytes: int, step_bytes: int) -> PressureResult:
        reclaim_file = self._file("memory.reclaim")
        steps, kernel_s, stopped = 0, 0.0, ""
        for _ in self._targets(before_bytes, floor_bytes, step_bytes):
            usage_bytes = self.usage_bytes()
            want = min(step_bytes, usage_bytes - floor_bytes)
            if want < _PAGE_BYTES:
                break
            start = time.perf_counter()
            try:
                _write(reclaim_file, str(want).encode())
            except OSError as exc:
                kernel_s += time.perf_counter() - start
                if exc.errno == errno.EAGAIN:
                    stopped = (", then nothing more reclaimable" if steps
                               else f"; the kernel could not reclaim {_mib(want)} (EAGAIN)")
                    break
                return self._failed(f"cannot write {reclaim_file}: {exc.strerror}")
            step_s = time.perf_counter() - start
            kernel_s += step_s
            steps += 1
            self._record_step(f"memory.reclaim {_mib(want)}", usage_bytes, step_s)
        lowest = None
        if steps:
            # Hold what was reached, as the v1 limit does, until P (or a workload that needs it back) lifts it:
            # memory.high never OOM-kills, it throttles.
            lowest = max(floor_bytes, -(-self.usage_bytes() // _PAGE_BYTES) * _PAGE_BYTES)
            try:
                _write(self._file("memory.high"), str(lowest).encode())
            except OSError as exc:
                return self._failed(f"cannot write {self._file('memory.high')}: {exc.strerror}")
        return self._summary(before_bytes, lowest, steps, kernel_s, stopped, verb="usage")

    def _squeeze_v2_high(self, before_bytes: int, floor_bytes: int, step_bytes: int) -> PressureResult:
        high_file = self._file("memory.high")
        lowest, steps, kernel_s, stopped = None, 0, 0.0, ""
        for target in self._targets(before_bytes, floor_bytes, step_bytes):
            usage_bytes = self.usage_bytes()
            start = time.perf_counter()
            try:
                _write(high_file, str(target).encode())
            except OSError as exc:
                return self._failed(f"cannot write {high_file}: {exc.strerror}")
            step_s = time.perf_counter() - start
            kernel_s += step_s
            # memory.high never refuses: the kernel reclaims what it can and leaves usage above a target it
            # cannot reach. High must never stay below usage (that would only throttle the workload): a step
            # that reclaimed nothing is undone, one that got part of the way holds where it got.
            after_bytes = self.usage_bytes()
            if after_bytes > target:
                stopped = ", then nothing more reclaimable" if steps else ""
                if after_bytes >= usage_bytes:
                    _write(high_file, str(lowest).encode() if lowest is not None else _V2_UNLIMITED)
                    break
                reached = -(-after_bytes // _PAGE_BYTES) * _PAGE_BYTES
                _write(high_file, str(reached).encode())
                lowest, steps = reached, steps + 1
                self._record_step(f"memory.high {_mib(target)} (held at {_mib(reached)})", usage_bytes, step_s)
                stopped = ", then nothing more reclaimable"
                break
            lowest, steps = target, steps + 1
            self._record_step(f"memory.high {_mib(target)}", usage_bytes, step_s)
        return self._summary(before_bytes, lowest, steps, kernel_s, stopped)

    def release(self) -> PressureResult:
        """Limit back to unlimited (and OOM kill back to the default)."""
        if self.version == 1:
            files = [("memory.limit_in_bytes", _V1_UNLIMITED), ("memory.oom_control", b"0")]
        else:
            files = [("memory.high", _V2_UNLIMITED)]
        start = time.perf_counter()
        for name, value in files:
            try:
                _write(self._file(name), value)
            except OSError as exc:
                return self._failed(f"cannot release {self._file(name)}: {exc.strerror}")
        return PressureResult(True, None, 0, time.perf_counter() - start,
                              f"pressure {self.workload}: released, limit back to unlimited")

    def remove(self) -> None:
        """Move any processes out and remove the directory; idempotent."""
        if self._removed:
            return
        _move_out_and_rmdir(self.path, self.evacuate_to)
        self._removed = True


# --- the manager ----------------------------------------------------------------------------------

class CgroupManager:
    """Finds a writable memory cgroup and creates one child per workload under it.

    `mode` is what applies: "v1", "v2" (as root), "delegated" (v2, non-root, a subtree of our own) or "none".
    """

    def __init__(self, root: str = "auto"):
        self.root: str | None = None
        self.version: int | None = None
        self.reason: str | None = None
        self.plan = ""
        self._created: list[WorkloadCgroup] = []
        self._leaf: str | None = None  # v2: the leaf our own processes live in while memory is enabled
        self._in_leaf: str | None = None  # v2: we started inside a leaf of a dashboard (e.g. one SIGKILLed)
        self._enabled_memory = False
        self._prepared = False
        if root == "auto":
            version, path, reason = _own_cgroup()
            if path is None:
                self.version, self.reason = version, reason
                return
            if version == 2 and _LEAF.match(os.path.basename(path)):
                self._in_leaf, path = path, os.path.dirname(path)
        else:
            path = os.path.abspath(root)
        self.root = path
        self.version, self.reason, self.plan = _probe(path)

    @property
    def available(self) -> bool:
        return self.root is not None and self.reason is None

    @property
    def mode(self) -> str:
        if not self.available:
            return "none"
        if self.version == 1:
            return "v1"
        return "v2" if os.geteuid() == 0 else "delegated"

    def describe(self) -> str:
        """One line for `madvise-lab check`: which of v1, v2, delegated or none applies, and why."""
        if not self.available:
            where = f" at {self.root}" if self.root else ""
            return f"none: cgroup memory{where}: unavailable — {self.reason}"
        root = self.root or ""
        if self.version == 1:
            return (f"v1: cgroup v1 memory at {root}: writable; each workload gets a child cgroup, squeezed "
                    f"through memory.limit_in_bytes")
        reclaim = os.path.exists(os.path.join(root, "memory.reclaim")) or _release_at_least(5, 19)
        how = "memory.reclaim, held by memory.high" if reclaim else "memory.high (no memory.reclaim before Linux 5.19)"
        who = ("as root" if self.mode == "v2" else
               f"by uid {os.geteuid()}, delegated to it (its cgroup.procs and cgroup.subtree_control)")
        return f"{self.mode}: cgroup v2 at {root}: writable {who}; squeezes with {how}{self.plan}"

    def _writable_root(self) -> tuple[str, int]:
        """The root and version of an available manager (callers check `available` first)."""
        if self.root is None or self.version is None:
            raise CgroupUnavailable(self.reason or "no writable memory cgroup")
        return self.root, self.version

    def _ours(self) -> list[tuple[str, int]]:
        root, _version = self._writable_root()
        try:
            names = os.listdir(root)
        except OSError:
            return []
        found = []
        for name in names:
            match = _OURS.match(name)
            if match and os.path.isdir(os.path.join(root, name)):
                found.append((os.path.join(root, name), int(match.group(1))))
        return found

    def cleanup_stale(self) -> list[str]:
        """Remove cgroups left by dashboards that are gone; returns the paths removed."""
        if not self.available:
            return []
        removed = []
        root, _version = self._writable_root()
        for path, pid in self._ours():
            if pid == os.getpid() or _pid_alive(pid):
                continue
            try:
                _move_out_and_rmdir(path, self._in_leaf)
                removed.append(path)
            except OSError:
                pass  # still busy: the next start tries again
        for name in os.listdir(root) if self.version == 2 else ():
            match = _LEAF.match(name)
            path = os.path.join(root, name)
            if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))) \
                    and path != self._in_leaf:
                try:
                    os.rmdir(path)  # a killed dashboard's empty leaf; one with processes in it stays
                    removed.append(path)
                except OSError:
                    pass
        return removed

    def _prepare(self) -> None:
        """v2: make the root able to give its children memory control (once, before the first child)."""
        if self._prepared or self.version != 2:
            return
        root, _version = self._writable_root()
        control = os.path.join(root, "cgroup.subtree_control")
        if "memory" in _read(control).split():
            match = _LEAF.match(os.path.basename(self._in_leaf or ""))
            if match and (int(match.group(1)) == os.getpid() or not _pid_alive(int(match.group(1)))):
                # Left by a dashboard that is gone: ours now, so quitting restores the cgroup as it was before it.
                self._leaf, self._enabled_memory = self._in_leaf, True
            self._prepared = True
            return
        if not _is_root_cgroup(root):
            leaf = os.path.join(root, f"{PREFIX}{os.getpid()}.dashboard")
            try:
                os.mkdir(leaf)
            except FileExistsError:
                pass
            except OSError as exc:
                raise CgroupUnavailable(f"cannot create the leaf {leaf} for the dashboard's processes: "
                                        f"{exc.strerror}") from None
            self._leaf = leaf
            refused: dict[int, str] = {}
            for _ in range(5):  # a process forking meanwhile leaves a child behind: move again
                pids = [pid for pid in _pids(root) if pid not in refused]
                if not pids:
                    break
                for pid in pids:
                    try:
                        _write(os.path.join(leaf, "cgroup.procs"), str(pid).encode())
                    except OSError as exc:
                        if exc.errno != errno.ESRCH:
                            refused[pid] = exc.strerror or str(exc)
        try:
            _write(control, b"+memory")
        except OSError as exc:
            left = _pids(root)
            self._restore()
            stayed = ""
            if left:
                why = "; ".join(f"{pid}: {what}" for pid, what in sorted(refused.items())) if refused else "raced"
                stayed = (f" (processes {' '.join(map(str, left))} could not move into a leaf: {why}; cgroup v2 "
                          f"enables a controller only for a cgroup without processes of its own — {DELEGATE_HINT})")
            raise CgroupUnavailable(f"cannot enable the memory controller in {control}: {exc.strerror}{stayed}") \
                from None
        self._enabled_memory = True
        self._prepared = True

    def _restore(self) -> None:
        """v2: undo _prepare (memory off again, our processes back in the root, the leaf gone) where we can."""
        if not self.root:
            return
        root = self.root
        others = [n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n))
                  and os.path.join(root, n) != self._leaf] if root else []
        if self._enabled_memory and not others:  # another dashboard's cgroups still need it: leave it on
            try:
                _write(os.path.join(root, "cgroup.subtree_control"), b"-memory")
                self._enabled_memory = False
            except OSError:
                pass
        if self._leaf is not None and not self._enabled_memory:
            try:
                _move_out_and_rmdir(self._leaf)
                self._leaf = None
            except OSError:
                pass  # the next start in this leaf adopts it
        self._prepared = False

    def create(self, workload: str) -> WorkloadCgroup:
        """A fresh child cgroup `madvise-lab-<our pid>-<workload>`, with no limit set."""
        if not self.available:
            raise CgroupUnavailable(self.reason or "no writable memory cgroup")
        self._prepare()
        root, version = self._writable_root()
        path = os.path.join(root, f"{PREFIX}{os.getpid()}-{workload}")
        try:
            os.mkdir(path)
        except FileExistsError:
            pass  # a restart of the same workload: reuse it, unlimited again below
        cgroup = WorkloadCgroup(path, version, workload, self._leaf or self._in_leaf)
        cgroup.release()
        self._created = [c for c in self._created if c.path != path] + [cgroup]
        return cgroup

    def remove_all(self) -> None:
        """Remove every cgroup this manager created; errors are left for cleanup_stale at next start."""
        for cgroup in self._created:
            try:
                cgroup.remove()
            except OSError:
                pass
        self._created = []
        if self.version == 2 and (self._enabled_memory or self._leaf is not None):
            self._restore()


def _release_at_least(major: int, minor: int) -> bool:
    try:
        found = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return found >= (major, minor)


def describe(root: str = "auto") -> str:
    """One line for `madvise-lab check`: which of v1, v2, delegated or none applies, where, and why."""
    return CgroupManager(root).describe()
