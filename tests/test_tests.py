"""The tests themselves: every test function checks something (issue 11 point 3).

A test whose body only calls code proves that nothing was raised, and nothing
about the result. This scan reads every test module under ``tests/`` with
:mod:`ast` and fails on a ``test_*`` function that has none of:

* an ``assert`` statement (not a constant one: ``assert True`` checks nothing),
  or a ``raise AssertionError``;
* ``pytest.raises``, ``pytest.warns``, ``pytest.fail`` or ``pytest.deprecated_call``;
* a call to a helper that asserts: a function of the same module, of
  ``support.py`` or a ``conftest.py``, or imported from another test module,
  whose body asserts (directly or through such helpers in turn); or one of
  :data:`ASSERTING_HELPERS`, which check without an ``assert`` statement.

Helpers are resolved by name, not by a prefix: ``check_config`` is an API
function that checks nothing for the test, while a local ``check_...`` helper
counts when its body asserts.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

from support import REPO

TESTS = REPO / "tests"
#: Helpers that fail a test without an ``assert`` statement of their own, and how.
ASSERTING_HELPERS = {
    "validate_schema": "jsonschema raises ValidationError (support.py)",
}
_PYTEST_CHECKS = frozenset({"raises", "warns", "fail", "deprecated_call"})
_SHARED = ("support.py", "conftest.py")

Function = ast.FunctionDef | ast.AsyncFunctionDef


def python_files() -> list[Path]:
    """Every module under tests/ (test modules and their helpers), fixtures aside."""
    return sorted(p for p in TESTS.rglob("*.py") if "fixtures" not in p.relative_to(TESTS).parts)


def called_names(node: ast.AST) -> set[str]:
    """Names of everything called in ``node``: ``f(...)`` and ``x.f(...)`` give ``f``."""
    out = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Name):
                out.add(func.id)
            elif isinstance(func, ast.Attribute):
                out.add(func.attr)
    return out


def asserts_directly(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assert) and not isinstance(sub.test, ast.Constant):
            return True
        if isinstance(sub, ast.Raise) and sub.exc is not None:
            exc = sub.exc.func if isinstance(sub.exc, ast.Call) else sub.exc
            if isinstance(exc, ast.Name) and exc.id == "AssertionError":
                return True
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
            owner = sub.func.value
            if (isinstance(owner, ast.Name) and owner.id == "pytest"
                    and sub.func.attr in _PYTEST_CHECKS):
                return True
    return False


def functions(tree: ast.AST) -> dict[str, Function]:
    return {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def asserting(helpers: dict[str, Function]) -> set[str]:
    """The helper names whose body asserts, directly or through another such helper."""
    found = {name for name, fn in helpers.items() if asserts_directly(fn)} | set(ASSERTING_HELPERS)
    changed = True
    while changed:
        changed = False
        for name, fn in helpers.items():
            if name not in found and called_names(fn) & found:
                found.add(name)
                changed = True
    return found


def collected_tests(tree: ast.Module) -> Iterator[Function]:
    """Module-level ``test_*`` functions and those of ``Test*`` classes."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
            yield node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            yield from (n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and n.name.startswith("test_"))


def unchecked_tests(paths: Iterable[Path], sources: dict[Path, str] | None = None,
                            ) -> list[str]:
    """``path:line: name`` of every test function that checks nothing."""
    paths = list(paths)
    trees = {p: ast.parse((sources or {}).get(p) or p.read_text(), str(p)) for p in paths}
    shared: dict[str, Function] = {}
    for path, tree in trees.items():
        if path.name in _SHARED:
            shared.update(functions(tree))
    by_module = {p.stem: p for p in paths}
    out = []
    for path, tree in trees.items():
        helpers = {**shared, **functions(tree)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in by_module:
                other = functions(trees[by_module[node.module]])
                helpers.update({a.asname or a.name: other[a.name] for a in node.names
                                if a.name in other})
        checks = asserting(helpers)
        for test in collected_tests(tree):
            if not asserts_directly(test) and not called_names(test) & checks:
                where = path.relative_to(TESTS) if path.is_relative_to(TESTS) else path
                out.append(f"{where}:{test.lineno}: {test.name}")
    return out


def test_every_test_asserts_something() -> None:
    missing = unchecked_tests(python_files())
    assert missing == [], "tests that only check that nothing is raised:\n" + "\n".join(missing)


def test_the_scan_tells_a_check_from_a_call() -> None:
    """The scan itself, on a module written for it."""
    source = '''
import pytest

def helper(x):
    assert x

def indirect(x):
    helper(x)

def quiet(x):
    return x

def test_bare():
    quiet(1)

def test_constant():
    quiet(1)
    assert True

def test_assert():
    assert quiet(1) == 1

def test_raises():
    with pytest.raises(ValueError):
        int("x")

def test_helper():
    indirect(1)

def test_schema():
    validate_schema({}, "x")

def test_check_prefix_is_not_enough():
    check_config(["x"])

class TestGroup:
    def test_method_bare(self):
        quiet(2)

    def test_method_raise(self):
        if quiet(2) != 2:
            raise AssertionError("no")
'''
    path = Path("test_sample.py")
    found = unchecked_tests([path], {path: source})
    assert [line.split(": ")[1] for line in found] == [
        "test_bare", "test_constant", "test_check_prefix_is_not_enough", "test_method_bare"]
