"""Device types a paste does not show: taken as type-PCI for matching, and said so.

An ``lspci -nn`` paste carries no SR-IOV capability, so a device's type is
unknown (``dev_type`` null in the scan's JSON, contracts §2). Nova would call
a device without an SR-IOV sign type-PCI; the scheduler's pools and the
doctor do the same here, and the scan and the doctor (PCI-D008) name the
lspci flags that would settle it. The parser already told VFs (a "Virtual
Function" name, a ``physfn`` link) and PFs (an SR-IOV capability with VFs)
apart where the paste showed them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pcipass.adapters import lspcirecords
from pcipass.core import model

SETTLE = ("lspci -nnvvv (as root: it lists each device's capabilities, SR-IOV among them; "
          "lspci -vmmnnkD adds NUMA nodes and IOMMU groups)")


def unknown(devices: Sequence[model.Device]) -> list[str]:
    """Addresses of the devices whose type the source did not show."""
    return [d.address for d in devices if d.dev_type is None]


def assume(devices: Sequence[model.Device]) -> tuple[tuple[model.Device, ...], tuple[str, ...]]:
    """The devices with type-PCI for an unknown type that shows no SR-IOV sign, and their addresses.

    A device whose paste shows an SR-IOV capability without its VF counts keeps
    its unknown type: it may be a PF.
    """
    out: list[model.Device] = []
    assumed: list[str] = []
    for dev in devices:
        if dev.dev_type is None and lspcirecords.SRIOV_UNCOUNTED not in dev.warnings:
            out.append(dataclasses.replace(dev, dev_type=model.TYPE_PCI))
            assumed.append(dev.address)
        else:
            out.append(dev)
    return tuple(out), tuple(assumed)


def warning(addresses: Sequence[str]) -> str:
    """The host warning for devices of unknown type (an empty list gives no warning)."""
    shown = ", ".join(addresses[:6]) + (f" and {len(addresses) - 6} more" if len(addresses) > 6 else "")
    return (f"{len(addresses)} device(s) show no type in this paste ({shown}): no SR-IOV capability "
            f"is shown, so matching and the doctor take them as type-PCI; {SETTLE} would settle it")
