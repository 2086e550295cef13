"""plotext_fast's functions give what plotext's own give (values, types, errors), and the chart draws the same cells."""

from __future__ import annotations

import asyncio
import copy
import math

import plotext._utility as ut
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tui.widgets.chart  # noqa: F401 - installs plotext_fast at import, as the app does
from bench.chart_build import churn_view
from tui.core.model import Marker
from tui.core.views import ChartView
from tui.widgets import plotext_fast

MiB = 1 << 20
PROPERTY = settings(max_examples=400, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NAN = math.nan


def same(a: object, b: object) -> bool:
    """Equal values of the same types all the way down (lists vs tuples, ints vs floats), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)  # type: ignore[arg-type]
    return a == b


def outcome(function, *args):
    """What a call gives, on copies of the arguments (so one function cannot alter what the other sees): its value,
    or the type of the exception it raised."""
    args = copy.deepcopy(args)
    try:
        return "value", function(*args), args
    except Exception as error:  # noqa: BLE001 - any error must be the original's
        return "raised", type(error), args


def assert_equal(name: str, *args) -> None:
    fast = outcome(plotext_fast.FAST[name], *args)
    original = outcome(plotext_fast.ORIGINALS[name], *args)
    assert fast[0] == original[0], (fast, original)
    assert same(fast[1], original[1]) if fast[0] == "value" else fast[1] is original[1], (fast, original)
    assert same(fast[2], original[2]), "the arguments were changed otherwise"


# --- join ---------------------------------------------------------------------------------------------------------

LEAVES = (st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True) | st.none() | st.booleans()
          | st.text(max_size=3) | st.tuples(st.integers(0, 3), st.integers(0, 3)) | st.just(()))
NESTED = st.recursive(LEAVES, lambda children: st.lists(children, max_size=5) | st.tuples(children, children),
                      max_leaves=40)


@PROPERTY
@given(st.lists(NESTED, max_size=8))
def test_join_equals_plotexts_on_nested_lists(data):
    assert_equal("join", data)


@PROPERTY
@given(st.lists(NESTED, max_size=8), st.sampled_from(["tuple", "dict", "str", "int", "list of ranges"]))
def test_join_equals_plotexts_on_other_iterables_and_non_iterables(data, kind):
    argument = {"tuple": lambda: tuple(data), "dict": lambda: dict.fromkeys(map(repr, data)),
                "str": lambda: repr(data), "int": lambda: len(data),
                "list of ranges": lambda: [range(len(data)), list(range(len(data)))]}[kind]()
    assert_equal("join", argument)


def test_join_returns_a_new_list_and_flattens_every_level():
    flat = [1, 2]
    assert plotext_fast.join(flat) is not flat
    assert plotext_fast.join([[1, [2, [3, (4, [5])]]], [], "ab", None]) == [1, 2, 3, (4, [5]), "ab", None]
    generator = ([i] for i in range(3))
    assert plotext_fast.join(generator) == [0, 1, 2]  # iterated once


# --- get_lines ----------------------------------------------------------------------------------------------------

COORDINATE = st.integers(-150, 150)
GAP = st.none() | st.just(NAN) | st.floats(-150, 150)  # a missing value, or data plotext would not pass (floats)


@st.composite
def line_inputs(draw, gaps: bool):
    n = draw(st.integers(0, 40))
    value = COORDINATE | GAP if gaps else COORDINATE
    x = draw(st.lists(value, min_size=n, max_size=n))
    y = draw(st.lists(value, min_size=n, max_size=n))
    markers = draw(st.lists(st.sampled_from(["braille", "hd", "fhd", "dot"]), min_size=n, max_size=n))
    colours = draw(st.lists(st.sampled_from([(255, 0, 0), 33, "red+", "default"]), min_size=n, max_size=n))
    styles = draw(st.lists(st.sampled_from(["default", "bold"]), min_size=n, max_size=n))
    other = [markers, colours, styles]
    if gaps and draw(st.booleans()):  # lengths plotext does not give: the original's errors or truncations
        other = [column[: draw(st.integers(0, n))] for column in other]
        y = y[: draw(st.integers(0, n))]
        if draw(st.booleans()):
            other = [tuple(column) for column in other][: draw(st.integers(0, 3))]
    return x, y, other


@PROPERTY
@given(line_inputs(gaps=False))
def test_get_lines_equals_plotexts_on_canvas_ints(inputs):
    x, y, other = inputs
    assert_equal("get_lines", x, y, *other)


@PROPERTY
@given(line_inputs(gaps=True))
def test_get_lines_equals_plotexts_with_gaps_floats_and_odd_lengths(inputs):
    x, y, other = inputs
    assert_equal("get_lines", x, y, *other)


def test_get_lines_segments_with_every_slope():
    """Steep, flat, diagonal and shallow segments in both directions, and repeated points."""
    x = [0, 0, 5, 5, 20, 17, 17, -3, 40, 41, 41, 0]
    y = [0, 9, 9, 4, 5, 30, 30, 29, -7, 60, 60, 0]
    assert_equal("get_lines", x, y, ["m"] * len(x), ["c"] * len(x), ["s"] * len(x))
    lines = plotext_fast.get_lines(x, y, list(range(len(x))))
    assert len(lines[0]) == len(lines[1]) == len(lines[2]) > 4 * len(x)


# --- fill_data ----------------------------------------------------------------------------------------------------

@PROPERTY
@given(line_inputs(gaps=False), COORDINATE | st.just("boundaries"))
def test_fill_data_equals_plotexts_on_canvas_ints(inputs, level):
    x, y, other = inputs
    assert_equal("fill_data", x, y, level, *other)


@PROPERTY
@given(line_inputs(gaps=True), COORDINATE | GAP | st.just("boundaries"))
def test_fill_data_equals_plotexts_with_gaps_floats_and_odd_lengths(inputs, level):
    x, y, other = inputs
    assert_equal("fill_data", x, y, level, *other)


# --- hd_group -----------------------------------------------------------------------------------------------------

FACTORS = st.sampled_from([(2, 2), (2, 3), (2, 4), (1, 1), (1, 4), (3, 2)])  # hd, fhd, braille, and others


@st.composite
def hd_inputs(draw, mixed: bool, gaps: bool):
    n = draw(st.integers(0 if gaps else 1, 60))
    value = COORDINATE | GAP if gaps else COORDINATE
    x = draw(st.lists(value, min_size=n, max_size=n))
    y = draw(st.lists(value, min_size=n, max_size=n))
    if mixed:  # a factor per point (markers per point), zero factors included
        factors = draw(st.lists(FACTORS | st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=n, max_size=n))
    else:
        factors = [draw(FACTORS)] * n
    return x, y, [f[0] for f in factors], [f[1] for f in factors]


@PROPERTY
@given(hd_inputs(mixed=False, gaps=False))
def test_hd_group_equals_plotexts_for_one_marker(inputs):
    assert_equal("hd_group", *inputs)


@PROPERTY
@given(hd_inputs(mixed=True, gaps=False))
def test_hd_group_equals_plotexts_for_markers_per_point(inputs):
    """Several marker factors: the original's second loop takes the last point's factors, a cell's matrix is the
    size of its last point's (an IndexError where it is smaller), its keys divide by the largest factor."""
    assert_equal("hd_group", *inputs)


@PROPERTY
@given(hd_inputs(mixed=False, gaps=True) | hd_inputs(mixed=True, gaps=True))
def test_hd_group_equals_plotexts_with_gaps_and_floats(inputs):
    assert_equal("hd_group", *inputs)


def test_hd_group_codes_are_plotexts_marker_codes():
    """Every dot pattern the fast path makes is a key of plotext's code tables, for braille, hd and fhd."""
    for (xf, yf), table in (((2, 4), ut.braille_codes), ((2, 2), ut.hd_codes), ((2, 3), ut.fhd_codes)):
        x = [i % xf for i in range(xf * yf)]
        y = [i // xf for i in range(xf * yf)]
        for mask in range(1 << (xf * yf)):
            points = [i for i in range(xf * yf) if mask >> i & 1] or [0]
            args = ([x[i] for i in points], [y[i] for i in points], [xf] * len(points), [yf] * len(points))
            assert_equal("hd_group", *args)
            assert plotext_fast.hd_group(*args)[2][0] in table


# --- the fast paths are the ones taken ----------------------------------------------------------------------------

def test_canvas_ints_never_reach_plotexts_code(monkeypatch):
    """The equality tests above would pass trivially if every call fell back to the originals."""
    def refuse(*args):
        raise AssertionError("fell back to plotext's code")

    for name in plotext_fast.NAMES:
        monkeypatch.setitem(plotext_fast.ORIGINALS, name, refuse)
    x, y, other = [0, 3, 9, 9], [5, 0, 7, 7], (["hd"] * 4, ["red"] * 4, ["default"] * 4)
    plotext_fast.join([[1, 2], [3]])
    plotext_fast.get_lines(x, y, *other)
    plotext_fast.fill_data(x, y, 0, *other)
    plotext_fast.hd_group(x, y, [2] * 4, [4] * 4)


# --- install ------------------------------------------------------------------------------------------------------

def test_install_is_active_for_the_verified_plotext():
    """chart.py installed it at import; a plotext upgrade makes this fail until the equality is verified again."""
    assert plotext_fast.plotext_version() == plotext_fast.VERIFIED_PLOTEXT
    assert plotext_fast.installed()
    assert plotext_fast.install() and plotext_fast.installed()  # idempotent
    assert all(getattr(ut, name) is plotext_fast.FAST[name] for name in plotext_fast.NAMES)


def test_install_does_nothing_for_another_plotext(monkeypatch):
    for name in plotext_fast.NAMES:
        monkeypatch.setattr(ut, name, plotext_fast.ORIGINALS[name])
    monkeypatch.setattr(plotext_fast, "VERIFIED", False)
    assert plotext_fast.install() is False
    assert not plotext_fast.installed()
    assert all(getattr(ut, name) is plotext_fast.ORIGINALS[name] for name in plotext_fast.NAMES)


# --- the chart ----------------------------------------------------------------------------------------------------

def small_view() -> ChartView:
    """Few points (long line segments between them) and a few markers, two of them labelled."""
    t_s = (0.0, 1.5, 2.0, 7.0, 9.5)
    rss = tuple(v * MiB for v in (10, 40, 12, 35, 30))
    lazyfree = tuple(v * MiB for v in (0, 8, 2, 9, 1))
    markers = (Marker(1.0, "w", "gc", "gc"), Marker(2.0, "w", "mode", "MADV_FREE"),
               Marker(7.5, "w", "pressure", "some"))
    return ChartView("w", t_s, (("rss", rss), ("inuse", rss), ("lazyfree", lazyfree)), markers)


def cells(strips) -> list[list[tuple[str, object]]]:
    return [[(char, segment.style) for segment in strip for char in segment.text] for strip in strips]


@pytest.mark.parametrize("view, size", [(churn_view(), (158, 17)), (churn_view(), (158, 30)),
                                        (small_view(), (80, 14)), (small_view(), (40, 8))])
def test_the_chart_draws_the_same_cells_with_and_without_install(view, size, monkeypatch):
    asyncio.run(_chart_cells_both_ways(view, size, monkeypatch))


async def _chart_cells_both_ways(view, size, monkeypatch):
    from textual.app import App, ComposeResult

    from tui.widgets.chart import MemoryChart

    class ChartApp(App):
        def compose(self) -> ComposeResult:
            yield MemoryChart(id="chart")

    app = ChartApp()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        chart = app.query_one(MemoryChart)
        assert tuple(chart.size) == size
        chart.draw(view)
        assert plotext_fast.installed()
        fast = cells(chart.matrix_strips(chart.build_matrix()))
        with monkeypatch.context() as patch:
            for name in plotext_fast.NAMES:
                patch.setattr(ut, name, plotext_fast.ORIGINALS[name])
            assert not plotext_fast.installed()
            original = cells(chart.matrix_strips(chart.build_matrix()))
    assert fast == original
    text = "".join(char for line in fast for char, _ in line)
    assert any("\u2800" < char <= "\u28ff" for char in text), "braille dots drawn"
    assert any(char in "▖▗▘▝▚▞▌▐▄▀▙▛▜▟█" for char in text), "hd dots (the filled LazyFree) drawn"
    assert len({style for line in fast for _, style in line}) > 4, "several colours compared"
