"""Real glibc, jemalloc, mimalloc and tcmalloc workloads in the Lab, measured against the tests' own /proc reads."""

from __future__ import annotations

import re

import pytest
from allocator_support import MiB, need
from kernel_truth import read_smaps_rollup

from tui.core.errors import ConfigError
from lab_runner import make_lab

# 2 x 32 MiB of 32 KiB blocks, dropped together 0.3 s after the second (1 block in 64 stays: the heap is pinned)
SEED = "{pattern: seed, size: 32MiB, count: 2, interval: 0.2s, hold: 0.3s, object_size: 32KiB}"
DROPPED_BYTES = 64 * MiB


def config(*entries: str) -> str:
    return "budget: 1GiB\nworkloads:\n" + "".join(f"  - {entry}\n" for entry in entries)


def entry(name: str, kind: str, extra: str = "", pattern: str = SEED) -> str:
    body = pattern.strip("{}")
    return "{" + f"name: {name}, kind: {kind}, {body}" + (f", {extra}" if extra else "") + "}"


def dropped(run, name: str) -> bool:
    return bool(run.events(name, "free"))


def agree(run, name: str) -> None:
    """The Lab's newest sample matches the test's own smaps_rollup read of the same process (kernel truth)."""
    pid = run.lab.status(name).pid
    run.until(lambda: run.latest(name) is not None and run.latest(name).pid == pid, what=f"{name} sampled")
    run.lab._sampler.invalidate(pid) if hasattr(run.lab, "_sampler") else None
    shown_t = run.latest(name).t_s
    run.until(lambda: run.latest_after(name, shown_t + 0.05) is not None, what=f"{name} sampled again")
    direct = read_smaps_rollup(pid)
    shown = run.latest(name).kernel
    assert abs(shown.rss_bytes - direct.rss_bytes) <= max(2 * MiB, 0.05 * direct.rss_bytes), (name, shown, direct)
    assert abs(shown.lazyfree_bytes - direct.lazyfree_bytes) <= max(2 * MiB, 0.05 * direct.lazyfree_bytes), \
        (name, shown, direct)


@pytest.mark.parametrize("kind", ["glibc", "jemalloc", "mimalloc", "tcmalloc"])
def test_each_kind_allocates_real_blocks_and_the_panel_shows_the_kernels_figures(native_run, kind):
    need(kind)
    steady = "{pattern: steady, size: 48MiB, object_size: 32KiB}"
    run = native_run(config(entry("w", kind, pattern=steady)))
    run.until(lambda: run.running("w") and run.events("w", "alloc"), what="the workload allocated")
    hello = next(m for m in run.messages["w"] if m["type"] == "hello")
    assert hello["kind"] == kind and hello["allocator"]["name"] == kind and hello["allocator"]["version"]
    # every page of 48 MiB written: the kernel sees it resident
    run.until(lambda: (read_smaps_rollup(run.lab.status("w").pid).rss_bytes >= 48 * MiB), what="48 MiB resident")
    agree(run, "w")
    native = run.lab.native("w")
    assert native is not None and native.allocator.startswith(kind)
    if kind == "glibc":
        assert native.absent == ("heap_released_bytes",)  # mallinfo2 cannot tell trimmed free chunks from backed
    if kind in ("jemalloc", "tcmalloc", "glibc"):
        assert run.lab.heap("w").heap_inuse_bytes >= 48 * MiB  # the allocator's own count of live bytes


