"""The sampler against the kernel: a real process that maps, touches and madvises private anonymous memory."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kernel_truth import read_smaps_rollup
from tui.core.kernel.sampler import Sampler, parse_smaps_rollup

MiB = 1 << 20
CHILD = str(Path(__file__).with_name("memchild.py"))
ROLLUP = b"""55d0c0000000-7ffd5d1fe000 ---p 00000000 00:00 0                          [rollup]
Rss:              538112 kB
Pss:              537000 kB
Anonymous:        526000 kB
LazyFree:         523264 kB
AnonHugePages:         0 kB
Swap:                 12 kB
"""


def test_parse_rollup():
    memory = parse_smaps_rollup(ROLLUP)
    assert memory.rss_bytes == 538112 * 1024
    assert memory.anon_bytes == 526000 * 1024
    assert memory.lazyfree_bytes == 523264 * 1024
    assert memory.swap_bytes == 12 * 1024
    assert memory.footprint_bytes == (538112 - 523264) * 1024
    assert parse_smaps_rollup(b"") is None


class Child:
    def __init__(self, size_bytes: int) -> None:
        self.proc = subprocess.Popen([sys.executable, CHILD, str(size_bytes)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def do(self, word: str) -> None:
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "done"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Collect:
    def __init__(self) -> None:
        self.items: list = []
        self.cond = threading.Condition()

    def __call__(self, pid, t_s, memory) -> None:
        with self.cond:
            self.items.append((pid, t_s, memory))
            self.cond.notify_all()

    def wait_for(self, predicate, timeout_s: float = 5.0):
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                for item in reversed(self.items):
                    if predicate(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


@pytest.fixture
def child():
    c = Child(128 * MiB)
    yield c
    c.close()


def test_matches_direct_read_within_2_percent(child):
    child.do("touch")
    collect = Collect()
    sampler = Sampler(0.05, collect)
    sampler.add(child.proc.pid)
    sampler.tick()
    ours = collect.items[-1][2]
    direct = read_smaps_rollup(child.proc.pid)
    assert ours.rss_bytes >= 128 * MiB
    assert abs(ours.rss_bytes - direct.rss_bytes) <= 0.02 * direct.rss_bytes
    assert abs(ours.anon_bytes - direct.anon_bytes) <= 0.02 * direct.anon_bytes
    child.do("free")
    sampler.invalidate(child.proc.pid)
    sampler.tick()
    ours, direct = collect.items[-1][2], read_smaps_rollup(child.proc.pid)
    assert ours.lazyfree_bytes >= 120 * MiB
    assert abs(ours.lazyfree_bytes - direct.lazyfree_bytes) <= 0.02 * direct.lazyfree_bytes
    assert abs(ours.rss_bytes - direct.rss_bytes) <= 0.02 * direct.rss_bytes
    sampler.stop()


def test_lazyfree_fresh_right_after_invalidate(child):
    child.do("touch")
    collect = Collect()
    sampler = Sampler(0.5, collect, rollup_max_age_s=60.0)  # only an invalidate can refresh LazyFree quickly
    sampler.add(child.proc.pid)
    sampler.start()
    try:
        assert collect.wait_for(lambda item: item[2] and item[2].rss_bytes >= 128 * MiB)
        time.sleep(0.6)  # a plain tick has passed: the rollup is now only re-read on change
        child.do("free")
        sampler.invalidate(child.proc.pid)
        # Within the same 0.5 s tick: only the invalidate can have woken the thread.
        found = collect.wait_for(lambda item: item[2] and item[2].lazyfree_bytes >= 120 * MiB, timeout_s=0.4)
        assert found is not None, collect.items[-3:]
        child.do("dontneed")
        sampler.invalidate(child.proc.pid)
        found = collect.wait_for(lambda item: item[2] and item[2].rss_bytes < 64 * MiB, timeout_s=0.4)
        assert found is not None and found[2].lazyfree_bytes == 0
    finally:
        sampler.stop()
    assert sampler.stats().rollup_reads < sampler.stats().statm_reads + 2


def test_rollup_skipped_while_steady(child):
    child.do("touch")
    collect = Collect()
    sampler = Sampler(0.01, collect, rollup_max_age_s=60.0)
    sampler.add(child.proc.pid)
    for _ in range(20):
        sampler.tick()
    stats = sampler.stats()
    assert stats.statm_reads == 20
    assert stats.rollup_reads <= 3  # the first read, maybe one while the interpreter settled
    assert len(collect.items) == 20
    sampler.stop()


def test_gone_pid_reported_not_raised(child):
    collect = Collect()
    sampler = Sampler(0.02, collect)
    pid = child.proc.pid
    sampler.add(pid)
    sampler.start()
    try:
        child.close()
        assert collect.wait_for(lambda item: item[0] == pid and item[2] is None) is not None
        assert pid not in sampler.pids
        assert sampler.add(pid) is False
    finally:
        sampler.stop()


def test_periodic_rollup_skipped_while_the_process_does_not_run(child):
    """A process that did not run cannot have released or re-touched pages: no periodic rollup for it."""
    child.do("touch")
    collect = Collect()
    sampler = Sampler(0.01, collect, rollup_max_age_s=0.0)  # every tick is due for the periodic read
    sampler.add(child.proc.pid)
    try:
        for _ in range(20):  # the child is blocked on stdin: no CPU time between these ticks
            sampler.tick()
        stats = sampler.stats()
        assert stats.rollup_reads <= 3, stats
        assert stats.rollups_skipped_idle >= 17, stats
        assert collect.items[-1][2].lazyfree_bytes == 0
        child.do("free")  # RSS stays the same; only the child's CPU time says it ran
        sampler.tick()  # no invalidate: the periodic read alone must see the release
        assert collect.items[-1][2].lazyfree_bytes >= 120 * MiB
        assert sampler.stats().rollup_reads == stats.rollup_reads + 1
    finally:
        sampler.stop()


def test_periodic_rollup_every_time_without_the_idle_rule(child):
    child.do("touch")
    collect = Collect()
    sampler = Sampler(0.01, collect, rollup_max_age_s=0.0, skip_idle=False)
    sampler.add(child.proc.pid)
    try:
        for _ in range(10):
            sampler.tick()
        assert sampler.stats().rollup_reads == 10
        assert sampler.stats().rollups_skipped_idle == 0
    finally:
        sampler.stop()


def test_a_pid_can_have_its_own_rollup_age(child):
    """A workload that announces its releases gets a rarer safety read; an invalidate still reads at once."""
    child.do("touch")
    collect = Collect()
    sampler = Sampler(0.01, collect, rollup_max_age_s=0.0, skip_idle=False)
    sampler.add(child.proc.pid, rollup_max_age_s=60.0)
    try:
        for _ in range(10):
            sampler.tick()
        assert sampler.stats().rollup_reads == 1  # only the first read
        child.do("free")
        sampler.invalidate(child.proc.pid)
        sampler.tick()
        assert sampler.stats().rollup_reads == 2
        assert collect.items[-1][2].lazyfree_bytes >= 120 * MiB
    finally:
        sampler.stop()


def test_a_process_that_leaves_no_lazyfree_is_read_from_statm_and_matches_the_rollup(child):
    """set_no_lazyfree: RSS changes come from statm alone (no page walk), and they are the kernel's figures."""
    collect = Collect()
    sampler = Sampler(0.05, collect, rollup_max_age_s=60.0)
    sampler.add(child.proc.pid)
    sampler.tick()  # the first read is a rollup: LazyFree 0
    sampler.set_no_lazyfree(child.proc.pid, True)
    rollups = sampler.stats().rollup_reads
    for word in ("touch", "dontneed", "touch"):
        child.do(word)
        sampler.tick()
        ours, direct = collect.items[-1][2], read_smaps_rollup(child.proc.pid)
        assert abs(ours.rss_bytes - direct.rss_bytes) <= 0.02 * direct.rss_bytes + MiB, word
        assert abs(ours.anon_bytes - direct.anon_bytes) <= 0.02 * direct.anon_bytes + MiB, word
        assert ours.lazyfree_bytes == direct.lazyfree_bytes == 0
    assert sampler.stats().rollup_reads == rollups, "every change was answered by statm"
    assert sampler.stats().statm_only >= 3
    # once MADV_FREE'd pages may exist again, a change reads the rollup and sees them
    sampler.set_no_lazyfree(child.proc.pid, False)
    child.do("free")
    sampler.invalidate(child.proc.pid)
    sampler.tick()
    assert collect.items[-1][2].lazyfree_bytes >= 120 * MiB
    assert sampler.stats().rollup_reads == rollups + 1
    sampler.stop()


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_under_churn_the_page_walk_budget_defers_walks_but_rss_stays_the_kernels(child):
    """With the page-walk bucket spent, a change of RSS comes from statm (the kernel's figure, read at once) with
    the last walk's LazyFree; the walk comes when the budget pays for it, or at the floor (the max age)."""
    clock = FakeClock()
    collect = Collect()
    # a bucket that holds nothing: a walk is paid for only when the debt of the last one is repaid (1 % a core)
    sampler = Sampler(0.1, collect, rollup_max_age_s=1.0, rollup_budget=0.01, rollup_burst_s=0.0, clock=clock)
    sampler.add(child.proc.pid)
    sampler.tick()
    child.do("touch")
    sampler.tick()  # RSS moved: a walk, which puts the bucket in debt
    assert sampler.stats().rollup_reads == 2
    child.do("free")
    assert sampler.invalidate(child.proc.pid) is False, "in debt: no out-of-turn read, no wake-up"
    child.do("dontneed")  # RSS moves too
    sampler.tick()
    ours, direct = collect.items[-1][2], read_smaps_rollup(child.proc.pid)
    assert sampler.stats().rollup_reads == 2 and sampler.stats().rollups_deferred == 1
    assert abs(ours.rss_bytes - direct.rss_bytes) <= 0.02 * direct.rss_bytes + MiB, "RSS is statm's, now"
    child.do("touch")
    child.do("free")
    sampler.tick()
    ours, direct = collect.items[-1][2], read_smaps_rollup(child.proc.pid)
    assert sampler.stats().rollups_deferred == 2
    assert direct.lazyfree_bytes >= 120 * MiB and ours.lazyfree_bytes == 0, "LazyFree waits for the next walk"
    # the floor: a walk once LazyFree is max-age old, whatever the budget says
    clock.now_s += 1.0
    sampler.tick()
    ours, direct = collect.items[-1][2], read_smaps_rollup(child.proc.pid)
    assert sampler.stats().rollup_reads == 3
    assert abs(ours.lazyfree_bytes - direct.lazyfree_bytes) <= 0.02 * direct.lazyfree_bytes
    # a walk paid from the bucket: once enough time has refilled it (cost / budget), a change walks again
    child.do("dontneed")
    clock.now_s += 0.5
    assert sampler.invalidate(child.proc.pid) is True, "out of debt: read now"
    sampler.tick()
    assert sampler.stats().rollup_reads == 4
    ours, direct = collect.items[-1][2], read_smaps_rollup(child.proc.pid)
    assert ours.lazyfree_bytes == direct.lazyfree_bytes == 0
    sampler.stop()


