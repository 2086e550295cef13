"""On-demand reads of one process: every mapping of /proc/PID/smaps, plus maps, status, exe, environ, task stacks.

smaps walks the page tables of every mapping (a few ms per resident GiB): it is read when someone asks for an
explanation, never at the sample rate. Files we may not read are reported by name, not raised, except smaps
itself, without which there is nothing to explain.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

from tui.core.units import KiB

# The figures kept per mapping (smaps reports them in kB); the rest of the fields are skipped.
FIELDS = ("Size", "Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Anonymous",
          "LazyFree", "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped", "Swap", "Locked")
_FIELD_INDEX = {name.encode(): i for i, name in enumerate(FIELDS)}
_HEX = frozenset(b"0123456789abcdef")

# A task list this long is read only in part: stack attribution then falls back to the guard-page rule.
MAX_TASKS = 4096


class ProcessGone(Exception):
    """The process does not exist (any more)."""


class ProcessUnreadable(Exception):
    """We may not read a file the explanation needs; the message names the file and the errno."""


@dataclass(frozen=True, slots=True)
class Mapping:
    """One VMA from smaps: its range, permissions, backing file or name, and its figures in bytes."""

    start: int
    end: int
    perms: str  # e.g. "rw-p"
    offset: int
    inode: int
    path: str  # a file path, "[heap]", "[stack]", "[anon:NAME]", "[vdso]", ... or "" for anonymous
    size_bytes: int = 0
    rss_bytes: int = 0
    pss_bytes: int = 0
    shared_clean_bytes: int = 0
    shared_dirty_bytes: int = 0
    private_clean_bytes: int = 0
    private_dirty_bytes: int = 0
    anon_bytes: int = 0
    lazyfree_bytes: int = 0
    anon_huge_bytes: int = 0
    shmem_pmd_bytes: int = 0
    file_pmd_bytes: int = 0
    swap_bytes: int = 0
    locked_bytes: int = 0
    vm_flags: str = ""

    @property
    def length_bytes(self) -> int:
        return self.end - self.start

    @property
    def shared(self) -> bool:
        return self.perms[3:4] == "s"

    @property
    def executable(self) -> bool:
        return self.perms[2:3] == "x"

    @property
    def anonymous(self) -> bool:
        """Not backed by a file (a bracketed name such as [heap] or [anon:x] counts as anonymous)."""
        return self.inode == 0 and (not self.path or self.path.startswith("["))

    @property
    def range_text(self) -> str:
        return f"{self.start:x}-{self.end:x}"


def _parse_header(line: bytes) -> tuple[int, int, str, int, int, str]:
    # "start-end perms offset dev inode   path" (the path may contain spaces; it is everything after the inode)
    parts = line.split(None, 5)
    start, _, end = parts[0].partition(b"-")
    path = parts[5].decode(errors="replace").rstrip("\n") if len(parts) > 5 else ""
    return int(start, 16), int(end, 16), parts[1].decode(), int(parts[2], 16), int(parts[4]), path


def parse_smaps(text: bytes) -> tuple[Mapping, ...]:
    """Every mapping of an smaps file with the FIELDS figures (bytes) and VmFlags."""
    mappings: list[Mapping] = []
    header: tuple[int, int, str, int, int, str] | None = None
    values = [0] * len(FIELDS)
    flags = ""
    index = _FIELD_INDEX
    for line in text.split(b"\n"):
        if not line:
            continue
        if line[0] in _HEX:  # field names start with an upper-case letter, headers with a lower-case hex digit
            if header is not None:
                mappings.append(Mapping(*header, *values, vm_flags=flags))  # type: ignore[misc, arg-type]
            header = _parse_header(line)
            values = [0] * len(FIELDS)
            flags = ""
            continue
        name, _, rest = line.partition(b":")
        slot = index.get(name)
        if slot is not None:
            values[slot] = int(rest.split()[0]) * KiB
        elif name == b"VmFlags":
            flags = rest.decode().strip()
    if header is not None:
        mappings.append(Mapping(*header, *values, vm_flags=flags))  # type: ignore[misc, arg-type]
    return tuple(mappings)


def parse_maps(text: bytes) -> tuple[Mapping, ...]:
    """The mappings of a maps file: ranges, permissions and paths only (no page walk, so no figures)."""
    return tuple(Mapping(*_parse_header(line)) for line in text.split(b"\n") if line)


def parse_status(text: bytes) -> dict[str, str]:
    """status as name → value text (e.g. State → "S (sleeping)", VmRSS → "1234 kB")."""
    fields: dict[str, str] = {}
    for line in text.decode(errors="replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name] = value.strip()
    return fields


def parse_environ(data: bytes) -> dict[str, str]:
    environ: dict[str, str] = {}
    for entry in data.split(b"\0"):
        name, sep, value = entry.partition(b"=")
        if sep and name:
            environ[name.decode(errors="replace")] = value.decode(errors="replace")
    return environ


def _proc(pid: int, name: str) -> str:
    return f"/proc/{pid}/{name}"


def _reason(error: OSError) -> str:
    return errno.errorcode.get(error.errno or 0, str(error.errno))


def read_smaps(pid: int) -> tuple[Mapping, ...]:
    """Every mapping with its figures. Raises ProcessGone or ProcessUnreadable (the message says which file)."""
    path = _proc(pid, "smaps")
    try:
        with open(path, "rb") as file:
            return parse_smaps(file.read())
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessGone(f"no process with pid {pid}") from None
    except PermissionError as error:
        raise ProcessUnreadable(f"may not read {path} ({_reason(error)})") from None
    except OSError as error:
        if error.errno == errno.ESRCH:
            raise ProcessGone(f"pid {pid} exited while being read") from None
        raise ProcessUnreadable(f"cannot read {path}: {error.strerror}") from None


@dataclass(frozen=True, slots=True)
class ProcessFiles:
    """What an explanation reads besides smaps; `unreadable` names each file we could not read and why."""

    pid: int
    status: dict[str, str]
    maps: tuple[Mapping, ...]
    exe_path: str | None
    environ: dict[str, str] | None
    stack_pointers: tuple[int, ...]  # one per thread blocked in a syscall (from task/TID/syscall)
    unreadable: tuple[tuple[str, str], ...]  # (path, reason)

    @property
    def comm(self) -> str:
        return self.status.get("Name", "")

    @property
    def state(self) -> str:
        return self.status.get("State", "")[:1]


def _read_bytes(path: str, unreadable: list[tuple[str, str]]) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except (FileNotFoundError, ProcessLookupError):
        unreadable.append((path, "gone"))
    except OSError as error:
        unreadable.append((path, _reason(error)))
    return None


def read_status(pid: int) -> dict[str, str]:
    """status fields; raises ProcessGone when there is no such process (status is world-readable)."""
    try:
        with open(_proc(pid, "status"), "rb") as file:
            return parse_status(file.read())
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessGone(f"no process with pid {pid}") from None
    except OSError as error:
        raise ProcessUnreadable(f"cannot read {_proc(pid, 'status')}: {error.strerror}") from None


def read_stack_pointers(pid: int, unreadable: list[tuple[str, str]]) -> tuple[int, ...]:
    """Each thread's stack pointer while it sits in a system call (task/TID/syscall: "nr args... sp pc")."""
    try:
        tids = os.listdir(_proc(pid, "task"))[:MAX_TASKS]
    except OSError as error:
        unreadable.append((_proc(pid, "task"), _reason(error)))
        return ()
    pointers: list[int] = []
    denied = None
    for tid in tids:
        path = _proc(pid, f"task/{tid}/syscall")
        try:
            with open(path, "rb") as file:
                parts = file.read().split()
        except PermissionError as error:
            denied = (_proc(pid, "task/*/syscall"), _reason(error))
            break
        except OSError:
            continue  # the thread ended meanwhile
        if len(parts) >= 3 and parts[0] != b"running":
            try:
                pointers.append(int(parts[-2], 16))
            except ValueError:
                pass
    if denied:
        unreadable.append(denied)
    return tuple(pointers)


def read_process_files(pid: int, *, with_maps: bool = False, with_stacks: bool = True) -> ProcessFiles:
    """status (required: raises ProcessGone), and whatever of exe, environ, maps and task stacks we may read."""
    status = read_status(pid)
    unreadable: list[tuple[str, str]] = []
    maps: tuple[Mapping, ...] = ()
    if with_maps:
        text = _read_bytes(_proc(pid, "maps"), unreadable)
        maps = parse_maps(text) if text is not None else ()
    try:
        exe_path: str | None = os.readlink(_proc(pid, "exe"))
    except FileNotFoundError:
        exe_path = None  # a kernel thread or a zombie has no exe
    except OSError as error:
        exe_path = None
        unreadable.append((_proc(pid, "exe"), _reason(error)))
    data = _read_bytes(_proc(pid, "environ"), unreadable)
    environ = parse_environ(data) if data is not None else None
    pointers = read_stack_pointers(pid, unreadable) if with_stacks else ()
    return ProcessFiles(pid, status, maps, exe_path, environ, pointers, tuple(unreadable))


def open_exe(pid: int) -> str:
    """The path through which the process's executable can be opened even when deleted or in another mount ns."""
    return _proc(pid, "exe")
