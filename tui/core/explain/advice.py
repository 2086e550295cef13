"""The verdict (one sentence) and advice naming the knob, from where the RSS is and who holds it."""

from __future__ import annotations

from dataclasses import dataclass

from tui.core.explain import categories as cat
from tui.core.explain.categories import Category
from tui.core.explain.detect import Detected, go_version_tuple
from tui.core.units import MiB

# LazyFree worth a verdict: at least this much, and this share of RSS
LAZYFREE_MIN_BYTES = 4 * MiB
LAZYFREE_MIN_SHARE = 0.05
THP_MIN_SHARE = 0.10
# glibc gives each thread group up to 8 x cores arenas of up to 64 MiB: this many anonymous 1-64 MiB
# mappings besides the heap suggest per-thread arenas
ARENA_HINT_MAPPINGS = 4


@dataclass(frozen=True, slots=True)
class Totals:
    rss_bytes: int
    anon_bytes: int
    lazyfree_bytes: int
    anon_huge_bytes: int
    swap_bytes: int


@dataclass(frozen=True, slots=True)
class Advice:
    verdict: str
    advice: tuple[str, ...]
    unknowable: tuple[str, ...]  # what cannot be known from outside the process


def mib(value: int) -> str:
    return f"{value / MiB:.1f} MiB"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "0 %"


def _lazyfree_owner(detected: Detected) -> str:
    return {
        "jemalloc": "jemalloc's muzzy pages",
        "go": f"the Go heap, which {detected.runtime_version or 'this Go'} returns with MADV_FREE",
        "tcmalloc": "pages tcmalloc released with MADV_FREE",
        "mimalloc": "pages mimalloc reset with MADV_FREE",
    }.get(detected.allocator, "pages the program released with madvise(MADV_FREE)")


def _lazyfree_knob(detected: Detected) -> str:
    go = go_version_tuple(detected.runtime_version)
    return {
        "jemalloc": "set `MALLOC_CONF=muzzy_decay_ms:0`",
        "go": ("set `GODEBUG=madvdontneed=1`" if go is None or go >= (1, 12, 0) else "upgrade Go"),
        "tcmalloc": "call `MallocExtension::ReleaseFreeMemory()` or raise `TCMALLOC_RELEASE_RATE`",
        "mimalloc": "set `MIMALLOC_PURGE_DECOMMITS=1` (mimalloc ≥ 2.1; `MIMALLOC_RESET_DECOMMITS=1` before)",
    }.get(detected.allocator, "release it with MADV_DONTNEED instead of MADV_FREE")


def _biggest(categories: tuple[Category, ...]) -> Category | None:
    return max(categories, key=lambda c: c.rss_bytes, default=None)


def _anon_rss(categories: tuple[Category, ...]) -> int:
    return sum(c.rss_bytes for c in categories if c.name in cat.ANON_CATEGORIES or c.name.startswith("[anon:"))


