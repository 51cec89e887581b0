"""Which of many hosts fit, without evaluating each host: the fleet index (:class:`FleetIndex`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from pcipass.core import model, numa, pools
from pcipass.core.schedule import hostfit
from pcipass.core.schedule.verdicts import HostInput, HostVerdict


@dataclasses.dataclass(frozen=True, slots=True)
class FleetAnswer:
    """Hosts that fit (input order) and how many distinct host shapes had to be evaluated."""

    fits: tuple[str, ...]
    evaluated: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Shape:
    """Hosts with the same pools up to counts and PF addresses, and the same NUMA cells."""

    keys: tuple[dict[str, Any], ...]
    cells: tuple[numa.HostCell, ...]
    plain: bool


class FleetIndex:
    """"Which hosts fit?" for many hosts, without evaluating each host.

    Build time groups hosts by shape: the scheduler pools with PF addresses
    and ``parent_ifname`` replaced by their rank in the host (requests never
    name them), plus the NUMA cells. A query caps each pool count at the total
    requested + 1 (no filter or greedy subtraction can tell larger counts
    apart) and evaluates each distinct (shape, capped counts) once.

    Nova's scheduler answer needs nothing more. The claim (``improved=True``)
    can differ from it only when the requests mix PF and non-PF specs (the
    PF/VF dependency) or a pool tag is not a string (the compute keeps JSON
    types); only then are the hosts that pass re-checked one by one.
    """

    def __init__(self, hosts: Sequence[HostInput], shapes: list[_Shape],
                 groups: list[dict[tuple[int, ...], list[int]]], free: list[int]) -> None:
        self.hosts = hosts
        self._shapes = shapes
        self._groups = groups
        self.free = free

    @classmethod
    def build(cls, hosts: Iterable[HostInput]) -> FleetIndex:
        """Index the hosts; pools are computed once per distinct (devices, specs) object pair."""
        listed = list(hosts)
        shape_ids: dict[Any, int] = {}
        shapes: list[_Shape] = []
        groups: list[dict[tuple[int, ...], list[int]]] = []
        free: list[int] = []
        built: dict[tuple[int, int], tuple[Any, tuple[dict[str, Any], ...], tuple[int, ...], bool]] = {}
        for index, host in enumerate(listed):
            memo_key = (id(host.devices), id(host.specs))
            if memo_key not in built:
                built[memo_key] = _canonical(pools.build(host.devices, host.specs))
            signature, keys, counts, plain = built[memo_key]
            full = (signature, host.cells)
            sid = shape_ids.get(full)
            if sid is None:
                sid = shape_ids[full] = len(shapes)
                shapes.append(_Shape(keys, host.cells, plain))
                groups.append({})
            groups[sid].setdefault(counts, []).append(index)
            free.append(sum(counts))
        return cls(listed, shapes, groups, free)

    def query(self, requests: Sequence[Any], instance_shape: numa.InstanceShape | None = None, *,
              policy: str | None = None, instance_numa_nodes: Sequence[int] | None = None,
              improved: bool = True) -> FleetAnswer:
        """Names of the hosts that fit, in input order.

        :param policy: overrides every request's NUMA policy (as the flavor's
            ``hw:pci_numa_affinity_policy`` does).
        :param improved: include the compute claim (see the class docstring).
        """
        reqs = [pools.as_request(r, i) for i, r in enumerate(requests)]
        if policy is not None:
            reqs = [dataclasses.replace(r, numa_policy=policy) for r in reqs]
        if any(k in ("address", "parent_ifname") for r in reqs for s in r.specs for k in s):
            return self._one_by_one(reqs, instance_shape, instance_numa_nodes, improved)
        guest = hostfit.guest_cells(instance_shape, instance_numa_nodes)
        cap = sum(max(r.count, 0) for r in reqs) + 1
        claim = improved and _mixes_pf(reqs)
        memo: dict[tuple[int, tuple[int, ...]], bool] = {}
        hits: list[int] = []
        for sid, shape in enumerate(self._shapes):
            recheck = claim or (improved and not shape.plain)
            for counts, members in self._groups[sid].items():
                capped = tuple(c if c < cap else cap for c in counts)
                ok = memo.get((sid, capped))
                if ok is None:
                    ok = memo[(sid, capped)] = _shape_fits(shape, capped, reqs, guest,
                                                           instance_numa_nodes)
                if ok:
                    hits.extend(self._recheck(members, reqs, instance_shape, instance_numa_nodes)
                                if recheck else members)
        hits.sort()
        return FleetAnswer(tuple(self.hosts[i].name for i in hits), len(memo))

    def _recheck(self, members: list[int], reqs: list[pools.Request],
                 shape: numa.InstanceShape | None, pinned: Sequence[int] | None) -> list[int]:
        return [i for i in members if _evaluate(self.hosts[i], reqs, shape, pinned).fits]

    def _one_by_one(self, reqs: list[pools.Request], shape: numa.InstanceShape | None,
                    pinned: Sequence[int] | None, improved: bool) -> FleetAnswer:
        names = []
        for host in self.hosts:
            verdict = _evaluate(host, reqs, shape, pinned, nova_compatible=not improved)
            if verdict.fits:
                names.append(host.name)
        return FleetAnswer(tuple(names), len(self.hosts))


def _evaluate(host: HostInput, reqs: Sequence[pools.Request], shape: numa.InstanceShape | None,
              pinned: Sequence[int] | None, nova_compatible: bool = False) -> HostVerdict:
    return hostfit.evaluate_host(host.devices, host.specs, reqs, host.cells, shape,
                                 name=host.name, instance_numa_nodes=pinned,
                                 nova_compatible=nova_compatible)


def _canonical(compute: pools.PciStats,
               ) -> tuple[Any, tuple[dict[str, Any], ...], tuple[int, ...], bool]:
    """A hashable signature of the scheduler pools, host-specific names replaced by their rank.

    ``plain``: every compute-side key value is a string or None (``numa_node``
    an int), so the compute sees the same pools as the scheduler.
    """
    view = compute.scheduler_view()
    ranks: dict[tuple[str, Any], int] = {}
    keys = []
    for pool in view.pools:
        key = dict(pool.key)
        for name in ("address", "parent_ifname"):
            if name in key:
                key[name] = ranks.setdefault((name, key[name]), len(ranks))
        keys.append(key)
    plain = all(v is None or isinstance(v, str) or (k == "numa_node" and type(v) is int)
                for pool in compute.pools for k, v in pool.key.items())
    signature = tuple(tuple(sorted((k, repr(v)) for k, v in key.items())) for key in keys)
    return signature, tuple(keys), tuple(p.count for p in view.pools), plain


def _shape_fits(shape: _Shape, counts: tuple[int, ...], reqs: Sequence[pools.Request],
                guest: tuple[numa.InstanceCell, ...] | None, pinned: Sequence[int] | None) -> bool:
    stats = pools.PciStats([pools.Pool(dict(k), c) for k, c in zip(shape.keys, counts) if c],
                           {c.id: c.socket for c in shape.cells})
    if reqs and not stats.support(reqs).ok:
        return False
    if guest is None:
        return True
    return hostfit.numa_fit(stats, reqs, shape.cells, guest, pinned).fits


def _mixes_pf(reqs: Sequence[pools.Request]) -> bool:
    """Can the requests take both a PF and something else (where the PF/VF dependency bites)?"""
    specs = [s for r in reqs for s in r.specs]
    has_pf = any(s.get("dev_type") == model.TYPE_PF for s in specs)
    return has_pf and any(s.get("dev_type") != model.TYPE_PF for s in specs)
