"""Read a host's PCI devices from sysfs, as Nova's libvirt driver sees them.

Every ``sys/bus/pci/devices/*`` entry becomes one :class:`~pcipass.core.model.Device`
with what could be read; whatever was missing, unreadable or odd is a warning
on that device naming the file. ``dev_type`` follows libvirt and Nova
(``nova/virt/libvirt/host.py`` ``_get_device_type``): libvirt lists a
``phys_function`` capability first, so a device with a ``physfn`` link is a
VF; a device with SR-IOV (``sriov_totalvfs`` > 0, or ``virtfnN`` links) is a
PF; anything else is ``type-PCI``.

Speed matters (a host can have a thousand VFs): each device directory is
opened once and its attributes read relative to it. The NUMA topology is
:mod:`~pcipass.adapters.sysnuma`; the attribute parsers :mod:`~pcipass.adapters.sysattrs`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from pcipass.adapters import hostroot, pciids, sysattrs
from pcipass.core import address as address_mod
from pcipass.core import model

DEVICES_DIR = "sys/bus/pci/devices"
_VIRTFN = re.compile(r"^virtfn(\d+)$")
#: A netdev's hardware address as discovery writes it (lower case, 6 to 20 octets: InfiniBand's
#: are 20); the facts cache checks a saved one against the same form.
MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5,19}")
_DEFAULT: Any = object()


@dataclasses.dataclass(frozen=True, slots=True)
class NetDev:
    """A network interface of a PCI function (``net/<name>``)."""

    name: str
    mac: str | None = None
    operstate: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SysfsScan:
    """All PCI functions of a host root, plus what sysfs says around them.

    :ivar devices: sorted by address.
    :ivar netdevs: address -> its interfaces with MAC and operstate.
    :ivar iommu_groups: group number -> member addresses (sorted).
    :ivar warnings: host-level problems (odd entries in ``sys/bus/pci/devices``).
    """

    devices: tuple[model.Device, ...]
    netdevs: Mapping[str, tuple[NetDev, ...]]
    iommu_groups: Mapping[int, tuple[str, ...]]
    warnings: tuple[str, ...] = ()

    def by_address(self) -> dict[str, model.Device]:
        return {dev.address: dev for dev in self.devices}

    def host_facts(self) -> model.HostFacts:
        """The facts Nova's device_spec parser probes sysfs for."""
        return model.HostFacts.from_devices(self.devices)


# -- devices ------------------------------------------------------------------------------


def read_devices(root: hostroot.HostRoot, *, pci_ids: pciids.PciIds | None = _DEFAULT) -> SysfsScan:
    """Read every ``sys/bus/pci/devices/*`` entry of ``root``.

    :param pci_ids: names source; by default the root's own pci.ids, else
        this machine's; ``None`` for no names.
    """
    if pci_ids is _DEFAULT:
        pci_ids = pciids.PciIds.find(root)
    host_warnings: list[str] = []
    raw: list[_Raw] = []
    with root.opendir(DEVICES_DIR, host_warnings) as bus:
        for name in sorted(bus.names):
            if not address_mod.CANONICAL.fullmatch(name):
                host_warnings.append(f"{DEVICES_DIR}/{name}: not a PCI address (dddd:bb:ss.f); ignored")
                continue
            raw.append(_read_one(bus, name))
    vf_index = {vf: idx for r in raw for vf, idx in r.virtfns.items()}
    _check_family_links(raw)
    devices = tuple(r.to_device(vf_index.get(r.address), pci_ids) for r in raw)
    groups: dict[int, list[str]] = {}
    for dev in devices:
        if dev.iommu_group is not None:
            groups.setdefault(dev.iommu_group, []).append(dev.address)
    return SysfsScan(
        devices=devices,
        netdevs={r.address: tuple(r.netdevs) for r in raw if r.netdevs},
        iommu_groups={g: tuple(sorted(m)) for g, m in sorted(groups.items())},
        warnings=tuple(host_warnings),
    )


def _check_family_links(raw: list[_Raw]) -> None:
    """physfn/virtfnN that name a device missing from sys/bus/pci/devices are reported."""
    present = {r.address for r in raw}
    for r in raw:
        if r.physfn is not None and r.physfn not in present:
            r.warnings.append(f"{r.rel}/physfn: points to {r.physfn}, which is not in {DEVICES_DIR}")
        for vf, index in sorted(r.virtfns.items()):
            if vf not in present:
                r.warnings.append(f"{r.rel}/virtfn{index}: points to {vf}, which is not in {DEVICES_DIR}")


