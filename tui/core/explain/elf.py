"""Just enough ELF, with the stdlib: a Go binary's build info, and allocator names in symbols or strings."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

GO_BUILDINFO_MAGIC = b"\xff Go buildinf:"
# a statically linked executable bigger than this is only searched in its first bytes
MAX_SCAN_BYTES = 256 << 20
_CHUNK_BYTES = 8 << 20
SHT_SYMTAB, SHT_STRTAB, SHT_DYNSYM = 2, 3, 11


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    type: int
    addr: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class GoBuildInfo:
    """What `go version -m` shows: the toolchain version and the module text (path, mod, build settings)."""

    version: str  # e.g. "go1.22.4"
    modinfo: str

    @property
    def main_path(self) -> str | None:
        for line in self.modinfo.splitlines():
            if line.startswith("path\t"):
                return line[5:]
        return None


class ElfFile:
    """Section headers and program headers of an ELF file (32 or 64 bit, either byte order)."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        ident = file.read(64)
        if len(ident) < 52 or ident[:4] != b"\x7fELF":
            raise ValueError("not an ELF file")
        self.is64 = ident[4] == 2
        self.order = "<" if ident[5] == 1 else ">"
        if self.is64:
            (self.phoff, self.shoff) = struct.unpack_from(self.order + "QQ", ident, 0x20)
            (self.phentsize, self.phnum, self.shentsize, self.shnum, self.shstrndx) = \
                struct.unpack_from(self.order + "HHHHH", ident, 0x36)
        else:
            (self.phoff, self.shoff) = struct.unpack_from(self.order + "II", ident, 0x1C)
            (self.phentsize, self.phnum, self.shentsize, self.shnum, self.shstrndx) = \
                struct.unpack_from(self.order + "HHHHH", ident, 0x2A)
        self.ptr_size = 8 if self.is64 else 4
        self.sections = self._read_sections()

    def _read(self, offset: int, size: int) -> bytes:
        self.file.seek(offset)
        return self.file.read(size)

    def _read_sections(self) -> tuple[Section, ...]:
        if not self.shoff or not self.shnum or self.shnum > 65000:
            return ()
        table = self._read(self.shoff, self.shentsize * self.shnum)
        raw = []
        for i in range(self.shnum):
            at = i * self.shentsize
            if self.is64:
                name, kind, _flags, addr, offset, size = struct.unpack_from(self.order + "IIQQQQ", table, at)
            else:
                name, kind, _flags, addr, offset, size = struct.unpack_from(self.order + "IIIIII", table, at)
            raw.append((name, kind, addr, offset, size))
        if self.shstrndx >= len(raw):
            return ()
        names = self._read(raw[self.shstrndx][3], raw[self.shstrndx][4])
        sections = []
        for name, kind, addr, offset, size in raw:
            end = names.find(b"\0", name)
            sections.append(Section(names[name:end].decode(errors="replace"), kind, addr, offset, size))
        return tuple(sections)

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def section_bytes(self, section: Section, limit: int = MAX_SCAN_BYTES) -> bytes:
        return self._read(section.offset, min(section.size, limit))

    def read_at_address(self, addr: int, size: int) -> bytes | None:
        """Bytes at a virtual address, through the section that holds it."""
        for s in self.sections:
            if s.addr and s.addr <= addr < s.addr + s.size and s.type != 8:  # 8: SHT_NOBITS
                return self._read(s.offset + addr - s.addr, size)
        return None

    def symbol_names(self) -> bytes:
        """The string tables of .symtab and .dynsym (every symbol name, NUL-separated)."""
        out = []
        for s in self.sections:
            if s.type in (SHT_SYMTAB, SHT_DYNSYM):
                link = self._link(s)
                if link is not None and link.type == SHT_STRTAB:
                    out.append(self.section_bytes(link))
        return b"\0".join(out)

    def _link(self, section: Section) -> Section | None:
        index = self.sections.index(section)
        self.file.seek(self.shoff + index * self.shentsize + (40 if self.is64 else 24))
        (link,) = struct.unpack(self.order + "I", self.file.read(4))
        return self.sections[link] if link < len(self.sections) else None


def _uvarint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data):
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
    raise ValueError("truncated varint")


def _strip_modinfo(mod: str) -> str:
    # the linker wraps the module text in 16-byte sentinels (debug/buildinfo strips them the same way)
    if len(mod) >= 33 and mod[-17] == "\n":
        return mod[16:-16]
    return mod


def parse_go_buildinfo(elf: ElfFile, blob: bytes) -> GoBuildInfo | None:
    """Decode the 32-byte build info header at the start of `blob` (Go 1.13+: pointers; Go 1.18+: inline)."""
    if not blob.startswith(GO_BUILDINFO_MAGIC) or len(blob) < 32:
        return None
    ptr_size, flags = blob[14], blob[15]
    if flags & 2:  # version and module text inline, as uvarint-prefixed strings
        length, at = _uvarint(blob, 32)
        version = blob[at:at + length].decode(errors="replace")
        length, at = _uvarint(blob, at + length)
        mod = blob[at:at + length].decode(errors="replace")
        return GoBuildInfo(version, _strip_modinfo(mod))
    order = ">" if flags & 1 else "<"
    fmt = order + ("Q" if ptr_size == 8 else "I")

    def read_string(header_addr: int) -> str:
        header = elf.read_at_address(header_addr, 2 * ptr_size)
        if not header or len(header) < 2 * ptr_size:
            return ""
        (data_addr,) = struct.unpack_from(fmt, header, 0)
        (length,) = struct.unpack_from(fmt, header, ptr_size)
        data = elf.read_at_address(data_addr, min(length, 1 << 20))
        return data.decode(errors="replace") if data else ""

    (version_addr,) = struct.unpack_from(fmt, blob, 16)
    (mod_addr,) = struct.unpack_from(fmt, blob, 16 + ptr_size)
    version = read_string(version_addr)
    return GoBuildInfo(version, _strip_modinfo(read_string(mod_addr))) if version else None


def go_buildinfo(elf: ElfFile) -> GoBuildInfo | None:
    """The build info of a Go binary, from its .go.buildinfo section (or a search of its data, when unnamed)."""
    section = elf.section(".go.buildinfo")
    if section is not None:
        return parse_go_buildinfo(elf, elf.section_bytes(section, 64 << 10))
    for s in elf.sections:  # stripped section names: the header is 16-byte aligned in a data section
        if s.type == 1 and s.name in (".data", ".noptrdata", ""):
            data = elf.section_bytes(s)
            at = data.find(GO_BUILDINFO_MAGIC)
            while at >= 0 and at % 16:
                at = data.find(GO_BUILDINFO_MAGIC, at + 1)
            if at >= 0:
                return parse_go_buildinfo(elf, data[at:at + (64 << 10)])
    return None


def scan_for(file: BinaryIO, needles: tuple[bytes, ...], limit: int = MAX_SCAN_BYTES) -> frozenset[bytes]:
    """Which of `needles` occur in the file's first `limit` bytes (read in chunks, overlapping by the longest)."""
    found: set[bytes] = set()
    overlap = max(len(n) for n in needles) - 1
    file.seek(0)
    tail = b""
    read = 0
    while read < limit and len(found) < len(needles):
        chunk = file.read(min(_CHUNK_BYTES, limit - read))
        if not chunk:
            break
        read += len(chunk)
        window = tail + chunk
        found.update(n for n in needles if n not in found and n in window)
        tail = window[-overlap:] if overlap > 0 else b""
    return frozenset(found)
