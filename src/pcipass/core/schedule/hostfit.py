"""Would the instance land on this host? Nova's scheduler filters, then the compute claim, on one host.

:func:`evaluate_host` plays Nova's two PCI-aware scheduler filters
(PciPassthroughFilter: ``support_requests`` without NUMA cells;
NUMATopologyFilter: the NUMA fit with a PCI check per placement) and then the
compute claim (the NUMA fit again on the compute's pools, then
``consume_requests``). Every matched device counts as free (bundles carry no
allocation state).

``fits`` is the improved answer: the scheduler passes *and* the claim would
succeed, so the PF/VF dependency is honoured (one PF and one VF of the only
PF: Nova's scheduler says yes, the claim fails and Nova reschedules).
``nova_fits`` is what Nova's scheduler decides; ``evaluate_host(...,
nova_compatible=True)`` makes ``fits`` equal to it. A "no" comes with the
reasons of :mod:`reasons`.

:func:`claim_host` is the claim alone, for a host already known to pass the
scheduler (the fleet index knows it): the devices and NUMA nodes it gets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from pcipass.core import model, numa, pools, spec
from pcipass.core.schedule import reasons
from pcipass.core.schedule import verdicts


@dataclasses.dataclass(frozen=True, slots=True)
class HostPools:
    """A host's pools, built once and shared by every flavor evaluated on it.

    Neither view is ever consumed in place (support and claims work on copies).
    """

    compute: pools.PciStats
    view: pools.PciStats


def host_pools(host_devices: Sequence[model.Device], specs: Sequence[spec.SpecEntry],
               numa_cells: Sequence[numa.HostCell] = (), *,
               place: Callable[[model.Device, str | None], pools.Placed] | None = None,
               ) -> HostPools:
    """The compute's pools of a host (every matched device free) and the scheduler's view
    (``place``: see :func:`pools.build`)."""
    compute = pools.build(host_devices, specs, {c.id: c.socket for c in numa_cells},
                          place=place)
    return HostPools(compute, compute.scheduler_view())


def evaluate_host(host_devices: Sequence[model.Device], specs: Sequence[spec.SpecEntry],
                  requests: Sequence[Any], numa_cells: Sequence[numa.HostCell] = (),
                  instance_shape: numa.InstanceShape | None = None, *, name: str = "",
                  instance_numa_nodes: Sequence[int] | None = None,
                  nova_compatible: bool = False, prebuilt: HostPools | None = None) -> verdicts.HostVerdict:
    """Decide whether the instance fits this host, with Nova's decisions and our reasons.

    :param requests: ``requests.PciRequest`` or :class:`pools.Request` values, flavor ones first.
    :param numa_cells: the host's NUMA cells (:func:`numa.host_cells`); empty: no NUMA topology.
    :param instance_shape: vCPUs/RAM/NUMA of the flavor; None: CPU and RAM are not considered
        and the instance has a NUMA topology only when ``instance_numa_nodes`` is given.
    :param instance_numa_nodes: pin the guest cells to these host nodes ("what if").
    :param prebuilt: :func:`host_pools` of the same devices, specs and cells, to reuse.
    :raises numa.InstanceNumaNodesMismatch, numa.ImageNUMATopologyAsymmetric,
        numa.UnsupportedTopology: the instance layout is contradictory or not modelled.
    """
    ctx, guest = _prepare(host_devices, specs, requests, numa_cells, instance_shape,
                          instance_numa_nodes, prebuilt)
    verdict = _scheduler(ctx, numa_cells, guest, instance_numa_nodes)
    verdict = dataclasses.replace(verdict, name=name, free=ctx.view.free)
    if not verdict.nova_fits or not ctx.reqs:
        return dataclasses.replace(verdict, fits=verdict.nova_fits)
    claimed = _claim(ctx, numa_cells, guest, instance_numa_nodes)
    if claimed.claim_ok or not nova_compatible:
        return dataclasses.replace(claimed, name=name, free=ctx.view.free)
    return dataclasses.replace(claimed, name=name, free=ctx.view.free, fits=True,
                               instance_numa_nodes=verdict.instance_numa_nodes)


def claim_host(host_devices: Sequence[model.Device], specs: Sequence[spec.SpecEntry],
               requests: Sequence[Any], numa_cells: Sequence[numa.HostCell] = (),
               instance_shape: numa.InstanceShape | None = None, *, name: str = "",
               instance_numa_nodes: Sequence[int] | None = None,
               prebuilt: HostPools | None = None) -> verdicts.HostVerdict:
    """The compute claim alone, on a host whose scheduler filters are known to pass.

    Equal to :func:`evaluate_host` for such a host when there are requests (without
    any, :func:`evaluate_host` stops at the scheduler and this must not be used).
    Parameters as there.
    """
    ctx, guest = _prepare(host_devices, specs, requests, numa_cells, instance_shape,
                          instance_numa_nodes, prebuilt)
    claimed = _claim(ctx, numa_cells, guest, instance_numa_nodes)
    return dataclasses.replace(claimed, name=name, free=ctx.view.free)


def guest_cells(shape: numa.InstanceShape | None, pinned: Sequence[int] | None,
                ) -> tuple[numa.InstanceCell, ...] | None:
    """The instance's NUMA cells (None: no NUMA topology), pinned cells implying one.

    :raises numa.InstanceNumaNodesMismatch, numa.ImageNUMATopologyAsymmetric,
        numa.UnsupportedTopology: see :func:`numa.instance_cells`.
    """
    if shape is None:
        if pinned is None:
            return None
        shape = numa.InstanceShape(vcpus=len(pinned), memory_mb=0)
    return numa.instance_cells(shape, pinned)


def numa_fit(stats: pools.PciStats, reqs: Sequence[pools.Request], cells: Sequence[numa.HostCell],
             guest: Sequence[numa.InstanceCell], pinned: Sequence[int] | None) -> numa.NumaFit:
    """The NUMA fit with a PCI check per placement on ``stats`` (one check per placement)."""
    memo: dict[tuple[int, ...], bool] = {}

    def check(nodes: tuple[int, ...]) -> bool:
        if nodes not in memo:
            memo[nodes] = stats.support(reqs, nodes).ok
        return memo[nodes]

    return numa.fit(cells, guest, pci_check=check if reqs else None,
                    pci_per_node=stats.free_per_node(), pinned=pinned)


def _prepare(host_devices: Sequence[model.Device], specs: Sequence[spec.SpecEntry],
             requests: Sequence[Any], numa_cells: Sequence[numa.HostCell],
             instance_shape: numa.InstanceShape | None, pinned: Sequence[int] | None,
             prebuilt: HostPools | None,
             ) -> tuple[reasons.Context, tuple[numa.InstanceCell, ...] | None]:
    reqs = [pools.as_request(r, i) for i, r in enumerate(requests)]
    guest = guest_cells(instance_shape, pinned)
    built = prebuilt if prebuilt is not None else host_pools(host_devices, specs, numa_cells)
    return reasons.Context(reqs, built.compute, built.view, host_devices, specs), guest


def _scheduler(ctx: reasons.Context, cells: Sequence[numa.HostCell],
               guest: tuple[numa.InstanceCell, ...] | None, pinned: Sequence[int] | None,
               ) -> verdicts.HostVerdict:
    """PciPassthroughFilter, then NUMATopologyFilter, on the scheduler's pools."""
    if ctx.reqs:
        passed = ctx.view.support(ctx.reqs)
        if not passed.ok:
            return verdicts.HostVerdict("", False, False, None,
                               reasons=tuple(reasons.pci_reasons(ctx, passed)))
    if guest is None:
        return verdicts.HostVerdict("", True, True, None)
    fitted = numa_fit(ctx.view, ctx.reqs, cells, guest, pinned)
    if fitted.nodes is None:
        return verdicts.HostVerdict("", False, False, None,
                           reasons=tuple(reasons.numa_reasons(ctx, fitted, cells, guest)))
    return verdicts.HostVerdict("", True, True, None, instance_numa_nodes=fitted.nodes)


def _claim(ctx: reasons.Context, cells: Sequence[numa.HostCell],
           guest: tuple[numa.InstanceCell, ...] | None, pinned: Sequence[int] | None,
           ) -> verdicts.HostVerdict:
    """The compute claim: NUMA fit on the compute's pools, then consume_requests on a copy."""
    nodes: tuple[int, ...] | None = None
    if guest is not None:
        fitted = numa_fit(ctx.compute, ctx.reqs, cells, guest, pinned)
        if fitted.nodes is None:
            return verdicts.HostVerdict("", False, True, False, reasons=tuple(
                reasons.compute_numa_reasons(ctx, fitted, cells, guest)))
        nodes = fitted.nodes
    outcome = ctx.compute.can_fit(ctx.reqs, nodes)
    if outcome.ok:
        chosen = tuple(verdicts.ChosenDevice(d.address, d.device.dev_type, d.device.numa_node,
                                    ctx.reqs[i].alias_name) for i, d in outcome.devices)
        return verdicts.HostVerdict("", True, True, True, chosen, nodes)
    return verdicts.HostVerdict("", False, True, False, instance_numa_nodes=nodes,
                       reasons=tuple(reasons.claim_reasons(ctx, outcome, nodes)))