def test_jemalloc_madv_free_keeps_rss_as_lazyfree_equal_to_muzzy_and_dontneed_drops_it(native_run):
    need("jemalloc")
    knobs = "dirty_decay: 500ms, background_thread: true"  # MADV_FREE mode: muzzy_decay never unless set
    run = native_run(config(entry("free", "jemalloc", f"madvise: MADV_FREE, {knobs}"),
                            entry("dontneed", "jemalloc", f"madvise: MADV_DONTNEED, {knobs}")))
    run.until(lambda: dropped(run, "free") and dropped(run, "dontneed"), what="both dropped")
    # MADV_FREE: dirty pages decay to muzzy; the kernel keeps them resident as LazyFree
    run.until(lambda: run.allocator("free").get("muzzy", 0) >= DROPPED_BYTES * 0.85
              and run.allocator("free")["dirty"] < 4 * MiB, what="free: dirty decayed to muzzy")
    free = read_smaps_rollup(run.lab.status("free").pid)
    muzzy = run.allocator("free")["muzzy"]
    assert free.rss_bytes >= DROPPED_BYTES * 0.85 and "muzzy_decay_ms:-1" in run.lab.native("free").allocator, free
    assert abs(free.lazyfree_bytes - muzzy) <= 4 * MiB + 0.1 * muzzy, (free, muzzy)
    decay_to_muzzy = re.compile(r"jemalloc: decay \(background thread\): dirty \d+ → \d+ MiB, "
                                r"muzzy \d+ → \d+ MiB \(MADV_FREE \d+ MiB\)")
    run.until(lambda: any(decay_to_muzzy.match(l) for l in run.texts("free")), what="the decay line naming MADV_FREE")
    agree(run, "free")
    # MADV_DONTNEED (muzzy_decay_ms:0): the same decay drops RSS, no LazyFree
    run.until(lambda: run.allocator("dontneed").get("dirty", 1 << 40) < 4 * MiB, what="dontneed: dirty purged")
    gone = read_smaps_rollup(run.lab.status("dontneed").pid)
    assert gone.lazyfree_bytes < 2 * MiB, gone
    assert gone.rss_bytes < free.rss_bytes - DROPPED_BYTES * 0.7, (gone, free)
    run.until(lambda: any(l.startswith("jemalloc: decay (background thread): dirty") and "(MADV_DONTNEED " in l
                          for l in run.texts("dontneed")), what="the decay line naming MADV_DONTNEED")
    assert "muzzy_decay_ms:0" in run.lab.native("dontneed").allocator
    agree(run, "dontneed")
    # s: the explicit purge takes the LazyFree pages too, reported with bytes and time
    lazy_before_purge = read_smaps_rollup(run.lab.status("free").pid).lazyfree_bytes
    run.lab.scavenge("free")
    run.until(lambda: run.events("free", "scavenge"), what="the purge")
    purge = run.events("free", "scavenge")[-1]
    assert purge["madvise_s"] >= 0 and purge["released_bytes"] >= lazy_before_purge - 4 * MiB, (purge,
                                                                                                lazy_before_purge)
    after = read_smaps_rollup(run.lab.status("free").pid)
    assert after.lazyfree_bytes < 2 * MiB and after.rss_bytes < free.rss_bytes - DROPPED_BYTES * 0.7, (after, free)
    assert any(l.startswith("jemalloc: arena.4096.purge: released") and " ms " in l for l in run.texts("free"))


def test_glibc_retains_the_freed_heap_until_malloc_trim(native_run):
    run = native_run(config(entry("glibc", "glibc")))
    run.until(lambda: dropped(run, "glibc"), what="the drop")
    pid = run.lab.status("glibc").pid
    held = read_smaps_rollup(pid).rss_bytes
    # free() gave nothing back (the kept blocks pin the heap): RSS stays for a while, however often we look
    run.settle(1.5)
    kept = read_smaps_rollup(pid)
    assert kept.rss_bytes >= DROPPED_BYTES * 0.8 and kept.rss_bytes >= held - 2 * MiB, (held, kept)
    agree(run, "glibc")
    run.lab.scavenge("glibc")
    run.until(lambda: run.events("glibc", "scavenge"), what="malloc_trim")
    after = read_smaps_rollup(pid)
    assert after.rss_bytes < kept.rss_bytes - DROPPED_BYTES * 0.7, (kept, after)
    trim = run.events("glibc", "scavenge")[-1]
    assert trim["released_bytes"] >= DROPPED_BYTES * 0.7
    assert any(l.startswith("glibc: malloc_trim(0): released") for l in run.texts("glibc"))
    agree(run, "glibc")


