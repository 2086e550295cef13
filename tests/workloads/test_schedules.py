"""Pure schedules with a fake clock: what each pattern allocates and drops when, the GC pacer, each scavenger policy."""

from __future__ import annotations

import pytest

from workloads.gc import MIN_HEAP_BYTES, Pacer
from workloads.options import defaults
from workloads.patterns import CHURN_STEP_S, make_pattern
from workloads.scavenger import PACED_RATE_BYTES_PER_S, Scavenger

MIB = 1 << 20


class Obj:
    """What the fake mutator hands out: a size and an id, like a span."""

    _next = 0

    def __init__(self, n_bytes: int) -> None:
        Obj._next += 1
        self.n_bytes, self.id = n_bytes, Obj._next


class FakeMutator:
    """Records every alloc and drop with the pattern time it happened at."""

    def __init__(self) -> None:
        self.now_s = 0.0
        self.log: list[tuple[float, str, int]] = []
        self.live: set[int] = set()

    def alloc(self, n_bytes: int) -> Obj:
        obj = Obj(n_bytes)
        self.live.add(obj.id)
        self.log.append((self.now_s, "alloc", n_bytes))
        return obj

    def drop(self, objects) -> None:
        objs = [o for o in objects if o is not None]
        for o in objs:
            assert o.id in self.live, "a pattern dropped an object twice"
            self.live.remove(o.id)
        if objs:
            self.log.append((self.now_s, "drop", sum(o.n_bytes for o in objs)))

    def held_bytes(self, pattern) -> int:
        return sum(1 for _ in self.live)


def drive(pattern_opts: dict, until_s: float, step_s: float = 0.01) -> tuple[FakeMutator, object]:
    """Step a pattern like the runtime does (only when due) on a fake clock up to `until_s`."""
    pattern = make_pattern({**defaults(), **pattern_opts})
    mut = FakeMutator()
    next_s = 0.0
    for i in range(round(until_s / step_s) + 1):
        mut.now_s = round(i * step_s, 6)  # whole ticks: no drift from adding floats
        if mut.now_s >= next_s:
            next_s = pattern.step(mut.now_s, mut)
            assert next_s > mut.now_s, f"{pattern_opts['pattern']}: next due {next_s} is not in the future"
    return mut, pattern


def rounded(log):
    return [(round(t, 2), what, n) for t, what, n in log]


# ---- patterns ------------------------------------------------------------------------------------------------
def test_seed_allocates_count_times_interval_apart_then_drops_after_hold():
    mut, pattern = drive({"pattern": "seed", "size": 8 * MIB, "count": 3, "interval": 1.0, "hold": 0.5}, 5.0)
    assert rounded(mut.log) == [(0.0, "alloc", 8 * MIB), (1.0, "alloc", 8 * MIB), (2.0, "alloc", 8 * MIB),
                                (2.5, "drop", 24 * MIB)]
    assert not mut.live and pattern.step(10.0, mut) == float("inf")


def test_seed_catches_up_when_stepped_late():
    pattern = make_pattern({**defaults(), "pattern": "seed", "size": MIB, "count": 2, "interval": 1.0, "hold": 0})
    mut = FakeMutator()
    assert pattern.step(0.0, mut) == 1.0
    mut.now_s = 5.0
    assert pattern.step(5.0, mut) == float("inf")  # the second allocation and the drop, both overdue
    assert [w for _, w, _ in mut.log] == ["alloc", "alloc", "drop"]


def test_sawtooth_grows_by_size_to_peak_then_drops_and_repeats():
    mut, _ = drive({"pattern": "sawtooth", "size": 4 * MIB, "peak": 12 * MIB, "interval": 0.5}, 3.6)
    assert rounded(mut.log) == [
        (0.0, "alloc", 4 * MIB), (0.5, "alloc", 4 * MIB), (1.0, "alloc", 4 * MIB), (1.5, "drop", 12 * MIB),
        (2.0, "alloc", 4 * MIB), (2.5, "alloc", 4 * MIB), (3.0, "alloc", 4 * MIB), (3.5, "drop", 12 * MIB)]


