"""The bench registry: every `python3 -m bench --only N` names a module and function that exist."""

from __future__ import annotations

import importlib

import pytest

from bench.__main__ import BENCHMARKS


@pytest.mark.parametrize("number", sorted(BENCHMARKS))
def test_every_benchmark_resolves_to_a_function(number: int) -> None:
    target, name = BENCHMARKS[number]
    module_name, _, function = target.partition(":")
    assert name
    assert callable(getattr(importlib.import_module(module_name), function or "run"))


def test_flood_config_loads_as_go_workloads(tmp_path) -> None:
    from bench.trace_flood import WORKLOADS, flood_config
    from tui.core.config import load_config

    path = tmp_path / "flood.yaml"
    path.write_text(flood_config())
    config = load_config(str(path))
    assert [w.kind for w in config.workloads] == ["go"] * WORKLOADS
    assert {w.options["gogc"] for w in config.workloads} == {0}


def test_flood_reads_the_runtime_stamp_and_cycle_of_a_gctrace_line() -> None:
    from bench.trace_flood import _GC_LINE

    # printed by go1.x with GODEBUG=gctrace=1 (this machine's toolchain)
    line = ("gc 348 @9.973s 0%: 0.053+0.13+0.003 ms clock, 0.10+0.054/0.0/0.1+0.006 ms cpu, 64->64->64 MB, "
            "64 MB goal, 0 MB stacks, 0 MB globals, 1 P")
    match = _GC_LINE.match(line)
    assert match is not None
    assert (int(match.group(1)), float(match.group(2))) == (348, 9.973)
    assert sum(float(match.group(i)) for i in (3, 4, 5)) == pytest.approx(0.186)
    assert _GC_LINE.match("scav 0 KiB work (bg), 0 KiB work (eager), 3176 KiB now, 88% util") is None
