"""One explanation of a process: read its /proc files once, categorize, detect, advise; as JSON or text."""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass
from typing import Any

from tui.core.errors import UsageError
from tui.core.explain import advice as advice_mod
from tui.core.explain.categories import Category, categorize
from tui.core.explain.detect import RUNTIME_NAMES, Detected, detect
from tui.core.kernel import smaps
from tui.core.kernel.system import read_thp_mode
from tui.core.units import MiB

LARGEST_MAPPINGS = 10
TEXT_WIDTH = 104  # the report's prose wraps here (the tables are narrower)


class CannotExplain(UsageError):
    """The pid cannot be explained (gone, zombie, kernel thread, unreadable): one line for the user."""


@dataclass(frozen=True, slots=True)
class MappingFigures:
    """One of the largest mappings, as the report lists it."""

    range: str
    perms: str
    path: str
    category: str
    size_bytes: int
    rss_bytes: int
    anon_bytes: int
    lazyfree_bytes: int
    anon_huge_bytes: int
    swap_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"range": self.range, "perms": self.perms, "path": self.path, "category": self.category,
                "size_bytes": self.size_bytes, "rss_bytes": self.rss_bytes, "anon_bytes": self.anon_bytes,
                "lazyfree_bytes": self.lazyfree_bytes, "anon_huge_bytes": self.anon_huge_bytes,
                "swap_bytes": self.swap_bytes}


@dataclass(frozen=True, slots=True)
class Explanation:
    """Where a process's RSS is, who holds it, the verdict and the knobs; immutable, made by explain_pid."""

    pid: int
    comm: str
    exe_path: str | None
    rss_bytes: int
    anon_bytes: int
    lazyfree_bytes: int
    swap_bytes: int
    anon_huge_bytes: int
    detected: Detected
    thp_mode: str
    categories: tuple[Category, ...]
    mappings: tuple[MappingFigures, ...]  # the largest by RSS
    mapping_count: int
    verdict: str
    advice: tuple[str, ...]
    unknowable: tuple[str, ...]
    unreadable: tuple[tuple[str, str], ...]
    smaps_read_s: float  # reading and parsing smaps (the page walk is most of it)
    total_s: float

    @property
    def footprint_bytes(self) -> int:
        return self.rss_bytes - self.lazyfree_bytes

    @property
    def runtime(self) -> str:
        return self.detected.runtime

    @property
    def allocator(self) -> str:
        return self.detected.allocator

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "rss_bytes": self.rss_bytes,
            "anon_bytes": self.anon_bytes,
            "lazyfree_bytes": self.lazyfree_bytes,
            "footprint_bytes": self.footprint_bytes,
            "swap_bytes": self.swap_bytes,
            "anon_huge_bytes": self.anon_huge_bytes,
            "runtime": self.runtime,
            "allocator": self.allocator,
            "categories": {c.name: c.rss_bytes for c in self.categories},
            "mappings": [m.to_json() for m in self.mappings],
            "verdict": self.verdict,
            "advice": list(self.advice),
            # beyond the minimum: what a reader needs to trust the figures above
            "comm": self.comm,
            "exe": self.exe_path,
            "runtime_version": self.detected.runtime_version,
            "go_madvise": self.detected.go_madvise,
            "evidence": list(self.detected.evidence),
            "thp_mode": self.thp_mode,
            "category_details": {c.name: c.to_json() for c in self.categories},
            "unknowable": list(self.unknowable),
            "unreadable": [{"path": path, "reason": reason} for path, reason in self.unreadable],
            "smaps_read_ms": round(self.smaps_read_s * 1000, 3),
        }


def _who(pid: int, comm: str) -> str:
    return f"pid {pid} ({comm})" if comm else f"pid {pid}"


def _status_or_gone(pid: int, during: bool) -> dict[str, str]:
    try:
        return smaps.read_status(pid)
    except smaps.ProcessGone:
        raise CannotExplain(f"explain: pid {pid} exited while being read" if during
                            else f"explain: no process with pid {pid}") from None
    except smaps.ProcessUnreadable as error:
        raise CannotExplain(f"explain: pid {pid}: {error}") from None


def check_explainable(pid: int) -> dict[str, str]:
    """The process's status, or CannotExplain: not a positive pid, gone, a zombie, a kernel thread."""
    if pid <= 0:
        raise CannotExplain(f"explain: PID: expected a process id above 0, got {pid}")
    status = _status_or_gone(pid, during=False)
    who = _who(pid, status.get("Name", ""))
    state = status.get("State", "")[:1]
    if state in ("Z", "X"):
        raise CannotExplain(f"explain: {who} is a zombie: it has exited and has no memory left to explain")
    if status.get("Kthread") == "1" or "VmSize" not in status:
        raise CannotExplain(f"explain: {who} is a kernel thread: it has no user memory map")
    return status


