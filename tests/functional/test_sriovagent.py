"""The Neutron SR-IOV agent ini, read with the agent's own parsing rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcipass.adapters import sriovagent
from pcipass.services.jsonview import to_json

CONF_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "conf"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sriov_agent.ini"
    path.write_text(body, encoding="utf-8")
    return path


def test_fixture_agent_config() -> None:
    path = CONF_DIR / "sriov_agent.ini"
    agent = sriovagent.read_sriov_agent_conf(path)
    assert agent.problems == [] and agent.warnings == []
    assert agent.device_mappings == {"physnet2": ["ens785f0", "ens785f1"], "physnet3": ["ens1f0"]}
    assert [(m.physnet, m.ifname, m.line, m.item) for m in agent.mappings] == [
        ("physnet2", "ens785f0", 5, 0), ("physnet2", "ens785f1", 5, 1), ("physnet3", "ens1f0", 5, 2)]
    # a continuation line carries the second exclude item
    assert agent.exclude_devices == {"ens785f0": ["0000:3b:02.0", "0000:3b:02.1"],
                                     "ens1f0": ["0000:5e:00.2"]}
    assert [(b.ifname, b.egress, b.ingress) for b in agent.bandwidths] == [
        ("ens785f0", 10000000, 10000000), ("ens1f0", None, None)]
    doc = to_json(agent)
    assert doc["physical_device_mappings"]["physnet2"] == ["ens785f0", "ens785f1"]
    assert doc["resource_provider_bandwidths"]["ens1f0"] == {"egress": None, "ingress": None}
    assert doc["errors"] == []


def test_upper_case_group_spaces_and_duplicates(tmp_path: Path) -> None:
    agent = sriovagent.read_sriov_agent_conf(write(
        tmp_path, "[SRIOV_NIC]\nphysical_device_mappings = physnet7 : p7p1 , physnet3 : p3p1 ,"
                  "physnet7:p7p1,physnet7:p7p2\n"))
    assert agent.problems == []
    assert agent.device_mappings == {"physnet7": ["p7p1", "p7p2"], "physnet3": ["p3p1"]}


@pytest.mark.parametrize("value, message, item", [
    ("physnet7", "Invalid mapping: 'physnet7'", 0),
    ("physnet1:eth0,a:b:c", "Invalid mapping: 'a:b:c'", 1),
    ("physnet1:eth0, :eth1", "Missing key in mapping: ':eth1'", 1),
    ("physnet1:", "Missing value in mapping: 'physnet1:'", 0),
])
def test_bad_mappings(tmp_path: Path, value: str, message: str, item: int) -> None:
    path = write(tmp_path, f"[sriov_nic]\n\nphysical_device_mappings = {value}\n")
    agent = sriovagent.read_sriov_agent_conf(path)
    assert [(p.code, p.message, p.file, p.line, p.entry) for p in agent.problems] == [
        ("SriovAgentConfigInvalid", message, str(path), 3,
         f"[sriov_nic] physical_device_mappings item {item}")]


def test_exclude_devices_rules(tmp_path: Path) -> None:
    path = write(tmp_path, "[sriov_nic]\nphysical_device_mappings = physnet1:eth1\n"
                           "exclude_devices = eth1:0000:07:00.2;0000:07:00.3,\n"
                           "    eth1:0000:07:00.4,\n    eth9:0000:09:00.1,\n    nocolon,\n"
                           "    eth1x:07:00.1\n")
    agent = sriovagent.read_sriov_agent_conf(path)
    got = [(p.message, p.line) for p in agent.problems]
    assert got == [
        ("Device eth1 in mapping: eth1:0000:07:00.4 not unique", 4),
        ("Invalid exclude_devices: Device name eth9 is missing from physical_device_mappings", 5),
        ("Invalid mapping: 'nocolon'", 6),
        ("Invalid exclude_devices: Device name eth1x is missing from physical_device_mappings", 7),
    ]
    assert agent.exclude_devices == {"eth1": ["0000:07:00.2", "0000:07:00.3"]}


def test_excluded_short_address_warns(tmp_path: Path) -> None:
    path = write(tmp_path, "[sriov_nic]\nphysical_device_mappings = physnet1:eth1\n"
                           "exclude_devices = eth1:07:00.2\n")
    agent = sriovagent.read_sriov_agent_conf(path)
    assert agent.problems == []
    assert [(w.code, w.line) for w in agent.warnings] == [("ExcludedDeviceNotAnAddress", 3)]


@pytest.mark.parametrize("value, fragment", [
    ("eth1:1:2:3", "Expected a tuple with 3 values, got: eth1:1:2:3"),
    ("eth1:fast:", "non-negative integer value, got: fast"),
    ("eth1:-5:", "non-negative integer value, got: -5"),
    ("eth1::,eth1:1:1", 'Same resource name listed multiple times: "eth1"'),
    ("eth2:1:1", "Device name eth2 is missing from device mappings"),
])
def test_bandwidth_rules(tmp_path: Path, value: str, fragment: str) -> None:
    path = write(tmp_path, "[sriov_nic]\nphysical_device_mappings = physnet1:eth1\n"
                           f"resource_provider_bandwidths = {value}\n")
    agent = sriovagent.read_sriov_agent_conf(path)
    assert len(agent.problems) == 1
    assert fragment in agent.problems[0].message and agent.problems[0].line == 3


def test_no_mappings_warns_and_broken_files_are_problems(tmp_path: Path) -> None:
    agent = sriovagent.read_sriov_agent_conf(write(tmp_path, "[sriov_nic]\nexclude_devices =\n"))
    assert [w.code for w in agent.warnings] == ["NoDeviceMappings"]
    missing = sriovagent.read_sriov_agent_conf(tmp_path / "nope.ini")
    assert [p.code for p in missing.problems] == ["ConfigFilesNotFoundError"]
    broken = sriovagent.read_sriov_agent_conf(write(tmp_path, "[sriov_nic]\n\n  x = y\n"))
    assert [(p.code, p.line) for p in broken.problems] == [("ConfigFileParseError", 3)]
    binary = tmp_path / "bin.ini"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert [p.code for p in sriovagent.read_sriov_agent_conf(binary).problems] == [
        "ConfigFileDecodeError"]
