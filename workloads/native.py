"""A workload whose memory is real malloc/free blocks of a native allocator (glibc, jemalloc, mimalloc, tcmalloc).

Same patterns and protocol as the Python heap, but free is immediate (no collector) and what is released, when and
how is the allocator's business: its own statistics are the heap figures, and the trace lines say in its own words
what gave memory back (a decay step, the background thread, an explicit trim or purge).
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any, Callable

from workloads import protocol
from workloads.allocators import AllocatorError, Figures, Jemalloc, Native, load
from workloads.patterns import make_pattern

MiB = 1 << 20
KEEPALIVE_S = 1.0
RELEASE_MIN_BYTES = MiB  # smaller moves are the interpreter's own churn, not a release worth a line
RELEASE_REPORT_S = 2.0  # a gradual release (decay) is summed up in one line every 2 s at most ...
RELEASE_QUIET_S = 0.5  # ... or once it has been still this long
IDLE_NOTICE_S = 5.0  # idle this long with dirty pages and nothing decayed: say that nothing will
FILL_BYTE = 0x5A


def _mib(n_bytes: int | None) -> str:
    return "?" if n_bytes is None else f"{n_bytes / MiB:.0f}"


class Blocks:
    """One allocation made of malloc'd blocks of at most `object_size` bytes, each written in full (every page)."""

    __slots__ = ("addresses", "n_bytes")

    def __init__(self, addresses: list[tuple[int, int]], n_bytes: int) -> None:
        self.addresses = addresses  # (address, bytes)
        self.n_bytes = n_bytes