def test_sawtooth_held_bytes_never_exceed_peak_plus_one_step():
    mut, pattern = drive({"pattern": "sawtooth", "size": 3 * MIB, "peak": 10 * MIB, "interval": 0.1}, 5.0)
    held, most = 0, 0
    for _, what, n in mut.log:
        held = held + n if what == "alloc" else held - n
        most = max(most, held)
        assert held >= 0
    assert most == 12 * MIB  # 4 × 3 MiB: the first step at or past the peak
    assert sum(1 for _, w, _ in mut.log if w == "drop") >= 9


def test_sawtooth_starts_over_after_a_free_command():
    pattern = make_pattern({**defaults(), "pattern": "sawtooth", "size": 4 * MIB, "peak": 8 * MIB, "interval": 1})
    mut = FakeMutator()
    pattern.step(0.0, mut)
    mut.drop(pattern.forget_all())
    mut.now_s = 1.0
    pattern.step(1.0, mut)
    mut.now_s = 2.0
    pattern.step(2.0, mut)
    mut.now_s = 3.0
    pattern.step(3.0, mut)  # 8 MiB held since the free: now the drop
    assert [w for _, w, _ in mut.log] == ["alloc", "drop", "alloc", "alloc", "drop"]
    assert mut.log[-1][2] == 8 * MIB


def test_churn_holds_live_and_replaces_rate_bytes_per_second_oldest_first():
    size = 64 * 1024
    mut, pattern = drive({"pattern": "churn", "live": 4 * MIB, "object_size": size, "rate": 2 * MIB}, 2.0)
    assert mut.log[0] == (0.0, "alloc", size) and len(pattern.objects) == 4 * MIB // size
    replaced_alloc = sum(n for t, w, n in mut.log if w == "alloc" and t > 0)
    replaced_drop = sum(n for t, w, n in mut.log if w == "drop")
    # 2 MiB/s for 2 s, in 0.1 s batches (the batch due at 2.0 included): 20 batches of 0.2 MiB, rounded to objects
    assert replaced_drop == replaced_alloc
    assert abs(replaced_alloc - 2 * MIB * 2.0) <= 2 * MIB * CHURN_STEP_S + size
    assert len(mut.live) == 4 * MIB // size  # live stays exactly LIVE worth of objects
    first_ids = sorted(o.id for o in pattern.objects)
    assert first_ids[0] > 4 * MIB // size // 2  # the oldest half is gone: oldest first


def test_churn_slow_rate_carries_fractions_between_steps():
    size = MIB
    mut, _ = drive({"pattern": "churn", "live": 2 * MIB, "object_size": size, "rate": MIB // 2}, 4.05)
    drops = [(round(t, 2), n) for t, w, n in mut.log if w == "drop"]
    # 0.05 objects per step: one object every 2 s
    assert drops == [(2.0, MIB), (4.0, MIB)]


def test_churn_refills_after_a_free_command():
    pattern = make_pattern({**defaults(), "pattern": "churn", "live": 1 * MIB, "object_size": 256 * 1024,
                            "rate": 0})
    mut = FakeMutator()
    pattern.step(0.0, mut)
    mut.drop(pattern.forget_all())
    assert not mut.live
    mut.now_s = 0.1
    pattern.step(0.1, mut)
    assert len(mut.live) == 4


def test_burst_holds_base_and_adds_size_for_hold_every_interval():
    mut, _ = drive({"pattern": "burst", "base": 16 * MIB, "size": 8 * MIB, "interval": 1.0, "hold": 0.3}, 2.5)
    assert rounded(mut.log) == [
        (0.0, "alloc", 16 * MIB), (0.0, "alloc", 8 * MIB), (0.3, "drop", 8 * MIB),
        (1.0, "alloc", 8 * MIB), (1.3, "drop", 8 * MIB), (2.0, "alloc", 8 * MIB), (2.3, "drop", 8 * MIB)]
    assert len(mut.live) == 1  # back to base between bursts


def test_burst_hold_defaults_to_half_an_interval_and_bursts_may_overlap():
    mut, _ = drive({"pattern": "burst", "base": MIB, "size": MIB, "interval": 1.0, "hold": 0}, 1.6)
    assert [(round(t, 2), w) for t, w, _ in mut.log] == [
        (0.0, "alloc"), (0.0, "alloc"), (0.5, "drop"), (1.0, "alloc"), (1.5, "drop")]
    mut, _ = drive({"pattern": "burst", "base": MIB, "size": MIB, "interval": 1.0, "hold": 2.5}, 3.0)
    assert len(mut.live) == 1 + 3  # bursts from 0, 1, 2 (0's ends at 2.5), and 3
    assert [round(t, 2) for t, w, _ in mut.log if w == "drop"] == [2.5]


def test_steady_allocates_once_and_holds():
    mut, pattern = drive({"pattern": "steady", "size": 32 * MIB}, 3.0)
    assert mut.log == [(0.0, "alloc", 32 * MIB)] and len(mut.live) == 1


# ---- the GC pacer --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gogc, live, goal", [(100, 512 * MIB, 1024 * MIB), (50, 100 * MIB, 150 * MIB),
                                              (200, 10 * MIB, 30 * MIB), (0, 10 * MIB, 10 * MIB),
                                              (100, 1 * MIB, MIN_HEAP_BYTES), (300, 0, 3 * MIN_HEAP_BYTES)])
