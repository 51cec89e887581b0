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

Each filter stage is declared once, as a :class:`Stage` in :data:`PIPELINE`
(its name, whether Nova checks the count after it, its filter and its
explanation), and records what it dropped as a :class:`Drop`, so that a
"no" comes with the stage, the count, the pools and the reason (these
become the ``reasons`` of ``pcipass schedule``). :func:`accepts` is the
part of the pipeline that judges one pool alone; the doctor's alias mapping
asks it too. The Placement stage is kept as a hook: requests carry
``rp_uuids``; pools without ``rp_uuid`` are ignored as Nova does; we never
assign ``rp_uuid`` to pools ourselves.

The one deliberate improvement over Nova is :meth:`PciStats.can_fit`, which
answers "can this host take the requests" by running the compute claim on a
copy, so the PF/VF dependency is honoured (§9.8).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pcipass.core import model, spec, strutils
from pcipass.core.layers import Layer

REQUIRED = "required"
LEGACY = "legacy"
PREFERRED = "preferred"
SOCKET = "socket"
#: Policies that never give an instance with a NUMA topology a device of unknown NUMA node
#: (:func:`filter_numa`'s strict and socket sets never hold ``numa_node`` None).
UNKNOWN_NODE_EXCLUDED = (REQUIRED, SOCKET)

#: Request spec keys the pools never compare (Placement's, and the RP hook's): the same list
#: as the pool tags Nova ignores (``spec.POOL_IGNORED_TAGS``), by the aliasing noted there.
IGNORED_SPEC_KEYS = spec.POOL_IGNORED_TAGS
_REMOTE_MANAGED_TYPES = (model.TYPE_VF, model.TYPE_PF, model.TYPE_VDPA)


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """One ``InstancePCIRequest``: ``count`` devices matching any of ``specs``.

    :ivar alias_name: None for a Neutron port request (Nova's ``source`` test).
    :ivar label: how reasons name the request ("alias 'nic'", "port 1").
    :ivar rp_uuids: Placement allocation for the request (the hook; empty: none).
    """

    count: int
    specs: tuple[Mapping[str, str | None], ...]
    alias_name: str | None = None
    numa_policy: str | None = None
    request_id: str = ""
    label: str = ""
    rp_uuids: tuple[str, ...] = ()

    @property
    def is_port(self) -> bool:
        return self.alias_name is None


def as_request(value: Any, position: int = 0) -> Request:
    """Normalize a ``requests.PciRequest`` (or a :class:`Request`) into a :class:`Request`."""
    if isinstance(value, Request):
        return value
    name = value.alias_name
    return Request(count=value.count, specs=tuple(dict(s) for s in value.specs), alias_name=name,
                   numa_policy=value.numa_policy, request_id=str(getattr(value, "request_id", position)),
                   label=f"alias '{name}'" if name is not None else f"request {position + 1}")


@dataclasses.dataclass(frozen=True, slots=True)
class PooledDevice:
    """A device in a pool, with the pool key Nova computed for it."""

    device: model.Device
    key: Mapping[str, Any]
    spec_index: int | None = None

    @property
    def address(self) -> str:
        return self.device.address


class Pool:
    """A group of equivalent free devices (Nova's pool dict, typed).

    ``count`` and ``devices`` are separate on purpose: Nova's claim decrements
    the count before it pops devices, and its quirks depend on that.
    """

    __slots__ = ("key", "count", "devices")

    def __init__(self, key: dict[str, Any], count: int = 0,
                 devices: list[PooledDevice] | None = None) -> None:
        self.key = key
        self.count = count
        self.devices = devices if devices is not None else []

    def __repr__(self) -> str:
        return f"Pool({self.key!r}, count={self.count})"

    def get(self, name: str) -> Any:
        return self.key.get(name)

    def info(self) -> PoolInfo:
        return PoolInfo(tuple(self.key.items()), self.count)