def test_an_announced_process_growing_needs_no_page_walk_but_a_drop_or_an_announcement_does(child):
    """announced=True (our Python workloads announce every MADV_FREE and re-touch): RSS growing is read from statm
    alone, and it is the kernel's figure; RSS dropping by more than a MiB (reclaim?) or an invalidate walks."""
    collect = Collect()
    sampler = Sampler(0.05, collect, rollup_max_age_s=60.0)
    sampler.add(child.proc.pid, announced=True)
    sampler.tick()
    walks = sampler.stats().rollup_reads
    child.do("touch")
    sampler.tick()
    ours, direct = collect.items[-1][2], read_smaps_rollup(child.proc.pid)
    assert sampler.stats().rollup_reads == walks, "growing: statm alone"
    assert abs(ours.rss_bytes - direct.rss_bytes) <= 0.02 * direct.rss_bytes + MiB
    assert abs(ours.anon_bytes - direct.anon_bytes) <= 0.02 * direct.anon_bytes + MiB
    child.do("free")
    sampler.invalidate(child.proc.pid)  # announced: the release walks
    sampler.tick()
    ours, direct = collect.items[-1][2], read_smaps_rollup(child.proc.pid)
    assert sampler.stats().rollup_reads == walks + 1
    assert direct.lazyfree_bytes >= 120 * MiB
    assert abs(ours.lazyfree_bytes - direct.lazyfree_bytes) <= 0.02 * direct.lazyfree_bytes
    child.do("dontneed")  # not announced here: RSS drops by 128 MiB, which may be reclaim: walk
    sampler.tick()
    ours, direct = collect.items[-1][2], read_smaps_rollup(child.proc.pid)
    assert sampler.stats().rollup_reads == walks + 2
    assert ours.lazyfree_bytes == direct.lazyfree_bytes == 0
    sampler.stop()


