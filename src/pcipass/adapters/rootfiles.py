"""Files inside a host root: paths, kinds, and small reads that never block or follow a link.

The building blocks :class:`~pcipass.adapters.hostroot.HostRoot` and its
directory handles share. A path from input is cleaned lexically and refused
when it climbs out of the root; an entry is read only when it is a regular
file (a device node or FIFO is named, never opened); a read takes at most the
bytes asked for, from a non-blocking, ``O_NOFOLLOW`` descriptor.
"""

from __future__ import annotations

import os
import posixpath
import stat

from pcipass.adapters import boundedread

MAX_TEXT_BYTES = 1 << 16
"""The most any sysfs or procfs attribute read takes."""

READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Unreadable(Exception):
    """Internal: a path that exists but cannot be read safely; ``args[0]`` is the reason."""


class Escapes(Unreadable):
    """Internal: a link that leads outside the root; ``named`` once the message names the link."""

    def __init__(self, reason: str, *, named: bool = False) -> None:
        super().__init__(reason)
        self.named = named


def clean(rel: str) -> str:
    """Normalize a relative path; a path climbing above the root is unreadable (a path
    built from input, such as a device named in proc/mounts, may climb: never a crash)."""
    norm = posixpath.normpath(rel.strip("/")) if rel.strip("/") else ""
    if norm == ".":
        return ""
    if norm.startswith("../") or norm == ".." or "\0" in norm:
        raise Escapes("path leads outside the host root; not read")
    return norm


def entry_kind(entry: os.DirEntry[str]) -> str:
    """``file``, ``dir``, ``link`` or ``other`` for a listed entry (not followed)."""
    try:
        if entry.is_symlink():
            return "link"
        if entry.is_file(follow_symlinks=False):
            return "file"
        if entry.is_dir(follow_symlinks=False):
            return "dir"
    except OSError:
        pass
    return "other"


def not_regular_reason(mode: int) -> str | None:
    """Why a file of this mode is not read (``None`` for a regular file)."""
    reason = boundedread.not_regular(mode)
    return None if reason is None else f"{reason}; not read"


def require_regular(mode: int) -> None:
    reason = not_regular_reason(mode)
    if reason is not None:
        raise Unreadable(reason)


def lstat_mode(path: str, *, regular: bool = False) -> int:
    """``lstat`` of a real path inside the root; raises FileNotFoundError or Unreadable."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise
    except NotADirectoryError as exc:
        raise FileNotFoundError(path) from exc
    except OSError as exc:
        raise Unreadable(f"cannot read ({exc.strerror})") from exc
    if regular:
        require_regular(mode)
    return mode


def read_path(path: str, limit: int) -> bytes:
    try:
        fd = os.open(path, READ_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Unreadable(f"cannot read ({exc.strerror})") from exc
    return read_fd(fd, limit)


def read_fd(fd: int, limit: int) -> bytes:
    """Read up to ``limit`` bytes, and close ``fd``. The fd is non-blocking, so a FIFO or tty
    cannot hang us; a directory fails with EISDIR.

    One ``read`` and no read loop, unlike :func:`boundedread.read_bounded`, and an ``fstat``
    only after an empty read: this is a scan's per-attribute path (about 15 a function), where
    a syscall costs 1.2-2.5 us (``bench/bench_scan.py``, the figures in
    :mod:`~pcipass.adapters.dirhandle`). The live root opens without looking first, and a FIFO
    without a writer reads as empty: the ``fstat`` tells it from an empty file.

    :raises Unreadable: the read failed, or the file is a FIFO or device (the reason says which).
    """
    try:
        data = os.read(fd, limit)
        if not data:
            require_regular(os.fstat(fd).st_mode)
        return data
    except OSError as exc:
        raise Unreadable(read_error(exc)) from exc
    finally:
        os.close(fd)


def read_error(exc: OSError) -> str:
    """Why a read failed, as the warnings say it."""
    if isinstance(exc, BlockingIOError):
        return "not a regular file (would block); not read"
    if isinstance(exc, IsADirectoryError):
        return "a directory; not read"
    return f"cannot read ({exc.strerror})"
