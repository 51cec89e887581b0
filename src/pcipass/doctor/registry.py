"""The ``@check`` decorator and the table of checks.

A check is a small pure function. Its parameter names are the facts it needs
(:data:`pcipass.doctor.model.FACT_TYPES`); a parameter with a default is an
optional fact. The decorator validates everything when the module is
imported, so a typo in a fact name or a reused id fails in CI, not in the
field (flake8's plugin model)::

    @check("PCI-K004", Layer.KERNEL, title="vfio-pci is available")
    def vfio_available(kernel: model.KernelView) -> Iterator[model.Result]:
        '''One paragraph of documentation, shown by `pcipass doctor checks`.'''

Ids are ``PCI-<L><nnn>`` with the layer's letter. They are stable: a retired
check's id goes into :data:`RETIRED` and is never given out again.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from collections.abc import Callable, Iterable

from pcipass.doctor import model
from pcipass.core.layers import Layer

ID_PATTERN = re.compile(r"^PCI-([A-Z])(\d{3})$")
#: Ids of removed checks: never reused.
RETIRED: frozenset[str] = frozenset()
BUILTIN_MODULES = ("kernel", "driver", "spec", "numa", "placement", "flavor", "neutron", "scheduler")

CheckFunc = Callable[..., Iterable[model.Result]]


class CheckDefinitionError(TypeError):
    """A check declared wrongly (bad id, unknown fact, duplicate): a bug caught at import."""


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """A registered check: id, layer, title, documentation and the facts it takes."""

    id: str
    layer: Layer
    title: str
    doc: str
    func: CheckFunc
    facts: tuple[str, ...]
    optional: frozenset[str]

    @property
    def scope(self) -> str:
        """``global`` when every fact is global (run once), else ``host`` (run per host)."""
        if self.facts and all(model.FACT_TYPES[f].scope == model.GLOBAL for f in self.facts):
            return model.GLOBAL
        return model.HOST

    @property
    def sort_key(self) -> tuple[int, str]:
        return self.layer.order, self.id


class Registry:
    """A set of checks; the module-level :data:`REGISTRY` holds the built-in ones."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def check(self, check_id: str, layer: Layer | str, *, title: str) -> Callable[[CheckFunc], CheckFunc]:
        """Register the decorated function as check ``check_id`` of ``layer``.

        :raises CheckDefinitionError: bad or reused id, wrong letter for the
            layer, unknown layer or fact name, missing docstring.
        """
        def register(func: CheckFunc) -> CheckFunc:
            self.add(_build(check_id, layer, title, func))
            return func
        return register

    def add(self, item: Check) -> None:
        if item.id in self._checks and self._checks[item.id].func is not item.func:
            raise CheckDefinitionError(f"{item.id}: id already used by {self._checks[item.id].func.__name__}")
        self._checks[item.id] = item

    def all(self) -> list[Check]:
        """Every check in run order: by layer, then id."""
        return sorted(self._checks.values(), key=lambda c: c.sort_key)

    def get(self, check_id: str) -> Check | None:
        return self._checks.get(check_id)

    def __len__(self) -> int:
        return len(self._checks)


def _build(check_id: str, layer: Layer | str, title: str, func: CheckFunc) -> Check:
    m = ID_PATTERN.match(check_id)
    if m is None:
        raise CheckDefinitionError(f"{check_id!r}: ids are PCI-<letter><3 digits>, e.g. PCI-K001")
    try:
        layer = Layer(layer)
    except ValueError:
        raise CheckDefinitionError(
            f"{check_id}: unknown layer {layer!r}; one of {', '.join(Layer)}") from None
    if m.group(1) != layer.letter:
        raise CheckDefinitionError(f"{check_id}: layer {layer} takes ids PCI-{layer.letter}nnn")
    if check_id in RETIRED:
        raise CheckDefinitionError(f"{check_id} belonged to a removed check and is never reused")
    doc = inspect.getdoc(func)
    if not doc:
        raise CheckDefinitionError(f"{check_id}: a check needs a docstring (shown by `doctor checks`)")
    facts, optional = _facts_of(check_id, func)
    return Check(check_id, layer, title, doc, func, facts, optional)


def _facts_of(check_id: str, func: CheckFunc) -> tuple[tuple[str, ...], frozenset[str]]:
    facts: list[str] = []
    optional: set[str] = set()
    for name, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise CheckDefinitionError(f"{check_id}: *args/**kwargs cannot name facts")
        if name not in model.FACT_TYPES:
            raise CheckDefinitionError(
                f"{check_id}: parameter {name!r} is not a fact; known facts: {', '.join(model.FACT_TYPES)}")
        facts.append(name)
        if param.default is not param.empty:
            optional.add(name)
    return tuple(facts), frozenset(optional)


REGISTRY = Registry()
check = REGISTRY.check


def load_builtin() -> Registry:
    """Import the built-in check modules (registering their checks) and return :data:`REGISTRY`."""
    for name in BUILTIN_MODULES:
        importlib.import_module(f"pcipass.doctor.checks.{name}")
    return REGISTRY
