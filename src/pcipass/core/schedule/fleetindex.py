"""Which of many hosts fit, without evaluating each host: the fleet index.

Building the index sorts hosts twice:

* into **classes** of identical hosts: the same devices (on the fields the
  core reads, :data:`DEVICE_FIELDS`, in order), the same parsed device_spec and
  the same NUMA cells. Every host of a class gets the same verdict but for its
  name, so pools are built and verdicts computed once per class. Comparing
  fields costs far less than building pools (the benchmark's figures are in
  bench/bench_schedule.py);
* classes into **shapes**: the scheduler pools with PF addresses and
  ``parent_ifname`` replaced by their rank in the host (requests never name
  them), plus the NUMA cells.

A query caps each pool count at the total requested + 1 (no filter or greedy
subtraction can tell larger counts apart) and evaluates each distinct (shape,
capped counts) once. Nova's scheduler answer needs nothing more. The claim
(``improved=True``) can differ from it only when the requests mix PF and
non-PF specs (the PF/VF dependency) or a pool tag is not a string (the compute
keeps JSON types); only then are the classes that pass re-checked one by one.
Requests naming ``address`` or ``parent_ifname`` are answered class by class.

:meth:`FleetIndex.verdicts` is what ``pcipass schedule`` runs: the index picks
the hosts that fit; the per-host evaluation runs only for the reasons of the
hosts that do not, and for the devices the compute claim gives the ones that
do, once per class.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterable, Sequence
from typing import Any, cast

from pcipass.core import model, numa, pools, spec
from pcipass.core.schedule import hostfit
from pcipass.core.schedule.verdicts import HostInput, HostVerdict

#: The :class:`model.Device` fields the scheduling core reads: spec matching (ids, address,
#: parent, card serial), pool keys (type, NUMA node, parent netdev) and reasons (class code).
#: Hosts whose devices agree on these are evaluated once; a property test pins the list.
DEVICE_FIELDS = ("address", "vendor_id", "product_id", "dev_type", "parent_addr", "numa_node",
                 "netdevs", "card_serial_number", "class_code")
_device_key = operator.attrgetter(*DEVICE_FIELDS)


@dataclasses.dataclass(frozen=True, slots=True)
class FleetAnswer:
    """Hosts that fit (input order) and how many distinct host shapes had to be evaluated."""

    fits: tuple[str, ...]
    evaluated: int


@dataclasses.dataclass(slots=True)
class _Class:
    """Identical hosts: the first one (evaluated for all), its pools (built when a verdict
    needs them: the index needs only their keys and counts), and every member."""

    first: int
    place: _Places
    free: int
    members: list[int]
    built: hostfit.HostPools | None = None

    def pools(self, host: HostInput) -> hostfit.HostPools:
        if self.built is None:
            self.built = hostfit.host_pools(host.devices, host.specs, host.cells,
                                            place=self.place)
        return self.built


@dataclasses.dataclass(frozen=True, slots=True)
class _Shape:
    """Classes with the same pools up to counts and PF addresses, the same NUMA cells, and
    compute-side tags that are all strings (``plain``) or not."""

    keys: tuple[dict[str, Any], ...]
    cells: tuple[numa.HostCell, ...]
    plain: bool


class FleetIndex:
    """"Which hosts fit?" for many hosts, without evaluating each host (see the module docstring).

    :ivar hosts: the hosts, in build order.
    :ivar free: free PCI devices per host (the PCIWeigher's input), in build order.
    """

    def __init__(self, hosts: Sequence[HostInput], classes: list[_Class], class_of: list[int],
                 shapes: list[_Shape], groups: list[dict[tuple[int, ...], list[int]]]) -> None:
        self.hosts = hosts
        self._classes = classes
        self._class_of = class_of
        self._shapes = shapes
        self._groups = groups
        self._names = [h.name for h in hosts]
        self.free = [classes[c].free for c in class_of]

    @classmethod
    def build(cls, hosts: Iterable[HostInput]) -> FleetIndex:
        """Index the hosts; pools are built once per class of identical hosts."""
        listed = list(hosts)
        by_content: dict[Any, int] = {}
        spec_texts: dict[int, str] = {}
        classes: list[_Class] = []
        class_of: list[int] = []
        shape_ids: dict[Any, int] = {}
        shapes: list[_Shape] = []
        groups: list[dict[tuple[int, ...], list[int]]] = []  # per shape: pool counts -> classes
        places: dict[str, _Places] = {}  # per device_spec text
        for index, host in enumerate(listed):
            content = (tuple(map(_device_key, host.devices)),
                       _spec_text(spec_texts, host.specs), host.cells)
            cid = by_content.get(content)
            if cid is None:
                cid = by_content[content] = len(classes)
                place = places.get(content[1])
                if place is None:
                    place = places[content[1]] = _Places(host.specs)
                signature, keys, counts, plain = _canonical(_pool_counts(host, place,
                                                                         content[0]))
                # plain is part of the shape: a JSON true and the string "True" look alike to the
                # scheduler, not to the claim
                sid = shape_ids.get((signature, host.cells, plain))
                if sid is None:
                    sid = shape_ids[(signature, host.cells, plain)] = len(shapes)
                    shapes.append(_Shape(keys, host.cells, plain))
                    groups.append({})
                groups[sid].setdefault(counts, []).append(cid)
                classes.append(_Class(index, place, sum(counts), []))
            classes[cid].members.append(index)
            class_of.append(cid)
        return cls(listed, classes, class_of, shapes, groups)

    def query(self, requests: Sequence[Any], instance_shape: numa.InstanceShape | None = None, *,
              policy: str | None = None, instance_numa_nodes: Sequence[int] | None = None,
              improved: bool = True) -> FleetAnswer:
        """Names of the hosts that fit, in input order.

        :param policy: overrides every request's NUMA policy (as the flavor's
            ``hw:pci_numa_affinity_policy`` does).
        :param improved: include the compute claim (see the module docstring).
        """
        reqs = [pools.as_request(r, i) for i, r in enumerate(requests)]
        if policy is not None:
            reqs = [dataclasses.replace(r, numa_policy=policy) for r in reqs]
        fitting, evaluated = self._fitting(reqs, instance_shape, instance_numa_nodes, improved,
                                           None, {})
        hits: list[int] = []
        for cid in fitting:
            hits.extend(self._classes[cid].members)
        hits.sort()
        return FleetAnswer(tuple(map(self._names.__getitem__, hits)), evaluated)

    def verdicts(self, requests: Sequence[Any], instance_shape: numa.InstanceShape | None = None, *,
                 instance_numa_nodes: Sequence[int] | None = None,
                 hosts: Sequence[int] | None = None) -> list[HostVerdict]:
        """Each host's verdict, equal to :func:`hostfit.evaluate_host`'s (improved answer).

        The index picks the hosts that fit; a class that does not fit is
        evaluated for its reasons, one that fits runs the compute claim alone
        for its devices and NUMA nodes.

        :param hosts: indexes (build order) of the hosts wanted, in the order
            wanted; None: every host. Only the classes of these are evaluated.
        :raises numa.InstanceNumaNodesMismatch, numa.ImageNUMATopologyAsymmetric,
            numa.UnsupportedTopology: as :func:`hostfit.evaluate_host`, when a host is wanted.
        """
        wanted = range(len(self.hosts)) if hosts is None else hosts
        if not wanted:
            return []
        reqs = [pools.as_request(r, i) for i, r in enumerate(requests)]
        needed = {self._class_of[i] for i in wanted}
        done: dict[int, HostVerdict] = {}
        fitting, _ = self._fitting(reqs, instance_shape, instance_numa_nodes, True, needed, done)
        fits = set(fitting)
        for cid in sorted(needed):
            if cid not in done:
                done[cid] = self._explain(cid, reqs, instance_shape, instance_numa_nodes,
                                          cid in fits)
        return [dataclasses.replace(done[self._class_of[i]], name=self.hosts[i].name)
                for i in wanted]

    def _fitting(self, reqs: list[pools.Request], shape: numa.InstanceShape | None,
                 pinned: Sequence[int] | None, improved: bool, among: set[int] | None,
                 evaluated: dict[int, HostVerdict]) -> tuple[list[int], int]:
        """The classes (of ``among``; None: all) that fit, and how many evaluations it took.

        Classes evaluated one by one on the way (improved answers) land in ``evaluated``.
        """
        if any(k in ("address", "parent_ifname") for r in reqs for s in r.specs for k in s):
            listed = range(len(self._classes)) if among is None else sorted(among)
            fits = [c for c in listed if self._evaluate(c, reqs, shape, pinned, improved,
                                                        evaluated).fits]
            return fits, len(listed)
        guest = hostfit.guest_cells(shape, pinned)
        cap = sum(max(r.count, 0) for r in reqs) + 1
        claim = improved and _mixes_pf(reqs)
        memo: dict[tuple[int, tuple[int, ...]], bool] = {}
        fits = []
        for sid, shape_ in enumerate(self._shapes):
            recheck = claim or (improved and not shape_.plain)
            for counts, members in self._groups[sid].items():
                if among is not None:
                    members = [c for c in members if c in among]
                    if not members:
                        continue
                capped = tuple(c if c < cap else cap for c in counts)
                ok = memo.get((sid, capped))
                if ok is None:
                    ok = memo[(sid, capped)] = _shape_fits(shape_, capped, reqs, guest, pinned)
                if ok:
                    fits.extend(c for c in members if not recheck or self._evaluate(
                        c, reqs, shape, pinned, True, evaluated).fits)
        return fits, len(memo)

    def _evaluate(self, cid: int, reqs: Sequence[pools.Request], shape: numa.InstanceShape | None,
                  pinned: Sequence[int] | None, improved: bool,
                  evaluated: dict[int, HostVerdict]) -> HostVerdict:
        host = self.hosts[self._classes[cid].first]
        built = self._classes[cid].pools(host)
        verdict = hostfit.evaluate_host(host.devices, host.specs, reqs, host.cells, shape,
                                        instance_numa_nodes=pinned, nova_compatible=not improved,
                                        prebuilt=built)
        if improved:
            evaluated[cid] = verdict
        return verdict

    def _explain(self, cid: int, reqs: Sequence[pools.Request], shape: numa.InstanceShape | None,
                 pinned: Sequence[int] | None, fits: bool) -> HostVerdict:
        host = self.hosts[self._classes[cid].first]
        built = self._classes[cid].pools(host)
        if fits and reqs:
            claimed = hostfit.claim_host(host.devices, host.specs, reqs, host.cells, shape,
                                         instance_numa_nodes=pinned, prebuilt=built)
            if claimed.fits:
                return claimed
        return self._evaluate(cid, reqs, shape, pinned, True, {})


class _Places:
    """Where devices land under one device_spec, remembered by the fields that decide it
    (:data:`DEVICE_FIELDS` and the parent netdev): a fleet's hosts share their devices' fields,
    and matching specs and making pool keys were three quarters of the build (a fleet of 10,000
    hosts with 8,698 distinct ones: 3.3 s, ``bench/bench_schedule.py``)."""

    __slots__ = ("specs", "known", "plain")

    def __init__(self, specs: Sequence[spec.SpecEntry]) -> None:
        self.specs = specs
        self.known: dict[tuple[Any, str | None], pools.Placed] = {}
        self.plain: dict[int, bool] = {}

    def __call__(self, dev: model.Device, ifname: str | None) -> pools.Placed:
        return self.at(_device_key(dev), dev, ifname)

    def at(self, fields: Any, dev: model.Device, ifname: str | None) -> pools.Placed:
        """``self(dev, ifname)`` when ``fields`` is ``dev``'s :data:`DEVICE_FIELDS` already."""
        key = (fields, ifname)
        found: Any = self.known.get(key, _UNSEEN)
        if found is _UNSEEN:
            found = self.known[key] = pools.placed(dev, self.specs, ifname, self.plain)
        return cast(pools.Placed, found)


