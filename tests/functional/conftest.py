"""Fixtures of the functional tests: a real Placement (tests/placementserver.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from placementserver import BACKENDS, PlacementServer, serve


@pytest.fixture(scope="session", params=BACKENDS)
def placement_server(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlacementServer]:
    """One real Placement per backend for the whole session."""
    workdir: Path = tmp_path_factory.mktemp(f"placement-{request.param}")
    yield from serve(request.param, workdir)


@pytest.fixture
def placement(placement_server: PlacementServer) -> PlacementServer:
    """The session's Placement, emptied of providers and allocations for this test."""
    placement_server.wipe()
    return placement_server
