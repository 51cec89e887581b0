"""The claim transaction: the scheduler's picks written with a compare-and-swap on every row.

One transaction on the chosen host, with as few round trips as it can:

1. the picked devices' families (a picked VF's PF and siblings, a picked PF's children): the
   rows the scheduler read (:class:`FamilyRow`, the fast path), or read here when it has none;
2. apply the state machine to those rows (:func:`pcipass.core.claimrules.claim`);
3. bump the host's generation first, returned where the database can (other schedulers' caches
   re-read the host; the writer's own cache, when it was the only change, applies its claim
   instead, :meth:`pcipass.services.storefleet.StoreFleet.committed`). First, because every
   other writer on a host (:func:`pcipass.adapters.store.hoststate.apply`) locks the host's row
   before any device row: in one lock order, a claim and a free on one host never deadlock
   (on PostgreSQL a deadlock costs both writers ``deadlock_timeout``, 1 s by default;
   ``tests/functional/test_claim_lock_order.py``);
4. update every changed device, and the PF of every picked VF even when its status stays, with
   ``SET generation = generation + 1 WHERE id = :id AND generation = :read``. Every row the
   state machine's decision reads is one of the rows written (a VF's claim reads the VF and
   its PF; a PF's reads the PF and its children, all written), so a row another writer changed
   since it was read updates nothing, and nothing is written
   (:class:`~pcipass.core.claimrules.DevicesTaken` when the scheduler read it: the next host is
   tried; :class:`~pcipass.adapters.store.hoststate.StoreConflict` when this transaction read
   it). Writing the PF on every claim of one of its VFs makes any two claims in one PF family
   conflict, so the PF/VF rules hold without any lock (MariaDB Galera certifies write sets,
   see ``docs/claims.md``);
5. insert the consumer's row (unique per consumer), the claims (with their lease, by the
   server's clock, returned by the insert) and the audit rows.

On PostgreSQL (psycopg) steps 3-5 go to the server in one pipeline: the claim is two round
trips, the statements and the commit (``bench/bench_claims.py``: a VF claim was ten round trips
when each statement waited for its answer). The statements are the same SQLAlchemy Core
statements, compiled for the connection's dialect, with bound parameters.

A host with claims whose lease ended takes the longer way
(:func:`pcipass.adapters.store.claimstore.claim`): the host locked, its expired claims released
through the tracker's transaction, then the claim.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import sqlalchemy
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from pcipass.adapters.store import claimstore, hoststate, leases, models, queries, stmtpipe
from pcipass.core import claimrules, tracker
from pcipass.core import devicestate as ds

_DEV = cast(sqlalchemy.Table, models.Device.__table__)
_HOSTS = cast(sqlalchemy.Table, models.Host.__table__)
_CLAIMS = cast(sqlalchemy.Table, models.Claim.__table__)
_AUDIT = cast(sqlalchemy.Table, models.Audit.__table__)
_CONSUMERS = cast(sqlalchemy.Table, models.Consumer.__table__)


@dataclasses.dataclass(frozen=True, slots=True)
class FamilyRow:
    """A device row as the claim needs it: its id and generation, the device, its spec tags."""

    id: int
    generation: int
    device: ds.TrackedDevice
    tags: Mapping[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Committed:
    """A committed claim: what the consumer holds, the host's new generation (None when the
    database did not return it), and every row written: address -> (device, generation)."""

    holding: claimstore.Holding
    host_generation: int | None
    written: Mapping[str, tuple[ds.TrackedDevice, int]]


#: The state machine's refusals of a claim (Nova's PciDevice.claim errors).
_REFUSED = (ds.PciDeviceInvalidStatus, ds.PciDeviceInvalidOwner, ds.PciDeviceVFInvalidStatus,
            ds.PciDevicePFInvalidStatus)


class _Stale(Exception):
    """Rows whose compare-and-swap matched nothing."""

    def __init__(self, addresses: Sequence[str]) -> None:
        super().__init__(", ".join(addresses))
        self.addresses = tuple(addresses)


def claim(engine: Engine | sqlalchemy.Connection, hostname: str, consumer: str,
          fingerprint: str, request: Mapping[str, Any], picks: Sequence[claimrules.Pick],
          expected: Mapping[str, int], *, lease_seconds: int, command: str,
          host: tuple[int, str | None], family: Sequence[FamilyRow],
          expired: bool = False) -> Committed:
    """Claim ``picks`` on ``hostname`` for ``consumer`` (see the module docstring).

    :param expected: address -> the generation the scheduler read, for every picked device.
    :param expired: the scheduler saw claims on this host whose lease ended: release them first.
    :param host: the host's row id and Nova host name, as the scheduler read them.
    :param family: the picked devices' families as the scheduler read them: the transaction
        reads nothing.
    :raises claimrules.DevicesTaken: a picked device changed since the scheduler read it, or
        the state machine refuses the claim on what it read (the next host is tried).
    :raises hoststate.ConsumerClaimed: the same consumer was claimed meanwhile (a conflict, and
        the consumer is in the store now).
    :raises hoststate.StoreConflict: a concurrent writer or a deadlock: try again.
    """
    try:
        if expired:
            held = claimstore.claim(engine, hostname, consumer, fingerprint, request, picks,
                                    expected, lease_seconds=lease_seconds, command=command)
            return Committed(held, None, {})
        with hoststate.transaction(engine, hostname) as session:
            return _claim(session, hostname, consumer, fingerprint, request, picks, expected,
                          lease_seconds, command, host, family)
    except hoststate.StoreConflict as exc:
        if isinstance(exc, hoststate.ConsumerClaimed) or not _consumer_stored(engine, consumer):
            raise
        raise hoststate.ConsumerClaimed(hostname=hostname, reason=f"consumer {consumer} claimed "
                                        "meanwhile", hint="run the command again") from exc


def _consumer_stored(engine: Engine | sqlalchemy.Connection, consumer: str) -> bool:
    """Whether the store holds ``consumer`` (read after a conflict, outside its transaction)."""
    query = select(_CONSUMERS.c.consumer_uuid).where(_CONSUMERS.c.consumer_uuid == consumer)
    if isinstance(engine, sqlalchemy.Connection):  # the caller's, its transaction rolled back
        found = engine.execute(query).first() is not None
        engine.rollback()
        return found
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


def _claim(session: Session, hostname: str, consumer: str, fingerprint: str,
           request: Mapping[str, Any], picks: Sequence[claimrules.Pick],
           expected: Mapping[str, int], lease_seconds: int, command: str,
           known: tuple[int, str | None], rows: Sequence[FamilyRow]) -> Committed:
    host_id, nova_host = known
    by_address = {r.device.address: r for r in rows}
    taken = sorted(a for a, gen in expected.items()
                   if a not in by_address or by_address[a].generation != gen)
    if taken:
        raise claimrules.DevicesTaken(hostname=hostname, addresses=", ".join(taken),
                                      hint="the scheduler tries the next best host")
    tree = ds.DeviceTree([r.device for r in rows], nova_host or hostname)
    try:
        after = claimrules.claim(tracker.TrackerState(tree), picks, consumer).tree
    except _REFUSED as exc:
        # The state machine refuses what the scheduler read: a host whose tracked state Nova's
        # tracker would not claim on either (a VF re-reported as available under a claimed
        # PF, Nova's bug 1969496), or rows changed without their generation (never). Nova
        # reschedules; the claim tries the next best host.
        raise claimrules.DevicesTaken(hostname=hostname, addresses=str(exc),
                                      hint="the scheduler tries the next best host") from exc
    changed = [a for a in sorted(by_address) if _differs(tree[a], after[a])]
    parents = {parent for p in picks
               if (parent := tree[p.address].parent_addr) is not None and parent in by_address}
    touched = sorted(parents - set(changed))
    try:
        lease_end, host_gen = _write(session, host_id, hostname, consumer, fingerprint, request,
                                     by_address, tree, after, changed, touched, lease_seconds,
                                     command)
    except _Stale as stale:
        raise claimrules.DevicesTaken(hostname=hostname, addresses=str(stale),
                                      hint="the scheduler tries the next best host") from None
    devices = tuple(claimstore.HeldDevice(
        a, by_address[a].device.dev_type, str(after[a].status), after[a].request_id,
        by_address[a].device.parent_addr, by_address[a].device.numa_node,
        by_address[a].device.vendor_id or "", by_address[a].device.product_id or "",
        dict(after[a].extra_info), dict(by_address[a].tags), queries.when(lease_end) or None)
        for a in sorted(p.address for p in picks))
    held = claimstore.Holding(consumer, hostname, nova_host, fingerprint,
                              json.loads(json.dumps(dict(request))), devices)
    written = {a: (after[a], by_address[a].generation + 1) for a in (*changed, *touched)}
    return Committed(held, host_gen, written)


def _differs(a: ds.TrackedDevice, b: ds.TrackedDevice) -> bool:
    return (a.status, a.owner, a.request_id) != (b.status, b.owner, b.request_id)


def _templates(lease_seconds: int) -> dict[str, Any]:
    """The claim's statements with bound parameters (built once per lease length)."""
    found = _TEMPLATES.get(lease_seconds)
    if found is None:
        b = sqlalchemy.bindparam
        bump = update(_HOSTS).where(_HOSTS.c.id == b("b_host")).values(
            generation=_HOSTS.c.generation + 1, updated_at=sqlalchemy.func.now())
        claim_row = {"device_id": b("b_device"), "consumer_uuid": b("b_consumer"),
                     "request_id": b("b_request"), "status": b("b_status"),
                     "lease_expires_at": leases.until(lease_seconds)}
        found = _TEMPLATES[lease_seconds] = {
            "device": update(_DEV).where(_DEV.c.id == b("b_id"),
                                         _DEV.c.generation == b("b_gen")).values(
                status=b("b_status"), instance_uuid=b("b_owner"), request_id=b("b_request"),
                generation=b("b_new"), updated_at=sqlalchemy.func.now()),
            "consumer": insert(_CONSUMERS).values(
                consumer_uuid=b("b_consumer"), hostname=b("b_hostname"),
                fingerprint=b("b_fingerprint"), request=b("b_request")),
            "claim": insert(_CLAIMS).values(claim_row).returning(_CLAIMS.c.lease_expires_at),
            "audit": insert(_AUDIT).values(
                hostname=b("b_hostname"), address=b("b_address"), old_status=b("b_old"),
                new_status=b("b_new"), owner=b("b_owner"), request_id=b("b_request"),
                command=b("b_command"), detail=None),
            "host": bump,
            "host returning": bump.returning(_HOSTS.c.generation),
        }
    return found


