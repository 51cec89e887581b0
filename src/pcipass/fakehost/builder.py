"""Write a fake host root in the kernel's real sysfs layout.

The layout copies what the real-kernel captures (``corpus/realkernel``)
show: ``sys/bus/pci/devices/X`` are links into ``sys/devices/pci<dom:bus>/<root
port>/X``; ``driver`` links into ``sys/bus/pci/drivers/<name>``;
``iommu_group`` into ``sys/kernel/iommu_groups/N``; ``physfn``/``virtfnN``
between siblings; and each function has a ``config`` file whose header and
capabilities (PCI Express, SR-IOV for PFs) let ``lspci -O sysfs.path=`` read
it like a real device. VFs' config reads ``ffff`` for vendor/device, as
hardware does.

Planning (addresses, groups, drivers; :mod:`~pcipass.fakehost.plan`) is
separate from writing (:mod:`~pcipass.fakehost.writer`), so tests can compare
what the builder meant with what the readers see.
"""

from __future__ import annotations

import dataclasses
import os
import tarfile
from pathlib import Path

from pcipass.fakehost import profile as profile_mod
from pcipass.fakehost.plan import FakeDevice, plan
from pcipass.fakehost.writer import Writer

@dataclasses.dataclass(frozen=True, slots=True)
class BuiltHost:
    """What :func:`build` wrote: the root directory and every device in it."""

    root: Path
    profile: profile_mod.HostProfile
    devices: tuple[FakeDevice, ...]

    @property
    def hostname(self) -> str:
        return self.profile.hostname

    def by_address(self) -> dict[str, FakeDevice]:
        return {d.address: d for d in self.devices}


# -- writing ------------------------------------------------------------------------------


def build(dest: str | os.PathLike[str], spec: profile_mod.HostProfile | str) -> BuiltHost:
    """Write the host root for ``spec`` (a profile or its text) into the empty dir ``dest``."""
    profile = profile_mod.parse_profile(spec) if isinstance(spec, str) else spec
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    devices = plan(profile)
    Writer(root, profile, devices).write()
    return BuiltHost(root=root, profile=profile, devices=devices)


def pack(built: BuiltHost, tarball: str | os.PathLike[str]) -> Path:
    """Pack a built root as a bundle: ``.tar.gz`` with one top-level dir named after the host."""
    out = Path(tarball)
    with tarfile.open(out, "w:gz") as tar:
        tar.add(built.root, arcname=built.hostname)
    return out


