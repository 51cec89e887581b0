"""Reading the store: devices (``pcipass devices``), a host's NUMA cells, the audit trail."""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from pcipass.adapters.store import engine as engine_mod
from pcipass.adapters.store import hoststate, models, records


def devices(engine: Engine, *, hostname: str | None = None,
            status: str | None = None) -> tuple[records.StoredDevice, ...]:
    """Every stored device (of one host, in one status), by host name and address."""
    query = (select(models.Device, models.Host.hostname, models.Host.nova_host)
             .join(models.Host, models.Device.host_id == models.Host.id)
             .order_by(models.Host.hostname, models.Device.address))
    if hostname is not None:
        query = query.where(models.Host.hostname == hostname)
    if status is not None:
        query = query.where(models.Device.status == status)
    with _session(engine) as session:
        return tuple(_device(row, name, nova) for row, name, nova in session.execute(query))


def hosts(engine: Engine) -> tuple[records.HostFacts, ...]:
    """Every stored host with its NUMA cells, by host name."""
    with _session(engine) as session:
        found = session.scalars(select(models.Host).order_by(models.Host.hostname))
        return tuple(records.HostFacts(h.hostname, h.nova_host, h.source, hoststate.cells(h))
                     for h in found)


def audit(engine: Engine, *, hostname: str | None = None) -> tuple[records.AuditEntry, ...]:
    """The audit trail, oldest first (of one host)."""
    query = select(models.Audit).order_by(models.Audit.id)
    if hostname is not None:
        query = query.where(models.Audit.hostname == hostname)
    with _session(engine) as session:
        return tuple(records.AuditEntry(a.hostname, a.address, a.old_status, a.new_status,
                                        a.owner, a.request_id, a.command, a.detail, _when(a.at))
                     for a in session.scalars(query))


def claims(engine: Engine) -> tuple[tuple[str, str, str, str], ...]:
    """(host name, address, consumer, status) of every claim and allocation."""
    query = (select(models.Host.hostname, models.Device.address, models.Claim.consumer_uuid,
                    models.Claim.status)
             .join(models.Device, models.Claim.device_id == models.Device.id)
             .join(models.Host, models.Device.host_id == models.Host.id)
             .order_by(models.Host.hostname, models.Device.address))
    with _session(engine) as session:
        return tuple((h, a, c, s) for h, a, c, s in session.execute(query))


class _session:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session = Session(engine)

    def __enter__(self) -> Session:
        return self.session

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 _tb: Any) -> None:
        self.session.close()
        if isinstance(exc, sqlalchemy.exc.DBAPIError):
            raise engine_mod.StoreUnavailable(url=engine_mod.shown(self.engine.url),
                                              reason=str(exc.orig).splitlines()[0]) from exc


def _device(row: models.Device, hostname: str, nova_host: str | None) -> records.StoredDevice:
    where = f"{hostname} {row.address}"
    return records.StoredDevice(
        hostname, nova_host, row.address, row.vendor_id, row.product_id, row.dev_type,
        row.parent_addr, row.numa_node, row.status, row.instance_uuid, row.request_id, row.label,
        row.dev_id, hoststate.json_object(row.extra_info, f"{where} extra_info"),
        hoststate.json_object(row.spec_tags, f"{where} spec_tags"), row.generation,
        _when(row.created_at), _when(row.updated_at))


def when(value: datetime.datetime | None) -> str:
    """A server timestamp as ISO 8601 text ("" for none)."""
    return _when(value)


def _when(value: datetime.datetime | None) -> str:
    """The server's timestamp as ISO 8601 (UTC when the database kept no zone)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.isoformat()



