"""One table of stats fields: the Python and Go workloads send exactly it, the model and docs/protocol.md use it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from workload_support import Workload

from tui.core.model import HeapStats
from workloads import protocol

REPO = Path(__file__).resolve().parents[2]


def test_the_model_reads_stats_by_the_tables_names():
    assert {f.name for f in dataclasses.fields(HeapStats)} <= set(protocol.STATS_NAMES)
    assert all(name.endswith("_bytes") for name in protocol.STATS_NAMES if name.startswith("heap_"))


def test_docs_list_exactly_the_tables_fields():
    docs = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
    row = next(line for line in docs.splitlines() if line.startswith("| `stats` |"))
    assert re.findall(r"`([a-z_]+)` \(", row) == list(protocol.STATS_NAMES)


def test_the_go_program_sends_exactly_the_tables_fields():
    source = (REPO / "workloads" / "go" / "main.go").read_text(encoding="utf-8")
    block = source[source.index('"type": "stats"'):]
    block = block[:block.index("})")]
    assert re.findall(r'"([a-z_]+)":', block)[1:] == list(protocol.STATS_NAMES)  # [0] is "type"


@pytest.mark.slow
def test_the_python_workload_sends_exactly_the_tables_fields():
    workload = Workload("--pattern", "steady", "--size", "4MiB", "--arena-size", "4MiB")
    try:
        stats = workload.wait_for(lambda m: m["type"] == "stats")
        assert [key for key in stats if key not in ("type", "t")] == list(protocol.STATS_NAMES)
        assert protocol.decode_message(protocol.encode("stats", 1.0, **{k: stats[k] for k in protocol.STATS_NAMES}))
    finally:
        workload.close()


@pytest.mark.parametrize("line, expected", [
    ('{"type":"stats","t":1,"heap_inuse_bytes":-1}', "heap_inuse_bytes"),
    ('{"type":"stats","t":1}', "heap_inuse_bytes"),
    ('{"type":"nope","t":1}', '"type" must be one of'),
    ('{"type":"trace","t":1,"line":3,"kind":"gc"}', "trace:"),
    ('{"type":"hello","t":"x"}', '"t" must be seconds'),
    ('[1,2]', "expected a JSON object"),
    ('{"type":"event","t":1', "not JSON"),
])
def test_bad_messages_say_what_was_expected(line, expected):
    with pytest.raises(protocol.BadMessage, match=re.escape(expected)):
        protocol.decode_message(line)


@pytest.mark.parametrize("line, expected", [
    ('{"type":"error","t":1,"message":"x"} {}', "not JSON (Extra data)"),
    ('{"type":"error","t":1,"message":"x"}{}', "not JSON (Extra data)"),
    ('\ufeff{"type":"error","t":1,"message":"x"}', "not JSON (Unexpected UTF-8 BOM"),
    ('', "not JSON (Expecting value)"),
    ('{"type":"error","t":NaN,"message":"x"}', '"t" must be seconds'),
    ('{"type":"stats","t":1,"heap_inuse_bytes":true}', "heap_inuse_bytes"),
    ('{"type":["stats"],"t":1}', '"type" must be one of'),
    ('[' * 50_000, "not JSON"),
])
def test_the_decoder_refuses_what_json_loads_refuses_or_the_checks_do(line, expected):
    with pytest.raises(protocol.BadMessage, match=re.escape(expected)):
        protocol.decode_message(line)


def test_the_decoder_takes_what_json_loads_takes():
    line = '{"type":"error","t":1.5,"message":"caf\\u00e9 \\ud83d\\ude00","extra":[1,{"a":null}]}'
    import json

    assert protocol.decode_message(line) == json.loads(line)
    assert protocol.decode_message("  " + line + " \n") == json.loads(line)  # json.loads allows spaces around


def test_commands_round_trip():
    for cmd, args in [("gc", {}), ("alloc", {"bytes": 1 << 20}), ("set_madvise", {"value": "MADV_DONTNEED"})]:
        decoded = protocol.decode_command(protocol.encode_command(cmd, **args))
        assert (decoded.cmd, decoded.args) == (cmd, args)
    with pytest.raises(ValueError):
        protocol.encode_command("format_disk")
