"""A stored host as the scheduling core sees it: its free devices, pools and NUMA cells.

``schedule --host`` builds a host's pools from discovery and its own ``device_spec``; the store
keeps, for every assignable device, the tags of the spec entry that matched it (``spec_tags``)
and Nova's ``extra_info`` (``parent_ifname``, ``capabilities``...). :func:`scheduler_view`
turns a stored host into the same inputs:

* **devices**: the ``available`` ones (a busy device, a PF made ``unclaimable`` by a claimed
  VF, a VF made ``unavailable`` by an allocated PF are in no pool, as in Nova's tracker);
* **specs**: entries that give each device the tags its own spec gave it
  (:func:`stored_specs`): one entry matching everything when the host's devices share their
  tags, one per vendor and product id where those share them, one per address otherwise;
* **pools**: what Nova's tracker builds when it starts (``PoolBook.rebuilt``: every available
  device, its key from its stored data, ``parent_ifname`` from ``extra_info``), linked over every
  tracked device (Nova's device tree).

Pure: values in, values out.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pcipass.core import devicestate as ds
from pcipass.core import model, numa, poolupkeep, spec
from pcipass.core import spec_address as addr
from pcipass.core.schedule import hostfit
from pcipass.core.schedule.verdicts import HostInput

_GONE = (ds.Status.REMOVED, ds.Status.DELETED)


def _entry(index: int, vendor: str, product: str, address: addr.AddressSpec,
           tags: Mapping[str, Any]) -> spec.SpecEntry:
    raw = {"vendor_id": vendor, "product_id": product, "address": address.text, **tags}
    return spec.SpecEntry(index, index, None, spec.DeviceSpec(
        vendor_id=vendor, product_id=product, address=address, tags=dict(tags), raw=raw))


def stored_specs(devices: Sequence[ds.TrackedDevice],
                 tags: Mapping[str, Mapping[str, Any]]) -> tuple[spec.SpecEntry, ...]:
    """Spec entries under which each device matches with its own stored tags."""
    text = {d.address: json.dumps(tags.get(d.address, {}), sort_keys=True) for d in devices}
    if len(set(text.values())) <= 1:
        only = tags.get(devices[0].address, {}) if devices else {}
        return (_entry(0, spec.ANY, spec.ANY, addr.GlobAddress(spec.ANY, spec.ANY, spec.ANY,
                                                               spec.ANY), only),)
    by_ids: dict[tuple[str, str], set[str]] = {}
    for d in devices:
        by_ids.setdefault((d.vendor_id or "", d.product_id or ""), set()).add(text[d.address])
    exact: list[spec.SpecEntry] = []
    shared: list[spec.SpecEntry] = []
    for d in devices:
        ids = (d.vendor_id or "", d.product_id or "")
        if len(by_ids[ids]) > 1:
            exact.append(_entry(0, ids[0], ids[1], addr.parse_glob(d.address),
                                tags.get(d.address, {})))
    done: set[tuple[str, str]] = set()
    for d in devices:
        ids = (d.vendor_id or "", d.product_id or "")
        if len(by_ids[ids]) == 1 and ids not in done:
            done.add(ids)
            shared.append(_entry(0, ids[0], ids[1], addr.GlobAddress(
                spec.ANY, spec.ANY, spec.ANY, spec.ANY), tags.get(d.address, {})))
    entries = exact + shared
    return tuple(_entry(i, e.spec.vendor_id, e.spec.product_id, e.spec.address or
                        addr.GlobAddress(spec.ANY, spec.ANY, spec.ANY, spec.ANY), e.spec.tags)
                 for i, e in enumerate(entries))


def as_device(dev: ds.TrackedDevice) -> model.Device:
    """The device as discovery would give it to the scheduler."""
    return poolupkeep.as_device(dev)


def scheduler_view(name: str, tree: ds.DeviceTree, tags: Mapping[str, Mapping[str, Any]],
                   cells: Sequence[numa.HostCell]) -> tuple[HostInput, hostfit.HostPools]:
    """The scheduler's input for a stored host, and its pools (see the module docstring).

    :param tree: the host's tracked devices (expired claims already released).
    :param tags: address -> the stored ``spec_tags``.
    """
    built = scheduler_book(name, tree, tags, cells)
    return built.host, built.pools


@dataclasses.dataclass(frozen=True, slots=True)
class Book:
    """:func:`scheduler_view`'s result with what keeps it up to date (:func:`without`): the
    pools' book and every tracked device as the scheduler sees it."""

    host: HostInput
    pools: hostfit.HostPools
    book: poolupkeep.PoolBook
    shown: Mapping[str, model.Device]


def scheduler_book(name: str, tree: ds.DeviceTree, tags: Mapping[str, Mapping[str, Any]],
                   cells: Sequence[numa.HostCell]) -> Book:
    """:func:`scheduler_view`, with the book that built the pools."""
    tracked = [d for _, d in sorted(tree.devices.items()) if d.status not in _GONE]
    free = [d for d in tracked if d.status == ds.Status.AVAILABLE]
    specs = stored_specs(tracked, tags)
    book = poolupkeep.PoolBook.rebuilt(free, specs, {c.id: c.socket for c in cells})
    shown = {d.address: as_device(d) for d in tracked}
    book.stats.link(shown.values())
    stats = book.stats
    host = HostInput(name, tuple(shown[d.address] for d in free), specs, tuple(cells))
    return Book(host, hostfit.HostPools(stats, stats.scheduler_view()), book, shown)


def leaving(old: ds.DeviceTree, new: ds.DeviceTree) -> list[ds.TrackedDevice] | None:
    """The devices of ``old`` that are no longer free in ``new``, when that is the only
    difference between the two that the scheduler sees (a claim, an allocation); None when
    the pools must be built again (a device freed, added, removed, or whose data changed)."""
    if old.devices.keys() != new.devices.keys():
        return None
    out = []
    for address, now in new.devices.items():
        was = old.devices[address]
        if was is now:
            continue
        if (was.dev_type, was.parent_addr, was.vendor_id, was.product_id, was.numa_node,
                was.dev_id, was.label, was.extra_info) != (
                now.dev_type, now.parent_addr, now.vendor_id, now.product_id, now.numa_node,
                now.dev_id, now.label, now.extra_info):
            return None
        if was.status == now.status:
            continue
        if now.status == ds.Status.AVAILABLE or (was.status in _GONE) != (now.status in _GONE):
            return None
        if was.status == ds.Status.AVAILABLE:
            out.append(was)
    return out


def without(built: Book, gone: Sequence[ds.TrackedDevice]) -> Book:
    """``built`` with the devices ``gone`` out of their pools: the pools
    :func:`scheduler_book` builds from the remaining free devices (the same pools, in the same
    order, with the same devices), at the cost of a removal each.

    The book's pools are changed in place: ``built`` must not be used afterwards.
    """
    if not gone:
        return built
    book = built.book
    for dev in gone:
        book.remove(dev)
    # A rebuild adds the free devices in address order, each new pool appended and the list
    # sorted by key length: the pools come in the order (key length, first device).
    book.stats.pools.sort(key=lambda p: (len(p.key), p.devices[0].address if p.devices else ""))
    left = {d.address for d in gone}
    host = built.host
    free = tuple(d for d in host.devices if d.address not in left)
    stats = book.stats
    return Book(HostInput(host.name, free, host.specs, host.cells),
                hostfit.HostPools(stats, stats.scheduler_view()), book, built.shown)
