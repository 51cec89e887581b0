"""Nova's PCI filters over Placement's allocation candidates, on one host (nova-pci.md §6).

With ``[filter_scheduler] pci_in_placement`` on, Nova's scheduler asks ``GET
/allocation_candidates`` with the PCI request groups (:mod:`pcipass.core.placementreq`) and
gives each compute node the candidates rooted at its provider. ``PciPassthroughFilter`` and
``NUMATopologyFilter`` then keep the candidates whose ``mappings`` the host's pools support
(``support_requests(..., provider_mapping=candidate["mappings"])``: each request takes its
devices from the pools of the providers its groups were mapped to, Nova's
``_get_rp_uuids_for_request``, :func:`pcipass.core.poolrecords.with_allocation`). A host
with no candidate left is dropped; Nova claims the first one left in Placement, and the
compute claims devices of those providers.

:func:`evaluate_candidates` plays that on one host whose pools carry their providers
(``rp_uuid`` in the pool keys, :func:`pcipass.core.poolupkeep.populate_rp_uuids`): every
candidate through :func:`hostfit.evaluate_host`, identical provider lists evaluated once.
The verdict is the first candidate that fits (the scheduler passes and the claim succeeds);
else the first one the scheduler passes (the claim fails there, Nova reschedules); else the
first candidate's, with its reasons after one that says no candidate passed.

Pure: values in, a verdict out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pcipass.core import numa, poolrecords, pools
from pcipass.core.layers import Layer
from pcipass.core.schedule import hostfit
from pcipass.core.schedule.verdicts import Evidence, HostInput, HostVerdict, Reason


@dataclasses.dataclass(frozen=True, slots=True)
class AllocationCandidate:
    """One entry of ``allocation_requests``, with the compute node it is rooted at.

    :ivar root: the root provider (the compute node) of the providers it allocates from.
    :ivar allocations: provider UUID -> resource class -> amount.
    :ivar mappings: request group suffix -> the providers that satisfy it (microversion 1.34).
    """

    root: str
    allocations: Mapping[str, Mapping[str, int]]
    mappings: Mapping[str, tuple[str, ...]]


@dataclasses.dataclass(frozen=True, slots=True)
class CandidateVerdict:
    """A host's verdict over its candidates.

    :ivar chosen: index of the candidate the verdict is of (None: no candidate was given).
    :ivar passed: how many candidates Nova's PCI and NUMA filters keep.
    """

    verdict: HostVerdict
    chosen: int | None
    passed: int


def named_requests(requests: Sequence[Any]) -> list[pools.Request]:
    """The requests with ids no one of which starts another (``r000``, ``r001``...).

    Nova maps a group to a request when the group's name *starts with* the request's id (its
    ids are UUIDs); ids ``1`` and ``10`` would mix the groups ``10-0`` into request ``1``.
    """
    width = max(3, len(str(len(requests))))
    return [dataclasses.replace(pools.as_request(r, i), request_id=f"r{i:0{width}d}")
            for i, r in enumerate(requests)]


def evaluate_candidates(host: HostInput, built: hostfit.HostPools, requests: Sequence[pools.Request],
                        candidates: Sequence[AllocationCandidate],
                        instance_shape: numa.InstanceShape | None = None, *,
                        instance_numa_nodes: Sequence[int] | None = None) -> CandidateVerdict:
    """The host's verdict over Placement's candidates for it (see the module docstring).

    :param built: the host's pools, their keys carrying ``rp_uuid``.
    :param requests: :func:`named_requests` of the flavor's and ports' requests (the groups
        were named after these ids).
    :raises numa.InstanceNumaNodesMismatch, numa.ImageNUMATopologyAsymmetric,
        numa.UnsupportedTopology: see :func:`hostfit.evaluate_host`.
    """
    if not candidates:
        raise ValueError("evaluate_candidates needs at least one candidate")
    seen: dict[tuple[tuple[str, ...], ...], HostVerdict] = {}
    verdicts: list[HostVerdict] = []
    for cand in candidates:
        reqs = [poolrecords.with_allocation(r, cand.mappings) for r in requests]
        key = tuple(r.rp_uuids for r in reqs)
        verdict = seen.get(key)
        if verdict is None:
            verdict = seen[key] = _short(cand, reqs, hostfit.evaluate_host(
                host.devices, host.specs, reqs, host.cells, instance_shape, name=host.name,
                instance_numa_nodes=instance_numa_nodes, prebuilt=built))
        verdicts.append(verdict)
    passed = sum(1 for v in verdicts if v.nova_fits)
    index = next((i for i, v in enumerate(verdicts) if v.fits), None)
    if index is None:
        index = next((i for i, v in enumerate(verdicts) if v.nova_fits), None)
    if index is not None:
        return CandidateVerdict(verdicts[index], index, passed)
    first = verdicts[0]
    shown = ", ".join(f"{group} -> {','.join(rps)}"
                      for group, rps in sorted(candidates[0].mappings.items()) if group)
    lead = Reason(Layer.SCHEDULER, (
        f"Placement offered {len(candidates)} allocation candidate(s) on this host and Nova's "
        f"PCI and NUMA filters refuse every one; the first one's reasons follow"),
        0, (Evidence("GET /allocation_candidates mappings", shown or "(none)"),))
    return CandidateVerdict(dataclasses.replace(first, reasons=(lead, *first.reasons)), 0, 0)


def _short(candidate: AllocationCandidate, reqs: Sequence[pools.Request],
           verdict: HostVerdict) -> HostVerdict:
    """A claim that gives fewer devices than asked does not fit (the improved answer).

    Nova's placement stage keeps a pool when it holds as many devices as the request's
    providers name *on it*, and its count check sums whole pools: a candidate that puts the
    groups of one request on two providers, one of which an earlier stage (the NUMA policy)
    dropped, passes with the other pool alone, and the claim takes only the devices mapped
    there. Nova boots the instance with fewer devices than Placement allocated.
    """
    asked = sum(r.count for r in reqs)
    if not verdict.fits or len(verdict.devices) >= asked:
        return verdict
    shown = ", ".join(f"{group} -> {','.join(rps)}"
                      for group, rps in sorted(candidate.mappings.items()) if group)
    return dataclasses.replace(verdict, fits=False, claim_ok=False, reasons=(Reason(
        Layer.PLACEMENT, (
            f"with this allocation candidate Nova's claim gives {len(verdict.devices)} of the "
            f"{asked} device(s) asked: a provider it maps a device to is left out by an earlier "
            "filter (the NUMA policy), and the device allocated there in Placement is never "
            "given"), 0, (Evidence("GET /allocation_candidates mappings", shown or "(none)"),)),))
