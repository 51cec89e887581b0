"""Pause Python's cyclic garbage collector while a fleet is read and checked.

A fleet scan builds hundreds of thousands of small, acyclic objects (devices,
pool entries, findings). Each one counts towards the collector's thresholds,
and every full collection walks the whole (growing) heap again: on 100 hosts of
1,032 functions that was a sixth of the doctor's run for nothing collected.
Reference counting still frees everything as usual; only the cycle hunt waits
until the outermost :func:`paused` block ends.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0
_restore = False  # whether the collector was on when the first block began


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Disable the cyclic collector for the block (re-entrant, and across threads: whichever
    block ends last restores the state the first one found)."""
    global _depth, _restore
    with _lock:
        if _depth == 0:
            _restore = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _restore:
                gc.enable()
