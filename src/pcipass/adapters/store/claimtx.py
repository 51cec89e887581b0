"""The claim transaction: the scheduler's picks written with a compare-and-swap on every row.

One transaction on the chosen host, with as few round trips as it can:

1. read the picked devices' families (a picked VF's PF and siblings, a picked PF's children)
   and check that every picked device still has the generation the scheduler read (else
   :class:`~pcipass.core.claimrules.DevicesTaken`: nothing written, the next host is tried);
2. apply the state machine to those rows (:func:`pcipass.core.claimrules.claim`);
3. insert the consumer's row (unique per consumer), the claims (with their lease, by the
   server's clock) and the audit rows;
4. update every changed device, and the PF of every picked VF even when its status stays, with
   ``SET generation = generation + 1 WHERE id = :id AND generation = :read``: a row another
   writer changed since step 1 updates nothing and the transaction fails
   (:class:`~pcipass.adapters.store.hoststate.StoreConflict`, retried by the caller). Writing
   the PF on every claim of one of its VFs makes any two claims in one PF family conflict, so
   the PF/VF rules hold without any lock (MariaDB Galera certifies write sets, see
   ``docs/claims.md``);
5. bump the host's generation last (other schedulers' caches re-read the host; the row lock
   it takes on one server is held only until the commit).

A host with claims whose lease ended takes the longer way
(:func:`pcipass.adapters.store.claimstore.claim`): the host locked, its expired claims released
through the tracker's transaction, then the claim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import sqlalchemy
from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from pcipass.adapters.store import claimstore, hoststate, leases, models, queries
from pcipass.core import claimrules, tracker
from pcipass.core import devicestate as ds

_DEV = cast(sqlalchemy.Table, models.Device.__table__)
_HOSTS = cast(sqlalchemy.Table, models.Host.__table__)
_CLAIMS = cast(sqlalchemy.Table, models.Claim.__table__)
_AUDIT = cast(sqlalchemy.Table, models.Audit.__table__)
_CONSUMERS = cast(sqlalchemy.Table, models.Consumer.__table__)


def claim(engine: Engine, hostname: str, consumer: str, fingerprint: str,
          request: Mapping[str, Any], picks: Sequence[claimrules.Pick],
          expected: Mapping[str, int], *, lease_seconds: int, command: str,
          expired: bool = False, host: tuple[int, str | None] | None = None,
          ) -> claimstore.Holding:
    """Claim ``picks`` on ``hostname`` for ``consumer`` (see the module docstring).

    :param expected: address -> the generation the scheduler read, for every picked device.
    :param expired: the scheduler saw claims on this host whose lease ended: release them first.
    :param host: the host's row id and Nova host name, when the scheduler read them.
    :raises claimrules.DevicesTaken: a picked device changed since the scheduler read it.
    :raises hoststate.StoreConflict: a concurrent writer, a deadlock, or the same consumer
        claimed meanwhile: try again.
    """
    if expired:
        return claimstore.claim(engine, hostname, consumer, fingerprint, request, picks,
                                expected, lease_seconds=lease_seconds, command=command)
    with hoststate.transaction(engine, hostname) as session:
        return _claim(session, hostname, consumer, fingerprint, request, picks, expected,
                      lease_seconds, command, host)


def _claim(session: Session, hostname: str, consumer: str, fingerprint: str,
           request: Mapping[str, Any], picks: Sequence[claimrules.Pick],
           expected: Mapping[str, int], lease_seconds: int, command: str,
           known: tuple[int, str | None] | None) -> claimstore.Holding:
    if known is None:
        found = session.execute(select(models.Host.id, models.Host.nova_host)
                                .where(models.Host.hostname == hostname)).one_or_none()
        if found is None:
            raise hoststate.HostUnknown(hostname=hostname,
                                        hint="store it first: pcipass agent --once")
        known = (int(found[0]), found[1])
    host_id, nova_host = known
    rows, lease_end = _families(session, host_id, [p.address for p in picks], lease_seconds)
    by_address = {r.address: r for r in rows}
    taken = sorted(a for a, gen in expected.items()
                   if a not in by_address or by_address[a].generation != gen)
    if taken:
        raise claimrules.DevicesTaken(hostname=hostname, addresses=", ".join(taken),
                                      hint="the scheduler tries the next best host")
    tree = ds.DeviceTree([claimstore.tracked_row(hostname, r) for r in rows],
                         nova_host or hostname)
    try:
        after = claimrules.claim(tracker.TrackerState(tree), picks, consumer).tree
    except ds.PciDeviceInvalidStatus as exc:  # changed without a generation: never, but safe
        raise claimrules.DevicesTaken(hostname=hostname, addresses=str(exc),
                                      hint="the scheduler tries the next best host") from exc
    changed = [a for a in sorted(by_address) if _differs(tree[a], after[a])]
    parents = {parent for p in picks
               if (parent := tree[p.address].parent_addr) is not None and parent in by_address}
    _write(session, host_id, hostname, consumer, fingerprint, request, by_address, tree, after,
           changed, sorted(parents - set(changed)), lease_seconds, command)
    devices = tuple(claimstore.HeldDevice(
        a, by_address[a].dev_type, str(after[a].status), after[a].request_id,
        by_address[a].parent_addr, by_address[a].numa_node, by_address[a].vendor_id,
        by_address[a].product_id, dict(after[a].extra_info),
        hoststate.json_object(by_address[a].spec_tags, f"{hostname} {a} spec_tags"),
        queries.when(lease_end) or None) for a in sorted(p.address for p in picks))
    return claimstore.Holding(consumer, hostname, nova_host, fingerprint,
                              json.loads(json.dumps(dict(request))), devices)


def _families(session: Session, host_id: int, addresses: Sequence[str],
              lease_seconds: int) -> tuple[list[Any], Any]:
    """The picked devices, their parents, and the children of both; and the lease's end by
    the server's clock (the same round trip)."""
    picked = list(addresses)
    parents = select(_DEV.c.parent_addr).where(_DEV.c.host_id == host_id,
                                               _DEV.c.address.in_(picked),
                                               _DEV.c.parent_addr.is_not(None))
    query = select(_DEV, leases.until(lease_seconds).label("lease_end")).where(
        _DEV.c.host_id == host_id, or_(
            _DEV.c.address.in_(picked), _DEV.c.address.in_(parents),
            _DEV.c.parent_addr.in_(picked), _DEV.c.parent_addr.in_(parents)))
    rows = list(session.execute(query).all())
    if not rows:
        end: Any = session.execute(select(leases.until(lease_seconds))).scalar_one()
        return rows, end
    return rows, rows[0].lease_end


