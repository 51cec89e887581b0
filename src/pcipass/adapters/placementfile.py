"""The placement-view file (``pcipass placement export -o FILE``): written atomically, read back checked.

The document is ``pcipass-placement-view/1`` (``docs/schemas/placement-view.json``). Reading
is hostile-input safe: the file is read bounded (:mod:`pcipass.adapters.boundedread`), and a
value of the wrong kind is a :class:`PlacementViewInvalid` naming the file and the JSON path
of the value (``providers[3].inventories[0].total``), never a traceback.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pcipass.adapters import boundedread
from pcipass.core import errors, rptree

MAX_FILE = 256 * 1024 * 1024


class PlacementViewInvalid(errors.InputError):
    """A placement-view file that is not one pcipass wrote, or was changed into nonsense."""


def write_view(path: str | Path, doc: Any) -> None:
    """Write ``doc`` as JSON to ``path`` through a temporary file in the same directory."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(doc, out, indent=2, sort_keys=False)
            out.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_view(path: str | Path) -> rptree.PlacementState:
    """The placement view saved in ``path``.

    :raises PlacementViewInvalid: unreadable, not JSON, or not the view document.
    """
    name = str(path)
    try:
        raw = boundedread.read_bounded(path, MAX_FILE)
    except (OSError, ValueError) as exc:
        raise PlacementViewInvalid(f"{name}: cannot read the placement view: "
                                   f"{exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}",
                                   entry=name) from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PlacementViewInvalid(f"{name}: not JSON: {errors.clip(str(exc), 200)}", entry=name,
                                   hint="give the file pcipass placement export wrote") from None
    return _Decoder(name).state(doc)


class _Decoder:
    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, where: str, what: str) -> PlacementViewInvalid:
        return PlacementViewInvalid(f"{self.name}: {where}: {what}", entry=f"{self.name}:{where}",
                                    hint="give the file pcipass placement export wrote")

    def want(self, value: Any, kind: type | tuple[type, ...], where: str) -> Any:
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            raise self.fail(where, f"expected {_kinds(kind)}, found a boolean")
        if not isinstance(value, kind):
            raise self.fail(where, f"expected {_kinds(kind)}, found {type(value).__name__}")
        return value

    def field(self, obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
        if key not in obj:
            raise self.fail(where, f"{key!r} is missing")
        return self.want(obj[key], kind, f"{where}.{key}" if where else key)

    def state(self, doc: Any) -> rptree.PlacementState:
        self.want(doc, dict, "the document")
        schema = self.field(doc, "schema", str, "")
        if schema != rptree.VIEW_SCHEMA:
            raise self.fail("schema", f"{errors.clip(schema, 80)!r} is not {rptree.VIEW_SCHEMA!r}")
        providers = tuple(self.provider(p, f"providers[{i}]")
                          for i, p in enumerate(self.field(doc, "providers", list, "")))
        allocations = tuple(self.allocation(a, f"allocations[{i}]")
                            for i, a in enumerate(self.field(doc, "allocations", list, "")))
        return rptree.PlacementState(source=self.field(doc, "source", str, ""),
                                     microversion=self.field(doc, "microversion", str, ""),
                                     providers=providers, allocations=allocations)

    def provider(self, obj: Any, where: str) -> rptree.RpRecord:
        self.want(obj, dict, where)
        invs = self.field(obj, "inventories", list, where)
        parent = self.field(obj, "parent", (str, type(None)), where)
        traits = self.field(obj, "traits", list, where)
        usages = self.field(obj, "usages", dict, where)
        return rptree.RpRecord(
            name=self.field(obj, "name", str, where), uuid=self.field(obj, "uuid", str, where),
            parent=parent, root=self.field(obj, "root", str, where),
            generation=self.field(obj, "generation", int, where),
            inventories=tuple(self.inventory(inv, f"{where}.inventories[{i}]")
                              for i, inv in enumerate(invs)),
            traits=tuple(self.want(t, str, f"{where}.traits[{i}]") for i, t in enumerate(traits)),
            usages={rc: self.want(n, int, f"{where}.usages.{rc}") for rc, n in usages.items()})

    def inventory(self, obj: Any, where: str) -> rptree.RpInventory:
        self.want(obj, dict, where)
        rc = self.field(obj, "resource_class", str, where)
        ints = {k: self.field(obj, k, int, where)
                for k in ("total", "reserved", "min_unit", "max_unit", "step_size")}
        ratio = float(self.field(obj, "allocation_ratio", (int, float), where))
        return rptree.RpInventory(rc, allocation_ratio=ratio, **ints)

    def allocation(self, obj: Any, where: str) -> rptree.ConsumerAllocation:
        self.want(obj, dict, where)
        resources = self.field(obj, "resources", dict, where)
        out: dict[str, dict[str, int]] = {}
        for rp, held in resources.items():
            self.want(held, dict, f"{where}.resources.{rp}")
            out[rp] = {rc: self.want(n, int, f"{where}.resources.{rp}.{rc}") for rc, n in held.items()}
        return rptree.ConsumerAllocation(self.field(obj, "consumer", str, where), out)


def _kinds(kind: type | tuple[type, ...]) -> str:
    names = {"str": "a string", "int": "an integer", "float": "a number", "dict": "an object",
             "list": "an array", "NoneType": "null", "bool": "a boolean"}
    return " or ".join(names.get(k.__name__, k.__name__) for k in _as_tuple(kind))


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
