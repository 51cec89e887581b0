"""How far a long run got: what the CLI says when the run is stopped, or shows as it goes.

The services count their units of work here (host roots scanned, hosts
checked); front ends read :func:`current`. One run per process, so one
record; the pure core never touches it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass
class Progress:
    """``done`` of ``total`` units of ``what`` (a plural noun phrase: "host roots scanned")."""

    what: str
    done: int
    total: int

    def describe(self) -> str:
        return f"{self.done} of {self.total} {self.what}"


_current: Progress | None = None
_listener: Callable[[Progress], None] | None = None


def start(what: str, total: int) -> Progress:
    """Begin counting a new stage of work (the previous stage is forgotten)."""
    global _current
    _current = Progress(what, 0, total)
    _notify()
    return _current


def advance(n: int = 1) -> None:
    if _current is not None:
        _current.done += n
        _notify()


def current() -> Progress | None:
    return _current


def listen(listener: Callable[[Progress], None] | None) -> None:
    """Call ``listener`` on every change (a front end's progress display), or stop with None."""
    global _listener
    _listener = listener


def reset() -> None:
    global _current
    _current = None


def _notify() -> None:
    if _listener is not None and _current is not None:
        _listener(_current)
