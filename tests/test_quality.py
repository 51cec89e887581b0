"""Project-wide rules: the pure core stays pure, layers import downward, types stay strict."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pcipass"

# Third-party packages the core may use: pure data libraries only (contracts.md §6).
CORE_ALLOWED_THIRD_PARTY = {"os_traits", "os_resource_classes", "jsonschema"}
FORBIDDEN_IN_CORE_STDLIB = {"os", "subprocess", "socket", "pathlib", "shutil", "io", "tempfile",
                            "time", "datetime", "sqlite3", "urllib", "http", "glob", "tarfile"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _modules(pkg: str) -> list[Path]:
    return sorted((SRC / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("core"), ids=lambda p: p.name)
def test_core_is_pure(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "pcipass":
            assert name.startswith("pcipass.core"), f"{path.name} imports {name}"
            continue
        assert top not in FORBIDDEN_IN_CORE_STDLIB, f"{path.name} imports {name}: core does no IO"
        assert top in sys.stdlib_module_names or top in CORE_ALLOWED_THIRD_PARTY, (
            f"{path.name} imports third-party {name}")


@pytest.mark.parametrize("path", _modules("adapters"), ids=lambda p: p.name)
def test_adapters_do_not_import_front_ends(path: Path) -> None:
    for name in _imports(path):
        assert not name.startswith(("pcipass.cli", "pcipass.services", "pcipass.doctor")), (
            f"{path.name} imports {name}")


@pytest.mark.parametrize("path", _modules("services"), ids=lambda p: p.name)
def test_services_do_not_import_front_ends(path: Path) -> None:
    for name in _imports(path):
        assert not name.startswith("pcipass.cli"), f"{path.name} imports {name}"
        assert name.split(".")[0] not in {"click", "rich"}, f"{path.name} imports {name}"


def test_mypy_strict_is_clean() -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.fail("mypy is part of the test extra and must be installed")
    proc = subprocess.run([mypy, "--no-incremental"], cwd=SRC.parents[1], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]
