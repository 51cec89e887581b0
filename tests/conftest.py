"""Shared fixtures. Importable helpers live in tests/support.py (``from support import ...``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import IN_CI, SHARED, run_cli  # noqa: E402


@pytest.fixture
def cli() -> Any:
    return run_cli


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        if IN_CI:
            pytest.fail(f"{SHARED} is missing: CI must have shared/ beside the repository")
        pytest.skip("../shared is not present")
    return SHARED


try:
    from hypothesis import HealthCheck
    from hypothesis import settings as _hsettings

    # Deterministic, database-free property tests: the same examples on every run and in CI.
    _hsettings.register_profile("pcipass", database=None, derandomize=True, deadline=None,
                                suppress_health_check=[HealthCheck.too_slow])
    _hsettings.load_profile("pcipass")
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass
