"""Fake hosts: the profile language, the shipped profiles, and likeness to a real kernel's sysfs."""

from __future__ import annotations

import json
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcipass import fakehost
from pcipass.adapters import hostroot, roots, sysfs
from pcipass.fakehost import __main__ as fakehost_main
from support import unpack_trusted

# Same hardware as the lab-iommu capture: QEMU NVMe with 4 VFs on NUMA node 1, VFs unbound.
LAB_LIKE = "1x qemu-nvme numa=1 vfs=4 vf-driver=none; numa-nodes=2; cmdline=intel_iommu=on iommu=pt"
DRIVER_SPECIFIC = {"nvme", "pools", "vfio-dev"}  # made by the nvme / vfio drivers, not by PCI


def test_profile_example_from_the_issue() -> None:
    profile = fakehost.parse_profile("2x intel-x710 pf numa=1 vfs=8 vf-driver=iavf; "
                                     "1x nvidia-a100 numa=0 driver=vfio-pci; cmdline=intel_iommu=on")
    x710, a100 = profile.cards
    assert (x710.model.key, x710.count, x710.numa, x710.vfs, x710.bound_vf_driver) == (
        "intel-x710", 2, 1, 8, "iavf")
    assert (a100.model.key, a100.pf_driver) == ("nvidia-a100", "vfio-pci")
    assert profile.cmdline == "intel_iommu=on" and profile.iommu_on and profile.node_count == 2
    devices = fakehost.plan(profile)
    assert sum(d.dev_type == "type-PF" for d in devices) == 2
    assert sum(d.dev_type == "type-VF" for d in devices) == 16
    assert [d.driver for d in devices if d.vendor_id == "10de"] == ["vfio-pci"]


@pytest.mark.parametrize(("text", "message"), [
    ("2x intel-x999", "unknown model 'intel-x999'"),
    ("1x nvidia-t4 vfs=2", "nvidia-t4 has no SR-IOV"),
    ("1x intel-e810 vfs=300", "vfs must be 0..256"),
    ("1x intel-i350 vfs=8", "vfs=8 is more than totalvfs=7"),
    ("1x intel-e810 numa=x", "numa must be an integer"),
    ("1x intel-e810 colour=blue", "unknown option 'colour'"),
    ("1x intel-e810 fast", "expected key=value, got 'fast'"),
    ("0x intel-e810", "count must be 1..256"),
    ("iommu=maybe", "iommu must be on or off"),
    ("turbo=on", "expected 'COUNTx MODEL ...' or one of"),
    ("platform=arm", "platform must be intel or amd"),
])
def test_profile_errors_name_the_item(text: str, message: str) -> None:
    with pytest.raises(fakehost.FakeHostProfileInvalid) as info:
        fakehost.parse_profile(text)
    assert message in info.value.message
    assert text.split(";")[0].strip() in info.value.message
    assert info.value.code == "FakeHostProfileInvalid"


def test_numa_beyond_the_host_is_refused() -> None:
    with pytest.raises(fakehost.FakeHostProfileInvalid, match="numa=3 but the host has 2"):
        fakehost.plan(fakehost.parse_profile("1x nvidia-t4 numa=3; numa-nodes=2"))


def test_iommu_defaults_follow_platform_and_cmdline() -> None:
    assert not fakehost.parse_profile("1x nvidia-t4").iommu_on
    assert fakehost.parse_profile("1x nvidia-t4; cmdline=intel_iommu=on").iommu_on
    assert fakehost.parse_profile("1x nvidia-t4; platform=amd").iommu_on
    assert not fakehost.parse_profile("1x nvidia-t4; platform=amd; cmdline=amd_iommu=off").iommu_on
    assert not fakehost.parse_profile("1x nvidia-t4; cmdline=intel_iommu=on; iommu=off").iommu_on


def test_vf_addresses_follow_offset_and_stride() -> None:
    """82599: VF 3 of PF 05:00.0 sits at 05:10.6 with offset 0x80 and stride 2 (hardware-facts.md
    puts VF 3 at 05:10.4 on a dual-port card, whose PF .1 takes the odd routing IDs)."""
    devices = fakehost.plan(fakehost.parse_profile("1x intel-82599 vfs=4"))
    vfs = [d.address for d in devices if d.dev_type == "type-VF"]
    assert vfs == ["0000:01:10.0", "0000:01:10.2", "0000:01:10.4", "0000:01:10.6"]
    e810 = fakehost.plan(fakehost.parse_profile("1x intel-e810 vfs=128"))
    assert [d.address for d in e810 if d.vf_index in (0, 127)] == ["0000:01:01.0", "0000:01:10.7"]


