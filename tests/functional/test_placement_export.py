"""pcipass placement export against a real Placement: --placement-url, --os-cloud, and the file read back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from placementserver import PlacementServer
from support import run_cli, validate_schema

from pcipass.adapters import placementfile


def _seed(placement: PlacementServer) -> dict[str, str]:
    """A compute node with one PF provider, a trait, and an instance holding 2 VFs and 4 VCPUs."""
    cn, pf, consumer = (str(uuid.uuid4()) for _ in range(3))
    placement.request("POST", "/resource_providers", {"uuid": cn, "name": "compute-1"})
    placement.request("PUT", f"/resource_providers/{cn}/inventories", {
        "resource_provider_generation": 0,
        "inventories": {"VCPU": {"total": 32, "allocation_ratio": 4.0}, "MEMORY_MB": {"total": 65536,
                                                                                      "reserved": 512}}})
    placement.request("PUT", "/resource_classes/CUSTOM_PCI_8086_154C")
    placement.request("POST", "/resource_providers", {
        "uuid": pf, "name": "compute-1_0000:81:00.0", "parent_provider_uuid": cn})
    placement.request("PUT", f"/resource_providers/{pf}/inventories", {
        "resource_provider_generation": 0,
        "inventories": {"CUSTOM_PCI_8086_154C": {"total": 8, "max_unit": 8}}})
    placement.request("PUT", f"/resource_providers/{pf}/traits", {
        "resource_provider_generation": 1, "traits": ["COMPUTE_MANAGED_PCI_DEVICE", "OWNER_NOVA"]})
    placement.request("PUT", f"/allocations/{consumer}", {
        "allocations": {cn: {"resources": {"VCPU": 4}}, pf: {"resources": {"CUSTOM_PCI_8086_154C": 2}}},
        "project_id": str(uuid.uuid4()), "user_id": str(uuid.uuid4()), "consumer_generation": None,
        "consumer_type": "INSTANCE"})
    return {"cn": cn, "pf": pf, "consumer": consumer}


def _check_view(doc: dict[str, Any], ids: dict[str, str]) -> None:
    validate_schema(doc, "placement-view")
    assert doc["microversion"] == "1.39"
    cn, pf = doc["providers"]  # sorted by name
    assert (cn["name"], cn["uuid"], cn["parent"], cn["root"]) == ("compute-1", ids["cn"], None, ids["cn"])
    assert (pf["name"], pf["uuid"], pf["parent"], pf["root"]) == (
        "compute-1_0000:81:00.0", ids["pf"], ids["cn"], ids["cn"])
    vcpu = next(i for i in cn["inventories"] if i["resource_class"] == "VCPU")
    mem = next(i for i in cn["inventories"] if i["resource_class"] == "MEMORY_MB")
    assert (vcpu["total"], vcpu["allocation_ratio"]) == (32, 4.0)
    assert (mem["total"], mem["reserved"]) == (65536, 512)
    assert pf["inventories"] == [{"resource_class": "CUSTOM_PCI_8086_154C", "total": 8, "reserved": 0,
                                  "min_unit": 1, "max_unit": 8, "step_size": 1, "allocation_ratio": 1.0}]
    assert pf["traits"] == ["COMPUTE_MANAGED_PCI_DEVICE", "OWNER_NOVA"]
    assert pf["usages"] == {"CUSTOM_PCI_8086_154C": 2}
    assert cn["usages"] == {"MEMORY_MB": 0, "VCPU": 4}
    assert pf["generation"] == 3  # inventories, traits, then the allocation
    assert doc["allocations"] == [{"consumer": ids["consumer"], "resources": {
        ids["cn"]: {"VCPU": 4}, ids["pf"]: {"CUSTOM_PCI_8086_154C": 2}}}]


def test_export_placement_url_writes_the_view(placement: PlacementServer, tmp_path: Path) -> None:
    ids = _seed(placement)
    out = tmp_path / "view.json"
    res = run_cli(["placement", "export", "--placement-url", placement.url, "-o", str(out)])
    assert res.code == 0, res.err
    assert "2 providers, 1 consumers" in res.err
    doc = json.loads(out.read_text())
    assert doc["source"] == placement.url
    _check_view(doc, ids)
    # Read back as the doctor reads it: the same records.
    state = placementfile.read_view(out)
    assert [p.name for p in state.providers] == ["compute-1", "compute-1_0000:81:00.0"]
    assert state.by_name("compute-1_0000:81:00.0").usages == {"CUSTOM_PCI_8086_154C": 2}  # type: ignore[union-attr]


def test_export_os_cloud_through_clouds_yaml(placement: PlacementServer, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _seed(placement)
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  lab:\n    auth_type: none\n"
                      f"    placement_endpoint_override: {placement.url}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    out = tmp_path / "view.json"
    res = run_cli(["placement", "export", "--os-cloud", "lab", "-o", str(out)])
    assert res.code == 0, res.err
    doc = json.loads(out.read_text())
    assert doc["source"] == f"cloud:lab ({placement.url})"
    _check_view(doc, ids)


def test_export_os_cloud_unknown_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  lab:\n    auth_type: none\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    res = run_cli(["placement", "export", "--os-cloud", "elsewhere", "-o", str(tmp_path / "v.json")])
    assert res.code == 2
    assert "cloud 'elsewhere'" in res.err and "fix:" in res.err
    assert "Traceback" not in res.err
    assert not (tmp_path / "v.json").exists()


def test_export_empty_placement(placement: PlacementServer, tmp_path: Path) -> None:
    out = tmp_path / "empty.json"
    assert run_cli(["placement", "export", "--placement-url", placement.url, "-o", str(out)]).code == 0
    doc = json.loads(out.read_text())
    validate_schema(doc, "placement-view")
    assert (doc["providers"], doc["allocations"]) == ([], [])


@pytest.mark.parametrize("args", [
    [], ["--placement-url", "http://127.0.0.1:1", "--os-cloud", "x"],
    ["--os-cloud", "x", "--token", "t"]])
def test_export_usage_errors(args: list[str], tmp_path: Path) -> None:
    res = run_cli(["placement", "export", *args, "-o", str(tmp_path / "v.json")])
    assert res.code == 64
    assert "--placement-url" in res.err or "--token" in res.err


def test_export_unreachable_placement(tmp_path: Path) -> None:
    res = run_cli(["placement", "export", "--placement-url", "http://127.0.0.1:9", "--timeout", "2",
                   "-o", str(tmp_path / "v.json")])
    assert res.code == 2
    assert "cannot reach Placement" in res.err and "127.0.0.1:9" in res.err
    assert not (tmp_path / "v.json").exists()


@pytest.mark.parametrize(("doc", "where"), [
    ("[]", "the document"),
    ('{"schema": "pcipass-placement/1"}', "schema"),
    ('{"schema": "pcipass-placement-view/1", "source": "x", "microversion": "1.39", "providers": '
     '[{"name": "a", "uuid": "u", "parent": null, "root": "u", "generation": true, '
     '"inventories": [], "traits": [], "usages": {}}], "allocations": []}', "providers[0].generation"),
    ('{"schema": "pcipass-placement-view/1", "source": "x", "microversion": "1.39", "providers": '
     '[{"name": "a", "uuid": "u", "parent": null, "root": "u", "generation": 1, '
     '"inventories": [{"resource_class": "VCPU", "total": "8"}], "traits": [], "usages": {}}], '
     '"allocations": []}', "providers[0].inventories[0].total"),
    ("{not json", "not JSON"),
])
def test_view_file_hostile(doc: str, where: str, tmp_path: Path) -> None:
    path = tmp_path / "view.json"
    path.write_text(doc)
    with pytest.raises(placementfile.PlacementViewInvalid) as info:
        placementfile.read_view(path)
    assert where in info.value.message and str(path) in info.value.message
