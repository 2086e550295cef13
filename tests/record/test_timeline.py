"""Timeline hands out each step once, in time order, and shows what is next."""

from tui.core.timeline import Timeline, TimelineStep, describe_step


def _steps():
    return [
        TimelineStep(5.0, "gc", "all"),
        TimelineStep(1.0, "set_madvise", "free", "MADV_DONTNEED"),
        TimelineStep(5.0, "scavenge", "free"),
    ]


def test_due_returns_each_step_once_in_time_order():
    timeline = Timeline(_steps())
    assert timeline.due(0.5) == ()
    assert [s.do for s in timeline.due(1.0)] == ["set_madvise"]
    assert timeline.due(1.5) == ()
    assert [s.do for s in timeline.due(10.0)] == ["gc", "scavenge"]
    assert timeline.due(20.0) == ()
    assert timeline.done


def test_upcoming_lists_pending_steps():
    timeline = Timeline(_steps())
    assert [s.at_s for s in timeline.upcoming(0.0, n=2)] == [1.0, 5.0]
    timeline.due(2.0)
    assert [s.do for s in timeline.upcoming(2.0)] == ["gc", "scavenge"]


def test_describe_step_names_action_workload_and_value():
    assert describe_step(TimelineStep(30.0, "set_madvise", "free", "MADV_DONTNEED")) == "at 30s: set_madvise free MADV_DONTNEED"