@dataclasses.dataclass(frozen=True, slots=True)
class PoolInfo:
    """A snapshot of a pool for reports: its key items and free count."""

    key: tuple[tuple[str, Any], ...]
    count: int

    def get(self, name: str) -> Any:
        return dict(self.key).get(name)

    @property
    def dev_type(self) -> str | None:
        value = self.get("dev_type")
        return None if value is None else str(value)

    @property
    def numa_node(self) -> Any:
        return self.get("numa_node")

    def describe(self) -> str:
        """``8 VFs 8086:154c on NUMA node 1`` (PF address when VFs)."""
        noun = model.device_noun(self.dev_type, self.count)
        node = self.numa_node
        where = "of unknown NUMA node" if node is None else f"on NUMA node {node}"
        text = f"{self.count} {noun} {self.get('vendor_id')}:{self.get('product_id')} {where}"
        if self.dev_type == model.TYPE_VF and self.get("address"):
            text += f" (PF {self.get('address')})"
        return text


@dataclasses.dataclass(frozen=True, slots=True)
class Drop:
    """What one filter stage did to one request.

    :ivar request: index of the request in the list given.
    :ivar before: free devices entering the stage.
    :ivar pools: the pools the stage dropped (snapshots).
    :ivar failed: fewer than ``needed`` devices remain: Nova stops here.
    """

    stage: str
    request: int
    label: str
    before: int
    dropped: int
    needed: int
    pools: tuple[PoolInfo, ...] = ()
    failed: bool = False
    detail: str = ""

    @property
    def remaining(self) -> int:
        return self.before - self.dropped

    @property
    def definition(self) -> Stage:
        """The declared :class:`Stage` this drop names."""
        return STAGES[self.stage]

    @property
    def why(self) -> str:
        return self.definition.why


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """The result of support/apply/consume.

    :ivar ok: every request was satisfied.
    :ivar failed_request: index of the first request that failed.
    :ivar drops: every stage that dropped devices, plus the failing one.
    :ivar devices: for consume, the chosen devices in Nova's order, with their request index.
    :ivar crashed: Nova itself would raise a bare Python error here (a pool emptied under it).
    """

    ok: bool
    failed_request: int | None = None
    drops: tuple[Drop, ...] = ()
    devices: tuple[tuple[int, PooledDevice], ...] = ()
    crashed: bool = False


class PoolCorrupted(Exception):
    """Nova's claim would pop a device from an emptied pool (``IndexError`` in Nova)."""


# -- building pools (add_device) ---------------------------------------------------------------


def pool_key(device: model.Device, tags: Mapping[str, Any], parent_ifname: str | None = None,
             ) -> dict[str, Any]:
    """Nova's ``_create_pool_keys_from_dev`` for a device matched by a spec with ``tags``."""
    key: dict[str, Any] = {"product_id": device.product_id, "vendor_id": device.vendor_id,
                           "numa_node": device.numa_node, "dev_type": device.dev_type}
    key.update({k: v for k, v in tags.items() if k not in spec.POOL_IGNORED_TAGS})
    key["address"] = device.parent_addr or device.address
    if parent_ifname:
        key["parent_ifname"] = parent_ifname
    if device.dev_type in _REMOTE_MANAGED_TYPES and key.get(spec.REMOTE_MANAGED) is None:
        key[spec.REMOTE_MANAGED] = "false"
    return key


def parent_ifname(device: model.Device, parent: model.Device | None) -> str | None:
    """The ``parent_ifname`` the libvirt driver reports for ``device``, whose parent is ``parent``.

    A VF gets its PF's (first) netdev name when the VF itself has a netdev
    and its PF has one.
    """
    if (device.dev_type == model.TYPE_VF and device.parent_addr and device.netdevs
            and parent is not None and parent.netdevs):
        return parent.netdevs[0]
    return None


