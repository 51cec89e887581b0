"""Our sysfs reader agrees with Debian's pciutils on address, IDs and driver.

For fake trees and the two real-kernel captures, ``lspci -nnk -O
sysfs.path=ROOT/sys/bus/pci`` reads the same tree; for the captures, the
``cmd/lspci-nnk.txt`` the lab VM printed is a second, independent witness.
pciutils is installed when missing (as root); in CI a missing lspci fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcipass import fakehost
from pcipass.adapters import hostroot, lspci, roots, sysfs
from support import skip_unless_ci, unpack_trusted

FAKE_PROFILES = ["mixed", "e810-sriov", "cx5-sriov", "qat-sriov", "no-iommu", "amd-epyc",
                 "2x intel-82599 numa=0 vfs=63; 1x intel-i350 numa=1 vfs=7 driver=vfio-pci; "
                 "1x nvidia-v100 numa=1 driver=none; cmdline=intel_iommu=on"]


@pytest.fixture(scope="session")
def lspci_bin() -> str:
    found = shutil.which("lspci") or ("/usr/bin/lspci" if os.path.exists("/usr/bin/lspci") else None)
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "pciutils"], check=False, env=env,
                       capture_output=True)
        found = shutil.which("lspci")
    if found is None:
        skip_unless_ci("lspci (make test installs pciutils)")
    return found


def run_lspci(binary: str, root: str) -> str:
    done = subprocess.run([binary, "-nnk", "-O", f"sysfs.path={root}/sys/bus/pci"],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def triples(devices: object) -> dict[str, tuple[str, str, str | None]]:
    return {d.address: (d.vendor_id, d.product_id, d.driver) for d in devices}  # type: ignore[attr-defined]


@pytest.fixture(scope="module", params=["lab-iommu", "lab-noiommu"])
def capture(request: pytest.FixtureRequest, shared: Path) -> Iterator[hostroot.HostRoot]:
    """The bundle as pcipass reads it: in memory, never unpacked."""
    with roots.open_root(shared / "corpus/realkernel" / f"{request.param}.tar.gz") as root:
        yield root


@pytest.fixture(scope="module")
def unpacked(capture: hostroot.HostRoot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same bundle unpacked by the test, for lspci, which reads a directory."""
    dest = tmp_path_factory.mktemp("capture")
    unpack_trusted(capture.source, dest)
    return dest / capture.name


def test_captures_agree_with_lspci_on_the_same_tree(capture: hostroot.HostRoot, unpacked: Path,
                                                    lspci_bin: str) -> None:
    ours = sysfs.read_devices(capture, pci_ids=None)
    theirs = lspci.parse(run_lspci(lspci_bin, str(unpacked)), source="lspci")
    assert theirs.problems == ()
    assert triples(theirs.devices) == triples(ours.devices)
    assert len(ours.devices) == 14


def test_captures_agree_with_the_lspci_the_vm_printed(capture: hostroot.HostRoot) -> None:
    ours = sysfs.read_devices(capture, pci_ids=None)
    text = capture.read_text("cmd/lspci-nnk.txt", limit=1 << 20)
    assert text is not None
    printed = lspci.parse(text, source="cmd/lspci-nnk.txt")
    assert triples(printed.devices) == triples(ours.devices)
    subsystems = {d.address: (d.subsystem_vendor_id, d.subsystem_id) for d in printed.devices}
    assert subsystems == {d.address: (d.subsystem_vendor_id, d.subsystem_id) for d in ours.devices}


@pytest.mark.parametrize("profile", FAKE_PROFILES)
def test_fake_trees_agree_with_lspci(tmp_path: Path, lspci_bin: str, profile: str) -> None:
    built = fakehost.build(tmp_path / "h", fakehost.PROFILES.get(profile, profile))
    with roots.open_root(built.root) as root:
        ours = sysfs.read_devices(root, pci_ids=None)
    theirs = lspci.parse(run_lspci(lspci_bin, str(built.root)), source="lspci")
    assert theirs.problems == ()
    assert triples(theirs.devices) == triples(ours.devices)
    assert len(ours.devices) == len(built.devices)
    revisions = {d.address: d.revision for d in theirs.devices}
    assert revisions == {d.address: d.revision for d in ours.devices}


def test_fake_pf_sriov_capability_as_lspci_decodes_it(tmp_path: Path, lspci_bin: str) -> None:
    built = fakehost.build(tmp_path / "h", "1x intel-e810 numa=1 vfs=4; numa-nodes=2; "
                                          "cmdline=intel_iommu=on")
    out = subprocess.run([lspci_bin, "-nnvvv", "-O", f"sysfs.path={built.root}/sys/bus/pci"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    devs = lspci.parse(out, source="lspci -nnvvv").by_address()
    pf = devs["0000:81:00.0"]
    assert (pf.dev_type, pf.sriov_totalvfs, pf.sriov_numvfs, pf.sriov_vf_device) == ("type-PF", 128, 4, "1889")
    assert (pf.numa_node, pf.iommu_group, pf.class_code) == (1, 1, "020000")
    assert devs["0000:81:01.3"].product_id == "1889"
