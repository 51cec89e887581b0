"""Small helpers the checks share (pure)."""

from __future__ import annotations

from pcipass.core import model, spec
from pcipass.doctor import model as dm

VFIO = "vfio-pci"
#: Drivers a vfio IOMMU group tolerates besides vfio-pci (no driver is fine too).
GROUP_SAFE_DRIVERS = frozenset({VFIO, "pci-stub", "pcieport"})


def sysfs(address: str, attr: str = "") -> str:
    return f"sys/bus/pci/devices/{address}" + (f"/{attr}" if attr else "")


def driver_evidence(dev: model.Device) -> dm.Evidence:
    return dm.Evidence(sysfs(dev.address, "driver"), dev.driver or "(no driver bound)")


def claimed(config: dm.ConfigFacts | None, devices: dm.DeviceFacts) -> list[tuple[model.Device, spec.SpecEntry]]:
    """Devices a device_spec entry claims on this host, with the entry (empty without config)."""
    if config is None:
        return []
    out = []
    for dev in devices.devices:
        entry = config.matches.get(dev.address)
        if entry is not None:
            out.append((dev, entry))
    return out


def managed_no(entry: spec.SpecEntry) -> bool:
    return entry.spec.tags.get("managed") == "false"


def is_bridge(dev: model.Device) -> bool:
    """PCI-to-PCI bridges (type 1 header): vfio tolerates them in a group, isolation ends there."""
    return bool(dev.class_code and dev.class_code.startswith(("0604", "0609")))


def slot_of(address: str) -> str:
    return address.rsplit(".", 1)[0]
