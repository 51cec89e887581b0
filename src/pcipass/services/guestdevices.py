"""The libvirt device elements of an allocation (``allocation show -f libvirt``).

Each device the consumer holds becomes what Nova's libvirt driver writes for it
(:mod:`pcipass.core.libvirtxml`):

* a VF requested through a Neutron port (its request id ``port-N``): an
  ``<interface type='hostdev'>`` with the port's MAC and VLAN (``--port ...,mac=,vlan=``); a
  port given no MAC gets one made from the consumer and the port number, under OpenStack's
  ``fa:16:3e`` prefix, the same on every call;
* anything else (a flavor's device, a PF of a ``direct-physical`` port): a
  ``<hostdev mode='subsystem' type='pci'>``, ``managed`` from the spec's ``managed`` tag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from pcipass.adapters.store import claimstore
from pcipass.core import libvirtxml, model

PORT_PREFIX = "port-"
MAC_PREFIX = "fa:16:3e"


def default_mac(consumer: str, port: int) -> str:
    """A MAC for a port given none: ``fa:16:3e`` and three bytes of SHA-256(consumer, port)."""
    digest = hashlib.sha256(f"{consumer}/{port}".encode()).hexdigest()
    return ":".join([MAC_PREFIX, digest[0:2], digest[2:4], digest[4:6]])


def guest_devices(consumer: str, devices: Sequence[claimstore.HeldDevice],
                  request: Mapping[str, Any] | None) -> list[libvirtxml.GuestDevice]:
    """The consumer's devices as the guest gets them, by address."""
    ports = (request or {}).get("ports") or []
    out = []
    for dev in devices:
        managed = libvirtxml.managed_tag(dev.extra_info)
        rid = dev.request_id or ""
        if dev.dev_type == model.TYPE_VF and rid.startswith(PORT_PREFIX) \
                and rid[len(PORT_PREFIX):].isdigit():
            number = int(rid[len(PORT_PREFIX):])
            wire = ports[number] if number < len(ports) and isinstance(ports[number], dict) \
                else {}
            mac = wire.get("mac") or default_mac(consumer, number)
            vlan = wire.get("vlan")
            out.append(libvirtxml.GuestDevice(dev.address, managed, str(mac),
                                              int(vlan) if isinstance(vlan, int) else None))
        else:
            out.append(libvirtxml.GuestDevice(dev.address, managed))
    return out


def devices_xml(consumer: str, devices: Sequence[claimstore.HeldDevice],
                request: Mapping[str, Any] | None) -> str:
    """The libvirt elements, one after the other."""
    return libvirtxml.devices_xml(guest_devices(consumer, devices, request))
