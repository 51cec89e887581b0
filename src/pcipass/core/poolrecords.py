"""The records of Nova's PCI pools: requests, pools and their devices, and what a filter did.

Shared by the pools (:mod:`pcipass.core.pools`) and the filter pipeline
(:mod:`pcipass.core.poolfilter`); plain values, nothing decided here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pcipass.core import model, spec
from pcipass.core.alias import LEGACY as LEGACY
from pcipass.core.alias import PREFERRED as PREFERRED
from pcipass.core.alias import REQUIRED as REQUIRED
from pcipass.core.alias import SOCKET as SOCKET
#: Policies that never give an instance with a NUMA topology a device of unknown NUMA node
#: (:func:`filter_numa`'s strict and socket sets never hold ``numa_node`` None).
UNKNOWN_NODE_EXCLUDED = (REQUIRED, SOCKET)

#: Request spec keys the pools never compare (Placement's, and the RP hook's): the same list
#: as the pool tags Nova ignores (``spec.POOL_IGNORED_TAGS``), by the aliasing noted there.
IGNORED_SPEC_KEYS = spec.POOL_IGNORED_TAGS
REMOTE_MANAGED_TYPES = (model.TYPE_VF, model.TYPE_PF, model.TYPE_VDPA)


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


def with_allocation(request: Request,
                    provider_mapping: Mapping[str, Sequence[str]] | None) -> Request:
    """The request with the providers Placement allocated it (Nova's
    ``_get_rp_uuids_for_request``), one per device.

    A Neutron port request gets none (any pool may serve it). With a scheduler mapping
    (request group id -> providers), every group whose id *starts with* the request id gives
    its first provider (Nova names the groups ``<request_id>-<i>``, and compares prefixes only).
    Without one (the compute side), the comma-separated ``rp_uuids`` of the first spec, if any.

    :raises ValueError: a matching group with no provider (Nova fails with ``IndexError``).
    """
    if request.is_port:
        return dataclasses.replace(request, rp_uuids=())
    if not provider_mapping:
        stored = request.specs[0].get("rp_uuids") if request.specs else None
        return dataclasses.replace(request, rp_uuids=tuple(stored.split(",")) if stored else ())
    out = []
    for group, providers in provider_mapping.items():
        if group.startswith(request.request_id):
            if not providers:
                raise ValueError(f"request group {group!r} has no resource provider")
            out.append(providers[0])
    return dataclasses.replace(request, rp_uuids=tuple(out))


@dataclasses.dataclass(frozen=True, slots=True)
class PooledDevice:
    """A device in a pool, with the pool key Nova computed for it."""

    device: model.Device
    key: Mapping[str, Any]
    spec_index: int | None = None
    #: Which tracked object of that address (:mod:`~pcipass.core.poolupkeep`): a device
    #: deleted and reported again is another one, and a copy of the old one may stay pooled.
    generation: int = 0

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
    why: str = ""  # the reason Nova logs for the stage (its Stage.why)

    @property
    def remaining(self) -> int:
        return self.before - self.dropped


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
    """Nova's pools would fail with a bare Python error: a claim pops a device from an emptied
    pool (``IndexError``), or a device leaves a pool that does not hold it (``ValueError``)."""


#: Tag value types whose pool keys hash as they are (others go through :func:`frozen_key`).
PLAIN_TYPES = frozenset({str, int, bool, type(None)})


def frozen_key(key: Mapping[str, Any]) -> Any:
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


# -- a device's pool key (add_device) -----------------------------------------------------------


def pool_key(device: model.Device, tags: Mapping[str, Any], parent_ifname: str | None = None,
             ) -> dict[str, Any]:
    """Nova's ``_create_pool_keys_from_dev`` for a device matched by a spec with ``tags``."""
    key: dict[str, Any] = {"product_id": device.product_id, "vendor_id": device.vendor_id,
                           "numa_node": device.numa_node, "dev_type": device.dev_type}
    key.update({k: v for k, v in tags.items() if k not in spec.POOL_IGNORED_TAGS})
    key["address"] = device.parent_addr or device.address
    if parent_ifname:
        key["parent_ifname"] = parent_ifname
    if device.dev_type in REMOTE_MANAGED_TYPES and key.get(spec.REMOTE_MANAGED) is None:
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
    if not with_netdevs:  # no VF has a parent netdev without netdevs of its own
        return {}
    out = {}
    for dev in devices:
        name = parent_ifname(dev, with_netdevs.get(dev.parent_addr) if dev.parent_addr else None)
        if name is not None:
            out[dev.address] = name
    return out
