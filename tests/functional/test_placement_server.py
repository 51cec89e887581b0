"""The test Placement itself: a real openstack-placement answering on its backend."""

from __future__ import annotations

import uuid

from placementserver import PlacementServer


def test_placement_server_answers_with_microversions(placement: PlacementServer) -> None:
    root = placement.request("GET", "/")
    (version,) = root["versions"]
    assert version["min_version"] == "1.0"
    assert tuple(int(x) for x in version["max_version"].split(".")) >= (1, 39)
    assert placement.started_in < 60


def test_placement_server_starts_each_test_empty(placement: PlacementServer) -> None:
    assert placement.request("GET", "/resource_providers")["resource_providers"] == []
    rp = str(uuid.uuid4())
    placement.request("POST", "/resource_providers", {"uuid": rp, "name": f"leftover-{rp}"})
    got = placement.request("GET", f"/resource_providers/{rp}")
    assert got["uuid"] == rp and got["parent_provider_uuid"] is None
    placement.wipe()
    assert placement.request("GET", "/resource_providers")["resource_providers"] == []