@dataclasses.dataclass
class _Raw:
    """Mutable scratch record for one device while its files are read."""

    address: str
    rel: str
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    virtfns: dict[str, int] = dataclasses.field(default_factory=dict)
    netdevs: list[NetDev] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    physfn: str | None = None

    def to_device(self, vf_index: int | None, pci_ids: pciids.PciIds | None) -> model.Device:
        f = self.fields
        vendor, product = f.get("vendor_id") or "", f.get("product_id") or ""
        if self.physfn is not None:
            dev_type, parent = model.TYPE_VF, self.physfn
        elif (f.get("sriov_totalvfs") or 0) > 0 or self.virtfns:
            dev_type, parent = model.TYPE_PF, None
        else:
            dev_type, parent = model.TYPE_PCI, None
        name = pci_ids.describe(vendor, product) if pci_ids and vendor and product else None
        return model.Device(
            address=self.address, vendor_id=vendor, product_id=product,
            subsystem_vendor_id=f.get("subsystem_vendor_id"), subsystem_id=f.get("subsystem_id"),
            class_code=f.get("class_code"), revision=f.get("revision"), name=name,
            dev_type=dev_type, parent_addr=parent,
            vf_index=vf_index if dev_type == model.TYPE_VF else None,
            numa_node=f.get("numa_node"), driver=f.get("driver"),
            driver_override=f.get("driver_override"), iommu_group=f.get("iommu_group"),
            netdevs=tuple(n.name for n in self.netdevs),
            sriov_totalvfs=f.get("sriov_totalvfs"), sriov_numvfs=f.get("sriov_numvfs"),
            sriov_vf_device=f.get("sriov_vf_device"),
            sriov_drivers_autoprobe=f.get("sriov_drivers_autoprobe"),
            local_cpulist=f.get("local_cpulist"), warnings=tuple(self.warnings),
        )


_REQUIRED = ("vendor", "device", "class")
_SRIOV_MORE = ("sriov_numvfs", "sriov_drivers_autoprobe", "sriov_vf_device")
_UEVENT_IDS = re.compile(r"^([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})$")
_UEVENT_CLASS = re.compile(r"[0-9A-Fa-f]{1,6}")
_PRINTABLE = re.compile(r"[\x21-\x7e]+")


def _read_one(bus: hostroot.DirHandle, name: str) -> _Raw:
    """Read one device directory: probe files directly rather than listing the directory
    (a listing costs more than the few failed opens it would save)."""
    rel = f"{DEVICES_DIR}/{name}"
    raw = _Raw(address=name, rel=rel)
    with bus.subdir(name, link=True, warnings=raw.warnings) as handle:
        if not handle.is_open:
            if not raw.warnings:
                raw.warnings.append(f"{rel}: broken link; device attributes unreadable")
            return raw
        from_uevent = _read_uevent(handle, raw)
        raw.physfn = _link_address(handle, raw, "physfn")
        sriov = False
        for attr, field, parse in sysattrs.ATTR_LIST:
            if field in from_uevent or (not sriov and attr in _SRIOV_MORE):
                continue
            if attr == "sriov_totalvfs" and raw.physfn is not None:
                continue  # a VF has no SR-IOV capability of its own
            present = _read_attr(handle, raw, attr, field, parse)
            if attr == "sriov_totalvfs":
                sriov = present
        _fill_from_config(handle, raw)
        if "numa_node" in raw.fields:
            raw.fields["numa_node"] = model.known_numa_node(raw.fields["numa_node"])
        if raw.fields.get("driver_override") in ("(null)", ""):
            raw.fields["driver_override"] = None
        _read_links(handle, raw, sriov)
        _read_netdevs(handle, raw)
    return raw


def _read_uevent(handle: hostroot.DirHandle, raw: _Raw) -> set[str]:
    """Take IDs, class and driver from ``uevent`` (one read instead of six).

    The kernel writes ``PCI_ID``, ``PCI_SUBSYS_ID``, ``PCI_CLASS`` and
    ``DRIVER`` from the same fields as the separate attribute files and the
    ``driver`` link; any line that is missing or odd is read from those instead.
    """
    text = handle.read_text("uevent")
    got: set[str] = set()
    if not text:
        if text == "":
            raw.warnings.append(f"{raw.rel}/uevent: empty")
        return got
    values = dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)
    ids = _UEVENT_IDS.match(values.get("PCI_ID", ""))
    if ids:
        raw.fields["vendor_id"], raw.fields["product_id"] = ids.group(1).lower(), ids.group(2).lower()
        got |= {"vendor_id", "product_id"}
    sub = _UEVENT_IDS.match(values.get("PCI_SUBSYS_ID", ""))
    if sub:
        raw.fields["subsystem_vendor_id"], raw.fields["subsystem_id"] = sub.group(1).lower(), sub.group(2).lower()
        got |= {"subsystem_vendor_id", "subsystem_id"}
    cls = values.get("PCI_CLASS", "")
    if _UEVENT_CLASS.fullmatch(cls):
        raw.fields["class_code"] = cls.lower().zfill(6)
        got.add("class_code")
    driver = values.get("DRIVER")
    if driver and _PRINTABLE.fullmatch(driver):
        raw.fields["driver"] = driver
        got.add("driver")
    return got


