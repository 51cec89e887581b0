"""Nova's ``[pci] alias`` table: parse, validate and merge, as nova/pci/request.py does.

Nova decodes each value as JSON, validates it with a JSON schema (through the
``jsonschema`` library, so we use the same library and get the same messages),
merges values that share a name into one alias with OR-ed specs, and then
checks the whole table against ``[filter_scheduler] pci_in_placement``
(nova-pci.md §2).

Nova stops at the first bad value; we collect every problem, in the order
Nova would meet them, so ``problems[0]`` is the error Nova itself reports.
One deliberate difference (nova-pci.md §9.1): when a repeated alias name lacks
``device_type`` Nova fails with the bare KeyError text ``'dev_type'``; we
reject the table the same way, under the same code, but say what is wrong.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pcipass.core import errors, jsontext, strutils

#: Nova's PCI NUMA affinity policies (``fields.PCINUMAAffinityPolicy``), named here once: an
#: alias's ``numa_policy``, a flavor's or image's policy and the pools' NUMA filter all use them.
REQUIRED, LEGACY, PREFERRED, SOCKET = "required", "legacy", "preferred", "socket"
NUMA_POLICIES = (REQUIRED, LEGACY, PREFERRED, SOCKET)
DEFAULT_NUMA_POLICY = LEGACY
ALIAS_DEVICE_TYPES = ("type-PCI", "type-PF", "type-VF")

# Nova's utils.PCI_VENDOR_PATTERN, character for character: the messages quote it.
_ID_PATTERN = "^([\\da-fA-F]{4})$"

#: The schema of one alias value, as nova/pci/request.py ``_ALIAS_SCHEMA``.
ALIAS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 256},
        "capability_type": {"type": "string", "enum": ["pci"]},
        "product_id": {"type": "string", "pattern": _ID_PATTERN},
        "vendor_id": {"type": "string", "pattern": _ID_PATTERN},
        "device_type": {"type": "string", "enum": list(ALIAS_DEVICE_TYPES)},
        "numa_policy": {"type": "string", "enum": list(NUMA_POLICIES)},
        "resource_class": {"type": "string"},
        "traits": {"type": "string"},
        "live_migratable": {"type": "string"},
    },
    "required": ["name"],
}

KNOWN_KEYS = tuple(ALIAS_SCHEMA["properties"])


@functools.cache
def _schema() -> tuple[Any, Callable[[Any], Any]]:
    """The alias schema's validator and jsonschema's ``best_match``."""
    # NOTE: jsonschema costs ~40 ms to import (with its referencing and rpds); loaded when an
    # alias is parsed, not by every command that imports the core.
    import jsonschema

    return (jsonschema.validators.validator_for(ALIAS_SCHEMA)(ALIAS_SCHEMA),
            jsonschema.exceptions.best_match)



@dataclasses.dataclass(frozen=True, slots=True)
class Alias:
    """One alias name with its OR-ed specs.

    :ivar name: the name after Nova's ``.strip()``.
    :ivar numa_policy: the alias's own policy (``legacy`` when unset).
    :ivar dev_type: the ``device_type`` of the definitions, or None.
    :ivar specs: Nova's request-spec form of each definition: ``name`` and
        ``numa_policy`` removed, ``device_type`` renamed ``dev_type``,
        ``live_migratable`` normalized to ``"true"``/``"false"``.
    :ivar sources: the index of the config value each spec came from.
    """

    name: str
    numa_policy: str
    dev_type: str | None
    specs: list[dict[str, str]]
    sources: list[int]


@dataclasses.dataclass(frozen=True, slots=True)
class AliasParseResult:
    """The parsed table, every problem Nova would reject, and our warnings."""

    aliases: dict[str, Alias]
    problems: list[errors.Problem]
    warnings: list[errors.Problem]

    @property
    def valid(self) -> bool:
        """True when Nova would accept the whole table (it refuses every PCI flavor otherwise)."""
        return not self.problems

    @property
    def nova_error(self) -> errors.Problem | None:
        """The one problem Nova itself reports (it stops at the first)."""
        return self.problems[0] if self.problems else None


@dataclasses.dataclass(slots=True)
class _Draft:
    numa_policy: str
    specs: list[dict[str, str]]
    sources: list[int]


class _Rejected(Exception):
    """One value Nova rejects: carries the problem."""

    def __init__(self, problem: errors.Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def parse_alias_values(values: Sequence[str], *, pci_in_placement: bool = False) -> AliasParseResult:
    """Parse the raw ``[pci] alias`` values (one JSON object each) the way Nova does.

    :param values: the option's values in config order (oslo's MultiStrOpt order).
    :param pci_in_placement: ``[filter_scheduler] pci_in_placement``; it changes
        the table-wide checks (§2).
    :returns: the merged aliases, the problems (each would make Nova refuse
        every flavor that uses any alias) and warnings (accepted but suspicious).
    """
    drafts: dict[str, _Draft] = {}
    problems: list[errors.Problem] = []
    warnings: list[errors.Problem] = []
    for index, raw in enumerate(values):
        try:
            name, policy, spec = _parse_one(raw, index)
            _merge(drafts, name, policy, spec, index)
        except _Rejected as rejected:
            problems.append(rejected.problem)
            continue
        warnings.extend(_value_warnings(name, spec, index, pci_in_placement))
    aliases = {name: _freeze(name, d) for name, d in drafts.items()}
    problems.extend(_validate_table(aliases, pci_in_placement))
    return AliasParseResult(aliases, problems, warnings)


def _parse_one(raw: str, index: int) -> tuple[str, str, dict[str, str]]:
    """Decode and validate one value; return (name, numa_policy, request spec)."""
    if not isinstance(raw, str):
        raise _Rejected(_invalid(f"the value {errors.clip(repr(raw))} is not a string", index, None))
    try:
        obj = jsontext.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _Rejected(_invalid(str(exc), index, None,
                                 hint="each [pci] alias value must be one JSON object, "
                                      'e.g. {"name": "gpu", "vendor_id": "10de", "product_id": "1db6"}'))
    validator, best_match = _schema()
    try:
        error = best_match(validator.iter_errors(obj))
        message = error.message if error is not None else None
    except RecursionError as exc:  # repr() of a deeply nested value, as in Nova
        raise _Rejected(_invalid(str(exc), index, None))
    if error is not None:
        raise _Rejected(_invalid(str(message), index, _entry_of(obj), hint=_schema_hint(error, obj)))
    spec: dict[str, str] = dict(obj)
    name = spec.pop("name").strip()
    policy = spec.pop("numa_policy", None) or DEFAULT_NUMA_POLICY
    dev_type = spec.pop("device_type", None)
    if dev_type:
        spec["dev_type"] = dev_type
    if "live_migratable" in spec:
        spec["live_migratable"] = _strict_bool(spec.pop("live_migratable"), index, name)
    return name, policy, spec


def _strict_bool(value: str, index: int, name: str) -> str:
    """oslo ``bool_from_string(strict=True)`` rendered as Nova stores it."""
    try:
        return "true" if strutils.strict_bool(value) else "false"
    except ValueError as exc:
        raise _Rejected(_invalid(str(exc), index, _alias_entry(name),
                                 hint='live_migratable takes "true" or "false"')) from None


def _merge(drafts: dict[str, _Draft], name: str, policy: str, spec: dict[str, str], index: int) -> None:
    """Append ``spec`` to the alias ``name``, with Nova's same-name rules."""
    draft = drafts.get(name)
    if draft is None:
        drafts[name] = _Draft(policy, [spec], [index])
        return
    entry = _alias_entry(name)
    if draft.numa_policy != policy:
        raise _Rejected(_invalid(
            f"NUMA policy mismatch for alias '{name}'", index, entry,
            hint=f"every definition of alias '{name}' must have the same numa_policy "
                 f"(the first one has {draft.numa_policy!r})"))
    first = draft.specs[0]
    if "dev_type" not in first or "dev_type" not in spec:
        # NOTE: Nova indexes spec['dev_type'] and fails with the KeyError
        # text 'dev_type' (nova-pci.md §9.1); same rejection, clearer words.
        raise _Rejected(_invalid(
            f"alias '{name}' is defined more than once, so every definition must set "
            f"device_type (Nova reports this only as 'dev_type')", index, entry,
            hint=f'add the same "device_type" (e.g. "type-PCI") to every definition of alias \'{name}\''))
    if first["dev_type"] != spec["dev_type"]:
        raise _Rejected(_invalid(
            f"Device type mismatch for alias '{name}'", index, entry,
            hint=f"the first definition of alias '{name}' has device_type {first['dev_type']!r}; "
                 "use one name per device type"))
    draft.specs.append(spec)
    draft.sources.append(index)


