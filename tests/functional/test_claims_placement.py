"""Claims mirrored into a real Placement: ``schedule --db --claim --placement-url``.

compute-7 (tests/storedb.py's fake host, its 4 X710 VFs matched without a physical_network, so
in Placement) is put in the store by ``agent --once`` and in Placement by ``placement sync
--apply``. A claim is made in the store, then written to Placement; the test reads both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from placementserver import PlacementServer
from storedb import Store, build_host, fresh
from support import run_cli, validate_schema

from pcipass.adapters import placementalloc, placementapi
from pcipass.services import claimplacement, claims

A, B = "aaaaaaaa-0000-4000-8000-00000000000a", "bbbbbbbb-0000-4000-8000-00000000000b"
ALIAS = '{"name": "x710-vf", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF"}'
PF_RP = "compute-7_0000:81:00.0"
RC = "CUSTOM_PCI_8086_154C"


@pytest.fixture
def lab(placement: PlacementServer, tmp_path: Path) -> Iterator[dict[str, Any]]:
    root = build_host(tmp_path / "h", spec='{"vendor_id": "8086", "product_id": "154c"}')
    for s in fresh("sqlite", tmp_path):
        s.upgrade()
        assert run_cli(["agent", "--once", "--host", str(root), "--db", s.url]).code == 0
        synced = run_cli(["placement", "sync", "--placement-url", placement.url,
                          "--no-facts-cache", "--host", str(root), "--apply"])
        assert synced.code == 0, synced.out + synced.err
        conf = tmp_path / "controller.conf"
        conf.write_text(f"[pci]\nalias = {ALIAS}\n")
        flavors = {}
        for n in (1, 2):
            flavors[n] = tmp_path / f"vf{n}.json"
            flavors[n].write_text(json.dumps({"name": f"vf{n}", "vcpus": 2, "ram": 1024,
                                              "extra_specs": {"pci_passthrough:alias": f"x710-vf:{n}"}}))
        rps = {rp["name"]: rp["uuid"] for rp in
               placement.request("GET", "/resource_providers")["resource_providers"]}
        yield {"store": s, "conf": conf, "flavors": flavors, "rps": rps, "root": root}


def claim(placement: PlacementServer, lab: dict[str, Any], consumer: str, n: int) -> Any:
    s: Store = lab["store"]
    return run_cli(["schedule", "--db", s.url, "--claim", "--consumer", consumer, "--flavor",
                    str(lab["flavors"][n]), "--nova-conf", str(lab["conf"]),
                    "--placement-url", placement.url, "-f", "json"])


def held_in_placement(placement: PlacementServer, consumer: str) -> dict[str, Any]:
    return placement.request("GET", f"/allocations/{consumer}")["allocations"]


def test_a_claim_is_in_the_store_and_in_placement(placement: PlacementServer,
                                                  lab: dict[str, Any]) -> None:
    res = claim(placement, lab, A, 2)
    assert res.code == 0, res.err
    doc = res.json()
    validate_schema(doc, "claim")
    pf = lab["rps"][PF_RP]
    assert doc["placement"]["allocations"] == {PF_RP: {RC: 2}}
    assert doc["placement"]["attempts"] == 1 and doc["placement"]["over_allocated"] == []
    assert doc["placement"]["providers"] == [
        {"name": PF_RP, "uuid": pf, "resource_class": RC, "held": 2, "used": 2, "capacity": 4}]
    held = held_in_placement(placement, A)
    assert list(held) == [pf] and held[pf]["resources"] == {RC: 2}
    shown = run_cli(["allocation", "show", A, "--db", lab["store"].url, "-f", "json"])
    assert shown.code == 0
    stored = [d["address"] for d in shown.json()["devices"]]
    assert sorted(stored) == sorted(d["address"] for d in doc["devices"]) and len(stored) == 2
    assert placement.request("GET", f"/resource_providers/{pf}/usages")["usages"] == {RC: 2}
    # idempotent: the same claim again writes nothing new
    again = claim(placement, lab, A, 2)
    assert again.code == 0 and again.json()["repeated"] and again.json()["placement"]["attempts"] == 0
    assert placement.request("GET", f"/resource_providers/{pf}/usages")["usages"] == {RC: 2}


def test_a_consumer_generation_conflict_is_retried(placement: PlacementServer,
                                                   lab: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real = placementalloc.write_consumer
    raced = []

    def racing(client: Any, consumer: str, state: Any, allocations: Any) -> None:
        if not raced:  # another writer creates the consumer first: our generation is stale
            raced.append(1)
            real(client, consumer, state, {lab["rps"][PF_RP]: {RC: 2}})
        real(client, consumer, state, allocations)

    monkeypatch.setattr(placementalloc, "write_consumer", racing)
    res = claim(placement, lab, A, 1)
    assert res.code == 0, res.err
    assert res.json()["placement"]["attempts"] == 2
    assert held_in_placement(placement, A)[lab["rps"][PF_RP]]["resources"] == {RC: 1}


def test_over_allocation_is_an_error_and_a_refused_claim_is_released(
        placement: PlacementServer, lab: dict[str, Any]) -> None:
    pf = lab["rps"][PF_RP]
    assert claim(placement, lab, A, 2).code == 0
    # someone shrinks the inventory under the allocation (Placement allows it)
    gen = placement.request("GET", f"/resource_providers/{pf}/inventories")["resource_provider_generation"]
    placement.request("PUT", f"/resource_providers/{pf}/inventories", {
        "resource_provider_generation": gen, "inventories": {RC: {"total": 1, "max_unit": 1}}})
    again = claim(placement, lab, A, 2)
    assert again.code == 2 and "over-allocated" in again.err
    doc = again.json()
    validate_schema(doc, "claim")
    assert doc["placement"]["over_allocated"] == [
        {"provider": PF_RP, "resource_class": RC, "used": 2, "capacity": 1}]
    # a new claim: the store has 2 VFs free, Placement has no room: refused, released again
    refused = claim(placement, lab, B, 1)
    assert refused.code == 2 and "released again" in refused.err
    assert run_cli(["allocation", "show", B, "--db", lab["store"].url]).code == 2
    assert held_in_placement(placement, B) == {}


def test_free_removes_the_placement_allocation(placement: PlacementServer,
                                               lab: dict[str, Any]) -> None:
    assert claim(placement, lab, A, 2).code == 0
    client = placementapi.PlacementClient(placementapi.Endpoint(placement.url))
    client.negotiate()
    freed = claims.free(lab["store"].engine, A)
    mirror = claimplacement.mirror_free(client, A, freed.hostname or "", freed.devices)
    assert mirror.operation == "free" and mirror.attempts == 1
    assert mirror.providers[0].used == 0
    assert held_in_placement(placement, A) == {}
    assert run_cli(["allocation", "show", A, "--db", lab["store"].url]).code == 2


def test_the_free_command_body_frees_in_the_store_and_in_placement(
        placement: PlacementServer, lab: dict[str, Any]) -> None:
    """cli.commands_claimplacement.free: what ``claim free --placement-url`` runs."""
    import io
    from contextlib import redirect_stdout

    from pcipass.cli import commands_claimplacement

    assert claim(placement, lab, A, 1).code == 0
    out = io.StringIO()
    with redirect_stdout(out):
        code = commands_claimplacement.free(lab["store"].url, A, "json",
                                            placement=(placement.url, None, None, 30.0))
    doc = json.loads(out.getvalue())
    validate_schema(doc, "allocation")
    assert code == 0 and doc["operation"] == "free" and len(doc["devices"]) == 1
    assert doc["placement"]["operation"] == "free" and doc["placement"]["providers"][0]["used"] == 0
    assert held_in_placement(placement, A) == {}
    with redirect_stdout(io.StringIO()):  # nothing held: nothing to remove, still fine
        assert commands_claimplacement.free(lab["store"].url, A, "json",
                                            placement=(placement.url, None, None, 30.0)) == 0


def test_claim_free_with_a_placement_url_removes_the_allocation(placement: PlacementServer,
                                                                lab: dict[str, Any]) -> None:
    """The command line: ``pcipass claim free CONSUMER --db URL --placement-url URL``."""
    assert claim(placement, lab, A, 2).code == 0
    assert held_in_placement(placement, A) != {}
    done = run_cli(["claim", "free", A, "--db", lab["store"].url, "--placement-url",
                    placement.url, "-f", "json"])
    assert done.code == 0, done.err
    doc = json.loads(done.out)
    validate_schema(doc, "allocation")
    assert len(doc["devices"]) == 2 and doc["placement"]["operation"] == "free"
    assert held_in_placement(placement, A) == {}
