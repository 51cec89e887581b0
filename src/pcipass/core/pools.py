"""Device pools and PCI requests with Nova's ``PciDeviceStats`` semantics (nova-pci.md §4).

A host's assignable devices are grouped into pools of equivalent devices; a
request is checked against the pools through a fixed pipeline of filters.
Nova keeps two views of the same pools, and so do we:

* the **compute view** (:func:`build`): pools hold their devices, keys keep
  the JSON types of the spec tags, and :meth:`PciStats.consume` picks real
  devices (popping from the end of a pool) and applies the PF/VF dependency
  rule, as the compute claim does;
* the **scheduler view** (:meth:`PciStats.scheduler_view`): what the
  scheduler rebuilds from the ``PciDevicePool`` objects the compute reports.
  Pools carry counts only and every tag value went through the objects'
  string coercion (a JSON ``true`` tag becomes ``"True"``, which then matches
  a request's ``"true"`` case-insensitively, while the compute view's ``True``
  does not). :meth:`PciStats.support` runs there.

The records are :mod:`~pcipass.core.poolrecords`; the filter pipeline, each
stage declared once, is :mod:`~pcipass.core.poolfilter` (both re-exported
here, as callers have always named them). The Placement stage is kept as a hook: requests carry
``rp_uuids``; pools without ``rp_uuid`` are ignored as Nova does; we never
assign ``rp_uuid`` to pools ourselves.

The one deliberate improvement over Nova is :meth:`PciStats.can_fit`, which
answers "can this host take the requests" by running the compute claim on a
copy, so the PF/VF dependency is honoured (§9.8).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pcipass.core import model, spec
from pcipass.core.poolfilter import (
    coerce_key, count_by, no_pool_drop, one_pool_per_rp, split_rp_drop)
from pcipass.core.poolrecords import PLAIN_TYPES, frozen_key
# Re-exported: callers name the pool records and the pipeline through this module.
from pcipass.core.poolfilter import (  # noqa: F401
    Stage as Stage, PIPELINE as PIPELINE, STAGES as STAGES, SPEC as SPEC, NUMA as NUMA,
    UNREQUESTED_PF as UNREQUESTED_PF, UNREQUESTED_VDPA as UNREQUESTED_VDPA,
    UNREQUESTED_REMOTE_MANAGED as UNREQUESTED_REMOTE_MANAGED, PLACEMENT as PLACEMENT,
    LIVE_MIGRATABLE as LIVE_MIGRATABLE, NO_POOL as NO_POOL, SPLIT_RP as SPLIT_RP,
    prop_match as prop_match,
    spec_matches as spec_matches, accepts as accepts, scheduler_key as scheduler_key,
    filter_pools as filter_pools, filter_numa as filter_numa, socket_nodes as socket_nodes,
)
from pcipass.core.poolrecords import (  # noqa: F401
    REQUIRED as REQUIRED, LEGACY as LEGACY, PREFERRED as PREFERRED, SOCKET as SOCKET,
    UNKNOWN_NODE_EXCLUDED as UNKNOWN_NODE_EXCLUDED, IGNORED_SPEC_KEYS as IGNORED_SPEC_KEYS,
    Request as Request, as_request as as_request, PooledDevice as PooledDevice, Pool as Pool,
    PoolInfo as PoolInfo, Drop as Drop, Outcome as Outcome, PoolCorrupted as PoolCorrupted,
    pool_key as pool_key, parent_ifname as parent_ifname, parent_ifnames as parent_ifnames,
)


# -- building pools (add_device) ---------------------------------------------------------------


class PciStats:
    """One host's pools (Nova's ``PciDeviceStats``).

    :ivar sockets: host NUMA cell id -> socket (None: unknown), for the
        ``socket`` policy; None when the host has no NUMA topology.
    """

    __slots__ = ("pools", "sockets", "_parents", "_children")

    def __init__(self, pools: list[Pool] | None = None,
                 sockets: Mapping[int, int | None] | None = None) -> None:
        self.pools: list[Pool] = pools if pools is not None else []
        self.sockets = dict(sockets) if sockets is not None else None
        self._parents: dict[str, str] = {}
        self._children: dict[str, list[str]] = {}

    # -- construction ---------------------------------------------------------------------------

    def add(self, item: PooledDevice) -> None:
        """Nova's ``add_device``: join the first pool with an identical key, else append and re-sort."""
        pool = self.find(item.key)
        if pool is None:
            pool = Pool(dict(item.key))
            self.pools.append(pool)
            self.pools.sort(key=lambda p: len(p.key))
        pool.count += 1
        pool.devices.append(item)

    def find(self, key: Mapping[str, Any]) -> Pool | None:
        """Nova's ``_find_pool``: the first pool whose key, less the ignored tags (an
        ``rp_uuid`` the Placement hook set), equals ``key``."""
        for pool in self.pools:
            pool_key = pool.key
            if not IGNORED_SPEC_KEYS.isdisjoint(pool_key):
                pool_key = {k: v for k, v in pool_key.items() if k not in IGNORED_SPEC_KEYS}
            if len(pool_key) == len(key) and all(pool_key.get(k) == v for k, v in key.items()):
                return pool
        return None

    def link(self, devices: Iterable[model.Device]) -> None:
        """Nova's device tree (``_build_device_tree``): PF <-> VF/vDPA links among tracked devices.

        Devices are walked in address order, so a VF is linked only to a PF
        whose address sorts before its own.
        """
        self._parents.clear()
        self._children.clear()
        pfs: set[str] = set()
        for dev in sorted(devices, key=lambda d: d.address):
            if dev.dev_type == model.TYPE_PF:
                pfs.add(dev.address)
                self._children[dev.address] = []
            elif dev.dev_type in (model.TYPE_VF, model.TYPE_VDPA) and dev.parent_addr in pfs:
                assert dev.parent_addr is not None
                self._parents[dev.address] = dev.parent_addr
                self._children[dev.parent_addr].append(dev.address)

    def copy(self) -> PciStats:
        """A copy whose pools can be consumed without touching this one (Nova's deepcopy)."""
        clone = PciStats([Pool(dict(p.key), p.count, list(p.devices)) for p in self.pools],
                         self.sockets)
        clone._parents = self._parents
        clone._children = self._children
        return clone

    def scheduler_view(self) -> PciStats:
        """The pools as the scheduler sees them: counts only, tag values string-coerced.

        This is ``PciDevicePool.from_dict(...)`` then ``to_dict()``: ``vendor_id``,
        ``product_id`` and every tag become strings (``str(True)`` is ``"True"``),
        ``numa_node`` an int or None. Values those fields refuse (lists,
        objects) are kept as they are; Nova's compute would fail to report them.
        """
        # Nova's scheduler builds PciDeviceStats(stats=...), which sorts the pools by length.
        pools = sorted((Pool(coerce_key(p.key), p.count) for p in self.pools), key=lambda p: len(p.key))
        return PciStats(pools, self.sockets)

    # -- queries ---------------------------------------------------------------------------------

    @property
    def free(self) -> int:
        return sum(p.count for p in self.pools)

    def free_per_node(self) -> dict[int | None, int]:
        """Free devices per pool ``numa_node``, as Nova counts them to order host cells."""
        out: dict[Any, int] = {}
        for pool in self.pools:
            node = pool.key.get("numa_node")
            out[node] = out.get(node, 0) + pool.count
        return out

    def free_devices(self) -> list[PooledDevice]:
        return [d for p in self.pools for d in p.devices]

    def snapshot(self) -> tuple[PoolInfo, ...]:
        return tuple(p.info() for p in self.pools)

    # -- support / apply (scheduler) -----------------------------------------------------------

    def support(self, requests: Sequence[Request], numa_cells: Sequence[int] | None = None,
                ) -> Outcome:
        """Nova's ``support_requests``: apply the requests to a copy of the pools.

        ``numa_cells`` are the host cell ids the instance's cells were mapped to;
        None or empty means no NUMA filtering.
        """
        return self.copy().apply(requests, numa_cells)

    def apply(self, requests: Sequence[Request], numa_cells: Sequence[int] | None = None,
              ) -> Outcome:
        """Nova's ``apply_requests``: subtract counts greedily, request by request.

        On failure the pools are left part-applied, as Nova leaves them
        (callers use :meth:`support` to test without changing anything).
        """
        drops: list[Drop] = []
        for index, request in enumerate(requests):
            filtered = filter_pools(self.pools, request, numa_cells, self.sockets, index, drops)
            if not filtered:
                if filtered is not None:
                    drops.append(no_pool_drop(request, index))
                return Outcome(False, index, tuple(drops))
            if request.rp_uuids:
                if not one_pool_per_rp(self.pools):  # Nova checks every pool here
                    drops.append(split_rp_drop(request, index, self.pools))
                    return Outcome(False, index, tuple(drops))
                self._apply_placement(filtered, request)
                continue
            count = request.count
            for pool in filtered:
                count = self._decrease(pool, count)
                if not count:
                    break
        return Outcome(True, None, tuple(drops))

    def _decrease(self, pool: Pool, count: int = 1) -> int:
        """Nova's ``_decrease_pool_count``: an emptied pool leaves the list (its count is not zeroed)."""
        if pool.count > count:
            pool.count -= count
            return 0
        count -= pool.count
        self._remove_pool(pool)
        return count

    def _remove_pool(self, pool: Pool) -> None:
        for i, candidate in enumerate(self.pools):
            if candidate is pool:
                del self.pools[i]
                return
        raise ValueError("pool not in list")

    def _apply_placement(self, filtered: list[Pool], request: Request) -> None:
        wanted = count_by(request.rp_uuids)
        for pool in filtered:
            rp = pool.key.get("rp_uuid")
            pool.count -= wanted.pop(rp, 0) if rp is not None else 0
            if pool.count == 0:
                self._remove_pool(pool)

    # -- consume (compute claim) ---------------------------------------------------------------

    def consume(self, requests: Sequence[Request], numa_cells: Sequence[int] | None = None,
                ) -> Outcome:
        """Nova's ``consume_requests``: pick devices, popping from the end of each pool.

        Taking a PF removes its free VFs from their pools; taking a VF or vDPA
        device removes its free parent PF. On failure the devices taken by
        earlier requests of this call go back (their dependents do not: Nova
        does not restore them either).
        """
        taken: list[tuple[int, PooledDevice]] = []
        drops: list[Drop] = []
        for index, request in enumerate(requests):
            filtered = filter_pools(self.pools, request, numa_cells, self.sockets, index, drops)
            if not filtered:
                if filtered is not None:
                    drops.append(no_pool_drop(request, index))
                while taken:
                    self.add(taken.pop()[1])
                return Outcome(False, index, tuple(drops))
            if request.rp_uuids and not one_pool_per_rp(filtered):
                # Nova's claim checks the filtered pools only, and refuses without giving back
                # what earlier requests of this call took (PciDeviceRequestFailed).
                drops.append(split_rp_drop(request, index, filtered))
                return Outcome(False, index, tuple(drops), tuple(taken))
            try:
                taken.extend((index, d) for d in self._take(filtered, request))
            except PoolCorrupted:
                return Outcome(False, index, tuple(drops), tuple(taken), crashed=True)
        return Outcome(True, None, tuple(drops), tuple(taken))

    def _take(self, filtered: list[Pool], request: Request) -> list[PooledDevice]:
        out: list[PooledDevice] = []
        if request.rp_uuids:
            wanted = count_by(request.rp_uuids)
            for pool in filtered:
                rp = pool.key.get("rp_uuid")
                num = wanted.pop(rp, 0) if rp is not None else 0
                pool.count -= num
                out.extend(self._pop(pool, num))
            return out
        count = request.count
        for pool in filtered:
            num = min(pool.count, count)
            count -= num
            pool.count -= num
            out.extend(self._pop(pool, num))
            if count == 0:
                break
        return out

    def _pop(self, pool: Pool, num: int) -> list[PooledDevice]:
        out = []
        for _ in range(num):
            if not pool.devices:
                raise PoolCorrupted(f"pool {pool.key} is empty")
            item = pool.devices.pop()
            self._drop_dependents(item)
            out.append(item)
        return out

    def _drop_dependents(self, item: PooledDevice) -> None:
        dev = item.device
        if dev.dev_type == model.TYPE_PF:
            related = self._children.get(dev.address, [])
        elif dev.dev_type in (model.TYPE_VF, model.TYPE_VDPA):
            parent = self._parents.get(dev.address)
            related = [parent] if parent else []
        else:
            return
        if not related:
            return
        free = {d.address: d for d in self.free_devices()}
        for address in related:
            found = free.get(address)
            if found is not None:
                self._remove_device(found)

    def _remove_device(self, item: PooledDevice) -> None:
        """Nova's ``remove_device``: out of the pool its key names, count decreased."""
        pool = self.find(item.key)
        if pool is None:
            raise PoolCorrupted(f"no pool for {item.address}")
        self.discard(pool, item)

    def discard(self, pool: Pool, item: PooledDevice) -> None:
        """``pool['devices'].remove(dev)`` then ``_decrease_pool_count``: an emptied pool leaves."""
        pool.devices.remove(item)
        self._decrease(pool)

    # -- the improvement -----------------------------------------------------------------------

    def can_fit(self, requests: Sequence[Request], numa_cells: Sequence[int] | None = None,
                ) -> Outcome:
        """Can this host take the requests? The compute claim, run on a copy.

        Unlike :meth:`support` (Nova's scheduler check), this honours the PF/VF
        dependency: one PF plus one VF of the only PF is a "no" here, where
        Nova's scheduler says yes and the compute claim then fails (§9.8).
        """
        return self.copy().consume(requests, numa_cells)