def test_an_idle_jemalloc_without_background_thread_releases_nothing_and_says_so(native_run):
    need("jemalloc")
    run = native_run(config(entry("idle", "jemalloc", "dirty_decay: 200ms, background_thread: false")))
    run.until(lambda: dropped(run, "idle"), what="the drop")
    run.until(lambda: any(l.startswith("jemalloc: idle") for l in run.texts("idle")), timeout_s=20,
              what="the idle finding")
    direct = read_smaps_rollup(run.lab.status("idle").pid)
    assert direct.rss_bytes >= DROPPED_BYTES * 0.8 and run.allocator("idle")["dirty"] >= DROPPED_BYTES * 0.8
    # jemalloc decays only on allocator activity: the interpreter's own mallocs (they go to jemalloc too) tick it
    # now and then and release a MiB or two (1 run in 3 here), but the dropped memory stays: of it, nothing goes
    drop_t = run.events("idle", "free")[-1]["t"]
    later = [e for e in run.events("idle", "release") if e["t"] > drop_t + 0.5]
    assert sum(e["released_bytes"] for e in later) < DROPPED_BYTES * 0.1, later
    line = next(l for l in run.texts("idle") if l.startswith("jemalloc: idle"))
    assert "without background_thread" in line and "MiB dirty" in line


def test_m_restarts_jemalloc_in_the_other_mode_and_glibc_refuses_madv_free(native_run):
    need("jemalloc")
    steady = "{pattern: steady, size: 16MiB, object_size: 32KiB}"
    run = native_run(config(entry("je", "jemalloc", "madvise: MADV_FREE", steady), entry("gl", "glibc", "", steady)))
    run.until(lambda: run.running("je") and run.running("gl"), what="both running")
    old_pid = run.lab.status("je").pid
    assert run.lab.can("gc", "je") == "no collector: free is immediate"
    assert "MADV_DONTNEED only" in str(run.lab.can("set_madvise", "gl"))
    assert run.lab.can("scavenge", "gl") is True and run.lab.can("set_madvise", "je") is True
    run.lab.set_madvise("je", "MADV_DONTNEED")
    run.until(lambda: run.lab.status("je").pid not in (None, old_pid) and run.running("je")
              and run.lab.status("je").madvise == "MADV_DONTNEED", what="je restarted in MADV_DONTNEED")
    assert any("jemalloc reads its release settings only at start: restarting je with MADV_DONTNEED" in l
               for l in run.texts("je"))
    assert "muzzy_decay_ms:0" in run.lab.native("je").allocator
    gl_pid = run.lab.status("gl").pid
    run.lab.set_madvise("gl", "MADV_FREE")
    run.until(lambda: any("set_madvise MADV_FREE: glibc releases with MADV_DONTNEED only" in l
                          for l in run.texts("gl")), what="the refusal")
    assert run.lab.status("gl").pid == gl_pid  # not restarted


@pytest.mark.parametrize("kind, mode, why", [
    ("glibc", "MADV_FREE", "glibc releases with MADV_DONTNEED only"),
    ("tcmalloc", "MADV_FREE", "tcmalloc releases with MADV_DONTNEED only"),
    ("jemalloc", "MADV_COLD", "jemalloc releases with MADV_FREE (muzzy decay) or MADV_DONTNEED, not MADV_COLD"),
    ("mimalloc", "MADV_FREE", "MADV_DONTNEED only; MADV_FREE needs mimalloc >= 3"),
])
def test_a_config_asking_for_an_impossible_mode_is_refused_in_one_line(kind, mode, why):
    if kind == "mimalloc":
        need("mimalloc")
        from workloads.allocator_env import modes

        if "MADV_FREE" in modes("mimalloc"):
            pytest.skip("mimalloc 3 is installed here (the allocators extra): it can release with MADV_FREE")
    with pytest.raises(ConfigError) as error:
        make_lab(config(entry("w", kind, f"madvise: {mode}")))
    text = str(error.value)
    assert "\n" not in text and text.startswith("test.yaml:") and "workloads.w.madvise" in text and why in text


