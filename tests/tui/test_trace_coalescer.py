"""Repeated release and re-touch lines become one summary a second on screen; a lone one, and every other line,
pass as they are."""

from __future__ import annotations

from tui.core.model import TraceLine
from tui.core.views import TraceCoalescer


def _released(t_s: float, workload: str = "free", mib: int = 1, ms: float = 0.1) -> TraceLine:
    return TraceLine(t_s, workload, f"lab: MADV_FREE: released {mib} MiB in {ms} ms", "lab")


def test_the_first_line_shows_at_once_and_the_rest_of_the_second_become_one_summary():
    coalescer = TraceCoalescer(window_s=1.0)
    shown = coalescer.feed([_released(10.0 + i / 10) for i in range(10)])
    assert [x.t_s for x in shown] == [10.0]
    assert coalescer.due(10.5) == []
    (summary,) = coalescer.due(11.0)
    assert summary.line == "lab: MADV_FREE: released 9 MiB in 9 calls, 0.9 ms (in 1 s)"
    assert summary.workload == "free" and summary.kind == "lab" and summary.t_s == 11.0


def test_while_the_churn_goes_on_every_line_of_a_second_is_in_its_summary():
    coalescer = TraceCoalescer(window_s=1.0)
    coalescer.feed([_released(10.0 + i / 10) for i in range(10)])
    coalescer.due(11.0)
    assert coalescer.feed([_released(11.0 + i / 10) for i in range(10)]) == [], "busy the second before: held"
    (summary,) = coalescer.due(12.0)
    assert summary.line == "lab: MADV_FREE: released 10 MiB in 10 calls, 1.0 ms (in 1 s)"
    # a second without any: the next one is lone again and shows at once
    assert coalescer.due(13.5) == []
    assert coalescer.feed([_released(13.6)]) == [_released(13.6)]
    # a lone line held while busy comes as it is, not as "1 calls"
    assert coalescer.feed([_released(14.2)]) == []
    assert coalescer.due(15.0) == [_released(14.2)]


def test_summaries_of_all_workloads_and_kinds_are_due_at_one_moment():
    coalescer = TraceCoalescer(window_s=1.0)
    reuse = "lab: reuse: wrote 1 MiB released with MADV_FREE at 250.0 ms/GiB"
    lines = [line for i in range(10) for line in (
        _released(10.0 + i / 10), _released(10.03 + i / 10, "dontneed"),
        TraceLine(10.06 + i / 10, "free", reuse, "lab"))]
    assert len(coalescer.feed(lines)) == 3
    assert coalescer.due(10.99) == []
    assert len(coalescer.due(11.0)) == 3


def test_workloads_and_kinds_are_kept_apart_and_other_lines_pass():
    coalescer = TraceCoalescer()
    gc = TraceLine(1.0, "free", "gc 3 @1.000s 0%: 0.1+0.2+0.1 ms clock, 4->4->2 MB, 4 MB goal, 2 P", "gc")
    reuse = TraceLine(1.0, "free", "lab: reuse: wrote 1 MiB released with MADV_FREE at 250.0 ms/GiB", "lab")
    lines = [_released(1.0), _released(1.0, "dontneed"), gc, reuse, _released(1.1), _released(1.1, "dontneed"),
             TraceLine(1.2, "free", "lab: reuse: wrote 2 MiB released with MADV_FREE at 300.0 ms/GiB", "lab"),
             _released(1.3), gc]
    shown = coalescer.feed(lines)
    assert shown == [lines[0], lines[1], gc, reuse, gc]
    summaries = {(x.workload, x.line) for x in coalescer.due(5.0)}
    assert summaries == {
        ("free", "lab: MADV_FREE: released 2 MiB in 2 calls, 0.2 ms (in 1 s)"),
        ("dontneed", "lab: MADV_FREE: released 1 MiB in 0.1 ms"),
        ("free", "lab: reuse: wrote 2 MiB released with MADV_FREE at 300.0 ms/GiB"),
    }
    assert coalescer.due(6.0) == [], "a window is summed once"
