"""``GET /allocation_candidates`` and the provider listing the scheduler maps them with.

:func:`allocation_candidates` sends the query parameters Nova's scheduler sends (the PCI
request groups of :mod:`pcipass.core.placementreq`) and reads each ``allocation_requests``
entry into a :class:`~pcipass.core.schedule.candidates.AllocationCandidate`: its allocations,
its ``mappings`` (microversion 1.34, which this needs) and the compute node it is rooted at
(from ``provider_summaries``, 1.29). :func:`provider_names` is one ``GET
/resource_providers``: UUID -> (name, root UUID), to tell which compute node a root is.

Every value of the answer is checked; an answer of another shape is a
:class:`~pcipass.adapters.placementapi.PlacementApiError` naming what was wrong.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

from pcipass.adapters import placementapi
from pcipass.core.schedule.candidates import AllocationCandidate

#: ``mappings`` in allocation requests.
NEEDED = (1, 34)


def needs_mappings(client: placementapi.PlacementClient) -> None:
    """Refuse a Placement whose negotiated microversion gives no ``mappings``."""
    major, minor = (int(x) for x in client.version.split("."))
    if (major, minor) < NEEDED:
        raise placementapi.PlacementApiError(
            f"{client.endpoint.shown}: microversion {client.version} gives allocation candidates "
            f"without mappings; scheduling through Placement needs {NEEDED[0]}.{NEEDED[1]}",
            hint="upgrade Placement (Train or later)")


def query_text(params: Sequence[tuple[str, str]]) -> str:
    """The query string, as sent."""
    return urllib.parse.urlencode(list(params), safe=":,")


def allocation_candidates(client: placementapi.PlacementClient,
                          params: Sequence[tuple[str, str]]) -> tuple[AllocationCandidate, ...]:
    """The candidates Placement answers for ``params``, in its order."""
    needs_mappings(client)
    doc = client.get(f"/allocation_candidates?{query_text(params)}")
    where = f"{client.endpoint.shown}: GET /allocation_candidates"
    requests = _field(doc, "allocation_requests", list, where)
    summaries = _field(doc, "provider_summaries", dict, where)
    roots: dict[str, str] = {}
    for uuid, summary in summaries.items():
        root = summary.get("root_provider_uuid") if isinstance(summary, dict) else None
        if not isinstance(root, str):
            raise placementapi.PlacementApiError(
                f"{where}: provider summary {str(uuid)[:64]!r} has no root_provider_uuid")
        roots[str(uuid)] = root
    return tuple(_candidate(entry, roots, where, i) for i, entry in enumerate(requests))


def provider_names(client: placementapi.PlacementClient) -> dict[str, tuple[str, str]]:
    """Every provider: UUID -> (name, root provider UUID)."""
    out: dict[str, tuple[str, str]] = {}
    for entry in client.providers():
        uuid = entry.get("uuid") if isinstance(entry, dict) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(uuid, str) or not isinstance(name, str):
            raise placementapi.PlacementApiError(
                f"{client.endpoint.shown}: a provider in the listing lacks its uuid or name")
        root = entry.get("root_provider_uuid")
        out[uuid] = (name, root if isinstance(root, str) else uuid)
    return out


def _candidate(entry: Any, roots: dict[str, str], where: str, index: int) -> AllocationCandidate:
    what = f"{where}: allocation request {index}"
    allocs = _field(entry, "allocations", dict, what)
    mappings = _field(entry, "mappings", dict, what)
    resources: dict[str, dict[str, int]] = {}
    for rp, held in allocs.items():
        res = held.get("resources") if isinstance(held, dict) else None
        if not isinstance(res, dict) or not all(
                isinstance(k, str) and type(v) is int and v > 0 for k, v in res.items()):
            raise placementapi.PlacementApiError(f"{what}: provider {str(rp)[:64]!r} has no "
                                                 "resources of positive integer amounts")
        resources[str(rp)] = dict(res)
    mapped: dict[str, tuple[str, ...]] = {}
    for group, rps in mappings.items():
        if not isinstance(rps, list) or not rps or not all(isinstance(r, str) for r in rps):
            raise placementapi.PlacementApiError(f"{what}: mapping of group {str(group)[:64]!r} "
                                                 "is not a list of provider UUIDs")
        mapped[str(group)] = tuple(rps)
    tops = {roots.get(rp) for rp in resources}
    if len(tops) != 1 or None in tops:
        raise placementapi.PlacementApiError(
            f"{what}: its providers are not under one root provider of provider_summaries")
    root = tops.pop()
    assert root is not None
    return AllocationCandidate(root, resources, mapped)


def _field(doc: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(doc, dict) or not isinstance(doc.get(key), kind):
        raise placementapi.PlacementApiError(f"{where}: the answer has no {key!r} {kind.__name__}")
    return doc[key]
