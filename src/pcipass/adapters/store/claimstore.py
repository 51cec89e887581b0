"""Claims in the store: the fleet as the scheduler reads it, and the transactions that claim,
allocate, free and release a consumer's devices.

Exclusive without trusting row locks alone (MariaDB Galera has no cluster-wide lock; see
``docs/claims.md``):

* the scheduler reads the fleet outside any transaction (:func:`pcipass.adapters.store.fleetread.read_fleet`), with every
  device's ``generation``;
* :func:`claim` then, in one transaction on the chosen host: locks the host row (a lock on a
  single server, a no-op across Galera nodes), releases the host's expired claims, checks that
  each picked device still has the generation the scheduler read (compare-and-swap: a device
  another writer touched meanwhile is :class:`~pcipass.core.claimrules.DevicesTaken`), applies
  the state machine (:mod:`pcipass.core.claimrules`) and writes every changed row with
  ``UPDATE ... WHERE generation = :read`` (a row changed since this transaction read it fails
  the whole transaction, :class:`~pcipass.adapters.store.hoststate.StoreConflict`), bumps the
  host's generation the same way, and inserts the consumer's row (unique: two claims of one
  consumer never both commit);
* a deadlock, a serialization failure or a Galera certification failure is a
  :class:`~pcipass.adapters.store.hoststate.StoreConflict` too (``leases.retryable``); the
  caller retries, a bounded number of times.

Every transaction on a host first releases that host's expired claims (the next writer does
it, by the server's clock), and a consumer that holds nothing any more loses its row.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from pcipass.adapters.store import fleetread, hoststate, leases, models, queries
from pcipass.core import claimrules, tracker
from pcipass.core import devicestate as ds

ConsumerRule = Callable[[tracker.TrackerState, str], tracker.TrackerChange]
EXPIRED_COMMAND = "lease expired"


@dataclasses.dataclass(frozen=True, slots=True)
class HeldDevice:
    """A device a consumer holds."""

    address: str
    dev_type: str
    status: str
    request_id: str | None
    parent_addr: str | None
    numa_node: int | None
    vendor_id: str
    product_id: str
    extra_info: Mapping[str, str]
    spec_tags: Mapping[str, Any]
    lease_expires_at: str | None
    #: The lease has ended by the server's clock: the claim still holds the device until the
    #: next writer on its host releases it (nothing runs in the background).
    lease_ended: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Holding:
    """What a consumer holds: its host, its request (as claimed) and its devices."""

    consumer: str
    hostname: str
    nova_host: str | None
    fingerprint: str
    request: Mapping[str, Any]
    devices: tuple[HeldDevice, ...]


# -- transactions -------------------------------------------------------------------------------


def claim(engine: fleetread.Bind, hostname: str, consumer: str, fingerprint: str,
          request: Mapping[str, Any], picks: Sequence[claimrules.Pick],
          expected: Mapping[str, int], *, lease_seconds: int, command: str) -> Holding:
    """Claim ``picks`` on ``hostname`` for ``consumer``, in one transaction.

    :param expected: address -> the generation the scheduler read, for every picked device.
    :raises claimrules.DevicesTaken: a picked device changed since the scheduler read it.
    :raises hoststate.StoreConflict: a concurrent writer (a row changed during the
        transaction, a deadlock, the same consumer claimed meanwhile): try again.
    """
    with hoststate.transaction(engine, hostname) as session:
        host = _lock(session, hostname)
        # The generations the scheduler read are those of the stored rows, expired claims
        # included: compared before this transaction releases them.
        found = dict(session.execute(
            select(models.Device.address, models.Device.generation)
            .where(models.Device.host_id == host.id,
                   models.Device.address.in_(list(expected)))).all())
        taken = sorted(a for a, gen in expected.items() if found.get(a) != gen)
        if taken:
            raise claimrules.DevicesTaken(hostname=hostname, addresses=", ".join(taken),
                                          hint="the scheduler tries the next best host")
        _release_expired(session, host)
        if _consumer_row(session, consumer) is not None:
            raise hoststate.StoreConflict(hostname=hostname,
                                          reason=f"consumer {consumer} claimed meanwhile",
                                          hint="run the command again")
        hoststate.apply_in(session, hostname,
                           lambda st: claimrules.claim(st, picks, consumer),
                           command=command, lease_seconds=lease_seconds)
        session.add(models.Consumer(consumer_uuid=consumer, hostname=hostname,
                                    fingerprint=fingerprint,
                                    request=json.dumps(dict(request), sort_keys=True)))
        session.flush()
        held = _holding(session, consumer)
        assert held is not None
        return held


def renew(engine: Engine, consumer: str, fingerprint: str, *,
          lease_seconds: int) -> Holding | None:
    """A repeated claim: the consumer's holding with its lease renewed, or None when it holds
    nothing (never claimed, or its claim expired and was released).

    :raises claimrules.ConsumerConflict: the consumer holds devices for another request.
    """
    first = holding(engine, consumer)
    if first is None:
        return None
    with hoststate.transaction(engine, first.hostname) as session:
        host = _lock(session, first.hostname)
        _release_expired(session, host)
        row = _consumer_row(session, consumer)
        if row is None:
            return None
        if row.fingerprint != fingerprint:
            raise claimrules.ConsumerConflict(
                consumer=consumer, hostname=row.hostname,
                hint="use another consumer UUID, or free this one first: pcipass claim free")
        ids = select(models.Device.id).where(models.Device.host_id == host.id)
        session.execute(update(models.Claim).where(
            models.Claim.consumer_uuid == consumer, models.Claim.status == str(ds.Status.CLAIMED),
            models.Claim.device_id.in_(ids)).values(lease_expires_at=leases.until(lease_seconds)))
        return _holding(session, consumer)


def change(engine: Engine, consumer: str, rule: ConsumerRule, *,
           command: str) -> tuple[Holding | None, Holding | None]:
    """Apply ``rule`` to the consumer's host in one transaction; what it held before and after
    (None: nothing). A consumer left holding nothing loses its row."""
    first = holding(engine, consumer)
    if first is None:
        return None, None
    with hoststate.transaction(engine, first.hostname) as session:
        host = _lock(session, first.hostname)
        _release_expired(session, host)
        before = _holding(session, consumer)
        if before is None:
            return None, None
        hoststate.apply_in(session, first.hostname, lambda st: rule(st, consumer),
                           command=command)
        _drop_idle(session, [consumer])
        return before, _holding(session, consumer)


def holding(engine: Engine, consumer: str) -> Holding | None:
    """What ``consumer`` holds now (None: no consumer row)."""
    with Session(engine) as session:
        return _holding(session, consumer)


def release_expired(engine: Engine, hostname: str) -> int:
    """Release the expired claims of one host now; how many devices were freed."""
    with hoststate.transaction(engine, hostname) as session:
        return _release_expired(session, _lock(session, hostname))


# -- inside a transaction -----------------------------------------------------------------------


def _lock(session: Session, hostname: str) -> models.Host:
    host = session.scalars(select(models.Host).where(models.Host.hostname == hostname)
                           .with_for_update()).one_or_none()
    if host is None:
        raise hoststate.HostUnknown(hostname=hostname, hint="store it first: pcipass agent --once")
    return host


def _release_expired(session: Session, host: models.Host) -> int:
    found = session.execute(
        select(models.Device.address, models.Claim.consumer_uuid)
        .join(models.Claim, models.Claim.device_id == models.Device.id)
        .where(models.Device.host_id == host.id, leases.expired())).all()
    if not found:
        return 0
    pairs = [(a, o) for a, o in found]
    applied = hoststate.apply_in(session, host.hostname,
                                 lambda st: claimrules.release_expired(st, pairs),
                                 command=EXPIRED_COMMAND)
    _drop_idle(session, sorted({o for _, o in pairs}))
    return sum(1 for c in applied.changes if c.old_status == ds.Status.CLAIMED)


def _drop_idle(session: Session, consumers: Iterable[str]) -> None:
    """Delete the rows of these consumers that hold no device any more."""
    wanted = list(consumers)
    if not wanted:
        return
    session.flush()
    busy = exists().where(models.Claim.consumer_uuid == models.Consumer.consumer_uuid)
    session.execute(delete(models.Consumer).where(models.Consumer.consumer_uuid.in_(wanted),
                                                  ~busy).execution_options(
        synchronize_session=False))


def _consumer_row(session: Session, consumer: str) -> models.Consumer | None:
    return session.scalars(select(models.Consumer).where(
        models.Consumer.consumer_uuid == consumer)).one_or_none()


def _holding(session: Session, consumer: str) -> Holding | None:
    row = _consumer_row(session, consumer)
    if row is None:
        return None
    nova = session.scalars(select(models.Host.nova_host).where(
        models.Host.hostname == row.hostname)).one_or_none()
    found = session.execute(
        select(models.Device, models.Claim.lease_expires_at, leases.expired())
        .join(models.Claim, models.Claim.device_id == models.Device.id)
        .join(models.Host, models.Device.host_id == models.Host.id)
        .where(models.Claim.consumer_uuid == consumer, models.Host.hostname == row.hostname)
        .order_by(models.Device.address)).all()
    where = f"{row.hostname}"
    devices = tuple(HeldDevice(
        d.address, d.dev_type, d.status, d.request_id, d.parent_addr, d.numa_node, d.vendor_id,
        d.product_id, hoststate.json_object(d.extra_info, f"{where} {d.address} extra_info"),
        hoststate.json_object(d.spec_tags, f"{where} {d.address} spec_tags"),
        queries.when(lease) or None, bool(ended)) for d, lease, ended in found)
    try:
        request = json.loads(row.request)
    except ValueError:
        request = None
    if not isinstance(request, dict):
        raise hoststate.StoreCorrupt(reason=f"consumer {consumer}: request is not a JSON object")
    return Holding(consumer, row.hostname, nova, row.fingerprint, request, devices)
