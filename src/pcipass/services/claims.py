"""Claims that never give a device twice: ``schedule --db --claim``, ``claim allocate|free|
release`` and ``allocation show``.

:func:`claim` schedules over the stored fleet (:class:`~pcipass.services.storefleet.StoreFleet`,
the core that ``schedule --host`` runs) and claims the chosen host's devices in one transaction
with a compare-and-swap on each device's generation
(:func:`pcipass.adapters.store.claimstore.claim`). When another writer took the devices
meanwhile, it tries the next best host of the same ranking and says so (a note); when a
transaction meets a concurrent change, a deadlock or a serialization failure, it reads the
fleet again and retries, at most :data:`MAX_ATTEMPTS` times with a random back-off, as
Placement retries a concurrent update of a resource provider.

Every operation is idempotent per consumer UUID: a repeated claim returns the devices the
consumer holds (its lease renewed); the same consumer with a different request is
:class:`~pcipass.core.claimrules.ConsumerConflict`. A claim carries a lease (300 s unless
told, by the server's clock); the next writer on its host releases it when it ends. An
allocation has no lease.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pcipass.adapters.store import claimstore, claimtx, hoststate, leases
from pcipass.core import claimrules, errors, schedule
from pcipass.services import claimrequest, storefleet

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

CLAIM_SCHEMA = "pcipass-claim/1"
ALLOCATION_SCHEMA = "pcipass-allocation/1"
#: Rounds of (read the fleet, rank, commit) before giving up (Placement retries a concurrent
#: resource provider update 10 times).
MAX_ATTEMPTS = 10
#: Hosts tried from one ranking before the fleet is read again.
HOSTS_PER_ROUND = 8
COMMAND = "schedule --claim"


class NoHostFits(errors.InputError):
    """No stored host fits the request."""

    msg_fmt = "no host in the device store fits flavor %(flavor)s: %(reason)s"


class ClaimContended(errors.InputError):
    """Every attempt met another writer."""

    msg_fmt = "consumer %(consumer)s: no claim committed after %(attempts)d attempts: %(last)s"


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimReport:
    """What ``schedule --db --claim`` did. ``repeated``: the consumer already held these
    devices for this request; ``notes``: hosts whose devices another writer took meanwhile."""

    schema: str
    consumer: str
    flavor: str
    hostname: str
    nova_host: str | None
    repeated: bool
    lease_seconds: int
    devices: tuple[claimstore.HeldDevice, ...]
    notes: tuple[str, ...] = ()
    attempts: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerReport:
    """What a consumer holds (``allocation show``), or what an operation did to it
    (``claim allocate|free|release``: ``devices`` before it for free and release)."""

    schema: str
    consumer: str
    operation: str
    hostname: str | None
    nova_host: str | None
    devices: tuple[claimstore.HeldDevice, ...]
    request: Any = None


def claim(engine: Engine, prepared: claimrequest.Prepared, consumer: str, *,
          lease_seconds: int = leases.DEFAULT_SECONDS,
          fleet: storefleet.StoreFleet | None = None, host_subset_size: int | None = None,
          sleep: Callable[[float], None] = time.sleep) -> ClaimReport:
    """Schedule and claim for ``consumer`` (see the module docstring).

    :param fleet: a fleet kept between calls (a client claiming in a loop); None: read anew.
    :param host_subset_size: Nova's ``[filter_scheduler] host_subset_size``: the host is picked
        at random among this many best hosts (1, Nova's default: the best one), which "reduces
        the chance that multiple scheduler processes handling similar requests will select the
        same host". None: the controller's, from the request's ``--nova-conf``.
    :raises NoHostFits: no stored host fits.
    :raises claimrules.ConsumerConflict: the consumer holds devices for another request.
    :raises ClaimContended: :data:`MAX_ATTEMPTS` rounds met other writers.
    """
    fleet = fleet if fleet is not None else storefleet.StoreFleet(engine)
    if host_subset_size is None:
        host_subset_size = prepared.host_subset_size
    notes: list[str] = []
    last = ""
    # One connection for the whole claim: its reads and its transaction (one checkout).
    with engine.connect() as conn:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                # A repeated claim: found first after a conflict (the consumer's row is
                # unique, so a claim of a consumer that holds devices fails), or when no host
                # fits.
                held = None if attempt == 1 else claimstore.renew(
                    engine, consumer, prepared.fingerprint, lease_seconds=lease_seconds)
                if held is not None:
                    return _report(prepared, held, lease_seconds, notes, attempt,
                                   repeated=True)
                fleet.refresh(conn)
                most = max(HOSTS_PER_ROUND, host_subset_size)
                fitting = fleet.candidates(prepared.question, most)
                if not fitting:
                    fleet.fresh_all(conn)  # stale hosts were ranked on their last rows
                    fitting = fleet.candidates(prepared.question, most)
                if host_subset_size > 1:
                    fitting = _subset_first(fleet, fitting, host_subset_size)
                if not fitting:
                    held = claimstore.renew(engine, consumer, prepared.fingerprint,
                                            lease_seconds=lease_seconds)
                    if held is not None:
                        return _report(prepared, held, lease_seconds, notes, attempt,
                                       repeated=True)
                    raise NoHostFits(flavor=prepared.flavor,
                                     reason=_why_not(fleet.ranking(prepared.question)),
                                     hint="pcipass devices --db URL shows what the store holds")
                for verdict in fitting:
                    if fleet.fresh(verdict.name, conn):  # ranked on rows older than the host
                        verdict = fleet.verdict(verdict.name, prepared.question)
                        if not verdict.fits:
                            continue
                    picks = _picks(prepared, verdict)
                    addresses = [p.address for p in picks]
                    expected = fleet.generations(verdict.name, addresses)
                    try:
                        done = claimtx.claim(conn, verdict.name, consumer, prepared.fingerprint,
                                             prepared.doc, picks, expected,
                                             lease_seconds=lease_seconds, command=COMMAND,
                                             expired=bool(fleet.expired(verdict.name)),
                                             host=fleet.host_row(verdict.name),
                                             family=fleet.family(verdict.name, addresses))
                    except claimrules.DevicesTaken as exc:
                        notes.append(f"{exc.message}; trying the next best host")
                        continue
                    except hoststate.ConsumerClaimed:
                        raise  # the consumer claimed meanwhile: the next round finds it
                    except hoststate.StoreConflict as exc:
                        # Another writer committed on this host first (or a deadlock): the
                        # next best host, as when the devices were taken.
                        notes.append(f"{exc.message}; trying the next best host")
                        last = exc.message
                        sleep(random.uniform(0, 0.001 * attempt))
                        continue
                    fleet.committed(done)
                    return _report(prepared, done.holding, lease_seconds, notes, attempt,
                                   repeated=False)
                last = last or "the devices of every fitting host were taken meanwhile"
            except hoststate.StoreConflict as exc:
                last = exc.message
            sleep(random.uniform(0, 0.002 * attempt))
        raise ClaimContended(consumer=consumer, attempts=MAX_ATTEMPTS, last=last,
                             hint="run the command again")


def _subset_first(fleet: storefleet.StoreFleet, fitting: list[schedule.HostVerdict],
                  size: int) -> list[schedule.HostVerdict]:
    """The ``size`` best hosts in random order (Nova's host_subset_size), then the rest.

    Nova draws the host uniformly from the subset. pcipass draws first among the hosts of the
    subset that no other writer changed since this scheduler last read them, then among the
    others: any host it picks is one Nova could have picked, and schedulers that claim at the
    same time each tend to keep to the hosts the others are not claiming on, so fewer claims
    meet another writer's (``bench/bench_claims.py``).
    """
    head = fitting[:size]
    quiet = [v for v in head if not fleet.is_stale(v.name)]
    busy = [v for v in head if fleet.is_stale(v.name)]
    return random.sample(quiet, len(quiet)) + random.sample(busy, len(busy)) + fitting[size:]


def _picks(prepared: claimrequest.Prepared,
           verdict: schedule.HostVerdict) -> list[claimrules.Pick]:
    """The chosen devices with the id of the request each serves (in request order)."""
    ids: list[str] = []
    for req in prepared.question.requests:
        ids.extend([req.request_id] * max(req.count, 0))
    return [claimrules.Pick(d.address, ids[i] if i < len(ids) else None)
            for i, d in enumerate(verdict.devices)]


def _why_not(ranking: schedule.Ranking) -> str:
    if not ranking.hosts:
        return "the store holds no host (run pcipass agent --once)"
    first = ranking.hosts[0]
    reason = first.reasons[0].message if first.reasons else "it does not fit"
    return f"{len(ranking.hosts)} host(s), none fits; {first.name}: {reason}"


def _report(prepared: claimrequest.Prepared, held: claimstore.Holding, lease_seconds: int,
            notes: Sequence[str], attempts: int, *, repeated: bool) -> ClaimReport:
    return ClaimReport(CLAIM_SCHEMA, held.consumer, prepared.flavor, held.hostname,
                       held.nova_host, repeated, lease_seconds, held.devices, tuple(notes),
                       attempts)


# -- allocate, free, release, show ----------------------------------------------------------------


def _with_retry(operation: Callable[[], ConsumerReport]) -> ConsumerReport:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return operation()
        except hoststate.StoreConflict:
            if attempt == MAX_ATTEMPTS:
                raise
            time.sleep(random.uniform(0, 0.002 * attempt))
    raise AssertionError("unreachable")


def allocate(engine: Engine, consumer: str) -> ConsumerReport:
    """The consumer's claim becomes an allocation (no lease); repeating it changes nothing.

    :raises claimrules.ClaimNotFound: the consumer holds nothing (never claimed, freed, or its
        lease expired).
    """
    def run() -> ConsumerReport:
        _, after = claimstore.change(engine, consumer, claimrules.allocate,
                                     command="claim allocate")
        if after is None:
            raise claimrules.ClaimNotFound(consumer=consumer, hint="claim first: pcipass "
                                           "schedule --db URL --claim --consumer UUID ...")
        return _consumer_report("allocate", consumer, after)
    return _with_retry(run)


def free(engine: Engine, consumer: str) -> ConsumerReport:
    """Nova's free of everything the consumer holds, claimed or allocated; the report lists
    the devices freed (none when it held nothing: repeating it is harmless)."""
    def run() -> ConsumerReport:
        before, _ = claimstore.change(engine, consumer, claimrules.free, command="claim free")
        return _consumer_report("free", consumer, before)
    return _with_retry(run)


def release(engine: Engine, consumer: str) -> ConsumerReport:
    """Drop a claim never allocated.

    :raises claimrules.ClaimAllocated: the consumer's devices are allocated.
    """
    def run() -> ConsumerReport:
        before, _ = claimstore.change(engine, consumer, claimrules.release,
                                      command="claim release")
        return _consumer_report("release", consumer, before)
    return _with_retry(run)


def show(engine: Engine, consumer: str) -> ConsumerReport:
    """What the consumer holds now.

    :raises claimrules.ClaimNotFound: nothing.
    """
    held = claimstore.holding(engine, consumer)
    if held is None:
        raise claimrules.ClaimNotFound(consumer=consumer, hint="pcipass devices --db URL "
                                       "--status claimed lists the claims")
    return _consumer_report("show", consumer, held)


def _consumer_report(operation: str, consumer: str,
                     held: claimstore.Holding | None) -> ConsumerReport:
    if held is None:
        return ConsumerReport(ALLOCATION_SCHEMA, consumer, operation, None, None, ())
    return ConsumerReport(ALLOCATION_SCHEMA, consumer, operation, held.hostname, held.nova_host,
                          held.devices, dict(held.request))
