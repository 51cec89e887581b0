"""Claims mirrored into Placement: ``schedule --db --claim --placement-url`` and the free that
undoes it.

The store decides (its claim is exclusive, :mod:`pcipass.services.claims`); Placement is then
made to hold the same thing. :func:`mirror_claim` turns the consumer's devices into one unit
per device on the provider Nova counts it on (:func:`pcipass.core.allocmirror.wanted`),
merges them into whatever the consumer already holds in Placement, and writes it with ``PUT
/allocations/{consumer}`` and the consumer generation it read; on a generation conflict
(another writer changed the consumer) it reads again and retries, at most
:data:`RETRIES` times. It then reads each provider's usages and inventory back: a provider
that holds more than ``(total - reserved) * allocation_ratio`` is reported, and
:class:`PlacementOverAllocated` names it. :func:`mirror_free` removes the consumer's
allocations on those providers (its others stay).

A repeated claim writes the same allocation again: the operation is idempotent per consumer.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterable, Mapping

from pcipass.adapters import placementalloc, placementapi
from pcipass.core import allocmirror, errors

MIRROR_SCHEMA = "pcipass-placement-allocation/1"
RETRIES = 8


class PlacementProviderNotFound(errors.InputError):
    """A held device's provider is not in Placement (nova-compute or ``placement sync``
    never reported it)."""


class PlacementOverAllocated(errors.InputError):
    """After the write, a provider holds more than it can give (``report``: what was read)."""

    report: PlacementMirror | None = None


@dataclasses.dataclass(frozen=True)
class ProviderUse:
    """One provider the consumer holds devices on, read back after the write."""

    name: str
    uuid: str
    resource_class: str
    held: int
    used: int
    capacity: int


@dataclasses.dataclass(frozen=True)
class PlacementMirror:
    """What the consumer holds in Placement after a claim (``operation`` ``claim``) or a free.

    :ivar allocations: provider name -> class -> amount written (a free: removed).
    :ivar attempts: PUTs made (each generation conflict adds one).
    :ivar over_allocated: providers holding more than they can give.
    """

    schema: str
    placement: str
    consumer: str
    operation: str
    allocations: Mapping[str, Mapping[str, int]]
    providers: tuple[ProviderUse, ...]
    attempts: int
    over_allocated: tuple[allocmirror.Overuse, ...] = ()


def mirror_claim(client: placementapi.PlacementClient, consumer: str, hypervisor_hostname: str,
                 devices: Iterable[allocmirror.HeldLike], *,
                 sleep: Callable[[float], None] = time.sleep) -> PlacementMirror:
    """Make Placement hold the consumer's devices (see the module docstring).

    :raises PlacementProviderNotFound: a device's provider is not in Placement.
    :raises placementapi.PlacementConflict: the consumer changed under every attempt.
    :raises placementapi.PlacementApiError: Placement refused the allocation (no capacity).
    :raises PlacementOverAllocated: a provider holds more than it can give, read back.
    """
    placementalloc.needs_generations(client)
    wanted = allocmirror.wanted(hypervisor_hostname, devices)
    uuids = _uuids(client, wanted)
    ours = {uuids[name]: res for name, res in wanted.items()}
    attempts = _write(client, consumer, lambda held: allocmirror.merged(held, ours), sleep)
    uses, over = _read_back(client, wanted, uuids)
    report = PlacementMirror(MIRROR_SCHEMA, client.endpoint.shown, consumer, "claim", wanted,
                             uses, attempts, tuple(over))
    if over:
        o = over[0]
        exc = PlacementOverAllocated(
            f"{client.endpoint.shown}: provider {o.provider} holds {o.used} {o.resource_class} "
            f"and can give {o.capacity}: over-allocated", hint="another writer allocates on "
            "it outside the store: compare pcipass devices --db with placement export",
            entry=o.provider)
        exc.report = report
        raise exc
    return report


def mirror_free(client: placementapi.PlacementClient, consumer: str, hypervisor_hostname: str,
                devices: Iterable[allocmirror.HeldLike], *,
                sleep: Callable[[float], None] = time.sleep) -> PlacementMirror:
    """Remove the consumer's allocations on the providers of ``devices`` (the ones freed)."""
    placementalloc.needs_generations(client)
    wanted = allocmirror.wanted(hypervisor_hostname, devices)
    uuids = {name: uuid for name in wanted
             if (uuid := placementalloc.provider_uuid(client, name)) is not None}
    gone = set(uuids.values())
    attempts = _write(client, consumer, lambda held: allocmirror.without(held, gone), sleep) \
        if gone else 0
    uses, _over = _read_back(client, {n: wanted[n] for n in uuids}, uuids)
    return PlacementMirror(MIRROR_SCHEMA, client.endpoint.shown, consumer, "free", wanted, uses,
                           attempts)


def _uuids(client: placementapi.PlacementClient, wanted: Mapping[str, object]) -> dict[str, str]:
    out = {}
    for name in wanted:
        uuid = placementalloc.provider_uuid(client, name)
        if uuid is None:
            raise PlacementProviderNotFound(
                f"{client.endpoint.shown}: no resource provider named {name!r}",
                hint="nova-compute reports it with [pci] report_in_placement; for a lab, "
                     "pcipass placement sync --apply", entry=name)
        out[name] = uuid
    return out


def _write(client: placementapi.PlacementClient, consumer: str,
           make: Callable[[dict[str, dict[str, int]]], dict[str, dict[str, int]]],
           sleep: Callable[[float], None]) -> int:
    """Read the consumer, write ``make(its allocations)``; again on a generation conflict."""
    for attempt in range(1, RETRIES + 2):
        state = placementalloc.read_consumer(client, consumer)
        target = make(state.allocations)
        if target == state.allocations:
            return attempt - 1
        try:
            placementalloc.write_consumer(client, consumer, state, target)
            return attempt
        except placementapi.PlacementConflict:
            sleep(random.uniform(0, 0.005 * attempt))
    raise placementapi.PlacementConflict(
        f"{client.endpoint.shown}: consumer {consumer} changed under each of {RETRIES + 1} "
        "writes of its allocations", hint="another writer changes this consumer; run again",
        entry=placementapi.CONFLICT)


def _read_back(client: placementapi.PlacementClient, wanted: Mapping[str, Mapping[str, int]],
               uuids: Mapping[str, str],
               ) -> tuple[tuple[ProviderUse, ...], list[allocmirror.Overuse]]:
    uses: list[ProviderUse] = []
    over: list[allocmirror.Overuse] = []
    for name, res in sorted(wanted.items()):
        uuid = uuids[name]
        inventories = client.inventories(uuid)
        usages = client.usages(uuid)
        over.extend(allocmirror.over_allocated(name, inventories, usages))
        for rc, held in sorted(res.items()):
            uses.append(ProviderUse(name, uuid, rc, held, int(usages.get(rc, 0)),
                                    allocmirror.capacity(inventories.get(rc))))
    return tuple(uses), over
