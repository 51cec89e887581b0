"""Helpers for differential tests against the real Nova package.

Nova probes ``/sys`` while it parses a device_spec. :func:`nova_probes` answers
those probes from a :class:`model.HostFacts`, the same facts our pure core
gets, so both sides see the same host.

Nova is imported lazily: test modules call ``support.require_module("nova")``
first (a failure in CI, a skip only outside it), and this conftest stays
importable without Nova.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from pcipass.core import model

_CONF_READY = False


def nova_conf() -> Any:
    """Return Nova's global CONF, parsed once with no arguments."""
    global _CONF_READY
    import nova.conf

    if not _CONF_READY:
        nova.conf.CONF([])
        _CONF_READY = True
    return nova.conf.CONF


@contextlib.contextmanager
def nova_probes(facts: model.HostFacts) -> Iterator[None]:
    """Patch ``nova.pci.utils`` sysfs probes to answer from ``facts``."""
    from nova import exception
    from nova.pci import utils

    def is_physical_function(domain: str, bus: str, slot: str, function: str) -> bool:
        return facts.is_pf(f"{domain}:{bus}:{slot}.{function}")

    def get_function_by_ifname(ifname: str) -> tuple[str | None, bool]:
        address = facts.address_of_netdev(ifname)
        if address is None:
            return None, False
        return address, facts.is_pf(address)

    def get_vf_product_id_by_pf_addr(pci_addr: str) -> str:
        pf = facts.pfs.get(pci_addr)
        if pf is None or not pf.vf_product_id:
            raise exception.PciDeviceNotFoundById(id=pci_addr)
        return pf.vf_product_id

    def get_pci_ids_by_pci_addr(pci_addr: str) -> tuple[str, ...]:
        pf = facts.pfs.get(pci_addr)
        if pf is None:
            raise exception.PciDeviceNotFoundById(id=pci_addr)
        return (pf.vendor_id, pf.product_id)

    with contextlib.ExitStack() as stack:
        for name, fake in (("is_physical_function", is_physical_function),
                           ("get_function_by_ifname", get_function_by_ifname),
                           ("get_vf_product_id_by_pf_addr", get_vf_product_id_by_pf_addr),
                           ("get_pci_ids_by_pci_addr", get_pci_ids_by_pci_addr)):
            stack.enter_context(mock.patch.object(utils, name, fake))
        yield


@contextlib.contextmanager
def report_in_placement(value: bool) -> Iterator[None]:
    """Set ``[pci] report_in_placement`` in Nova's CONF for the block."""
    conf = nova_conf()
    conf.set_override("report_in_placement", value, group="pci")
    try:
        yield
    finally:
        conf.clear_override("report_in_placement", group="pci")


def nova_device_dict(device: model.Device) -> dict[str, Any]:
    """The hypervisor device dict Nova's ``PciDeviceSpec.match`` takes."""
    return {
        "vendor_id": device.vendor_id,
        "product_id": device.product_id,
        "address": device.address,
        "parent_addr": device.parent_addr,
        "capabilities": {"vpd": {"card_serial_number": device.card_serial_number}},
    }


@pytest.fixture(scope="session")
def nova_oracle() -> types.SimpleNamespace:
    """Nova (skipped when absent) with CONF parsed, plus the probe/CONF helpers above."""
    from support import require_module

    require_module("nova")
    return types.SimpleNamespace(conf=nova_conf(), probes=nova_probes,
                                 report_in_placement=report_in_placement,
                                 device_dict=nova_device_dict)
