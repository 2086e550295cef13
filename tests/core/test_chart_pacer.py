"""When the chart is rebuilt: on a visible change, paced by what its builds cost, never staler than MAX_PACE_S."""

from __future__ import annotations

from tui.core.views import MAX_PACE_S, ChartPacer


def test_builds_are_paced_by_their_cost_and_never_wait_longer_than_the_cap():
    pacer = ChartPacer(interval_s=1.0, budget=0.003, steady_s=5.0)
    assert pacer.delay_s(("free", (1,), 0, None, 1), now_s=100.0, build_s=0.02) == 0.0, "first: at once"
    pacer.drawn(("free", (1,), 0, None, 1), 100.0)
    assert pacer.delay_s(("free", (1,), 0, None, 1), 100.5, 0.02) is None, "nothing new: no build"
    # a 21 ms build at 0.3 % of a core: the next one 7 s later
    assert abs(pacer.delay_s(("free", (2,), 0, None, 2), 100.5, 0.021) - 6.5) < 1e-9
    # a build that took a whole second (a busy machine) would mean 333 s at that budget: capped
    assert pacer.delay_s(("free", (2,), 0, None, 2), 100.5, 1.0) == MAX_PACE_S - 0.5
    # only the time axis moved: wait for the steady pace, or as long as the budget says (20 ms at 0.3 %: 6.7 s)
    assert pacer.delay_s(("free", (1,), 0, None, 3), 103.0, 0.02) is None
    assert pacer.delay_s(("free", (1,), 0, None, 3), 106.0, 0.02) is None
    assert pacer.delay_s(("free", (1,), 0, None, 3), 106.7, 0.02) == 0.0
    # a 10 ms build: the steady pace itself (5 s)
    assert pacer.delay_s(("free", (1,), 0, None, 3), 105.0, 0.01) == 0.0