def _freeze(name: str, draft: _Draft) -> Alias:
    dev_type = draft.specs[0].get("dev_type")
    return Alias(name, draft.numa_policy, dev_type, draft.specs, draft.sources)


def _validate_table(aliases: Mapping[str, Alias], pci_in_placement: bool) -> list[errors.Problem]:
    """Nova's ``_validate_aliases``: whole-table checks, bare messages, in Nova's order."""
    out: list[errors.Problem] = []
    if pci_in_placement:
        multi = [name for name, al in aliases.items() if len(al.specs) > 1]
        if multi:
            out.append(_table_problem(
                multi, aliases,
                "The PCI alias(es) %s have multiple specs but [filter_scheduler]pci_in_placement is "
                "True. The PCI in Placement feature only supports one spec per alias. You can assign "
                "the same resource_class to multiple [pci]device_spec matchers to allow using "
                "different devices for the same alias." % ",".join(multi),
                "give each definition its own alias name, or one resource_class shared by several "
                "device_spec entries"))
    missing = sorted(name for name, al in aliases.items()
                     if any(not _has_ids(s) and not (pci_in_placement and "resource_class" in s)
                            for s in al.specs))
    if missing:
        if pci_in_placement:
            text = ("The PCI alias(es) %s does not have vendor_id and product_id fields set or "
                    "resource_class field set." % ",".join(missing))
            hint = 'set "vendor_id" and "product_id", or "resource_class"'
        else:
            text = ("The PCI alias(es) %s does not have vendor_id and product_id fields set."
                    % ",".join(missing))
            hint = ('set "vendor_id" and "product_id" (resource_class alone works only with '
                    "[filter_scheduler] pci_in_placement = True)")
        out.append(_table_problem(missing, aliases, text, hint))
    return out


