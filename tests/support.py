"""Test helpers importable from any test module (``from support import ...``)."""

from __future__ import annotations

import io
import json
import os
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




def require_module(name: str) -> Any:
    """Import ``name``; skip when absent outside CI, fail in CI (where the test extras are installed)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"{name} must be installed in CI (the 'reference'/'test' extras): {exc}")
        pytest.skip(f"{name} is not installed", allow_module_level=True)


def skip_unless_ci(reason: str) -> None:
    """Skip outside CI; in CI the missing thing is a failure, never a silent skip."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def unpack_trusted(archive: str | Path, dest: str | Path) -> None:
    """Unpack one of the project's own or the corpus's archives for a test to compare with.

    pcipass itself never unpacks a bundle. The "data" filter is used where the
    Python has it (3.11.4 and later); Debian 12's own 3.11.2 does not, and these
    archives are trusted.
    """
    import tarfile

    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Python before 3.11.4
            tar.extractall(dest)


def run_json(cli: Any, command: str, *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``pcipass COMMAND ARGS -f json`` through the ``cli`` fixture: the exit code and the
    document, which must be JSON valid against the command's schema, with no traceback."""
    res = cli([command, *args, "-f", "json"])
    assert "Traceback" not in res.err
    doc = json.loads(res.out)
    validate_schema(doc, command)
    return res.code, doc


#: The controller nova.conf of the Placement tests (doctor and schedule through Placement):
#: two aliases Placement can serve, and PCI in Placement on.
PLACEMENT_CONTROLLER = """\
[pci]
alias = {"name": "fast", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF", "traits": "fast"}
alias = {"name": "gpu", "vendor_id": "10de", "product_id": "20f1", "resource_class": "pgpu"}

[filter_scheduler]
pci_in_placement = True
enabled_filters = ComputeFilter,PciPassthroughFilter,NUMATopologyFilter
"""
