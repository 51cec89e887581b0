"""pcipass placement sync against a real Placement: dry run, --apply, ownership, drift, deletes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from placementserver import PlacementServer
from support import run_cli, validate_schema

from pcipass import fakehost

PROFILE = "1x intel-x710 numa=0 vfs=3; 1x nvidia-a100 numa=1 driver=vfio-pci; hostname=compute-7"
CONF = """\
[pci]
report_in_placement = True
device_spec = {"vendor_id": "8086", "product_id": "154c", "traits": "fast"}
device_spec = {"vendor_id": "10de", "resource_class": "pgpu"}
"""
VF_RP, GPU_RP = "compute-7_0000:01:00.0", "compute-7_0000:81:00.0"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> str:
    built = fakehost.build(tmp_path_factory.mktemp("sync") / "h1", PROFILE)
    (built.root / "etc" / "nova").mkdir(parents=True, exist_ok=True)
    (built.root / "etc" / "nova" / "nova.conf").write_text(CONF)
    return str(built.root)


def sync(placement: PlacementServer, host: str, *extra: str) -> tuple[int, dict[str, Any]]:
    res = run_cli(["placement", "sync", "--placement-url", placement.url, "--host", host,
                   "--hypervisor-hostname", "compute-7", "--no-facts-cache", "-f", "json", *extra])
    assert res.code in (0, 2), res.err
    doc = res.json()
    validate_schema(doc, "placement-sync")
    return res.code, doc


def providers(placement: PlacementServer) -> dict[str, dict[str, Any]]:
    out = {}
    for rp in placement.request("GET", "/resource_providers")["resource_providers"]:
        u = rp["uuid"]
        rp["inventories"] = placement.request("GET", f"/resource_providers/{u}/inventories")["inventories"]
        rp["traits"] = sorted(placement.request("GET", f"/resource_providers/{u}/traits")["traits"])
        out[rp["name"]] = rp
    return out


def actions(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["change"]["action"], c["change"]["provider"], c["status"])
            for h in doc["hosts"] for c in h["changes"]]


def test_sync_dry_run_writes_nothing(placement: PlacementServer, host: str) -> None:
    code, doc = sync(placement, host)
    assert code == 0 and doc["applied"] is False
    assert actions(doc) == [
        ("create_compute", "compute-7", "planned"),
        ("create_provider", VF_RP, "planned"), ("set_inventory", VF_RP, "planned"),
        ("set_traits", VF_RP, "planned"),
        ("create_provider", GPU_RP, "planned"), ("set_inventory", GPU_RP, "planned"),
        ("set_traits", GPU_RP, "planned")]
    inv = doc["hosts"][0]["changes"][2]["change"]["after"]
    assert inv == ["CUSTOM_PCI_8086_154C: total 3, max_unit 3, reserved 0"]
    assert placement.request("GET", "/resource_providers")["resource_providers"] == []
    table = run_cli(["placement", "sync", "--placement-url", placement.url, "--host", host,
                     "--hypervisor-hostname", "compute-7", "--no-facts-cache"])
    assert "dry run" in table.out and f"+ create_provider {VF_RP}" in table.out


def test_sync_apply_makes_placement_hold_the_translation(placement: PlacementServer, host: str) -> None:
    code, doc = sync(placement, host, "--apply")
    assert code == 0 and doc["applied"] is True
    assert {s for _, _, s in actions(doc)} == {"applied"}
    held = providers(placement)
    assert set(held) == {"compute-7", VF_RP, GPU_RP}
    cn = held["compute-7"]
    assert cn["parent_provider_uuid"] is None and cn["traits"] == ["CUSTOM_PCIPASS_OWNED"]
    vf = held[VF_RP]
    assert vf["parent_provider_uuid"] == cn["uuid"]
    assert vf["inventories"]["CUSTOM_PCI_8086_154C"]["total"] == 3
    assert vf["inventories"]["CUSTOM_PCI_8086_154C"]["max_unit"] == 3
    assert vf["traits"] == ["COMPUTE_MANAGED_PCI_DEVICE", "CUSTOM_FAST", "OWNER_NOVA"]
    gpu = held[GPU_RP]
    assert list(gpu["inventories"]) == ["PGPU"] and gpu["inventories"]["PGPU"]["total"] == 1
    # A second run finds nothing to do.
    code, again = sync(placement, host)
    assert code == 0 and actions(again) == []
    # Placement's allocation candidates now offer the VFs as Nova asks for them.
    cands = placement.request(
        "GET", "/allocation_candidates?resources_PCI1=CUSTOM_PCI_8086_154C:1&required_PCI1=CUSTOM_FAST"
               "&resources_PCI2=CUSTOM_PCI_8086_154C:1&group_policy=none")
    assert len(cands["allocation_requests"]) >= 1
    assert set(cands["provider_summaries"]) >= {vf["uuid"]}


def test_sync_refuses_a_tree_without_the_mark(placement: PlacementServer, host: str) -> None:
    nova_cn = str(uuid.uuid4())
    placement.request("POST", "/resource_providers", {"uuid": nova_cn, "name": "compute-7"})
    for args in ((), ("--apply",)):
        code, doc = sync(placement, host, *args)
        assert code == 2
        (h,) = doc["hosts"]
        assert h["owned"] is False and h["changes"] == []
        assert h["refusals"][0]["code"] == "PlacementTreeNotOwned"
    assert [p["uuid"] for p in placement.request("GET", "/resource_providers")["resource_providers"]] == [nova_cn]


def test_sync_repairs_drift_and_keeps_reserved(placement: PlacementServer, host: str) -> None:
    sync(placement, host, "--apply")
    held = providers(placement)
    vf = held[VF_RP]
    placement.request("PUT", f"/resource_providers/{vf['uuid']}/inventories", {
        "resource_provider_generation": vf["generation"],
        "inventories": {"CUSTOM_PCI_8086_154C": {"total": 8, "max_unit": 8, "reserved": 1}}})
    gpu = held[GPU_RP]
    placement.request("PUT", f"/resource_providers/{gpu['uuid']}/traits", {
        "resource_provider_generation": gpu["generation"], "traits": ["OWNER_NOVA"]})
    code, doc = sync(placement, host)
    assert actions(doc) == [("set_inventory", VF_RP, "planned"), ("set_traits", GPU_RP, "planned")]
    inv = doc["hosts"][0]["changes"][0]["change"]
    assert inv["before"] == ["CUSTOM_PCI_8086_154C: total 8, max_unit 8, reserved 1"]
    # Nova never sets reserved for a VF provider: Placement's value stays.
    assert inv["after"] == ["CUSTOM_PCI_8086_154C: total 3, max_unit 3, reserved 1"]
    code, doc = sync(placement, host, "--apply")
    assert code == 0
    held = providers(placement)
    assert held[VF_RP]["inventories"]["CUSTOM_PCI_8086_154C"]["total"] == 3
    assert held[VF_RP]["inventories"]["CUSTOM_PCI_8086_154C"]["reserved"] == 1
    assert held[GPU_RP]["traits"] == ["COMPUTE_MANAGED_PCI_DEVICE", "OWNER_NOVA"]


def test_sync_deletes_gone_providers_unless_allocated(placement: PlacementServer, host: str) -> None:
    sync(placement, host, "--apply")
    cn = providers(placement)["compute-7"]["uuid"]
    gone, held = str(uuid.uuid4()), str(uuid.uuid4())
    for rp, addr in ((gone, "0000:05:00.0"), (held, "0000:06:00.0")):
        placement.request("POST", "/resource_providers", {
            "uuid": rp, "name": f"compute-7_{addr}", "parent_provider_uuid": cn})
        placement.request("PUT", f"/resource_providers/{rp}/inventories", {
            "resource_provider_generation": 0, "inventories": {"PGPU": {"total": 1}}})
    placement.request("PUT", f"/allocations/{uuid.uuid4()}", {
        "allocations": {held: {"resources": {"PGPU": 1}}}, "project_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()), "consumer_generation": None, "consumer_type": "INSTANCE"})
    code, doc = sync(placement, host, "--apply")
    assert code == 2
    results = {c["change"]["provider"]: c for h in doc["hosts"] for c in h["changes"]}
    assert results["compute-7_0000:05:00.0"]["status"] == "applied"
    failed = results["compute-7_0000:06:00.0"]
    assert failed["status"] == "failed" and "409" in failed["message"]
    assert "used PGPU: 1" in failed["change"]["before"]
    names = set(providers(placement))
    assert "compute-7_0000:05:00.0" not in names and "compute-7_0000:06:00.0" in names


def test_sync_needs_a_placement(host: str, tmp_path: Path) -> None:
    res = run_cli(["placement", "sync", "--host", host])
    assert res.code == 64 and "--placement-url" in res.err
    res = run_cli(["placement", "sync", "--placement-url", "http://127.0.0.1:9", "--timeout", "2",
                   "--host", host])
    assert res.code == 2 and "cannot reach Placement" in res.err
    assert "Traceback" not in res.err


def test_sync_through_os_cloud(placement: PlacementServer, host: str, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(f"clouds:\n  lab:\n    auth_type: none\n    placement_endpoint_override: {placement.url}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    res = run_cli(["placement", "sync", "--os-cloud", "lab", "--host", host, "--hypervisor-hostname",
                   "compute-7", "--no-facts-cache", "--apply", "-f", "json"])
    assert res.code == 0, res.err
    assert res.json()["placement"] == f"cloud:lab ({placement.url})"
    assert set(providers(placement)) == {"compute-7", VF_RP, GPU_RP}