class NativeRuntime(protocol.Speaker):
    """Drives one allocator with a pattern; `tick(now_s)` and `handle_line()` as workloads.runtime.Runtime."""

    def __init__(self, opts: dict[str, Any], write: Callable[[str], None], clock: Callable[[], float] | None = None,
                 allocator: Native | None = None) -> None:
        self.opts = opts
        self.kind = opts.get("kind", "glibc")
        self.write = write
        self.now_s = 0.0
        self.clock = clock or (lambda: self.now_s)
        self.allocator = allocator or load(self.kind)  # AllocatorError: the caller reports it and exits
        self.mode = opts["madvise"]
        self.pattern = make_pattern(opts)
        self.manual: list[Blocks] = []
        self.pinned: list[tuple[int, int]] = []
        self.held_bytes = 0
        self.allocated_bytes = 0  # since the last alloc event: one event per pattern step, as the Python heap
        self.mutations = self.mutations_seen = 0  # malloc/free batches by the pattern or commands
        self.paused_at_s: float | None = None
        self.paused_total_s = 0.0
        self.pattern_next_s = 0.0
        self.exit_reason: str | None = None
        self.figures: Figures = self.allocator.figures()
        self.last_stats: tuple | None = None
        self.last_stats_s = -1e9
        self.next_poll_s = 0.0
        self.episode: tuple[float, Figures] | None = None  # a release under way: when it started, figures before
        self.last_change_s = 0.0
        self.last_release_s = 0.0
        self.idle_noticed = False

    def hello(self) -> None:
        a = self.allocator
        self.emit("hello", pid=os.getpid(), kind=self.kind, madvise=self.mode, options=self.opts,
                  allocator={"name": a.name, "version": a.version(), "settings": a.settings(),
                             "release": a.release_call})
        self.trace_line(f"{a.name} {a.version()}: {a.settings()}; releases with {self.mode}", "lab")

    def send_stats(self) -> None:
        f = self.figures
        values = {"heap_inuse_bytes": f.inuse, "heap_idle_bytes": f.idle, "heap_released_bytes": f.released,
                  "heap_sys_bytes": f.sys}
        # the table's figures (0 where the allocator does not tell, named in `absent`), then the allocator's own
        absent = [name for name, value in values.items() if value is None] + ["heap_goal_bytes"]
        self.emit("stats", **{k: (v or 0) for k, v in values.items()}, heap_goal_bytes=0, gc_count=0,
                  madvise=self.mode, absent=absent, allocator=f.raw)
        self.last_stats, self.last_stats_s = self._key(), self.now_s

    def _key(self) -> tuple:
        f = self.figures
        return (f.inuse, f.idle, f.released, f.sys, self.mode)

    # ---- the mutator (what patterns call) -------------------------------------------------------------------
    def alloc(self, n_bytes: int) -> Blocks | None:
        if n_bytes <= 0:
            return None
        block = max(1, int(self.opts["object_size"]))
        addresses: list[tuple[int, int]] = []
        left = n_bytes
        malloc = self.allocator.malloc
        while left > 0:
            size = min(block, left)
            address = malloc(size)
            if not address:
                for a, _ in addresses:
                    self.allocator.free(a)
                self.error(f"{self.kind}: malloc({size}) returned NULL after {(n_bytes - left) >> 20} MiB")
                return None
            ctypes.memset(address, FILL_BYTE, size)  # touch every page: the memory is really used
            addresses.append((address, size))
            left -= size
        self.held_bytes += n_bytes
        self.allocated_bytes += n_bytes
        self.mutations += 1
        return Blocks(addresses, n_bytes)

    def drop(self, objects: list[Any]) -> None:
        """Free at once (free is immediate), keeping 1 block in keep_one_in alive until the next drop."""
        blocks = [b for b in objects if b is not None]
        if not blocks:
            return
        keep_every = int(self.opts.get("keep_one_in") or 0)
        free = self.allocator.free
        self.mutations += 1
        old_pins, self.pinned = self.pinned, []
        freed = 0
        index = 0
        for obj in blocks:
            for address, size in obj.addresses:
                if keep_every and index % keep_every == keep_every - 1:
                    self.pinned.append((address, size))
                else:
                    free(address)
                    freed += size
                index += 1
            self.held_bytes -= obj.n_bytes
        for address, size in old_pins:
            free(address)
            freed += size
        self.event("free", bytes=freed, kept_bytes=sum(size for _, size in self.pinned))

    # ---- releases ---------------------------------------------------------------------------------------------
    def explicit_release(self) -> None:
        """`s`: the allocator's own give-back, with what it returned and how long it took."""
        before = self.allocator.figures()
        rss_before = _statm_rss_bytes()
        started = time.perf_counter()
        try:
            self.allocator.release()
        except AllocatorError as exc:
            self.error(str(exc))
            return
        seconds = time.perf_counter() - started
        rss_after = _statm_rss_bytes()
        after = self.allocator.figures()
        released = _released_between(before, after)
        how = "allocator figures"
        if released is None or self.kind == "glibc":  # glibc does not say what malloc_trim gave back: our RSS does
            released, how = max(0, rss_before - rss_after), "RSS, /proc/self/statm"
        self.trace_line(f"{self.kind}: {self.allocator.release_call}: released {_mib(released)} MiB in "
                        f"{seconds * 1000:.1f} ms ({how}; {self._state_text(after)}) ({self._explicit_mode()})", "scav")
        self.event("scavenge", released_bytes=released, madvise=self._explicit_mode(), madvise_s=round(seconds, 6),
                   trigger="explicit")
        self.figures, self.episode, self.idle_noticed = after, None, False
        self.last_change_s = self.now_s
        self.send_stats()

    def _explicit_mode(self) -> str:
        # a forced purge / trim / decommit is MADV_DONTNEED, except mimalloc 3 with purge_decommits off: MADV_FREE
        return "MADV_FREE" if self.kind == "mimalloc" and self.mode == "MADV_FREE" else "MADV_DONTNEED"

    def _state_text(self, f: Figures) -> str:
        raw = f.raw
        if self.kind == "jemalloc":
            return f"dirty {_mib(raw['dirty'])} MiB, muzzy {_mib(raw['muzzy'])} MiB"
        if self.kind == "tcmalloc":
            return f"free {_mib(f.idle)} MiB, unmapped {_mib(f.released)} MiB"
        if self.kind == "glibc":
            return f"heap {_mib(raw['arena'])} MiB, free chunks {_mib(raw['fordblks'])} MiB"
        return f"committed {_mib(raw.get('current_commit'))} MiB of reserved {_mib(f.sys)} MiB"

    def poll_allocator(self) -> None:
        """Read the allocator's statistics; turn what it released on its own into trace lines and events."""
        before, now = self.figures, self.allocator.figures()
        self.figures = now
        changed = _released_between(before, now) or 0
        grew = _sum_known(now) != _sum_known(before)
        if changed >= RELEASE_MIN_BYTES or (self.episode is not None and changed > 0):
            if self.episode is None:
                self.episode = (self.now_s, before)
            self.last_change_s = self.last_release_s = self.now_s
            self.idle_noticed = False
        elif grew:
            self.last_change_s = self.now_s
        if self.episode is not None and (self.now_s - self.last_release_s >= RELEASE_QUIET_S
                                         or self.now_s - self.episode[0] >= RELEASE_REPORT_S):
            self._flush_episode(keep_going=changed > 0)
        self._maybe_idle_notice()

    def _flush_episode(self, keep_going: bool = False) -> None:
        """Report the release under way up to now (before the program allocates or frees, which moves the figures)."""
        if self.episode is None:
            return
        _, first = self.episode
        self.episode = (self.now_s, self.figures) if keep_going else None
        self._report_release(first, self.figures)

    def before_mutation(self) -> None:
        """Poll and report what the allocator released on its own before the pattern or a command changes the heap."""
        self.poll_allocator()
        self._flush_episode()
        self.mutations_seen = self.mutations

    def after_mutation(self) -> None:
        """The program's own malloc/free moved jemalloc's levels: the next comparison starts from the new levels, but
        from the old purge counters, since decay without a background thread runs inside those very malloc/free calls.
        (The other allocators' release figures only move one way on a release, so they keep their baseline.)"""
        if self.mutations == self.mutations_seen:
            return
        self.last_change_s = self.now_s
        self.idle_noticed = False
        if isinstance(self.allocator, Jemalloc):
            before, now = self.figures, self.allocator.figures()
            for counter in ("dirty_purged_pages", "muzzy_purged_pages"):
                now.raw[counter] = before.raw[counter]
            self.figures = now

    def _trigger(self) -> str:
        if isinstance(self.allocator, Jemalloc):
            return "background thread" if self.allocator.background_thread() else "malloc/free activity"
        if self.kind == "tcmalloc":
            return "gradual release on page-heap activity"
        if self.kind == "glibc":
            return "free() trimmed the heap top"
        return "purge delay passed"

    def _report_release(self, first: Figures, now: Figures) -> None:
        released = _released_between(first, now) or 0
        if released < RELEASE_MIN_BYTES:
            return
        trigger = self._trigger()
        if isinstance(self.allocator, Jemalloc):
            mode, text = _jemalloc_decay_line(first.raw, now.raw, trigger,
                                              lazy=self.allocator.option("muzzy_decay_ms") != 0)
            if not text:
                return
        elif self.kind == "tcmalloc":
            mode = "MADV_DONTNEED"
            text = (f"tcmalloc: {trigger}: unmapped {_mib(first.released)} → {_mib(now.released)} MiB, "
                    f"free {_mib(first.idle)} → {_mib(now.idle)} MiB ({mode})")
        elif self.kind == "glibc":
            mode = "brk"
            text = f"glibc: {trigger}: heap {_mib(first.raw['arena'])} → {_mib(now.raw['arena'])} MiB (brk)"
        else:
            mode = self.mode
            text = (f"mimalloc: {trigger}: released {_mib(released)} MiB, committed "
                    f"{_mib(first.raw.get('current_commit'))} → {_mib(now.raw.get('current_commit'))} MiB ({mode})")
        self.trace_line(text, "scav")
        self.event("release", released_bytes=released, madvise=mode, trigger=trigger)

    def _maybe_idle_notice(self) -> None:
        """An idle jemalloc without its background thread never decays: say so once per idle stretch."""
        if self.idle_noticed or not isinstance(self.allocator, Jemalloc) or self.episode is not None:
            return
        dirty = self.figures.raw.get("dirty", 0)
        if dirty < RELEASE_MIN_BYTES or self.now_s - self.last_change_s < IDLE_NOTICE_S:
            return
        if self.allocator.background_thread():
            return
        decay_ms = self.allocator.option("dirty_decay_ms")
        if decay_ms < 0 or self.now_s - self.last_change_s < decay_ms / 1000:
            return  # never decaying is what was asked for; or its decay time has not passed yet
        self.idle_noticed = True
        self.trace_line(f"jemalloc: idle {self.now_s - self.last_change_s:.0f} s with {_mib(dirty)} MiB dirty and "
                        f"nothing decayed: without background_thread, decay runs only inside malloc/free "
                        f"(dirty_decay_ms:{decay_ms} has passed)", "lab")
        self.event("idle", dirty_bytes=dirty)

    # ---- commands -------------------------------------------------------------------------------------------
    def handle(self, command: protocol.Command) -> None:
        cmd = command.cmd
        if cmd == "set_madvise":
            self.error(f"set_madvise: {self.kind} reads its release settings only at start; the dashboard "
                       f"restarts the workload in {command.args['value']}; keeping {self.mode}")
        elif cmd == "gc":
            self.error(f"gc: {self.kind} has no collector: free is immediate")
        elif cmd == "scavenge":
            self.before_mutation()
            self.explicit_release()
        elif cmd == "alloc":
            self.before_mutation()
            blocks = self.alloc(command.args["bytes"])
            if blocks is not None:
                self.manual.append(blocks)
                self.event("alloc", bytes=blocks.n_bytes)
                self.allocated_bytes = 0
            self._poll_now()
        elif cmd == "free":
            self.before_mutation()
            objects, self.manual = self.manual + self.pattern.forget_all(), []
            self.drop(objects)
            self._poll_now()
        elif cmd == "pause" and self.paused_at_s is None:
            self.paused_at_s = self.now_s
            self.event("pause")
        elif cmd == "resume" and self.paused_at_s is not None:
            self.paused_total_s += self.now_s - self.paused_at_s
            self.paused_at_s = None
            self.event("resume")
        elif cmd == "exit":
            self.exit_reason = "command"

    def _poll_now(self) -> None:
        self.after_mutation()
        self.send_stats()

    # ---- time -----------------------------------------------------------------------------------------------
    def tick(self, now_s: float) -> None:
        self.now_s = now_s
        if self.paused_at_s is None:
            pattern_now = now_s - self.paused_total_s
            if pattern_now >= self.pattern_next_s:
                self.before_mutation()
                self.pattern_next_s = self.pattern.step(pattern_now, self)
                self.after_mutation()
                if self.allocated_bytes:
                    self.event("alloc", bytes=self.allocated_bytes)
                    self.allocated_bytes = 0
        if now_s >= self.next_poll_s:
            self.next_poll_s = now_s + self.opts["stats_interval"]
            self.poll_allocator()
            if self._key() != self.last_stats or now_s - self.last_stats_s >= KEEPALIVE_S:
                self.send_stats()

    def next_due_s(self) -> float:
        due = self.next_poll_s
        if self.paused_at_s is None:
            due = min(due, self.pattern_next_s + self.paused_total_s)
        return due


