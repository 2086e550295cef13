"""A Go-like page heap: spans carved from private anonymous mmap arenas, first-fit reuse, coalescing, accounting."""

from __future__ import annotations

import time
from dataclasses import dataclass

from workloads import madvise as mv

GO_PAGE_BYTES = 8192  # Go's runtime page; every span is a whole number of them
INUSE, IDLE, RELEASED = "inuse", "idle", "released"


class Span:
    """A run of pages in one arena: in use, idle (free, backed) or released (free, returned to the kernel)."""

    __slots__ = ("arena", "offset", "n_bytes", "state", "released_with", "freed_at_s")

    def __init__(self, arena: "Arena", offset: int, n_bytes: int, state: str,
                 released_with: str | None = None, freed_at_s: float = 0.0) -> None:
        self.arena = arena
        self.offset = offset
        self.n_bytes = n_bytes
        self.state = state
        self.released_with = released_with
        self.freed_at_s = freed_at_s

    @property
    def addr(self) -> int:
        return self.arena.addr + self.offset

    @property
    def end(self) -> int:
        return self.offset + self.n_bytes

    def __repr__(self) -> str:
        return f"Span({self.offset:#x}+{self.n_bytes:#x} {self.state} {self.released_with or ''})"


class Arena:
    """One mmap'd region; its spans are sorted by offset and tile it exactly."""

    __slots__ = ("addr", "n_bytes", "spans")

    def __init__(self, addr: int, n_bytes: int) -> None:
        self.addr = addr
        self.n_bytes = n_bytes
        self.spans: list[Span] = []

    def all_free(self) -> bool:
        return all(span.state != INUSE for span in self.spans)


@dataclass(frozen=True)
class Allocation:
    """What an allocation got: its span, and how touching pages released earlier went (reuse cost)."""

    span: Span
    reused_bytes: int  # bytes of the allocation that had been released to the kernel
    reuse_s: float  # CPU seconds (user + kernel) spent writing those bytes
    released_with: str | None  # the mode most of the reused bytes were released with
    touch_s: float  # wall seconds spent writing the whole allocation


@dataclass(frozen=True)
class HeapStats:
    """Go's heap figures (bytes); idle excludes released, as on the wire."""

    inuse: int
    idle: int
    released: int
    sys: int


MAX_SPAN_RUNS = 1024  # runs per spans message: < 40 KiB of JSON, under the protocol's 64 KiB line limit


def _runs(spans: list[Span], grain: int) -> list[list]:
    """Coalesced [offset, n_bytes, state] runs of an arena's spans, cut at `grain` when it is above a page."""
    if grain == GO_PAGE_BYTES:
        cells = [(s.offset, s.n_bytes, s.state) for s in spans]
    else:
        cells = []
        i, n_spans = 0, len(spans)
        end = spans[-1].end if spans else 0
        for start in range(0, end, grain):
            stop = min(start + grain, end)
            by_state: dict[str, int] = {}
            while i < n_spans and spans[i].end <= start:
                i += 1
            j = i
            while j < n_spans and spans[j].offset < stop:
                s = spans[j]
                by_state[s.state] = by_state.get(s.state, 0) + min(s.end, stop) - max(s.offset, start)
                j += 1
            cells.append((start, stop - start, max(by_state, key=by_state.get)))
    runs: list[list] = []
    for offset, n_bytes, state in cells:
        if runs and runs[-1][2] == state:
            runs[-1][1] += n_bytes
        else:
            runs.append([offset, n_bytes, state])
    return runs


