"""Reaching a Placement, and reading its view: ``--placement-url URL`` or ``--os-cloud NAME``.

Shared by ``pcipass placement export``, ``placement sync`` and the doctor's Placement layer.
"""

from __future__ import annotations

from pcipass.adapters import oscloud, placementapi, placementfile, placementread
from pcipass.core import rptree
from pcipass.services.jsonview import to_json


def connect(*, placement_url: str | None = None, os_cloud: str | None = None,
            token: str | None = None, timeout: float = 30.0,
            retries: int = 4) -> placementapi.PlacementClient:
    """A client with its microversion negotiated.

    :raises oscloud.OsCloudInvalid: the cloud cannot be used.
    :raises placementapi.PlacementUnreachable: nothing answered.
    :raises placementapi.PlacementApiError: not a Placement pcipass can use.
    """
    if (placement_url is None) == (os_cloud is None):
        raise ValueError("give exactly one of placement_url and os_cloud")
    if os_cloud is not None:
        endpoint = oscloud.endpoint(os_cloud, timeout=timeout)
    else:
        assert placement_url is not None
        endpoint = placementapi.Endpoint(placement_url, token=token, timeout=timeout)
    client = placementapi.PlacementClient(endpoint, retries=retries)
    client.negotiate()
    return client


def export_view(client: placementapi.PlacementClient) -> rptree.PlacementState:
    """Every provider (inventories, traits, usages) and every consumer's allocations."""
    return placementread.read_state(client)


def save_view(state: rptree.PlacementState, path: str) -> None:
    """Write the view to ``path`` as ``pcipass-placement-view/1`` (atomically)."""
    placementfile.write_view(path, to_json(state))


def load_view(path: str) -> rptree.PlacementState:
    """A view saved by :func:`save_view` (checked value by value)."""
    return placementfile.read_view(path)
