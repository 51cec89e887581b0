"""virsh nodedev-dumpxml / nodedev-list --tree pastes (issue 18 point 3): parser, scan and doctor.

Expected values were read by hand from tests/fixtures/nodedev/ (origins beside each file).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from support import FIXTURES, run_json
from pcipass.adapters import nodedev
from pcipass.core import model

NODEDEV = FIXTURES / "nodedev"


def parse(name: str) -> nodedev.NodedevParse:
    return nodedev.parse((NODEDEV / name).read_text(encoding="utf-8"), source=name)


def test_every_fixture_has_its_origin() -> None:
    data = [p for p in NODEDEV.iterdir() if not p.name.endswith(".source.txt")]
    assert data and all(p.with_name(p.name + ".source.txt").is_file() for p in data)


def test_x520_pf() -> None:
    result = parse("x520_pf.xml")
    (pf,) = result.devices
    # domain 0, bus 5, slot 0, function 1; product 0x154d, vendor 0x8086; class 0x020000.
    assert (pf.address, pf.vendor_id, pf.product_id, pf.class_code) == ("0000:05:00.1", "8086", "154d", "020000")
    # <driver><name>ixgbe</name>, <numa node="0"/>, <iommuGroup number="23">.
    assert (pf.driver, pf.numa_node, pf.iommu_group) == ("ixgbe", 0, 23)
    # virt_functions with maxCount="63" and four <address> lines: a PF with 4 of 63 VFs.
    assert (pf.dev_type, pf.sriov_totalvfs, pf.sriov_numvfs) == (model.TYPE_PF, 63, 4)
    assert result.iommu_groups == {23: ("0000:05:00.1",)} and result.problems == ()


def test_concatenated_documents_pf_and_vf() -> None:
    result = parse("igb_82576_pf_and_vf.xml")
    devs = {d.address: d for d in result.devices}
    assert sorted(devs) == ["0000:02:00.0", "0000:02:10.7"]  # slot 16 is 0x10
    vf = devs["0000:02:10.7"]
    # phys_function names 0000:02:00.1; class 0xffffff is libvirt's "unknown": no class.
    assert (vf.dev_type, vf.parent_addr, vf.product_id, vf.class_code) == (
        model.TYPE_VF, "0000:02:00.1", "10ca", None)
    # The first document has no SR-IOV capability at all: a plain PCI device as libvirt saw it.
    assert devs["0000:02:00.0"].dev_type == model.TYPE_PCI
    # Group 12 lists 02:00.0 and 02:00.1 (the second port is not described, but is a member).
    assert result.iommu_groups == {12: ("0000:02:00.0", "0000:02:00.1"), 31: ("0000:02:10.7",)}


def test_tree_and_xml_in_a_markdown_post() -> None:
    result = parse("titanx.md")
    (gpu,) = result.devices
    assert (gpu.address, gpu.vendor_id, gpu.product_id, gpu.driver, gpu.iommu_group) == (
        "0000:02:00.0", "10de", "1b00", "vfio-pci", 45)
    # The tree: 02:00.0 and 02:00.1 under the root port pci_0000_00_02_0.
    assert result.tree_parents["pci_0000_02_00_1"] == "pci_0000_00_02_0"
    # Six functions appear only in the tree (00:00.0, 00:02.0, 00:03.0, 02:00.1, 03:00.0, 03:00.1).
    (only,) = [p for p in result.problems if p.code == "NodedevTreeOnly"]
    assert only.message.startswith("6 PCI function(s)")


def test_tree_names_the_interfaces() -> None:
    text = ("computer\n  |\n  +- pci_0000_00_03_0\n  |   |\n  |   +- pci_0000_10_00_0\n"
            "  |   |   |\n  |   |   +- net_ens4f0_a0_36_9f_be_a5_68\n"
            "<device><name>pci_0000_10_00_0</name><capability type='pci'><domain>0</domain>"
            "<bus>16</bus><slot>0</slot><function>0</function><product id='0x1521'/>"
            "<vendor id='0x8086'/></capability></device>\n")
    (dev,) = nodedev.parse(text).devices
    assert dev.netdevs == ("ens4f0",) and dev.address == "0000:10:00.0"


@pytest.mark.parametrize(("text", "code"), [
    ("", "NodedevNoDevices"),
    ("<device><name>pci_0000_00_00_0</name><capability type='pci'><domain>0", "NodedevBadXml"),  # truncated
    ("<device><name>x</name><capability type='pci'><bus>1</bus></capability></device>", "NodedevBadDevice"),
    ("<device><capability type='pci'><domain>0</domain><bus>1</bus><slot>0</slot><function>0"
     "</function><vendor id='0xzz'/><product id='0x1'/></capability></device>", "NodedevBadDevice"),
    ("<device><capability type='pci'><domain>0</domain><bus>999</bus><slot>0</slot><function>0"
     "</function><vendor id='0x8086'/><product id='0x1'/></capability></device>", "NodedevBadDevice"),
    ("<device><a></b></device>", "NodedevBadXml"),  # malformed
    ('<!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><device>&b;</device>', "NodedevBadXml"),
])
def test_hostile_documents(text: str, code: str) -> None:
    result = nodedev.parse(text)
    assert result.devices == () and code in {p.code for p in result.problems}


def test_unknown_tags_are_ignored() -> None:
    text = ("<device><name>pci_0000_01_00_0</name><frobnicate/><capability type='pci'><domain>0</domain>"
            "<bus>1</bus><slot>0</slot><function>0</function><product id='0x1df6'/><vendor id='0x10de'/>"
            "<capability type='vpd'><whatever/></capability><unknown x='1'/></capability></device>")
    (dev,) = nodedev.parse(text).devices
    assert (dev.vendor_id, dev.product_id, dev.dev_type) == ("10de", "1df6", model.TYPE_PCI)


def test_many_documents_stay_fast() -> None:
    doc = (NODEDEV / "x520_pf.xml").read_text().split("?>", 1)[1]
    start = time.perf_counter()
    result = nodedev.parse(doc * 2000 + "<device>" + "x" * 100000)
    assert time.perf_counter() - start < 10
    assert len(result.devices) == 1 and {p.code for p in result.problems} >= {"NodedevDuplicate", "NodedevBadXml"}


# -- scan and doctor --------------------------------------------------------------------------------


def test_scan_nodedev_hosts(cli: Any) -> None:
    code, doc = run_json(cli, "scan", "--nodedev", str(NODEDEV / "x520_pf.xml"),
                         "--nodedev", str(NODEDEV / "igb_82576_pf_and_vf.xml"))
    assert code == 0
    hosts = {h["name"]: h for h in doc["hosts"]}
    assert sorted(hosts) == ["igb_82576_pf_and_vf", "x520_pf"]
    assert {h["kind"] for h in hosts.values()} == {"nodedev"}
    (pf,) = hosts["x520_pf"]["devices"]
    assert (pf["dev_type"], pf["sriov_totalvfs"], pf["driver"]) == ("type-PF", 63, "ixgbe")


def test_doctor_nodedev_group_check(cli: Any, tmp_path: Path) -> None:
    conf = tmp_path / "nova.conf"
    conf.write_text('[pci]\ndevice_spec = {"vendor_id": "10de", "product_id": "1b00"}\n')
    _code, doc = run_json(cli, "doctor", "--nodedev", str(NODEDEV / "titanx.md"), "--compute-conf", str(conf))
    k005 = [f for f in doc["findings"] if f["id"] == "PCI-K005"]
    # Group 45 holds 02:00.0 (claimed) and 02:00.1, whose driver the paste does not show: no
    # verdict on it, but the check ran on the XML's group (no skip).
    assert all(f["severity"] != "skip" for f in k005)
    assert not [f for f in doc["findings"] if f["id"] == "PCI-D008"]  # types known from the XML
    rows = doc["mapping"]["specs"]
    assert [d["address"] for d in rows[0]["devices"]] == ["0000:02:00.0"]


def test_bad_nodedev_file_exits_2(cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "h.xml"
    bad.write_text("<device><a></b></device>\n")
    res = cli(["scan", "--nodedev", str(bad)])
    assert res.code == 2 and "no PCI device found" in res.err and "Traceback" not in res.err


def test_tree_and_xml_in_two_files_of_one_stem_are_one_host(cli: Any, tmp_path: Path) -> None:
    text = (NODEDEV / "titanx.md").read_text()
    cut = text.index("### 查看")  # the tree's section, then the dumpxml's
    (tmp_path / "titan.txt").write_text(text[:cut])
    (tmp_path / "titan.xml").write_text(text[cut:])
    _code, doc = run_json(cli, "scan", "--nodedev", str(tmp_path / "titan.txt"),
                          "--nodedev", str(tmp_path / "titan.xml"))
    (host,) = doc["hosts"]
    assert host["name"] == "titan" and [d["address"] for d in host["devices"]] == ["0000:02:00.0"]
    # The tree (first file) names six functions the XML (second file) does not describe.
    assert any("6 PCI function(s) appear only in the tree form" in w for w in host["warnings"])


def test_a_bad_document_is_named_by_its_line_and_the_others_count() -> None:
    text = (NODEDEV / "igb_82576_pf_and_vf.xml").read_text() + "\n<device><a></b></device>\n"
    result = nodedev.parse(text, source="h.xml")
    # The fixture has 41 lines, then a blank line 42: the broken document starts on line 43.
    assert [(p.code, p.file, p.line) for p in result.problems] == [("NodedevBadXml", "h.xml", 43)]
    assert len(result.devices) == 2


def test_many_empty_documents_stay_linear() -> None:
    start = time.perf_counter()
    nodedev.parse("<device></device>\n" * 100000)
    assert time.perf_counter() - start < 10  # 28 s when each line number was counted from the start