def parent_ifnames(devices: Sequence[model.Device]) -> dict[str, str]:
    """:func:`parent_ifname` per VF address of a host's devices."""
    with_netdevs = {d.address: d for d in devices if d.netdevs}
    out = {}
    for dev in devices:
        name = parent_ifname(dev, with_netdevs.get(dev.parent_addr) if dev.parent_addr else None)
        if name is not None:
            out[dev.address] = name
    return out


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
        pool = self._find(item.key)
        if pool is None:
            pool = Pool(dict(item.key))
            self.pools.append(pool)
            self.pools.sort(key=lambda p: len(p.key))
        pool.count += 1
        pool.devices.append(item)

    def _find(self, key: Mapping[str, Any]) -> Pool | None:
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
        pools = sorted((Pool(_coerce_key(p.key), p.count) for p in self.pools), key=lambda p: len(p.key))
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
                    drops.append(_no_pool(request, index))
                return Outcome(False, index, tuple(drops))
            if request.rp_uuids:
                if not self._apply_placement(filtered, request):
                    return Outcome(False, index, tuple(drops))
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

    def _apply_placement(self, filtered: list[Pool], request: Request) -> bool:
        if not _one_pool_per_rp(self.pools):
            return False
        wanted = _counter(request.rp_uuids)
        for pool in filtered:
            rp = pool.key.get("rp_uuid")
            pool.count -= wanted.pop(rp, 0) if rp is not None else 0
            if pool.count == 0:
                self._remove_pool(pool)
        return True

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
                    drops.append(_no_pool(request, index))
                while taken:
                    self.add(taken.pop()[1])
                return Outcome(False, index, tuple(drops))
            try:
                taken.extend((index, d) for d in self._take(filtered, request))
            except PoolCorrupted:
                return Outcome(False, index, tuple(drops), tuple(taken), crashed=True)
        return Outcome(True, None, tuple(drops), tuple(taken))

    def _take(self, filtered: list[Pool], request: Request) -> list[PooledDevice]:
        out: list[PooledDevice] = []
        if request.rp_uuids:
            if not _one_pool_per_rp(self.pools):
                raise PoolCorrupted("rp_uuid split across pools")
            wanted = _counter(request.rp_uuids)
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
        pool = self._find(item.key)
        if pool is None:
            raise PoolCorrupted(f"no pool for {item.address}")
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


def build(devices: Sequence[model.Device], specs: Sequence[spec.SpecEntry],
          sockets: Mapping[int, int | None] | None = None) -> PciStats:
    """The compute view of a host: every device a spec matches, in the given order, is free.

    Devices whose address Nova could not parse never match (discovery does not
    produce them).
    """
    stats = PciStats(sockets=sockets)
    ifnames = parent_ifnames(devices)
    tracked = []
    index: dict[Any, Pool] = {}
    plain: dict[int, bool] = {}  # spec index -> its tags are all str/int/bool/None
    for dev in devices:
        entry = spec.first_match(specs, dev)
        if entry is None:
            continue
        tracked.append(dev)
        key = pool_key(dev, entry.spec.tags, ifnames.get(dev.address))
        item = PooledDevice(dev, key, entry.index)
        simple = plain.get(entry.index)
        if simple is None:
            simple = plain[entry.index] = all(type(v) in _PLAIN for v in entry.spec.tags.values())
        # device fields are str/int/None: with plain tags the items hash as they are
        frozen = frozenset(key.items()) if simple else _frozen(key)
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


_PLAIN = frozenset({str, int, bool, type(None)})


