"""Test helpers importable from any test module (``from support import ...``)."""

from __future__ import annotations

import os
from typing import Any

import pytest

IN_CI = bool(os.environ.get("CI"))


def require_module(name: str) -> Any:
    """Import ``name``; skip when absent outside CI, fail in CI (where the test extras are installed)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"{name} must be installed in CI (the 'reference'/'test' extras): {exc}")
        pytest.skip(f"{name} is not installed")


def skip_unless_ci(reason: str) -> None:
    """Skip outside CI; in CI the missing thing is a failure, never a silent skip."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