def test_pacer_goal_is_live_times_one_plus_gogc_with_a_minimum(gogc, live, goal):
    pacer = Pacer(gogc=gogc, forced_period_s=0)
    pacer.cycle_done(1.0, live)
    assert pacer.goal_bytes == goal
    assert pacer.reached_goal(goal) and (goal == 0 or not pacer.reached_goal(goal - 1))


def test_pacer_forced_period_counts_from_the_last_cycle():
    pacer = Pacer(gogc=100, forced_period_s=2.0)
    assert pacer.next_forced_s() == 2.0 and pacer.forced_due(2.0) and not pacer.forced_due(1.99)
    pacer.cycle_done(1.5, 0)  # any cycle (goal or command) restarts the period
    assert pacer.next_forced_s() == 3.5 and not pacer.forced_due(3.4) and pacer.forced_due(3.5)
    never = Pacer(gogc=100, forced_period_s=0)
    assert never.next_forced_s() == float("inf") and not never.forced_due(1e9)


def test_gogc_off_turns_off_the_goal_and_the_periodic_gc():
    # Go: GOGC=off disables both the heap trigger and the 2-minute forced GC (gcTrigger.test returns false).
    off = Pacer(gogc=-1, forced_period_s=120.0)
    off.cycle_done(1.0, 512 * MIB)
    assert off.goal_bytes == 0 and not off.reached_goal(1 << 40)
    assert not off.forced_due(1e9) and off.next_forced_s() == float("inf")


# ---- scavenger policies --------------------------------------------------------------------------------------
class FakeSpan:
    def __init__(self, n_bytes: int, freed_at_s: float) -> None:
        self.n_bytes, self.freed_at_s = n_bytes, freed_at_s


def test_go112_sweeps_every_period_releasing_only_spans_idle_past_the_threshold():
    scav = Scavenger("go1.12", period_s=10.0, idle_s=15.0)
    a, b, c = FakeSpan(MIB, 0.0), FakeSpan(MIB, 6.0), FakeSpan(MIB, 12.0)
    sweeps = {}
    for tenth in range(0, 401):
        now_s = tenth / 10
        if now_s >= scav.next_due_s():
            plan = scav.tick(now_s, [a, b, c], 0, 0)
            sweeps[now_s] = (plan.gen, [s.freed_at_s for s, _ in plan.parts], plan.why)
        else:
            assert scav.tick(now_s, [a, b, c], 0, 0) is None
    assert sweeps == {10.0: (0, [], "bg"), 20.0: (1, [0.0], "bg"), 30.0: (2, [0.0, 6.0, 12.0], "bg"),
                      40.0: (3, [0.0, 6.0, 12.0], "bg")}
    assert scav.after_gc([a]) is None  # go1.12 does not release after a GC


