"""What the attach tests watch: a process that is not ours, holding MADV_FREE'd memory."""

import subprocess
import sys
import textwrap

import pytest

# A process that is not ours in any sense the lab uses: it allocates 128 MiB of private anonymous memory,
# touches it, releases 96 MiB with MADV_FREE, says "released" and waits.
CHILD = textwrap.dedent("""
    import mmap, sys
    size = 128 << 20
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    page = b"x" * mmap.PAGESIZE
    for off in range(0, size, mmap.PAGESIZE):
        m[off:off + mmap.PAGESIZE] = page
    m.madvise(mmap.MADV_FREE, 0, 96 << 20)
    print("released", flush=True)
    sys.stdin.readline()
""")


@pytest.fixture
def child():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "released"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
