"""lspci listings grouped by IOMMU group, SR-IOV links and device types read from pastes (issue 18).

Every expected value was read by hand from the fixture files (tests/fixtures/lspci_groups/,
each with its origin beside it); the reason is in the comment next to it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from support import FIXTURES, skip_unless_ci
from pcipass.adapters import lspci, pciids
from pcipass.core import model

GROUPS = FIXTURES / "lspci_groups"


def parse(name: str) -> lspci.LspciParse:
    return lspci.parse((GROUPS / name).read_text(encoding="utf-8"), source=name)


def test_every_fixture_has_its_origin() -> None:
    data = [p for p in GROUPS.iterdir() if not p.name.endswith(".source.txt")]
    assert data and all(p.with_name(p.name + ".source.txt").is_file() for p in data)


def test_arch_loop_with_tab_indented_members() -> None:
    result = parse("sgpupt_issue28_arch_loop.txt")
    assert result.problems == ()
    # Lines 2, 4-6 and 8-9 are the device lines; each sits under the "IOMMU Group N:" above it.
    got = {d.address: (d.vendor_id, d.product_id, d.iommu_group) for d in result.devices}
    assert got == {
        "0000:00:00.0": ("8086", "9b33", 0),
        "0000:00:01.0": ("8086", "1901", 1),
        "0000:01:00.0": ("10de", "2482", 1),
        "0000:01:00.1": ("10de", "228b", 1),
        "0000:00:14.0": ("8086", "43ed", 2),
        "0000:00:14.2": ("8086", "43ef", 2),
    }
    # -nns shows no capability: no device's type can be told.
    assert {d.dev_type for d in result.devices} == {None}


def test_arch_loop_with_space_indented_members() -> None:
    result = parse("coopydood_issue213_groups.txt")
    groups = {d.address: d.iommu_group for d in result.devices}
    # Group 2 holds the root port and the four functions of the GTX 1660 (01:00.0-.3).
    assert groups == {"0000:00:02.0": 0, "0000:00:00.0": 1, "0000:00:01.0": 2, "0000:01:00.0": 2,
                      "0000:01:00.1": 2, "0000:01:00.2": 2, "0000:01:00.3": 2}
    gpu = result.by_address()["0000:01:00.0"]
    # "VGA compatible controller [0300]" and "(rev a1)" on line 6.
    assert (gpu.vendor_id, gpu.product_id, gpu.revision, gpu.name) == (
        "10de", "2184", "a1", "NVIDIA Corporation TU116 [GeForce GTX 1660]")


def test_lspci_mm_group_form() -> None:
    result = parse("gpm_issue21_lspci_mm_group.txt")
    assert result.problems == ()
    # "Group 15:" on line 1; lines 2-4 carry no group and belong to the same one.
    got = {d.address: (d.vendor_id, d.product_id, d.iommu_group) for d in result.devices}
    assert got == {"0000:09:00.0": ("10de", "21c4", 15), "0000:09:00.1": ("10de", "1aeb", 15),
                   "0000:09:00.2": ("10de", "1aec", 15), "0000:09:00.3": ("10de", "1aed", 15)}
    # The name column follows the class after a run of spaces.
    assert result.by_address()["0000:09:00.1"].name == "TU116 High Definition Audio Controller"
    assert result.records[0].class_name == "VGA compatible controller"


def test_ls_iommu_prefix_without_colon_after_the_class() -> None:
    result = parse("quickpassthrough_issue22_ls_iommu.txt")
    assert result.problems == ()
    got = {d.address: (d.vendor_id, d.product_id, d.iommu_group, d.driver, d.subsystem_vendor_id)
           for d in result.devices}
    # "IOMMU Group  12:" prefixes each device line; the driver and Subsystem lines follow it.
    assert got == {"0000:01:00.0": ("1022", "43d0", 12, "xhci_hcd", "1b21"),
                   "0000:01:00.1": ("1022", "43c8", 12, "ahci", "1b21"),
                   "0000:01:00.2": ("1022", "43c6", 12, "pcieport", "1b21")}
    # "USB controller [0c03]": the class ID without its colon.
    assert result.records[0].class_id == "0c03"


def test_group_device_prefix() -> None:
    # The "Group N Device:" prefix named in issue 18 (no public paste of it was found, so this
    # line is made here from the sgpupt fixture's line 5).
    text = ("Group 1 Device: 01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA104 "
            "[GeForce RTX 3070 Ti] [10de:2482] (rev a1)\n")
    (dev,) = lspci.parse(text).devices
    assert (dev.address, dev.iommu_group, dev.product_id) == ("0000:01:00.0", 1, "2482")


def test_corpus_group_prefix_form_is_unchanged(shared: Path) -> None:
    text = (shared / "corpus/dmesg_cmdline/asokolsky_fuji_cmdline_iommu_groups.md").read_text(encoding="utf-8")
    devs = lspci.parse(text).by_address()
    # "IOMMU group 10 02:00.1 Co-processor [0b40]: Emulex ... [19a2:0800]" (no rev: 00).
    assert (devs["0000:02:00.1"].iommu_group, devs["0000:02:00.1"].product_id) == (10, "0800")
    assert len(devs) == 21  # 21 "IOMMU group" lines


# -- device types -----------------------------------------------------------------------------


def test_sriov_links_make_vfs_and_pfs() -> None:
    text = ("03:00.0 Ethernet controller [0200]: Intel Corporation 82599ES 10-Gigabit SFI/SFP+ "
            "Network Connection [8086:10fb] (rev 01)\n"
            "03:10.0 Ethernet controller [0200]: Intel Corporation 82599 Ethernet Controller "
            "Virtual Function [8086:10ed] (rev 01)\n"
            "03:10.2 Ethernet controller [0200]: Intel Corporation Device [8086:10ed] (rev 01)\n"
            "lrwxrwxrwx 1 root root 0 Jan 1 00:00 /sys/bus/pci/devices/0000:03:10.2/physfn -> ../0000:03:00.0\n"
            "/sys/bus/pci/devices/0000:03:00.0/virtfn1 -> ../0000:03:10.2\n")
    devs = lspci.parse(text).by_address()
    assert devs["0000:03:00.0"].dev_type == model.TYPE_PF  # a virtfn1 link names it
    assert devs["0000:03:10.0"].dev_type == model.TYPE_VF  # "Virtual Function" in the name
    vf = devs["0000:03:10.2"]  # no VF name, but a physfn link
    assert (vf.dev_type, vf.parent_addr, vf.vf_index) == (model.TYPE_VF, "0000:03:00.0", 1)


def test_capability_lines_settle_the_type() -> None:
    head = "01:00.0 3D controller [0302]: NVIDIA Corporation GV100GL [Tesla V100S PCIe 32GB] [10de:1df6] (rev a1)\n"
    caps = "\tCapabilities: [60] Power Management version 3\n\tCapabilities: [100 v1] Virtual Channel\n"
    assert lspci.parse(head + caps).devices[0].dev_type == model.TYPE_PCI
    denied = lspci.parse(head + "\tCapabilities: <access denied>\n").devices[0]
    assert denied.dev_type is None  # not root: the capability list is hidden
    virtual = lspci.parse(head + "\tRegion 0: Memory at fe204000 (64-bit) [virtual] [size=16K]\n" + caps)
    assert virtual.devices[0].dev_type is None  # a [virtual] BAR is a VF's sign
    zero = lspci.parse(head + "\tCapabilities: [160 v1] Single Root I/O Virtualization (SR-IOV)\n"
                       "\t\tInitial VFs: 0, Total VFs: 0, Number of VFs: 0, Function Dependency Link: 00\n")
    assert zero.devices[0].dev_type == model.TYPE_PCI


def test_vf_name_in_a_plain_paste_with_guessed_ids(shared: Path) -> None:
    ids = pciids.PciIds.system()
    if ids is None:
        skip_unless_ci("this machine's pci.ids (make test installs the pci.ids package)")
    text = (shared / "corpus/config/satishdotpatel_hpc_infiniband_sriov_post.md").read_text(encoding="utf-8")
    found = [d for d in lspci.parse(text, pci_ids=ids, guess_ids=True).devices if d.address == "0000:00:05.0"]
    # The guest's "00:05.0 Infiniband controller: Mellanox Technologies MT28908 Family
    # [ConnectX-6 Virtual Function]": a VF by its name.
    assert [d.dev_type for d in found] == [model.TYPE_VF]


# -- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "IOMMU Group 1:\n",  # a header and nothing else
    "Group 15:\t[10de:21c4] [R] 09:00.0\n",  # truncated before the class
    "IOMMU Group 99999999999999999999:\n\t01:00.0 VGA [0300]: X [10de:2184]\n",
    "\t\t[zzzz:1aeb]     09:00.1  Audio device    TU116\n",
    "/sys/bus/pci/devices/0000:03:10.2/physfn -> ../\n",
    "",
])
def test_malformed_listings_give_problems_not_tracebacks(text: str) -> None:
    result = lspci.parse(text)
    assert all(p.code.startswith("Lspci") for p in result.problems)
    big = [d for d in result.devices if d.iommu_group is not None and d.iommu_group > lspci.MAX_NUMBER]
    assert big == []


@pytest.mark.parametrize("line", [
    "Group 1:\t[10de:21c4] 09:00.0 " + "x " * 5000,
    "\t[10de:21c4]     09:00.0  " + "a" * 2000 + " " * 2000,
    "IOMMU Group " + " " * 4000 + "1",
    "0000:03:10.2/physfn -> " + "../" * 1300,
])
def test_listing_patterns_stay_linear(line: str) -> None:
    start = time.perf_counter()
    lspci.parse("\n".join([line] * 20))
    assert time.perf_counter() - start < 2.0
