"""What this machine is: kernel release, page size, THP mode, swap and MemAvailable (for the header and budget)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import psutil

_THP_PATH = "/sys/kernel/mm/transparent_hugepage/enabled"


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """Facts about the machine, read once at start (mem_available_bytes is a snapshot)."""

    kernel_release: str
    page_size: int
    thp_mode: str  # always | madvise | never | unknown
    swap_total_bytes: int
    mem_available_bytes: int


def read_meminfo(path: str = "/proc/meminfo") -> dict[str, int]:
    """/proc/meminfo as {field: bytes}."""
    out: dict[str, int] = {}
    try:
        with open(path, encoding="ascii") as file:
            for line in file:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if parts:
                    factor = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
                    out[name] = int(parts[0]) * factor
    except OSError:
        pass
    return out


def read_mem_available_bytes() -> int:
    """MemAvailable (psutil's virtual_memory(): the kernel's own estimate where it has one)."""
    return int(psutil.virtual_memory().available)


def parse_thp_mode(text: str) -> str:
    """'always [madvise] never' -> 'madvise'."""
    match = re.search(r"\[(\w+)\]", text)
    return match.group(1) if match else "unknown"


def read_thp_mode(path: str = _THP_PATH) -> str:
    try:
        with open(path, encoding="ascii") as file:
            return parse_thp_mode(file.read())
    except OSError:
        return "unknown"


def read_system_info() -> SystemInfo:
    # system memory and swap from psutil; THP and the page size have no psutil figure
    return SystemInfo(
        kernel_release=os.uname().release,
        page_size=os.sysconf("SC_PAGE_SIZE"),
        thp_mode=read_thp_mode(),
        swap_total_bytes=int(psutil.swap_memory().total),
        mem_available_bytes=read_mem_available_bytes(),
    )