def test_routing_ids_fill_the_bus_and_cards_get_their_own_bus() -> None:
    devices = fakehost.plan(fakehost.parse_profile("1x intel-82599 vfs=63; 1x nvidia-t4"))
    last = next(d for d in devices if d.vf_index == 62)
    assert last.address == "0000:01:1f.4"  # 0x100 + 0x80 + 62 * 2 = 0x1fc
    t4 = next(d for d in devices if d.vendor_id == "10de")
    assert t4.address == "0000:02:00.0"
    assert [d.address for d in devices if d.dev_type == "type-PCI" and d.vendor_id == "8086"] == [
        "0000:00:01.0", "0000:00:02.0"]  # one root port per card


def test_bench_profile_has_1032_sriov_functions() -> None:
    devices = fakehost.plan(fakehost.parse_profile(fakehost.PROFILES["bench-8x128"]))
    kinds = [d.dev_type for d in devices]
    assert (kinds.count("type-PF"), kinds.count("type-VF"), kinds.count("type-PCI")) == (8, 1024, 8)
    assert len({d.address for d in devices}) == len(devices)


@pytest.mark.parametrize("name", sorted(set(fakehost.PROFILES) - {"bench-8x128"}))
def test_shipped_profiles_build_and_read_cleanly(tmp_path: Path, name: str) -> None:
    built = fakehost.build(tmp_path / name, fakehost.PROFILES[name])
    with roots.open_root(built.root) as root:
        scan = sysfs.read_devices(root, pci_ids=None)
        assert root.warnings == [] and scan.warnings == ()
    assert len(scan.devices) == len(built.devices)
    manifest = json.loads((built.root / "manifest.json").read_text())
    assert manifest["schema"] == "pcipass-bundle/1" and manifest["hostname"] == "fakehost"


def test_build_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep").write_text("")
    with pytest.raises(FileExistsError):
        fakehost.build(tmp_path / "x", "1x nvidia-t4")


def test_pack_makes_a_bundle_named_after_the_host(tmp_path: Path) -> None:
    built = fakehost.build(tmp_path / "root", "1x nvidia-t4; hostname=gpu-7")
    bundle = fakehost.pack(built, tmp_path / "gpu-7.tar.gz")
    with tarfile.open(bundle) as tar:
        assert {m.name.split("/")[0] for m in tar.getmembers()} == {"gpu-7"}
    with roots.open_root(bundle) as root:
        assert root.name == "gpu-7" and root.warnings == []
        assert [d.product_id for d in sysfs.read_devices(root, pci_ids=None).devices] == ["2030", "1eb8"]


def test_module_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fakehost_main.main(["t4-vfio", str(tmp_path / "a"), "--bundle", str(tmp_path / "a.tgz")]) == 0
    assert "2 PCI functions" in capsys.readouterr().out and (tmp_path / "a.tgz").is_file()
    assert fakehost_main.main(["9x nope", str(tmp_path / "b")]) == 2
    assert fakehost_main.main([]) == 64


# -- likeness to the real-kernel capture ----------------------------------------------------


