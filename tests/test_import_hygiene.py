"""The core (everything but widgets and app) and the workloads import no Textual; workloads import only the stdlib."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> list[str]:
    path = ROOT.joinpath(*package.split("."))
    return [f"{package}.{info.name}" for info in pkgutil.iter_modules([str(path)]) if info.name != "__main__"]


def _import_in_subprocess(modules: list[str]) -> dict:
    code = (
        "import json, sys\n"
        f"for name in {modules!r}:\n"
        "    __import__(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_core_and_workloads_import_no_textual():
    modules = ["tui", "tui.core", *_modules("tui.core"), "workloads", *_modules("workloads"), "tui.cli"]
    assert "tui.core.lab" in modules and "tui.core.config" in modules
    loaded = _import_in_subprocess(modules)
    assert not [name for name in loaded if name == "textual" or name.startswith("textual.")]
    assert not [name for name in loaded if name.startswith(("plotext", "textual_plotext"))]


def test_workloads_import_only_the_standard_library():
    modules = ["workloads", *_modules("workloads")]
    loaded = set(_import_in_subprocess(modules)) - set(_import_in_subprocess([]))  # minus what site hooks load
    third_party = {name.split(".")[0] for name in loaded} - set(sys.stdlib_module_names) - {"workloads"}
    assert not third_party, third_party


def test_tui_init_is_empty():
    text = (ROOT / "tui" / "__init__.py").read_text()
    assert not [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith(("#", '"""'))]
