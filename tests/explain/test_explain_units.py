"""Pure parts of explain: the smaps parser, the categories, the Go release flag by version and GODEBUG."""

from __future__ import annotations

import pytest

from tui.core.explain.categories import STACKS, categorize
from tui.core.explain.detect import go_release_flag, parse_godebug
from tui.core.kernel.smaps import parse_smaps

SMAPS = b"""\
55d0c0000000-55d0c0021000 rw-p 00000000 00:00 0                          [heap]
Size:                132 kB
Rss:                 120 kB
Anonymous:           120 kB
LazyFree:             16 kB
VmFlags: rd wr mr mw me ac
7f0000000000-7f0000001000 ---p 00000000 00:00 0
Size:                  4 kB
Rss:                   0 kB
7f0000001000-7f0000801000 rw-p 00000000 00:00 0
Size:               8192 kB
Rss:                  16 kB
Anonymous:            16 kB
7f0001000000-7f0001200000 r-xp 00001000 fe:00 1234                       /opt/my app/lib libx.so (deleted)
Size:               2048 kB
Rss:                 500 kB
Swap:                  8 kB
7f0002000000-7f0002400000 rw-p 00000000 00:00 0                          [anon:Go: heap]
Size:               4096 kB
Rss:                4096 kB
AnonHugePages:      2048 kB
"""


def test_parse_smaps_every_mapping_and_field():
    mappings = parse_smaps(SMAPS)
    assert [m.path for m in mappings] == ["[heap]", "", "", "/opt/my app/lib libx.so (deleted)", "[anon:Go: heap]"]
    heap = mappings[0]
    assert (heap.start, heap.end, heap.perms, heap.rss_bytes, heap.lazyfree_bytes) == \
        (0x55D0C0000000, 0x55D0C0021000, "rw-p", 120 << 10, 16 << 10)
    assert heap.vm_flags == "rd wr mr mw me ac"
    assert mappings[3].offset == 0x1000 and mappings[3].inode == 1234 and mappings[3].swap_bytes == 8 << 10
    assert mappings[4].anon_huge_bytes == 2 << 20


def test_categories_sum_to_rss_and_find_a_guarded_stack():
    mappings = parse_smaps(SMAPS)
    categories, names = categorize(mappings)
    assert sum(c.rss_bytes for c in categories) == sum(m.rss_bytes for m in mappings)
    assert names == ("heap (brk)", "anonymous <1 MiB", STACKS, "file-backed code", "[anon:Go: heap]")
    by_name = {c.name: c for c in categories}
    assert by_name["[anon:Go: heap]"].anon_huge_bytes == 2 << 20
    assert by_name["file-backed code"].swap_bytes == 8 << 10


def test_a_stack_pointer_marks_a_thread_stack():
    unguarded = tuple(m for m in parse_smaps(SMAPS) if not m.perms.startswith("---"))
    assert categorize(unguarded)[1][1] == "anonymous 1-64 MiB"
    _, names = categorize(unguarded, stack_pointers=(0x7F0000001000 + 100,))
    assert names[1] == STACKS


@pytest.mark.parametrize("version, godebug, flag", [
    ("go1.11.13", "", "MADV_DONTNEED"),
    ("go1.12", "", "MADV_FREE"),
    ("go1.15.15", "", "MADV_FREE"),
    ("go1.15.15", "madvdontneed=1", "MADV_DONTNEED"),
    ("go1.16", "", "MADV_DONTNEED"),
    ("go1.22.4", "gctrace=1,madvdontneed=0", "MADV_FREE"),
    ("devel +abc", "", None),
])
def test_go_release_flag(version, godebug, flag):
    assert go_release_flag(version, parse_godebug(godebug)) == flag