#: lease seconds -> the claim's statements (a handful of lease lengths in any process).
_TEMPLATES: dict[int, dict[str, Any]] = {}


def _write(session: Session, host_id: int, hostname: str, consumer: str, fingerprint: str,
           request: Mapping[str, Any], rows: Mapping[str, FamilyRow], tree: ds.DeviceTree,
           after: ds.DeviceTree, changed: Sequence[str], touched: Sequence[str],
           lease_seconds: int, command: str) -> tuple[Any, int | None]:
    """Steps 3-5 of the module docstring; the lease's end and the host's new generation.

    :raises _Stale: a device row's compare-and-swap matched nothing (nothing is kept: the
        caller's transaction rolls back).
    """
    t = _templates(lease_seconds)
    pipe = stmtpipe.Batch(session)
    cas: list[tuple[str, int]] = []
    # The host's row first, as hoststate.apply locks it first: one lock order (step 3).
    returning = pipe.update_returning
    generation = pipe.add(t["host returning" if returning else "host"], {"b_host": host_id},
                          rows=returning)
    for a in sorted({*changed, *touched}):  # one lock order: no deadlock between claims
        dev, row = after[a], rows[a]
        cas.append((a, pipe.add(t["device"], {
            "b_id": row.id, "b_gen": row.generation, "b_status": str(dev.status),
            "b_owner": dev.owner, "b_request": dev.request_id, "b_new": row.generation + 1},
            expect=1)))
    pipe.add(t["consumer"], {"b_consumer": consumer, "b_hostname": hostname,
                             "b_fingerprint": fingerprint,
                             "b_request": json.dumps(dict(request), sort_keys=True)})
    leased = [pipe.add(t["claim"], {
        "b_device": rows[a].id, "b_consumer": after[a].owner,
        "b_request": after[a].request_id, "b_status": str(after[a].status)}, rows=True)
        for a in changed if after[a].status == ds.Status.CLAIMED and after[a].owner]
    for a in changed:
        pipe.add(t["audit"], {
            "b_hostname": hostname, "b_address": a, "b_old": str(tree[a].status),
            "b_new": str(after[a].status), "b_owner": after[a].owner or tree[a].owner,
            "b_request": after[a].request_id or tree[a].request_id, "b_command": command})
    try:
        pipe.run(commit=True)  # nothing follows in this transaction
    except stmtpipe.Mismatch as failed:
        raise _Stale([a for a, i in cas if i in failed.indexes]) from None
    lease_end = pipe.rows(leased[0])[0][0] if leased else session.execute(
        select(leases.until(lease_seconds))).scalar_one()
    got = pipe.rows(generation) if returning else []
    return lease_end, (int(got[0][0]) if got else None)