def _read_attr(handle: hostroot.DirHandle, raw: _Raw, attr: str, field: str, parse: Any) -> bool:
    """Read one attribute into ``raw``; return whether the file exists."""
    before = len(raw.warnings)
    text = handle.read_text(attr)
    if text is None:
        exists = len(raw.warnings) != before  # unreadable, not missing
        if not exists and attr in _REQUIRED:
            raw.warnings.append(f"{raw.rel}/{attr}: missing")
        return exists
    value = parse(text)
    if value is None:
        raw.warnings.append(f"{raw.rel}/{attr}: unexpected content {text[:40]!r}; ignored")
    else:
        raw.fields[field] = value
    return True


def _fill_from_config(handle: hostroot.DirHandle, raw: _Raw) -> None:
    """Take IDs the attribute files could not give from the first 64 bytes of ``config``."""
    missing = [f for f in ("vendor_id", "product_id", "class_code", "revision") if f not in raw.fields]
    if not missing:
        return
    data = handle.read_bytes("config", limit=64)
    if data is None or len(data) < 12:
        return
    vendor = int.from_bytes(data[0:2], "little")
    if vendor == 0xFFFF:
        return  # VFs read as ffff: config cannot help
    values = {
        "vendor_id": f"{vendor:04x}",
        "product_id": f"{int.from_bytes(data[2:4], 'little'):04x}",
        "revision": f"{data[8]:02x}",
        "class_code": f"{int.from_bytes(data[9:12], 'little'):06x}",
    }
    for field in missing:
        raw.fields[field] = values[field]
        raw.warnings.append(f"{raw.rel}/config: {field} taken from config space")


def _read_links(handle: hostroot.DirHandle, raw: _Raw, sriov: bool) -> None:
    if "driver" not in raw.fields:
        raw.fields["driver"] = handle.link_name("driver")
    group = handle.link_name("iommu_group")
    if group is not None:
        if group.isdigit():
            raw.fields["iommu_group"] = int(group)
        else:
            raw.warnings.append(f"{raw.rel}/iommu_group: link to {group!r} is not a group number")
    if not sriov:
        return
    for entry_name in sorted(handle.names):
        if entry_name.startswith("virtfn"):
            m = _VIRTFN.match(entry_name)
            if m:
                vf = _link_address(handle, raw, entry_name)
                if vf is not None:
                    raw.virtfns[vf] = int(m.group(1))


def _link_address(handle: hostroot.DirHandle, raw: _Raw, link: str) -> str | None:
    target = handle.link_name(link)
    if target is None:
        return None
    if address_mod.CANONICAL.fullmatch(target):
        return target
    addr = address_mod.PciAddress.try_parse(target)
    if addr is None:
        raw.warnings.append(f"{raw.rel}/{link}: link to {target!r} is not a PCI address")
        return None
    return str(addr)


def _read_netdevs(device: hostroot.DirHandle, raw: _Raw) -> None:
    ifnames = device.nested_real_subdirs("net")
    if ifnames is not None:  # the common case: a real net/ directory, read through the device
        for ifname in ifnames:
            _read_netdev(device, f"net/{ifname}", ifname, raw)
        return
    with device.subdir("net") as net:  # a link or odd entry: resolved and reported by hand
        if not net.is_open:
            return
        for ifname in net.real_subdirs():
            _read_netdev(net, ifname, ifname, raw)


def _read_netdev(handle: hostroot.DirHandle, path: str, ifname: str, raw: _Raw) -> None:
    text = handle.read_text(f"{path}/address")
    mac = text.lower() if text else None
    if text is not None and not (mac and MAC.fullmatch(mac)):
        raw.warnings.append(f"{handle.rel}/{path}/address: unexpected content {text[:40]!r}; ignored")
        mac = None
    state = handle.read_text(f"{path}/operstate")
    raw.netdevs.append(NetDev(ifname, mac, state or None))


