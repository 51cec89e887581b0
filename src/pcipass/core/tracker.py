"""Nova's PCI device tracker rules (``nova.pci.manager.PciDevTracker``, nova-pci.md §5), pure.

The tracker holds a host's devices (a :class:`~pcipass.core.devicestate.DeviceTree`) and
remembers two things between runs (:class:`TrackerState`): the devices to remove when their
instance frees them, and new data for busy devices. Each function takes a state and returns a
:class:`TrackerChange`: the new state, the calls Nova makes on its pools
(:class:`PoolEvent`), and the warnings Nova logs.

* :func:`sync` is ``_set_hvdevs``, given a discovery already matched against the
  ``device_spec``: a new device is created ``available`` and enters a pool; a vanished free
  device becomes ``removed`` and leaves its pool; a vanished claimed or allocated device keeps
  its owner, is remembered (``to_be_removed_when_freed``) and logs Nova's warning; new data for
  a claimed or allocated device is kept aside (``stale``); a present free device takes its new
  data in place (``PciDevice.update_device``: status, owner and id are never overwritten,
  unknown keys merge into ``extra_info``) and moves to another pool when its type changed.
  The PF/VF tree is then rebuilt.
* :func:`free` is ``_free_device``, :func:`free_instance` is ``free_instance`` (and its
  ``_claims`` and ``_allocations`` halves): the device is freed, its stale data applied, and
  it goes back to the pools with the devices its release freed, or, when it was remembered,
  becomes ``removed`` instead.
* :func:`save` is ``PciDevTracker.save`` without the database: removed devices become
  ``deleted`` and the next :func:`sync` forgets them.

Nova's behaviour is kept where it surprises, since pools and statuses must stay equal to
Nova's after any sequence:

* when a remembered device is freed, only the device is removed: the devices its release
  freed (its PF, or a PF's children) become ``available`` but enter no pool;
* a remembered address is forgotten only when it is freed: a device that vanished while busy
  and came back is still removed when freed, and a ``removed`` device that vanishes again
  before :func:`save` is remembered (with the warning) and stays so after it is deleted;
* data that changes in place keeps the device in the pool it entered, under the old key; only
  a type change moves it (Nova's pools then fail to find it when it leaves:
  ``PciDevicePoolEmpty``, the pools' business);
* a PF that appears while one of its VFs is busy is created ``available`` and enters a pool;
  freeing that VF makes it enter again (Nova's pools then hold it twice);
* links between PF and children are made only when the tree is rebuilt (by :func:`sync`):
  a device removed or changed by :func:`free` keeps its links until then.

One difference remains, unobservable in practice: a Nova device that stops being a PF keeps
the children of an older tree on its object, which would matter only if stale data made it a
PF again before the next sync; the tree keeps the links of its last rebuild only.

Pure: values in, values out; no IO, no clock, no logging.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pcipass.core import devicestate as ds
from pcipass.core import model

#: The keys of a reported device that ``PciDevice.update_device`` never applies.
NEVER_UPDATED = ("status", "instance_uuid", "id", "extra_info")
#: Spec tags the tracker copies into a reported device; dropped from ``extra_info`` when a later
#: report lacks them (other ``extra_info`` keys are never dropped).
SPEC_TAGS = ("managed", "live_migratable")
#: ``nova.objects.fields.PciDeviceType``.
DEV_TYPES = (model.TYPE_PCI, model.TYPE_PF, model.TYPE_VF, ds.TYPE_VDPA)

_RECORD_FIELDS = ("address", "dev_type", "vendor_id", "product_id", "parent_addr", "numa_node",
                  "dev_id", "label")
# PciDevice fields a reported device cannot set: the tracker sets compute_node_id itself, the
# others are the database's or the claim's.
_REFUSED = ("compute_node_id", "uuid", "request_id")
_BUSY = (ds.Status.CLAIMED, ds.Status.ALLOCATED)

REMOVE_WARNING = (
    "Unable to remove device with status '{status}' and ownership {owner} because of {error}. "
    "Check your [pci]device_spec configuration to make sure this allocated device is "
    "whitelisted. If you have removed the device from the whitelist intentionally or the device "
    "is no longer available on the host you will need to delete the server or migrate it to "
    "another host to silence this warning.")


@dataclasses.dataclass(frozen=True, slots=True)
class DiscoveredDevice:
    """One device the hypervisor reported and the ``device_spec`` matched (one dict of Nova's
    ``pci_passthrough_devices``, with the spec's ``managed`` and ``live_migratable`` tags
    copied in).

    :ivar extra: the other keys (``parent_ifname``, ``capabilities``, ``mac_address``, the spec
        tags...), which Nova stores in ``extra_info``: a string as it is, any other value as
        JSON.
    """

    address: str
    dev_type: str
    vendor_id: str
    product_id: str
    parent_addr: str | None = None
    numa_node: int | None = None
    dev_id: str | None = None
    label: str | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.dev_type not in DEV_TYPES:
            raise ValueError(f"{self.address}: dev_type {self.dev_type!r} is not one of "
                             f"{', '.join(DEV_TYPES)}")
        fields = set(self.extra) & {*_RECORD_FIELDS, *NEVER_UPDATED, *_REFUSED}
        if fields:
            raise ValueError(f"{self.address}: {', '.join(sorted(fields))} is a device field, "
                             "not an extra_info key")

    @classmethod
    def from_dict(cls, device: Mapping[str, Any]) -> DiscoveredDevice:
        """A device as Nova's virt driver reports it (``address``, ``dev_type``, ``vendor_id``
        and ``product_id`` required; a missing ``parent_addr``, ``numa_node``, ``dev_id`` or
        ``label`` is None). The keys Nova never applies are dropped as Nova drops them."""
        missing = [k for k in ("address", "dev_type", "vendor_id", "product_id") if k not in device]
        if missing:
            raise ValueError(f"reported device without {', '.join(missing)}: {dict(device)!r}")
        refused = sorted(set(device) & (set(_REFUSED) - {"compute_node_id"}))
        if refused:
            raise ValueError(f"{device['address']}: the tracker never takes {', '.join(refused)} "
                             "from the hypervisor")
        skip = {*_RECORD_FIELDS, *NEVER_UPDATED, "compute_node_id"}
        return cls(device["address"], device["dev_type"], device["vendor_id"],
                   device["product_id"], device.get("parent_addr"), device.get("numa_node"),
                   device.get("dev_id"), device.get("label"),
                   extra={k: v for k, v in device.items() if k not in skip})


@dataclasses.dataclass(frozen=True, slots=True)
class TrackerState:
    """What Nova's tracker holds: the devices, and what it remembers between runs.

    :ivar to_be_removed_when_freed: addresses of devices that vanished while busy.
    :ivar stale: new data for busy devices, applied when they are freed.
    """

    tree: ds.DeviceTree
    to_be_removed_when_freed: frozenset[str] = frozenset()
    stale: Mapping[str, DiscoveredDevice] = dataclasses.field(default_factory=dict, hash=False)

    def with_tree(self, tree: ds.DeviceTree) -> TrackerState:
        """The same memory over another tree (after a claim or an allocation, say)."""
        return dataclasses.replace(self, tree=tree)


class PoolOp(enum.StrEnum):
    """A call Nova's tracker makes on its pools (``PciDeviceStats``)."""

    #: ``add_device``: the device joins the pool its data keys (when a spec matches it).
    ENTER = "enter"
    #: ``remove_device``, when the device is in a pool: it leaves the pool its data keys.
    LEAVE = "leave"
    #: ``update_device`` after a type change: the device, if in a pool, moves to the pool its
    #: new data keys.
    MOVE = "move"
    #: ``update_device`` when the type did not change: the device's data changed in place and
    #: it stays in its pool (under the pool's old key).
    UPDATE = "update"


