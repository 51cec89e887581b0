"""The Placement client (adapters/placementapi) against a real Placement: versions, auth, generations."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from placementserver import PlacementServer

from pcipass.adapters import placementapi


def _client(placement: PlacementServer, **kw: Any) -> placementapi.PlacementClient:
    client = placementapi.PlacementClient(placementapi.Endpoint(placement.url, timeout=10), **kw)
    client.negotiate()
    return client


def _rp(placement: PlacementServer, name: str, parent: str | None = None) -> str:
    rp = str(uuid.uuid4())
    body: dict[str, Any] = {"uuid": rp, "name": name}
    if parent:
        body["parent_provider_uuid"] = parent
    placement.request("POST", "/resource_providers", body)
    return rp


def test_client_negotiates_the_highest_common_microversion(placement: PlacementServer) -> None:
    client = placementapi.PlacementClient(placementapi.Endpoint(placement.url))
    assert client.version == "1.0"
    assert client.negotiate() == "1.39"
    root = _rp(placement, "cn1")
    child = _rp(placement, "cn1_0000:81:00.0", root)
    listed = {p["uuid"]: p for p in client.providers()}
    # parent_provider_uuid exists only from 1.14: the negotiated version was sent.
    assert listed[child]["parent_provider_uuid"] == root
    assert listed[child]["root_provider_uuid"] == root


def test_client_uses_the_lower_of_the_two_maximums(placement: PlacementServer) -> None:
    client = placementapi.PlacementClient(placementapi.Endpoint(placement.url), wanted=(1, 14))
    assert client.negotiate() == "1.14"
    root = _rp(placement, "cn2")
    (listed,) = client.providers()
    assert listed["parent_provider_uuid"] is None and listed["root_provider_uuid"] == root
    # 1.14 has no consumer_generation (1.28): Placement answers as 1.14 does
    assert "consumer_generation" not in json.dumps(client.get(f"/resource_providers/{root}/allocations"))
    old = placementapi.PlacementClient(placementapi.Endpoint(placement.url), wanted=(1, 10))
    with pytest.raises(placementapi.PlacementApiError) as info:
        old.negotiate()
    assert "needs 1.14" in info.value.message


def test_client_refuses_a_url_that_is_not_placement(placement: PlacementServer) -> None:
    client = placementapi.PlacementClient(placementapi.Endpoint(placement.url + "/traits"))
    with pytest.raises(placementapi.PlacementApiError) as info:
        client.negotiate()
    assert "answered 40" in info.value.message or "version list" in info.value.message


def test_client_names_an_unreachable_placement() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = placementapi.PlacementClient(placementapi.Endpoint(f"http://127.0.0.1:{port}", timeout=2))
    with pytest.raises(placementapi.PlacementUnreachable) as info:
        client.negotiate()
    assert f"127.0.0.1:{port}" in info.value.message
    assert "refused" in info.value.message.lower()


def test_client_reports_placement_error_text(placement: PlacementServer) -> None:
    client = _client(placement)
    missing = str(uuid.uuid4())
    with pytest.raises(placementapi.PlacementApiError) as info:
        client.inventories(missing)
    assert "answered 404" in info.value.message and missing in info.value.message
    assert client.provider(missing) is None


def test_client_sends_the_token_it_is_given(placement: PlacementServer) -> None:
    # noauth2: "admin" is the admin; any other user is refused by Placement's policy.
    client = placementapi.PlacementClient(placementapi.Endpoint(placement.url, token="someone:proj"))
    client.negotiate()
    with pytest.raises(placementapi.PlacementApiError) as info:
        client.providers()
    assert "answered 403" in info.value.message
    assert info.value.hint is not None and "admin" in info.value.hint


def test_generation_conflict_is_reread_and_retried(placement: PlacementServer) -> None:
    client = _client(placement)
    rp = _rp(placement, "cn-conflict")
    calls: list[int] = []

    def make(current: Any) -> dict[str, Any]:
        calls.append(current["resource_provider_generation"])
        if len(calls) == 1:  # another writer changes the provider between our read and write
            placement.request("PUT", f"/resource_providers/{rp}/traits", {
                "resource_provider_generation": current["resource_provider_generation"],
                "traits": ["COMPUTE_MANAGED_PCI_DEVICE"]})
        return {"inventories": {"VCPU": {"total": 8}}}

    client.update_with_generation(rp, "inventories", make)
    assert calls == [0, 1]
    inv = placement.request("GET", f"/resource_providers/{rp}/inventories")
    assert inv["inventories"]["VCPU"]["total"] == 8
    assert inv["resource_provider_generation"] == 2


def test_generation_conflict_retries_are_bounded(placement: PlacementServer) -> None:
    client = _client(placement, retries=2)
    rp = _rp(placement, "cn-busy")
    seen: list[int] = []

    def make(current: Any) -> dict[str, Any]:
        gen = current["resource_provider_generation"]
        seen.append(gen)
        placement.request("PUT", f"/traits/CUSTOM_T{gen}")
        placement.request("PUT", f"/resource_providers/{rp}/traits", {
            "resource_provider_generation": gen, "traits": [f"CUSTOM_T{gen}"]})
        return {"inventories": {"VCPU": {"total": 4}}}

    with pytest.raises(placementapi.PlacementConflict) as info:
        client.update_with_generation(rp, "inventories", make)
    assert seen == [0, 1, 2]
    assert "3 writes" in info.value.message
    assert placement.request("GET", f"/resource_providers/{rp}/inventories")["inventories"] == {}


def test_client_times_out() -> None:
    import socket
    import threading

    with socket.socket() as srv:  # accepts, never answers
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        stop = threading.Event()

        def hold() -> None:
            conn, _ = srv.accept()
            stop.wait(10)
            conn.close()

        t = threading.Thread(target=hold, daemon=True)
        t.start()
        client = placementapi.PlacementClient(
            placementapi.Endpoint(f"http://127.0.0.1:{port}", timeout=0.5))
        with pytest.raises(placementapi.PlacementUnreachable) as info:
            client.negotiate()
        stop.set()
        t.join(5)
    assert "within 0.5 s" in info.value.message