def test_go112_skips_missed_sweeps_instead_of_bursting():
    scav = Scavenger("go1.12", period_s=10.0, idle_s=0.0)
    assert scav.tick(35.0, [FakeSpan(MIB, 0.0)], 0, 0).gen == 0
    assert scav.next_due_s() == 40.0
    assert scav.tick(39.0, [], 0, 0) is None


def test_paced_releases_toward_110_percent_of_the_goal_at_a_limited_rate():
    scav = Scavenger("paced", 0, 0)
    goal = 100 * MIB
    idle = [FakeSpan(64 * MIB, 2.0), FakeSpan(64 * MIB, 1.0)]
    inuse = 50 * MIB  # retained = 178 MiB, target 110 MiB: 68 MiB too much
    plan = scav.tick(0.1, idle, inuse, goal)
    assert plan.why == "bg" and plan.n_bytes == int(PACED_RATE_BYTES_PER_S * 0.1)
    assert plan.parts[0][0] is idle[1]  # longest idle first
    # Fake the release: shrink the spans the plan touched, and go on ticking every 0.1 s
    released, now_s = plan.n_bytes, 0.1
    while True:
        for span, n in plan.parts:
            span.n_bytes -= n
        now_s += 0.1
        assert scav.next_due_s() == pytest.approx(now_s)
        plan = scav.tick(now_s, [s for s in idle if s.n_bytes], inuse, goal)
        if plan is None:
            break
        assert plan.n_bytes <= PACED_RATE_BYTES_PER_S * 0.1 + 1
        released += plan.n_bytes
    assert inuse + sum(s.n_bytes for s in idle) == pytest.approx(goal * 1.1, abs=1)
    assert released == pytest.approx(68 * MIB, abs=1)


def test_paced_stays_rate_limited_after_a_long_gap_such_as_a_pause():
    scav = Scavenger("paced", 0, 0)
    idle = [FakeSpan(1024 * MIB, 0.0)]
    assert scav.tick(0.1, idle, 0, 4 * MIB).n_bytes == int(PACED_RATE_BYTES_PER_S * 0.1)
    late = scav.tick(60.1, idle, 0, 4 * MIB)  # a minute without ticks (paused) must not release a minute's worth
    assert late.n_bytes <= PACED_RATE_BYTES_PER_S * 0.5


def test_paced_does_nothing_under_target_when_gc_is_off_or_with_nothing_idle():
    scav = Scavenger("paced", 0, 0)
    assert scav.tick(1.0, [FakeSpan(8 * MIB, 0.0)], 100 * MIB, 100 * MIB) is None  # 108 MiB < 110 MiB
    assert scav.tick(2.0, [FakeSpan(8 * MIB, 0.0)], 100 * MIB, 0) is None  # GOGC off: no goal to pace to
    assert scav.tick(3.0, [], 200 * MIB, 100 * MIB) is None  # over target but nothing idle: no empty pass


def test_eager_releases_everything_idle_right_after_each_gc_and_never_on_ticks():
    scav = Scavenger("eager", 150.0, 300.0)
    spans = [FakeSpan(MIB, 0.0), FakeSpan(3 * MIB, 5.0)]
    plan = scav.after_gc(spans)
    assert plan.why == "eager" and plan.parts == ((spans[0], MIB), (spans[1], 3 * MIB))
    assert scav.after_gc([]) is None
    assert scav.next_due_s() == float("inf") and scav.tick(1e6, spans, 0, 4 * MIB) is None


def test_off_never_releases_but_a_command_still_does():
    scav = Scavenger("off", 1.0, 0.0)
    spans = [FakeSpan(MIB, 0.0)]
    assert scav.next_due_s() == float("inf")
    assert scav.tick(1e6, spans, 0, 4 * MIB) is None and scav.after_gc(spans) is None
    forced = scav.forced(spans)
    assert forced.gen == -1 and forced.why == "forced" and forced.n_bytes == MIB