#: Where a device lands: (spec entry index, pool key, hashable key or None); None: no match.
Placed = tuple[int, dict[str, Any], Any] | None


def build(devices: Sequence[model.Device], specs: Sequence[spec.SpecEntry],
          sockets: Mapping[int, int | None] | None = None, *,
          place: Callable[[model.Device, str | None], Placed] | None = None) -> PciStats:
    """The compute view of a host: every device a spec matches, in the given order, is free.

    Devices whose address Nova could not parse never match (discovery does not
    produce them). ``place`` stands in for :func:`placed` under ``specs`` (the fleet index
    remembers it across hosts: spec matching and pool keys are most of a build).
    """
    stats = PciStats(sockets=sockets)
    ifnames = parent_ifnames(devices)
    tracked = []
    index: dict[Any, Pool] = {}
    plain: dict[int, bool] = {}  # spec index -> its tags are all str/int/bool/None
    for dev in devices:
        ifname = ifnames.get(dev.address)
        where = placed(dev, specs, ifname, plain) if place is None else place(dev, ifname)
        if where is None:
            continue
        tracked.append(dev)
        entry_index, key, frozen = where
        item = PooledDevice(dev, dict(key), entry_index)
        if frozen is None:  # a value that cannot be hashed: Nova's linear search
            stats.add(item)
            continue
        pool = index.get(frozen)
        if pool is None:
            pool = index[frozen] = Pool(dict(key))
            stats.pools.append(pool)
        pool.count += 1
        pool.devices.append(item)
    # add() re-sorts after each new pool; one stable sort at the end gives the same order
    stats.pools.sort(key=lambda p: len(p.key))
    stats.link(tracked)
    return stats


def placed(dev: model.Device, specs: Sequence[spec.SpecEntry], ifname: str | None,
           plain: dict[int, bool]) -> Placed:
    """Where ``dev`` lands under ``specs`` (``plain``: a memo by spec entry, kept by the
    caller)."""
    entry = spec.first_match(specs, dev)
    if entry is None:
        return None
    key = pool_key(dev, entry.spec.tags, ifname)
    simple = plain.get(entry.index)
    if simple is None:
        simple = plain[entry.index] = all(type(v) in PLAIN_TYPES for v in entry.spec.tags.values())
    # device fields are str/int/None: with plain tags the items hash as they are
    return entry.index, key, frozenset(key.items()) if simple else frozen_key(key)
