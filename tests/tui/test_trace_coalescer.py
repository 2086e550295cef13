"""Repeated release and re-touch lines become one summary a second on screen; every other line passes as it is."""

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
    assert coalescer.feed([_released(11.2)]) == [_released(11.2)], "a new window starts with a line of its own"


def test_workloads_and_kinds_are_kept_apart_and_other_lines_pass():
    coalescer = TraceCoalescer()
    gc = TraceLine(1.0, "free", "gc 3 @1.000s 0%: 0.1+0.2+0.1 ms clock, 4->4->2 MB, 4 MB goal, 2 P", "gc")
    reuse = TraceLine(1.0, "free", "lab: reuse: wrote 1 MiB released with MADV_FREE at 250.0 ms/GiB", "lab")
    lines = [_released(1.0), _released(1.0, "dontneed"), gc, reuse, _released(1.1), _released(1.1, "dontneed"),
             TraceLine(1.2, "free", "lab: reuse: wrote 2 MiB released with MADV_FREE at 300.0 ms/GiB", "lab"), gc]
    shown = coalescer.feed(lines)
    assert shown == [lines[0], lines[1], gc, reuse, gc]
    summaries = {(x.workload, x.line) for x in coalescer.due(5.0)}
    assert summaries == {
        ("free", "lab: MADV_FREE: released 1 MiB in 1 calls, 0.1 ms (in 1 s)"),
        ("dontneed", "lab: MADV_FREE: released 1 MiB in 1 calls, 0.1 ms (in 1 s)"),
        ("free", "lab: reuse: wrote 2 MiB in 1 batches released with MADV_FREE, 300.0 ms/GiB on average (in 1 s)"),
    }
    assert coalescer.due(6.0) == [], "a window is summed once"
