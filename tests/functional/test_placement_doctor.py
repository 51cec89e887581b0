"""End to end: a fake fleet synced into a real Placement, one fault per PCI-P check, the doctor names it.

compute-7 has an X710 whose 3 VFs are matched (traits "fast") and an A100 (resource class
PGPU); compute-8 has two 82599 whose VFs are for physnet2 (Neutron's: never in Placement)
and an A100. ``placement sync --apply`` puts the fleet in Placement; each test then breaks
one thing, in Placement or in the controller's aliases, and runs ``pcipass doctor
--placement-url`` (and ``--placement FILE`` from an export).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from placementserver import PlacementServer
from support import PLACEMENT_CONTROLLER, run_cli, validate_schema

from pcipass import fakehost

FLEET = {
    "compute-7": ("1x intel-x710 numa=0 vfs=3; 1x nvidia-a100 numa=1 driver=vfio-pci; cmdline=intel_iommu=on iommu=pt; hostname=compute-7",
                  '{"vendor_id": "8086", "product_id": "154c", "traits": "fast"}\n'
                  'device_spec = {"vendor_id": "10de", "resource_class": "pgpu"}'),
    "compute-8": ("2x intel-82599 numa=0 vfs=4; 1x nvidia-a100 numa=1 driver=vfio-pci; cmdline=intel_iommu=on iommu=pt; hostname=compute-8",
                  '{"vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet2"}\n'
                  'device_spec = {"vendor_id": "10de", "resource_class": "pgpu"}'),
}
CONTROLLER = PLACEMENT_CONTROLLER
VF7, GPU7, GPU8 = "compute-7_0000:01:00.0", "compute-7_0000:81:00.0", "compute-8_0000:81:00.0"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("fleet")
    out = {}
    for name, (profile, specs) in FLEET.items():
        built = fakehost.build(base / name, profile)
        (built.root / "etc/nova").mkdir(parents=True, exist_ok=True)
        (built.root / "etc/nova/nova.conf").write_text(
            f"[pci]\nreport_in_placement = True\ndevice_spec = {specs}\n")
        out[name] = built.root
    out["controller"] = base / "controller.conf"
    out["controller"].write_text(CONTROLLER)
    out["flavor"] = base / "flavor.json"
    out["flavor"].write_text(json.dumps({"name": "gpu.small", "vcpus": 2, "ram": 2048, "disk": 10,
                                         "properties": {"pci_passthrough:alias": "gpu:1"}}))
    return out


def synced(placement: PlacementServer, fleet: dict[str, Path]) -> dict[str, dict[str, Any]]:
    res = run_cli(["placement", "sync", "--placement-url", placement.url, "--no-facts-cache",
                   "--host", str(fleet["compute-7"]), "--host", str(fleet["compute-8"]), "--apply"])
    assert res.code == 0, res.out + res.err
    rps = placement.request("GET", "/resource_providers")["resource_providers"]
    return {rp["name"]: rp for rp in rps}


def doctor(fleet: dict[str, Path], *source: str, controller: Path | None = None,
           extra: tuple[str, ...] = ("--select", "PCI-P")) -> dict[str, Any]:
    res = run_cli(["doctor", "--host", str(fleet["compute-7"]), "--host", str(fleet["compute-8"]),
                   "--nova-conf", str(controller or fleet["controller"]), "--no-facts-cache",
                   *source, *extra, "-f", "json"])
    assert res.code in (0, 1, 2), res.err
    doc = res.json()
    validate_schema(doc, "doctor")
    return doc


def problems(doc: dict[str, Any]) -> set[tuple[str, str, str | None, str]]:
    return {(f["id"], f["severity"], f["host"], f["subject"]) for f in doc["findings"]
            if f["severity"] in ("fail", "warn")}


def test_synced_fleet_is_clean(placement: PlacementServer, fleet: dict[str, Path]) -> None:
    rps = synced(placement, fleet)
    assert set(rps) == {"compute-7", "compute-8", VF7, GPU7, GPU8}  # no physnet2 provider
    doc = doctor(fleet, "--placement-url", placement.url)
    assert problems(doc) == set()
    ran = {f["id"] for f in doc["findings"]}
    assert not any(f["severity"] == "skip" for f in doc["findings"]), doc["findings"]
    assert ran <= {"PCI-P001", "PCI-P002", "PCI-P003", "PCI-P004", "PCI-P005", "PCI-P006"}


def test_without_a_placement_the_layer_does_not_run(fleet: dict[str, Path]) -> None:
    doc = doctor(fleet, extra=())
    assert not [f for f in doc["findings"] if f["layer"] == "placement"]
    doc = doctor(fleet)  # selected by name: skipped, with the reason
    skips = [f for f in doc["findings"] if f["layer"] == "placement"]
    assert skips and all(f["severity"] == "skip" for f in skips)
    assert "--placement-url" in skips[0]["message"]


def _delete_tree(placement: PlacementServer, rps: dict[str, dict[str, Any]], root: str) -> None:
    for name in sorted(rps, key=lambda n: n == root):
        if rps[name]["root_provider_uuid"] == rps[root]["uuid"]:
            placement.request("DELETE", f"/resource_providers/{rps[name]['uuid']}")


def _set_inventory(placement: PlacementServer, rp: dict[str, Any], rc: str, **inv: int) -> None:
    gen = placement.request("GET", f"/resource_providers/{rp['uuid']}")["generation"]
    placement.request("PUT", f"/resource_providers/{rp['uuid']}/inventories", {
        "resource_provider_generation": gen, "inventories": {rc: inv}})


def _add_trait(placement: PlacementServer, rp: dict[str, Any], trait: str) -> None:
    placement.request("PUT", f"/traits/{trait}")
    cur = placement.request("GET", f"/resource_providers/{rp['uuid']}/traits")
    placement.request("PUT", f"/resource_providers/{rp['uuid']}/traits", {
        "resource_provider_generation": cur["resource_provider_generation"],
        "traits": [*cur["traits"], trait]})


def _allocate(placement: PlacementServer, rp: dict[str, Any], rc: str, n: int) -> str:
    consumer = str(uuid.uuid4())
    placement.request("PUT", f"/allocations/{consumer}", {
        "allocations": {rp["uuid"]: {"resources": {rc: n}}}, "project_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()), "consumer_generation": None, "consumer_type": "INSTANCE"})
    return consumer


def _stale_allocated(placement: PlacementServer, rps: dict[str, dict[str, Any]]) -> None:
    stale = str(uuid.uuid4())
    placement.request("POST", "/resource_providers", {
        "uuid": stale, "name": "compute-7_0000:05:00.0",
        "parent_provider_uuid": rps["compute-7"]["uuid"]})
    _set_inventory(placement, {"uuid": stale}, "PGPU", total=1)
    _allocate(placement, {"uuid": stale}, "PGPU", 1)


FAULTS: dict[str, tuple[Callable[[PlacementServer, dict[str, dict[str, Any]]], None],
                        tuple[str, str | None, str]]] = {
    # the whole tree of compute-8 gone
    "P001": (lambda pl, rps: _delete_tree(pl, rps, "compute-8"), ("PCI-P001", "compute-8", "compute-8")),
    # compute-7's GPU provider gone
    "P002": (lambda pl, rps: pl.request("DELETE", f"/resource_providers/{rps[GPU7]['uuid']}"),
             ("PCI-P002", "compute-7", GPU7)),
    # 8 VFs in Placement, 3 on the host
    "P003": (lambda pl, rps: _set_inventory(pl, rps[VF7], "CUSTOM_PCI_8086_154C", total=8, max_unit=8),
             ("PCI-P003", "compute-7", VF7)),
    # an instance on a device the host no longer has
    "P005": (_stale_allocated, ("PCI-P005", "compute-7", "compute-7_0000:05:00.0")),
    # a trait Nova does not set
    "P006": (lambda pl, rps: _add_trait(pl, rps[GPU8], "CUSTOM_EXTRA"), ("PCI-P006", "compute-8", GPU8)),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_is_named(fault: str, placement: PlacementServer, fleet: dict[str, Path],
                             tmp_path: Path) -> None:
    rps = synced(placement, fleet)
    inject, (check_id, host, subject) = FAULTS[fault]
    inject(placement, rps)
    doc = doctor(fleet, "--placement-url", placement.url)
    found = problems(doc)
    assert (check_id, "fail", host, subject) in found, found
    assert {f[0] for f in found} == {check_id}, found  # one fault, one check
    finding = next(f for f in doc["findings"] if f["id"] == check_id)
    assert finding["evidence"] and finding["fix"]
    assert all("0000:02:" not in json.dumps(f) and "0000:01:10" not in json.dumps(f)
               for f in doc["findings"]), "physnet2 devices are never flagged"
    # The same from an export, away from the API.
    view = tmp_path / "view.json"
    assert run_cli(["placement", "export", "--placement-url", placement.url, "-o", str(view)]).code == 0
    assert problems(doctor(fleet, "--placement", str(view))) == found


def test_alias_fault_is_named(placement: PlacementServer, fleet: dict[str, Path], tmp_path: Path) -> None:
    synced(placement, fleet)
    controller = tmp_path / "controller.conf"
    controller.write_text(CONTROLLER.replace('"traits": "fast"', '"traits": "fast,slow"'))
    doc = doctor(fleet, "--placement-url", placement.url, controller=controller)
    found = problems(doc)
    assert found == {("PCI-P004", "fail", None, "alias fast")}, found
    finding = next(f for f in doc["findings"] if f["id"] == "PCI-P004")
    assert "CUSTOM_SLOW" in finding["message"] and VF7 in json.dumps(finding["evidence"])


def test_flavor_mapping_names_placement_first(placement: PlacementServer, fleet: dict[str, Path]) -> None:
    rps = synced(placement, fleet)
    placement.request("DELETE", f"/resource_providers/{rps[GPU7]['uuid']}")
    doc = doctor(fleet, "--placement-url", placement.url, extra=("--flavor", str(fleet["flavor"])))
    (row,) = doc["mapping"]["flavors"]
    cells = {h["name"]: h for h in row["hosts"]}
    assert cells["compute-7"]["fits"] is False
    assert cells["compute-7"]["first_broken_layer"] == "placement"
    assert cells["compute-8"]["fits"] is True
    assert row["chosen_host"] == "compute-8"


def test_pci_in_placement_off_makes_them_warnings(placement: PlacementServer, fleet: dict[str, Path],
                                                  tmp_path: Path) -> None:
    rps = synced(placement, fleet)
    _set_inventory(placement, rps[VF7], "CUSTOM_PCI_8086_154C", total=8, max_unit=8)
    controller = tmp_path / "controller.conf"
    controller.write_text(CONTROLLER.replace("pci_in_placement = True", "pci_in_placement = False"))
    found = problems(doctor(fleet, "--placement-url", placement.url, controller=controller))
    assert found == {("PCI-P003", "warn", "compute-7", VF7)}


def test_doctor_through_os_cloud(placement: PlacementServer, fleet: dict[str, Path], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    rps = synced(placement, fleet)
    _set_inventory(placement, rps[GPU8], "PGPU", total=1, max_unit=1, reserved=1)
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(f"clouds:\n  lab:\n    auth_type: none\n    placement_endpoint_override: {placement.url}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    found = problems(doctor(fleet, "--os-cloud", "lab"))
    # reserved by hand where Nova sets none: the scheduler never picks the GPU
    assert found == {("PCI-P003", "warn", "compute-8", GPU8)}


def test_doctor_unreadable_placement_skips_with_the_reason(fleet: dict[str, Path], tmp_path: Path) -> None:
    doc = doctor(fleet, "--placement-url", "http://127.0.0.1:9")
    skips = [f for f in doc["findings"] if f["layer"] == "placement"]
    assert len(skips) == 6 * 2 - 1  # five host checks on two hosts, one run-wide
    assert all(f["severity"] == "skip" and "cannot reach Placement" in f["message"] for f in skips)
    bad = tmp_path / "view.json"
    bad.write_text('{"schema": "pcipass-placement-view/1", "providers": 3}')
    doc = doctor(fleet, "--placement", str(bad))
    skips = [f for f in doc["findings"] if f["layer"] == "placement"]
    assert skips and all(f["severity"] == "skip" and str(bad) in f["message"] for f in skips)
    res = run_cli(["doctor", "--host", str(fleet["compute-7"]), "--placement-url", "http://x",
                   "--placement", str(bad)])
    assert res.code == 64 and "give one of" in res.err


def test_usages_over_the_devices_left(placement: PlacementServer, fleet: dict[str, Path],
                                      tmp_path: Path) -> None:
    rps = synced(placement, fleet)
    _allocate(placement, rps[VF7], "CUSTOM_PCI_8086_154C", 3)
    # compute-7 comes back with 2 VFs instead of 3 (sriov_numvfs lowered)
    profile, specs = FLEET["compute-7"]
    built = fakehost.build(tmp_path / "compute-7", profile.replace("vfs=3", "vfs=2"))
    (built.root / "etc/nova").mkdir(parents=True, exist_ok=True)
    (built.root / "etc/nova/nova.conf").write_text(f"[pci]\nreport_in_placement = True\ndevice_spec = {specs}\n")
    doc = doctor(dict(fleet, **{"compute-7": built.root}), "--placement-url", placement.url)
    assert problems(doc) == {("PCI-P003", "fail", "compute-7", VF7), ("PCI-P005", "fail", "compute-7", VF7)}
    p005 = next(f for f in doc["findings"] if f["id"] == "PCI-P005")
    assert p005["message"].startswith("3 CUSTOM_PCI_8086_154C allocated") and "has 2" in p005["message"]
