"""Nova's PCI device state machine: claim, allocate, free and remove, with the PF/VF rules.

The same transitions as ``nova.objects.pci_device.PciDevice`` (nova-pci.md §5),
on immutable values: a :class:`DeviceTree` in, a new tree out, nothing stored.

* A claimed VF (or vDPA device) makes its available PF ``unclaimable``; an
  allocated one makes it ``unavailable``; the PF is ``available`` again when the
  last busy child is freed.
* Claiming or allocating a PF makes all its children ``unclaimable`` or
  ``unavailable``; freeing it makes them ``available``.
* An illegal transition raises Nova's exception, by name and message:
  ``PciDeviceInvalidStatus``, ``PciDeviceInvalidOwner``,
  ``PciDeviceVFInvalidStatus``, ``PciDevicePFInvalidStatus``.

Two of Nova's quirks are kept on purpose, since a tree must agree with Nova's
after any sequence: ``PciDevicePFInvalidStatus`` reports the *VF's* status as
the PF's, and claiming a PF whose only busy children are ``unclaimable`` or
``unavailable`` (bug 1969496) succeeds with a warning.

Pure: no IO, no clock.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping

from pcipass.core import errors, model


class Status(enum.StrEnum):
    """``nova.objects.fields.PciDeviceStatus``."""

    AVAILABLE = "available"
    CLAIMED = "claimed"
    ALLOCATED = "allocated"
    REMOVED = "removed"
    DELETED = "deleted"
    UNCLAIMABLE = "unclaimable"
    UNAVAILABLE = "unavailable"


TYPE_VDPA = "vdpa"
#: Device types that hang below a PF (Nova's SRIOV_VF and VDPA).
CHILD_TYPES = frozenset({model.TYPE_VF, TYPE_VDPA})

_PARENT_OK = (Status.AVAILABLE, Status.UNCLAIMABLE, Status.UNAVAILABLE)


class PciDeviceInvalidStatus(errors.InputError):
    msg_fmt = "PCI device %(compute_node_id)s:%(address)s is %(status)s instead of %(hopestatus)s"


class PciDeviceInvalidOwner(errors.InputError):
    msg_fmt = "PCI device %(compute_node_id)s:%(address)s is owned by %(owner)s instead of %(hopeowner)s"


class PciDeviceVFInvalidStatus(errors.InputError):
    msg_fmt = "Not all Virtual Functions of PF %(compute_node_id)s:%(address)s are free."


class PciDevicePFInvalidStatus(errors.InputError):
    msg_fmt = ("Physical Function %(compute_node_id)s:%(address)s, related to VF "
               "%(compute_node_id)s:%(vf_address)s is %(status)s instead of %(hopestatus)s")


@dataclasses.dataclass(frozen=True, slots=True)
class TrackedDevice:
    """A device as the tracker keeps it: where it is in the PF/VF tree, and who has it."""

    address: str
    dev_type: str
    status: Status = Status.AVAILABLE
    parent_addr: str | None = None
    owner: str | None = None  # the instance UUID
    request_id: str | None = None
    # What discovery reported (Nova's other PciDevice fields), kept by the tracker (core.tracker).
    vendor_id: str | None = None
    product_id: str | None = None
    numa_node: int | None = None
    dev_id: str | None = None
    label: str | None = None
    #: Nova's ``extra_info``: every other key the hypervisor reported, its value as a string.
    extra_info: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """What a transition did: the new tree, the devices it made free (``free`` re-adds them to
    the pools), and the warnings Nova logs."""

    tree: DeviceTree
    freed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


class DeviceTree:
    """A host's tracked devices with their PF/VF links, as Nova builds them.

    Links exist only from a PF to its VF or vDPA children, built from
    ``parent_addr``; removed and deleted devices take no part.
    ``compute_node_id`` only appears in messages, as in Nova's.
    """

    __slots__ = ("devices", "compute_node_id", "_children", "_parents")

    def __init__(self, devices: Iterable[TrackedDevice], compute_node_id: object = None) -> None:
        self.devices: dict[str, TrackedDevice] = {d.address: d for d in devices}
        self.compute_node_id = compute_node_id
        # As Nova's tracker: in address order, a child links to a PF seen before it.
        children: dict[str, list[str]] = {}
        for dev in sorted(self.devices.values(), key=lambda d: d.address):
            if dev.status in (Status.REMOVED, Status.DELETED):
                continue
            if dev.dev_type == model.TYPE_PF:
                children[dev.address] = []
            elif dev.dev_type in CHILD_TYPES and dev.parent_addr in children:
                children[dev.parent_addr].append(dev.address)
        self._children: Mapping[str, tuple[str, ...]] = {k: tuple(v) for k, v in children.items() if v}
        self._parents: Mapping[str, str] = {
            kid: pf for pf, kids in self._children.items() for kid in kids}

    def __getitem__(self, address: str) -> TrackedDevice:
        return self.devices[address]

    def children(self, address: str) -> tuple[TrackedDevice, ...]:
        """A PF's VF and vDPA children, by address."""
        return tuple(self.devices[a] for a in self._children.get(address, ()))

    def parent(self, address: str) -> TrackedDevice | None:
        """A child's PF, when it is tracked (Nova only logs a missing one).

        The link is the one made when the tree was built, as Nova's ``parent_device``:
        a ``parent_addr`` changed since (:meth:`replaced`) does not move it.
        """
        dev = self.devices[address]
        if dev.dev_type not in CHILD_TYPES:
            return None
        parent = self._parents.get(address)
        return None if parent is None else self.devices[parent]

    def statuses(self) -> dict[str, Status]:
        return {a: d.status for a, d in self.devices.items()}

    def replaced(self, devices: Iterable[TrackedDevice]) -> DeviceTree:
        """This tree with these devices' records replaced and the links kept.

        Nova's tracker links PF and children only when it rebuilds its tree (at start-up and
        after each discovery); between, a device whose status, type or parent changes keeps
        its links. Build a new :class:`DeviceTree` to relink. Each device must be in the tree.
        """
        updates = {d.address: d for d in devices}
        unknown = sorted(set(updates) - set(self.devices))
        if unknown:
            raise KeyError(f"not in the tree: {', '.join(unknown)}")
        return self._with(updates)

    def _with(self, updates: Mapping[str, TrackedDevice]) -> DeviceTree:
        tree = DeviceTree.__new__(DeviceTree)
        tree.devices = {**self.devices, **updates}
        tree.compute_node_id = self.compute_node_id
        tree._children = self._children  # statuses change, links do not
        tree._parents = self._parents
        return tree