def test_a_sleeping_process_is_ticked_at_the_idle_interval_and_a_running_one_at_once(child):
    """While every watched pid slept since the last tick (its CPU time unchanged) the next tick is idle_interval_s
    away; one that ran brings back interval_s. The figures stay the kernel's."""
    child.do("touch")
    collect = Collect()
    sampler = Sampler(0.05, collect, idle_interval_s=0.5)
    assert sampler.add(child.proc.pid)
    sampler.tick()
    sampler.tick()  # the child waits on its stdin: it did not run between the two ticks
    assert sampler.all_asleep and sampler.next_interval_s() == 0.5
    child.do("free")  # it runs (MADV_FREE of its 128 MiB)
    sampler.invalidate(child.proc.pid)
    sampler.tick()
    assert not sampler.all_asleep and sampler.next_interval_s() == 0.05
    direct = read_smaps_rollup(child.proc.pid)
    assert abs(collect.items[-1][2].lazyfree_bytes - direct.lazyfree_bytes) <= 0.02 * direct.lazyfree_bytes
    sampler.tick()
    assert sampler.all_asleep
    # without idle_interval_s it always ticks at interval_s
    plain = Sampler(0.05, collect)
    assert plain.add(child.proc.pid)
    plain.tick()
    plain.tick()
    assert plain.next_interval_s() == 0.05
    plain.stop()
    sampler.stop()


def test_the_thread_slows_down_for_a_sleeping_process_and_an_invalidation_still_reads_at_once(child):
    child.do("touch")
    collect = Collect()
    sampler = Sampler(0.05, collect, idle_interval_s=0.5)
    sampler.add(child.proc.pid)
    sampler.start()
    try:
        deadline = time.monotonic() + 5
        while not sampler.all_asleep and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sampler.all_asleep
        ticks = sampler.stats().ticks
        started = time.monotonic()
        while sampler.stats().ticks < ticks + 2 and time.monotonic() < deadline + 5:
            time.sleep(0.01)
        # two ticks of a sleeping process are at least idle_interval_s apart (at 20 Hz they would be 0.05 s)
        assert time.monotonic() - started >= 0.45
        child.do("free")
        sampler.invalidate(child.proc.pid)
        # read at once, not at the next idle tick: well inside the 0.5 s
        found = collect.wait_for(lambda item: item[2] and item[2].lazyfree_bytes >= 120 * MiB, timeout_s=0.4)
        assert found is not None, collect.items[-3:]
    finally:
        sampler.stop()
