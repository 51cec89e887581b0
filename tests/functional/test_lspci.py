"""lspci pastes: every corpus file, the real-kernel captures' outputs, and the odd variants.

Counts and devices below were read from the files by hand (header lines,
minus addresses pasted twice, which are merged).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import skip_unless_ci
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.adapters import lspci, pciids, roots, sysfs
from pcipass.core import model


def corpus(shared: Path, name: str) -> str:
    return (shared / "corpus/lspci" / name).read_text(encoding="utf-8")


def parse_file(shared: Path, name: str, **kw: object) -> lspci.LspciParse:
    return lspci.parse(corpus(shared, name), source=name, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ids() -> pciids.PciIds:
    found = pciids.PciIds.system()
    if found is None:
        skip_unless_ci("no pci.ids on this machine (make test installs Debian's pci.ids)")
    return found


# (file, devices found with IDs, records, lines of records without IDs)
CORPUS = [
    ("asokolsky_duo_lspci_nnk.md", 20, 20, []),
    ("asokolsky_exi_lspci_nnk.md", 21, 21, []),
    ("asokolsky_fuji_lspci_nnk.md", 21, 21, []),
    ("asokolsky_nas_lspci_nnk.md", 24, 24, []),
    ("asokolsky_suprox_lspci_nnk.md", 27, 27, []),
    ("asokolsky_fuji_plain_lspci.txt", 0, 21, list(range(2, 23))),
    ("dpdk_playground_ConnectX4_lspci_vv.md", 0, 1, [7]),
    ("dpdk_playground_E810_lspci_vv.md", 0, 1, [7]),
    ("dpdk_playground_X550_E810_host_lspci_vv.md", 0, 5, [5, 6, 7, 8, 9]),
    ("satishdotpatel_osa_82599_lspci_sriov_cap.txt", 0, 2, [2, 3]),
    ("satishdotpatel_v100s_lspci_nn.txt", 2, 3, [8]),
    ("stelline_asus_esc8000a_e12_gpu_server.md", 0, 8, [171, 263, 354, 445, 536, 630, 729, 789]),
    ("stelline_puget_threadripper_pro_wrx90.md", 0, 4, [100, 186, 272, 369]),
]


def test_the_corpus_list_is_complete(shared: Path) -> None:
    files = {p.name for p in (shared / "corpus/lspci").iterdir() if not p.name.endswith(".source.txt")}
    assert files == {name for name, *_ in CORPUS}


@pytest.mark.parametrize(("name", "devices", "records", "no_id_lines"), CORPUS)
def test_corpus_counts(shared: Path, name: str, devices: int, records: int, no_id_lines: list[int]) -> None:
    result = parse_file(shared, name)
    assert len(result.devices) == devices
    assert len(result.records) == records
    no_ids = sorted(p.line for p in result.problems if p.code == "LspciNoIds")
    assert no_ids == no_id_lines
    assert all(p.file == name for p in result.problems)
    assert {p.code for p in result.problems} <= {"LspciNoIds"}


def test_duo_spaces_instead_of_tabs_and_no_domain(shared: Path) -> None:
    devs = parse_file(shared, "asokolsky_duo_lspci_nnk.md").by_address()
    host = devs["0000:00:00.0"]
    assert (host.vendor_id, host.product_id, host.revision) == ("8086", "3ec2", "07")
    assert (host.subsystem_vendor_id, host.subsystem_id) == ("1849", "3ec2")
    assert host.driver == "skl_uncore" and host.dev_type is None and host.class_code is None
    assert devs["0000:00:01.0"].driver == "pcieport"  # no "Kernel modules:" line
    assert devs["0000:00:14.2"].driver is None  # no kernel lines at all
    assert devs["0000:00:14.0"].name == "Intel Corporation 200 Series/Z370 Chipset Family USB 3.0 xHCI Controller"


def test_exi_and_fuji_details(shared: Path) -> None:
    exi = parse_file(shared, "asokolsky_exi_lspci_nnk.md").by_address()
    vmd = exi["0000:00:0e.0"]
    assert (vmd.vendor_id, vmd.product_id, vmd.driver, vmd.revision) == ("8086", "467f", "vmd", "00")
    assert (vmd.subsystem_vendor_id, vmd.subsystem_id) == ("8086", "0000")
    fuji = parse_file(shared, "asokolsky_fuji_lspci_nnk.md").by_address()
    assert fuji["0000:05:00.0"].driver == "vfio-pci"
    assert (fuji["0000:05:00.0"].vendor_id, fuji["0000:05:00.0"].product_id) == ("8086", "1521")
    assert fuji["0000:02:00.1"].revision == "00"  # lspci omits a zero revision
    assert fuji["0000:01:00.0"].product_id == "5012"


def test_nas_merges_the_lspci_v_record_of_the_qat(shared: Path) -> None:
    result = parse_file(shared, "asokolsky_nas_lspci_nnk.md")
    qat = result.by_address()["0000:01:00.0"]
    assert (qat.vendor_id, qat.product_id, qat.driver) == ("8086", "19e2", "c3xxx")
    assert qat.iommu_group == 14  # from the -v "Flags:" line
    assert qat.class_code == "0b4000"  # -v shows no prog-if, so it is 00
    assert qat.dev_type is None  # -v lists SR-IOV but not Total VFs
    assert result.by_address()["0000:06:00.1"].product_id == "15e5"


def test_suprox_vfio_bound_i350(shared: Path) -> None:
    devs = parse_file(shared, "asokolsky_suprox_lspci_nnk.md").by_address()
    for addr in ("0000:01:00.0", "0000:01:00.1"):
        assert (devs[addr].vendor_id, devs[addr].product_id, devs[addr].driver) == ("8086", "1521", "vfio-pci")
    assert devs["0000:02:00.0"].driver == "igb"  # after a "DeviceName:  Intel Ethernet I210 #1" line


def test_v100s_merges_plain_and_nn_lines(shared: Path) -> None:
    result = parse_file(shared, "satishdotpatel_v100s_lspci_nn.txt")
    for addr in ("0000:5e:00.0", "0000:d8:00.0"):
        gpu = result.by_address()[addr]
        assert (gpu.vendor_id, gpu.product_id, gpu.revision) == ("10de", "1df6", "a1")
        assert gpu.name == "NVIDIA Corporation GV100GL [Tesla V100S PCIe 32GB]"
    record = next(r for r in result.records if r.address == "0000:5e:00.0")
    assert record.class_id == "0302" and record.line == 2


def test_guessed_ids_are_flagged_and_can_be_wrong(shared: Path, ids: pciids.PciIds) -> None:
    """The X550 paste names 1563 as pci.ids later called it; 2023's pci.ids gives that name to 15d1."""
    result = parse_file(shared, "dpdk_playground_X550_E810_host_lspci_vv.md", pci_ids=ids, guess_ids=True)
    x550 = result.by_address()["0000:05:00.0"]
    assert x550.dev_type == model.TYPE_PF
    assert (x550.sriov_totalvfs, x550.sriov_numvfs, x550.sriov_vf_device) == (64, 0, "1565")
    assert (x550.iommu_group, x550.driver, x550.class_code) == (23, "ixgbe", "020000")
    assert x550.warnings and "guessed from the name" in x550.warnings[0]
    assert any(p.code == "LspciIdsFromNames" and p.line == 7 for p in result.problems)
    if ids.device_name("8086", "1563") == "Ethernet Controller X550":
        assert x550.product_id == "15d1"  # the hazard that makes guessing opt-in