def _allocator_advice(detected: Detected, totals: Totals, categories: tuple[Category, ...],
                      thp_mode: str) -> tuple[list[str], list[str]]:
    advice: list[str] = []
    unknowable: list[str] = []
    by_name = {c.name: c for c in categories}
    kind = detected.allocator
    settings = detected.settings
    if kind == "jemalloc":
        conf = settings.get("MALLOC_CONF") or settings.get("_RJEM_MALLOC_CONF")
        advice.append("`MALLOC_CONF=muzzy_decay_ms:0` returns muzzy pages (MADV_FREE'd, shown as LazyFree) at once "
                      "with MADV_DONTNEED; `dirty_decay_ms:N` sets how long freed pages stay dirty (plain RSS) first")
        if "background_thread:true" not in (conf or ""):
            advice.append("`MALLOC_CONF=background_thread:true` lets decay run while the program is idle (without it "
                          "jemalloc only purges when it allocates or frees)")
        if conf:
            advice.append(f"this process runs with MALLOC_CONF={conf}")
        unknowable.append("how much of the anonymous RSS is jemalloc's dirty pages (freed, not yet purged): "
                          "`mallctl(\"stats.arenas.<i>.pdirty\")` or `malloc_stats_print` from inside tells")
    elif kind == "glibc":
        heap = by_name.get(cat.HEAP)
        medium = by_name.get(cat.ANON_MEDIUM)
        advice.append("`malloc_trim(0)` in the process returns free memory at the top of the heap and free pages "
                      "inside every arena with MADV_DONTNEED (glibc never uses MADV_FREE)")
        advice.append("`MALLOC_TRIM_THRESHOLD_=N` (bytes) trims the heap top whenever more than N is free there "
                      "(default 128 KiB, raised dynamically up to 64 MiB once large blocks were freed)")
        if medium is not None and medium.mappings >= ARENA_HINT_MAPPINGS:
            advice.append(f"`MALLOC_ARENA_MAX=2` caps the per-thread arenas ({medium.mappings} anonymous 1-64 MiB "
                          f"mappings, {mib(medium.rss_bytes)}, look like them)")
        else:
            advice.append("`MALLOC_ARENA_MAX=2` caps glibc's per-thread arenas when many threads allocate")
        advice.append("`MALLOC_MMAP_THRESHOLD_=N` serves blocks ≥ N bytes with their own mmap, returned to the "
                      "kernel at free()")
        if heap is not None:
            unknowable.append(f"how much of the heap's {mib(heap.rss_bytes)} and the arenas is free inside glibc "
                              "(fragmentation): `malloc_stats()` or `malloc_info(0, stdout)` from inside tells")
        else:
            unknowable.append("how much anonymous memory is free inside glibc: `malloc_info()` from inside tells")
    elif kind == "mimalloc":
        advice.append("`MIMALLOC_PURGE_DELAY=0` purges freed pages at once (default 10 ms; "
                      "`MIMALLOC_RESET_DELAY` before 2.1)")
        advice.append("`MIMALLOC_PURGE_DECOMMITS=1` returns them with MADV_DONTNEED instead of MADV_FREE "
                      "(`MIMALLOC_RESET_DECOMMITS=1` before 2.1)")
        unknowable.append("how much is free inside mimalloc's segments: `mi_stats_print()` from inside tells")
    elif kind == "tcmalloc":
        advice.append("`TCMALLOC_RELEASE_RATE=10` returns free spans to the kernel faster (default 1; 0 never)")
        advice.append("`TCMALLOC_AGGRESSIVE_DECOMMIT=true` releases every free span at once")
        advice.append("`MallocExtension::instance()->ReleaseFreeMemory()` from inside returns all of them now")
        unknowable.append("tcmalloc's page-heap free bytes: `MallocExtension::GetStats()` from inside tells")
    elif kind == "go":
        go = go_version_tuple(detected.runtime_version)
        flag = detected.go_madvise
        if flag == "MADV_FREE":
            advice.append("`GODEBUG=madvdontneed=1` makes the runtime return pages with MADV_DONTNEED: RSS drops as "
                          "soon as the scavenger releases them (the Go 1.12-1.15 story; Go ≥ 1.16 does this by "
                          "default)")
        elif flag == "MADV_DONTNEED":
            advice.append("the runtime already returns pages with MADV_DONTNEED (`GODEBUG=madvdontneed=1`, the "
                          "default since Go 1.16): released pages leave RSS at once")
        if go is None or go >= (1, 19, 0):
            advice.append("`GOMEMLIMIT` makes the scavenger return memory down toward a limit; "
                          "`debug.FreeOSMemory()` returns everything idle now")
        else:
            advice.append("`debug.FreeOSMemory()` returns everything idle now (GOMEMLIMIT needs Go ≥ 1.19)")
        unknowable.append("how much of the Go heap is idle but not yet scavenged: `GODEBUG=gctrace=1` lines or "
                          "runtime/metrics (/memory/classes/heap/...) from inside tell "
                          "(`madvise-lab attach PID --trace` reads the trace)")
        if not detected.environ_known:
            unknowable.append("GODEBUG from the environment (environ unreadable): the release flag assumes none")
    elif kind == "jvm":
        advice.append("the Java heap is committed up to what the collector sized it: `-Xmx` caps it; G1 returns "
                      "free regions after `-XX:G1PeriodicGCInterval=ms` (JDK ≥ 12) or with "
                      "`-XX:MaxHeapFreeRatio`/`-XX:MinHeapFreeRatio`")
        advice.append("`-XX:NativeMemoryTracking=summary` then `jcmd PID VM.native_memory summary` splits the rest "
                      "(metaspace, code cache, threads, GC); its native malloc is glibc: `MALLOC_ARENA_MAX=2` "
                      "applies there")
        unknowable.append("how much of the committed Java heap is live: `jcmd PID GC.heap_info` tells")
    else:
        unknowable.append("which allocator holds the anonymous memory (no known allocator found)")
    if detected.runtime == "cpython":
        advice.append("CPython's small-object allocator (pymalloc) keeps an arena while any object in it lives; "
                      "`PYTHONMALLOC=malloc` routes everything through the C allocator to compare")
        unknowable.append("how much is free inside pymalloc's arenas: `sys._debugmallocstats()` from inside tells")
    elif detected.runtime == "node":
        advice.append("`--max-old-space-size=MiB` caps V8's old space; `process.memoryUsage()` from inside splits "
                      "heap and external (Buffer) memory, the latter from the C allocator")
        unknowable.append("how much of the V8 heap is garbage: `--trace-gc` or `v8.getHeapStatistics()` tells")
    if totals.anon_huge_bytes:
        advice.append(_thp_advice(detected, thp_mode, totals.anon_huge_bytes))
    if totals.swap_bytes:
        advice.append(f"{mib(totals.swap_bytes)} is swapped out: not in RSS, back on the next touch")
    return advice, unknowable


