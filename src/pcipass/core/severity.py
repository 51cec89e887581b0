"""How bad a doctor finding or a scheduling reason is: one enum for both.

A doctor finding is ``fail``, ``warn``, ``info`` or ``skip`` (the check could
not run: facts missing); a scheduling reason says what the doctor's finding for
the same cause would say (``fail``: the host is refused or the boot fails
there). Decisions compare members; the output edge prints the value.
"""

from __future__ import annotations

import enum


class Severity(enum.StrEnum):
    """How bad a finding is; ``skip``: the check could not run (facts missing)."""

    FAIL = "fail"
    WARN = "warn"
    INFO = "info"
    SKIP = "skip"

