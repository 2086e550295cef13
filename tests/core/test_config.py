"""Config validation: every error is one line naming file:line: field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tui.core.config import CONFIG_REFERENCE, TOP_KEYS, WORKLOAD_KEYS, PRESSURE_KEYS, STEP_KEYS, load_config, parse_config
from tui.core.errors import ConfigError, UsageError

ROOT = Path(__file__).resolve().parents[2]
GiB = 1 << 30
BASE = """\
sample_interval: 100ms
workloads:
  - name: free
    size: 64MiB
    count: 1
  - name: dontneed
    madvise: MADV_DONTNEED
    size: 64MiB
    count: 1
"""


def error_of(text: str, mem_available_bytes: int = 16 * GiB) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml", mem_available_bytes=mem_available_bytes)
    message = str(info.value)
    assert "\n" not in message
    assert isinstance(info.value, UsageError)
    return message


def test_base_config_parses():
    config = parse_config(BASE, "c.yaml", mem_available_bytes=16 * GiB)
    assert config.names == ("free", "dontneed")
    assert config.workloads[1].options["madvise"] == "MADV_DONTNEED"
    assert config.workloads[0].max_heap_bytes == 64 << 20
    assert config.budget_bytes == 8 * GiB
    assert config.history_samples == 6000


def test_default_configs_are_identical_and_valid():
    assert (ROOT / "config.yaml").read_text() == (ROOT / "tui" / "default_config.yaml").read_text()
    config = load_config(str(ROOT / "config.yaml"), mem_available_bytes=16 * GiB)
    assert [w.options["madvise"] for w in config.workloads] == ["MADV_FREE", "MADV_DONTNEED"]
    a, b = (dict(w.options) for w in config.workloads)
    a.pop("madvise"), b.pop("madvise")
    assert a == b  # identical apart from the mode
    assert a["size"] == 256 << 20 and a["count"] == 2


def test_packaged_default_used_without_local_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(None, mem_available_bytes=16 * GiB)
    assert config.path == "default_config.yaml"
    (tmp_path / "config.yaml").write_text(BASE)
    assert load_config(None, mem_available_bytes=16 * GiB).path == "config.yaml"


@pytest.mark.parametrize("text, where, expect", [
    ("sample_interval: fast\n" + BASE.split("\n", 1)[1], "c.yaml:1: sample_interval:", "expected a duration"),
    (BASE + "trace_lines: many\n", "c.yaml:10: trace_lines:", "expected a whole number"),
    (BASE.replace("size: 64MiB\n    count: 1\n  - name: d", "size: 64 bananas\n    count: 1\n  - name: d"),
     "c.yaml:4: workloads.free.size:", "expected a size"),
    (BASE.replace("count: 1", "count: [1]", 1), "c.yaml:5: workloads.free.count:", "expected a single value"),
    (BASE.replace("count: 1", "count: two", 1), "c.yaml:5: workloads.free.count:", "expected a whole number"),
    (BASE + "alloc_bytes: 12 parsecs\n", "c.yaml:10: alloc_bytes:", "expected a size"),
    (BASE.replace("MADV_DONTNEED", "MADV_SOMETIMES"), "c.yaml:7: workloads.dontneed.madvise:", "expected one of"),
    (BASE + "pressure:\n  margin: lots\n", "c.yaml:11: pressure.margin:", "expected a size"),
    (BASE + "workloads: []\n", "c.yaml:10: workloads:", "key given twice"),
    ("workloads: 3\n", "c.yaml:1: workloads:", "expected a list"),
])
def test_wrong_types_and_units(text, where, expect):
    message = error_of(text)
    assert message.startswith(where), message
    assert expect in message


def test_unknown_keys_suggest():
    message = error_of(BASE + "sample_intervall: 1s\n")
    assert message.startswith("c.yaml:10: sample_intervall: unknown key; did you mean `sample_interval`?")
    message = error_of(BASE.replace("count: 1", "cuont: 1", 1))
    assert message.startswith("c.yaml:5: workloads[0].cuont: unknown key; did you mean `count`?"), message
    message = error_of(BASE + "pressure: {stepp: 1MiB}\n")
    assert "pressure.stepp: unknown key; did you mean `step`?" in message


def test_duplicate_and_bad_names():
    assert error_of(BASE.replace("dontneed", "free")).startswith("c.yaml:6: workloads[1].name: expected a unique name")
    assert error_of(BASE.replace("name: free", "name: Free!")).startswith("c.yaml:3: workloads[0].name:")


def test_over_budget_names_the_numbers():
    text = BASE.replace("64MiB", "512MiB")
    message = error_of(text, mem_available_bytes=1 * GiB)
    assert message.startswith("c.yaml:2: workloads: workloads need up to 1152 MiB"), message
    assert "above the budget of 512 MiB (50% of MemAvailable 1024 MiB)" in message
    assert "raise `budget`" in message
    parse_config(text + "budget: 2GiB\n", "c.yaml", mem_available_bytes=1 * GiB)  # a size budget lifts it
    assert error_of(text + "budget: 150%\n").startswith("c.yaml:10: budget: expected a percentage")


def test_gc_off_with_a_dropping_pattern_is_refused_by_name():
    text = BASE.replace("    count: 1\n  - name: dontneed", "    count: 1\n    pattern: sawtooth\n    gogc: -1\n  - name: dontneed")
    message = error_of(text)
    assert message.startswith("c.yaml:3: workloads.free.gogc: gogc -1 turns the GC off"), message
    assert "pattern sawtooth would grow without bound" in message


def test_go_kind_subset():
    text = BASE.replace("  - name: dontneed\n", "  - name: dontneed\n    kind: go\n    scavenger: eager\n")
    assert error_of(text).startswith("c.yaml:8: workloads.dontneed.scavenger: not available for kind go")
    text = BASE.replace("  - name: dontneed\n", "  - name: dontneed\n    kind: go\n").replace(
        "MADV_DONTNEED", "MADV_COLD")
    assert error_of(text).startswith("c.yaml:8: workloads.dontneed.madvise: expected MADV_FREE or MADV_DONTNEED")
    # python-only defaults do not reach a go workload
    text = "defaults: {scavenger: eager}\n" + BASE.replace("  - name: dontneed\n", "  - name: dontneed\n    kind: go\n")
    config = parse_config(text, "c.yaml", mem_available_bytes=16 * GiB)
    assert config.workloads[0].options["scavenger"] == "eager"
    assert config.workloads[1].kind == "go" and config.workloads[1].options["scavenger"] == "go1.12"


@pytest.mark.parametrize("step, where, expect", [
    ("{at: soon, do: gc, workload: free}", "timeline[0].at:", "expected a duration"),
    ("{at: 1s, do: gcc, workload: free}", "timeline[0].do:", "did you mean `gc`"),
    ("{at: 1s, do: gc, workload: nope}", "timeline[0].workload:", "expected one of free, dontneed, all"),
    ("{at: 1s, do: set_madvise, workload: all}", "timeline[0].value:", "expected a madvise mode"),
    ("{at: 1s, do: set_madvise, workload: all, value: MADV_LATER}", "timeline[0].value:", "expected one of"),
    ("{at: 1s, do: alloc, workload: free, value: big}", "timeline[0].value:", "expected a size"),
    ("{at: 1s, do: gc, workload: free, value: 3}", "timeline[0].value:", "expected no value"),
    ("{at: 1s, do: gc}", "timeline[0].workload:", "expected a value"),
    ("{at: 1s, do: gc, workload: free, when: now}", "timeline[0].when:", "unknown key"),
])
def test_bad_timeline(step, where, expect):
    message = error_of(BASE + "timeline:\n  - " + step + "\n")
    assert message.startswith("c.yaml:11: " + where), message
    assert expect in message


def test_timeline_parses_sorted():
    text = BASE + "timeline:\n  - {at: 20s, do: alloc, workload: free}\n  - {at: 5s, do: set_madvise, workload: all, value: madv_free}\n"
    config = parse_config(text, "c.yaml", mem_available_bytes=16 * GiB)
    assert [(s.at_s, s.do, s.workload, s.value) for s in config.timeline] == [
        (5.0, "set_madvise", "all", "MADV_FREE"), (20.0, "alloc", "free", None)]


def test_yaml_syntax_error_is_one_line():
    message = error_of("workloads:\n  - name: [free\n")
    assert re.match(r"c\.yaml:\d+: yaml: ", message), message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="expected a readable config file, got no such file"):
        load_config(str(tmp_path / "nope.yaml"))


def test_reference_covers_every_key():
    keys = {row[0] for row in CONFIG_REFERENCE}
    expected = {k for k in TOP_KEYS if k not in ("pressure", "workloads", "timeline")}
    expected |= {f"pressure.{k}" for k in PRESSURE_KEYS}
    expected |= {f"workloads[].{k}" for k in WORKLOAD_KEYS}
    expected |= {f"timeline[].{k}" for k in STEP_KEYS}
    assert expected == keys
    assert all(meaning for _, _, meaning in CONFIG_REFERENCE)
    text = (ROOT / "config.yaml").read_text()
    for key in TOP_KEYS + PRESSURE_KEYS:
        assert re.search(rf"^\s*{key}:.*#", text, re.M), f"config.yaml has no commented {key}"


def test_workload_argv_round_trips_through_the_workload_cli():
    """The flags the supervisor passes parse back, in the workload, to exactly the config's options."""
    from workloads.cli import parse_options

    repo = Path(__file__).resolve().parents[2]
    odd = BASE.replace("size: 64MiB", "size: 1234567") + "    interval: 1.2345678s\n    forced_gc_period: 2.5m\n"
    configs = [load_config(str(repo / "config.yaml"), mem_available_bytes=1 << 40),
               parse_config(odd, "odd.yaml", mem_available_bytes=1 << 40)]
    for config in configs:
        for workload in config.workloads:
            argv = workload.argv()
            assert parse_options(argv) == dict(workload.options), argv
            assert "--madvise" in argv and "--pattern" in argv  # visible in `ps` and `top`
