"""Every problem code is registered in ``pcipass.core.codes``, used, and documented (issue 11).

Codes are produced in three ways, each found here in the source with ``ast``:

* a :class:`~pcipass.core.errors.PcipassError` subclass: its ``code`` is the class
  name, or the string its body assigns to ``code``;
* a call that takes a code: ``Problem("X", ...)``, ``Problem(code="X", ...)``, and
  any function or dataclass with a ``code: str`` parameter or field
  (``self.problem("LspciBadLine", ...)``), with the code given as a literal, a
  module-level constant (``CODE = "SriovAgentConfigInvalid"``) or a local variable
  assigned from those;
* any other ``code="X"`` keyword.

A code chosen at run time (oslo.config's exception name) cannot be read from the
source: such sites are listed in :data:`DYNAMIC`, and the commands are run over the
fixtures, the shared corpus and a few hostile inputs to collect the codes they
really print. Codes the checks compare against (``p.code in NAME_CODES``) must be
registered too: a misspelt one is a check that never fires.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import FIXTURES, REPO, SHARED, require_module, run_cli

import pcipass
from pcipass.core import codes, errors

SRC = REPO / "src" / "pcipass"
DOC = REPO / "docs" / "problem-codes.md"
REGENERATE = ".venv/bin/python -c \"from pcipass.core import codes; print(codes.markdown(), end='')\" " \
             "> docs/problem-codes.md"

# Code expressions that are not visible in the source, with why they are allowed. The codes they
# give are collected at run time (test_codes_printed_by_the_commands_are_registered).
DYNAMIC = {
    "type(exc).__name__": "oslo.config's own exception name, for an oslo error pcipass does not "
                          "reword (a $reference to a group gives TemplateSubstitutionError)",
}
# Registered codes that no source line shows, each with the input that produces it at run time.
RUN_TIME_ONLY: dict[str, str] = {}
# Error classes never raised themselves: their names are not problem codes.
BASES: tuple[type[errors.PcipassError], ...] = (errors.PcipassError, errors.InputError)
BASE_NAMES = {cls.__name__ for cls in BASES}
CAMEL_CASE = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z]+[a-z0-9]*)*")


# -- the source scan ---------------------------------------------------------------------------


@dataclasses.dataclass
class Scan:
    produced: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # code -> sites
    dynamic: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (site, expression)
    tested: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # code -> consumer sites
    tested_parts: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # prefix/substring

    def add(self, table: dict[str, list[str]], code: str, site: str) -> None:
        table.setdefault(code, []).append(site)


def _modules() -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(SRC.parent)), ast.parse(p.read_text(encoding="utf-8"), str(p)))
            for p in sorted(SRC.rglob("*.py"))]


def _last_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _str_annotation(node: ast.expr | None) -> bool:
    return node is not None and re.fullmatch(r"str( \| None)?", ast.unparse(node)) is not None


FuncDef = ast.FunctionDef | ast.AsyncFunctionDef


def _params(func: FuncDef) -> list[str]:
    """Positional parameter names, without ``self``/``cls``."""
    names = [a.arg for a in [*func.args.posonlyargs, *func.args.args]]
    return names[1:] if names and names[0] in ("self", "cls") else names


@dataclasses.dataclass
class Takers:
    """What takes a code: callables by name, and parameters that are handed one of those."""

    named: dict[str, int]  # function or dataclass name -> position of its code argument
    params: dict[int, dict[str, int]]  # id(function) -> its parameter that is a code taker -> position

    def position(self, call: ast.Call, func: ast.AST | None) -> int | None:
        name = _last_name(call.func)
        if isinstance(call.func, ast.Name) and func is not None and name in self.params.get(id(func), {}):
            return self.params[id(func)][name]
        return self.named.get(name or "")

    def passed(self, arg: ast.expr, func: ast.AST | None) -> int | None:
        """The code position of a code taker given as an argument (``self.problem``, ``report``)."""
        name = _last_name(arg)
        if isinstance(arg, ast.Name) and func is not None and name in self.params.get(id(func), {}):
            return self.params[id(func)][arg.id]
        return self.named.get(name or "") if isinstance(arg, (ast.Name, ast.Attribute)) else None


def _code_takers(modules: list[tuple[str, ast.Module]]) -> Takers:
    """Callables with a ``code: str`` parameter or dataclass field, and where they are passed on.

    ``lspcirecords.merge(records, self.problem)`` makes ``merge``'s second parameter
    (``report``) a code taker inside ``merge``, and so on down the calls.
    """
    takers = Takers({}, {})
    defs: dict[str, list[FuncDef]] = {}
    for _path, tree in modules:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defs.setdefault(node.name, []).append(node)
                args = {a.arg: a for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]}
                if "code" in args and _str_annotation(args["code"].annotation):
                    params = _params(node)
                    takers.named[node.name] = params.index("code") if "code" in params else -1
            elif isinstance(node, ast.ClassDef):
                fields = [s.target.id for s in node.body if isinstance(s, ast.AnnAssign)
                          and isinstance(s.target, ast.Name) and "ClassVar" not in ast.unparse(s.annotation)
                          and (s.target.id != "code" or _str_annotation(s.annotation))]
                if "code" in fields:
                    takers.named[node.name] = fields.index("code")
    grew = True
    while grew:  # hand-overs of a taker, to any depth
        grew = False
        for _path, tree in modules:
            for func, node in _functions(tree):
                if not isinstance(node, ast.Call):
                    continue
                given = [(i, None, a) for i, a in enumerate(node.args)]
                given += [(None, k.arg, k.value) for k in node.keywords if k.arg]
                for index, keyword, arg in given:
                    pos = takers.passed(arg, func)
                    if pos is None:
                        continue
                    for callee in defs.get(_last_name(node.func) or "", []):
                        params = _params(callee)
                        param = keyword if keyword is not None else (
                            params[index] if index is not None and index < len(params) else None)
                        known = takers.params.setdefault(id(callee), {})
                        if param is not None and param not in known:
                            known[param] = pos
                            grew = True
    return takers


def _constants(tree: ast.Module) -> dict[str, Any]:
    """Module-level ``NAME = "str"`` and ``NAME = frozenset({"a", "b"})`` / ``{"a", "b"}``."""
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _literal_strings(node.value, {})
            if value is not None:
                out[node.targets[0].id] = value
    return out


def _literal_strings(node: ast.expr, consts: dict[str, Any]) -> str | frozenset[str] | None:
    """A string, or a set of strings, written literally (or through module constants)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and _last_name(node.func) in ("frozenset", "set", "tuple") and node.args:
        return _literal_strings(node.args[0], consts)
    if isinstance(node, (ast.Set, ast.Tuple, ast.List)):
        items = [_literal_strings(e, consts) for e in node.elts]
        if all(isinstance(i, str) for i in items):
            return frozenset(i for i in items if isinstance(i, str))
        return None
    if isinstance(node, ast.Name) and node.id in consts:
        value: str | frozenset[str] = consts[node.id]
        return value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _literal_strings(node.left, consts), _literal_strings(node.right, consts)
        if isinstance(left, frozenset) and isinstance(right, frozenset):
            return left | right
    return None


