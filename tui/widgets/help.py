"""The `?` screen: what every figure means, the story behind it, and what each key does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP_MARKDOWN = """\
# madvise-lab — why RSS stays high after the runtime "released" memory

Each workload allocates a heap in private anonymous memory, frees it, lets its GC and
scavenger run, and returns idle pages to the kernel with a **madvise mode**. The
dashboard reads what the **kernel** says (`/proc/PID/smaps_rollup`) next to what the
**runtime** believes (its own stats). Where the two disagree is the story: Go 1.12
released memory with `MADV_FREE`, and dashboards everywhere showed RSS not going down.

## The figures in each panel

| figure | from | meaning |
|---|---|---|
| **RSS** | kernel | resident set size: pages in RAM charged to the process (`Rss:`) |
| **in use** | runtime | heap spans holding live (or not yet swept) objects — Go's HeapInuse |
| **released** | runtime | free heap pages handed back with madvise/munmap — HeapReleased |
| **LazyFree** | kernel | pages released with `MADV_FREE` that the kernel has not taken yet; **still counted in RSS** |
| **footprint** | both | RSS − LazyFree: what the kernel cannot drop without a page fault |
| idle | runtime | free spans still backed by memory, not yet returned (HeapIdle − HeapReleased) |
| sys | runtime | address space mapped for the heap (HeapSys) |
| GCs | runtime | garbage collections so far |

With `MADV_FREE`, after a release RSS stays high and LazyFree ≈ released: the memory is
free for the kernel to take *when it needs it* (under pressure), not before. With
`MADV_DONTNEED`, RSS falls at once. The footprint is the honest number either way.

A **native allocator** workload (glibc, jemalloc, mimalloc, tcmalloc) shows the allocator's own statistics: jemalloc's
idle is its dirty pages and released its muzzy (MADV_FREE'd) + retained ones; a figure it does not tell reads
`not told`. Its free is immediate (no GC: `g` is greyed); `s` is its explicit release (`malloc_trim(0)`,
`arena.4096.purge`, `mi_collect(true)`, `ReleaseFreeMemory`); `m` restarts it in the other mode (its settings are
read at start). The trace pane names what gave memory back: a decay step, the background thread, a trim or purge.

## The madvise modes

| mode | what happens to RSS |
|---|---|
| `MADV_FREE` | stays; pages become LazyFree, reclaimed only under memory pressure |
| `MADV_DONTNEED` | drops at once; the next touch faults in zeroed pages (slower reuse) |
| `MADV_COLD` | pages moved to the inactive list; without swap RSS won't change |
| `MADV_PAGEOUT` | pages reclaimed now — anonymous pages need swap, so without swap RSS won't change |
| `munmap` | the mapping is gone; RSS drops |
| `none` | nothing is returned; RSS stays and LazyFree stays 0 |

## Keys

| key | does |
|---|---|
| `m` | toggle the focused workload between MADV_FREE and MADV_DONTNEED |
| `M` | pick any madvise mode for the focused workload |
| `g` | force a GC now |
| `s` | scavenge now (return idle pages with the current mode) |
| `a` | allocate a burst (the config's `alloc_bytes`) |
| `f` | free everything the workload holds |
| `p` / `P` | apply / release memory pressure (a cgroup limit) — makes the kernel take LazyFree pages |
| `h` | heap map instead of the chart: every cell of the heap by the runtime's state (in use, idle, released) and whether the kernel still has its pages — orange cells are released but resident: LazyFree |
| `space` | pause / resume the **view**; sampling continues and the history keeps filling |
| `r` | restart the focused workload (new pid) |
| `e` | explain the focused process: where its RSS is, who holds it, the knob (reads smaps once; `r` again) |
| `tab` / `shift+tab` | focus the next / previous workload (the chart follows) |
| `?` | this screen |
| `q` | quit; every workload is stopped |

## Memory pressure (`p` / `P`)

MADV_FREE'd pages leave RSS only when the kernel needs memory. Each workload runs in its own
memory cgroup (`madvise-lab-<pid>-<name>`) from its first allocation. `p` lowers that cgroup's
limit step by step toward the footprint (RSS − LazyFree) plus the config's `pressure.margin`,
never below it, so the kernel reclaims LazyFree pages and RSS falls; the trace shows each step
(limit, bytes reclaimed, kernel time). Without swap only MADV_FREE'd pages can be reclaimed:
before a release, or with `MADV_DONTNEED`, there is nothing to reclaim and the dashboard says so.
A squeezed workload that grows again waits rather than being OOM-killed; the limit is then lifted.
`P` lifts the limit. Cgroups are removed when a workload exits and when the dashboard quits.

PRESSURE_STATUS

The chart marks GCs (grey), scavenges (blue), mode switches (orange), pressure (red) and
restarts (purple) with vertical lines. The trace pane shows each workload's GC and
scavenger lines in Go's format; lines starting `lab:` are our own events.
Scroll the trace back and it stops following; scroll to the end and it follows again.
"""


class HelpScreen(ModalScreen[None]):
    """A scrollable page of Markdown; any of escape, q, ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 96; max-width: 95%; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP_MARKDOWN.replace("PRESSURE_STATUS", self._pressure_status()), id="help-text")

    def _pressure_status(self) -> str:
        """Whether `p` works here, and if not, why (the lab's own reason)."""
        refusal = getattr(self.app, "lab_refusal", None)
        try:
            reason = refusal("pressure") if refusal is not None else None
        except Exception as error:  # noqa: BLE001 - the help screen must open whatever the lab says
            reason = f"pressure unavailable: {error}"
        if reason:
            return f"**Here `p` and `P` are greyed out** — {reason}."
        return "Here pressure is available."

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
