"""A streaming tar reader for bundles: one pass, headers parsed directly, whole archives only.

``tarfile`` was the bottleneck of reading a bundle (issue 20: 5 s of a 5.1 s read of a
1,040-function host, in its per-member header objects and 512-byte stream reads), and its
stream mode takes a compressed stream that stops early, or a corrupt header, for the end of
the archive: a truncated bundle read as a host with fewer devices. This reader:

* decompresses gzip (also concatenated members), bzip2, xz or nothing, in bounded pieces
  (a bomb is never held whole), and requires the compressor's own end of stream;
* parses the ustar, GNU (``L``/``K`` long names) and POSIX pax (``x`` records: ``path``,
  ``linkpath``, ``size``) headers, verifies every header checksum, and requires tar's
  end-of-archive (two zero blocks; anything after them must be zeros);
* hands each member's data to the caller only up to what the caller keeps (``keep``: asked
  before a byte of the data is decompressed, so the caller's bounds hold) and skips the rest.

Anything else is a :class:`TarError` naming what and where. Pure reading: nothing is written.
"""

from __future__ import annotations

import bz2
import dataclasses
import lzma
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

BLOCK = 512
CHUNK = 1 << 20          # compressed bytes read at once
PIECE = 4 << 20          # the most decompressed bytes produced by one call
ZERO_BLOCK = bytes(BLOCK)

REGULAR = (b"0", b"\0", b"7")
HARDLINK, SYMLINK, CHR, BLK, DIRECTORY, FIFO = b"1", b"2", b"3", b"4", b"5", b"6"
_PAX, _PAX_GLOBAL, _GNU_NAME, _GNU_LINK = b"x", b"g", b"L", b"K"
_NO_DATA = (HARDLINK, SYMLINK, CHR, BLK, DIRECTORY, FIFO)
#: Bytes of a pax record or GNU long name held at most (a name is far shorter).
MAX_META = 1 << 20


class TarError(Exception):
    """The archive is truncated or corrupt; the message says what and at which offset."""


@dataclasses.dataclass(slots=True)
class Member:
    """One member: its (cleaned later by the caller) name, type, declared size, link target,
    and the leading bytes of its data the caller kept."""

    name: str
    type: bytes
    size: int
    linkname: str
    data: bytes = b""

    def isreg(self) -> bool:
        return self.type in REGULAR

    def isdir(self) -> bool:
        return self.type == DIRECTORY

    def issym(self) -> bool:
        return self.type == SYMLINK

    def islnk(self) -> bool:
        return self.type == HARDLINK


Keep = Callable[[Member], int]


def members(raw: BinaryIO, keep: Keep, max_bytes: int) -> Iterator[Member]:
    """The members of the archive read from ``raw``, in order.

    :param keep: for a regular member (its data not yet read), how many leading bytes of its
        data to keep in :attr:`Member.data`; the rest is skipped.
    :param max_bytes: the most decompressed bytes accepted in all.
    :raises TarError: truncated, corrupt, or over ``max_bytes``.
    """
    stream = _Stream(raw, max_bytes)
    pax: dict[str, str] = {}
    long_name = long_link = None
    while True:
        offset = stream.offset
        block = stream.take(BLOCK, "a header")
        if block == ZERO_BLOCK:
            stream.finish()
            return
        member = _parse(block, offset)
        if member.type in (_PAX, _PAX_GLOBAL, _GNU_NAME, _GNU_LINK):
            if member.size > MAX_META:
                raise TarError(f"header at offset {offset}: {member.size:,} bytes of metadata")
            meta = stream.take(member.size, "metadata")
            stream.skip(_padding(member.size), "metadata")
            if member.type == _PAX:
                pax = _pax_records(meta, offset)
            elif member.type == _GNU_NAME:
                long_name = _text(meta.split(b"\0", 1)[0])
            elif member.type == _GNU_LINK:
                long_link = _text(meta.split(b"\0", 1)[0])
            continue  # a global pax header (g) changes nothing this reader uses
        if long_name is not None:
            member.name, long_name = long_name, None
        if long_link is not None:
            member.linkname, long_link = long_link, None
        if pax:
            member.name = pax.get("path", member.name)
            member.linkname = pax.get("linkpath", member.linkname)
            if "size" in pax:
                member.size = _pax_size(pax["size"], offset)
            pax = {}
        # data follows a regular member and one of a type unknown here (as tarfile reads it)
        if member.type == DIRECTORY:
            member.name = member.name.rstrip("/")
        size = 0 if member.type in _NO_DATA else member.size
        wanted = min(max(keep(member), 0), size) if member.isreg() else 0
        member.data = stream.take(wanted, f"the data of {member.name}") if wanted else b""
        stream.skip(size - wanted + _padding(size), f"the data of {member.name}")
        yield member


def _parse(block: bytes, offset: int) -> Member:
    field = block[148:156]
    try:  # the common case: octal digits (base-256 and junk go the careful way)
        stored = int(field.split(b"\0", 1)[0] or b"0", 8)
    except ValueError:
        stored = _number(field, offset, "checksum")
    total = sum(block) - sum(field) + 8 * 32
    if stored != total:
        signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 8 * 32
        if stored != signed:
            raise TarError(f"header at offset {offset}: bad checksum (not a tar archive, or "
                           "corrupt)")
    name = _text(block[:100].split(b"\0", 1)[0])
    if block[257:263] == b"ustar\0":  # POSIX: the name may continue in the prefix
        prefix = block[345:500].split(b"\0", 1)[0]
        if prefix:
            name = f"{_text(prefix)}/{name}"
    raw_size = block[124:136]
    try:
        size = int(raw_size.split(b"\0", 1)[0] or b"0", 8)
    except ValueError:
        size = _number(raw_size, offset, "size")
    if size < 0:
        raise TarError(f"header at offset {offset}: negative size")
    return Member(name, block[156:157], size, _text(block[157:257].split(b"\0", 1)[0]))


