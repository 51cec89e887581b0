"""The doctor's own reads of a host root: the default route, the root disk, boot-time files.

The scan reads devices, NUMA and kernel facts; these three facts only the
doctor needs. Each reader takes an open :class:`hostroot.HostRoot` (all reads
go through its jail) and returns the fact's record, or raises
:class:`model.FactMissing` naming what is not there, or
:class:`hostroot.HostRootInvalid` for a file no kernel wrote (the run stops, exit 2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pcipass.adapters import hostroot
from pcipass.core import address as address_mod
from pcipass.doctor import model

PERSISTENCE_DIRS = ("etc/udev/rules.d", "etc/modprobe.d", "etc/driverctl.d", "etc/systemd/system",
                    "etc/sysfs.d", "etc/modules-load.d")
PERSISTENCE_FILES = ("etc/sysfs.conf", "etc/rc.local")
PERSISTENCE_WORDS = re.compile(r"sriov_numvfs|vfio|driver_override|driverctl|pcipass|sriov")
MAX_PERSISTENCE_FILES = 500
_PCI_IN_PATH = address_mod.CANONICAL  # a device address as sysfs names its directory


def read_route(root: hostroot.HostRoot) -> model.RouteFacts:
    """Interfaces of the default routes in ``proc/net/route``."""
    lines = _lines(root, "default_route", "proc/net/route")
    return model.RouteFacts("proc/net/route", parse_route(lines))


def read_root_disk(root: hostroot.HostRoot) -> model.RootDiskFacts:
    """The block device mounted at ``/`` and the PCI address of its controller.

    :raises hostroot.HostRootInvalid: the ``/`` line's device climbs with ``.`` or ``..``.
    """
    lines = _lines(root, "root_disk", "proc/mounts")
    found = root_mount(lines)
    if found is None:
        raise model.FactMissing("root_disk", "proc/mounts has no / mount")
    line_no, device = found
    if {".", ".."} & set(device.split("/")[1:]):
        # The kernel prints canonical paths; a device that climbs ("/dev/mapper/../../etc")
        # would lead the reads below out of /dev, and out of the root: the file is not a
        # mount table the kernel wrote, so the input is invalid (issue 9 point 2: exit 2).
        raise hostroot.HostRootInvalid(
            path=root.source, reason=f"proc/mounts line {line_no}: the device {device!r} "
                                     "climbs with '.' or '..' (the kernel prints canonical paths)")
    block, path, address = _block_address(root, device)
    return model.RootDiskFacts("proc/mounts", line_no, lines[line_no - 1], block, path, address)


def read_persistence(root: hostroot.HostRoot, vfio_pci_ids: Sequence[str]) -> model.PersistenceFacts:
    """Boot-time files that mention VFs or driver bindings, with the kernel's ``vfio-pci.ids``."""
    collector = str((root.manifest or {}).get("collector", "")).split(" ")[0]
    dirs = [d for d in PERSISTENCE_DIRS if root.exists(d, [])]
    files = [f for f in PERSISTENCE_FILES if root.exists(f, [])]
    if not (root.live or collector in ("pcipass", "pcipass-sh") or dirs or files):
        raise model.FactMissing("persistence", "the host root has no collected etc/ boot files "
                                "(udev, modprobe.d, driverctl.d, systemd)")
    out: list[tuple[str, str]] = []
    for rel in [*files, *(p for d in dirs for p in root.iter_files(d, []))][:MAX_PERSISTENCE_FILES]:
        data = root.read_bytes(rel, [], limit=1 << 16)
        text = data.decode("utf-8", "replace") if data is not None else ""
        if PERSISTENCE_WORDS.search(text):
            out.append((rel, text))
    complete = root.live or collector in ("pcipass", "pcipass-sh")
    return model.PersistenceFacts(tuple(out), tuple(vfio_pci_ids), None if complete else (*dirs, *files))


def _lines(root: hostroot.HostRoot, fact: str, rel: str) -> list[str]:
    data = root.read_bytes(rel, [], limit=1 << 20)
    if data is None:
        raise model.FactMissing(fact, f"{rel} is not in the host root")
    return data.decode("utf-8", "replace").splitlines()


def _block_address(root: hostroot.HostRoot, device: str) -> tuple[str, str, str | None]:
    name = device.rsplit("/", 1)[-1]
    if device.startswith("/dev/mapper/") or device.startswith("/dev/disk/"):
        target = root.readlink(device.lstrip("/"), [])
        name = target.rsplit("/", 1)[-1] if target else name
    if name in ("", ".", ".."):
        raise model.FactMissing("root_disk", f"{device} names no block device")
    rel = f"sys/class/block/{name}"
    for _ in range(4):  # dm/md: follow the first slave down to a disk
        slaves = root.listdir(f"{rel}/slaves", [])
        if not slaves:
            break
        rel = f"sys/class/block/{sorted(slaves)[0]}"
    real = root.resolve(rel, [])
    if real is None:
        return name, rel, None
    inside = real[len(root.path):]
    found = _PCI_IN_PATH.findall(inside)
    return name, "sys" + inside.split("/sys", 1)[-1] if "/sys" in inside else inside, (
        found[-1] if found else None)


def parse_route(lines: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """Interfaces of default routes (destination and mask 0) with their 1-based line."""
    out = []
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if n == 1 or len(parts) < 8:
            continue
        if parts[1] == "00000000" and parts[7] == "00000000" and parts[0] not in ("lo", "*"):
            out.append((parts[0], n))
    return tuple(out)


def root_mount(lines: Sequence[str]) -> tuple[int, str] | None:
    """The last ``/`` mount of a block device: (1-based line, device)."""
    found = None
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "/" and parts[0].startswith("/dev/"):
            found = (n, parts[0])
    return found
