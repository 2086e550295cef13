"""`madvise-lab check`: what this machine allows — kernel, pages, THP, swap, madvise flags, LazyFree, cgroups, Go."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from workloads.allocators import NATIVE_KINDS

SMAPS_ROLLUP = "/proc/self/smaps_rollup"


def _lazyfree_reported(path: str = SMAPS_ROLLUP) -> tuple[bool, str]:
    try:
        with open(path, encoding="ascii") as file:
            text = file.read()
    except OSError as exc:
        return False, f"cannot read {path}: {exc.strerror}"
    if "LazyFree:" in text:
        return True, f"{path} reports LazyFree"
    return False, f"{path} has no LazyFree line: MADV_FREE'd pages cannot be told apart from used ones"


def _cgroup(root: str) -> dict[str, Any]:
    try:
        from tui.core.kernel.cgroups import CgroupManager
    except ImportError as exc:  # the cgroup module is optional for check: say so rather than fail
        return {"available": False, "mode": "none", "version": None, "root": None,
                "detail": f"cgroup support missing: {exc}"}
    manager = CgroupManager(root)
    return {
        "available": manager.available,
        "mode": manager.mode,  # v1, v2 (as root), delegated (v2, a subtree of our own) or none
        "version": manager.version,
        "root": manager.root,
        "detail": manager.describe(),
    }


def _allocator(kind: str) -> dict[str, Any]:
    """One native allocator: found (path, version, modes) or what to install; a load failure is one line."""
    import subprocess

    from workloads.allocator_env import AllocatorUnavailable, environment, find_library, modes

    library = find_library(kind)
    path = library.path if library is not None else ("libc.so.6" if kind == "glibc" else None)
    entry: dict[str, Any] = {"available": False, "path": path, "version": None, "modes": list(modes(kind, library))}
    try:
        env = environment(kind, {"madvise": "MADV_DONTNEED"})
    except AllocatorUnavailable as exc:
        entry["detail"] = str(exc)
        return entry
    try:  # loaded the way a workload loads it: a fresh process with LD_PRELOAD, so a broken library cannot hurt us
        done = subprocess.run([sys.executable, "-m", "workloads.allocators", kind], env=env, capture_output=True,
                              text=True, timeout=20, check=False)
        answer = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        answer = {"error": f"{kind}: probe failed: {exc}"}
    if "version" not in answer:
        entry["detail"] = answer.get("error") or f"{kind}: probe printed nothing ({(done.stderr or '').strip()[:120]})"
        return entry
    entry.update(available=True, version=answer["version"],
                 detail=f"{kind} {answer['version']} at {path}; releases with {' or '.join(entry['modes'])}")
    return entry


def _go() -> dict[str, Any]:
    try:
        from tui.core.golang.toolchain import find_go
    except ImportError as exc:
        return {"available": False, "path": None, "detail": f"Go support missing: {exc}"}
    try:
        found = find_go()
    except Exception as exc:  # noqa: BLE001 - a broken toolchain is a finding, not a crash
        return {"available": False, "path": None, "detail": f"Go toolchain check failed: {exc}"}
    if not found:
        return {"available": False, "path": None, "detail": "no Go toolchain found (kind: go workloads cannot run)"}
    path = getattr(found, "path", found)
    version = getattr(found, "version", None)
    detail = f"Go toolchain at {path}" + (f" ({version})" if version else "")
    return {"available": True, "path": str(path), "version": version, "detail": detail}


def gather(cgroup_root: str = "auto") -> dict[str, Any]:
    """Every finding, as plain data (the --json output)."""
    problems: list[str] = []
    if not os.path.isdir("/proc/self"):
        problems.append("no /proc: the dashboard reads every figure from /proc/PID/smaps_rollup")
    from tui.core.kernel.system import read_system_info
    from workloads.madvise import probe_all

    info = read_system_info()
    lazyfree_ok, lazyfree_detail = _lazyfree_reported()
    if not os.path.exists(SMAPS_ROLLUP):
        problems.append(f"no {SMAPS_ROLLUP} (Linux 4.14 or later needed)")
    flags = {mode: {"accepted": ok, "detail": detail} for mode, (ok, detail) in probe_all().items()}
    if not any(entry["accepted"] for mode, entry in flags.items() if mode.startswith("MADV_")):
        problems.append("the kernel refuses every madvise flag")
    return {
        "can_run": not problems,
        "problems": problems,
        "kernel_release": info.kernel_release,
        "page_size": info.page_size,
        "thp_mode": info.thp_mode,
        "swap_total_bytes": info.swap_total_bytes,
        "mem_available_bytes": info.mem_available_bytes,
        "madvise": flags,
        "lazyfree": {"reported": lazyfree_ok, "detail": lazyfree_detail},
        "cgroup": _cgroup(cgroup_root),
        "go": _go(),
        "allocators": {kind: _allocator(kind) for kind in NATIVE_KINDS},
    }


def _yes(ok: bool) -> str:
    return "yes" if ok else "no "


def format_report(found: dict[str, Any]) -> str:
    mib = 1 << 20
    swap = f"{found['swap_total_bytes'] / mib:.0f} MiB" if found["swap_total_bytes"] else "none"
    lines = [
        f"kernel        {found['kernel_release']}",
        f"page size     {found['page_size']} bytes",
        f"THP           {found['thp_mode']}",
        f"swap          {swap}" + ("" if found["swap_total_bytes"] else " (MADV_COLD/MADV_PAGEOUT leave RSS unchanged)"),
        f"available     {found['mem_available_bytes'] / mib:.0f} MiB",
        "madvise flags (probed on a fresh private anonymous mapping):",
    ]
    for mode, entry in found["madvise"].items():
        verdict = "accepted" if entry["accepted"] else "REFUSED "
        lines.append(f"  {mode:<14} {verdict}  {entry['detail']}")
    lines.append(f"LazyFree      {_yes(found['lazyfree']['reported'])}  {found['lazyfree']['detail']}")
    lines.append(f"pressure      {_yes(found['cgroup']['available'])}  {found['cgroup']['detail']}")
    lines.append(f"Go            {_yes(found['go']['available'])}  {found['go']['detail']}")
    for kind, entry in found.get("allocators", {}).items():
        lines.append(f"{kind:<13} {_yes(entry['available'])}  {entry['detail']}")
    if found["can_run"]:
        lines.append("verdict       the dashboard can run here")
    else:
        lines.append("verdict       the dashboard cannot run here: " + "; ".join(found["problems"]))
    return "\n".join(lines)


def _cgroup_root_from(args: Any) -> str:
    """The config's pressure.cgroup_root when a config is given or present, else auto."""
    path = getattr(args, "config", None)
    if not path:
        return "auto"
    from tui.core.config import load_config  # a bad config is a usage error (exit 2), said in one line

    return load_config(path).pressure.cgroup_root


def check_main(args: Any) -> int:
    found = gather(_cgroup_root_from(args))
    if getattr(args, "json", False):
        print(json.dumps(found, indent=2))
    else:
        print(format_report(found))
    if not found["can_run"]:
        print("madvise-lab: cannot run: " + "; ".join(found["problems"]), file=sys.stderr)
        return 1
    return 0