def _number(field: bytes, offset: int, what: str) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256
        value = int.from_bytes(field[1:], "big")
        return -value if field[0] & 0x40 else value
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise TarError(f"header at offset {offset}: the {what} field is not a number") from None


def _padding(size: int) -> int:
    return -size % BLOCK


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _pax_records(data: bytes, offset: int) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space]) if space > pos else -1
        except ValueError:
            length = -1
        if length <= 0 or pos + length > len(data) or data[pos + length - 1:pos + length] != b"\n":
            if not data[pos:].strip(b"\0"):
                break  # padding
            raise TarError(f"pax header at offset {offset}: malformed record")
        key, _, value = data[space + 1:pos + length - 1].partition(b"=")
        out[_text(key)] = _text(value)
        pos += length
    return out


def _pax_size(text: str, offset: int) -> int:
    if not text.isdigit():
        raise TarError(f"pax header at offset {offset}: size {text!r} is not a number")
    return int(text)


class _Stream:
    """The decompressed archive, taken in exact amounts."""

    def __init__(self, raw: BinaryIO, max_bytes: int) -> None:
        self.raw = raw
        self.max_bytes = max_bytes
        self.offset = 0          # of the next byte handed out
        self.produced = 0
        self.buf = b""
        self.pos = 0
        head = raw.read(6)
        self.pending = head      # compressed bytes not yet given to the decompressor
        self.kind = ("gzip" if head.startswith(b"\x1f\x8b") else "bzip2"
                     if head.startswith(b"BZh") else "xz" if head.startswith(b"\xfd7zXZ\x00")
                     else "tar")
        self.dec: Any = self._decompressor()

    def _decompressor(self) -> Any:
        if self.kind == "gzip":
            return zlib.decompressobj(31)
        if self.kind == "bzip2":
            return bz2.BZ2Decompressor()
        if self.kind == "xz":
            return lzma.LZMADecompressor()
        return None

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end <= len(self.buf):  # the common case: already decompressed
            out = self.buf[self.pos:end]
            self.pos = end
            self.offset += n
            return out
        while len(self.buf) - self.pos < n:
            if not self._fill():
                raise TarError(f"the archive ends in {what} at offset {self.offset} (truncated)")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        self.offset += n
        return out

    def skip(self, n: int, what: str) -> None:
        while n:
            have = len(self.buf) - self.pos
            if have == 0 and not self._fill():
                raise TarError(f"the archive ends in {what} at offset {self.offset} (truncated)")
            step = min(n, len(self.buf) - self.pos)
            self.pos += step
            self.offset += step
            n -= step

    def finish(self) -> None:
        """After the first zero block: one more, zeros to the end, and the compressor's end."""
        self.take(BLOCK, "the end-of-archive blocks")
        while True:
            rest = self.buf[self.pos:]
            if rest.strip(b"\0"):
                raise TarError(f"data after the end of the archive at offset {self.offset}")
            self.offset += len(rest)
            self.pos = len(self.buf)
            if not self._fill():
                break
        if self.dec is not None and not self.dec.eof:
            raise TarError(f"the {self.kind} stream ends early (truncated)")

    def _fill(self) -> bool:
        """More decompressed bytes into the buffer; False at the end of the archive's data."""
        self.buf, self.pos = self.buf[self.pos:], 0
        while True:
            if self.dec is None:
                data = self.pending or self.raw.read(CHUNK)
                self.pending = b""
                if not data:
                    return False
                return self._add(data)
            if self.dec.eof:
                extra = self.dec.unused_data + self.pending
                self.pending = b""
                if not extra:
                    extra = self.raw.read(CHUNK)
                if not extra or (self.kind == "gzip" and not extra.startswith(b"\x1f\x8b")):
                    return False  # the end (trailing bytes that are no gzip member: ignored)
                self.dec = self._decompressor()  # a concatenated gzip (or bzip2) member
                self.pending = extra
                continue
            if not self.pending and not self._needs_no_input():
                self.pending = self.raw.read(CHUNK)
                if not self.pending:
                    return False  # compressed data ends before the stream does: caller decides
            try:
                out = self._decompress()
            except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
                raise TarError(f"the {self.kind} stream is corrupt ({exc})") from None
            if out:
                return self._add(out)

    def _needs_no_input(self) -> bool:
        tail = getattr(self.dec, "unconsumed_tail", b"")
        return bool(tail) or (self.kind != "gzip" and not getattr(self.dec, "needs_input", True))

    def _decompress(self) -> bytes:
        if self.kind == "gzip":
            data = self.dec.unconsumed_tail + self.pending if self.dec.unconsumed_tail \
                else self.pending
            self.pending = b""
            out: bytes = self.dec.decompress(data, PIECE)
            return out
        data, self.pending = self.pending, b""
        result: bytes = self.dec.decompress(data, max_length=PIECE)
        return result

    def _add(self, data: bytes) -> bool:
        self.produced += len(data)
        if self.produced > self.max_bytes:
            raise TarError(f"more than {self.max_bytes:,} bytes decompressed")
        self.buf = self.buf + data if self.buf else data
        return True
