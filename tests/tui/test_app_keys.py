"""Pilot tests over a fake lab: every key reaches the right lab command, greying, pause, focus, layout."""

from __future__ import annotations

import asyncio
import functools

import pytest
from app_support import wait_for
from tui_fakes import SYSTEM_INFO, FakeLab

from tui.app import MadviseLabApp
from tui.core.model import LabUpdate, TraceLine
from tui.widgets.chart import MemoryChart
from tui.widgets.help import HelpScreen
from tui.widgets.mode_picker import ModePicker
from tui.widgets.panel import WorkloadPanel
from tui.widgets.trace import TracePane

MiB = 1 << 20


def sync(coroutine_function):
    """Run an async test with asyncio.run (no async pytest plugin is installed)."""
    @functools.wraps(coroutine_function)
    def wrapper(*args, **kwargs):
        return asyncio.run(coroutine_function(*args, **kwargs))
    return wrapper


def make_app(lab: FakeLab) -> MadviseLabApp:
    return MadviseLabApp(lab, SYSTEM_INFO, alloc_bytes=32 * MiB, mem_available=lambda: 1 << 34)


async def settle(pilot, n: int = 3) -> None:
    for _ in range(n):
        await pilot.pause()


@pytest.mark.parametrize("key, call", [
    ("m", ("set_madvise", "free", "MADV_DONTNEED")),
    ("g", ("gc", "free")),
    ("s", ("scavenge", "free")),
    ("a", ("alloc", "free", 32 * MiB)),
    ("f", ("free", "free")),
    ("r", ("restart", "free")),
])
@sync
async def test_key_sends_command_to_focused_workload(key, call):
    lab = FakeLab()
    app = make_app(lab)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)
        assert lab.calls[-1] == call


@sync
async def test_tab_moves_focus_and_the_keys_follow_it():
    lab = FakeLab()
    app = make_app(lab)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("tab")
        await settle(pilot)
        assert app.focused_workload == "dontneed"
        await pilot.press("m")  # DONTNEED toggles back to FREE
        await settle(pilot)
        assert lab.calls[-1] == ("set_madvise", "dontneed", "MADV_FREE")
        await pilot.press("shift+tab")
        await settle(pilot)
        assert app.focused_workload == "free"


@sync
async def test_mode_picker_applies_the_chosen_mode():
    lab = FakeLab()
    app = make_app(lab)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("M")
        await settle(pilot)
        assert isinstance(app.screen, ModePicker)
        # MADV_FREE is highlighted; three down is MADV_PAGEOUT
        await pilot.press("down", "down", "down", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, ModePicker)
        assert lab.calls[-1] == ("set_madvise", "free", "MADV_PAGEOUT")


@sync
async def test_pressure_is_greyed_when_unavailable_and_works_when_available():
    lab = FakeLab(pressure=False)
    app = make_app(lab)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.check_action("pressure", ()) is None
        await pilot.press("p")
        await settle(pilot)
        assert not any(call[0] == "pressure" for call in lab.calls)
        trace = app.query_one(TracePane)
        assert any("pressure unavailable" in strip.text for strip in trace.lines)
    lab = FakeLab(pressure=True)
    app = make_app(lab)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await pilot.press("P")
        await settle(pilot)
        assert lab.calls[-2:] == [("pressure", "free"), ("release_pressure", "free")]


@sync
async def test_exited_workload_greys_its_commands_but_not_restart():
    lab = FakeLab()
    app = make_app(lab)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        lab.push(LabUpdate(statuses=(lab.set_status("free", state="exited", exit_code=1, last_error="boom"),)))
        app._poll_now()
        await settle(pilot)
        assert app.check_action("gc", ()) is None
        assert app.check_action("restart", ()) is True
        panel = app.query_one("#panel-free", WorkloadPanel)
        assert panel.view.state == "exited"
        assert "exited (code 1): boom" in panel.render_line(0).text  # the first line: visible in any layout


