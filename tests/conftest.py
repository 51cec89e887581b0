"""Shared test fixtures: paths to the repo's fixtures and to ../shared, and a CLI runner."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = REPO / "tests" / "fixtures"
SCHEMAS = REPO / "docs" / "schemas"
IN_CI = bool(os.environ.get("CI"))


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(args: Sequence[str]) -> CliResult:
    """Run ``pcipass ARGS`` in-process and capture its exit code and output."""
    from pcipass.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main.main(list(args))
    return CliResult(code, out.getvalue(), err.getvalue())


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


def validate_schema(doc: Any, name: str) -> None:
    """Validate ``doc`` against docs/schemas/<name>.json (with local $refs)."""
    import jsonschema
    import referencing

    resources = []
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((path.name, referencing.Resource.from_contents(schema)))
        resources.append((schema["$id"], referencing.Resource.from_contents(schema)))
    registry = referencing.Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft202012Validator(schema, registry=registry).validate(doc)


sys.path.insert(0, str(REPO / "tests"))

try:
    from hypothesis import HealthCheck
    from hypothesis import settings as _hsettings

    # Deterministic, database-free property tests: the same examples on every run and in CI.
    _hsettings.register_profile("pcipass", database=None, derandomize=True, deadline=None,
                                suppress_health_check=[HealthCheck.too_slow])
    _hsettings.load_profile("pcipass")
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass
