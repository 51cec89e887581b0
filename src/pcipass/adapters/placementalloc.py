"""A consumer's allocations in Placement: ``GET`` and ``PUT /allocations/{consumer}``, and the
provider lookups that name them.

:func:`read_consumer` gives the consumer's allocations (provider UUID -> class -> amount),
its ``consumer_generation`` (None: Placement does not know the consumer, microversion 1.28)
and its project and user. :func:`write_consumer` replaces them in one ``PUT`` (an empty
mapping deletes them: ``DELETE``); Placement refuses a stale generation with
``placement.concurrent_update``, which the client raises as
:class:`~pcipass.adapters.placementapi.PlacementConflict` for the caller to re-read and retry.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping
from typing import Any

from pcipass.adapters import placementapi

#: consumer_generation (1.28) and consumer_type (1.38).
NEEDED = (1, 38)
CONSUMER_TYPE = "INSTANCE"
#: Project and user of a consumer pcipass creates (Placement wants both; Nova's are the instance's).
OWNER = "pcipass"


@dataclasses.dataclass(frozen=True)
class ConsumerState:
    """What Placement holds for one consumer."""

    generation: int | None
    allocations: dict[str, dict[str, int]]
    project_id: str
    user_id: str


def needs_generations(client: placementapi.PlacementClient) -> None:
    major, minor = (int(x) for x in client.version.split("."))
    if (major, minor) < NEEDED:
        raise placementapi.PlacementApiError(
            f"{client.endpoint.shown}: microversion {client.version} has no consumer generations "
            f"or types; mirroring claims needs {NEEDED[0]}.{NEEDED[1]}",
            hint="upgrade Placement (Ussuri or later)")


def read_consumer(client: placementapi.PlacementClient, consumer: str) -> ConsumerState:
    doc = client.get(f"/allocations/{consumer}")
    allocs = doc.get("allocations") if isinstance(doc, dict) else None
    if not isinstance(allocs, dict):
        raise placementapi.PlacementApiError(
            f"{client.endpoint.shown}: GET /allocations/{consumer} has no 'allocations' dict")
    out: dict[str, dict[str, int]] = {}
    for rp, held in allocs.items():
        res = held.get("resources") if isinstance(held, dict) else None
        if not isinstance(res, dict) or not all(type(v) is int for v in res.values()):
            raise placementapi.PlacementApiError(
                f"{client.endpoint.shown}: GET /allocations/{consumer}: provider {str(rp)[:64]!r} "
                "has no integer resources")
        out[str(rp)] = {str(k): int(v) for k, v in res.items()}
    gen = doc.get("consumer_generation")
    return ConsumerState(gen if type(gen) is int else None, out,
                         str(doc.get("project_id") or OWNER), str(doc.get("user_id") or OWNER))


def write_consumer(client: placementapi.PlacementClient, consumer: str, state: ConsumerState,
                   allocations: Mapping[str, Mapping[str, int]]) -> None:
    """Replace the consumer's allocations (read as ``state``) by ``allocations``.

    :raises placementapi.PlacementConflict: the consumer changed since ``state`` was read.
    :raises placementapi.PlacementApiError: Placement refused (a provider without the
        capacity, an unknown provider or class).
    """
    if not allocations:
        client.call("DELETE", f"/allocations/{consumer}", ok=(204, 404))
        return
    body: dict[str, Any] = {
        "allocations": {rp: {"resources": dict(res)} for rp, res in allocations.items()},
        "project_id": state.project_id, "user_id": state.user_id,
        "consumer_generation": state.generation, "consumer_type": CONSUMER_TYPE}
    client.call("PUT", f"/allocations/{consumer}", body, ok=(204,))


def provider_uuid(client: placementapi.PlacementClient, name: str) -> str | None:
    """The UUID of the provider named ``name`` (None: no such provider)."""
    doc = client.get("/resource_providers?" + urllib.parse.urlencode({"name": name}))
    found = doc.get("resource_providers") if isinstance(doc, dict) else None
    if not isinstance(found, list):
        raise placementapi.PlacementApiError(f"{client.endpoint.shown}: GET /resource_providers"
                                             "?name= has no 'resource_providers' list")
    uuids = [p.get("uuid") for p in found if isinstance(p, dict) and p.get("name") == name]
    return str(uuids[0]) if uuids and isinstance(uuids[0], str) else None