def explain_pid(pid: int, *, thp_mode: str | None = None) -> Explanation:
    """Read /proc/PID/{status,smaps,exe,environ,task/*/syscall} once and explain the process's RSS."""
    started_s = time.perf_counter()
    status = check_explainable(pid)
    who = _who(pid, status.get("Name", ""))
    read_started_s = time.perf_counter()
    try:
        mappings = smaps.read_smaps(pid)
    except smaps.ProcessGone:
        raise CannotExplain(f"explain: {who} exited while being read") from None
    except smaps.ProcessUnreadable as error:
        raise CannotExplain(f"explain: {who}: {error}: run as its user or as root") from None
    smaps_read_s = time.perf_counter() - read_started_s
    try:
        files = smaps.read_process_files(pid)
    except smaps.ProcessGone:
        raise CannotExplain(f"explain: {who} exited while being read") from None
    if not mappings or files.state in ("Z", "X"):
        raise CannotExplain(f"explain: {who} exited while being read")
    detected = detect(mappings, files.exe_path, files.environ, smaps.open_exe(pid) if files.exe_path else None)
    categories, names = categorize(mappings, files.stack_pointers)
    totals = advice_mod.Totals(
        rss_bytes=sum(m.rss_bytes for m in mappings),
        anon_bytes=sum(m.anon_bytes for m in mappings),
        lazyfree_bytes=sum(m.lazyfree_bytes for m in mappings),
        anon_huge_bytes=sum(m.anon_huge_bytes for m in mappings),
        swap_bytes=sum(m.swap_bytes for m in mappings),
    )
    thp = thp_mode if thp_mode is not None else read_thp_mode()
    if status.get("THP_enabled") == "0":
        thp = f"{thp}, disabled for this process (prctl PR_SET_THP_DISABLE)"
    verdict = advice_mod.advise(detected, totals, categories, thp)
    order = sorted(range(len(mappings)), key=lambda i: -mappings[i].rss_bytes)[:LARGEST_MAPPINGS]
    largest = tuple(MappingFigures(mappings[i].range_text, mappings[i].perms, mappings[i].path, names[i],
                                   mappings[i].length_bytes, mappings[i].rss_bytes, mappings[i].anon_bytes,
                                   mappings[i].lazyfree_bytes, mappings[i].anon_huge_bytes, mappings[i].swap_bytes)
                    for i in order if mappings[i].rss_bytes)
    _status_or_gone(pid, during=True)  # gone now: what we read may be half a teardown
    return Explanation(pid, status.get("Name", ""), files.exe_path, totals.rss_bytes, totals.anon_bytes,
                       totals.lazyfree_bytes, totals.swap_bytes, totals.anon_huge_bytes, detected, thp, categories,
                       largest, len(mappings), verdict.verdict, verdict.advice, verdict.unknowable,
                       files.unreadable, smaps_read_s, time.perf_counter() - started_s)


def quick_detect(pid: int) -> Detected | None:
    """Runtime and allocator from maps, exe and environ (no page walk: cheap enough for attach); None if gone."""
    try:
        files = smaps.read_process_files(pid, with_maps=True, with_stacks=False)
    except (smaps.ProcessGone, smaps.ProcessUnreadable):
        return None
    if not files.maps:
        return None
    return detect(files.maps, files.exe_path, files.environ, smaps.open_exe(pid) if files.exe_path else None,
                  scan_strings=False)


def _mib(value: int) -> str:
    return f"{value / MiB:,.1f}"


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, TEXT_WIDTH, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)


def render_text(explanation: Explanation) -> str:
    """The report `madvise-lab explain PID` prints (and the explain screen shows)."""
    e = explanation
    d = e.detected
    lines = [f"pid {e.pid} ({e.comm})  {e.exe_path or ''}".rstrip(),
             f"runtime {RUNTIME_NAMES.get(d.runtime, d.runtime)}{' ' + d.runtime_version if d.runtime_version else ''}"
             f"{'  (releases with ' + d.go_madvise + ')' if d.go_madvise else ''}  ·  allocator {d.allocator}"
             f"  ·  THP {e.thp_mode}",
             f"RSS {_mib(e.rss_bytes)} MiB = footprint {_mib(e.footprint_bytes)} + LazyFree {_mib(e.lazyfree_bytes)}"
             f"  ·  anonymous {_mib(e.anon_bytes)}  ·  AnonHugePages {_mib(e.anon_huge_bytes)}"
             f"  ·  swap {_mib(e.swap_bytes)} MiB",
             "",
             f"{'where the RSS is (MiB)':<30}{'RSS':>10}{'share':>7}{'LazyFree':>10}{'AnonHuge':>10}{'Swap':>8}"
             f"{'maps':>6}"]
    for c in e.categories:
        share = f"{100 * c.rss_bytes / e.rss_bytes:.0f}%" if e.rss_bytes else "-"
        name = c.name if len(c.name) <= 29 else c.name[:28] + "…"
        lines.append(f"  {name:<28}{_mib(c.rss_bytes):>10}{share:>7}{_mib(c.lazyfree_bytes):>10}"
                     f"{_mib(c.anon_huge_bytes):>10}{_mib(c.swap_bytes):>8}{c.mappings:>6}")
    lines.append(f"  {'total':<28}{_mib(e.rss_bytes):>10}{'100%':>7}{_mib(e.lazyfree_bytes):>10}"
                 f"{_mib(e.anon_huge_bytes):>10}{_mib(e.swap_bytes):>8}{e.mapping_count:>6}")
    lines += ["", f"largest mappings (of {e.mapping_count})"]
    for m in e.mappings[:5]:
        path = m.path or "(anonymous)"
        lines.append(f"  {m.range:<25} {m.perms}  RSS {_mib(m.rss_bytes):>8}  LazyFree {_mib(m.lazyfree_bytes):>8}"
                     f"  {path if len(path) <= 36 else '…' + path[-35:]}")
    lines += ["", *_wrap(f"verdict: {e.verdict}", ""), "", "advice:"]
    for item in e.advice:
        lines += _wrap(f"  - {item}", "    ")
    if e.unknowable:
        lines += ["", "cannot be known from outside:"]
        for item in e.unknowable:
            lines += _wrap(f"  - {item}", "    ")
    lines += ["", *_wrap("how we know: " + "; ".join(d.evidence), "  ")]
    if e.unreadable:
        lines += _wrap("could not read: " + ", ".join(f"{path} ({reason})" for path, reason in e.unreadable), "  ")
    lines.append(f"smaps read in {e.smaps_read_s * 1000:.1f} ms ({e.mapping_count} mappings)")
    return "\n".join(lines)