def claim(tree: DeviceTree, address: str, instance: str) -> Change:
    """Nova's ``PciDevice.claim``: ``available`` -> ``claimed`` by ``instance``."""
    dev = tree[address]
    if dev.status != Status.AVAILABLE:
        raise _invalid_status(tree, dev, [Status.AVAILABLE])
    updates: dict[str, TrackedDevice] = {}
    warnings: list[str] = []
    if dev.dev_type == model.TYPE_PF:
        kids = tree.children(address)
        busy = [k for k in kids if k.status != Status.AVAILABLE]
        if busy:
            if {k.status for k in busy} - {Status.UNCLAIMABLE, Status.UNAVAILABLE}:
                raise PciDeviceVFInvalidStatus(compute_node_id=tree.compute_node_id,
                                               address=address)
            warnings.append(
                f"Some child device of parent {address} is in an inconsistent state. "
                "Inconsistent children with state: "
                + ",".join(f"{k.address} - {k.status}" for k in busy))
        updates.update({k.address: _set(k, Status.UNCLAIMABLE) for k in kids})
    elif dev.dev_type in CHILD_TYPES:
        parent = tree.parent(address)
        if parent is not None:
            _check_parent(tree, dev, parent)
            if parent.status == Status.AVAILABLE:
                updates[parent.address] = _set(parent, Status.UNCLAIMABLE)
    updates[address] = dataclasses.replace(dev, status=Status.CLAIMED, owner=instance)
    return Change(tree._with(updates), warnings=tuple(warnings))