def _thp_advice(detected: Detected, thp_mode: str, huge_bytes: int) -> str:
    text = (f"{mib(huge_bytes)} sits in transparent huge pages (THP mode `{thp_mode}`): a 2 MiB page stays resident "
            "whole until the kernel splits it, so freeing part of it frees nothing")
    go = go_version_tuple(detected.runtime_version)
    if detected.allocator == "go" and (go is None or go >= (1, 21, 6)):
        return text + "; `GODEBUG=disablethp=1` stops the Go heap from using them"
    if detected.allocator == "jemalloc":
        return text + "; `MALLOC_CONF=thp:never` (and `metadata_thp:disabled`) keeps jemalloc off them"
    if detected.allocator == "glibc":
        return text + "; `GLIBC_TUNABLES=glibc.malloc.hugetlb=0` keeps glibc's malloc from asking for them"
    if thp_mode == "always":
        return text + "; THP mode `madvise` (/sys/kernel/mm/transparent_hugepage/enabled) limits them to regions " \
                      "that ask with MADV_HUGEPAGE"
    return text + "; the program asked for them with MADV_HUGEPAGE (THP mode `madvise`)"


def _verdict(detected: Detected, totals: Totals, categories: tuple[Category, ...], thp_mode: str) -> str:
    rss = totals.rss_bytes
    if totals.lazyfree_bytes >= LAZYFREE_MIN_BYTES and totals.lazyfree_bytes >= LAZYFREE_MIN_SHARE * rss:
        return (f"{mib(totals.lazyfree_bytes)} of RSS ({_share(totals.lazyfree_bytes, rss)}) is LazyFree in "
                f"{_lazyfree_owner(detected)}: reclaimable under memory pressure, invisible to top — to return it "
                f"at once {_lazyfree_knob(detected)}.")
    if totals.anon_huge_bytes >= THP_MIN_SHARE * rss and totals.anon_huge_bytes >= LAZYFREE_MIN_BYTES:
        return (f"{mib(totals.anon_huge_bytes)} of RSS ({_share(totals.anon_huge_bytes, rss)}) is in transparent huge "
                f"pages (THP `{thp_mode}`): each stays resident whole while any byte of its 2 MiB is in use.")
    biggest = _biggest(categories)
    if biggest is None or rss == 0:
        return "The process has no resident memory."
    anon = _anon_rss(categories)
    holder = {"glibc": "glibc malloc", "jemalloc": "jemalloc", "mimalloc": "mimalloc", "tcmalloc": "tcmalloc",
              "go": "the Go runtime", "jvm": "the JVM"}.get(detected.allocator, "an unknown allocator")
    if anon >= rss / 2:
        footprint = "none of it is LazyFree" if not totals.lazyfree_bytes else f"{mib(totals.lazyfree_bytes)} LazyFree"
        return (f"{mib(anon)} of RSS ({_share(anon, rss)}) is anonymous memory held by {holder}, "
                f"{mib(biggest.rss_bytes)} of it in {biggest.name}; {footprint}, so only the allocator can give it "
                "back.")
    if biggest.name in (cat.CODE, cat.FILES):
        return (f"Most of RSS is {biggest.name} ({mib(biggest.rss_bytes)}, {_share(biggest.rss_bytes, rss)}): "
                "file pages the kernel can drop and read again when clean, not the allocator's to give back.")
    if biggest.name == cat.SHMEM:
        return (f"Most of RSS is shared memory ({mib(biggest.rss_bytes)}, {_share(biggest.rss_bytes, rss)}): it stays "
                "resident while any process maps it (and a segment or memfd until it is removed).")
    return (f"The largest part of RSS is {biggest.name} ({mib(biggest.rss_bytes)}, "
            f"{_share(biggest.rss_bytes, rss)}) and {mib(anon)} is anonymous memory held by {holder}; "
            f"{mib(totals.lazyfree_bytes)} is LazyFree.")


def advise(detected: Detected, totals: Totals, categories: tuple[Category, ...], thp_mode: str) -> Advice:
    advice, unknowable = _allocator_advice(detected, totals, categories, thp_mode)
    return Advice(_verdict(detected, totals, categories, thp_mode), tuple(advice), tuple(unknowable))
