"""The sysfs reader on the real-kernel captures, on fake hosts and on the live root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import skip_unless_ci

from pcipass import fakehost
from pcipass.adapters import pciids, roots, sysfs, sysnuma
from pcipass.core import cpuset, model

PF, VFS = "0000:81:00.0", [f"0000:81:00.{i}" for i in range(1, 5)]


@pytest.fixture(scope="module", params=["lab-iommu", "lab-noiommu"])
def capture(request: pytest.FixtureRequest, shared: Path) -> Iterator[tuple[str, sysfs.SysfsScan]]:
    with roots.open_root(shared / "corpus/realkernel" / f"{request.param}.tar.gz") as root:
        yield request.param, sysfs.read_devices(root)


def test_capture_pf_and_vfs(capture: tuple[str, sysfs.SysfsScan]) -> None:
    name, scan = capture
    devs = scan.by_address()
    assert len(scan.devices) == 14 and scan.warnings == ()
    pf = devs[PF]
    assert (pf.vendor_id, pf.product_id, pf.class_code, pf.revision) == ("1b36", "0010", "010802", "02")
    assert (pf.subsystem_vendor_id, pf.subsystem_id) == ("1af4", "1100")
    assert pf.dev_type == model.TYPE_PF and pf.parent_addr is None
    assert (pf.sriov_totalvfs, pf.sriov_numvfs, pf.sriov_vf_device, pf.sriov_drivers_autoprobe) == (
        8, 4, "0010", False)
    assert pf.driver == "nvme" and pf.numa_node == 1 and pf.local_cpulist == "1"
    for index, addr in enumerate(VFS):
        vf = devs[addr]
        assert (vf.dev_type, vf.parent_addr, vf.vf_index, vf.numa_node) == (
            model.TYPE_VF, PF, index, 1)
        assert (vf.vendor_id, vf.product_id) == ("1b36", "0010")  # same product ID as the PF
        assert vf.sriov_totalvfs is None and vf.warnings == ()
    assert devs[VFS[0]].driver_override == "vfio-pci"
    assert devs[VFS[1]].driver == "nvme" and devs[VFS[1]].driver_override == "nvme"
    assert devs[VFS[2]].driver is None and devs[VFS[2]].driver_override is None
    if name == "lab-iommu":
        assert devs[VFS[0]].driver == "vfio-pci"
    else:
        assert devs[VFS[0]].driver is None  # vfio-pci refused to bind without an IOMMU


def test_capture_iommu_groups(capture: tuple[str, sysfs.SysfsScan]) -> None:
    name, scan = capture
    devs = scan.by_address()
    if name == "lab-iommu":
        assert [devs[a].iommu_group for a in [PF, *VFS]] == [5, 8, 9, 10, 11]
        assert scan.iommu_groups[3] == ("0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3")
        assert not any(VFS[0] in members for members in scan.iommu_groups.values() if len(members) > 1)
        assert len(scan.iommu_groups) == 12
    else:
        assert all(d.iommu_group is None for d in scan.devices)
        assert scan.iommu_groups == {}


def test_capture_numa_unknown_is_none_and_names_come_from_pci_ids(
        capture: tuple[str, sysfs.SysfsScan]) -> None:
    _, scan = capture
    devs = scan.by_address()
    assert devs["0000:00:1f.2"].numa_node is None  # sysfs -1
    assert devs["0000:41:00.0"].numa_node == 0
    if pciids.PciIds.system() is not None:
        assert devs[PF].name == "Red Hat, Inc. QEMU NVM Express Controller"
        assert devs["0000:41:00.0"].name == "Red Hat, Inc. Virtio 1.0 network device"


def test_capture_numa_topology(shared: Path) -> None:
    with roots.open_root(shared / "corpus/realkernel/lab-iommu.tar.gz") as root:
        topo = sysnuma.read_numa(root)
    assert [(c.id, c.cpus, c.sockets) for c in topo.cells] == [(0, (0,), (0,)), (1, (1,), (1,))]
    assert [c.memory_kb for c in topo.cells] == [256592, 225016]
    assert topo.sockets == (0, 1) and topo.warnings == ()


def test_host_facts_from_capture(capture: tuple[str, sysfs.SysfsScan]) -> None:
    _, scan = capture
    facts = scan.host_facts()
    assert list(facts.pfs) == [PF]
    assert facts.pfs[PF].vf_product_id == "0010" and facts.pfs[PF].sriov_totalvfs == 8


# -- fake hosts: what the builder wrote is what the reader sees ------------------------------


@pytest.mark.parametrize("profile", sorted(set(fakehost.PROFILES) - {"bench-8x128"}))
def test_reader_agrees_with_the_builder(tmp_path: Path, profile: str) -> None:
    built = fakehost.build(tmp_path / "h", fakehost.PROFILES[profile])
    with roots.open_root(built.root) as root:
        scan = sysfs.read_devices(root, pci_ids=None)
        assert root.name == built.hostname
    assert [d.address for d in scan.devices] == sorted(d.address for d in built.devices)
    read = scan.by_address()
    for want in built.devices:
        got = read[want.address]
        assert got.warnings == ()
        assert (got.vendor_id, got.product_id, got.class_code, got.revision) == (
            want.vendor_id, want.product_id, want.class_code, want.revision)
        assert (got.subsystem_vendor_id, got.subsystem_id) == (want.subsystem_vendor_id, want.subsystem_id)
        assert (got.dev_type, got.parent_addr, got.vf_index) == (want.dev_type, want.parent_addr, want.vf_index)
        assert (got.numa_node, got.local_cpulist) == (want.numa_node, want.local_cpulist)
        assert (got.driver, got.driver_override, got.iommu_group) == (
            want.driver, want.driver_override, want.iommu_group)
        assert (got.sriov_totalvfs, got.sriov_numvfs, got.sriov_vf_device, got.sriov_drivers_autoprobe) == (
            want.sriov_totalvfs, want.sriov_numvfs, want.sriov_vf_device, want.sriov_drivers_autoprobe)
        assert got.netdevs == tuple(n for n, _ in want.netdevs)
        assert [(n.name, n.mac) for n in scan.netdevs.get(want.address, ())] == list(want.netdevs)


def test_netdev_records_carry_mac_and_operstate(tmp_path: Path) -> None:
    built = fakehost.build(tmp_path / "h", "1x intel-x710 numa=0 vfs=2; cmdline=intel_iommu=on")
    with roots.open_root(built.root) as root:
        scan = sysfs.read_devices(root, pci_ids=None)
    pf = next(d for d in built.devices if d.dev_type == model.TYPE_PF)
    assert scan.netdevs[pf.address] == (sysfs.NetDev("enp1s0f0", "02:00:00:01:00:00", "up"),)
    vf = next(d for d in built.devices if d.vf_index == 1)
    assert scan.netdevs[vf.address] == (sysfs.NetDev("enp1s0f0v1", vf.netdevs[0][1], "down"),)
    assert scan.host_facts().address_of_netdev("enp1s0f0") == pf.address


def test_dev_type_rules_follow_nova(tmp_path: Path) -> None:
    """physfn -> VF; sriov_totalvfs > 0 -> PF; sriov_totalvfs 0 (SR-IOV off in firmware) -> PCI."""
    built = fakehost.build(tmp_path / "h", "1x mlx-cx5 numa=0 totalvfs=0; 1x mlx-cx5 numa=0 vfs=1")
    with roots.open_root(built.root) as root:
        devs = sysfs.read_devices(root, pci_ids=None).by_address()
    assert devs["0000:01:00.0"].dev_type == model.TYPE_PCI
    assert devs["0000:01:00.0"].sriov_totalvfs == 0
    assert devs["0000:02:00.0"].dev_type == model.TYPE_PF
    assert devs["0000:02:00.2"].dev_type == model.TYPE_VF


def test_unbound_pf_with_vfs_but_without_sriov_totalvfs_is_still_a_pf(tmp_path: Path) -> None:
    built = fakehost.build(tmp_path / "h", "1x intel-e810 numa=0 vfs=2")
    pf = built.root / built.by_address()["0000:01:00.0"].sysfs_path
    (pf / "sriov_totalvfs").unlink()
    with roots.open_root(built.root) as root:
        dev = sysfs.read_devices(root, pci_ids=None).by_address()["0000:01:00.0"]
    # without sriov_totalvfs the reader does not look for virtfn links: type-PCI, as libvirt
    # sees a device whose SR-IOV files are gone
    assert dev.sriov_totalvfs is None and dev.dev_type == model.TYPE_PCI


def test_numa_topology_of_a_fake_host(tmp_path: Path) -> None:
    built = fakehost.build(tmp_path / "h", "1x nvidia-t4 numa=1; numa-nodes=2; cpus-per-node=8; "
                                          "mem-per-node=2048")
    with roots.open_root(built.root) as root:
        topo = sysnuma.read_numa(root)
    assert [(c.id, c.cpus, c.memory_kb, c.sockets) for c in topo.cells] == [
        (0, tuple(range(8)), 2048 * 1024, (0,)), (1, tuple(range(8, 16)), 2048 * 1024, (1,))]


@pytest.mark.parametrize(("text", "cpus"), [("0-3", (0, 1, 2, 3)), ("0,2,4-5", (0, 2, 4, 5)),
                                            ("", ()), ("1", (1,)), ("3-1", None), ("a-b", None),
                                            ("0-", None)])
def test_parse_cpulist(text: str, cpus: tuple[int, ...] | None) -> None:
    parsed = cpuset.bounded_list(text, bound=cpuset.CpuBound.fixed())
    assert (parsed.cpus if parsed is not None else None) == cpus


# -- live root and the module's command line ----------------------------------------------------


def test_live_root_lists_every_pci_device() -> None:
    if not os.path.isdir("/sys/bus/pci/devices"):
        skip_unless_ci("no PCI bus on this machine")
    with roots.open_root("/") as root:
        scan = sysfs.read_devices(root)
    assert [d.address for d in scan.devices] == sorted(os.listdir("/sys/bus/pci/devices"))
    for dev in scan.devices:
        with open(f"/sys/bus/pci/devices/{dev.address}/vendor") as handle:
            assert dev.vendor_id == handle.read().strip()[2:]