def test_a_knob_of_another_allocator_is_refused():
    with pytest.raises(ConfigError) as error:
        make_lab(config(entry("w", "glibc", "dirty_decay: 1s")))
    assert "not available for kind glibc" in str(error.value) and "trim_threshold" in str(error.value)


def test_a_missing_or_broken_library_is_one_line_and_the_others_run(native_run, monkeypatch):
    need("tcmalloc")
    steady = "{pattern: steady, size: 8MiB, object_size: 32KiB}"
    monkeypatch.setenv("MADVISE_LAB_MIMALLOC", "/nonexistent/libmimalloc.so.2")  # not installed
    tcmalloc = read_lib("tcmalloc")
    monkeypatch.setenv("MADVISE_LAB_JEMALLOC", tcmalloc)  # loads, but has no mallctl
    run = native_run(config(entry("mi", "mimalloc", "", steady), entry("je", "jemalloc", "madvise: MADV_DONTNEED",
                                                                         steady), entry("gl", "glibc", "", steady)))
    run.until(lambda: run.lab.status("mi").state == "exited" and run.lab.status("je").state == "exited"
              and run.running("gl"), what="the two broken ones exited, glibc runs")
    mi_error = run.lab.status("mi").last_error or ""
    je_error = run.lab.status("je").last_error or ""
    assert "mimalloc not installed: apt-get install libmimalloc2.0" in mi_error and "\n" not in mi_error
    assert je_error.startswith("jemalloc: symbol mallctl not found") and "\n" not in je_error


def read_lib(kind: str) -> str:
    from workloads.allocator_env import find_library

    return find_library(kind).path


def test_check_lists_each_allocator_found_or_what_to_install(monkeypatch):
    from tui.core.kernel.check import format_report, gather

    need("jemalloc")
    monkeypatch.setenv("MADVISE_LAB_TCMALLOC", "/nonexistent/libtcmalloc_minimal.so.4")
    found = gather()["allocators"]
    assert found["glibc"]["available"] and found["glibc"]["version"]
    jemalloc = found["jemalloc"]
    assert jemalloc["available"] and jemalloc["version"].startswith("5.") and jemalloc["path"].endswith(".so.2")
    assert jemalloc["modes"] == ["MADV_FREE", "MADV_DONTNEED"]
    assert not found["tcmalloc"]["available"]
    assert found["tcmalloc"]["detail"] == "tcmalloc not installed: apt-get install libtcmalloc-minimal4"
    report = format_report(gather())
    assert any(line.startswith("jemalloc") and "jemalloc 5." in line for line in report.splitlines())


def test_the_allocators_example_loads_within_the_default_budget():
    from pathlib import Path

    from tui.core.config import load_config

    path = Path(__file__).resolve().parents[2] / "examples" / "allocators.yaml"
    config = load_config(str(path), mem_available_bytes=4 << 30)  # the default budget: 50 % of 4 GiB
    assert [w.kind for w in config.workloads] == ["glibc", "jemalloc", "jemalloc", "mimalloc", "tcmalloc"]
    from workloads.allocator_env import modes

    mimalloc = modes("mimalloc")[0]  # unless asked, the allocator's first mode: MADV_FREE from mimalloc 3
    assert [w.madvise for w in config.workloads] == ["MADV_DONTNEED", "MADV_FREE", "MADV_DONTNEED", mimalloc,
                                                     "MADV_DONTNEED"]


