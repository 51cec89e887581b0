"""The progress of a run over many hosts, on stderr when stderr is a terminal.

The services count their work (:mod:`pcipass.services.progress`); this shows it as rich's
progress bar: what is counted, the bar, done of total, the rate and the time left. It appears
only for more than one unit, only on a terminal, and it goes away when the stage ends, so
nothing of it reaches a pipe, a file or ``-f json``. Imported only when stderr is a terminal
(rich costs a run in a pipe nothing).
"""

from __future__ import annotations

import sys
from typing import Any

import rich.progress
import rich.text

from pcipass.cli import output
from pcipass.services import progress


class Bar:
    """A :func:`progress.listen` listener drawing one bar per stage of work."""

    def __init__(self) -> None:
        self._bar: rich.progress.Progress | None = None
        self._task: Any = None
        self._what = ""

    def __call__(self, state: progress.Progress) -> None:
        if state.total <= 1:
            return
        if self._bar is None or state.what != self._what:
            self.close()
            self._open(state)
        assert self._bar is not None
        self._bar.update(self._task, completed=state.done)
        if state.done >= state.total:
            self.close()

    def _open(self, state: progress.Progress) -> None:
        columns = (rich.progress.TextColumn("{task.description}"), rich.progress.BarColumn(),
                   rich.progress.MofNCompleteColumn(), _Rate(),
                   rich.progress.TimeRemainingColumn())
        console = output.make_console(sys.stderr)  # no markup, control characters escaped
        self._bar = rich.progress.Progress(*columns, console=console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task(state.what, total=state.total)
        self._what = state.what

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class _Rate(rich.progress.ProgressColumn):
    """Units per second, once there is a rate."""

    def render(self, task: rich.progress.Task) -> rich.text.Text:
        speed = task.speed
        return rich.text.Text("" if not speed else f"{speed:.1f}/s")


def shown() -> Bar:
    """Listen to the services' progress (the caller checked that stderr is a terminal)."""
    bar = Bar()
    progress.listen(bar)
    return bar
