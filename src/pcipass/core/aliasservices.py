"""Controller and compute are separate services: each reads its own ``[pci] alias`` table.

nova-api and nova-scheduler read the controller's nova.conf, nova-compute the compute's. The
normal layout defines the same alias in both (and an all-in-one host passes one file to
both). Merging the two files into one table would count an alias's specs twice, and with
``pci_in_placement`` Nova's "only one spec per alias" would then fail a config each service
accepts. So the aliases are counted per service: the controller's definition is the one
requests are made from; a compute's definition of the same alias is compared with it, and only
a difference is reported, with what differs.

Pure: raw alias values in, the values to keep and the problems out.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from pcipass.core import alias as alias_mod
from pcipass.core import errors

CODE = "AliasDiffersBetweenServices"


@dataclasses.dataclass(frozen=True, slots=True)
class Compared:
    """The compute's alias values the controller does not define (kept), and the differences."""

    kept: tuple[int, ...]
    problems: tuple[errors.Problem, ...]


def _definition(al: alias_mod.Alias) -> dict[str, object]:
    return {"device_type": al.dev_type, "numa_policy": al.numa_policy,
            "specs": sorted((dict(sorted(s.items())) for s in al.specs), key=json.dumps)}


def compare(compute: Sequence[str], controller: Sequence[str],
            where: Sequence[tuple[str | None, int | None]] = ()) -> Compared:
    """Compare the compute's alias values with the controller's, alias by alias.

    :param compute: the compute's raw alias values; ``controller``: the controller's.
    :param where: (file, line) of each compute value, for the problems.
    :returns: the indexes of the compute values whose alias the controller does not define,
        and one ``AliasDiffersBetweenServices`` problem per alias defined differently.
    """
    ours = alias_mod.parse_alias_values(list(compute))
    theirs = alias_mod.parse_alias_values(list(controller))
    kept: list[int] = []
    problems: list[errors.Problem] = []
    defined = set(theirs.aliases)
    names = _names(compute)
    for index, name in enumerate(names):
        if name is None or name not in defined:
            kept.append(index)
    for name, al in ours.aliases.items():
        other = theirs.aliases.get(name)
        if other is None:
            continue
        mine, ctrl = _definition(al), _definition(other)
        if mine == ctrl:
            continue
        diff = "; ".join(f"{k}: compute {json.dumps(mine[k])} vs controller {json.dumps(ctrl[k])}"
                         for k in mine if mine[k] != ctrl[k])
        first = al.sources[0] if al.sources else None
        file, line = where[first] if first is not None and first < len(where) else (None, None)
        problems.append(errors.Problem(
            CODE, f"alias {name!r} is defined differently by the compute (nova-compute) and the controller "
            f"(nova-api, nova-scheduler): {diff}; requests are made from the controller's",
            file=file, line=line, entry=f"[pci] alias {name!r}",
            hint="define the alias the same way in both files (the controller's is the one flavors use)"))
    return Compared(tuple(kept), tuple(problems))


def _names(values: Sequence[str]) -> list[str | None]:
    """Each value's alias name as Nova strips it; None for a value that is not an alias object."""
    out: list[str | None] = []
    for raw in values:
        try:
            doc = json.loads(raw)
        except ValueError:
            out.append(None)
            continue
        name = doc.get("name") if isinstance(doc, dict) else None
        out.append(name.strip() if isinstance(name, str) else None)
    return out
