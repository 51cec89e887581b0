"""Plain records shared by the core: devices and host facts.

:class:`Device` carries the fields of the contract's Device object
(``contracts.md`` §2) that discovery fills in. Matching results (``passthrough``,
``spec_index``, ``tags``) are not stored on the device; they are computed.

:class:`HostFacts` is what Nova learns by probing ``/sys`` while it parses a
device_spec (is this address an SR-IOV PF? which PCI address has netdev X?).
The core never reads sysfs: the caller passes these facts in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

TYPE_PCI = "type-PCI"
TYPE_PF = "type-PF"
TYPE_VF = "type-VF"
TYPE_VDPA = "vdpa"
DEV_TYPES = (TYPE_PCI, TYPE_PF, TYPE_VF)


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceKind:
    """How a device type is named: ``label`` in a table column, ``noun`` in a sentence."""

    label: str
    noun: str


#: The one table of device-type names (reasons, the doctor's messages, the scan table).
DEVICE_KINDS: Mapping[str, DeviceKind] = {
    TYPE_VF: DeviceKind("VF", "VF"),
    TYPE_PF: DeviceKind("PF", "PF"),
    TYPE_PCI: DeviceKind("PCI", "PCI device"),
    TYPE_VDPA: DeviceKind("vDPA", "vDPA device"),
}


def device_noun(dev_type: str | None, count: int = 1) -> str:
    """``VF``, ``2 PFs`` style nouns: the type's noun (``device`` when unknown), plural unless ``count`` is 1."""
    kind = DEVICE_KINDS.get(dev_type or "")
    noun = kind.noun if kind is not None else "device"
    return noun if count == 1 else noun + "s"


def device_label(dev_type: str | None) -> str:
    """The short name of a device type for a table column (``-`` when unknown)."""
    kind = DEVICE_KINDS.get(dev_type or "")
    return kind.label if kind is not None else "-"


@dataclasses.dataclass(frozen=True, slots=True)
class Device:
    """One PCI function as discovery (sysfs, lspci) saw it.

    Addresses are canonical strings (``dddd:bb:ss.f``); IDs are 4 lower-case
    hex digits. ``None`` means the source could not tell. ``class_code`` prints as
    the contract's ``class``; the JSON holds the fields discovery owns
    (:mod:`pcipass.services.jsonview`).
    """

    address: str
    vendor_id: str
    product_id: str
    subsystem_vendor_id: str | None = None
    subsystem_id: str | None = None
    class_code: str | None = None
    revision: str | None = None
    name: str | None = None
    dev_type: str | None = TYPE_PCI
    parent_addr: str | None = None
    vf_index: int | None = None
    numa_node: int | None = None
    driver: str | None = None
    driver_override: str | None = None
    iommu_group: int | None = None
    netdevs: tuple[str, ...] = ()
    sriov_totalvfs: int | None = None
    sriov_numvfs: int | None = None
    sriov_vf_device: str | None = None
    sriov_drivers_autoprobe: bool | None = None
    local_cpulist: str | None = None
    card_serial_number: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def is_pf(self) -> bool:
        return self.dev_type == TYPE_PF

    @property
    def is_vf(self) -> bool:
        return self.dev_type == TYPE_VF


def is_bridge(dev: Device) -> bool:
    """A PCI-to-PCI bridge or root port (class 0604, or 0609 semi-transparent): a type 1 header
    that vfio tolerates in an IOMMU group (isolation ends there) and no alias ever means."""
    return bool(dev.class_code and dev.class_code.startswith(("0604", "0609")))


def known_numa_node(node: int | None) -> int | None:
    """A device's NUMA node as a reader found it, with the kernel's ``-1`` (the firmware gave no
    locality; any negative number alike) as unknown, ``None``. Every reader (sysfs, the facts
    cache, libvirt's node devices, lspci pastes) hands its number through here."""
    return None if node is None or node < 0 else node


@dataclasses.dataclass(frozen=True, slots=True)
class PfInfo:
    """What Nova reads from sysfs about an SR-IOV physical function."""

    address: str
    vendor_id: str
    product_id: str
    sriov_totalvfs: int
    vf_product_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class HostFacts:
    """Host facts the device_spec parser needs, passed in as values.

    :ivar pfs: SR-IOV capable PFs (``sriov_totalvfs`` > 0) by canonical address.
    :ivar netdevs: netdev name -> canonical PCI address of its device.
    :ivar known: True when these facts describe a real host; False when the
        host is unknown (``config check`` without a host), in which case
        PF-dependent validation is reported as not checked rather than failed.
    """

    pfs: Mapping[str, PfInfo] = dataclasses.field(default_factory=dict)
    netdevs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    known: bool = True

    @classmethod
    def unknown(cls) -> HostFacts:
        """Facts for "no host given": no PFs, no netdevs, ``known=False``."""
        return cls(known=False)

    @classmethod
    def from_devices(cls, devices: list[Device] | tuple[Device, ...]) -> HostFacts:
        """Derive the facts from discovered devices."""
        pfs: dict[str, PfInfo] = {}
        netdevs: dict[str, str] = {}
        for dev in devices:
            if dev.sriov_totalvfs:
                pfs[dev.address] = PfInfo(dev.address, dev.vendor_id, dev.product_id,
                                          dev.sriov_totalvfs, dev.sriov_vf_device)
            for name in dev.netdevs:
                netdevs[name] = dev.address
        return cls(pfs=pfs, netdevs=netdevs)

    def is_pf(self, address: str) -> bool:
        return address in self.pfs

    def address_of_netdev(self, devname: str) -> str | None:
        return self.netdevs.get(devname)
