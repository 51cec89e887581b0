"""A host's tracked state in the store: read it, run a tracker rule on it, write the difference.

:func:`apply` is one transaction: lock the host row, load its devices and the tracker's memory
as a :class:`~pcipass.core.tracker.TrackerState`, run the caller's rule (``tracker.sync``,
``tracker.free``, a claim...), then Nova's ``save`` (removed devices become deleted, and their
rows go), and write only what changed: a row is updated only when one of its values differs,
with its ``generation`` checked and bumped (a concurrent writer's change makes this one fail
with :class:`StoreConflict`), and every status change gets an audit row. Claims follow the
devices' statuses; the tracker's memory is rewritten when it differs.

Every statement is built by SQLAlchemy with bound parameters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from pcipass.adapters.store import engine as engine_mod
from pcipass.adapters.store import leases, models, records
from pcipass.core import devicestate as ds
from pcipass.core import errors, tracker

Rule = Callable[[tracker.TrackerState], tracker.TrackerChange]
_BUSY = (ds.Status.CLAIMED, ds.Status.ALLOCATED)
_DATA = ("dev_type", "parent_addr", "vendor_id", "product_id", "numa_node", "dev_id", "label")


class StoreConflict(errors.InputError):
    """Another writer changed the host while this transaction ran."""

    msg_fmt = "host %(hostname)s changed in the device store while this run read it: %(reason)s"


class ConsumerClaimed(StoreConflict):
    """A transaction that claims for a consumer met a conflict, and the consumer holds a claim
    in the store now: another client claimed for it meanwhile (the next read finds that claim)."""

    code = "StoreConflict"


class StoreCorrupt(errors.InputError):
    """A row holds a value pcipass never writes."""

    msg_fmt = "the device store holds an unreadable value: %(reason)s"


class HostUnknown(errors.InputError):
    msg_fmt = "host %(hostname)s is not in the device store"


def apply(engine: Engine, hostname: str, rule: Rule, *, command: str,
          facts: records.HostFacts | None = None,
          spec_tags: Mapping[str, Mapping[str, Any]] | None = None,
          lease_seconds: int | None = None) -> records.Applied:
    """Run ``rule`` on the stored state of ``hostname`` and write the result, in one transaction.

    :param facts: the host's names and NUMA cells; the host row is created when missing (only
        with facts: a rule on an unknown host raises :class:`HostUnknown`).
    :param spec_tags: address -> the tags of the ``device_spec`` entry that matched it.
    :param lease_seconds: the lease of the claims this run makes (None: no lease).
    :raises StoreConflict: a concurrent writer changed the same rows, or the database met a
        deadlock or a serialization failure (:func:`leases.retryable`).
    :raises Exception: whatever ``rule`` raises (the state machine's errors); nothing is written.
    """
    with transaction(engine, hostname) as session:
        return apply_in(session, hostname, rule, command=command, facts=facts,
                        spec_tags=spec_tags, lease_seconds=lease_seconds)


class transaction:
    """One transaction on the store, its errors told apart: a concurrent change, a deadlock or
    a serialization failure is :class:`StoreConflict` (run it again); any other database error
    is :class:`~pcipass.adapters.store.engine.StoreUnavailable`."""

    def __init__(self, engine: Engine | sqlalchemy.Connection, hostname: str) -> None:
        """:param engine: the store, or a connection to it the caller holds (its transaction
            is this one)."""
        self.engine = engine
        self.hostname = hostname
        self.session = Session(engine)

    def __enter__(self) -> Session:
        self.session.begin()
        return self.session

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 _tb: Any) -> None:
        try:
            if exc is None:
                try:
                    self.session.commit()
                except BaseException as failed:
                    self.session.rollback()
                    self._raise(failed)
            else:
                self.session.rollback()
                self._raise(exc)
        finally:
            self.session.close()

    def _raise(self, exc: BaseException) -> None:
        hostname, engine = self.hostname, self.engine
        if isinstance(exc, sqlalchemy.orm.exc.StaleDataError):
            raise StoreConflict(hostname=hostname, reason=str(exc),
                                hint="run the command again") from exc
        if isinstance(exc, sqlalchemy.exc.IntegrityError) or leases.retryable(exc):
            assert isinstance(exc, sqlalchemy.exc.DBAPIError)
            raise StoreConflict(hostname=hostname, reason=str(exc.orig).splitlines()[0],
                                hint="run the command again") from exc
        if isinstance(exc, sqlalchemy.exc.DBAPIError):
            raise engine_mod.StoreUnavailable(url=engine_mod.shown(engine.engine.url),
                                              reason=str(exc.orig).splitlines()[0]) from exc


def apply_in(session: Session, hostname: str, rule: Rule, *, command: str,
             facts: records.HostFacts | None = None,
             spec_tags: Mapping[str, Mapping[str, Any]] | None = None,
             lease_seconds: int | None = None) -> records.Applied:
    """:func:`apply` inside a transaction the caller holds (several rules in one transaction:
    the expired claims released, then a claim)."""
    return _apply(session, hostname, rule, command, facts, spec_tags or {}, lease_seconds)


def _apply(session: Session, hostname: str, rule: Rule, command: str,
           facts: records.HostFacts | None,
           spec_tags: Mapping[str, Mapping[str, Any]],
           lease_seconds: int | None = None) -> records.Applied:
    host = session.scalars(select(models.Host).where(models.Host.hostname == hostname)
                           .with_for_update()).one_or_none()
    created = host is None
    if host is None:
        if facts is None:
            raise HostUnknown(hostname=hostname, hint="store it first: pcipass agent --once")
        host = models.Host(hostname=hostname, nova_host=facts.nova_host, source=facts.source)
        session.add(host)
        session.flush()
    rows = {r.address: r for r in host.devices}
    memory = {m.address: m for m in session.scalars(
        select(models.TrackerMemory).where(models.TrackerMemory.host_id == host.id))}
    held = {c.device_id: c for c in session.scalars(
        select(models.Claim).join(models.Device, models.Claim.device_id == models.Device.id)
        .where(models.Device.host_id == host.id))}
    before = load_state(host, rows.values(), memory.values())
    change = rule(before)
    synced = change.state
    after = tracker.save(synced)
    audit: list[records.AuditEntry] = []
    counts = {"inserted": 0, "updated": 0, "deleted": 0}
    for address in sorted(after.tree.devices):
        _write_device(session, host, rows.get(address), synced.tree[address],
                      after.tree[address], spec_tags.get(address), command, audit, counts, held,
                      lease_seconds)
    changed_memory = _write_memory(session, host, memory, after)
    changed_host = facts is not None and _write_facts(session, host, facts)
    if not created and (counts["inserted"] or counts["updated"] or counts["deleted"]
                        or changed_memory or changed_host):
        host.updated_at = sqlalchemy.func.now()  # bumps the generation
    session.add_all(models.Audit(hostname=hostname, address=a.address, old_status=a.old_status,
                                 new_status=a.new_status, owner=a.owner,
                                 request_id=a.request_id, command=command, detail=a.detail)
                    for a in audit)
    session.flush()
    return records.Applied(hostname, tuple(audit), counts["inserted"], counts["updated"],
                           counts["deleted"], change.warnings, host_created=created)


def read_state(engine: Engine, hostname: str) -> tracker.TrackerState:
    """The tracker's state of ``hostname`` as stored (what :func:`apply` hands its rule).

    :raises HostUnknown: the host is not in the store.
    """
    with Session(engine) as session:
        host = session.scalars(select(models.Host).where(models.Host.hostname == hostname)
                               ).one_or_none()
        if host is None:
            raise HostUnknown(hostname=hostname, hint="store it first: pcipass agent --once")
        memory = session.scalars(select(models.TrackerMemory)
                                 .where(models.TrackerMemory.host_id == host.id))
        return load_state(host, host.devices, list(memory))


def load_state(host: models.Host, rows: Any, memory: Any) -> tracker.TrackerState:
    """The tracker's state from a host's rows (devices and memory)."""
    devices = [ds.TrackedDevice(
        r.address, r.dev_type, _status(r), r.parent_addr, r.instance_uuid, r.request_id,
        r.vendor_id, r.product_id, r.numa_node, r.dev_id, r.label,
        json_object(r.extra_info, f"{host.hostname} {r.address} extra_info")) for r in rows]
    remembered = frozenset(m.address for m in memory if m.remove_when_freed)
    stale = {m.address: _discovered(m.stale, f"{host.hostname} {m.address} stale data")
             for m in memory if m.stale is not None}
    tree = ds.DeviceTree(devices, host.nova_host or host.hostname)
    return tracker.TrackerState(tree, remembered, stale)


def _write_device(session: Session, host: models.Host, row: models.Device | None,
                  synced: ds.TrackedDevice, dev: ds.TrackedDevice,
                  tags: Mapping[str, Any] | None, command: str,
                  audit: list[records.AuditEntry], counts: dict[str, int],
                  held: Mapping[int, models.Claim], lease_seconds: int | None) -> None:
    old = row.status if row is not None else None
    for a, b in ((old, str(synced.status)), (str(synced.status), str(dev.status))):
        if a != b:
            audit.append(records.AuditEntry(host.hostname, dev.address, a, b,
                                            synced.owner or (row.instance_uuid if row else None),
                                            synced.request_id or (row.request_id if row else None),
                                            command))
    if dev.status == ds.Status.DELETED:
        if row is not None:
            session.delete(row)
            counts["deleted"] += 1
        return
    values: dict[str, Any] = {name: getattr(dev, name) for name in _DATA}
    values.update(status=str(dev.status), instance_uuid=dev.owner, request_id=dev.request_id,
                  extra_info=_dump(dev.extra_info))
    if tags is not None:
        values["spec_tags"] = _dump(tags)
    if row is None:
        row = models.Device(host_id=host.id, address=dev.address,
                            spec_tags=values.pop("spec_tags", "{}"), **values)
        session.add(row)
        counts["inserted"] += 1
        if dev.status in _BUSY:
            session.flush()  # the claim needs the row's id
    else:
        diff = {k: v for k, v in values.items() if getattr(row, k) != v}
        if diff:
            for k, v in diff.items():
                setattr(row, k, v)
            counts["updated"] += 1
    _write_claim(session, row, dev, held.get(row.id) if row.id is not None else None,
                 lease_seconds)


def _write_claim(session: Session, row: models.Device, dev: ds.TrackedDevice,
                 claim: models.Claim | None, lease_seconds: int | None) -> None:
    """The claim row follows the device: a claim gets the run's lease (server clock), an
    allocation has none."""
    if dev.status not in _BUSY or dev.owner is None:
        if claim is not None:
            session.delete(claim)
        return
    lease = (leases.until(lease_seconds)
             if dev.status == ds.Status.CLAIMED and lease_seconds is not None else None)
    if claim is None:
        session.add(models.Claim(device_id=row.id, consumer_uuid=dev.owner,
                                 request_id=dev.request_id, status=str(dev.status),
                                 lease_expires_at=lease))
        return
    changed = False
    for name, value in (("consumer_uuid", dev.owner), ("request_id", dev.request_id),
                        ("status", str(dev.status))):
        if getattr(claim, name) != value:
            setattr(claim, name, value)
            changed = True
    if changed and (dev.status == ds.Status.ALLOCATED or lease is not None):
        claim.lease_expires_at = lease


def _write_memory(session: Session, host: models.Host,
                  memory: Mapping[str, models.TrackerMemory],
                  state: tracker.TrackerState) -> bool:
    wanted: dict[str, tuple[bool, str | None]] = {}
    for address in state.to_be_removed_when_freed | set(state.stale):
        rec = state.stale.get(address)
        wanted[address] = (address in state.to_be_removed_when_freed,
                           _dump(_discovered_dict(rec)) if rec is not None else None)
    changed = False
    for address, row in memory.items():
        if address not in wanted:
            session.delete(row)
            changed = True
    for address, (remove, stale) in wanted.items():
        kept = memory.get(address)
        if kept is None:
            session.add(models.TrackerMemory(host_id=host.id, address=address,
                                             remove_when_freed=remove, stale=stale))
            changed = True
        elif (kept.remove_when_freed, kept.stale) != (remove, stale):
            kept.remove_when_freed, kept.stale = remove, stale
            changed = True
    return changed


def _write_facts(session: Session, host: models.Host, facts: records.HostFacts) -> bool:
    changed = False
    for name in ("nova_host", "source"):
        if getattr(host, name) != getattr(facts, name):
            setattr(host, name, getattr(facts, name))
            changed = True
    have = [_cell(c) for c in host.cells]
    if have != list(facts.cells):
        host.cells.clear()
        session.flush()
        host.cells.extend(models.NumaCell(
            cell_id=c.cell_id, cpus=c.cpus, memory_kb=c.memory_kb,
            sockets=",".join(map(str, c.sockets)), shared_cpus=c.shared_cpus,
            dedicated_cpus=c.dedicated_cpus, memory_mb=c.memory_mb, socket=c.socket)
            for c in facts.cells)
        changed = True
    return changed


def _cell(c: models.NumaCell) -> records.StoredCell:
    sockets = tuple(int(s) for s in c.sockets.split(",") if s.strip().isdigit())
    return records.StoredCell(c.cell_id, c.cpus, c.memory_kb, sockets, c.shared_cpus,
                              c.dedicated_cpus, c.memory_mb, c.socket)


def stored_cell(c: Any) -> records.StoredCell:
    """A NUMA cell row (ORM or Core) as its record."""
    return _cell(c)


def cells(host: models.Host) -> tuple[records.StoredCell, ...]:
    return tuple(_cell(c) for c in host.cells)


def _status(row: models.Device) -> ds.Status:
    try:
        return ds.Status(row.status)
    except ValueError:
        raise StoreCorrupt(reason=f"device {row.address}: status {row.status[:40]!r}") from None


def _dump(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"))


def json_object(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise StoreCorrupt(reason=f"{where}: not a JSON object")
    return value


def _discovered_dict(rec: tracker.DiscoveredDevice) -> dict[str, Any]:
    out: dict[str, Any] = {"address": rec.address, "dev_type": rec.dev_type,
                           "vendor_id": rec.vendor_id, "product_id": rec.product_id,
                           "parent_addr": rec.parent_addr, "numa_node": rec.numa_node,
                           "dev_id": rec.dev_id, "label": rec.label}
    return {**out, **rec.extra}


def _discovered(text: str, where: str) -> tracker.DiscoveredDevice:
    try:
        return tracker.DiscoveredDevice.from_dict(json_object(text, where))
    except ValueError as exc:
        raise StoreCorrupt(reason=f"{where}: {exc}") from exc