def _frozen(key: Mapping[str, Any]) -> Any:
    """A hashable value equal for two keys exactly when Nova's pool comparison finds them equal
    (same names, ``==`` values); None when a value is not hashable."""
    try:
        return frozenset((k, _freeze(v)) for k, v in key.items())
    except TypeError:
        return None


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return (dict, frozenset((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return (list, tuple(_freeze(v) for v in value))
    if value != value:  # NaN equals nothing, not even itself: no pool can be shared
        raise TypeError("NaN")
    hash(value)
    return value


# -- the filter pipeline ---------------------------------------------------------------------

#: A stage's filter over the pool list: the pools kept, and what decided (shown in reasons).
StageFilter = Callable[[list[Pool], Request, Sequence[int] | None, Mapping[int, int | None] | None],
                       tuple[list[Pool], str]]
#: A test of one pool key.
KeyTest = Callable[[Mapping[str, Any]], bool]
#: A stage's rule, for the stages that judge each pool alone: the test of a pool key for this
#: request, or None when the stage keeps every pool for it.
PoolRule = Callable[[Request], KeyTest | None]
#: The sentence that explains why one pool was dropped (the reasons of ``pcipass schedule``).
Explain = Callable[[Drop, Request, PoolInfo], str]


@dataclasses.dataclass(frozen=True, slots=True)
class Stage:
    """One stage of Nova's ``_filter_pools`` (nova-pci.md §4.2), declared once.

    :ivar name: what :attr:`Drop.stage` and the JSON call it.
    :ivar counted: Nova checks after this stage that enough devices remain (and fails if not).
    :ivar why: the reason Nova logs for what the stage drops ("Dropped N device(s) as ...").
    :ivar rule: for a stage that judges each pool alone, the test of one pool key for a
        request (None: it keeps them all); :func:`accepts` is the conjunction of these.
    :ivar select: the filter of a stage that needs the whole list or the counts (NUMA,
        Placement); it also says what decided.
    :ivar explain: the sentence for one pool the stage dropped; None: :attr:`why`.
    :ivar layer: the layer its drops belong to; None: the request's (flavor or Neutron).
    """

    name: str
    counted: bool
    why: str
    rule: PoolRule | None = None
    select: StageFilter | None = None
    explain: Explain | None = None
    layer: Layer | None = None

    def run(self, pools: list[Pool], request: Request, numa_cells: Sequence[int] | None,
            sockets: Mapping[int, int | None] | None) -> tuple[list[Pool], str]:
        """The pools this stage keeps for ``request``, and what decided."""
        if self.rule is not None:
            test = self.rule(request)
            return (pools if test is None else [p for p in pools if test(p.key)]), ""
        if self.select is None:
            raise ValueError(f"stage {self.name!r} filters nothing")
        return self.select(pools, request, numa_cells, sockets)

    def explanation(self, drop: Drop, request: Request, info: PoolInfo) -> str:
        """Why the pool ``info`` was dropped, in a sentence."""
        return self.explain(drop, request, info) if self.explain is not None else self.why


def prop_match(key: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Nova's ``pci_device_prop_match`` for one spec dict: every wanted key equals the pool's
    value (a key the pool lacks is None); strings compare case-insensitively, a list value must
    be a subset of the pool's list."""
    for name, value in wanted.items():
        have = key.get(name)
        if isinstance(value, list) and isinstance(have, list):
            if not all(x in have for x in value):
                return False
            continue
        if isinstance(value, str):
            value = value.lower()
        if isinstance(have, str):
            have = have.lower()
        if have != value:
            return False
    return True


def spec_matches(key: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """The spec stage's test of one request spec against a pool key: :func:`prop_match` on
    every key but :data:`IGNORED_SPEC_KEYS` (Placement's)."""
    if IGNORED_SPEC_KEYS.isdisjoint(wanted):
        return prop_match(key, wanted)
    return prop_match(key, {k: v for k, v in wanted.items() if k not in IGNORED_SPEC_KEYS})


def accepts(key: Mapping[str, Any], request: Request) -> bool:
    """Would the request's filters keep a pool with this key, counts and NUMA aside?

    Every stage that judges a pool alone (spec, unrequested PF, vDPA and
    remote-managed devices, live_migratable) says yes. The NUMA and Placement
    stages are left out: they need the instance's cells and the pools' counts.
    Whichever view ``key`` comes from decides: the compute's keeps JSON tag
    types (:func:`pool_key`), the scheduler's has them string-coerced
    (:func:`scheduler_key`).
    """
    for stage in PIPELINE:
        test = stage.rule(request) if stage.rule is not None else None
        if test is not None and not test(key):
            return False
    return True


def scheduler_key(key: Mapping[str, Any]) -> dict[str, Any]:
    """A pool key as the scheduler sees it (see :meth:`PciStats.scheduler_view`)."""
    return _coerce_key(key)


def _spec_rule(request: Request) -> KeyTest:
    wanted = [{k: v for k, v in s.items() if k not in IGNORED_SPEC_KEYS} for s in request.specs]
    return lambda key: any(prop_match(key, w) for w in wanted)


def _unrequested_rule(dev_type: str) -> PoolRule:
    def rule(request: Request) -> KeyTest | None:
        if any(s.get("dev_type") == dev_type for s in request.specs):
            return None
        return lambda key: key.get("dev_type") != dev_type
    return rule


def _remote_managed_rule(request: Request) -> KeyTest | None:
    if any(strutils.lenient_bool(s.get(spec.REMOTE_MANAGED)) for s in request.specs):
        return None
    return lambda key: not strutils.lenient_bool(key.get(spec.REMOTE_MANAGED))


def _live_migratable_rule(request: Request) -> KeyTest | None:
    for value in ("true", "false"):
        if all(s.get("live_migratable") == value for s in request.specs):
            return lambda key: key.get("live_migratable") == value
    return None


def _explain_pf(drop: Drop, req: Request, info: PoolInfo) -> str:
    how = "vnic_type direct-physical" if req.is_port else "an alias with device_type type-PF"
    return f"Nova hands out a PF only to a request that names it ({how})"


def _explain_live_migratable(drop: Drop, req: Request, info: PoolInfo) -> str:
    wanted = req.specs[0].get("live_migratable") if req.specs else None
    return f"{req.label} wants live_migratable={wanted}; these have {info.get('live_migratable')}"


def _select_numa(pools: list[Pool], request: Request, numa_cells: Sequence[int] | None,
                 sockets: Mapping[int, int | None] | None) -> tuple[list[Pool], str]:
    return filter_numa(pools, request, numa_cells, sockets)


def _select_placement(pools: list[Pool], request: Request, numa_cells: Sequence[int] | None,
                      sockets: Mapping[int, int | None] | None) -> tuple[list[Pool], str]:
    return _placement(pools, request), ""


SPEC = Stage("spec", True, "mismatched PCI attribute(s)", rule=_spec_rule)
NUMA = Stage("numa", True, "they are on the wrong NUMA node(s)", select=_select_numa,
             explain=lambda drop, req, info: drop.detail, layer=Layer.NUMA)
UNREQUESTED_PF = Stage("unrequested_pf", True, "they are PFs which we have not requested",
                       rule=_unrequested_rule(model.TYPE_PF), explain=_explain_pf)
UNREQUESTED_VDPA = Stage("unrequested_vdpa", False, "they are VDPA devices which we have not requested",
                         rule=_unrequested_rule(model.TYPE_VDPA),
                         explain=lambda drop, req, info: "vDPA devices go only to ports with vnic_type vdpa")
UNREQUESTED_REMOTE_MANAGED = Stage(
    "unrequested_remote_managed", False, "they are remote-managed devices which we have not requested",
    rule=_remote_managed_rule,
    explain=lambda drop, req, info: ("they are remote_managed (SmartNIC/DPU); only vnic_type "
                                     "remote-managed ports get them"))
PLACEMENT = Stage("placement", False, "they are not part of the placement allocation",
                  select=_select_placement, layer=Layer.PLACEMENT)
LIVE_MIGRATABLE = Stage("live_migratable", True, "they are not live migratable",
                        rule=_live_migratable_rule, explain=_explain_live_migratable)
#: Not a filter: the request met an empty pool list (Nova fails it, even for 0 devices).
NO_POOL = Stage("no_pool", True,
                "no pool is left for the request (Nova fails even a request for 0 devices)")

#: Nova's filter stages, in pipeline order.
PIPELINE: tuple[Stage, ...] = (SPEC, NUMA, UNREQUESTED_PF, UNREQUESTED_VDPA, UNREQUESTED_REMOTE_MANAGED,
                               PLACEMENT, LIVE_MIGRATABLE)
#: Every stage a :class:`Drop` can name, by name.
STAGES: dict[str, Stage] = {stage.name: stage for stage in (*PIPELINE, NO_POOL)}


def filter_pools(pools: Sequence[Pool], request: Request, numa_cells: Sequence[int] | None,
                 sockets: Mapping[int, int | None] | None, index: int = 0,
                 drops: list[Drop] | None = None) -> list[Pool] | None:
    """Nova's ``_filter_pools``: the pools usable for ``request``, None when too few devices remain.

    Each stage that drops devices (or leaves too few) appends a :class:`Drop` to ``drops``.
    """
    log = drops if drops is not None else []
    current = list(pools)
    for stage in PIPELINE:
        before = _total(current)
        kept, detail = stage.run(current, request, numa_cells, sockets)
        after = _total(kept)
        failed = stage.counted and after < request.count
        if after < before or failed:
            kept_ids = {id(p) for p in kept}
            gone = tuple(p.info() for p in current if id(p) not in kept_ids and p.count)
            log.append(Drop(stage.name, index, request.label, before, before - after, request.count,
                            gone, failed, detail))
        if failed:
            return None
        current = kept
    return current


def filter_numa(pools: list[Pool], request: Request, numa_cells: Sequence[int] | None,
                sockets: Mapping[int, int | None] | None) -> tuple[list[Pool], str]:
    """Nova's ``_filter_pools_for_numa_cells`` (§4.4); also returns which rule decided."""
    if not numa_cells:
        return pools, ""
    policy = request.numa_policy or LEGACY
    cells = list(numa_cells)
    where = f"the instance is on NUMA node(s) {_nodes(cells)} and policy is {policy}"
    strict = [p for p in pools if any(_same_node(p, c) for c in cells)]
    if policy == REQUIRED or _total(strict) >= request.count:
        return strict, where
    if policy == SOCKET:
        allowed, why = socket_nodes(cells, sockets)
        return [p for p in pools if any(_same_node(p, n) for n in allowed)], f"{where}: {why}"
    relaxed = [p for p in pools if any(_same_node(p, c) for c in [*cells, None])]
    if policy == LEGACY or _total(relaxed) >= request.count:
        return relaxed, f"{where} (devices of unknown NUMA node are allowed too)"
    ordered = sorted(pools, key=lambda p: p.key.get("numa_node") not in [*cells, None])
    return ordered, f"{where}: any node, those first"


def _same_node(pool: Pool, cell: int | None) -> bool:
    return prop_match(pool.key, {"numa_node": cell})


def socket_nodes(cells: Sequence[int], sockets: Mapping[int, int | None] | None,
                 ) -> tuple[list[int], str]:
    """The ``socket`` policy's fallback: the host NUMA nodes that share a CPU socket with the
    instance's ``cells``, and the sentence that says so.

    Empty when a host node's socket is unknown: Nova then accepts no node at all
    ("No socket information in host NUMA cell(s)").
    """
    host = dict(sockets or {})
    unknown = sorted(n for n, s in host.items() if s is None)
    if unknown:
        return [], f"the host reports no CPU socket for NUMA node(s) {_nodes(unknown)}"
    wanted = {host[c] for c in cells if c in host}
    allowed = sorted(n for n, s in host.items() if s in wanted)
    return allowed, (f"only NUMA node(s) {_nodes(allowed)} share its socket(s) "
                     f"{_nodes(sorted(x for x in wanted if x is not None))}")


def _nodes(values: Iterable[Any]) -> str:
    return ",".join(str(v) for v in values) or "none"


def _placement(pools: list[Pool], request: Request) -> list[Pool]:
    if not request.rp_uuids:
        return pools
    wanted = _counter(request.rp_uuids)
    return [p for p in pools if p.key.get("rp_uuid") is not None
            and p.key["rp_uuid"] in wanted and p.count >= wanted[p.key["rp_uuid"]]]


def _total(pools: Iterable[Pool]) -> int:
    return sum(p.count for p in pools)


def _counter(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _one_pool_per_rp(pools: Iterable[Pool]) -> bool:
    seen: set[Any] = set()
    for pool in pools:
        rp = pool.key.get("rp_uuid")
        if rp is None:
            continue
        if rp in seen:
            return False
        seen.add(rp)
    return True


def _no_pool(request: Request, index: int) -> Drop:
    return Drop(NO_POOL.name, index, request.label, 0, 0, request.count, (), True)


def _coerce_key(key: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in key.items():
        if name == "numa_node":
            out[name] = _coerce_int(value)
        elif value is None and name not in ("vendor_id", "product_id"):
            out[name] = None
        else:
            out[name] = _coerce_str(value)
    return out


def _coerce_str(value: Any) -> Any:
    """oslo.versionedobjects ``String.coerce``: str, int, float (and bool, an int) -> ``str()``."""
    if isinstance(value, (str, int, float)):
        return str(value)
    return value


def _coerce_int(value: Any) -> Any:
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return value
