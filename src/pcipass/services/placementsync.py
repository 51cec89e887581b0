"""``pcipass placement sync``: make Placement hold Nova's translation of each host, dry-run by default.

Each host is translated as ``placement show`` translates it
(:func:`pcipass.services.placementview.show_placement`); the trees of those compute nodes
are read from Placement; :func:`pcipass.core.rpsync.plan` gives the changes. With
``apply`` they are made, in order, through the client (generation conflicts re-read and
retried there); a change that fails is recorded with Placement's message and the host's
later changes still run (a delete refused because allocations hold the provider is the
usual one).

The document is ``pcipass-placement-sync/1`` (``docs/schemas/placement-sync.json``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pcipass.adapters import placementapi, placementread
from pcipass.core import errors, placement, rpsync, rptree
from pcipass.services import placementview, scan

SYNC_SCHEMA = "pcipass-placement-sync/1"
PLANNED, APPLIED, FAILED, SKIPPED = "planned", "applied", "failed", "skipped"


@dataclasses.dataclass(frozen=True)
class ChangeResult:
    change: rpsync.Change
    status: str
    message: str | None = None


@dataclasses.dataclass(frozen=True)
class HostSync:
    name: str
    hypervisor_hostname: str
    owned: bool
    changes: tuple[ChangeResult, ...]
    refusals: tuple[errors.Problem, ...]


@dataclasses.dataclass(frozen=True)
class SyncReport:
    schema: str
    placement: str
    applied: bool
    hosts: tuple[HostSync, ...]

    @property
    def failed(self) -> bool:
        return any(h.refusals or any(c.status == FAILED for c in h.changes) for h in self.hosts)

    @property
    def pending(self) -> int:
        return sum(1 for h in self.hosts for c in h.changes if c.status in (PLANNED, FAILED))


def sync(client: placementapi.PlacementClient, hosts: Sequence[str | Path], *,
         compute_conf: Sequence[str | Path] = (), hypervisor_hostname: str | None = None,
         apply: bool = False, jobs: int = 1, facts_cache: str = scan.CACHE_USE) -> SyncReport:
    """Plan (and with ``apply``, make) the changes for ``hosts``."""
    shown = placementview.show_placement(hosts, compute_conf=compute_conf, jobs=jobs,
                                         hypervisor_hostname=hypervisor_hostname,
                                         facts_cache=facts_cache)
    names = frozenset(h.hypervisor_hostname for h in shown.hosts)
    state = placementread.read_state(client, names=names)
    out = []
    for host in shown.hosts:
        plan = rpsync.plan(host.hypervisor_hostname, host.providers, state,
                           nova_refusals=host.refusals)
        wanted = {p.name: p for p in host.providers}
        results = (_apply(client, plan, wanted, state) if apply
                   else tuple(ChangeResult(c, PLANNED) for c in plan.changes))
        out.append(HostSync(host.name, host.hypervisor_hostname, plan.owned, results, plan.refusals))
    return SyncReport(SYNC_SCHEMA, client.endpoint.shown, apply, tuple(out))


def _apply(client: placementapi.PlacementClient, plan: rpsync.HostPlan,
           wanted: dict[str, placement.Provider], state: rptree.PlacementState) -> tuple[ChangeResult, ...]:
    uuids = {p.name: p.uuid for p in state.providers}
    if plan.compute_uuid is not None:
        uuids[plan.hypervisor_hostname] = plan.compute_uuid
    results: list[ChangeResult] = []
    broken: set[str] = set()
    for change in plan.changes:
        if change.provider in broken or (change.parent in broken):
            results.append(ChangeResult(change, SKIPPED, "an earlier change of this provider failed"))
            continue
        try:
            _one(client, change, wanted, uuids)
        except placementapi.PlacementApiError as exc:
            broken.add(change.provider)
            results.append(ChangeResult(change, FAILED, exc.message))
            continue
        results.append(ChangeResult(change, APPLIED))
    return tuple(results)


def _one(client: placementapi.PlacementClient, change: rpsync.Change,
         wanted: dict[str, placement.Provider], uuids: dict[str, str]) -> None:
    if change.action == rpsync.CREATE_COMPUTE:
        created = client.create_provider(change.provider)
        uuids[change.provider] = str(created["uuid"])
        client.ensure_trait(rptree.OWNED_TRAIT)
        client.update_with_generation(uuids[change.provider], "traits", lambda cur: {
            "traits": sorted(set(cur.get("traits", [])) | {rptree.OWNED_TRAIT})})
    elif change.action == rpsync.CREATE_PROVIDER:
        assert change.parent is not None
        created = client.create_provider(change.provider, uuids[change.parent])
        uuids[change.provider] = str(created["uuid"])
    elif change.action == rpsync.SET_INVENTORY:
        provider = wanted[change.provider]
        rc = provider.inventory.resource_class
        if rc.startswith("CUSTOM_"):
            client.ensure_resource_class(rc)

        def inventories(cur: Mapping[str, Any]) -> dict[str, Any]:
            held = cur.get("inventories")
            reserved = provider.inventory.reserved
            if reserved is None:
                old = held.get(rc) if isinstance(held, dict) else None
                reserved = int(old.get("reserved", 0)) if isinstance(old, dict) else 0
            return {"inventories": {rc: {"total": provider.inventory.total,
                                         "max_unit": provider.inventory.max_unit,
                                         "reserved": reserved}}}

        client.update_with_generation(uuids[change.provider], "inventories", inventories)
    elif change.action == rpsync.SET_TRAITS:
        traits = sorted(wanted[change.provider].traits)
        for trait in traits:
            if trait.startswith("CUSTOM_"):
                client.ensure_trait(trait)
        client.update_with_generation(uuids[change.provider], "traits", lambda _cur: {"traits": traits})
    elif change.action == rpsync.DELETE_PROVIDER:
        assert change.uuid is not None
        client.delete_provider(change.uuid)
    else:  # pragma: no cover - a new action without its writer
        raise AssertionError(change.action)
