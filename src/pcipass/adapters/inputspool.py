"""Inputs given as stdin (``-``) or a pipe (``<(openstack flavor show ... -f json)``).

A pipe can be read once, and some readers read a file more than once (oslo.config opens a
nova.conf itself after pcipass has read and located its lines). So a pipe or stdin named on
the command line is read here once, with the bound every input file has
(:data:`~pcipass.adapters.boundedread.MAX_INPUT_BYTES`), into a private temporary
directory, and the readers get that regular file. :func:`display_names` maps the temporary
paths back to what the user typed, so messages name ``/dev/fd/63`` or ``<stdin>``, never the
copy; :func:`cleanup` removes the copies (the CLI calls it when the command ends, stopped or
not).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile

from pcipass.adapters import boundedread

STDIN = "-"
#: How messages name standard input.
STDIN_NAME = "<stdin>"

_state: dict[str, object] = {"dir": None, "stdin": False}
_names: dict[str, str] = {}


class StdinTwice(ValueError):
    """``-`` given to two options: standard input can be read once."""


def is_stream(path: str) -> bool:
    """``-``, or a FIFO or pipe (by ``stat``, which opens nothing)."""
    if path == STDIN:
        return True
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def spool(path: str, limit: int = boundedread.MAX_INPUT_BYTES) -> str:
    """A regular file holding what ``path`` (``-`` or a pipe) gives, read once; ``path`` itself
    when it is neither.

    :raises StdinTwice: ``-`` was spooled before.
    :raises OSError: reading failed (:class:`~pcipass.adapters.boundedread.FileTooLarge` over
        the bound).
    """
    if not is_stream(path):
        return path
    if path == STDIN:
        if _state["stdin"]:
            raise StdinTwice("standard input (-) can be given to one option only")
        _state["stdin"] = True
        data = boundedread.read_fd(0, limit, STDIN_NAME)
        shown, base = STDIN_NAME, "stdin"
    else:
        data = boundedread.read_bounded(path, limit, allow_fifo=True)
        shown, base = path, os.path.basename(path) or "input"
    directory = _directory()
    copy = os.path.join(directory, base)
    n = 1
    while os.path.exists(copy):  # two pipes of one name (fd numbers are reused)
        n += 1
        copy = os.path.join(directory, str(n), base)
    os.makedirs(os.path.dirname(copy), mode=0o700, exist_ok=True)
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    _names[copy] = shown
    return copy


def display_names() -> dict[str, str]:
    """Each spooled copy's path -> the name the user gave (``<stdin>`` for ``-``)."""
    return dict(_names)


def cleanup() -> None:
    """Remove every copy; standard input may be spooled again afterwards."""
    directory = _state["dir"]
    _state["dir"], _state["stdin"] = None, False
    _names.clear()
    if isinstance(directory, str):
        shutil.rmtree(directory, ignore_errors=True)


def _directory() -> str:
    directory = _state["dir"]
    if not isinstance(directory, str):
        directory = tempfile.mkdtemp(prefix="pcipass-input-")
        _state["dir"] = directory
    return directory