def test_connectx4_lx_sriov_capability(shared: Path, ids: pciids.PciIds) -> None:
    result = parse_file(shared, "dpdk_playground_ConnectX4_lspci_vv.md", pci_ids=ids, guess_ids=True)
    cx4 = result.by_address()["0000:08:00.0"]
    assert (cx4.vendor_id, cx4.product_id) == ("15b3", "1015")
    assert (cx4.dev_type, cx4.sriov_totalvfs, cx4.sriov_numvfs, cx4.sriov_vf_device) == (
        model.TYPE_PF, 8, 0, "1016")
    assert (cx4.iommu_group, cx4.driver, cx4.revision) == (27, "vfio-pci", "00")


def test_vpd_card_serial_numbers_from_lspci_vv(shared: Path, ids: pciids.PciIds) -> None:
    """lspci -vv (as root) shows the VPD Nova reads for remote_managed specs; only [SN] is kept."""
    cx4 = parse_file(shared, "dpdk_playground_ConnectX4_lspci_vv.md", pci_ids=ids, guess_ids=True)
    assert cx4.by_address()["0000:08:00.0"].card_serial_number == "MT1844K19636"  # trailing blanks cut
    asus = parse_file(shared, "stelline_asus_esc8000a_e12_gpu_server.md", pci_ids=ids, guess_ids=True)
    serials = {d.address: d.card_serial_number for d in asus.devices if d.card_serial_number}
    assert serials == {"0000:21:00.0": "MT24216006W0", "0000:81:00.0": "MT24426016T3"}
    # a [SN] line outside a VPD capability is not a serial number
    text = ("01:00.0 Ethernet controller [0200]: Mellanox Technologies MT2892 Family [ConnectX-6 Dx] [15b3:101d]\n"
            "\tCapabilities: [60] Express (v2) Endpoint, MSI 00\n"
            "\t\t[SN] Serial number: NOT-VPD\n")
    assert lspci.parse(text).devices[0].card_serial_number is None


