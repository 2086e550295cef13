"""The cgroup-v2 VM lane: a Debian kernel under QEMU (TCG) with the host's / read-only over 9p runs one command."""

from __future__ import annotations

import glob
import gzip
import hashlib
import lzma
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Where the kernel, its few modules, the initramfs and the uncompressed kernel are kept between runs.
CACHE = Path(os.environ.get("MADVISE_LAB_V2_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "madvise-lab" / "v2lane")
# What the guest's init needs from the kernel's modules: PCI virtio, the 9p filesystem over virtio, overlayfs.
MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
# The metapackage whose dependency names the current Debian kernel (the -cloud flavour has no 9p).
KERNEL_METAPACKAGE = "linux-image-amd64"
BOOTED = "booted"  # written by the guest's init into the control dir once the host's / is mounted
RC_BOOT_FAILED = 125
RC_TIMEOUT = 124

# The guest's /init (static busybox): mount the host's / read-only, writable overlays on the dirs programs write
# to, cgroup2 with every controller enabled in the root, then run the control dir's run.sh chrooted, as root.
INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
R=/newroot
C=$R/run/lanectl
fail() { echo "lane init: $*"; echo "$*" > $C/initfail 2>/dev/null; sync; poweroff -f; }
for m in /modules/*.ko; do insmod "$m" || echo "lane init: insmod $m failed"; done
o9=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o $o9,ro,cache=loose laneroot $R || fail "mount the host's /"
mount -t proc proc $R/proc; mount -t sysfs sysfs $R/sys; mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts; mount -t tmpfs tmpfs $R/dev/shm
mount -t cgroup2 -o nsdelegate cgroup2 $R/sys/fs/cgroup || fail "mount cgroup2"
mount -t tmpfs -o mode=755 tmpfs $R/run
mkdir -p $C
mount -t 9p -o $o9,rw lanectl $C || fail "mount the control dir"
echo ok > $C/booted
mount -t tmpfs -o mode=755 tmpfs /ovl
for d in /tmp /var /root /home /etc; do
  [ -d $R$d ] || continue
  mkdir -p /ovl$d/u /ovl$d/w
  mount -t overlay overlay -o lowerdir=$R$d,upperdir=/ovl$d/u,workdir=/ovl$d/w $R$d 2>/dev/null \
    || mount -t tmpfs tmpfs $R$d || fail "overlay $d"
done
chmod 1777 $R/tmp
while read -r tag path; do
  mount -t 9p -o $o9,rw "$tag" "$R$path" || fail "mount $path read-write"
done < $C/rwmounts
for c in $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null || cat $R/sys/fs/cgroup/cgroup.controllers); do
  echo +$c > $R/sys/fs/cgroup/cgroup.subtree_control
done
ln -sf /proc/self/fd $R/dev/fd 2>/dev/null
chroot $R /bin/sh /run/lanectl/run.sh </dev/null >$C/output 2>&1
echo $? > $C/rc
sync
poweroff -f
"""


class LaneUnavailable(RuntimeError):
    """The lane cannot boot here; the message is the one-line reason."""


@dataclass(frozen=True)
class RunResult:
    """One boot: the command's exit status, its output, and what it cost."""

    rc: int
    output: str
    booted: bool
    seconds: float
    console_tail: str

    @property
    def boot_failed(self) -> bool:
        return not self.booted


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


def _kernel_release(vmlinuz: Path) -> str:
    """The release string from a bzImage header (offset 0x20e points at it, relative to 0x200)."""
    data = vmlinuz.read_bytes()[:0x10000]
    offset = int.from_bytes(data[0x20E:0x210], "little") + 0x200
    return data[offset:offset + 200].split(b" ", 1)[0].split(b"\0", 1)[0].decode()


def _decompressed_kernel(vmlinuz: Path) -> bytes | None:
    """The ELF vmlinux inside a bzImage (QEMU boots it through PVH: no firmware, no decompressor, ~2x faster)."""
    data = vmlinuz.read_bytes()
    for magic in (b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"\x1f\x8b\x08"):
        start = data.find(magic)
        while start >= 0:
            try:
                if magic.startswith(b"\xfd7z"):
                    out = lzma.LZMADecompressor().decompress(data[start:])
                elif magic.startswith(b"\x1f\x8b"):
                    out = gzip.GzipFile(fileobj=__import__("io").BytesIO(data[start:])).read()
                else:
                    zstd = shutil.which("zstd")
                    if zstd is None:
                        break
                    out = subprocess.run([zstd, "-qdc"], input=data[start:], capture_output=True).stdout
            except (lzma.LZMAError, OSError, EOFError):
                out = b""
            if out[:4] == b"\x7fELF":
                return out
            start = data.find(magic, start + 1)
    return None


def _module_files(base: Path, release: str) -> list[Path]:
    """The .ko files MODULES need, dependencies first (modprobe resolves them against modules.dep)."""
    moddir = base / "lib" / "modules" / release
    if not (moddir / "modules.dep").is_file():
        done = _run(["depmod", "-b", str(base), release])
        if done.returncode != 0:
            raise LaneUnavailable(f"depmod for kernel {release} failed: {done.stderr.strip()}")
    files: list[Path] = []
    for module in MODULES:
        done = _run(["modprobe", "-d", str(base), "-S", release, "--show-depends", module])
        if done.returncode != 0:
            raise LaneUnavailable(f"kernel {release} has no module {module} ({done.stderr.strip()}): "
                                  f"use a kernel with 9p (not the -cloud flavour)")
        for line in done.stdout.splitlines():
            parts = line.split()
            if parts[:1] == ["insmod"] and Path(parts[1]) not in files:
                files.append(Path(parts[1]))
    return files


def _populate(kernel_dir: Path, vmlinuz: Path, base: Path, release: str) -> None:
    """Keep what the lane needs of one kernel: vmlinuz, vmlinux and the decompressed modules, in order."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{release}.", dir=CACHE))
    try:
        (tmp / "mods").mkdir()
        for i, path in enumerate(_module_files(base, release), 1):
            name = path.name.split(".ko")[0]
            raw = path.read_bytes()
            if path.name.endswith(".xz"):
                raw = lzma.decompress(raw)
            elif path.name.endswith(".gz"):
                raw = gzip.decompress(raw)
            elif path.name.endswith(".zst"):
                raw = subprocess.run(["zstd", "-qdc", str(path)], capture_output=True, check=True).stdout
            (tmp / "mods" / f"{i:02d}-{name}.ko").write_bytes(raw)
        shutil.copyfile(vmlinuz, tmp / "vmlinuz")
        vmlinux = _decompressed_kernel(vmlinuz)
        if vmlinux is not None:
            (tmp / "vmlinux").write_bytes(vmlinux)
        tmp.chmod(0o755)
        if not kernel_dir.exists():
            os.replace(tmp, kernel_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fetch() -> str:
    """Download the current Debian kernel package (not installed: no initramfs-tools run) and keep its parts."""
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise LaneUnavailable("no kernel in the lane's cache or /boot, and no apt-get/dpkg-deb to fetch one "
                              f"(set MADVISE_LAB_V2_KERNEL to a Debian vmlinuz with its lib/modules beside it)")
    depends = _run(["apt-cache", "depends", "--important", KERNEL_METAPACKAGE])
    names = [line.split(":", 1)[1].strip() for line in depends.stdout.splitlines() if "Depends:" in line]
    names = [n for n in names if n.startswith("linux-image-") and n.endswith("-amd64")]
    if depends.returncode != 0 or not names:
        raise LaneUnavailable(f"apt-cache depends {KERNEL_METAPACKAGE} named no kernel package "
                              f"({depends.stderr.strip() or 'run apt-get update'})")
    package = names[0]
    work = Path(tempfile.mkdtemp(prefix="fetch.", dir=CACHE))
    try:
        done = _run(["apt-get", "download", package], cwd=work, timeout=600)
        debs = list(work.glob("*.deb"))
        if done.returncode != 0 or not debs:
            raise LaneUnavailable(f"apt-get download {package} failed: {done.stderr.strip().splitlines()[-1:]}")
        done = _run(["dpkg-deb", "-x", str(debs[0]), str(work / "root")], timeout=600)
        if done.returncode != 0:
            raise LaneUnavailable(f"dpkg-deb -x {debs[0].name} failed: {done.stderr.strip()}")
        [vmlinuz] = (work / "root" / "boot").glob("vmlinuz-*")
        release = vmlinuz.name[len("vmlinuz-"):]
        _populate(CACHE / release, vmlinuz, work / "root", release)
        return release
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _find_kernel() -> tuple[Path, bool]:
    """(the cached kernel dir, whether it was fetched now): env, then the cache, then /boot, then apt."""
    wanted = os.environ.get("MADVISE_LAB_V2_KERNEL")
    if wanted:
        vmlinuz = Path(wanted)
        if not vmlinuz.is_file():
            raise LaneUnavailable(f"MADVISE_LAB_V2_KERNEL={wanted}: no such file")
        release = _kernel_release(vmlinuz)
        base = vmlinuz.parent.parent if (vmlinuz.parent.parent / "lib" / "modules" / release).is_dir() else Path("/")
        if not (CACHE / release).is_dir():
            _populate(CACHE / release, vmlinuz, base, release)
        return CACHE / release, False
    cached = sorted(p.parent for p in CACHE.glob("*/vmlinuz") if (p.parent / "mods").is_dir())
    if cached:
        return cached[-1], False
    for vmlinuz in sorted(glob.glob("/boot/vmlinuz-*"), reverse=True):
        release = _kernel_release(Path(vmlinuz))
        if (Path("/lib/modules") / release / "kernel" / "fs" / "9p").is_dir():
            _populate(CACHE / release, Path(vmlinuz), Path("/"), release)
            return CACHE / release, False
    return CACHE / _fetch(), True


@dataclass(frozen=True)
class Lane:
    """A kernel and its initramfs, ready to boot."""

    release: str
    kernel: Path
    initrd: Path
    prepare_s: float
    fetched: bool

    def run(self, script: str, *, rw: tuple[Path, ...] = (), env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout_s: float = 300, memory: str = "1G", cpus: int = 2) -> RunResult:
        """Boot, run `script` with /bin/sh as root in the root cgroup, power off."""
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="madvise-lab-lanectl.") as ctl_dir:
            ctl = Path(ctl_dir)
            shares: list[str] = []
            rwmounts = []
            for i, path in enumerate(rw):
                path = path.resolve()
                shares += ["-fsdev", f"local,id=w{i},path={path},security_model=none,multidevs=remap",
                           "-device", f"virtio-9p-pci,fsdev=w{i},mount_tag=lanerw{i}"]
                rwmounts.append(f"lanerw{i} {path}\n")
            (ctl / "rwmounts").write_text("".join(rwmounts))
            exports = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root", "LANG": "C.UTF-8",
                       "TERM": "dumb", "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
            lines = [f"export {k}={shlex.quote(v)}" for k, v in exports.items()]
            lines.append(f"cd {shlex.quote(str(cwd or Path.cwd()))} || exit 125")
            (ctl / "command.sh").write_text(script)
            lines.append("exec /bin/sh /run/lanectl/command.sh")
            (ctl / "run.sh").write_text("\n".join(lines) + "\n")
            console = ctl / "console.log"
            argv = ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-machine", "q35",
                    "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", str(cpus), "-m", memory,
                    "-display", "none", "-no-reboot", "-kernel", str(self.kernel), "-initrd", str(self.initrd),
                    "-append", "console=ttyS0 loglevel=4 quiet panic=-1 mitigations=off random.trust_cpu=on "
                               "rdinit=/init",
                    "-chardev", f"file,id=con,path={console}", "-serial", "chardev:con",
                    "-fsdev", "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap",
                    "-device", "virtio-9p-pci,fsdev=root,mount_tag=laneroot",
                    "-fsdev", f"local,id=ctl,path={ctl},security_model=none",
                    "-device", "virtio-9p-pci,fsdev=ctl,mount_tag=lanectl", *shares]
            try:
                subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True  # subprocess.run killed qemu
            read = lambda name: (ctl / name).read_text(errors="replace") if (ctl / name).exists() else ""  # noqa: E731
            output, rc_text, booted = read("output"), read("rc").strip(), (ctl / BOOTED).exists()
            tail = "\n".join(read("console.log").splitlines()[-30:])
            if read("initfail"):
                booted = False
                tail = f"guest init failed: {read('initfail').strip()}\n{tail}"
            rc = int(rc_text) if rc_text.isdigit() else (RC_TIMEOUT if timed_out else RC_BOOT_FAILED)
            return RunResult(rc, output, booted, time.monotonic() - start, tail)