def round_up(n_bytes: int, unit: int) -> int:
    return -(-n_bytes // unit) * unit


class Heap:
    """Spans over arenas of MAP_PRIVATE|MAP_ANONYMOUS memory; `shared=True` exists only to test refusals."""

    def __init__(self, arena_bytes: int, shared: bool = False, touch_value: int = 0x5A) -> None:
        self.arena_bytes = max(round_up(arena_bytes, GO_PAGE_BYTES), GO_PAGE_BYTES)
        self.shared = shared
        self.touch_value = touch_value
        self.arenas: list[Arena] = []
        self._bytes = {INUSE: 0, IDLE: 0, RELEASED: 0}
        self.version = 0  # bumped whenever a span changes state or an arena comes or goes (the span map)

    # ---- accounting -------------------------------------------------------------------------------------
    def stats(self) -> HeapStats:
        return HeapStats(self._bytes[INUSE], self._bytes[IDLE], self._bytes[RELEASED],
                         sum(arena.n_bytes for arena in self.arenas))

    def _set_state(self, span: Span, state: str) -> None:
        self._bytes[span.state] -= span.n_bytes
        self._bytes[state] += span.n_bytes
        span.state = state
        self.version += 1

    # ---- allocation -------------------------------------------------------------------------------------
    def alloc(self, n_bytes: int, now_s: float) -> Allocation:
        """Allocate and write `n_bytes` (rounded up to Go pages); released spans that fit are preferred."""
        n_bytes = max(round_up(n_bytes, GO_PAGE_BYTES), GO_PAGE_BYTES)
        found = self._find_run(n_bytes, lambda s: s.state == RELEASED) or self._find_run(
            n_bytes, lambda s: s.state != INUSE)
        if found is None:
            arena = self._map_arena(round_up(n_bytes, self.arena_bytes))
            found = (arena, 0, 0)
        arena, first, last = found
        segments = [(s.offset, s.n_bytes, s.state, s.released_with) for s in arena.spans[first:last + 1]]
        span = self._carve(arena, first, last, n_bytes)
        return self._touch(span, segments)

    def _find_run(self, n_bytes: int, usable) -> tuple[Arena, int, int] | None:
        """First fit: the first run of adjacent usable spans holding `n_bytes`, as (arena, first, last)."""
        for arena in self.arenas:
            run_start, run_bytes = 0, 0
            for i, span in enumerate(arena.spans):
                if not usable(span):
                    run_bytes = 0
                    continue
                if run_bytes == 0:
                    run_start = i
                run_bytes += span.n_bytes
                if run_bytes >= n_bytes:
                    return arena, run_start, i
        return None

    def _map_arena(self, n_bytes: int) -> Arena:
        arena = Arena(mv.map_anonymous(n_bytes, shared=self.shared), n_bytes)
        # A fresh arena counts as released memory (Go: mapped but never touched), so sys = inuse+idle+released.
        arena.spans.append(Span(arena, 0, n_bytes, RELEASED, released_with="fresh"))
        self._bytes[RELEASED] += n_bytes
        self.arenas.append(arena)
        self.version += 1
        return arena

    def _carve(self, arena: Arena, first: int, last: int, n_bytes: int) -> Span:
        old = arena.spans[first:last + 1]
        start = old[0].offset
        total = sum(s.n_bytes for s in old)
        for s in old:
            self._bytes[s.state] -= s.n_bytes
        span = Span(arena, start, n_bytes, INUSE)
        new = [span]
        if total > n_bytes:
            tail = old[-1]
            new.append(Span(arena, start + n_bytes, total - n_bytes, tail.state, tail.released_with, tail.freed_at_s))
        for s in new:
            self._bytes[s.state] += s.n_bytes
        arena.spans[first:last + 1] = new
        self.version += 1
        return span

    def _touch(self, span: Span, segments: list[tuple[int, int, str, str | None]]) -> Allocation:
        """Write the new span segment by segment, timing the parts that had been released before."""
        end = span.end
        reused_bytes, reuse_s, by_mode = 0, 0.0, {}
        started = time.perf_counter()
        for offset, n_bytes, state, released_with in segments:
            n_bytes = min(n_bytes, end - offset)
            if n_bytes <= 0:
                break
            # Thread CPU time: it includes the kernel's fault and zero-fill work but not waiting for a core,
            # so the reuse cost stays meaningful on a busy machine.
            t0 = time.thread_time()
            mv.touch(span.arena.addr + offset, n_bytes, self.touch_value)
            if state == RELEASED and released_with != "fresh":
                reuse_s += time.thread_time() - t0
                reused_bytes += n_bytes
                by_mode[released_with] = by_mode.get(released_with, 0) + n_bytes
        touch_s = time.perf_counter() - started
        mode = max(by_mode, key=by_mode.get) if by_mode else None
        return Allocation(span, reused_bytes, reuse_s, mode, touch_s)

    # ---- freeing ------------------------------------------------------------------------------------------
    def free(self, span: Span, now_s: float) -> None:
        """An in-use span becomes idle (still backed) and coalesces with idle neighbours."""
        if span.state != INUSE:
            raise ValueError(f"double free of {span!r}")
        self._set_state(span, IDLE)
        span.freed_at_s = now_s
        self._coalesce(span)

    def _coalesce(self, span: Span) -> Span:
        spans = span.arena.spans
        i = spans.index(span)
        # Merge with the right neighbour, then the left one, when their state and release mode agree.
        if i + 1 < len(spans) and self._mergeable(span, spans[i + 1]):
            right = spans.pop(i + 1)
            span.n_bytes += right.n_bytes
            span.freed_at_s = max(span.freed_at_s, right.freed_at_s)
        if i > 0 and self._mergeable(spans[i - 1], span):
            left = spans[i - 1]
            left.n_bytes += span.n_bytes
            left.freed_at_s = max(left.freed_at_s, span.freed_at_s)
            spans.pop(i)
            span = left
        return span

    @staticmethod
    def _mergeable(a: Span, b: Span) -> bool:
        return a.state == b.state != INUSE and a.released_with == b.released_with

    # ---- releasing ----------------------------------------------------------------------------------------
    def idle_spans(self) -> list[Span]:
        """Free spans still backed by memory, in address order."""
        return [s for arena in self.arenas for s in arena.spans if s.state == IDLE]

    def release(self, span: Span, n_bytes: int, mode: str) -> Span:
        """Return the first `n_bytes` of an idle span with `mode` (a madvise mode or "none"); raises OSError."""
        n_bytes = min(round_up(n_bytes, GO_PAGE_BYTES), span.n_bytes)
        if n_bytes < span.n_bytes:
            rest = Span(span.arena, span.offset + n_bytes, span.n_bytes - n_bytes, IDLE, None, span.freed_at_s)
            spans = span.arena.spans
            spans.insert(spans.index(span) + 1, rest)
            span.n_bytes = n_bytes  # a split moves no bytes between states
        advice = mv.advice_number(mode)
        if advice is not None:
            mv.madvise(span.addr, span.n_bytes, advice)
        self._set_state(span, RELEASED)
        span.released_with = mode
        return self._coalesce(span)

    def unmap_free_arenas(self, may_unmap=lambda arena: True) -> int:
        """munmap every arena with nothing in use (and `may_unmap(arena)`); returns the bytes unmapped."""
        unmapped = 0
        for arena in [a for a in self.arenas if a.all_free() and may_unmap(a)]:
            mv.unmap(arena.addr, arena.n_bytes)
            for span in arena.spans:
                self._bytes[span.state] -= span.n_bytes
            self.arenas.remove(arena)
            unmapped += arena.n_bytes
            self.version += 1
        return unmapped

    def close(self) -> None:
        """Unmap everything (end of process or test)."""
        for arena in self.arenas:
            mv.unmap(arena.addr, arena.n_bytes)
        self.arenas.clear()
        self._bytes = {INUSE: 0, IDLE: 0, RELEASED: 0}
        self.version += 1

    # ---- the span map (the heap map's runtime side) -------------------------------------------------------
    def span_map(self, max_runs: int = MAX_SPAN_RUNS) -> tuple[int, list[dict]]:
        """(grain_bytes, arenas): each arena as {"addr", "bytes", "runs": [[offset, n_bytes, state], ...]}.

        Adjacent spans in the same state are one run. When there would be more than `max_runs` runs in all,
        runs are cut at a coarser grain (a power-of-two multiple of 8 KiB) and each grain gets the state most
        of its bytes have, so a message stays bounded however fragmented the heap is.
        """
        arenas = self._span_map_at(GO_PAGE_BYTES)
        if sum(len(a["runs"]) for a in arenas) <= max_runs:
            return GO_PAGE_BYTES, arenas
        # The grain at which the cells alone fit (each arena adds at most one partial cell).
        cells_fit = max(1, max_runs - len(self.arenas))
        total_bytes = sum(a.n_bytes for a in self.arenas)
        grain = 2 * GO_PAGE_BYTES
        while grain < self.arena_bytes and total_bytes // grain > cells_fit:
            grain *= 2
        return grain, self._span_map_at(grain)

    def _span_map_at(self, grain: int) -> list[dict]:
        return [{"addr": arena.addr, "bytes": arena.n_bytes, "runs": _runs(arena.spans, grain)}
                for arena in self.arenas]

