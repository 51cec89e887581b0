"""``pcipass schedule --placement-url URL``: Nova's scheduling with ``pci_in_placement``, through
a real Placement.

For each flavor, the PCI request groups Nova sends (:func:`pcipass.core.placementreq.request_groups`)
go to ``GET /allocation_candidates``. Only the PCI part of Nova's query is sent: its unsuffixed
group (the flavor's ``VCPU``, ``MEMORY_MB``, ``DISK_GB`` on the compute node) is left out, as
pcipass does not track CPU and memory use. Each candidate is rooted at a compute node
provider, named after the host's hypervisor hostname (the host's hostname, as ``placement
show`` and ``placement sync`` name it); the host's pools carry the providers of their devices
(the provider named ``<hypervisor hostname>_<ADDRESS>`` of the host's translation,
:func:`pcipass.core.placement.translate`, its UUID from the provider listing), and the
scheduling core filters the candidates as Nova's PCI and NUMA filters do
(:func:`pcipass.core.schedule.candidates.evaluate_candidates`).

A host Placement gives no candidate is dropped with the request group that failed: the
groups are asked again in prefixes (the first group alone, then the first two...), and the
first prefix without a candidate on that host names it. A host whose compute node is not in
Placement at all says so. Everything else (ranking, reasons, ports, ``--instance-numa-nodes``)
is :mod:`pcipass.services.schedule`'s.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pcipass.adapters import placementapi, placementcand
from pcipass.core import errors, numa, placement, placementreq, pools, poolupkeep, schedule
from pcipass.core.layers import Layer
from pcipass.core.schedule import candidates as cand
from pcipass.services import scan as scan_mod
from pcipass.services import schedule as schedule_svc

#: What the answer's ``note`` says of the query.
QUERY_NOTE = ("only the PCI request groups of Nova's query are sent: its unsuffixed group "
              "(VCPU, MEMORY_MB, DISK_GB) is left out, as pcipass does not track CPU and memory")


class PciRequestMultipleSpecs(errors.InputError):
    """Nova cannot turn a PCI request into request groups (it fails the boot)."""


@dataclasses.dataclass(frozen=True)
class HostCandidates:
    """What Placement offered one host, and the candidate its verdict is of.

    :ivar provider: the compute node provider's UUID (None: not in Placement).
    :ivar candidates: allocation candidates rooted at it.
    :ivar passed: how many Nova's PCI and NUMA filters keep.
    :ivar allocation: the chosen candidate's allocations (provider -> class -> amount).
    :ivar mappings: the chosen candidate's request group -> providers.
    """

    name: str
    hypervisor_hostname: str
    provider: str | None
    candidates: int
    passed: int
    allocation: Mapping[str, Mapping[str, int]] | None = None
    mappings: Mapping[str, tuple[str, ...]] | None = None


@dataclasses.dataclass(frozen=True)
class PlacementAnswer:
    """One flavor's ``GET /allocation_candidates``: the query, how many candidates, per host."""

    placement: str
    microversion: str
    query: str
    note: str
    candidates: int
    hosts: tuple[HostCandidates, ...]
    #: compute nodes with candidates that were not among the hosts given (Nova may pick them)
    other_hosts: tuple[str, ...] = ()


