"""A store claim as Placement allocations: what ``PUT /allocations/{consumer}`` must hold.

Nova's translation (:mod:`pcipass.core.placement`) gives each type-PCI or PF device a provider
named ``<hypervisor hostname>_<ADDRESS>``, and counts a PF's VFs on the PF's provider, in the
resource class of the device_spec entry that matched them. A consumer holding devices in the
store so holds, in Placement, one unit of that class per device on that provider
(:func:`wanted`); a device matched for Neutron (``physical_network``) is not in Placement and
holds nothing there. The consumer's other allocations (Nova's ``VCPU`` on the compute node)
are kept: :func:`merged` replaces only the PCI providers' entries, :func:`without` removes them.

:func:`over_allocated` reads a provider's usages against its inventory: ``used >
(total - reserved) * allocation_ratio`` is more than the provider can give.

Pure: values in, values out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from pcipass.core import model, placementnames

Resources = Mapping[str, Mapping[str, int]]  # provider -> resource class -> amount


class HeldLike(Protocol):
    """A device a consumer holds (the store's ``HeldDevice``)."""

    @property
    def address(self) -> str: ...
    @property
    def dev_type(self) -> str: ...
    @property
    def parent_addr(self) -> str | None: ...
    @property
    def vendor_id(self) -> str: ...
    @property
    def product_id(self) -> str: ...
    @property
    def spec_tags(self) -> Mapping[str, Any]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Overuse:
    """A provider that holds more than it can give in one resource class."""

    provider: str
    resource_class: str
    used: int
    capacity: int


def provider_of(hypervisor_hostname: str, device: HeldLike) -> str:
    """The provider Nova counts ``device`` on: its own (type-PCI, PF) or its PF's (VF, vDPA)."""
    owner = device.parent_addr if device.dev_type in (model.TYPE_VF, model.TYPE_VDPA) \
        and device.parent_addr else device.address
    return placementnames.provider_name(hypervisor_hostname, owner)


def wanted(hypervisor_hostname: str, devices: Iterable[HeldLike]) -> dict[str, dict[str, int]]:
    """Provider name -> resource class -> devices, for the devices Placement counts."""
    out: dict[str, dict[str, int]] = {}
    for dev in devices:
        tags = dev.spec_tags
        if tags.get("physical_network") is not None:
            continue  # Neutron's: never in Placement
        rc_value = tags.get("resource_class")
        rc = placementnames.resource_class_name(rc_value if isinstance(rc_value, str) else None,
                                                dev.vendor_id, dev.product_id)
        counts = out.setdefault(provider_of(hypervisor_hostname, dev), {})
        counts[rc] = counts.get(rc, 0) + 1
    return out


def merged(existing: Resources, ours: Resources) -> dict[str, dict[str, int]]:
    """The consumer's allocations with ours in place of whatever it held on our providers."""
    out = {rp: dict(res) for rp, res in existing.items() if rp not in ours}
    out.update({rp: dict(res) for rp, res in ours.items()})
    return out


def without(existing: Resources, ours: Iterable[str]) -> dict[str, dict[str, int]]:
    """The consumer's allocations less those on our providers."""
    gone = set(ours)
    return {rp: dict(res) for rp, res in existing.items() if rp not in gone}


def capacity(inventory: Mapping[str, Any] | None) -> int:
    """What one inventory can give: ``(total - reserved) * allocation_ratio`` (none: 0)."""
    if inventory is None:
        return 0
    return int((int(inventory.get("total", 0)) - int(inventory.get("reserved", 0)))
               * float(inventory.get("allocation_ratio", 1.0)))


def over_allocated(provider: str, inventories: Mapping[str, Mapping[str, Any]],
                   usages: Mapping[str, int]) -> list[Overuse]:
    """The resource classes whose usage exceeds what the inventory can give."""
    out = []
    for rc, used in sorted(usages.items()):
        most = capacity(inventories.get(rc))
        if used > most:
            out.append(Overuse(provider, rc, used, most))
    return out
