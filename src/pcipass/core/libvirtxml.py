"""The libvirt device elements that give a guest its PCI devices, as Nova's libvirt driver
writes them (``nova.virt.libvirt``: ``_get_guest_pci_device``, and ``get_config_hw_veb`` for
an SR-IOV port).

* A device a flavor asked for (type-PCI, a PF, or a VF through an alias) is a
  ``<hostdev mode="subsystem" type="pci" managed="yes|no">`` whose source is its address;
  ``managed`` is ``yes`` exactly when the device_spec's ``managed`` tag (Nova keeps it in
  ``extra_info``, normalized to ``"true"``/``"false"``) is absent or ``"true"``, as on KVM/QEMU.
* A VF a Neutron port asked for with ``vnic_type`` direct is an
  ``<interface type="hostdev" managed="yes">`` with the port's MAC, the VF's address as a PCI
  source, and the port's VLAN tag when it has one.

Addresses are written as Nova writes them: each field of the canonical address with ``0x``.
Pure: values in, XML text out (xml.etree builds it; nothing is read or written).
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping

from pcipass.core import address as addr


@dataclasses.dataclass(frozen=True, slots=True)
class GuestDevice:
    """One allocated device as the guest gets it.

    :ivar managed: the device_spec's ``managed`` tag as Nova stores it (``"true"``,
        ``"false"``), None when the spec has none (Nova's default is managed).
    :ivar mac: the port's MAC address, for a VF given through a Neutron port (then an
        ``<interface>``); None for a device a flavor asked for (a ``<hostdev>``).
    :ivar vlan: the port's VLAN tag, if any.
    """

    address: str
    managed: str | None = None
    mac: str | None = None
    vlan: int | None = None


def managed_tag(extra_info: Mapping[str, str]) -> str | None:
    """The ``managed`` value Nova reads from a device's ``extra_info``."""
    return extra_info.get("managed")


def _fields(address: str) -> tuple[str, str, str, str]:
    parsed = addr.PciAddress.parse(address)
    text = str(parsed)
    dbs, _, func = text.partition(".")
    domain, bus, slot = dbs.split(":")
    return domain, bus, slot, func


def hostdev(device: GuestDevice) -> ET.Element:
    """``<hostdev>`` for a device a flavor asked for."""
    managed = "yes" if (device.managed or "true") == "true" else "no"
    element = ET.Element("hostdev", mode="subsystem", type="pci", managed=managed)
    domain, bus, slot, func = _fields(device.address)
    source = ET.SubElement(element, "source")
    ET.SubElement(source, "address", domain=f"0x{domain}", bus=f"0x{bus}", slot=f"0x{slot}",
                  function=f"0x{func}")
    return element


def interface(device: GuestDevice) -> ET.Element:
    """``<interface type="hostdev">`` for a VF a Neutron port asked for."""
    if device.mac is None:
        raise ValueError(f"{device.address}: a port's VF needs the port's MAC address")
    element = ET.Element("interface", type="hostdev", managed="yes")
    ET.SubElement(element, "mac", address=device.mac)
    domain, bus, slot, func = _fields(device.address)
    source = ET.SubElement(element, "source")
    ET.SubElement(source, "address", type="pci", domain=f"0x{domain}", bus=f"0x{bus}",
                  slot=f"0x{slot}", function=f"0x{func}")
    if device.vlan:
        vlan = ET.SubElement(element, "vlan")
        ET.SubElement(vlan, "tag", id=str(device.vlan))
    return element


def element(device: GuestDevice) -> ET.Element:
    """The element Nova writes for ``device``: an interface for a port's VF, else a hostdev."""
    return interface(device) if device.mac is not None else hostdev(device)


def devices_xml(devices: Iterable[GuestDevice]) -> str:
    """The elements for ``devices``, one after the other, indented as ``virsh dumpxml``
    indents a domain's devices."""
    parts = []
    for device in devices:
        node = element(device)
        ET.indent(node, space="  ")
        parts.append(ET.tostring(node, encoding="unicode"))
    return "\n".join(parts) + ("\n" if parts else "")
