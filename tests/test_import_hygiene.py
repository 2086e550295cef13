"""The core (everything but widgets and app) and the workloads import no Textual; workloads import only the stdlib."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> list[str]:
    """Every module of `package`, sub-packages included (but not __main__)."""
    path = ROOT.joinpath(*package.split("."))
    found = []
    for info in pkgutil.iter_modules([str(path)]):
        if info.name == "__main__":
            continue
        name = f"{package}.{info.name}"
        found.append(name)
        if info.ispkg:
            found.extend(_modules(name))
    return found


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
    assert {"tui.core.sources.live", "tui.core.kernel.sampler", "tui.core.record.recorder",
            "tui.core.golang.trace", "tui.core.config"} <= set(modules)
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


def _loaded_by(modules: list[str]) -> set[str]:
    return set(_import_in_subprocess(modules)) - set(_import_in_subprocess([]))


def test_sources_never_import_widgets_or_the_app():
    loaded = _loaded_by(_modules("tui.core.sources"))
    assert not [name for name in loaded if name.startswith(("tui.widgets", "tui.app", "tui.watch", "textual"))]


def test_kernel_never_imports_sources():
    loaded = _loaded_by(_modules("tui.core.kernel"))
    assert not [name for name in loaded if name.startswith("tui.core.sources")]


def test_replay_imports_no_live_machinery():
    loaded = _loaded_by(["tui.core.sources.replay"])
    live = ("tui.core.sources.live", "tui.core.sources.supervisor", "tui.core.kernel.sampler",
            "tui.core.kernel.cgroups", "tui.core.kernel.pressure")
    assert not [name for name in loaded if name.startswith(live)]
