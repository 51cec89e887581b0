"""Is a bundle whole? A second, streaming pass over a ``.tar.gz`` (or ``.tar.bz2``, ``.tar.xz``,
plain ``.tar``) that the agent makes before it lets a bundle change the device store.

The bundle reader (:mod:`pcipass.adapters.bundle`) reads tar's stream as ``tarfile`` does, and
``tarfile``'s stream mode takes a compressed stream that stops at a block boundary for the end
of the archive: cut at about one point in ten, a bundle reads as a host with fewer devices, and
to the agent that would look like a hot-unplug. Here the compressor itself must reach its end
(gzip's trailer with its CRC and length, bzip2's and xz's end of stream) and the tar stream must
end with tar's end-of-archive blocks.

The pass keeps only the last 1 KiB of the decompressed stream; it costs about what the bundle
read cost, and runs only after that read succeeded within its bounds.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import zlib
from typing import BinaryIO, cast

CHUNK = 1 << 20
_END = bytes(1024)  # tar's end of archive: two zero blocks


def incomplete(path: str | os.PathLike[str]) -> str | None:
    """Why the archive at ``path`` is not whole (truncated, corrupt, no end-of-archive), or
    None when it is."""
    try:
        with open(path, "rb") as raw, _decompressed(raw) as stream:
            tail = b""
            total = 0
            while chunk := stream.read(CHUNK):
                total += len(chunk)
                tail = (tail + chunk)[-len(_END):]
    except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        return f"the archive is truncated or corrupt ({exc})"
    if total % 512 or tail != _END:
        return "the archive stops before tar's end-of-archive blocks (truncated)"
    return None


def _decompressed(raw: BinaryIO) -> BinaryIO:
    head = raw.read(6)
    raw.seek(0)
    if head.startswith(b"\x1f\x8b"):
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw))
    if head.startswith(b"BZh"):
        return cast(BinaryIO, bz2.BZ2File(raw))
    if head.startswith(b"\xfd7zXZ\x00"):
        return cast(BinaryIO, lzma.LZMAFile(raw))
    return raw