@sync
async def test_space_freezes_the_view_while_data_keeps_arriving():
    lab = FakeLab()
    app = make_app(lab)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        panel = app.query_one("#panel-free", WorkloadPanel)
        shown = panel.view
        await pilot.press("space")
        await settle(pilot)
        assert app.view_paused
        series = lab.series("free")
        latest = series.latest
        series.append(latest.__class__(latest.t_s + 0.1, "free", latest.pid, latest.madvise,
                                       latest.kernel.__class__(700 * MiB, 700 * MiB, 0, 0), latest.heap))
        line = TraceLine(40.0, "free", "gc 9 @40.000s 0%: held while paused", "gc")
        lab.push(LabUpdate(trace_lines=(line,)))
        app._poll_now()
        await settle(pilot)
        assert panel.view is shown  # frozen
        trace = app.query_one(TracePane)
        assert not any("held while paused" in strip.text for strip in trace.lines)
        await pilot.press("space")
        await settle(pilot)
        assert not app.view_paused
        assert dict(panel.view.current)["rss"] == 700 * MiB
        assert any("held while paused" in strip.text for strip in trace.lines)


@sync
async def test_help_opens_and_closes():
    app = make_app(FakeLab())
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert app.check_action("gc", ()) is False  # lab keys are off while help is open
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen)


@sync
async def test_quit_stops_the_lab():
    lab = FakeLab()
    app = make_app(lab)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
    assert ("stop",) in lab.calls


@sync
async def test_compact_layout_hides_the_chart_and_survives_resizes():
    lab = FakeLab()
    app = make_app(lab)
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        assert app.screen.has_class("-compact")
        assert not app.query_one(MemoryChart).display
        chart = app.query_one(MemoryChart)
        for size in ((30, 10), (160, 48), (20, 5), (60, 20)):
            drawn = chart.draw_count
            await pilot.resize_terminal(*size)
            await settle(pilot)
            wide = size == (160, 48)
            assert app.screen.has_class("-compact") is not wide and chart.display is wide, size
            if wide:  # shown again: drawn again
                await wait_for(pilot, lambda: chart.draw_count > drawn, "the chart drawn after it came back")
            elif size != (20, 5):  # hidden all along (from compact to compact): not drawn
                assert chart.draw_count == drawn, size


@sync
async def test_chart_is_redrawn_only_when_its_data_changed():
    lab = FakeLab()
    app = make_app(lab)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        chart = app.query_one(MemoryChart)
        count = chart.draw_count
        assert count >= 1
        for _ in range(3):
            app.chart_pacer.drawn_s = -1e9  # not throttled: only the unchanged data can stop a redraw
            app._poll_now()
            await settle(pilot)
        assert chart.draw_count == count


@sync
async def test_a_wake_up_from_another_thread_polls_at_once_and_once(monkeypatch):
    """The source's threads wake the app through lab_notify: a loop callback, coalesced until it ran (the 1 s
    fallback poll is pushed out of the way, so only the wake-up can show the line)."""
    import threading

    from textual._context import active_app

    import tui.app

    monkeypatch.setattr(tui.app, "FALLBACK_POLL_S", 3600.0)
    lab = FakeLab()
    app = make_app(lab)
    active_at_poll = []
    poll_now = app._poll_now

    def poll_in_context() -> None:  # Textual's code in a poll (and the timers it sets) needs the active app
        active_at_poll.append(active_app.get(None))
        poll_now()
    app._poll_now = poll_in_context
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        trace = app.query_one(TracePane)
        for round_ in range(2):  # the second wake-up works too: the first one's pending mark was cleared
            polls = app.poll_count
            lab.push(LabUpdate(trace_lines=(TraceLine(40.0 + round_, "free", f"gc {10 + round_} from a thread", "gc"),)))
            threads = [threading.Thread(target=app.lab_notify) for _ in range(5)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            await wait_for(pilot, lambda: any(f"gc {10 + round_} from a thread" in strip.text for strip in trace.lines),
                           "the line the wake-up brought")
            await settle(pilot)
            assert app.poll_count == polls + 1, (polls, app.poll_count)  # five wake-ups, one poll
    assert active_at_poll and all(active is app for active in active_at_poll), active_at_poll