def _has_ids(spec: Mapping[str, str]) -> bool:
    return "vendor_id" in spec and "product_id" in spec


def _table_problem(names: Sequence[str], aliases: Mapping[str, Alias], message: str,
                   hint: str) -> errors.Problem:
    """One problem for a table-wide message, located at the first alias it names."""
    first = aliases[names[0]]
    entry = _alias_entry(names[0]) if len(names) == 1 else "aliases " + ", ".join(f"'{n}'" for n in names)
    return errors.PciInvalidAlias(message, hint=hint).to_problem(value_index=first.sources[0], entry=entry)


def _value_warnings(name: str, spec: Mapping[str, str], index: int,
                    pci_in_placement: bool) -> list[errors.Problem]:
    """Things Nova accepts that will not do what the operator meant."""
    entry = _alias_entry(name)
    out = []
    if "," in name or ":" in name or not name:
        out.append(errors.Problem(
            code="AliasNameUnusable", value_index=index, entry=entry,
            message=(f"alias name {name!r} cannot be requested: Nova splits pci_passthrough:alias "
                     "on ',' and ':' and strips spaces"),
            hint="use a name without ',' or ':'"))
    if "capability_type" in spec:
        out.append(errors.Problem(
            code="AliasNeverMatches", value_index=index, entry=entry,
            message=(f"alias '{name}' sets capability_type, which Nova keeps in the request spec; "
                     "no device pool has that key unless a device_spec sets a capability_type tag, "
                     "so the alias is never satisfied"),
            hint='remove "capability_type"'))
    if not pci_in_placement and ("resource_class" in spec or "traits" in spec):
        out.append(errors.Problem(
            code="AliasPlacementFieldsIgnored", value_index=index, entry=entry,
            message=(f"alias '{name}' sets resource_class/traits, which Nova ignores while "
                     "[filter_scheduler] pci_in_placement is False"),
            hint="set [filter_scheduler] pci_in_placement = True to use them"))
    return out


def _invalid(reason: str, index: int, entry: str | None, *, hint: str | None = None) -> errors.Problem:
    return errors.PciInvalidAlias(reason=reason, hint=hint).to_problem(value_index=index, entry=entry)


def _alias_entry(name: str) -> str:
    return f"alias '{name}'"


def _entry_of(obj: Any) -> str | None:
    """Name the entry of a rejected value when it has a string name."""
    if isinstance(obj, dict) and isinstance(obj.get("name"), str):
        return _alias_entry(obj["name"].strip())
    return None


def _schema_hint(error: Any, obj: Any) -> str | None:
    """A fix for the commonest schema errors."""
    field = error.path[0] if error.path else None
    if error.validator == "additionalProperties" and isinstance(obj, dict):
        unknown = [k for k in obj if k not in KNOWN_KEYS]
        for key in unknown:
            close = difflib.get_close_matches(str(key), KNOWN_KEYS, n=1)
            if close:
                return f'did you mean "{close[0]}" instead of "{key}"?'
        return "allowed keys: " + ", ".join(KNOWN_KEYS)
    if field in ("vendor_id", "product_id"):
        return f'{field} must be exactly 4 hex digits without "0x", e.g. "8086"'
    if field == "device_type":
        return "device_type is one of " + ", ".join(ALIAS_DEVICE_TYPES)
    if field == "numa_policy":
        return "numa_policy is one of " + ", ".join(NUMA_POLICIES)
    if error.validator == "type" and not error.path:
        return "each [pci] alias value must be one JSON object (not a list)"
    return None
