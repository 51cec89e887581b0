"""Read a bounded regular file without blocking: the one way pcipass reads a file it is given.

Operators pass paths that are not files (``/dev/zero``, a FIFO, a socket, a
directory) and files far larger than any config or paste. :func:`read_bounded`
opens without blocking, looks at what the path is before reading a byte, and
reads at most one byte more than the bound, so neither case can hang pcipass
or fill its memory. Callers turn the exceptions into their own messages.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
_NOT_REGULAR = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_MIB = 1 << 20
MAX_INPUT_BYTES = 16 * _MIB
"""The largest file a user names that pcipass reads (a nova.conf, a flavor, an image):
no such file is that big, and a flavor list of thousands is a few MiB."""


class NotRegularFile(OSError):
    """A FIFO, socket or device where a file was expected (reading it could block forever)."""


class FileTooLarge(OSError):
    """More bytes than the caller's bound."""


def not_regular(mode: int) -> str | None:
    """Why a file of this ``st_mode`` is not read as a file (``None`` for a regular file).

    ``"a directory"``, or ``"not a regular file (a FIFO)"`` and the like.
    """
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "of an unknown type")
    return f"not a regular file ({kind})"


def describe_size(limit: int) -> str:
    """A bound as the messages say it: ``16 MiB``, or ``65,536 bytes`` below a MiB."""
    return f"{limit // _MIB} MiB" if limit >= _MIB and limit % _MIB == 0 else f"{limit:,} bytes"


def read_bounded(path: str | Path, limit: int, *, dir_fd: int | None = None,
                 follow_symlinks: bool = True, allow_fifo: bool = False) -> bytes:
    """Read a regular file of at most ``limit`` bytes, without ever blocking on it.

    :param path: the file; relative to ``dir_fd`` when that is given.
    :param limit: the most bytes accepted; ``limit + 1`` are read to tell a larger file.
    :param follow_symlinks: ``False`` refuses a symlink as the last component (``ELOOP``).
    :param allow_fifo: also read a FIFO or pipe the user named (``<(...)``, ``/dev/stdin``),
        waiting for its writer as ``cat`` does; the same bound applies.
    :raises IsADirectoryError: ``path`` is a directory.
    :raises NotRegularFile: a FIFO (unless allowed), socket or device; the reason names which.
    :raises FileTooLarge: more than ``limit`` bytes.
    :raises OSError: the file cannot be opened or read (missing, no permission, ...).
    """
    flags = _OPEN_FLAGS if follow_symlinks else _OPEN_FLAGS | os.O_NOFOLLOW
    if allow_fifo and _is_fifo(path, dir_fd, follow_symlinks):
        # Opened once, blocking, as cat opens it: a named FIFO waits for its writer; a pipe
        # (<(...), /dev/stdin) never waits. Opening it first without blocking to look at it
        # would let a quick writer connect to that probe, write and leave before the real
        # open, which would then wait forever.
        fd = os.open(path, flags & ~os.O_NONBLOCK, dir_fd=dir_fd)
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISFIFO(mode):  # swapped since the look: the usual checks
                _require_regular(mode, path)
            return _bounded(fd, limit, path)
        finally:
            os.close(fd)
    fd = os.open(path, flags, dir_fd=dir_fd)
    try:
        _require_regular(os.fstat(fd).st_mode, path)
        return _bounded(fd, limit, path)
    finally:
        os.close(fd)


def _is_fifo(path: str | Path, dir_fd: int | None, follow_symlinks: bool) -> bool:
    """Whether ``path`` is a FIFO or pipe, by ``stat`` (which opens nothing)."""
    try:
        return stat.S_ISFIFO(os.stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks).st_mode)
    except OSError:
        return False  # the open that follows reports it


def read_fd(fd: int, limit: int, name: str) -> bytes:
    """Everything an open descriptor gives (standard input: a file, a pipe, a terminal), at
    most ``limit`` bytes.

    :raises FileTooLarge: more than ``limit`` bytes.
    """
    return _bounded(fd, limit, name)


def _bounded(fd: int, limit: int, path: str | Path) -> bytes:
    data = _read_upto(fd, limit + 1)
    if len(data) > limit:
        raise FileTooLarge(errno.EFBIG, f"larger than {describe_size(limit)}", str(path))
    return data


def _require_regular(mode: int, path: str | Path) -> None:
    reason = not_regular(mode)
    if reason is None:
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    raise NotRegularFile(errno.EINVAL, reason, str(path))


def _read_upto(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes, reading again after a short read (pipes deliver in pieces)."""
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