def _jemalloc_decay_line(raw0: dict[str, int], raw1: dict[str, int], trigger: str, lazy: bool) -> tuple[str, str]:
    """`jemalloc: decay (background thread): dirty 512 → 0 MiB, muzzy 0 → 512 MiB (MADV_FREE)` and the main mode.

    The amounts come from jemalloc's purge counters, which the program's own malloc/free do not move: with a muzzy
    stage (`lazy`, muzzy_decay_ms != 0) a dirty page's decay is MADV_FREE, without it MADV_DONTNEED; a muzzy page's
    purge is MADV_DONTNEED.
    """
    page = raw1["page_bytes"]
    left_dirty = max(0, raw1["dirty_purged_pages"] - raw0["dirty_purged_pages"]) * page
    left_muzzy = max(0, raw1["muzzy_purged_pages"] - raw0["muzzy_purged_pages"]) * page
    to_muzzy = left_dirty if lazy else 0
    dontneed = left_muzzy + (0 if lazy else left_dirty)
    parts = []
    for name in ("dirty", "muzzy"):
        a, b = raw0[name], raw1[name]
        parts.append(f"{name} {_mib(a)} → {_mib(b)} MiB" if abs(b - a) >= RELEASE_MIN_BYTES else f"{name} {_mib(b)} MiB")
    modes = [(m, n) for m, n in (("MADV_FREE", to_muzzy), ("MADV_DONTNEED", dontneed)) if n >= RELEASE_MIN_BYTES]
    if not modes:
        return "", ""  # the interpreter's own small frees: not a release worth a line
    how = ", ".join(f"{m} {_mib(n)} MiB" for m, n in modes)
    main = max(modes, key=lambda mn: mn[1])[0]
    return main, f"jemalloc: decay ({trigger}): {', '.join(parts)} ({how})"