def test_e810_vv_without_sriov_capability(shared: Path, ids: pciids.PciIds) -> None:
    e810 = parse_file(shared, "dpdk_playground_E810_lspci_vv.md", pci_ids=ids, guess_ids=True).devices[0]
    assert (e810.address, e810.vendor_id, e810.product_id) == ("0000:01:00.0", "8086", "159b")
    # The paste lists every capability as root (the extended ones from [100] AER to [250] Lane
    # Margining) and none is SR-IOV; no BAR is "[virtual]" and the name is no VF's: so sysfs
    # has no sriov_totalvfs for it and Nova calls it type-PCI (issue 18 point 6).
    assert (e810.iommu_group, e810.driver, e810.dev_type) == (19, "vfio-pci", model.TYPE_PCI)


def test_stelline_gpu_servers_numa_and_connectx7(shared: Path, ids: pciids.PciIds) -> None:
    asus = parse_file(shared, "stelline_asus_esc8000a_e12_gpu_server.md", pci_ids=ids, guess_ids=True)
    records = {r.address: r for r in asus.records}
    assert [records[a].numa_node for a in ("0000:01:00.0", "0000:41:00.0", "0000:c1:00.0",
                                           "0000:e1:00.0")] == [0, 0, 1, 1]
    assert all(records[a].driver == "nvidia" for a in ("0000:01:00.0", "0000:c1:00.0"))
    devs = asus.by_address()
    for addr, node in (("0000:21:00.0", 0), ("0000:81:00.0", 1)):
        cx7 = devs[addr]
        assert (cx7.vendor_id, cx7.product_id, cx7.numa_node, cx7.driver) == ("15b3", "1021", node, "mlx5_core")
        assert (cx7.dev_type, cx7.sriov_totalvfs, cx7.sriov_vf_device) == (model.TYPE_PF, 16, "101e")
    puget = parse_file(shared, "stelline_puget_threadripper_pro_wrx90.md", pci_ids=ids, guess_ids=True)
    assert puget.by_address()["0000:21:00.0"].sriov_totalvfs == 16
    assert puget.by_address()["0000:11:00.0"].vendor_id == "1103"


def test_82599_grep_output_keeps_no_orphan_lines(shared: Path, ids: pciids.PciIds) -> None:
    result = parse_file(shared, "satishdotpatel_osa_82599_lspci_sriov_cap.txt", pci_ids=ids, guess_ids=True)
    assert [r.address for r in result.records] == ["0000:06:00.0", "0000:06:00.1"]
    assert all(not r.sriov for r in result.records)  # the grep'd capability lines have no header
    assert result.devices == ()  # "Intel(R)" is no pci.ids vendor name


def test_fuji_plain_with_guessing_finds_unambiguous_names(shared: Path, ids: pciids.PciIds) -> None:
    devs = parse_file(shared, "asokolsky_fuji_plain_lspci.txt", pci_ids=ids, guess_ids=True).by_address()
    assert (devs["0000:05:00.0"].vendor_id, devs["0000:05:00.0"].product_id) == ("8086", "1521")
    assert "0000:00:00.0" not in devs  # that name belongs to several IDs: no guess


# -- the real-kernel captures' own lspci outputs agree with sysfs ----------------------------


@pytest.mark.parametrize("capture", ["lab-iommu", "lab-noiommu"])
@pytest.mark.parametrize("command", ["lspci-nnk.txt", "lspci-vmmnnkD.txt", "lspci-vvvnnD.txt"])
def test_capture_outputs_agree_with_sysfs(shared: Path, capture: str, command: str) -> None:
    with roots.open_root(shared / "corpus/realkernel" / f"{capture}.tar.gz") as root:
        scan = sysfs.read_devices(root, pci_ids=None)
        text = root.read_text(f"cmd/{command}", limit=1 << 22)
    assert text is not None
    result = lspci.parse(text, source=command)
    assert result.problems == ()
    got = {d.address: (d.vendor_id, d.product_id, d.driver) for d in result.devices}
    want = {d.address: (d.vendor_id, d.product_id, d.driver) for d in scan.devices}
    assert got == want
    devs = result.by_address()
    if command != "lspci-nnk.txt":
        for dev in scan.devices:
            assert devs[dev.address].class_code == dev.class_code
            assert devs[dev.address].numa_node == dev.numa_node
            assert devs[dev.address].iommu_group == dev.iommu_group
            assert devs[dev.address].revision == dev.revision
    if command == "lspci-vvvnnD.txt":
        pf = devs["0000:81:00.0"]
        assert (pf.dev_type, pf.sriov_totalvfs, pf.sriov_numvfs, pf.sriov_vf_device) == (
            model.TYPE_PF, 8, 4, "0010")
        assert devs["0000:81:00.1"].dev_type is None  # lspci cannot tell a VF


