"""What a facts.json field may hold: the form the sysfs and kernel readers give each value.

A ``facts.json`` is evidence, not truth (:mod:`~pcipass.adapters.factscache`).
Its records are decoded with these forms (:data:`FORMS`, checked as each field
is read) and then checked as a whole (:func:`validate`): the devices are exactly
the host's bus entries, interfaces and IOMMU groups agree with the devices, NUMA
CPUs lie under the kernel's bound, and the kernel facts parse as stored. A value
the readers could not have produced (``0000:01:00.0;touch${IFS}pwned;#`` as an
address) raises :class:`~pcipass.adapters.jsoncodec.FieldError` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pcipass.adapters import jsoncodec, kernel, sysfs, sysnuma
from pcipass.core import address as address_mod
from pcipass.core import cpuset, model

ADDRESS = address_mod.CANONICAL  # discovery's form, and nothing else
_HEX4 = re.compile(r"[0-9a-f]{4}")
_HEX6 = re.compile(r"[0-9a-f]{6}")
_HEX2 = re.compile(r"[0-9a-f]{2}")
#: Control characters (C0, DEL, C1) and lone surrogates (undecodable bytes of a file name).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: A name the kernel can give a directory entry (a driver, a module, an IOMMU): no ``/``, no NUL,
#: and here neither white space nor control characters (none of the kernel's own names has them).
_ENTRY_NAME = re.compile(r"[^/\s\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,255}")
#: A network interface name as the kernel's ``dev_valid_name`` accepts it (fewer than IFNAMSIZ
#: bytes, no ``/``, ``:`` or white space), without control characters.
_IFNAME = re.compile(r"[^/:\s\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,15}")
_INT_MAX = (1 << 31) - 1
_U16_MAX = (1 << 16) - 1
_TEXT_MAX = 1024
_DEV_TYPES = frozenset(model.DEV_TYPES)


def _form(pattern: re.Pattern[str], what: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v is None or pattern.fullmatch(v) else f"{jsoncodec.show(v)} is not {what}"
    return check


def _ints(lo: int, hi: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v is None or lo <= v <= hi else f"{v} is not in {lo}..{hi}"
    return check


def _text(v: Any) -> str | None:
    if v is None or (len(v) <= _TEXT_MAX and not _CONTROL.search(v)):
        return None
    return f"{jsoncodec.show(v)} has control characters or is over {_TEXT_MAX} characters"


def _ifnames(v: tuple[str, ...]) -> str | None:
    for name in v:
        if name in (".", "..") or not _IFNAME.fullmatch(name) or len(name.encode("utf-8", "surrogatepass")) > 15:
            return f"{jsoncodec.show(name)} is not an interface name the kernel allows"
    return None if len(set(v)) == len(v) else "an interface is listed twice"


def _entry_name(v: Any) -> str | None:
    if v is None or (v not in (".", "..") and _ENTRY_NAME.fullmatch(v)):
        return None
    return f"{jsoncodec.show(v)} is not a name the kernel allows (no /, white space or control characters)"


_ID = _form(_HEX4, "4 lower-case hex digits")
#: The form of each field, as the sysfs reader gives it; checked while the record is decoded.
FORMS: dict[Any, dict[str, Callable[[Any], str | None]]] = {
    model.Device: {
        "address": _form(ADDRESS, "a PCI address (dddd:bb:ss.f, lower case)"),
        "vendor_id": lambda v: None if v == "" else _ID(v),  # "" when sysfs had no vendor file
        "product_id": lambda v: None if v == "" else _ID(v),
        "subsystem_vendor_id": _ID,
        "subsystem_id": _ID,
        "class_code": _form(_HEX6, "6 lower-case hex digits"),
        "revision": _form(_HEX2, "2 lower-case hex digits"),
        "name": _text,
        "dev_type": lambda v: None if v in _DEV_TYPES else f"{jsoncodec.show(v)} is not one of {', '.join(model.DEV_TYPES)}",
        "parent_addr": _form(ADDRESS, "a PCI address (dddd:bb:ss.f, lower case)"),
        "vf_index": _ints(0, _U16_MAX),
        "numa_node": _ints(-1, _INT_MAX),
        "driver": _entry_name,
        "driver_override": _entry_name,
        "iommu_group": _ints(0, _INT_MAX),
        "netdevs": _ifnames,
        "sriov_totalvfs": _ints(0, _U16_MAX),
        "sriov_numvfs": _ints(0, _U16_MAX),
        "sriov_vf_device": _ID,
        "local_cpulist": lambda v: (None if cpuset.parse_kernel_list(v) is not None  # as sysfs keeps it
                                    else f"{jsoncodec.show(v)} is not a CPU list"),
        "card_serial_number": lambda v: "set, but sysfs discovery never reads VPD",
    },
    sysfs.NetDev: {  # names: the device's netdevs, compared whole in _netdevs
        "mac": _form(sysfs.MAC, "a lower-case MAC address"),
        "operstate": _entry_name,
    },
}


def _device_after(kw: dict[str, Any]) -> None:
    """What one field alone cannot tell: a VF names its PF, and only a VF has a PF or an index."""
    where = f" (device {jsoncodec.show(kw['address'])})" if "address" in kw else ""
    is_vf = kw.get("dev_type", model.TYPE_PCI) == model.TYPE_VF
    if is_vf != (kw.get("parent_addr") is not None):
        raise jsoncodec.FieldError("parent_addr", "a VF names its PF, and only a VF does" + where)
    if kw.get("vf_index") is not None and not is_vf:
        raise jsoncodec.FieldError("vf_index", "set on a device that is not a VF" + where)
    if "numa_node" in kw:
        kw["numa_node"] = model.known_numa_node(kw["numa_node"])  # -1: unknown, as sysfs reads it


AFTER: dict[Any, Callable[[dict[str, Any]], None]] = {model.Device: _device_after}

DECODER = jsoncodec.Decoder(FORMS, AFTER)
"""Decodes facts.json records with every field checked against its form."""


def validate(found: sysfs.SysfsScan, topology: sysnuma.NumaTopology, kernel_facts: kernel.KernelFacts,
             entries: list[str]) -> None:
    """Check what the decoder's field forms cannot: the records against the host root's entries,
    and the parts of the facts against each other. :class:`jsoncodec.FieldError` names what is wrong."""
    _device_list(found.devices, entries)
    _netdevs(found)
    groups: dict[int, list[str]] = {}
    for dev in found.devices:
        if dev.iommu_group is not None:
            groups.setdefault(dev.iommu_group, []).append(dev.address)
    if {g: tuple(sorted(m)) for g, m in groups.items()} != dict(found.iommu_groups):
        raise jsoncodec.FieldError("sysfs.iommu_groups", "does not agree with the devices' iommu_group fields")
    _numa(topology)
    _kernel(kernel_facts)


def _device_list(devices: tuple[model.Device, ...], entries: list[str]) -> None:
    """The records are the entries of sys/bus/pci/devices that are PCI addresses, in order."""
    present = set(entries)
    for i, dev in enumerate(devices):
        if dev.address not in present:
            raise jsoncodec.FieldError(f"sysfs.devices[{i}] ({dev.address})",
                       f"not an entry of {sysfs.DEVICES_DIR}: the host has no such device")
    expected = [e for e in entries if ADDRESS.fullmatch(e)]
    addresses = [d.address for d in devices]
    if addresses != expected:
        left_out = sorted(set(expected) - set(addresses))
        why = (f"no record of {left_out[0]}, an entry of {sysfs.DEVICES_DIR}" if left_out
               else "records repeated or out of order")
        raise jsoncodec.FieldError("sysfs.devices", why)


def _netdevs(found: sysfs.SysfsScan) -> None:
    names = {d.address: d.netdevs for d in found.devices if d.netdevs}
    if set(found.netdevs) != set(names):
        raise jsoncodec.FieldError("sysfs.netdevs", "its devices are not those whose netdevs are listed")
    for address, netdevs in found.netdevs.items():
        if tuple(n.name for n in netdevs) != names[address]:
            raise jsoncodec.FieldError(f"sysfs.netdevs[{address!r}]", "the names differ from the device's netdevs")


def _numa(topo: sysnuma.NumaTopology) -> None:
    ids = [c.id for c in topo.cells]
    if ids != sorted(set(ids)):
        raise jsoncodec.FieldError("numa.cells", "cell ids repeated or out of order")
    for i, cell in enumerate(topo.cells):
        where = f"numa.cells[{i}]"
        for field, values in (("id", (cell.id,)), ("cpus", cell.cpus), ("sockets", cell.sockets),
                              ("memory_kb", () if cell.memory_kb is None else (cell.memory_kb,))):
            if any(v < 0 for v in values):
                raise jsoncodec.FieldError(f"{where}.{field}", "negative")
        for field, values in (("cpus", cell.cpus), ("sockets", cell.sockets)):
            if list(values) != sorted(set(values)):
                raise jsoncodec.FieldError(f"{where}.{field}", "repeated or out of order")
        if cell.cpus and cell.cpus[-1] >= cpuset.MAX_CPUS:  # the sysfs reader's own bound
            raise jsoncodec.FieldError(f"{where}.cpus", f"a CPU beyond the {cpuset.MAX_CPUS:,} a kernel can have")
    if any(k < 0 or v < 0 for k, v in topo.cpu_sockets.items()):
        raise jsoncodec.FieldError("numa.cpu_sockets", "a negative CPU or socket number")
    if any(k >= cpuset.MAX_CPUS for k in topo.cpu_sockets):
        raise jsoncodec.FieldError("numa.cpu_sockets", f"a CPU beyond the {cpuset.MAX_CPUS:,} a kernel can have")


_KERNEL_ENUMS: dict[str, tuple[Any, ...]] = {
    "vfio_pci": ("module", "builtin", "absent", None),
    "dmesg_source": ("cmd/dmesg.txt", "dmesg", None),
}


def _kernel(k: kernel.KernelFacts) -> None:
    for field, allowed in _KERNEL_ENUMS.items():
        if getattr(k, field) not in allowed:
            raise jsoncodec.FieldError(f"kernel.{field}", f"{jsoncodec.show(getattr(k, field))} is not one of "
                                          f"{', '.join(jsoncodec.show(a) for a in allowed)}")
    if not set(k.acpi_tables) <= {"DMAR", "IVRS"}:
        raise jsoncodec.FieldError("kernel.acpi_tables", "only DMAR and IVRS are read")
    if k.iommu_groups < 0 or k.dmesg_group_additions < 0:
        raise jsoncodec.FieldError("kernel", "a negative count")
    why = _text(k.release)
    if why is not None:
        raise jsoncodec.FieldError("kernel.release", why)
    for field in ("iommu_devices", "modules"):
        for name in getattr(k, field):
            why = _entry_name(name)
            if why is not None:
                raise jsoncodec.FieldError(f"kernel.{field}", why)
    if not k.sysfs:
        raise jsoncodec.FieldError("kernel.sysfs", "facts.json holds a sysfs read")
    for kind, count in k.iommu_group_types:
        if not re.fullmatch(r"[A-Za-z][A-Za-z-]{0,15}", kind) or count < 0:
            raise jsoncodec.FieldError("kernel.iommu_group_types", f"{jsoncodec.show(kind)} is not a "
                                       "group type with a count")
    if k.cmdline is not None and kernel.parse_cmdline(k.cmdline.raw) != k.cmdline:
        raise jsoncodec.FieldError("kernel.cmdline", "its fields are not what its raw text parses to")
