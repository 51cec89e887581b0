"""Evidence: one fact behind a finding or a reason, and where it was read.

The doctor's findings and the scheduling core's reasons both cite facts this
way: a file (and line), a sysfs path, a pool or a request, with the exact
value. Each document chooses its fields at its edge
(:mod:`pcipass.services.jsonview`): a doctor finding prints ``source``,
``value`` and ``line``; a scheduling reason prints ``source`` and ``value``.
"""

from __future__ import annotations

import dataclasses

@dataclasses.dataclass(frozen=True, slots=True)
class Evidence:
    """One value read, and where: a file (and ``line``), a sysfs path, a pool, a request."""

    source: str
    value: str
    line: int | None = None
