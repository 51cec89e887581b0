"""Read a whole Placement into a :class:`~pcipass.core.rptree.PlacementState` (the placement view).

Per provider: ``GET /resource_providers`` (name, UUID, parent, root, generation), then its
``inventories``, ``traits``, ``usages`` and ``allocations``; the allocations of all providers
are gathered per consumer. The same data with the openstack CLI is in ``docs/placement.md``.

A provider that disappears between the listing and its reads (404) is left out: the view is
what one pass read, not a transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pcipass.adapters import placementapi
from pcipass.core import rptree

_INVENTORY_FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")


def read_state(client: placementapi.PlacementClient, *,
               names: frozenset[str] | None = None) -> rptree.PlacementState:
    """Every provider (or only the trees whose root is named in ``names``) and their allocations."""
    if client.version == "1.0":
        client.negotiate()
    listing = client.providers()
    if names is not None:
        roots = {p.get("uuid") for p in listing if p.get("name") in names}
        listing = [p for p in listing if p.get("root_provider_uuid") in roots]
    providers: list[rptree.RpRecord] = []
    consumers: dict[str, dict[str, dict[str, int]]] = {}
    for entry in listing:
        record = _provider(client, entry, consumers)
        if record is not None:
            providers.append(record)
    allocations = tuple(rptree.ConsumerAllocation(c, {rp: dict(res) for rp, res in sorted(by_rp.items())})
                        for c, by_rp in sorted(consumers.items()))
    return rptree.PlacementState(source=client.endpoint.shown, microversion=client.version,
                                 providers=tuple(sorted(providers, key=lambda p: p.name)),
                                 allocations=allocations)


def _provider(client: placementapi.PlacementClient, entry: Mapping[str, Any],
              consumers: dict[str, dict[str, dict[str, int]]]) -> rptree.RpRecord | None:
    try:
        uuid = str(entry["uuid"])
        name = str(entry["name"])
        generation = int(entry["generation"])
    except (KeyError, TypeError, ValueError):
        raise placementapi.PlacementApiError(
            f"{client.endpoint.shown}: a provider in the listing lacks uuid, name or generation: "
            f"{str(dict(entry))[:200]}") from None
    try:
        inventories = client.inventories(uuid)
        traits = client.traits(uuid)
        usages = client.usages(uuid)
        allocs = client.provider_allocations(uuid)
    except placementapi.PlacementApiError as exc:
        if exc.status == 404:
            return None
        raise
    try:
        for consumer, held in allocs.items():
            resources = held.get("resources", {}) if isinstance(held, dict) else {}
            consumers.setdefault(str(consumer), {})[uuid] = {str(k): _count(v) for k, v in resources.items()}
        parent = entry.get("parent_provider_uuid")
        return rptree.RpRecord(
            name=name, uuid=uuid, parent=str(parent) if parent else None,
            root=str(entry.get("root_provider_uuid") or uuid), generation=generation,
            inventories=tuple(_inventory(rc, inv) for rc, inv in sorted(inventories.items())),
            traits=tuple(sorted(str(t) for t in traits)),
            usages={str(rc): _count(n) for rc, n in sorted(usages.items())})
    except (TypeError, ValueError, AttributeError) as exc:
        raise placementapi.PlacementApiError(
            f"{client.endpoint.shown}: provider {name} ({uuid}): an answer of the wrong shape "
            f"({type(exc).__name__}: {str(exc)[:200]})") from None


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return int(value)


def _inventory(rc: str, inv: Any) -> rptree.RpInventory:
    if not isinstance(inv, dict):
        raise placementapi.PlacementApiError(f"inventory {rc!r} is not an object")
    values = {k: inv[k] for k in _INVENTORY_FIELDS if k in inv}
    ratio = values.pop("allocation_ratio", 1.0)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        raise ValueError(f"allocation_ratio {ratio!r} is not a number")
    return rptree.RpInventory(str(rc), allocation_ratio=float(ratio),
                              **{k: _count(v) for k, v in values.items()})
