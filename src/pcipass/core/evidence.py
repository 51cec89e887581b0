"""Evidence: one fact behind a finding or a reason, and where it was read.

The doctor's findings and the scheduling core's reasons both cite facts this
way: a file (and line), a sysfs path, a pool or a request, with the exact
value. Each document chooses its fields at its edge: a doctor finding prints
``source``, ``value`` and ``line`` (:meth:`Evidence.to_dict`); a scheduling
reason prints ``source`` and ``value`` (:meth:`Evidence.brief`).
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class Evidence:
    """One value read, and where: a file (and ``line``), a sysfs path, a pool, a request."""

    source: str
    value: str
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "value": self.value, "line": self.line}

    def brief(self) -> dict[str, str]:
        """The form without the line, as reasons print it (``pcipass schedule``, the doctor's flavors)."""
        return {"source": self.source, "value": self.value}