@pytest.fixture(scope="module")
def lab(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[hostroot.HostRoot]:
    """The real-kernel capture unpacked (by the test: pcipass itself never unpacks a bundle),
    so that its files can be compared with the fake host's on disk."""
    dest = tmp_path_factory.mktemp("lab")
    unpack_trusted(shared / "corpus/realkernel/lab-iommu.tar.gz", dest)
    with roots.open_root(dest / "lab-iommu") as root:
        yield root


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fakehost.build(tmp_path_factory.mktemp("fake") / "h", LAB_LIKE).root


def entry_set(directory: str) -> set[tuple[str, str]]:
    out = set()
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        kind = "link" if os.path.islink(path) else "dir" if os.path.isdir(path) else "file"
        name = re.sub(r"^virtfn\d+$", "virtfnN", name)
        name = re.sub(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", "ADDR", name)
        if name not in DRIVER_SPECIFIC:
            out.add((name, kind))
    return out


def shape(target: str) -> str:
    target = re.sub(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", "ADDR", target)
    target = re.sub(r"pci[0-9a-f]{4}:[0-9a-f]{2}", "pciSEG", target)
    return re.sub(r"iommu_groups/\d+", "iommu_groups/N", target)


@pytest.mark.parametrize(("real", "ours"), [
    ("0000:81:00.0", "0000:81:00.0"),   # PF with VFs, bound to nvme
    ("0000:81:00.3", "0000:81:00.1"),   # unbound VF
    ("0000:80:00.0", "0000:80:01.0"),   # root port above them
])
def test_same_files_per_device_as_the_real_kernel(lab: hostroot.HostRoot, fake: Path,
                                                  real: str, ours: str) -> None:
    real_dir = lab.resolve(f"sys/bus/pci/devices/{real}")
    assert real_dir is not None
    assert entry_set(str(fake / f"sys/bus/pci/devices/{ours}")) == entry_set(real_dir)


@pytest.mark.parametrize("rel", [
    "sys/bus/pci/devices/{pf}", "sys/bus/pci/devices/{vf}", "sys/bus/pci/devices/{pf}/driver",
    "sys/bus/pci/devices/{pf}/iommu_group", "sys/bus/pci/devices/{pf}/iommu",
    "sys/bus/pci/devices/{pf}/subsystem", "sys/bus/pci/devices/{pf}/virtfn0",
    "sys/bus/pci/devices/{vf}/physfn", "sys/bus/pci/devices/{vf}/iommu_group",
    "sys/bus/pci/drivers/nvme/{pf}", "sys/bus/pci/drivers/nvme/module",
    "sys/kernel/iommu_groups/{pf_group}/devices/{pf}", "sys/class/iommu/dmar0",
])
def test_same_link_shapes_as_the_real_kernel(lab: hostroot.HostRoot, fake: Path, rel: str) -> None:
    def group(root_dir: str) -> str:
        return os.readlink(os.path.join(root_dir, "sys/bus/pci/devices/0000:81:00.0/iommu_group")
                           ).rsplit("/", 1)[1]
    real = rel.format(pf="0000:81:00.0", vf="0000:81:00.3", pf_group=group(lab.path))
    ours = rel.format(pf="0000:81:00.0", vf="0000:81:00.1", pf_group=group(str(fake)))
    assert shape(os.readlink(fake / ours)) == shape(os.readlink(os.path.join(lab.path, real)))


def test_same_host_level_files_as_the_real_kernel(lab: hostroot.HostRoot, fake: Path) -> None:
    for rel in ("proc/cmdline", "proc/modules", "etc/hostname", "manifest.json", "cmd/dmesg.txt",
                "cmd/uname-r.txt", "sys/module/vfio_pci/initstate", "sys/firmware/acpi/tables/DMAR",
                "sys/devices/system/node/node1/cpulist", "sys/devices/system/node/node1/meminfo",
                "sys/devices/system/cpu/cpu1/topology/physical_package_id",
                "sys/kernel/iommu_groups/1/type"):
        assert os.path.lexists(os.path.join(lab.path, rel)), rel
        assert os.path.lexists(fake / rel), rel


def test_config_space_is_like_the_real_one(lab: hostroot.HostRoot, fake: Path) -> None:
    """VFs read ffff for vendor and device; PFs carry the SR-IOV capability at 0x100 or later."""
    for root_dir, vf in ((lab.path, "0000:81:00.3"), (str(fake), "0000:81:00.1")):
        with open(os.path.join(root_dir, f"sys/bus/pci/devices/{vf}/config"), "rb") as handle:
            assert handle.read(4) == b"\xff\xff\xff\xff"
        with open(os.path.join(root_dir, "sys/bus/pci/devices/0000:81:00.0/config"), "rb") as handle:
            cfg = handle.read()
        assert len(cfg) == 4096 and cfg[0:4] == bytes.fromhex("361b1000")
        offset, found = 0x100, False
        while offset and not found:
            header = int.from_bytes(cfg[offset:offset + 4], "little")
            found = header & 0xFFFF == 0x0010
            offset = header >> 20 if not found else offset
        assert found
        assert int.from_bytes(cfg[offset + 0x0E:offset + 0x10], "little") == 8  # TotalVFs
        assert int.from_bytes(cfg[offset + 0x10:offset + 0x12], "little") == 4  # NumVFs