def _sum_known(f: Figures) -> int:
    return sum(v for v in (f.inuse, f.idle, f.released, f.sys) if v is not None)


def _released_between(before: Figures, after: Figures) -> int | None:
    """Bytes the allocator gave back between two readings, in its own terms (None: it does not say)."""
    raw0, raw1 = before.raw, after.raw
    if "dirty" in raw0:  # jemalloc: pages that left the dirty state (to muzzy with MADV_FREE, or purged) + muzzy purged
        pages = (raw1["dirty_purged_pages"] - raw0["dirty_purged_pages"]
                 + raw1["muzzy_purged_pages"] - raw0["muzzy_purged_pages"])
        return max(0, pages) * raw1["page_bytes"]
    if "pageheap_unmapped_bytes" in raw0:
        return max(0, raw1["pageheap_unmapped_bytes"] - raw0["pageheap_unmapped_bytes"])
    if "arena" in raw0:  # glibc: free() trimming the top shrinks the heap; malloc_trim leaves arena as it is
        return max(0, raw0["arena"] - raw1["arena"])
    if "current_commit" in raw0:  # mimalloc: decommitted, or (mimalloc 3) purged or reset while still committed
        purged = max(0, raw1.get("stats_purged_total", 0) - raw0.get("stats_purged_total", 0))
        return max(max(0, raw0["current_commit"] - raw1["current_commit"]), purged)
    return None


def _statm_rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