# -- variants ------------------------------------------------------------------------------


def test_fences_prompts_and_unknown_device_names() -> None:
    text = ("Some prose before.\n```console\n$ lspci -nnk\n"
            "6b:00.0 Co-processor [0b40]: Intel Corporation Device [8086:4940] (rev 40)\n"
            "    Subsystem: Intel Corporation Device [8086:0000]\n"
            "    Kernel driver in use: 4xxx\n"
            "```\nMore prose: 6b:00.1 is not listed.\n")
    result = lspci.parse(text, source="paste.md")
    (dev,) = result.devices
    assert (dev.address, dev.vendor_id, dev.product_id, dev.revision) == ("0000:6b:00.0", "8086", "4940", "40")
    assert dev.name is None and dev.driver == "4xxx"
    assert result.problems == ()


def test_vmm_without_domain_or_ids() -> None:
    text = ("Slot:\t00:03.0\nClass:\tEthernet controller [0200]\nVendor:\tRed Hat, Inc. [1af4]\n"
            "Device:\tVirtio network device [1000]\nRev:\t01\nDriver:\tvirtio-pci\nModule:\tvirtio_pci\n"
            "\nSlot:\t00:04.0\nClass:\tEthernet controller\nVendor:\tRed Hat, Inc.\n"
            "Device:\tVirtio network device\n")
    result = lspci.parse(text, source="vmm.txt")
    (dev,) = result.devices
    assert (dev.address, dev.vendor_id, dev.product_id, dev.class_code) == (
        "0000:00:03.0", "1af4", "1000", "020000")
    assert (dev.revision, dev.driver, dev.name) == ("01", "virtio-pci", "Red Hat, Inc. Virtio network device")
    assert [(p.code, p.line) for p in result.problems] == [("LspciNoIds", 9)]


def test_iommu_group_loop_prefix() -> None:
    text = ("IOMMU group 1 00:01.0 PCI bridge [0604]: Intel Corporation Xeon E3-1200 v5/E3-1500 v5/6th "
            "Gen Core Processor PCIe Controller (x16) [8086:1901] (rev 07)\n"
            "IOMMU group 13 01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP104 "
            "[GeForce GTX 1070] [10de:1b81] (rev a1)\n")
    devs = lspci.parse(text).by_address()
    assert devs["0000:01:00.0"].iommu_group == 13 and devs["0000:00:01.0"].iommu_group == 1
    assert devs["0000:01:00.0"].product_id == "1b81"


def test_conflicting_records_are_reported_on_their_line() -> None:
    text = ("01:00.0 Ethernet controller [0200]: X [8086:1521] (rev 01)\n\tKernel driver in use: igb\n"
            "01:00.0 Ethernet controller [0200]: X [8086:1521] (rev 01)\n\tKernel driver in use: vfio-pci\n")
    result = lspci.parse(text, source="two.txt")
    assert result.devices[0].driver == "igb"
    (problem,) = result.problems
    assert (problem.code, problem.line, problem.file) == ("LspciConflict", 3, "two.txt")
    assert "driver is 'igb' on line 1 but 'vfio-pci' here" in problem.message


def test_bad_address_and_empty_paste() -> None:
    result = lspci.parse("00:3f.0 Host bridge [0600]: X [8086:0001]\n")
    assert [(p.code, p.line) for p in result.problems] == [("LspciBadLine", 1), ("LspciNoDevices", None)]
    assert lspci.parse("").problems[0].code == "LspciNoDevices"


def test_domain_other_than_zero_is_kept() -> None:
    (dev,) = lspci.parse("10000:00:00.0 X [0600]: Y [8086:0001]\n0001:3a:00.0 Ethernet controller "
                         "[0200]: Z [15b3:1017]\n").devices
    assert dev.address == "0001:3a:00.0"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from([
    "00:01.0 PCI bridge [0604]: Intel Corporation X [8086:1901] (rev 07)", "\tSubsystem: A [1:2]",
    "\tKernel driver in use: x", "Slot:\t00:02.0", "Vendor:\tFoo [zzzz]", "```", "", "$ lspci",
    "\tCapabilities: [160 v1] Single Root I/O Virtualization (SR-IOV)", "\t\tTotal VFs: x",
    "\t\tInitial VFs: 64, Total VFs: 64, Number of VFs: 0", "NUMANode:\t-1", "IOMMUGroup:\tx",
    "ff:1f.7 : [", "\tNUMA node: banana"]) | st.text(max_size=40), max_size=30))
def test_parser_never_raises(lines: list[str]) -> None:
    result = lspci.parse("\n".join(lines), source="fuzz")
    for dev in result.devices:
        assert len(dev.vendor_id) == 4 and len(dev.product_id) == 4