def allocate(tree: DeviceTree, address: str, instance: str) -> Change:
    """Nova's ``PciDevice.allocate``: ``available`` or ``claimed`` (by ``instance``) -> ``allocated``."""
    dev = tree[address]
    ok = (Status.AVAILABLE, Status.CLAIMED)
    if dev.status not in ok:
        raise _invalid_status(tree, dev, ok)
    if dev.status == Status.CLAIMED and dev.owner != instance:
        raise PciDeviceInvalidOwner(compute_node_id=tree.compute_node_id, address=address,
                                    owner=dev.owner, hopeowner=instance)
    updates: dict[str, TrackedDevice] = {}
    if dev.dev_type == model.TYPE_PF:
        kids = tree.children(address)
        if not all(k.status in (Status.AVAILABLE, Status.UNCLAIMABLE) for k in kids):
            raise PciDeviceVFInvalidStatus(compute_node_id=tree.compute_node_id, address=address)
        updates.update({k.address: _set(k, Status.UNAVAILABLE) for k in kids})
    elif dev.dev_type in CHILD_TYPES:
        parent = tree.parent(address)
        if parent is not None:
            _check_parent(tree, dev, parent)
            updates[parent.address] = _set(parent, Status.UNAVAILABLE)
    updates[address] = dataclasses.replace(dev, status=Status.ALLOCATED, owner=instance)
    return Change(tree._with(updates))


def free(tree: DeviceTree, address: str, instance: str | None = None) -> Change:
    """Nova's ``PciDevice.free``: ``claimed`` or ``allocated`` -> ``available``.

    ``instance``, when given, must own the device. ``freed`` lists the devices
    that became free: the device, a PF's children, or a child's PF when it was
    the last busy child.
    """
    dev = tree[address]
    ok = (Status.ALLOCATED, Status.CLAIMED)
    if dev.status not in ok:
        raise _invalid_status(tree, dev, ok)
    if instance is not None and dev.owner != instance:
        raise PciDeviceInvalidOwner(compute_node_id=tree.compute_node_id, address=address,
                                    owner=dev.owner, hopeowner=instance)
    updates: dict[str, TrackedDevice] = {}
    freed: list[str] = []
    if dev.dev_type == model.TYPE_PF:
        kids = tree.children(address)
        updates.update({k.address: _set(k, Status.AVAILABLE) for k in kids})
        freed += [k.address for k in kids]
    if dev.dev_type in CHILD_TYPES:
        parent = tree.parent(address)
        if parent is not None and all(k.status == Status.AVAILABLE
                                      for k in tree.children(parent.address) if k.address != address):
            updates[parent.address] = _set(parent, Status.AVAILABLE)
            freed.append(parent.address)
    updates[address] = dataclasses.replace(dev, status=Status.AVAILABLE, owner=None, request_id=None)
    freed.append(address)
    return Change(tree._with(updates), freed=tuple(freed))


def remove(tree: DeviceTree, address: str) -> Change:
    """Nova's ``PciDevice.remove`` (hot-unplug, or no longer in the device_spec): an unused
    device -> ``removed``."""
    dev = tree[address]
    ok = [Status.AVAILABLE, Status.UNAVAILABLE, Status.UNCLAIMABLE]
    if dev.status not in ok:
        raise _invalid_status(tree, dev, ok)
    if dev.owner is not None:
        raise PciDeviceInvalidOwner(compute_node_id=tree.compute_node_id, address=address,
                                    owner=dev.owner, hopeowner=None)
    new = dataclasses.replace(dev, status=Status.REMOVED, owner=None, request_id=None)
    return Change(tree._with({address: new}))


def _set(dev: TrackedDevice, status: Status) -> TrackedDevice:
    return dataclasses.replace(dev, status=status)


def _check_parent(tree: DeviceTree, dev: TrackedDevice, parent: TrackedDevice) -> None:
    if parent.status not in _PARENT_OK:
        # Nova reports the child's own status as the PF's (kept: messages must match).
        raise PciDevicePFInvalidStatus(compute_node_id=tree.compute_node_id,
                                       address=dev.parent_addr, status=dev.status,
                                       vf_address=dev.address, hopestatus=_shown(_PARENT_OK))


def _invalid_status(tree: DeviceTree, dev: TrackedDevice,
                    hope: list[Status] | tuple[Status, ...]) -> PciDeviceInvalidStatus:
    return PciDeviceInvalidStatus(compute_node_id=tree.compute_node_id, address=dev.address,
                                  status=str(dev.status), hopestatus=_shown(hope))


def _shown(hope: list[Status] | tuple[Status, ...]) -> str:
    """The expected statuses as Nova prints them: a list (claim, remove) or a tuple."""
    values = [str(s) for s in hope]
    return repr(values) if isinstance(hope, list) else repr(tuple(values))
