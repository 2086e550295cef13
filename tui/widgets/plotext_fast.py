"""Value-for-value equal, faster replacements for plotext's hottest pure-Python helpers; install() swaps them in."""

from __future__ import annotations

import types
from collections.abc import Callable
from itertools import chain, repeat
from typing import Any

import plotext
import plotext._utility as ut

# The replacements were proven equal to the bodies of these functions in exactly this release (tests compare them on
# generated inputs). Another release may have changed a body, a quirk or a caller: install() then does nothing and
# plotext stays as it is, slower but right, until the equality is verified again against that release.
VERIFIED_PLOTEXT = "5.3.2"
NAMES = ("join", "get_lines", "fill_data", "hd_group")

# Canvas coordinates are small ints. Below this bound an int's float is exact, so x0 + i * 1.0 is the int x0 + i and
# math.isnan(int), which plotext's numerical() calls, cannot overflow; anything else goes to plotext's own code.
_EXACT_INT = 1 << 50
_INT_ONLY = frozenset((int,))
_SEQUENCES = (list, tuple)


def plotext_version() -> str | None:
    """The installed plotext's version string (plotext.__version__)."""
    return getattr(plotext, "__version__", None)


def _snapshot() -> dict[str, Callable[..., Any]]:
    """plotext's own functions, each of _utility's functions rebound to a copy of its namespace.

    Inside _utility they call each other through its globals (join recurses through `join`, get_lines calls
    `get_line` and that `join`): in a frozen copy they stay entirely plotext's code after install(), for the
    fallbacks below and for the tests that compare against them.
    """
    namespace = dict(vars(ut))
    for name, value in namespace.items():
        if isinstance(value, types.FunctionType) and value.__globals__ is vars(ut):
            copy = types.FunctionType(value.__code__, namespace, value.__name__, value.__defaults__, value.__closure__)
            copy.__kwdefaults__ = value.__kwdefaults__
            namespace[name] = copy
    return {name: namespace[name] for name in NAMES}


def _pristine() -> bool:
    """_utility still holds plotext's own functions (not ours, say after a reload of this module)."""
    return all(getattr(getattr(ut, name), "__globals__", None) is vars(ut) for name in NAMES)


VERIFIED = plotext_version() == VERIFIED_PLOTEXT and _pristine()
ORIGINALS: dict[str, Callable[..., Any]] = _snapshot() if VERIFIED else {}


def join(data: Any) -> list[Any]:
    """ut.join: flattens nested lists (exactly type list: tuples and strings stay elements) into a new list.

    plotext's build calls it per canvas column on the tick lists (`i in ut.join(vticks)` in its axis lambdas): a
    list without nested lists is copied at C speed instead of element by element.
    """
    rows = data if type(data) is list else list(data)  # iterated once, as the original's comprehension does
    # `in` compares with ==, as the original's `type(row) == list`
    if list not in map(type, rows):
        return rows[:] if rows is data else rows
    flat: list[Any] = []
    for row in rows:
        if type(row) == list:  # the original's test, kept
            flat += join(row)
        else:
            flat.append(row)
    return flat


def _ints(values: Any) -> bool:
    """A non-empty list of exact ints (not bools) whose floats are exact."""
    return (type(values) is list and len(values) > 0 and _INT_ONLY.issuperset(map(type, values))
            and -_EXACT_INT < min(values) and max(values) < _EXACT_INT)


def _steps(v0: int, dv: int, k: int) -> Any:
    """The first k of [int(el) for el in linspace(v0, v0 + dv, k + 1)] (k >= 1, |dv| <= k, exact ints).

    linspace gives v0 + i * (dv / k): a slope of ±1.0 or 0.0 adds exactly, so those are ranges and repeats; any
    other slope is computed as linspace computes it.
    """
    if dv == k:
        return range(v0, v0 + k)
    if dv == -k:
        return range(v0, v0 - k, -1)
    if dv == 0:
        return repeat(v0, k)
    slope = dv / k
    return [int(v0 + i * slope) for i in range(k)]


def get_lines(x: Any, y: Any, *other: Any) -> Any:
    """ut.get_lines: every segment's points but its last, then the last point; `other` (markers, colours, styles)
    repeated for each point a segment adds.

    The segments are computed inline (no get_line call, join, all_numerical, linspace per segment) when the points
    are plain ints, as get_matrix_data gives them; None or NaN points (gaps) go to plotext's own code.
    """
    n = len(x) if type(x) is list else 0
    if not (n and _ints(x) and _ints(y) and len(y) == n and other
            and all(type(column) in _SEQUENCES and len(column) == n for column in other)):
        return ORIGINALS["get_lines"](x, y, *other)
    xl: list[int] = []
    yl: list[int] = []
    counts: list[int] = []  # points segment i adds: its other[.][i] is repeated that often
    x0, y0 = x[0], y[0]
    for x1, y1 in zip(x[1:], y[1:]):
        dx, dy = x1 - x0, y1 - y0
        k = max(abs(dx), abs(dy))
        if k:
            xl += _steps(x0, dx, k)
            yl += _steps(y0, dy, k)
        counts.append(k)
        x0, y0 = x1, y1
    xl.append(x[-1])
    yl.append(y[-1])
    # the original's transpose(ol): each column's values, each once per point added, and its value at the last point
    columns = [[*chain.from_iterable(map(repeat, column, counts)), column[-1]] for column in other]
    return [xl, yl, *columns]


