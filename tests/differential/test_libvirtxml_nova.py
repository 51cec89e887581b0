"""Differential: the guest's device elements are Nova's libvirt driver's, element for element.

Nova builds a flavor's device with ``LibvirtDriver._get_guest_pci_device`` (the ``managed``
tag from ``extra_info``, on KVM) and a port's VF with ``get_base_config`` then
``designer.set_vif_host_backend_hw_veb(conf, 'hostdev', pci_slot, vlan)``; both are serialized
with Nova's own ``to_xml`` and compared with ours in canonical form.
"""

from __future__ import annotations

import types
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import libvirtxml
from support import require_module

# imported once, here: the first import of Nova's libvirt driver takes seconds
nova_driver = require_module("nova.virt.libvirt.driver")
nova_config = require_module("nova.virt.libvirt.config")
nova_designer = require_module("nova.virt.libvirt.designer")

pytestmark = pytest.mark.nova

addresses = st.builds(lambda d, b, s, f: f"{d:04x}:{b:02x}:{s:02x}.{f:x}",
                      st.sampled_from([0, 1, 0xFFFF]), st.integers(0, 255), st.integers(0, 31),
                      st.integers(0, 7))


def canonical(xml: str) -> str:
    return ET.canonicalize(xml, strip_text=True)


def nova_hostdev(address: str, managed: str | None) -> str:
    drv = object.__new__(nova_driver.LibvirtDriver)  # no connection: only the config builder runs
    extra = {} if managed is None else {"managed": managed}
    conf = drv._get_guest_pci_device(types.SimpleNamespace(address=address, extra_info=extra))
    xml: str = conf.to_xml()
    return xml


def nova_interface(address: str, mac: str, vlan: int | None) -> str:
    conf = nova_config.LibvirtConfigGuestInterface()
    nova_designer.set_vif_guest_frontend_config(conf, mac, None, None, None, None, False)
    nova_designer.set_vif_host_backend_hw_veb(conf, "hostdev", address, vlan)
    xml: str = conf.to_xml()
    return xml


@settings(max_examples=150, deadline=None, derandomize=True)
@given(address=addresses, managed=st.sampled_from([None, "true", "false"]))
def test_a_flavors_device_is_novas_hostdev(nova_oracle: Any, address: str,
                                           managed: str | None) -> None:
    ours = ET.tostring(libvirtxml.element(libvirtxml.GuestDevice(address, managed)),
                       encoding="unicode")
    assert canonical(ours) == canonical(nova_hostdev(address, managed))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(address=addresses, vlan=st.sampled_from([None, 0, 1, 100, 4094]),
       mac=st.sampled_from(["fa:16:3e:00:00:01", "52:54:00:ab:cd:ef"]))
def test_a_ports_vf_is_novas_hostdev_interface(nova_oracle: Any, address: str,
                                               vlan: int | None, mac: str) -> None:
    ours = ET.tostring(libvirtxml.element(libvirtxml.GuestDevice(address, mac=mac, vlan=vlan)),
                       encoding="unicode")
    assert canonical(ours) == canonical(nova_interface(address, mac, vlan))
