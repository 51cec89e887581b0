"""pcipass schedule --placement-url against a real Placement: candidates, filters, and every "no".

compute-7 has an X710 (PF on NUMA 0) with 3 VFs matched (traits "fast") and an A100 on NUMA 1;
compute-8 has an 82599 whose VFs are Neutron's (physical_network: never in Placement) and an
A100. ``placement sync --apply`` loads both into the real Placement; compute-9 (two X710 VFs)
is scanned but never synced. Then ``pcipass schedule --placement-url`` asks
``GET /allocation_candidates`` with Nova's groups and filters the candidates with the core.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from placementserver import PlacementServer
from support import PLACEMENT_CONTROLLER, run_cli, validate_schema

from pcipass import fakehost

FAST = '{"vendor_id": "8086", "product_id": "154c", "traits": "fast"}'
GPU = '{"vendor_id": "10de", "resource_class": "pgpu"}'
FLEET = {
    "compute-7": ("1x intel-x710 numa=0 vfs=3; 1x nvidia-a100 numa=1 driver=vfio-pci; "
                  "cmdline=intel_iommu=on iommu=pt; hostname=compute-7", [FAST, GPU]),
    "compute-8": ("1x intel-82599 numa=0 vfs=4; 1x nvidia-a100 numa=1 driver=vfio-pci; "
                  "cmdline=intel_iommu=on iommu=pt; hostname=compute-8",
                  ['{"vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet2"}',
                   GPU]),
    "compute-9": ("1x intel-x710 numa=0 vfs=2; cmdline=intel_iommu=on iommu=pt; hostname=compute-9",
                  [FAST]),
}
CONTROLLER = PLACEMENT_CONTROLLER
FLAVORS = {
    "fast2": {"pci_passthrough:alias": "fast:2"},
    "fast4": {"pci_passthrough:alias": "fast:4"},
    "gpu1": {"pci_passthrough:alias": "gpu:1"},
    # the VFs sit on node 0 and the GPU on node 1: Placement offers compute-7, the NUMA filter refuses
    "strict": {"pci_passthrough:alias": "fast:1,gpu:1", "hw:numa_nodes": "1",
               "hw:pci_numa_affinity_policy": "required"},
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("schedfleet")
    out = {}
    for name, (profile, specs) in FLEET.items():
        built = fakehost.build(base / name, profile)
        (built.root / "etc/nova").mkdir(parents=True, exist_ok=True)
        lines = "".join(f"device_spec = {s}\n" for s in specs)
        (built.root / "etc/nova/nova.conf").write_text(f"[pci]\nreport_in_placement = True\n{lines}")
        out[name] = built.root
    out["controller"] = base / "controller.conf"
    out["controller"].write_text(CONTROLLER)
    for name, extra in FLAVORS.items():
        out[name] = base / f"{name}.json"
        out[name].write_text(json.dumps({"name": name, "vcpus": 2, "ram": 2048, "disk": 10,
                                         "properties": extra}))
    return out


def synced(placement: PlacementServer, fleet: dict[str, Path]) -> dict[str, str]:
    res = run_cli(["placement", "sync", "--placement-url", placement.url, "--no-facts-cache",
                   "--host", str(fleet["compute-7"]), "--host", str(fleet["compute-8"]), "--apply"])
    assert res.code == 0, res.out + res.err
    rps = placement.request("GET", "/resource_providers")["resource_providers"]
    return {rp["name"]: rp["uuid"] for rp in rps}


def schedule(placement: PlacementServer, fleet: dict[str, Path], flavor: str,
             *extra: str) -> tuple[int, dict[str, Any]]:
    res = run_cli(["schedule", "--placement-url", placement.url, "--nova-conf",
                   str(fleet["controller"]), "--flavor", str(fleet[flavor]), "--no-facts-cache",
                   *[a for h in ("compute-7", "compute-8", "compute-9") for a in ("--host", str(fleet[h]))],
                   *extra, "-f", "json"])
    assert res.code in (0, 1, 2), res.err
    doc = res.json()
    validate_schema(doc, "schedule")
    return res.code, doc


def hosts_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["name"]: h for h in doc["results"][0]["hosts"]}


def test_two_vfs_come_from_the_provider_placement_allocated(
        placement: PlacementServer, fleet: dict[str, Path]) -> None:
    rps = synced(placement, fleet)
    code, doc = schedule(placement, fleet, "fast2")
    res = doc["results"][0]
    assert code == 0 and res["chosen_host"] == "compute-7"
    hosts = hosts_of(doc)
    assert hosts["compute-7"]["fits"] and len(hosts["compute-7"]["devices"]) == 2
    assert {d["dev_type"] for d in hosts["compute-7"]["devices"]} == {"type-VF"}
    pl = res["placement"]
    assert "resourcesr000-0=CUSTOM_PCI_8086_154C:1" in pl["query"]
    assert "requiredr000-1=CUSTOM_FAST" in pl["query"] and "group_policy=none" in pl["query"]
    seen = {h["name"]: h for h in pl["hosts"]}
    vf_rp = rps["compute-7_0000:01:00.0"]
    assert seen["compute-7"]["provider"] == rps["compute-7"]
    assert seen["compute-7"]["allocation"] == {vf_rp: {"CUSTOM_PCI_8086_154C": 2}}
    assert seen["compute-7"]["mappings"] == {"r000-0": [vf_rp], "r000-1": [vf_rp]}
    assert seen["compute-7"]["candidates"] >= 1 and seen["compute-7"]["passed"] >= 1
    # compute-8's VFs are Neutron's: not in Placement, so no candidate, naming the first group
    why8 = hosts["compute-8"]["reasons"]
    assert not hosts["compute-8"]["fits"] and why8[0]["layer"] == "placement"
    assert why8[0]["message"].startswith("Placement returned no candidate for this host: request "
                                         "group r000-0 (CUSTOM_PCI_8086_154C:1, required CUSTOM_FAST)")
    assert "compute-8_0000:81:00.0" in why8[0]["evidence"][1]["value"]
    # compute-9 was never synced
    why9 = hosts["compute-9"]["reasons"][0]
    assert why9["layer"] == "placement" and "no compute node provider named 'compute-9'" in why9["message"]
    assert seen["compute-9"]["provider"] is None


def test_the_group_that_fails_is_named_after_those_placed(
        placement: PlacementServer, fleet: dict[str, Path]) -> None:
    synced(placement, fleet)
    code, doc = schedule(placement, fleet, "fast4")
    assert code == 0 and doc["results"][0]["chosen_host"] is None
    why7 = hosts_of(doc)["compute-7"]["reasons"][0]["message"]
    assert "request group r000-3 (CUSTOM_PCI_8086_154C:1, required CUSTOM_FAST)" in why7
    assert why7.endswith("once the 3 group(s) before it are placed")


def test_candidates_the_numa_filter_refuses(placement: PlacementServer,
                                            fleet: dict[str, Path]) -> None:
    synced(placement, fleet)
    _code, doc = schedule(placement, fleet, "strict")
    host7 = hosts_of(doc)["compute-7"]
    seen = {h["name"]: h for h in doc["results"][0]["placement"]["hosts"]}
    assert not host7["fits"] and seen["compute-7"]["candidates"] >= 1
    assert seen["compute-7"]["passed"] == 0 and seen["compute-7"]["allocation"] is None
    assert host7["reasons"][0]["message"].startswith("Placement offered ")
    assert any(r["layer"] == "numa" for r in host7["reasons"][1:])


def test_gpus_on_both_hosts_and_the_weigher_picks(placement: PlacementServer,
                                                  fleet: dict[str, Path]) -> None:
    rps = synced(placement, fleet)
    _code, doc = schedule(placement, fleet, "gpu1")
    hosts = hosts_of(doc)
    assert hosts["compute-7"]["fits"] and hosts["compute-8"]["fits"]
    assert [d["address"] for d in hosts["compute-8"]["devices"]] == ["0000:81:00.0"]
    seen = {h["name"]: h for h in doc["results"][0]["placement"]["hosts"]}
    assert seen["compute-8"]["allocation"] == {rps["compute-8_0000:81:00.0"]: {"PGPU": 1}}
    # the weigher prefers fewer free devices: compute-8's 4 VFs are pooled (Neutron's), not in
    # Placement; compute-7 has 3 VFs and its GPU
    assert doc["results"][0]["chosen_host"] == "compute-7"


def test_an_allocation_held_in_placement_is_respected(placement: PlacementServer,
                                                      fleet: dict[str, Path]) -> None:
    rps = synced(placement, fleet)
    placement.request("PUT", "/allocations/9b6f4b8e-3c0c-4a43-9f5e-0b8f2c8d1a11", {
        "allocations": {rps["compute-8_0000:81:00.0"]: {"resources": {"PGPU": 1}}},
        "project_id": "2b6f4b8e3c0c4a439f5e0b8f2c8d1a11", "user_id": "2b6f4b8e3c0c4a439f5e0b8f2c8d1a12",
        "consumer_generation": None, "consumer_type": "INSTANCE"})
    _code, doc = schedule(placement, fleet, "gpu1")
    hosts = hosts_of(doc)
    assert doc["results"][0]["chosen_host"] == "compute-7" and not hosts["compute-8"]["fits"]
    assert "request group r000-0 (PGPU:1)" in hosts["compute-8"]["reasons"][0]["message"]


def test_table_names_the_query_and_placement_errors_exit_2(
        placement: PlacementServer, fleet: dict[str, Path]) -> None:
    synced(placement, fleet)
    res = run_cli(["schedule", "--placement-url", placement.url, "--nova-conf",
                   str(fleet["controller"]), "--flavor", str(fleet["fast2"]), "--no-facts-cache",
                   "--host", str(fleet["compute-7"])])
    assert res.code == 0, res.err
    assert "allocation candidate(s) for" in " ".join(res.out.split()), res.out
    gone = run_cli(["schedule", "--placement-url", "http://127.0.0.1:9", "--timeout", "2",
                    "--flavor", str(fleet["fast2"]), "--host", str(fleet["compute-7"])])
    assert gone.code == 2 and "cannot reach Placement" in gone.err
    both = run_cli(["schedule", "--placement-url", placement.url, "--os-cloud", "x",
                    "--flavor", str(fleet["fast2"]), "--host", str(fleet["compute-7"])])
    assert both.code == 64


def test_os_cloud_reaches_the_same_placement(placement: PlacementServer, fleet: dict[str, Path],
                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced(placement, fleet)
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  lab:\n    auth_type: none\n"
                      f"    placement_endpoint_override: {placement.url}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    res = run_cli(["schedule", "--os-cloud", "lab", "--nova-conf", str(fleet["controller"]),
                   "--flavor", str(fleet["fast2"]), "--no-facts-cache",
                   "--host", str(fleet["compute-7"]), "-f", "json"])
    assert res.code == 0, res.err
    doc = res.json()
    validate_schema(doc, "schedule")
    assert doc["results"][0]["chosen_host"] == "compute-7"
    assert doc["results"][0]["placement"]["placement"] == f"cloud:lab ({placement.url})"


def test_without_placement_the_document_has_no_placement_record(fleet: dict[str, Path]) -> None:
    res = run_cli(["schedule", "--nova-conf", str(fleet["controller"]), "--flavor",
                   str(fleet["fast2"]), "--no-facts-cache", "--host", str(fleet["compute-7"]),
                   "-f", "json"])
    doc = res.json()
    validate_schema(doc, "schedule")
    assert res.code == 0 and "placement" not in doc["results"][0]


def test_a_two_spec_alias_is_refused_as_nova_refuses_it(placement: PlacementServer,
                                                       fleet: dict[str, Path], tmp_path: Path) -> None:
    """--placement-url plays Nova with pci_in_placement on; with it on in the controller's
    config the alias is refused earlier (PciInvalidAlias), as nova-api refuses it."""
    synced(placement, fleet)
    two = ('alias = {"name": "two", "vendor_id": "8086", "product_id": "154c", "device_type": '
           '"type-VF"}\nalias = {"name": "two", "vendor_id": "8086", "product_id": "10ed", '
           '"device_type": "type-VF"}\n')
    flavor = tmp_path / "two.json"
    flavor.write_text(json.dumps({"name": "two", "properties": {"pci_passthrough:alias": "two:1"}}))
    codes = []
    for name, text in (("off", f"[pci]\n{two}"), ("on", CONTROLLER.replace("[pci]\n", f"[pci]\n{two}"))):
        conf = tmp_path / f"{name}.conf"
        conf.write_text(text)
        res = run_cli(["schedule", "--placement-url", placement.url, "--nova-conf", str(conf),
                       "--flavor", str(flavor), "--no-facts-cache", "--host",
                       str(fleet["compute-7"]), "-f", "json"])
        doc = res.json()
        validate_schema(doc, "schedule")
        assert res.code == 2
        codes.append(doc["results"][0]["error"]["code"])
        if name == "off":
            assert "does not support multiple specs" in doc["results"][0]["error"]["message"]
    assert codes == ["PciRequestMultipleSpecs", "PciInvalidAlias"]