def _initrd(kernel_dir: Path) -> Path:
    """The tiny initramfs (static busybox, the modules, /init), built once per kernel, init and busybox."""
    busybox = Path("/bin/busybox") if Path("/bin/busybox").is_file() else Path(shutil.which("busybox") or "")
    if not busybox.is_file():
        raise LaneUnavailable("no busybox (apt-get install busybox-static)")
    if shutil.which("file") and "statically linked" not in _run(["file", "-L", str(busybox)]).stdout:
        raise LaneUnavailable(f"{busybox} is not static (apt-get install busybox-static)")
    mods = sorted((kernel_dir / "mods").glob("*.ko"))
    key = hashlib.sha256(INIT.encode() + busybox.read_bytes()[:65536]
                         + b"".join(m.name.encode() for m in mods)).hexdigest()[:12]
    initrd = kernel_dir / f"initrd-{key}.cpio.gz"
    if initrd.is_file():
        return initrd
    with tempfile.TemporaryDirectory(prefix="initrd.", dir=kernel_dir) as build_dir:
        build = Path(build_dir)
        for sub in ("bin", "proc", "sys", "dev", "newroot", "ovl", "modules"):
            (build / sub).mkdir()
        shutil.copyfile(busybox, build / "bin" / "busybox")
        (build / "bin" / "busybox").chmod(0o755)
        (build / "init").write_text(INIT)
        (build / "init").chmod(0o755)
        for mod in mods:
            shutil.copyfile(mod, build / "modules" / mod.name)
        names = "\n".join(sorted(str(p.relative_to(build)) for p in build.rglob("*"))) + "\n"
        cpio = [shutil.which("cpio") or str(busybox)] + ([] if shutil.which("cpio") else ["cpio"])
        done = subprocess.run(cpio + ["--quiet", "-o", "-H", "newc"] if shutil.which("cpio")
                              else cpio + ["-o", "-H", "newc"], input=names.encode(), cwd=build,
                              capture_output=True)
        if done.returncode != 0:
            raise LaneUnavailable(f"cpio failed: {done.stderr.decode().strip()}")
        tmp = initrd.with_suffix(".tmp")
        tmp.write_bytes(gzip.compress(done.stdout, compresslevel=1))
        os.replace(tmp, initrd)
    return initrd


