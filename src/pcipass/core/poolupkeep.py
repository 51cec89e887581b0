"""Pools kept up to date one device at a time, as Nova's tracker keeps them (nova-pci.md §4–§5).

Nova builds a host's pools once, when its tracker starts (every ``available`` device, in the
order its database gives them), and from then on changes them one device at a time, with the
three calls of ``PciDeviceStats`` the tracker makes (:class:`~pcipass.core.tracker.PoolOp`):

* ``add_device``: the device joins the first pool whose key equals the key its *current* data
  gives (:func:`pooled`), or a new pool appended and the list re-sorted by key length;
* ``remove_device``: the device leaves the pool its current data keys; no such pool is
  :class:`PciDevicePoolEmpty`; a pool that does not hold it is a bare ``ValueError`` in Nova
  (:class:`~pcipass.core.poolrecords.PoolCorrupted` here). The tracker asks only for a device
  still in a pool (``dev in stats.get_free_devs()``);
* ``update_device``: the first pooled device of that address moves to the pool its new data
  keys, but only when its pool's ``dev_type`` differs; any other change leaves it where it is,
  under the old key.

A device with no matching ``device_spec`` entry is neither added nor removed, silently, as in
Nova. :class:`PoolBook` applies a tracker run's :class:`~pcipass.core.tracker.PoolEvent` list
this way, and :meth:`PoolBook.take` is what the compute claim does to the device it picks.

Nova compares pooled devices by value, and its tracker mutates one object per device, so "the
device in the pool" means "this object". A device deleted and then reported again is a new
object: a copy of the old one left in a pool (Nova pools a PF twice when it enters while one of
its VFs is busy, see :mod:`~pcipass.core.tracker`) is not it. Pooled devices carry a
``generation`` for that.

Pure: values in; the pools are mutated in place, as :class:`~pcipass.core.pools.PciStats`
always is. No IO.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from pcipass.core import devicestate as ds
from pcipass.core import model, pools, spec
from pcipass.core.tracker import PoolEvent, PoolOp
from pcipass.core.poolrecords import PoolCorrupted, PooledDevice


class PciDevicePoolEmpty(Exception):
    """Nova's ``PciDevicePoolEmpty``: no pool has the key of the device asked to leave."""

    def __init__(self, compute_node_id: object, address: str) -> None:
        self.compute_node_id = compute_node_id
        self.address = address
        self.message = (f"Attempt to consume PCI device {compute_node_id}:{address} "
                        "from empty pool")
        super().__init__(self.message)


def card_serial_number(dev: ds.TrackedDevice) -> str | None:
    """Nova's ``PciDevice.card_serial_number``: ``vpd.card_serial_number`` of the JSON
    ``capabilities`` in ``extra_info``.

    :raises ValueError: ``capabilities`` is not JSON (Nova fails there too).
    """
    raw = dev.extra_info.get("capabilities")
    if raw is None:
        return None
    try:
        caps = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{dev.address}: extra_info capabilities is not JSON: {exc}") from None
    vpd = caps.get("vpd") if isinstance(caps, dict) else None
    serial = vpd.get("card_serial_number") if isinstance(vpd, dict) else None
    return None if serial is None else str(serial)


def as_device(dev: ds.TrackedDevice) -> model.Device:
    """The fields of a tracked device that ``device_spec`` matching and pool keys read
    (``PciDeviceSpec.match_pci_obj``, ``_create_pool_keys_from_dev``)."""
    return model.Device(dev.address, dev.vendor_id or "", dev.product_id or "",
                        dev_type=dev.dev_type, parent_addr=dev.parent_addr,
                        numa_node=dev.numa_node, card_serial_number=card_serial_number(dev))


def pooled(dev: ds.TrackedDevice, specs: Sequence[spec.SpecEntry],
           generation: int = 0) -> PooledDevice | None:
    """Nova's ``_create_pool_keys_from_dev``: the device with the pool key its current data
    gives, under the first spec entry that matches it; None when none does."""
    device = as_device(dev)
    entry = spec.first_match(specs, device)
    if entry is None:
        return None
    key = pools.pool_key(device, entry.spec.tags, dev.extra_info.get("parent_ifname") or None)
    return PooledDevice(device, key, entry.index, generation)


def populate_rp_uuids(stats: pools.PciStats, rp_of: Mapping[str, str]) -> None:
    """Nova's ``populate_pools_metadata_from_assigned_devices``: a pool whose devices map to
    one resource provider (``rp_of``: address -> provider, Nova's ``extra_info['rp_uuid']``)
    gets its ``rp_uuid``; a pool with none is left alone.

    :raises PoolCorrupted: a pool's devices map to two providers (Nova's ``ValueError``).
    """
    for pool in stats.pools:
        rps = {rp_of[d.address] for d in pool.devices if d.address in rp_of}
        if len(rps) >= 2:
            raise PoolCorrupted(f"pool {pool.key} is connected to more than one resource "
                                f"provider: {', '.join(sorted(rps))}")
        if rps:
            pool.key["rp_uuid"] = next(iter(rps))