def fill_data(x: Any, y: Any, y0: Any, *other: Any) -> Any:
    """ut.fill_data: each distinct point with the column of points down (or up) to level y0, `other` repeated.

    The original finds repeated points by a list search (quadratic in the points); a set of the same pairs gives the
    same answer for ints. Other inputs (a string level: boundaries; None or NaN points) go to plotext's own code.
    """
    n = len(x) if type(x) is list else 0
    if not (n and _ints(x) and _ints(y) and len(y) == n and type(y0) is int and -_EXACT_INT < y0 < _EXACT_INT
            and other and all(type(column) in _SEQUENCES and len(column) == n for column in other)):
        return ORIGINALS["fill_data"](x, y, y0, *other)
    xf: list[int] = []
    yf: list[int] = []
    counts: list[int] = []  # points point i adds: its other[.][i] is repeated that often
    seen: set[tuple[int, int]] = set()
    for xi, yi in zip(x, y):
        if (xi, yi) in seen:
            counts.append(0)
            continue
        seen.add((xi, yi))
        if y0 < yi:
            yf += range(y0, yi + 1)
            k = yi + 1 - y0
        elif y0 > yi:
            yf += range(yi, y0)
            k = y0 - yi
        else:
            yf.append(y0)
            k = 1
        xf += repeat(xi, k)
        counts.append(k)
    return [xf, yf, *[list(chain.from_iterable(map(repeat, column, counts))) for column in other]]


# hd_group's marker codes: the tuple for each set of dots of an xf × yf cell, by bit mask (bit yk * xf + xk)
_CODES: dict[tuple[int, int], list[tuple[int, ...]]] = {}


def _codes(xf: int, yf: int) -> list[tuple[int, ...]]:
    """As the original builds them: rows from the top (yk = yf - 1) down, each row left to right, dots 1 and 0."""
    codes = _CODES.get((xf, yf))
    if codes is None:
        order = [yk * xf + xk for yk in range(yf - 1, -1, -1) for xk in range(xf)]
        codes = _CODES[(xf, yf)] = [tuple((mask >> bit) & 1 for bit in order) for mask in range(1 << (xf * yf))]
    return codes


def hd_group(x: Any, y: Any, xf: Any, yf: Any) -> Any:
    """ut.hd_group: the HD/braille cells the points fall in (first-seen order) and each cell's dot pattern.

    The fast path takes one marker factor for all points (one marker per signal, as plotext's plot() sets it); then
    the original's quirks are moot (its second loop uses the last point's factors, and a repeated cell's matrix is
    reset to that point's size) and a cell's pattern is the OR of its points' dots. Anything else (several factors,
    None or NaN points) goes to plotext's own code.
    """
    n = len(x) if type(x) is list else 0
    if not (n and _ints(x) and _ints(y) and _ints(xf) and _ints(yf) and len(y) == len(xf) == len(yf) == n):
        return ORIGINALS["hd_group"](x, y, xf, yf)
    xfi, yfi = xf[0], yf[0]
    if not (0 < xfi and 0 < yfi and xfi * yfi <= 8 and xf.count(xfi) == n and yf.count(yfi) == n):
        return ORIGINALS["hd_group"](x, y, xf, yf)
    masks: dict[tuple[int, int], int] = {}
    get = masks.get
    for xv, yv in zip(x, y):
        cell = xv // xfi, yv // yfi
        masks[cell] = get(cell, 0) | 1 << (yv % yfi * xfi + xv % xfi)
    codes = _codes(xfi, yfi)
    return [cell[0] for cell in masks], [cell[1] for cell in masks], [codes[mask] for mask in masks.values()]


FAST: dict[str, Callable[..., Any]] = {"join": join, "get_lines": get_lines, "fill_data": fill_data,
                                       "hd_group": hd_group}


def install() -> bool:
    """Replace plotext._utility's functions by these (idempotent); False, and nothing replaced, for another plotext.

    Module attributes are enough: plotext's modules call them as `ut.join` and _utility through its globals.
    """
    if not VERIFIED:
        return False
    for name, function in FAST.items():
        setattr(ut, name, function)
    return True


def installed() -> bool:
    """Whether plotext runs these functions now."""
    return all(getattr(ut, name) is function for name, function in FAST.items())