@dataclasses.dataclass(frozen=True, slots=True)
class PoolEvent:
    """One pool call, with the device as it is then (``previous``: before a MOVE or UPDATE).

    :ivar created: an ENTER of a device :func:`sync` created: a new object for Nova, so a
        copy of an older device at that address left in a pool is not this one.
    """

    op: PoolOp
    device: ds.TrackedDevice
    previous: ds.TrackedDevice | None = None
    created: bool = False

    @property
    def address(self) -> str:
        return self.device.address


@dataclasses.dataclass(frozen=True, slots=True)
class TrackerChange:
    """What a tracker run did: the new state, the pool calls in Nova's order, the warnings."""

    state: TrackerState
    events: tuple[PoolEvent, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def tree(self) -> ds.DeviceTree:
        return self.state.tree


def sync(state: TrackerState, discovered: Iterable[DiscoveredDevice]) -> TrackerChange:
    """Nova's ``PciDevTracker._set_hvdevs``: take a new discovery (already matched against the
    ``device_spec``)."""
    found = list(discovered)
    reported: dict[str, DiscoveredDevice] = {}
    for item in found:
        if item.address in reported:
            raise ValueError(f"{item.address} is reported twice")
        reported[item.address] = item
    # Deleted devices left Nova's list when they were saved.
    tree = ds.DeviceTree([d for d in state.tree.devices.values() if d.status != ds.Status.DELETED],
                         state.tree.compute_node_id)
    devices = dict(tree.devices)
    remembered = set(state.to_be_removed_when_freed)
    stale = dict(state.stale)
    events: list[PoolEvent] = []
    warnings: list[str] = []
    for address in sorted(devices):
        dev = devices[address]
        rec = reported.get(address)
        if rec is None:
            try:
                gone = ds.remove(tree, address).tree[address]
            except (ds.PciDeviceInvalidStatus, ds.PciDeviceInvalidOwner) as exc:
                warnings.append(REMOVE_WARNING.format(status=dev.status, owner=dev.owner,
                                                      error=exc.message))
                remembered.add(address)
                continue
            devices[address] = gone
            events.append(PoolEvent(PoolOp.LEAVE, gone))
        elif dev.status in _BUSY:
            stale[address] = rec
        else:
            new = updated(dev, rec)
            devices[address] = new
            if new != dev:
                op = PoolOp.MOVE if new.dev_type != dev.dev_type else PoolOp.UPDATE
                events.append(PoolEvent(op, new, dev))
    for item in found:
        if item.address not in tree.devices:
            new = updated(ds.TrackedDevice(item.address, item.dev_type), item)
            devices[item.address] = new
            events.append(PoolEvent(PoolOp.ENTER, new, created=True))
    new_tree = ds.DeviceTree(devices.values(), tree.compute_node_id)
    return TrackerChange(TrackerState(new_tree, frozenset(remembered), stale), tuple(events),
                         tuple(warnings))


def free(state: TrackerState, address: str, instance: str | None = None) -> TrackerChange:
    """Nova's ``PciDevTracker._free_device``: free one device (owned by ``instance``, when
    given), apply its stale data, and give it back to the pools with the devices its release
    freed; a remembered device becomes ``removed`` instead.

    Raises the state machine's errors (:func:`~pcipass.core.devicestate.free`).
    """
    change = ds.free(state.tree, address, instance)
    tree = change.tree
    stale = dict(state.stale)
    rec = stale.pop(address, None)
    if rec is not None:
        tree = tree.replaced([updated(tree[address], rec)])
    remembered = set(state.to_be_removed_when_freed)
    events: tuple[PoolEvent, ...]
    if address in remembered:
        remembered.discard(address)
        tree = ds.remove(tree, address).tree
        events = (PoolEvent(PoolOp.LEAVE, tree[address]),)
    else:
        events = tuple(PoolEvent(PoolOp.ENTER, tree[a]) for a in change.freed)
    return TrackerChange(TrackerState(tree, frozenset(remembered), stale), events, change.warnings)


def free_instance(state: TrackerState, instance: str,
                  status: ds.Status | None = None) -> TrackerChange:
    """Nova's ``free_instance``: free every device ``instance`` holds, the allocated ones, then
    the claimed ones, each in address order; ``status`` ALLOCATED or CLAIMED frees only those
    (``free_instance_allocations``, ``free_instance_claims``)."""
    if status is None:
        order: tuple[ds.Status, ...] = _BUSY[::-1]
    elif status in _BUSY:
        order = (status,)
    else:
        raise ValueError(f"an instance holds claimed or allocated devices, not {status}")
    events: list[PoolEvent] = []
    warnings: list[str] = []
    for wanted in order:
        for address in sorted(state.tree.devices):
            dev = state.tree[address]
            if dev.status == wanted and dev.owner == instance:
                change = free(state, address, instance)
                state = change.state
                events += change.events
                warnings += change.warnings
    return TrackerChange(state, tuple(events), tuple(warnings))


def save(state: TrackerState) -> TrackerState:
    """Nova's ``PciDevTracker.save`` without the database: removed devices become ``deleted``
    (they keep their links until the next :func:`sync`, which forgets them)."""
    gone = [dataclasses.replace(d, status=ds.Status.DELETED)
            for d in state.tree.devices.values() if d.status == ds.Status.REMOVED]
    if not gone:
        return state
    return state.with_tree(state.tree.replaced(gone))


def updated(device: ds.TrackedDevice, rec: DiscoveredDevice) -> ds.TrackedDevice:
    """Nova's ``PciDevice.update_device``: the reported fields replace the device's, except
    its status, owner and id; the other keys merge into ``extra_info`` (a key no longer
    reported stays, except the spec tags)."""
    if rec.address != device.address:
        raise ValueError(f"data for {rec.address} given to {device.address}")
    extra = dict(device.extra_info)
    extra.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in rec.extra.items()})
    for tag in SPEC_TAGS:
        if tag not in rec.extra:
            extra.pop(tag, None)
    return dataclasses.replace(device, dev_type=rec.dev_type, parent_addr=rec.parent_addr,
                               vendor_id=rec.vendor_id, product_id=rec.product_id,
                               numa_node=rec.numa_node, dev_id=rec.dev_id, label=rec.label,
                               extra_info=extra)