def _differs(a: ds.TrackedDevice, b: ds.TrackedDevice) -> bool:
    return (a.status, a.owner, a.request_id) != (b.status, b.owner, b.request_id)


def _write(session: Session, host_id: int, hostname: str, consumer: str, fingerprint: str,
           request: Mapping[str, Any], rows: Mapping[str, Any], tree: ds.DeviceTree,
           after: ds.DeviceTree, changed: Sequence[str], touched: Sequence[str],
           lease_seconds: int, command: str) -> None:
    for a in sorted({*changed, *touched}):  # one lock order: no deadlock between claims
        dev, row = after[a], rows[a]
        done = cast(sqlalchemy.CursorResult[Any], session.execute(update(_DEV).where(
            _DEV.c.id == row.id, _DEV.c.generation == row.generation).values(
            status=str(dev.status), instance_uuid=dev.owner, request_id=dev.request_id,
            generation=row.generation + 1, updated_at=sqlalchemy.func.now())))
        if done.rowcount != 1:
            raise sqlalchemy.orm.exc.StaleDataError(
                f"device {a} of {hostname} changed since this transaction read it")
    session.execute(insert(_CONSUMERS).values(
        consumer_uuid=consumer, hostname=hostname, fingerprint=fingerprint,
        request=json.dumps(dict(request), sort_keys=True)))
    busy = [a for a in changed if after[a].status == ds.Status.CLAIMED and after[a].owner]
    if busy:
        session.execute(insert(_CLAIMS).values(
            lease_expires_at=leases.until(lease_seconds)), [
            {"device_id": rows[a].id, "consumer_uuid": after[a].owner,
             "request_id": after[a].request_id, "status": str(after[a].status)} for a in busy])
    session.execute(insert(_AUDIT), [
        {"hostname": hostname, "address": a, "old_status": str(tree[a].status),
         "new_status": str(after[a].status), "owner": after[a].owner or tree[a].owner,
         "request_id": after[a].request_id or tree[a].request_id, "command": command,
         "detail": None} for a in changed])
    session.execute(update(_HOSTS).where(_HOSTS.c.id == host_id).values(
        generation=_HOSTS.c.generation + 1, updated_at=sqlalchemy.func.now()))
