"""Run a function in a forked child that has become `nobody`: the kernel's permission checks, for real, with the
modules already imported (a non-root user may not even read root's Python installation)."""

from __future__ import annotations

import os
import pwd
from typing import Callable

import pytest


def as_nobody(function: Callable[[], str]) -> str:
    """function()'s string result (or 'raised: TYPE: message'), computed by a child running as nobody."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user (CI runs as root)")
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, run, report, leave without running the parent's cleanups
        try:
            os.close(read_end)
            os.setgroups([])
            os.setresgid(nobody.pw_gid, nobody.pw_gid, nobody.pw_gid)
            os.setresuid(nobody.pw_uid, nobody.pw_uid, nobody.pw_uid)
            try:
                result = function()
            except BaseException as error:  # noqa: BLE001 - reported to the parent
                result = f"raised: {type(error).__name__}: {error}"
            os.write(write_end, result.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()