def test_record_and_replay_keep_the_allocator_and_what_it_does_not_tell(tmp_path):
    import subprocess
    import sys

    from tui.core.sources.replay import ReplayLab

    config_path = tmp_path / "gl.yaml"
    config_path.write_text(config(entry("gl", "glibc", pattern="{pattern: steady, size: 8MiB, object_size: 32KiB}")))
    out = tmp_path / "rec"
    done = subprocess.run([sys.executable, "-m", "tui", "record", "--config", str(config_path), "--duration", "2s",
                           "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    replay = ReplayLab(str(out))
    native = replay.native("gl")
    assert native is not None and native.allocator.startswith("glibc 2.") and native.absent == ("heap_released_bytes",)
    assert any(s.heap is not None and s.heap.heap_inuse_bytes >= 8 * MiB for s in replay.recording.samples)


def test_pressure_takes_jemallocs_muzzy_pages_while_jemalloc_still_counts_them(native_run):
    """The kernel reclaims the MADV_FREE'd pages under pressure: RSS falls; jemalloc's own figure does not move."""
    from ci_promise import skip_unless_promised

    from tui.core.kernel.cgroups import CgroupManager

    need("jemalloc")
    manager = CgroupManager()
    if not manager.available:
        skip_unless_promised(f"no writable memory cgroup: {manager.reason}")
    run = native_run(config(entry("je", "jemalloc", "madvise: MADV_FREE, dirty_decay: 300ms, background_thread: true")))
    run.until(lambda: dropped(run, "je") and run.allocator("je").get("muzzy", 0) >= DROPPED_BYTES * 0.85,
              what="muzzy pages")
    pid = run.lab.status("je").pid
    run.until(lambda: run.latest("je") is not None and run.latest("je").kernel.lazyfree_bytes >= DROPPED_BYTES * 0.8,
              what="LazyFree sampled")
    before = read_smaps_rollup(pid)
    muzzy_before = run.allocator("je")["muzzy"]
    run.lab.pressure("je")
    run.until(lambda: any(m.kind == "pressure" and m.workload == "je" for m in run.markers), 30, "pressure result")
    after = read_smaps_rollup(pid)
    # the squeeze stops at footprint + pressure.margin (16 MiB): what it took was LazyFree, page for page
    lazyfree_drop, rss_drop = before.lazyfree_bytes - after.lazyfree_bytes, before.rss_bytes - after.rss_bytes
    assert after.lazyfree_bytes <= 20 * MiB and lazyfree_drop >= before.lazyfree_bytes - 20 * MiB, (before, after)
    assert abs(rss_drop - lazyfree_drop) <= 2 * MiB + 0.05 * lazyfree_drop, (before, after)
    run.settle(0.3)
    assert run.allocator("je")["muzzy"] >= muzzy_before - 2 * MiB  # jemalloc cannot know: its pages are still muzzy
    assert run.lab.status("je").state == "running"


def test_mimalloc_3_purges_with_madv_free_when_it_is_installed(native_run):
    """Optional (the `allocators` extra, not installed by CI): mimalloc 3 with purge_decommits off keeps RSS as
    LazyFree after mi_collect; mimalloc 2.0 is refused MADV_FREE (tested above)."""
    from workloads.allocator_env import find_library

    library = find_library("mimalloc")
    if library is None or not library.file_version.startswith("3"):
        pytest.skip("mimalloc 3 not installed (pip install 'madvise-lab[allocators]'); Debian's 2.0 cannot MADV_FREE")
    run = native_run(config(entry("mi", "mimalloc", "madvise: MADV_FREE, purge_delay: 100ms, keep_one_in: 0")))
    run.until(lambda: dropped(run, "mi"), what="the drop")
    run.lab.scavenge("mi")
    run.until(lambda: run.events("mi", "scavenge"), what="mi_collect")
    direct = read_smaps_rollup(run.lab.status("mi").pid)
    assert direct.lazyfree_bytes >= DROPPED_BYTES * 0.8 and direct.rss_bytes >= direct.lazyfree_bytes, direct
    assert run.events("mi", "scavenge")[-1]["madvise"] == "MADV_FREE"
    agree(run, "mi")