class PlacementFleet(schedule_svc.Fleet):
    """The scanned hosts, answered through Placement's allocation candidates."""

    def __init__(self, models: Sequence[schedule_svc.HostModel],
                 client: placementapi.PlacementClient) -> None:
        super().__init__(models)
        self.client = client
        self._pools: dict[tuple[int, str], schedule.HostPools] = {}

    @functools.cached_property
    def providers(self) -> dict[str, tuple[str, str]]:
        """Every provider: UUID -> (name, root UUID), read once."""
        return placementcand.provider_names(self.client)

    @functools.cached_property
    def computes(self) -> dict[str, str]:
        """Compute node providers (roots): name -> UUID."""
        return {name: uuid for uuid, (name, root) in self.providers.items() if uuid == root}

    def tree_names(self, root: str) -> list[str]:
        return sorted(name for name, top in self.providers.values() if top == root)

    def provider_pools(self, index: int, root: str) -> schedule.HostPools:
        """Host ``index``'s pools, each carrying the provider of its devices (``rp_uuid``),
        built once and shared by every flavor."""
        built = self._pools.get((index, root))
        if built is not None:
            return built
        m = self.models[index]
        u = m.usable
        view = placement.translate(m.scan.name, u.devices, u.specs)
        by_name = {name: uuid for uuid, (name, top) in self.providers.items() if top == root}
        rp_of = {addr: by_name[p.name] for p in view.providers if p.name in by_name
                 for addr in p.devices}
        compute = pools.build(u.devices, u.specs, {c.id: c.socket for c in u.cells})
        poolupkeep.populate_rp_uuids(compute, rp_of)
        built = self._pools[(index, root)] = schedule.HostPools(compute, compute.scheduler_view())
        return built

    def verdicts(self, reqs: Sequence[Any], shape: numa.InstanceShape,
                 pinned: Sequence[int] | None = None, *,
                 extra_specs: Mapping[str, str] | None = None) -> list[schedule.HostVerdict]:
        """Every host's verdict through Placement (the base class's without PCI groups).

        :raises PciRequestMultipleSpecs: a request Nova cannot send to Placement.
        :raises placementapi.PlacementApiError, placementapi.PlacementUnreachable: Placement.
        """
        named = cand.named_requests(reqs)
        ask = placementreq.request_groups(named, extra_specs=extra_specs)
        if ask.refusals:
            first = ask.refusals[0]
            raise PciRequestMultipleSpecs(first.message, hint=first.hint, entry=first.entry)
        if not ask.groups:
            self.side = (None, list(ask.warnings))
            return super().verdicts(reqs, shape, pinned)
        params = ask.query()
        offered = placementcand.allocation_candidates(self.client, params)
        by_root: dict[str, list[cand.AllocationCandidate]] = {}
        for c in offered:
            by_root.setdefault(c.root, []).append(c)
        failing = _FailingGroups(self, ask)
        out: list[schedule.HostVerdict] = []
        seen: list[HostCandidates] = []
        for index, m in enumerate(self.models):
            hv = m.scan.name
            root = self.computes.get(hv)
            mine = by_root.get(root, []) if root is not None else []
            if m.broken is not None:
                out.append(schedule_svc.evaluate(m, reqs, shape, pinned))
                seen.append(HostCandidates(m.name, hv, root, len(mine), 0))
            elif root is None:
                out.append(self._absent(m, hv))
                seen.append(HostCandidates(m.name, hv, None, 0, 0))
            elif not mine:
                out.append(failing.verdict(m, root))
                seen.append(HostCandidates(m.name, hv, root, 0, 0))
            else:
                got = cand.evaluate_candidates(m.usable, self.provider_pools(index, root), named,
                                               mine, shape, instance_numa_nodes=pinned)
                chosen = mine[got.chosen] if got.chosen is not None else None
                out.append(dataclasses.replace(got.verdict, name=m.name))
                seen.append(HostCandidates(
                    m.name, hv, root, len(mine), got.passed,
                    chosen.allocations if chosen is not None and got.passed else None,
                    chosen.mappings if chosen is not None and got.passed else None))
        elsewhere = sorted(set(by_root) - {h.provider for h in seen if h.provider})
        others = tuple(sorted(self.providers.get(r, (r, r))[0] for r in elsewhere))
        self.side = (PlacementAnswer(self.client.endpoint.shown, self.client.version,
                                     placementcand.query_text(params), QUERY_NOTE, len(offered),
                                     tuple(seen), others), list(ask.warnings))
        return out

    def _absent(self, m: schedule_svc.HostModel, hv: str) -> schedule.HostVerdict:
        return schedule.HostVerdict(m.name, False, False, None, reasons=(schedule.Reason(
            Layer.PLACEMENT,
            f"Placement has no compute node provider named {hv!r}: Nova's scheduler never sees "
            "this host (nova-compute has not reported it, or reports it under another "
            "hypervisor hostname)", 0,
            (schedule.Evidence("GET /resource_providers",
                               f"{len(self.providers)} provider(s), no root named {hv}"),)),))


class _FailingGroups:
    """Which request group fails on a host without candidates: prefixes of the groups asked
    one by one (lazily, once per flavor), the first prefix without a candidate there."""

    def __init__(self, fleet: PlacementFleet, ask: placementreq.PciPlacementRequest) -> None:
        self.fleet = fleet
        self.ask = ask
        self.roots: list[set[str]] = []  # roots with a candidate for the first k+1 groups

    def _prefix(self, k: int) -> list[tuple[str, str]]:
        groups = self.ask.groups[:k]
        out = [p for g in groups for p in g.query()]
        if self.ask.group_policy is not None and len(groups) >= 2:
            out.append(("group_policy", self.ask.group_policy))
        return sorted(out)

    def _answered(self, k: int) -> set[str]:
        while len(self.roots) < k:
            n = len(self.roots) + 1
            if n == len(self.ask.groups):
                self.roots.append(set())  # the full query: no candidate there, by definition
            else:
                got = placementcand.allocation_candidates(self.fleet.client, self._prefix(n))
                self.roots.append({c.root for c in got})
        return self.roots[k - 1]

    def verdict(self, m: schedule_svc.HostModel, root: str) -> schedule.HostVerdict:
        k = next(k for k in range(1, len(self.ask.groups) + 1) if root not in self._answered(k))
        g = self.ask.groups[k - 1]
        traits = f", required {','.join(g.required_traits)}" if g.required_traits else ""
        after = f" once the {k - 1} group(s) before it are placed" if k > 1 else ""
        message = (f"Placement returned no candidate for this host: request group "
                   f"{g.requester_id} ({g.resource_class}:{g.amount}{traits}) of alias "
                   f"'{g.alias_name}' finds no provider in its tree{after}")
        tree = self.fleet.tree_names(root)
        evidence = (
            schedule.Evidence("GET /allocation_candidates?" + placementcand.query_text(self._prefix(k)),
                              f"no candidate rooted at {m.scan.name} ({root})"),
            schedule.Evidence(f"Placement providers of {m.scan.name}",
                              ", ".join(tree[:8]) + (" ..." if len(tree) > 8 else "")))
        return schedule.HostVerdict(m.name, False, False, None, reasons=(
            schedule.Reason(Layer.PLACEMENT, message, 0, evidence),))


def fleet_factory(client: placementapi.PlacementClient,
                  ) -> Callable[[Sequence[schedule_svc.HostModel]], schedule_svc.Fleet]:
    """What :func:`schedule_svc.schedule_flavors` builds its fleet with, through ``client``."""
    placementcand.needs_mappings(client)
    return functools.partial(PlacementFleet, client=client)


def schedule_flavors(client: placementapi.PlacementClient, flavors: Sequence[str | Path],
                     hosts: Sequence[str | Path], **options: Any) -> schedule_svc.ScheduleReport:
    """:func:`pcipass.services.schedule.schedule_flavors` through Placement (same options).

    :raises placementapi.PlacementApiError: the microversion gives no ``mappings``.
    """
    options.setdefault("facts_cache", scan_mod.CACHE_USE)
    return schedule_svc.schedule_flavors(flavors, hosts, fleet=fleet_factory(client), **options)
