"""The store's tables, as SQLAlchemy 2 typed declarative models.

A device row carries what Nova's ``pci_devices`` row carries (address, ids, ``dev_type``,
parent address, ``numa_node``, status, owner, request id, label, ``dev_id``, ``extra_info``,
timestamps), the tags of the ``device_spec`` entry that made it assignable (``spec_tags``, so
pools can be built from the store), and a ``generation`` that SQLAlchemy checks and bumps on
every UPDATE and DELETE (compare-and-swap: a concurrent writer's change is never overwritten).

Timestamps are the database server's clock (``now()`` / ``CURRENT_TIMESTAMP``). JSON is kept as
text, as Nova keeps ``extra_info``, so the three databases store it alike.

The schema is changed only by a new Alembic revision (``migrations/versions``); a test checks
that the models and the head revision agree.
"""

from __future__ import annotations

import datetime

from sqlalchemy import (BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text,
                        UniqueConstraint, func)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Column sizes: a PCI address, a UUID, a status, a host name (RFC 1035 allows 253).
ADDRESS, UUID, STATUS, NAME, TYPE = 16, 36, 16, 255, 16


class Base(DeclarativeBase):
    pass


def _created() -> Mapped[datetime.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _updated() -> Mapped[datetime.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now(),
                         nullable=False)


class Host(Base):
    """A compute host, keyed by its host name (contracts §1), with Nova's ``[DEFAULT] host``."""

    __tablename__ = "hosts"
    __table_args__ = (UniqueConstraint("hostname", name="uq_hosts_hostname"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hostname: Mapped[str] = mapped_column(String(NAME), nullable=False)
    nova_host: Mapped[str | None] = mapped_column(String(NAME))
    #: What the last agent run read (``--host``): ``/``, a root directory or a bundle.
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = _created()
    updated_at: Mapped[datetime.datetime] = _updated()
    generation: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    cells: Mapped[list[NumaCell]] = relationship(back_populates="host",
                                                 cascade="all, delete-orphan",
                                                 order_by="NumaCell.cell_id")
    devices: Mapped[list[Device]] = relationship(back_populates="host",
                                                 cascade="all, delete-orphan",
                                                 order_by="Device.address")

    __mapper_args__ = {"version_id_col": generation}


class NumaCell(Base):
    """A host NUMA cell: what discovery read (CPUs, memory, sockets) and what Nova makes of it
    with the compute's CPU options (``core.numa.host_cells``): the shared CPUs (``cpus``), the
    dedicated ones (``pcpus``), memory in MiB and the socket."""

    __tablename__ = "numa_cells"
    __table_args__ = (UniqueConstraint("host_id", "cell_id", name="uq_numa_cells_host_cell"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"),
                                         nullable=False)
    cell_id: Mapped[int] = mapped_column(Integer, nullable=False)
    #: Every CPU of the node, as a canonical range list (``0-3,8``).
    cpus: Mapped[str] = mapped_column(Text, nullable=False)
    memory_kb: Mapped[int | None] = mapped_column(BigInteger)
    #: The physical packages of the node's CPUs, comma-separated.
    sockets: Mapped[str] = mapped_column(Text, nullable=False)
    shared_cpus: Mapped[str] = mapped_column(Text, nullable=False)
    dedicated_cpus: Mapped[str] = mapped_column(Text, nullable=False)
    memory_mb: Mapped[int] = mapped_column(BigInteger, nullable=False)
    socket: Mapped[int | None] = mapped_column(Integer)

    host: Mapped[Host] = relationship(back_populates="cells")


class Device(Base):
    """A PCI device of a host, as Nova's ``pci_devices`` row, plus ``spec_tags`` and
    ``generation``."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("host_id", "address", name="uq_devices_host_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"),
                                         nullable=False, index=True)
    address: Mapped[str] = mapped_column(String(ADDRESS), nullable=False)
    vendor_id: Mapped[str] = mapped_column(String(4), nullable=False)
    product_id: Mapped[str] = mapped_column(String(4), nullable=False)
    dev_type: Mapped[str] = mapped_column(String(TYPE), nullable=False)
    parent_addr: Mapped[str | None] = mapped_column(String(ADDRESS))
    numa_node: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(STATUS), nullable=False, index=True)
    instance_uuid: Mapped[str | None] = mapped_column(String(NAME))
    request_id: Mapped[str | None] = mapped_column(String(NAME))
    label: Mapped[str | None] = mapped_column(String(NAME))
    dev_id: Mapped[str | None] = mapped_column(String(NAME))
    #: Nova's ``extra_info``: a JSON object of strings.
    extra_info: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    #: The matched ``device_spec`` entry's tags: a JSON object.
    spec_tags: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    created_at: Mapped[datetime.datetime] = _created()
    updated_at: Mapped[datetime.datetime] = _updated()
    generation: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    host: Mapped[Host] = relationship(back_populates="devices")

    __mapper_args__ = {"version_id_col": generation}


class Claim(Base):
    """A consumer's hold on a device: ``claimed`` (with a lease that may expire) or
    ``allocated``. One row per busy device, kept equal to the device's status and owner."""

    __tablename__ = "claims"
    __table_args__ = (UniqueConstraint("device_id", name="uq_claims_device"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"),
                                           nullable=False)
    consumer_uuid: Mapped[str] = mapped_column(String(NAME), nullable=False, index=True)
    request_id: Mapped[str | None] = mapped_column(String(NAME))
    status: Mapped[str] = mapped_column(String(STATUS), nullable=False)
    lease_expires_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True),
                                                                       index=True)
    created_at: Mapped[datetime.datetime] = _created()
    updated_at: Mapped[datetime.datetime] = _updated()


class Consumer(Base):
    """A consumer (instance) holding devices through ``schedule --claim``: its host and its
    request (canonical JSON) with the request's fingerprint. Unique by consumer, so two
    concurrent claims of one consumer never both succeed; gone when the consumer holds nothing."""

    __tablename__ = "consumers"
    __table_args__ = (UniqueConstraint("consumer_uuid", name="uq_consumers_consumer_uuid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consumer_uuid: Mapped[str] = mapped_column(String(NAME), nullable=False)
    hostname: Mapped[str] = mapped_column(String(NAME), nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    request: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime.datetime] = _created()


class TrackerMemory(Base):
    """What Nova's tracker remembers between runs, by address (it outlives a deleted row):
    a device to remove when it is freed, and new data for a busy device (JSON)."""

    __tablename__ = "tracker_memory"
    __table_args__ = (UniqueConstraint("host_id", "address", name="uq_tracker_memory_host_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"),
                                         nullable=False)
    address: Mapped[str] = mapped_column(String(ADDRESS), nullable=False)
    remove_when_freed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    stale: Mapped[str | None] = mapped_column(Text)


class Audit(Base):
    """One state change: when (server clock), where, old -> new status, owner, request id and
    the command that made it. Kept by host name, so it outlives the rows it speaks of."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime.datetime] = _created()
    hostname: Mapped[str] = mapped_column(String(NAME), nullable=False, index=True)
    address: Mapped[str | None] = mapped_column(String(ADDRESS))
    old_status: Mapped[str | None] = mapped_column(String(STATUS))
    new_status: Mapped[str | None] = mapped_column(String(STATUS))
    owner: Mapped[str | None] = mapped_column(String(NAME))
    request_id: Mapped[str | None] = mapped_column(String(NAME))
    command: Mapped[str] = mapped_column(String(NAME), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
