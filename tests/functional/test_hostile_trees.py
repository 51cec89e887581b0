"""Hostile host roots: every odd file is a warning naming it, every device still gets a row.

The trees start as realistic fake hosts and are then damaged the ways real
captures and hand-made fixtures are: missing files, garbage, directories or
FIFOs where files belong, broken and looping links, links out of the root,
and a bus with 10,000 entries.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcipass import fakehost
from pcipass.adapters import hostroot, kernel, roots, sysfs
from pcipass.core import model

PROFILE = "1x intel-e810 numa=0 vfs=2; 1x nvidia-t4 numa=0 driver=vfio-pci; cmdline=intel_iommu=on"
PF, VF0, VF1, GPU = "0000:01:00.0", "0000:01:01.0", "0000:01:01.1", "0000:02:00.0"


@pytest.fixture
def built(tmp_path: Path) -> fakehost.BuiltHost:
    return fakehost.build(tmp_path / "h", PROFILE)


def dev_dir(built: fakehost.BuiltHost, address: str) -> Path:
    return built.root / built.by_address()[address].sysfs_path


def scan(root_dir: Path) -> tuple[dict[str, model.Device], hostroot.HostRoot, sysfs.SysfsScan]:
    root = roots.open_root(root_dir)
    result = sysfs.read_devices(root, pci_ids=None)
    return result.by_address(), root, result


def replace(path: Path, content: str | bytes) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def test_missing_uevent_and_vendor_fall_back_to_config_then_warn(built: fakehost.BuiltHost) -> None:
    for address in (PF, VF0):
        (dev_dir(built, address) / "uevent").unlink()
        (dev_dir(built, address) / "vendor").unlink()
    devs, _, _ = scan(built.root)
    pf = devs[PF]
    assert pf.vendor_id == "8086" and pf.product_id == "159b"  # device file still read
    rel = "sys/bus/pci/devices/0000:01:00.0"
    assert f"{rel}/vendor: missing" in pf.warnings
    assert f"{rel}/config: vendor_id taken from config space" in pf.warnings
    vf = devs[VF0]  # a VF's config says ffff: nothing to fall back on
    assert vf.vendor_id == "" and vf.product_id == "1889"
    assert "sys/bus/pci/devices/0000:01:01.0/vendor: missing" in vf.warnings
    assert vf.dev_type == model.TYPE_VF and vf.parent_addr == PF  # the rest is still read


def test_garbage_content_is_named_and_ignored(built: fakehost.BuiltHost) -> None:
    d = dev_dir(built, PF)
    replace(d / "uevent", "DRIVER=ice\nPCI_ID=zz:top\nPCI_CLASS=class!\n\x00\x01")
    replace(d / "vendor", "0xzzzz\n")
    replace(d / "numa_node", "banana\n")
    replace(d / "sriov_totalvfs", "lots\n")
    replace(d / "local_cpulist", "0-3,x\n")
    replace(d / "revision", b"\xff\xfe\n")
    devs, _, _ = scan(built.root)
    pf = devs[PF]
    rel = "sys/bus/pci/devices/0000:01:00.0"
    for name in ("vendor", "numa_node", "sriov_totalvfs", "local_cpulist", "revision"):
        assert any(w.startswith(f"{rel}/{name}: unexpected content") for w in pf.warnings), name
    assert pf.vendor_id == "8086"  # from config space, and said so
    assert pf.product_id == "159b" and pf.class_code == "020000" and pf.driver == "ice"
    assert pf.numa_node is None and pf.sriov_totalvfs is None
    assert pf.dev_type == model.TYPE_PF  # its virtfnN links still say SR-IOV, as libvirt sees it


def test_a_directory_or_fifo_where_a_file_belongs(built: fakehost.BuiltHost) -> None:
    d = dev_dir(built, GPU)
    (d / "numa_node").unlink()
    (d / "numa_node").mkdir()
    (d / "driver_override").unlink()
    os.mkfifo(d / "driver_override")
    devs, _, _ = scan(built.root)
    gpu = devs[GPU]
    assert "sys/bus/pci/devices/0000:02:00.0/numa_node: a directory; not read" in gpu.warnings
    assert gpu.driver_override is None and gpu.driver == "vfio-pci"


def test_broken_and_looping_links(built: fakehost.BuiltHost) -> None:
    bus = built.root / "sys/bus/pci/devices"
    os.symlink("../../../devices/pci0000:00/0000:00:1f.0", bus / "0000:00:1f.0")  # broken
    os.symlink("0000:00:1e.1", bus / "0000:00:1e.0")  # loop
    os.symlink("0000:00:1e.0", bus / "0000:00:1e.1")
    d = dev_dir(built, VF1)
    (d / "numa_node").unlink()
    os.symlink("numa_node", d / "numa_node")  # loops on itself
    (d / "local_cpulist").unlink()
    os.symlink("no_such_file", d / "local_cpulist")
    devs, root, result = scan(built.root)
    assert devs["0000:00:1f.0"].warnings == (
        "sys/bus/pci/devices/0000:00:1f.0: broken link; device attributes unreadable",)
    assert devs["0000:00:1e.0"].vendor_id == ""
    assert any("symlink loop" in w for w in devs["0000:00:1e.0"].warnings)
    vf = devs[VF1]
    assert any(w.startswith("sys/bus/pci/devices/0000:01:01.1/numa_node:") and "loop" in w
               for w in vf.warnings)
    assert "sys/bus/pci/devices/0000:01:01.1/local_cpulist: broken symlink" in vf.warnings
    assert vf.dev_type == model.TYPE_VF and vf.vf_index == 1
    assert len(result.devices) == len(built.devices) + 3


def test_links_out_of_the_root_are_never_followed(built: fakehost.BuiltHost, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "vendor").write_text("0x1234\n")
    bus = built.root / "sys/bus/pci/devices"
    os.symlink(str(outside), bus / "0000:00:1d.0")  # absolute
    os.symlink("../../../../../outside", bus / "0000:00:1d.1")  # climbs out
    d = dev_dir(built, PF)
    (d / "driver").unlink()
    os.symlink("../../../../../../../../../../etc", d / "driver")
    (d / "uevent").unlink()  # so that the driver link is consulted
    replace(d / "vendor", "")
    (d / "vendor").unlink()
    os.symlink("../../../../../../../../../../etc/hostname", d / "vendor")
    devs, _, _ = scan(built.root)
    for address in ("0000:00:1d.0", "0000:00:1d.1"):
        dev = devs[address]
        assert dev.vendor_id == ""  # outside/vendor says 1234: never read
        assert any("leads outside the host root; not followed" in w for w in dev.warnings)
    pf = devs[PF]
    assert pf.driver is None
    assert any(w.startswith("sys/bus/pci/devices/0000:01:00.0/driver: symlink to ") and "outside" in w
               for w in pf.warnings)
    assert any(w.startswith("sys/bus/pci/devices/0000:01:00.0/vendor: ") and "outside" in w
               for w in pf.warnings)


def test_family_links_to_missing_devices(built: fakehost.BuiltHost) -> None:
    bus = built.root / "sys/bus/pci/devices"
    (bus / VF1).unlink()  # the PF's virtfn1 now names a device the bus does not list
    devs, _, _ = scan(built.root)
    assert ("sys/bus/pci/devices/0000:01:00.0/virtfn1: points to 0000:01:01.1, which is not in "
            "sys/bus/pci/devices") in devs[PF].warnings
    assert VF1 not in devs


def test_odd_entries_on_the_bus(built: fakehost.BuiltHost) -> None:
    bus = built.root / "sys/bus/pci/devices"
    (bus / "README").write_text("hello")
    (bus / "0000:01:00.0.bak").mkdir()
    os.symlink(str(dev_dir(built, GPU)).upper(), bus / "0000:0A:00.0")  # upper case, bad target
    empty = built.root / "sys/devices/pci0000:00/0000:00:03.0"
    empty.mkdir()
    os.symlink("../../../devices/pci0000:00/0000:00:03.0", bus / "0000:00:03.0")
    devs, _, result = scan(built.root)
    assert "sys/bus/pci/devices/README: not a PCI address (dddd:bb:ss.f); ignored" in result.warnings
    assert "sys/bus/pci/devices/0000:0A:00.0: not a PCI address (dddd:bb:ss.f); ignored" in result.warnings
    assert len(result.warnings) == 3
    assert devs["0000:00:03.0"].warnings == tuple(
        f"sys/bus/pci/devices/0000:00:03.0/{a}: missing" for a in ("vendor", "device", "class"))


def test_an_address_with_a_trailing_newline_is_not_an_address(built: fakehost.BuiltHost) -> None:
    """``$`` matches before a final newline: the check must take the whole name."""
    bus = built.root / "sys/bus/pci/devices"
    os.symlink("../../../devices/pci0000:00/0000:00:03.0", bus / "0000:00:03.0\n")
    devs, _, result = scan(built.root)
    assert "0000:00:03.0\n" not in devs and "0000:00:03.0" not in devs
    assert any(w.startswith("sys/bus/pci/devices/0000:00:03.0\n: not a PCI address")
               for w in result.warnings)


def test_the_bus_itself_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "h/sys/bus/pci").mkdir(parents=True)
    (tmp_path / "h/sys/bus/pci/devices").write_text("surprise")
    _, root, result = scan(tmp_path / "h")
    assert result.devices == ()
    assert result.warnings == ("sys/bus/pci/devices: expected a directory",)


def test_hostile_kernel_files(built: fakehost.BuiltHost) -> None:
    replace(built.root / "proc/cmdline", b"\xff\xfe intel_iommu=on \x00 iommu=pt\n")
    replace(built.root / "proc/modules", "garbage line\n\n vfio_pci oops\n")
    os.symlink("/etc/passwd", built.root / "cmd/uname-r.txt.tmp")
    (built.root / "cmd/uname-r.txt").unlink()
    os.rename(built.root / "cmd/uname-r.txt.tmp", built.root / "cmd/uname-r.txt")
    shutil.rmtree(built.root / "sys/kernel/iommu_groups")
    os.symlink("../../..", built.root / "sys/kernel/iommu_groups")
    with roots.open_root(built.root) as root:
        facts = kernel.read_kernel(root)
    assert facts.cmdline is not None and facts.cmdline.intel_iommu == "on"
    assert facts.modules == ()
    assert any(w.startswith("cmd/uname-r.txt: symlink to /etc/passwd leads outside") for w in facts.warnings)
    assert facts.iommu_groups == 0
    assert "sys/kernel/iommu_groups: symlink to ../../.. leads outside the host root; not followed" \
        in facts.warnings


@pytest.mark.slow
def test_ten_thousand_entries(tmp_path: Path) -> None:
    """A bus with 10,000 entries: every one gets a row, fast enough, and nothing crashes."""
    root_dir = tmp_path / "big"
    bus = root_dir / "sys/bus/pci/devices"
    seg = root_dir / "sys/devices/pci0000:00"
    bus.mkdir(parents=True)
    seg.mkdir(parents=True)
    for n in range(10_000):
        address = f"0000:{n // 256:02x}:{(n % 256) >> 3:02x}.{n & 7:x}"
        d = seg / address
        d.mkdir()
        if n % 3:
            (d / "uevent").write_text(f"PCI_ID=8086:{n % 0xFFFF:04X}\nPCI_CLASS=20000\n")
        else:
            (d / "uevent").write_text("garbage")
        os.symlink(f"../../../devices/pci0000:00/{address}", bus / address)
    start = time.perf_counter()
    devs, _, result = scan(root_dir)
    elapsed = time.perf_counter() - start
    assert len(devs) == 10_000 and result.warnings == ()
    assert devs["0000:00:00.1"].product_id == "0001" and devs["0000:00:00.1"].warnings == ()
    assert devs["0000:00:00.0"].vendor_id == ""
    assert "sys/bus/pci/devices/0000:00:00.0/vendor: missing" in devs["0000:00:00.0"].warnings
    assert elapsed < 30  # generous: about a second on a laptop


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attr=st.sampled_from(["vendor", "device", "class", "revision", "numa_node", "local_cpulist",
                             "driver_override", "sriov_totalvfs", "sriov_numvfs", "sriov_vf_device",
                             "sriov_drivers_autoprobe", "uevent", "subsystem_vendor"]),
       content=st.binary(max_size=64))
def test_any_bytes_in_any_attribute_never_crash(tmp_path_factory: pytest.TempPathFactory,
                                                attr: str, content: bytes) -> None:
    built = fakehost.build(tmp_path_factory.mktemp("fz") / "h", "1x intel-e810 vfs=1")
    replace(dev_dir(built, PF) / attr, content)
    devs, _, _ = scan(built.root)
    pf = devs[PF]
    assert pf.address == PF
    assert pf.vendor_id in ("", "8086") or len(pf.vendor_id) == 4


def test_a_cpu_list_is_kept_exactly_when_the_core_parses_it(built: fakehost.BuiltHost) -> None:
    # One grammar (core.cpuset.parse_kernel_list) for the sysfs reader, the facts cache's check
    # and the NUMA code: a reversed range is garbage at the read, not a value the core refuses later.
    d = dev_dir(built, PF)
    replace(d / "local_cpulist", "3-0\n")
    pf = scan(built.root)[0][PF]
    assert pf.local_cpulist is None
    assert "sys/bus/pci/devices/0000:01:00.0/local_cpulist: unexpected content '3-0'; ignored" in pf.warnings
