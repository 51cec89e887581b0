"""Small helpers the checks share (pure)."""

from __future__ import annotations

import shlex

from pcipass.core import model, spec
from pcipass.doctor import model as dm

VFIO = "vfio-pci"
#: Drivers a vfio IOMMU group tolerates besides vfio-pci (no driver is fine too).
GROUP_SAFE_DRIVERS = frozenset({VFIO, "pci-stub", "pcieport"})


def sysfs(address: str, attr: str = "") -> str:
    return f"sys/bus/pci/devices/{address}" + (f"/{attr}" if attr else "")


def sh(value: object) -> str:
    """``value`` as one shell word, for every value a fix's command line carries.

    Operators paste fixes into a root shell, and the values come from input pcipass does not
    control: directory names in a host root, facts.json, lspci pastes, flavor files. Canonical
    addresses, driver names and plain flavor names are left as they are (``shlex.quote`` only
    quotes when needed).
    """
    return shlex.quote(str(value))


def sysfs_path(address: str, attr: str = "") -> str:
    """The absolute sysfs path of a device attribute, as one shell word."""
    return sh("/" + sysfs(address, attr))


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


def slot_of(address: str) -> str:
    return address.rsplit(".", 1)[0]


def drivers_unknown(devices: dm.DeviceFacts) -> str | None:
    """Why the devices' drivers are unknown (a paste without ``-k``), or None when they are known.

    sysfs always shows the ``driver`` link of a bound device; a paste shows "Kernel driver in use"
    only with ``lspci -k``. A paste where no device has a driver is taken as one without it: no
    driver there is unknown, not unbound.
    """
    if devices.source == "sysfs" or any(d.driver is not None for d in devices.devices):
        return None
    return (f"the {devices.source} paste shows no device's driver (no \"Kernel driver in use\" line: "
            "lspci without -k), so which devices are unbound is unknown")