class PoolBook:
    """A host's pools as Nova's tracker keeps them (``PciDevTracker.stats``).

    :ivar stats: the pools, ready for :meth:`~pcipass.core.pools.PciStats.support` and the
        other requests.
    """

    __slots__ = ("stats", "specs", "compute_node_id", "_generation")

    def __init__(self, specs: Sequence[spec.SpecEntry],
                 sockets: Mapping[int, int | None] | None = None,
                 compute_node_id: object = None) -> None:
        self.stats = pools.PciStats(sockets=sockets)
        self.specs = tuple(specs)
        self.compute_node_id = compute_node_id
        self._generation: dict[str, int] = {}

    @classmethod
    def rebuilt(cls, devices: Iterable[ds.TrackedDevice], specs: Sequence[spec.SpecEntry],
                sockets: Mapping[int, int | None] | None = None,
                compute_node_id: object = None) -> PoolBook:
        """The pools a starting tracker builds: every ``available`` device, in the given order."""
        book = cls(specs, sockets, compute_node_id)
        for dev in devices:
            if dev.status == ds.Status.AVAILABLE:
                book.add(dev)
        return book

    # -- Nova's three calls ------------------------------------------------------------------

    def add(self, dev: ds.TrackedDevice) -> None:
        """``add_device``."""
        item = pooled(dev, self.specs, self._generation.get(dev.address, 0))
        if item is not None:
            self.stats.add(item)

    def remove(self, dev: ds.TrackedDevice) -> None:
        """``remove_device``.

        :raises PciDevicePoolEmpty: no pool has the key the device's data gives.
        :raises PoolCorrupted: that pool does not hold the device (its key changed in place
            since it entered).
        """
        item = pooled(dev, self.specs)
        if item is None:
            return
        pool = self.stats.find(item.key)
        if pool is None:
            raise PciDevicePoolEmpty(self.compute_node_id, dev.address)
        generation = self._generation.get(dev.address, 0)
        for held in pool.devices:
            if held.address == dev.address and held.generation == generation:
                self.stats.discard(pool, held)
                return
        raise PoolCorrupted(f"{dev.address} is not in the pool its data keys")

    def update(self, dev: ds.TrackedDevice) -> None:
        """``update_device``: the first pooled device at this address moves when its pool's
        ``dev_type`` is not the device's; otherwise nothing changes."""
        for pool in self.stats.pools:
            for held in pool.devices:
                if held.address == dev.address:
                    if pool.key.get("dev_type") != dev.dev_type:
                        self.stats.discard(pool, held)
                        self.add(dev)
                    return

    def populate_rp_uuids(self, devices: Iterable[ds.TrackedDevice]) -> None:
        """:func:`populate_rp_uuids` from the devices' ``extra_info['rp_uuid']`` (set where
        the Placement translation mapped each device to its provider)."""
        populate_rp_uuids(self.stats, {d.address: d.extra_info["rp_uuid"] for d in devices
                                       if "rp_uuid" in d.extra_info})

    # -- what the tracker does with them ----------------------------------------------------

    def holds(self, dev: ds.TrackedDevice) -> bool:
        """``dev in stats.get_free_devs()``: this device (not an older one at its address) is
        in a pool."""
        generation = self._generation.get(dev.address, 0)
        return any(held.address == dev.address and held.generation == generation
                   for pool in self.stats.pools for held in pool.devices)

    def apply(self, events: Iterable[PoolEvent]) -> None:
        """Apply a tracker run's pool events (:attr:`~pcipass.core.tracker.TrackerChange.events`)
        in order: ENTER adds, LEAVE removes a device still pooled, MOVE and UPDATE update.

        An error leaves the events before it applied, as Nova's tracker does.
        """
        for event in events:
            dev = event.device
            if event.op == PoolOp.ENTER:
                if event.created:
                    self._generation[dev.address] = self._generation.get(dev.address, 0) + 1
                self.add(dev)
            elif event.op == PoolOp.LEAVE:
                if self.holds(dev):
                    self.remove(dev)
            else:
                self.update(dev)

    def take(self, tree: ds.DeviceTree, address: str) -> PooledDevice:
        """What the compute claim does to a device it picked (``consume_requests``): out of
        its pool (whose count drops; the pool stays, even empty, as in Nova's claim), then its
        free children out of theirs (a PF), or its free parent (a VF or vDPA device).

        :raises PoolCorrupted: the device is in no pool.
        """
        dev = tree[address]
        generation = self._generation.get(address, 0)
        for pool in self.stats.pools:
            for i, held in enumerate(pool.devices):
                if held.address == address and held.generation == generation:
                    del pool.devices[i]
                    pool.count -= 1
                    self._drop_dependents(tree, dev)
                    return held
        raise PoolCorrupted(f"{address} is in no pool")

    def _drop_dependents(self, tree: ds.DeviceTree, dev: ds.TrackedDevice) -> None:
        """Nova's ``_handle_device_dependents``, over the tree's links."""
        if dev.dev_type == model.TYPE_PF:
            related: Sequence[ds.TrackedDevice] = tree.children(dev.address)
        elif dev.dev_type in ds.CHILD_TYPES:
            parent = tree.parent(dev.address)
            related = () if parent is None else (parent,)
        else:
            return
        for other in related:
            if self.holds(other):
                self.remove(other)
