"""Clean stops: SIGINT ends a run with 130, SIGTERM and SIGHUP with 143 (contracts §5).

SIGHUP (the terminal went away) is a request to terminate, as SIGTERM is: the contract's
table has two stop codes, 130 for an interrupt and 143 for a termination, and a script
checking for them sees a hang-up as what it is.

While a command runs, each of the three signals raises :class:`Stopped` in the
main thread. It is a ``BaseException``, so no ``except Exception`` swallows it
and every ``with`` block on the way out runs: worker pools are terminated
(:mod:`pcipass.services.workers`), bundles' memory and temporary config copies
are released. After the first signal the others are ignored, so a second
Ctrl-C cannot cut that clean-up short. The CLI then prints one line saying what
had finished.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from pcipass.services import progress

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(BaseException):
    """The run was stopped by ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        signum = signal.SIGTERM if self.signum == signal.SIGHUP else self.signum
        return 128 + signum


def _stop(signum: int, frame: Any) -> None:
    for sig in SIGNALS:  # one stop: the clean-up that follows must not be cut short
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


@contextlib.contextmanager
def stops_on_signals() -> Iterator[None]:
    """Turn the three signals into :class:`Stopped` for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _stop) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def message(signum: int) -> str:
    """The one line printed on a stop."""
    name = signal.Signals(signum).name
    done = progress.current()
    finished = done.describe() if done is not None else "nothing had finished"
    return (f"pcipass: stopped by {name} ({finished}); no result was printed, worker processes "
            "were stopped and nothing was left behind")
