"""The processes the explain tests look at: real allocators and runtimes, each waiting on stdin between steps."""

from __future__ import annotations

import textwrap

# A Python process that mallocs BLOCKS blocks of BLOCK bytes through ctypes (below glibc's mmap threshold, so
# they come from the brk heap or the allocator's own arenas), touches them, frees all but every 64th and the
# last one (so the heap top stays pinned and nothing is trimmed), says "freed", and on "trim" calls malloc_trim(0).
MALLOC_CHILD = textwrap.dedent("""
    import ctypes, sys
    BLOCK, BLOCKS = 64 << 10, {blocks}
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = []
    for _ in range(BLOCKS):
        p = libc.malloc(BLOCK)
        ctypes.memset(p, 0x5a, BLOCK)
        blocks.append(p)
    for i, p in enumerate(blocks):
        if i % 64 and i != len(blocks) - 1:
            libc.free(p)
    print("freed", flush=True)
    for line in sys.stdin:
        if line.strip() == "trim":
            libc.malloc_trim(0)
            print("trimmed", flush=True)
""")

# A Python process with a 2 MiB-aligned anonymous region madvise(MADV_HUGEPAGE)d and touched.
THP_CHILD = textwrap.dedent("""
    import ctypes, mmap, sys
    SIZE = 32 << 20
    m = mmap.mmap(-1, SIZE + (2 << 20), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    base = ctypes.addressof(ctypes.c_char.from_buffer(m))
    offset = (-base) % (2 << 20)
    m.madvise(mmap.MADV_HUGEPAGE, offset, SIZE)
    for off in range(offset, offset + SIZE, 4096):
        m[off] = 1
    print("touched", flush=True)
    sys.stdin.readline()
""")

NODE_CHILD = textwrap.dedent("""
    const held = [];
    for (let i = 0; i < 64; i++) { const b = Buffer.alloc(1 << 20, 1); held.push(b); }
    const arrays = [];
    for (let i = 0; i < 200000; i++) arrays.push({i, s: 'x'.repeat(32)});
    console.log('ready');
    process.stdin.on('data', () => process.exit(0));
""")

JAVA_CHILD = textwrap.dedent("""
    public class Hold {
        public static void main(String[] args) throws Exception {
            byte[][] held = new byte[64][];
            for (int i = 0; i < held.length; i++) { held[i] = new byte[1 << 20]; java.util.Arrays.fill(held[i], (byte) 1); }
            System.out.println("ready");
            System.out.flush();
            System.in.read();
            System.out.println(held.length);
        }
    }
""")

# A Python process that names a touched 16 MiB anonymous mapping with prctl(PR_SET_VMA_ANON_NAME); it says
# "named", or "unnamed ERRNO" where the kernel lacks CONFIG_ANON_VMA_NAME.
NAMED_CHILD = textwrap.dedent("""
    import ctypes, mmap, sys
    SIZE = 16 << 20
    libc = ctypes.CDLL(None, use_errno=True)
    m = mmap.mmap(-1, SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    m.write(b"x" * SIZE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(m))
    PR_SET_VMA, PR_SET_VMA_ANON_NAME = 0x53564D41, 0
    done = libc.prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, ctypes.c_ulong(base), ctypes.c_ulong(SIZE),
                      ctypes.c_char_p(b"lab cache"))
    print("named" if done == 0 else f"unnamed {ctypes.get_errno()}", flush=True)
    sys.stdin.readline()
""")
