"""Attach faults on real processes: the pid exits mid-run, becomes a zombie, is a kernel thread, belongs to another
user, or exits and its number is reused. Each panel says so in words, the others go on, and a stranger's memory
is never shown under the old name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app_support import wait_until
from drop_privileges import as_nobody
from kernel_truth import read_smaps_rollup
from tui.core.errors import UsageError
from tui.core.sources.attach import PF_KTHREAD, AttachLab, check_pid, proc_stat

ROOT = Path(__file__).resolve().parents[2]
HOLD = "import sys; b = bytearray(8 << 20); b[::4096] = b'x' * len(b[::4096]); print('up', flush=True); sys.stdin.readline()"


def _holder() -> subprocess.Popen:
    """A process that is not ours in any sense the lab uses: touches 8 MiB and waits."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "up"
    return proc


class Watch:
    """An AttachLab polled as the app polls it, keeping the statuses and samples it saw."""

    def __init__(self, pids: list[int]) -> None:
        self.lab = AttachLab(pids, names=[f"p{i}" for i in range(len(pids))], sample_interval_s=0.05)
        self.samples: dict[str, list] = {name: [] for name in self.lab.names}

    def __enter__(self) -> "Watch":
        self.lab.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.lab.stop()

    def poll(self) -> None:
        for sample in self.lab.poll().samples:
            self.samples[sample.workload].append(sample)

    def until(self, predicate, what: str, timeout_s: float = 10.0) -> None:
        def check() -> bool:
            self.poll()
            return predicate()
        assert wait_until(check, timeout_s), f"timed out waiting for {what}: {[self.lab.status(n) for n in self.lab.names]}"


def test_one_exits_mid_run_as_a_zombie_then_gone_and_the_other_goes_on():
    a, b = _holder(), _holder()
    try:
        with Watch([a.pid, b.pid]) as watch:
            watch.until(lambda: all(watch.samples[n] for n in ("p0", "p1")), "a sample of each")
            a.kill()  # not reaped yet: a zombie
            watch.until(lambda: watch.lab.status("p0").state == "exited", "p0 shown as exited")
            assert proc_stat(a.pid)[0] == "Z"  # the kernel's view, read by the test
            assert watch.lab.status("p0").last_error == "the process exited: a zombie until its parent collects it"
            assert watch.lab.heapmap("p0") is None
            assert "exited" in watch.lab.can("explain", "p0") and watch.lab.can("explain", "p1") is True
            seen = len(watch.samples["p1"])
            watch.until(lambda: len(watch.samples["p1"]) > seen + 3, "p1 still sampled")
            truth = read_smaps_rollup(b.pid)
            assert abs(watch.samples["p1"][-1].kernel.rss_bytes - truth["Rss"]) < 4 << 20
            assert watch.lab.status("p1").state == "running"
    finally:
        for proc in (a, b):
            proc.kill()
            proc.wait()


def test_an_exited_and_reaped_process_says_it_exited():
    a = _holder()
    with Watch([a.pid]) as watch:
        watch.until(lambda: watch.samples["p0"], "a sample")
        a.kill()
        a.wait()  # reaped: no /proc entry at all
        watch.until(lambda: watch.lab.status("p0").state == "exited", "exited")
        assert watch.lab.status("p0").last_error == "the process exited"


def test_a_zombie_cannot_be_attached():
    a = _holder()
    a.kill()
    assert wait_until(lambda: (proc_stat(a.pid) or ("",))[0] == "Z", 5)
    try:
        with pytest.raises(UsageError, match=rf"attach: pid {a.pid} \(python3?[^)]*\) is a zombie: it has exited"):
            check_pid(a.pid)
    finally:
        a.wait()


def _kernel_thread() -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := proc_stat(int(entry))) and stat[1] & PF_KTHREAD:
            return int(entry)
    return None


def test_a_kernel_thread_cannot_be_attached():
    pid = _kernel_thread()
    if pid is None:
        pytest.skip("no kernel thread is visible in this pid namespace (a container); pid 2 kthreadd is on a host/VM")
    with pytest.raises(UsageError, match=rf"attach: pid {pid} \(.*\) is a kernel thread: it has no user memory"):
        check_pid(pid)


def test_another_users_process_is_a_one_line_refusal():
    """We are not root and the process is root's: the kernel refuses its smaps_rollup; we say so in one line."""
    a = _holder()  # root's
    try:
        said = as_nobody(lambda: repr(check_pid(a.pid)))
    finally:
        a.kill()
        a.wait()
    assert said.startswith("raised: UsageError: "), said
    assert f"attach: pid {a.pid} (python" in said and "(EPERM): run as its user or as root" in said, said


def _spawn_with_pid(pid: int) -> subprocess.Popen | None:
    """A new process with number `pid` (ns_last_pid = pid - 1, then fork); None if another fork took it."""
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(pid - 1))
    proc = _holder()
    if proc.pid == pid:
        return proc
    proc.kill()
    proc.wait()
    return None


def _reuse_possible() -> None:
    if not os.access("/proc/sys/kernel/ns_last_pid", os.W_OK):
        pytest.skip("needs a writable /proc/sys/kernel/ns_last_pid (root with CAP_SYS_ADMIN) to reuse a pid on purpose")


@pytest.mark.parametrize("when", ["mid-run", "before the sampler opened it"])
def test_a_reused_pid_is_never_shown_under_the_old_name(when):
    _reuse_possible()
    for _attempt in range(5):  # another process may take the number first: try again
        a = _holder()
        watch = Watch([a.pid])
        if when == "mid-run":
            watch.lab.start()
            watch.until(lambda: watch.samples["p0"], "a sample of the first process")
        a.kill()
        a.wait()
        stranger = _spawn_with_pid(a.pid)
        if stranger is None:
            watch.lab.stop()
            continue
        try:
            if when != "mid-run":
                watch.lab.start()
            n_before = len(watch.samples["p0"])
            watch.until(lambda: watch.lab.status("p0").state == "exited", "the old process shown as exited")
            assert watch.lab.status("p0").last_error.startswith(
                f"the process exited; pid {a.pid} now belongs to another process (python")
            watch.poll()
            assert len(watch.samples["p0"]) == n_before, "a sample of the stranger was shown under the old name"
            assert watch.lab.heapmap("p0") is None
            assert watch.lab.can("explain", "p0") is not True  # e would read the stranger's /proc
        finally:
            watch.lab.stop()
            stranger.kill()
            stranger.wait()
        return
    pytest.fail("five tries, and another process always took the pid first")