def _functions(tree: ast.Module) -> Iterator[tuple[ast.AST | None, ast.AST]]:
    """(enclosing function or None, node) for every node of the module."""
    def visit(node: ast.AST, func: ast.AST | None) -> Iterator[tuple[ast.AST | None, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else func
            yield inner, child
            yield from visit(child, inner)
    yield from visit(tree, None)


def _resolve(expr: ast.expr, func: ast.AST | None, consts: dict[str, Any],
             depth: int = 0) -> tuple[list[str], list[str]]:
    """(codes, dynamic expressions) an expression passed as a code can be."""
    if depth > 5:
        return [], [ast.unparse(expr)]
    if isinstance(expr, ast.Constant):
        return ([expr.value], []) if isinstance(expr.value, str) else ([], [])
    if isinstance(expr, ast.IfExp):
        a, b = _resolve(expr.body, func, consts, depth + 1), _resolve(expr.orelse, func, consts, depth + 1)
        return a[0] + b[0], a[1] + b[1]
    if isinstance(expr, ast.Attribute) and expr.attr == "code":
        return [], []  # self.code / cls.code: the class's code, found by the class scan
    if isinstance(expr, ast.Name):
        if expr.id in consts and isinstance(consts[expr.id], str):
            return [consts[expr.id]], []
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = func.args
            params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
            if expr.id in params:
                return [], []  # forwarded: the caller's argument is scanned at the call
            found: tuple[list[str], list[str]] = ([], [])
            for node in ast.walk(func):
                if isinstance(node, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == expr.id for t in node.targets):
                    sub = _resolve(node.value, func, consts, depth + 1)
                    found = (found[0] + sub[0], found[1] + sub[1])
            return found
        return [], []  # an except-clause or loop name: not a code
    return [], [ast.unparse(expr)]


def _is_code(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Attribute) and expr.attr == "code"


def scan(modules: list[tuple[str, ast.Module]] | None = None) -> Scan:
    modules = _modules() if modules is None else modules
    takers = _code_takers(modules)
    out = Scan()
    classes: dict[str, tuple[list[str], str | None, str]] = {}
    for path, tree in modules:
        consts = _constants(tree)
        for func, node in _functions(tree):
            site = f"{path}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.ClassDef):
                explicit = next((s.value.value for s in node.body if isinstance(s, ast.Assign)
                                 and any(isinstance(t, ast.Name) and t.id == "code" for t in s.targets)
                                 and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)),
                                None)
                bases = [b for b in (_last_name(x) for x in node.bases) if b]
                classes[node.name] = (bases, explicit, site)
            elif isinstance(node, ast.Call):
                exprs = [k.value for k in node.keywords if k.arg == "code"]
                position = takers.position(node, func)
                if position is not None and 0 <= position < len(node.args):
                    exprs.append(node.args[position])
                for expr in exprs:
                    found, dynamic = _resolve(expr, func, consts)
                    for code in found:
                        out.add(out.produced, code, site)
                    out.dynamic += [(site, d) for d in dynamic]
                _tested_by_call(node, consts, site, out)
            elif isinstance(node, ast.Compare):
                _tested_by_compare(node, consts, site, out)
    # PcipassError subclasses, through any depth of inheritance and across modules.
    error_names = {"PcipassError"}
    grew = True
    while grew:
        new = {name for name, (bases, _e, _s) in classes.items() if set(bases) & error_names}
        grew = not new <= error_names
        error_names |= new
    for name in error_names - BASE_NAMES:
        _bases, explicit, site = classes[name]
        out.add(out.produced, explicit or name, site)
    return out


def _tested_by_compare(node: ast.Compare, consts: dict[str, Any], site: str, out: Scan) -> None:
    """``p.code == "X"``, ``p.code in {"X", "Y"}``, ``p.code in NAMES``, ``"NUMA" in p.code``."""
    operands = [node.left, *node.comparators]
    for i, op in enumerate(node.ops):
        left, right = operands[i], operands[i + 1]
        if _is_code(right) and isinstance(op, (ast.In, ast.NotIn)):
            value = _literal_strings(left, consts)
            if isinstance(value, str):
                out.add(out.tested_parts, value, site)  # a substring of some code
            continue
        for mine, other in ((left, right), (right, left)):
            if _is_code(mine):
                value = _literal_strings(other, consts)
                for code in [value] if isinstance(value, str) else sorted(value or ()):
                    out.add(out.tested, code, site)


def _tested_by_call(node: ast.Call, consts: dict[str, Any], site: str, out: Scan) -> None:
    """``p.code.startswith("Alias")``."""
    func = node.func
    if (isinstance(func, ast.Attribute) and func.attr in ("startswith", "endswith")
            and _is_code(func.value) and node.args):
        value = _literal_strings(node.args[0], consts)
        for part in [value] if isinstance(value, str) else sorted(value or ()):
            out.add(out.tested_parts, part, site)


@pytest.fixture(scope="module")
def source() -> Scan:
    return scan()


# -- the registry ------------------------------------------------------------------------------


def _registered_names() -> list[str]:
    """The names of the ``Code(...)`` entries in codes.py, as written (a repeat included)."""
    tree = ast.parse((REPO / "src" / "pcipass" / "core" / "codes.py").read_text(encoding="utf-8"))
    return [node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Code"
            and node.args and isinstance(node.args[0], ast.Constant)]


def _error_classes() -> list[type[errors.PcipassError]]:
    """Every PcipassError subclass of pcipass's modules imported so far, bases excluded."""
    found: list[type[errors.PcipassError]] = []
    todo = list(errors.PcipassError.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls not in BASES and cls not in found and cls.__module__.startswith("pcipass."):
            found.append(cls)
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


def test_the_registry_is_well_formed() -> None:
    names = _registered_names()
    assert len(names) == len(codes.CODES) >= 100, "a code registered twice (CODES keeps one)"
    for c in codes.CODES.values():
        assert CAMEL_CASE.fullmatch(c.name), f"{c.name}: codes are CamelCase names"
        assert c.meaning and "\n" not in c.meaning and c.meaning == c.meaning.strip(), c.name
        assert not c.meaning.endswith("."), f"{c.name}: a meaning is one phrase, without a full stop"
        assert isinstance(c.area, codes.Area) and isinstance(c.origin, codes.Origin), c.name
        assert c.severity is None or isinstance(c.severity, codes.Severity), c.name
        if c.severity is None:
            assert "error" in c.meaning and "warning" in c.meaning, \
                f"{c.name}: a code without a fixed severity says in its meaning when it is which"


def test_every_code_the_source_produces_is_registered(source: Scan) -> None:
    missing = {code: sites for code, sites in source.produced.items() if code not in codes.CODES}
    assert not missing, "register these codes in src/pcipass/core/codes.py (meaning, origin, " \
        "severity, layer):\n" + "\n".join(f"  {c}: {', '.join(s)}" for c, s in sorted(missing.items()))


def test_the_scan_sees_each_way_of_producing_a_code(source: Scan) -> None:
    """The scan itself: a class, its explicit code, Problem(), a helper, a constant, a local."""
    expect = {
        "PciConfigInvalidSpec": "core/errors.py",       # a class of errors.py
        "SpecRegexTimeout": "services/regexbound.py",    # a class elsewhere
        "InvalidFlavorFile": "adapters/flavorfile.py",   # Problem("X", ...)
        "NotNovaConf": "services/configcheck.py",        # Problem(code="X", ...)
        "LspciBadValue": "adapters/lspci.py",            # self.problem("X", ...)
        "LspciConflict": "adapters/lspcirecords.py",     # report("X", ...), report=self.problem
        "SriovAgentConfigInvalid": "adapters/sriovagent.py",  # a module constant
        "TemplateSubstitutionError": "adapters/",        # a local variable, and _fail("X", ...)
    }
    for code, where in expect.items():
        assert any(where in site for site in source.produced.get(code, [])), (code, where)
    assert len(source.produced) >= 80


SYNTHETIC = '''
from pcipass.core import errors
CODE = "FromConstant"
WATCHED = frozenset({"Watched1", "Watched2"})

class Mine(errors.InputError): pass
class Deeper(Mine): pass
class Renamed(Deeper):
    code = "RenamedCode"
class NotAnError(ValueError): pass

class Reader:
    def problem(self, code: str, message: str) -> None:
        self.problems.append(errors.Problem(code=code, message=message))
    def helper(self, code: int) -> None: ...
    def run(self, exc):
        self.problem("ViaMethod", "m")
        self.helper(1)
        merge([], self.problem)
        errors.Problem("Positional", "m")
        errors.Problem(CODE, "m")
        chosen = "LocalA" if exc else "LocalB"
        errors.Problem(chosen, "m")
        errors.Problem(exc.__class__.__name__, "m")
        other(code="Keyword")

def merge(records, report):
    report("HandedOver", "m", None)
    deeper(report)

def deeper(sink):
    sink("HandedTwice", "m", None)

def consumer(p):
    return p.code in WATCHED or p.code == "Compared" or p.code.startswith("Pre") or "Sub" in p.code
'''


def test_the_scan_finds_every_form_in_a_synthetic_module() -> None:
    """The scanner itself, on one module holding each way of producing and testing a code."""
    errors_py = SRC / "core" / "errors.py"
    real = scan([("errors.py", ast.parse(errors_py.read_text(encoding="utf-8")))])
    found = scan([("errors.py", ast.parse(errors_py.read_text(encoding="utf-8"))),
                  ("synthetic.py", ast.parse(SYNTHETIC))])
    assert set(found.produced) - set(real.produced) == {
        "Mine", "Deeper", "RenamedCode", "ViaMethod", "Positional", "FromConstant", "LocalA", "LocalB",
        "Keyword", "HandedOver", "HandedTwice"}
    assert [expr for _site, expr in found.dynamic] == ["exc.__class__.__name__"]
    assert set(found.tested) == {"Watched1", "Watched2", "Compared"}
    assert set(found.tested_parts) == {"Pre", "Sub"}


def test_every_code_choice_is_visible_or_known(source: Scan) -> None:
    unknown = [f"{site}: {expr}" for site, expr in source.dynamic if expr not in DYNAMIC]
    assert not unknown, ("a code the scan cannot read: write it as a literal or a module constant, "
                         "or add the expression to DYNAMIC with why:\n" + "\n".join(unknown))
    stale = set(DYNAMIC) - {expr for _site, expr in source.dynamic}
    assert not stale, f"no longer in the source, drop from DYNAMIC: {stale}"


def test_no_registered_code_is_dead(source: Scan) -> None:
    dead = set(codes.CODES) - set(source.produced) - set(RUN_TIME_ONLY)
    assert not dead, f"registered but produced nowhere in src/pcipass: remove them from the registry " \
                     f"(and regenerate docs/problem-codes.md): {sorted(dead)}"
    assert not set(RUN_TIME_ONLY) & set(source.produced), "visible in the source now: drop from RUN_TIME_ONLY"


def test_every_error_class_is_registered() -> None:
    """At run time too: every PcipassError subclass of every pcipass module."""
    for mod in pkgutil.walk_packages(pcipass.__path__, "pcipass."):
        if not mod.name.endswith("__main__"):
            importlib.import_module(mod.name)
    classes = _error_classes()
    assert len(classes) >= 30
    missing = [f"{c.__module__}.{c.__qualname__} ({c.code})" for c in classes
               if c.code not in codes.CODES]
    assert not missing, f"register their codes in src/pcipass/core/codes.py: {missing}"


def test_codes_the_checks_compare_with_are_registered(source: Scan) -> None:
    assert {"PciInvalidAlias", "SuspiciousTag", "PciInPlacementWithoutReporting"} <= set(source.tested)
    unknown = {code: sites for code, sites in source.tested.items() if code not in codes.CODES}
    assert not unknown, f"compared with a code nobody produces (a typo?): {unknown}"
    for part, sites in source.tested_parts.items():
        assert any(part in name for name in codes.CODES), f"{sites}: no code contains {part!r}"


def test_origins_are_nova_and_oslo_names() -> None:
    """A Nova or oslo.config code is that project's class; a pcipass code is neither's."""
    nova_exc = require_module("nova.exception")
    cfg = require_module("oslo_config.cfg")
    for c in codes.CODES.values():
        in_nova, in_oslo = hasattr(nova_exc, c.name), isinstance(getattr(cfg, c.name, None), type)
        if c.origin is codes.Origin.NOVA:
            assert in_nova, f"{c.name}: not a class of nova.exception (34.0.0)"
        elif c.origin is codes.Origin.OSLO_CONFIG:
            assert in_oslo, f"{c.name}: not an exception of oslo_config.cfg"
        else:
            assert not (in_nova or in_oslo), f"{c.name}: Nova or oslo.config has this name; say so"


def test_error_class_codes_are_errors() -> None:
    """An exception is an error, except where the meaning says it is reported either way."""
    for cls in _error_classes():
        c = codes.CODES[cls.code]
        assert c.severity in (codes.Severity.ERROR, None), c.name


# -- codes at run time -------------------------------------------------------------------------


HOSTILE_CONFS = {
    # oslo.config's own errors, which reach the dynamic site
    "group-reference.conf": '[DEFAULT]\nhost = $pci\n[pci]\nalias = {"name": "a$host"}\n',
    "loop.conf": '[DEFAULT]\nmy_ip = $host\nhost = $my_ip\n[pci]\nalias = {"name": "$my_ip"}\n',
    "no-such-option.conf": '[pci]\nalias = {"name": "$nosuchthing", "product_id": "154c"}\n',
    "unknown-group.conf": '[pci]\nalias = {"name": "${nosuch.x}"}\nreport_in_placement = $alias\n',
    "bad-value.conf": "[pci]\nreport_in_placement = perhaps\n[DEFAULT]\nhost = $$x\n",
    "syntax.conf": "[pci\ndevice_spec = {}\n",
    "names.conf": "[pci]\npassthrough_whitelist = {}\ndevice_spec = {\"devname\": \"eth0\"}\n"
                  "physical_netwrok = x\n[filter_scheduler]\npci_in_placement = True\n",
}


def _walk_codes(doc: Any, found: dict[str, set[str]], kind: str = "") -> None:
    """Every ``code`` of an Error object in a command's JSON, with the list it was in."""
    if isinstance(doc, dict):
        code = doc.get("code")
        if isinstance(code, str) and "message" in doc:
            found.setdefault(code, set()).add(kind)
        for key, value in doc.items():
            _walk_codes(value, found, key if key in ("errors", "error", "warnings", "problems") else kind)
    elif isinstance(doc, list):
        for item in doc:
            _walk_codes(item, found, kind)


def _inputs(tmp: Path) -> list[list[str]]:
    for name, text in HOSTILE_CONFS.items():
        (tmp / name).write_text(text, encoding="utf-8")
    confs = sorted(FIXTURES.rglob("*.conf")) + sorted(FIXTURES.rglob("*.ini")) + sorted(tmp.glob("*.conf"))
    corpus = SHARED / "corpus"
    docs = sorted(p for p in (corpus / "config").glob("*") if not p.name.endswith(".source.txt"))
    runs = [["config", "check", "--nova-conf", str(p)] for p in [*confs, *docs]]
    agent = FIXTURES / "conf" / "sriov_agent.ini"
    runs.append(["config", "check", "--nova-conf", str(FIXTURES / "cli" / "good.conf"),
                 "--sriov-agent-conf", str(agent)])
    flavors = sorted(FIXTURES.rglob("*.json")) + sorted((corpus / "openstack_api").glob("*.json"))
    for conf in (FIXTURES / "cli" / "good.conf", FIXTURES / "cli" / "legacy.conf"):
        runs += [["flavor", "explain", "--nova-conf", str(conf), "--flavor", str(f)] for f in flavors]
    pastes = sorted(p for p in (corpus / "lspci").glob("*") if not p.name.endswith(".source.txt"))
    runs += [["scan", "--lspci", str(p)] for p in pastes]
    hosts = sorted((corpus / "realkernel").glob("*.tar.gz")) + sorted((corpus / "fake_sysfs").glob("*.tar.gz"))
    runs += [["scan", "--host", str(h)] for h in hosts]
    return runs


def test_codes_printed_by_the_commands_are_registered(tmp_path: Path, shared: Path) -> None:
    """The commands over the fixtures, the corpus and hostile configs print registered codes only."""
    found: dict[str, set[str]] = {}
    for args in _inputs(tmp_path):
        res = run_cli([*args, "-f", "json"])
        assert res.code != 255, f"{args}: {res.err}"
        if res.out.strip():
            _walk_codes(json.loads(res.out), found)
    assert {"TemplateSubstitutionError", "NoSuchOptError", "PciConfigInvalidSpec", "NotNovaConf"} <= set(found)
    missing = sorted(set(found) - set(codes.CODES))
    assert not missing, f"printed but not registered: {missing}"
    for code, kinds in found.items():
        severity = codes.CODES[code].severity
        if severity is codes.Severity.ERROR:
            assert "warnings" not in kinds, f"{code} is registered as an error but printed as a warning"
        elif severity is codes.Severity.WARNING:
            assert not kinds & {"errors", "error"}, f"{code} is registered as a warning but printed as an error"


# -- the documentation -------------------------------------------------------------------------


def test_the_doc_is_what_the_registry_generates() -> None:
    assert DOC.read_text(encoding="utf-8") == codes.markdown(), f"regenerate: {REGENERATE}"


def test_the_doc_lists_every_code_once() -> None:
    text = codes.markdown()
    for name in codes.CODES:
        assert text.count(f"| `{name}` |") == 1, name
    for area in codes.Area:
        assert f"## {area.title}\n" in text, area


def test_the_readme_links_the_doc() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    docs_list = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    assert "[docs/problem-codes.md](docs/problem-codes.md)" in docs_list
