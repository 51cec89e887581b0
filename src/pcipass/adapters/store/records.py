"""What the store takes and hands back: plain records, no SQLAlchemy objects.

Timestamps are the database server's, as ISO 8601 text (a record prints as JSON as it is).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class StoredCell:
    """A host NUMA cell: discovery's facts and Nova's view of them (``core.numa.HostCell``).

    :ivar cpus: every CPU of the node (a canonical range list, ``0-3,8``).
    :ivar shared_cpus: the CPUs for floating vCPUs (``HostCell.cpus``).
    :ivar dedicated_cpus: the CPUs for pinned vCPUs (``HostCell.pcpus``).
    """

    cell_id: int
    cpus: str
    memory_kb: int | None
    sockets: tuple[int, ...]
    shared_cpus: str
    dedicated_cpus: str
    memory_mb: int
    socket: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class HostFacts:
    """What an agent run knows of a host besides its devices."""

    hostname: str
    nova_host: str | None
    source: str | None
    cells: tuple[StoredCell, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class StoredDevice:
    """One device row, with its host's names (``pcipass devices``)."""

    hostname: str
    nova_host: str | None
    address: str
    vendor_id: str
    product_id: str
    dev_type: str
    parent_addr: str | None
    numa_node: int | None
    status: str
    instance_uuid: str | None
    request_id: str | None
    label: str | None
    dev_id: str | None
    extra_info: Mapping[str, str]
    spec_tags: Mapping[str, Any]
    generation: int
    created_at: str
    updated_at: str


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEntry:
    """One state change as the audit trail keeps it (``old_status`` None: the device is new;
    ``new_status`` None: the row is gone)."""

    hostname: str
    address: str | None
    old_status: str | None
    new_status: str | None
    owner: str | None
    request_id: str | None
    command: str
    detail: str | None = None
    at: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Applied:
    """What one transaction wrote: the state changes (audited), how many rows it inserted,
    updated and deleted, and the warnings of the tracker's rules."""

    hostname: str
    changes: tuple[AuditEntry, ...]
    inserted: int
    updated: int
    deleted: int
    warnings: tuple[str, ...]
    host_created: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted or self.changes
                    or self.host_created)
