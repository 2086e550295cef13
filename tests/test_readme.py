"""The README documents the user-facing names: every config key, every dashboard key, the CSV columns."""

from __future__ import annotations

import re
from pathlib import Path

from tui.core.config import CONFIG_REFERENCE
from tui.core.record.format import CSV_COLUMNS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_config_key_is_in_the_reference_table():
    missing = [key for key, _default, _meaning in CONFIG_REFERENCE if f"| `{key}` |" not in README]
    assert not missing, f"README's configuration table lacks {missing}"


def test_every_dashboard_key_is_in_the_key_table():
    from tui.app import MadviseLabApp

    keys_table = README.split("## Keys", 1)[1].split("\n## ", 1)[0]
    shown = set(re.findall(r"`([^`]+)`", keys_table))
    names = {"question_mark": "?"}
    missing = [names.get(b.key, b.key) for b in MadviseLabApp.BINDINGS if names.get(b.key, b.key) not in shown]
    assert not missing, f"README's key table lacks {missing}"


def test_csv_columns_are_documented_in_order():
    assert ",".join(CSV_COLUMNS) in README


def test_the_test_command_is_the_one_ci_runs():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    command = "python3 -m pip install -e '.[test]' && python3 -m pytest -q"
    assert command in README and command in ci