def prepare() -> Lane:
    """Find or fetch a kernel, build the initramfs once; raises LaneUnavailable with the reason."""
    start = time.monotonic()
    if not shutil.which("qemu-system-x86_64"):
        raise LaneUnavailable("no qemu-system-x86_64 (apt-get install qemu-system-x86)")
    CACHE.mkdir(parents=True, exist_ok=True)
    kernel_dir, fetched = _find_kernel()
    initrd = _initrd(kernel_dir)
    kernel = kernel_dir / "vmlinux" if (kernel_dir / "vmlinux").is_file() else kernel_dir / "vmlinuz"
    return Lane(kernel_dir.name, kernel, initrd, time.monotonic() - start, fetched)


if __name__ == "__main__":  # a quick look: python3 tests/vm/lane.py 'uname -r; cat /sys/fs/cgroup/cgroup.controllers'
    import sys

    lane = prepare()
    result = lane.run(sys.argv[1] if len(sys.argv) > 1 else "uname -r")
    print(result.output, end="")
    print(f"[lane: kernel {lane.release}, prepared in {lane.prepare_s:.1f} s, run {result.seconds:.1f} s, "
          f"rc {result.rc}]", file=sys.stderr)
    if result.boot_failed:
        print(result.console_tail, file=sys.stderr)
    sys.exit(result.rc)