def _spec_text(seen: dict[int, str], specs: Sequence[spec.SpecEntry]) -> str:
    """The parsed device_spec as comparable text (``repr`` keeps JSON types apart: 1, 1.0, True).

    Computed once per specs object; hosts parsed from the same config text get equal texts.
    """
    text = seen.get(id(specs))
    if text is None:
        text = seen[id(specs)] = repr(tuple(specs))
    return text


_UNSEEN = object()


def _pool_counts(host: HostInput, place: _Places, fields: Sequence[Any]) -> pools.PciStats:
    """The host's compute pools as keys and counts only: :func:`pools.build`'s pools, in its
    order, without their devices (what the index compares; the devices are built when a
    verdict needs them)."""
    ifnames = pools.parent_ifnames(host.devices)
    found: dict[Any, pools.Pool] = {}
    stats = pools.PciStats(sockets={c.id: c.socket for c in host.cells})
    for dev, dkey in zip(host.devices, fields):
        where = place.at(dkey, dev, ifnames.get(dev.address) if ifnames else None)
        if where is None:
            continue
        _index, key, frozen = where
        pool = found.get(frozen) if frozen is not None else next(
            (p for p in stats.pools if p.key == key), None)  # unhashable: Nova's linear search
        if pool is None:
            pool = pools.Pool(dict(key))
            stats.pools.append(pool)
            if frozen is not None:
                found[frozen] = pool
        pool.count += 1
    stats.pools.sort(key=lambda p: len(p.key))  # build's order: first seen, then key length
    return stats


def _canonical(compute: pools.PciStats,
               ) -> tuple[Any, tuple[dict[str, Any], ...], tuple[int, ...], bool]:
    """A hashable signature of the scheduler pools, host-specific names replaced by their rank.

    ``plain``: every compute-side key value is a string or None (``numa_node``
    an int), so the compute sees the same pools as the scheduler.
    """
    ranks: dict[tuple[str, Any], int] = {}
    keys = []
    view = compute.scheduler_view()
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
