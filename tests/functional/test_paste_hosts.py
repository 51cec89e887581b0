"""scan and doctor on hosts known only from pastes (issue 18): JSON validated against the schemas.

Expected values come from the fixture files (tests/fixtures/*/ with their origins), read by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support import FIXTURES, validate_schema

GROUPS = FIXTURES / "lspci_groups"
# The GTX 1660 of coopydood_issue213_groups.txt (line 6: [10de:2184], IOMMU group 2).
COMPUTE_CONF = """\
[pci]
device_spec = {"vendor_id": "10de", "product_id": "2184"}
alias = {"name": "gtx", "vendor_id": "10de", "product_id": "2184", "device_type": "type-PCI"}
[filter_scheduler]
enabled_filters = PciPassthroughFilter
"""


def run_json(cli: Any, command: str, *args: str) -> tuple[int, dict[str, Any]]:
    import json

    res = cli([command, *args, "-f", "json"])
    assert res.err == "" or "Traceback" not in res.err
    doc = json.loads(res.out)
    validate_schema(doc, command)
    return res.code, doc


def findings(doc: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["id"] == check]


def test_scan_group_listing_keeps_null_types_and_reads_groups(cli: Any) -> None:
    code, doc = run_json(cli, "scan", "--lspci", str(GROUPS / "coopydood_issue213_groups.txt"))
    assert code == 0
    (host,) = doc["hosts"]
    devs = {d["address"]: d for d in host["devices"]}
    # "IOMMU Group 2:" holds 00:01.0 and 01:00.0-.3; -nns shows no capability: types stay null.
    assert {a: d["iommu_group"] for a, d in devs.items() if d["iommu_group"] == 2} == {
        "0000:00:01.0": 2, "0000:01:00.0": 2, "0000:01:00.1": 2, "0000:01:00.2": 2, "0000:01:00.3": 2}
    assert {d["dev_type"] for d in devs.values()} == {None}
    assert any("-nnvvv" in w and "type-PCI" in w for w in host["warnings"])


def test_doctor_on_a_group_listing_runs_the_group_check_and_assumes_type_pci(cli: Any, tmp_path: Path) -> None:
    conf = tmp_path / "nova.conf"
    conf.write_text(COMPUTE_CONF)
    code, doc = run_json(cli, "doctor", "--lspci", str(GROUPS / "coopydood_issue213_groups.txt"),
                         "--compute-conf", str(conf), "--nova-conf", str(conf))
    assert [f["severity"] for f in findings(doc, "PCI-K005")] == []  # ran: no peer has a driver
    d008 = findings(doc, "PCI-D008")
    assert [f["severity"] for f in d008] == ["warn"] and "lspci -nnvvv" in d008[0]["fix"]
    # The type-PCI alias reaches the GPU: its unknown type is taken as type-PCI.
    (alias,) = doc["mapping"]["aliases"]
    assert [d["address"] for d in alias["hosts"][0]["devices"]] == ["0000:01:00.0"]
    assert code == 1  # warnings only


def test_doctor_group_check_on_an_ls_iommu_paste(cli: Any, tmp_path: Path) -> None:
    conf = tmp_path / "nova.conf"
    conf.write_text('[pci]\ndevice_spec = {"vendor_id": "1022", "product_id": "43d0"}\n')
    code, doc = run_json(cli, "doctor", "--lspci", str(GROUPS / "quickpassthrough_issue22_ls_iommu.txt"),
                         "--compute-conf", str(conf))
    # The spec claims 01:00.0 ([1022:43d0], "IOMMU Group  12"); 01:00.1 in the same group is
    # bound to ahci ("Kernel driver in use: ahci", line 6): the group is not viable.
    k005 = findings(doc, "PCI-K005")
    assert [(f["severity"], f["subject"]) for f in k005] == [("fail", "0000:01:00.0")]
    assert "0000:01:00.1" in k005[0]["message"] and "ahci" in k005[0]["message"]
    assert code == 2


def test_doctor_on_a_paste_without_groups_skips_the_group_check(cli: Any, shared: Path) -> None:
    _code, doc = run_json(cli, "doctor", "--lspci", str(shared / "corpus/lspci/satishdotpatel_v100s_lspci_nn.txt"))
    (k005,) = findings(doc, "PCI-K005")
    assert k005["severity"] == "skip" and "no IOMMU group numbers" in k005["message"]


def test_schedule_takes_an_untyped_paste_device_as_type_pci(cli: Any, shared: Path, tmp_path: Path) -> None:
    """The contradiction of issue 18 ("its spec wants 10de:1df6 dev_type=type-PCI, this host has
    device 10de:1df6") is gone: the -nn paste's GPUs are taken as type-PCI."""
    conf = tmp_path / "nova.conf"
    conf.write_text('[pci]\ndevice_spec = {"vendor_id": "10de", "product_id": "1df6"}\n'
                    'alias = {"name": "v100s", "vendor_id": "10de", "product_id": "1df6", '
                    '"device_type": "type-PCI"}\n[filter_scheduler]\nenabled_filters = PciPassthroughFilter\n')
    flavor = tmp_path / "gpu.json"
    flavor.write_text('{"name": "gpu", "vcpus": 2, "ram": 1024, "properties": {"pci_passthrough:alias": "v100s:2"}}')
    code, doc = run_json(cli, "schedule", "--lspci", str(shared / "corpus/lspci/satishdotpatel_v100s_lspci_nn.txt"),
                         "--compute-conf", str(conf), "--nova-conf", str(conf), "--flavor", str(flavor))
    (result,) = doc["results"]
    (host,) = result["hosts"]
    # The paste's -nn lines 5 and 6: 5e:00.0 and d8:00.0, both [10de:1df6] (the guest's 00:05.0
    # of line 8 has IDs only when this machine's pci.ids names them); two are asked for.
    assert host["fits"] is True, host["reasons"]
    got = {d["address"] for d in host["devices"]}
    assert len(got) == 2 and got <= {"0000:5e:00.0", "0000:d8:00.0", "0000:00:05.0"}
    assert {d["dev_type"] for d in host["devices"]} == {"type-PCI"}
    assert code == 0
