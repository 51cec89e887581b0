"""Flavor extra specs and image properties -> Nova's PCI requests (nova-pci.md §3).

Two layers of Nova look at a flavor's ``pci_passthrough:alias``:

* the API validates the value when a flavor extra spec is set with
  microversion >= 2.86 (a regex, "Validation failed; ..." messages);
* the boot path (nova/pci/request.py ``_translate_alias_to_requests``)
  splits and converts it much more leniently, and leaks bare ``ValueError``
  on malformed items.

Flavors set with older microversions never met the first layer, so the boot
path decides what Nova does. :func:`translate_flavor` follows the boot path
and reports where the API would disagree as warnings (or errors, with
``strict_api=True``). Where Nova leaks a Python error we raise
:class:`errors.InvalidAliasRequest`.

The NUMA policy comes from ``hw:pci_numa_affinity_policy`` and the image's
``hw_pci_numa_affinity_policy`` (nova/virt/hardware.py), checked in the
order Nova's API checks them when it builds an instance.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping
from typing import Any

from pcipass.core import alias as alias_mod
from pcipass.core import errors
from pcipass.core import extraspecs, numa

ALIAS_KEY = "pci_passthrough:alias"
POLICY_KEY = "hw:pci_numa_affinity_policy"
IMAGE_POLICY_KEY = "hw_pci_numa_affinity_policy"
NUMA_NODES_KEY = "hw:numa_nodes"
IMAGE_NUMA_NODES_KEY = "hw_numa_nodes"
CPU_POLICY_KEY = "hw:cpu_policy"
IMAGE_CPU_POLICY_KEY = "hw_cpu_policy"

#: The API's value pattern for ``pci_passthrough:alias`` (full match).
ALIAS_VALUE_PATTERN = r"[^:]+:\d+(?:\s*,\s*[^:]+:\d+)*"
# The same language without its exponential backtracking ("a:1 , a:1 , ... :" with 22 items
# took 0.9 s, doubling with each one): "\s*[^:]+" is any run of non-colons, so the second
# "\s*" goes, and no quantifier may give back what it took. ALIAS_VALUE_PATTERN stays for
# the messages, which quote Nova's pattern.
_ALIAS_VALUE = re.compile(r"[^:]++:\d++(?:\s*+,[^:]++:\d++)*+")
NUMA_POLICIES = alias_mod.NUMA_POLICIES
CPU_POLICIES = (numa.DEDICATED, numa.SHARED, numa.MIXED)
# The API validator lists the PCI NUMA policies in this order (its messages quote it).
NUMA_POLICIES_API = (alias_mod.REQUIRED, alias_mod.PREFERRED, alias_mod.LEGACY, alias_mod.SOCKET)


# Nova API errors that flavor/image translation raises (defined with the rest in errors.py).
ValidationError = errors.ValidationError
InvalidRequest = errors.InvalidRequest
InvalidNUMANodesNumber = errors.InvalidNUMANodesNumber
ImageNUMATopologyForbidden = errors.ImageNUMATopologyForbidden
InvalidCPUAllocationPolicy = errors.InvalidCPUAllocationPolicy
ImageCPUPinningForbidden = errors.ImageCPUPinningForbidden


@dataclasses.dataclass(frozen=True, slots=True)
class PciRequest:
    """One ``InstancePCIRequest`` made from a flavor.

    :ivar specs: OR-ed alternatives; every value a string, as in Nova's object.
    :ivar request_id: the request's position in the flavor (Nova uses a fresh UUID).
    """

    alias_name: str
    count: int
    numa_policy: str | None
    specs: list[dict[str, str]]
    request_id: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class FlavorRequests:
    """What Nova makes of one flavor (and image) before scheduling.

    :ivar numa_policy: the resolved flavor/image PCI NUMA policy, None when unset
        (then each request carries its alias's policy).
    :ivar alias_spec: the raw ``pci_passthrough:alias`` value, if any.
    :ivar warnings: values Nova accepts at boot but its API (>= 2.86) would reject,
        and counts that request nothing.
    """

    requests: list[PciRequest]
    numa_policy: str | None
    numa_nodes: int | None
    cpu_policy: str | None
    alias_spec: str | None
    extra_specs: dict[str, str]
    image_props: dict[str, Any]
    warnings: list[errors.Problem] = dataclasses.field(default_factory=list)


def image_properties(image: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the property dict of an image.

    Accepts the flat properties (``{"hw_numa_nodes": "2"}``) or the whole
    ``openstack image show -f json`` document, whose custom properties sit
    under ``properties``.
    """
    if image is None:
        return {}
    props = image.get("properties")
    if isinstance(props, Mapping):
        return dict(props)
    return dict(image)


def translate_flavor(extra_specs: Mapping[str, str], aliases: Mapping[str, alias_mod.Alias],
                     image_props: Mapping[str, Any] | None = None, *,
                     strict_api: bool = False) -> FlavorRequests:
    """Turn a flavor's extra specs (and the image) into Nova's PCI requests.

    :param extra_specs: the flavor's extra specs.
    :param aliases: the parsed ``[pci] alias`` table (``AliasParseResult.aliases``).
    :param image_props: image properties, flat or as ``openstack image show`` prints them.
    :param strict_api: also raise where Nova's API (microversion >= 2.86) rejects a value.
    :raises errors.PcipassError: the error Nova raises first, under Nova's class name:
        ``InvalidRequest`` (bad image property), ``InvalidCPUAllocationPolicy``,
        ``ImageCPUPinningForbidden``, ``InvalidNUMANodesNumber``,
        ``ImageNUMATopologyForbidden``, ``ImagePCINUMAPolicyForbidden``,
        ``InvalidPCINUMAAffinity``, ``PciRequestAliasNotDefined``, ``InvalidAliasRequest``
        or (``strict_api``) ``ValidationError``.
    """
    specs = dict(extra_specs)
    _require_strings(specs)
    image = image_properties(image_props)
    warnings = _api_warnings(specs)
    if strict_api and warnings:
        raise ValidationError(warnings[0].message)
    typed_image = _typed_image(image)
    cpu_policy = resolve_cpu_policy(specs.get(CPU_POLICY_KEY), typed_image.get(IMAGE_CPU_POLICY_KEY))
    numa_nodes = resolve_numa_nodes(specs.get(NUMA_NODES_KEY), typed_image.get(IMAGE_NUMA_NODES_KEY))
    policy = resolve_pci_numa_policy(specs.get(POLICY_KEY), typed_image.get(IMAGE_POLICY_KEY))
    alias_spec = specs.get(ALIAS_KEY)
    reqs: list[PciRequest] = []
    if alias_spec is not None:
        reqs = translate_alias_spec(alias_spec, aliases, policy)
        warnings.extend(_count_warnings(reqs))
    warnings.extend(extraspecs.typo_warnings(specs))
    return FlavorRequests(reqs, policy or None, numa_nodes, cpu_policy, alias_spec, specs, image, warnings)


def translate_alias_spec(value: str, aliases: Mapping[str, alias_mod.Alias],
                         affinity_policy: str | None = None) -> list[PciRequest]:
    """Nova's boot-time translation of a ``pci_passthrough:alias`` value.

    Items are handled in order, each as Nova does: split, look the name up,
    then convert the count, so the first failing item decides the error.

    :raises errors.PciRequestAliasNotDefined: an item names no alias.
    :raises errors.InvalidAliasRequest: an item is not ``name:count`` or the
        count is no integer (Nova leaks ``ValueError`` there).
    """
    out: list[PciRequest] = []
    for position, item in enumerate(_items(value)):
        parts = item.split(":")
        if len(parts) != 2:
            raise _bad_item(value, position, item, len(parts))
        name = parts[0].strip()
        found = aliases.get(name)
        if found is None:
            raise _not_defined(name, aliases)
        count = _count(value, position, parts[1])
        out.append(PciRequest(name, count, affinity_policy or found.numa_policy,
                              [dict(s) for s in found.specs], position))
    return out


def validate_extra_spec(key: str, value: str) -> None:
    """Nova API's validation of the extra specs this module reads (microversion >= 2.86).

    :raises ValidationError: with Nova's exact "Validation failed; ..." text.
    """
    if key == ALIAS_KEY:
        if _ALIAS_VALUE.fullmatch(value) is None:
            raise ValidationError(
                f"Validation failed; '{errors.clip(value)}' is not of the format "
                f"'{ALIAS_VALUE_PATTERN}'.")
    elif key in (POLICY_KEY, CPU_POLICY_KEY):
        choices = NUMA_POLICIES_API if key == POLICY_KEY else CPU_POLICIES
        if value not in choices:
            raise ValidationError(
                f"Validation failed; '{errors.clip(value)}' is not one of: {', '.join(choices)}.")
    elif key == NUMA_NODES_KEY:
        try:
            number = int(value)
        except ValueError:
            raise ValidationError(
                f"Validation failed; '{errors.clip(value)}' is not a valid integer value.") from None
        if number < 1:
            raise ValidationError(f"Validation failed; '{number}' is less than the min value of '1'.")


def resolve_pci_numa_policy(flavor_value: str | None, image_value: str | None) -> str | None:
    """Nova's ``get_pci_numa_policy_constraint``: flavor and image must agree.

    :raises errors.ImagePCINUMAPolicyForbidden: both set and different.
    :raises errors.InvalidPCINUMAAffinity: the chosen value is not a policy.
    """
    if flavor_value and image_value and flavor_value != image_value:
        raise errors.ImagePCINUMAPolicyForbidden(
            hint=f"the flavor says {errors.clip(repr(flavor_value))} and the image "
                 f"{errors.clip(repr(image_value))}; "
                 "remove one or make them equal")
    policy = flavor_value or image_value
    if policy and policy not in NUMA_POLICIES:
        raise errors.InvalidPCINUMAAffinity(
            policy=errors.clip(policy), hint="hw:pci_numa_affinity_policy is one of " + ", ".join(NUMA_POLICIES))
    return policy


def resolve_numa_nodes(flavor_value: str | None, image_value: int | None) -> int | None:
    """Nova's ``_get_numa_node_count_constraint`` (``hw:numa_nodes`` / ``hw_numa_nodes``).

    :raises ImageNUMATopologyForbidden: both flavor and image set it.
    :raises InvalidNUMANodesNumber: not a plain positive decimal integer.
    """
    if flavor_value and image_value:
        raise ImageNUMATopologyForbidden(name=IMAGE_NUMA_NODES_KEY,
                                         hint="set hw:numa_nodes on the flavor only")
    nodes: str | int | None = flavor_value or image_value
    if nodes is not None and (not _is_int_like(nodes) or int(nodes) < 1):
        raise InvalidNUMANodesNumber(nodes=errors.clip(str(nodes)),
                                     hint="hw:numa_nodes takes a whole number such as 1 or 2"
                                          + _digits_note(nodes))
    return int(nodes) if nodes else None


def resolve_cpu_policy(flavor_value: str | None, image_value: str | None) -> str | None:
    """Nova's ``get_cpu_policy_constraint`` (``hw:cpu_policy`` / ``hw_cpu_policy``).

    :raises InvalidCPUAllocationPolicy: a value that is not a CPU policy.
    :raises ImageCPUPinningForbidden: the image asks for more pinning than the flavor allows.
    """
    available = str(CPU_POLICIES)
    if flavor_value and flavor_value not in CPU_POLICIES:
        raise InvalidCPUAllocationPolicy(source="flavor extra specs",
                                         requested=errors.clip(flavor_value), available=available)
    if image_value and image_value not in CPU_POLICIES:
        raise InvalidCPUAllocationPolicy(source="image properties",
                                         requested=errors.clip(image_value), available=available)
    if flavor_value == numa.DEDICATED:
        return flavor_value
    if flavor_value == numa.MIXED:
        if image_value == numa.DEDICATED:
            raise ImageCPUPinningForbidden()
        return flavor_value
    if flavor_value == numa.SHARED:
        if image_value in (numa.MIXED, numa.DEDICATED):
            raise ImageCPUPinningForbidden()
        return flavor_value
    return image_value if image_value in CPU_POLICIES else None


def _require_strings(specs: Mapping[str, Any]) -> None:
    """Nova stores extra specs as strings; refuse anything else in the keys we read."""
    for key in (ALIAS_KEY, POLICY_KEY, NUMA_NODES_KEY, CPU_POLICY_KEY):
        if key in specs and not isinstance(specs[key], str):
            raise errors.InvalidExtraSpec(value=specs[key], key=key, reason="extra spec values are strings",
                                          entry=key, hint=f'quote the value: "{specs[key]}"')


def _typed_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce the image properties we read as Nova's ImageMeta fields do.

    :raises InvalidRequest: Nova's "Invalid image metadata" for a value its
        typed field refuses.
    """
    out: dict[str, Any] = {}
    for key, choices in ((IMAGE_POLICY_KEY, NUMA_POLICIES), (IMAGE_CPU_POLICY_KEY, CPU_POLICIES)):
        if key in image:
            value = image[key]
            if value not in choices:
                raise InvalidRequest(
                    f"Invalid image metadata. Error: Field value {errors.clip(str(value))} is invalid",
                                     hint=f"{key} is one of " + ", ".join(choices))
            out[key] = value
    if IMAGE_NUMA_NODES_KEY in image:
        out[IMAGE_NUMA_NODES_KEY] = _image_int(image[IMAGE_NUMA_NODES_KEY])
    return out


def _image_int(value: Any) -> int:
    """oslo.versionedobjects IntegerField coercion: ``int(value)``."""
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"Invalid image metadata. Error: {errors.clip(str(exc), 200)}",
                             hint=f"{IMAGE_NUMA_NODES_KEY} takes a whole number") from None


def _is_int_like(value: str | int) -> bool:
    """oslo ``strutils.is_int_like``: ``str(int(v)) == str(v)``."""
    try:
        return str(int(value)) == str(value)
    except (TypeError, ValueError):
        return False


def _items(value: str) -> list[str]:
    if not isinstance(value, str):
        raise errors.InvalidAliasRequest(value=value, reason="not a string", hint="write <alias>:<count>")
    return value.split(",")


def _count(value: str, position: int, text: str) -> int:
    """Nova's ``int(count)``: whitespace, signs and ``_`` pass; anything else is ValueError."""
    try:
        return int(text)
    except ValueError:
        raise errors.InvalidAliasRequest(
            value=errors.clip(value),
            reason=f"item {position + 1}: count {errors.clip(repr(text))} is not an integer"
                   + _digits_note(text),
            entry=f"item {position + 1}",
            hint="write <alias>:<count>, e.g. gpu:1") from None


def _digits_note(text: Any) -> str:
    """Why ``int()`` refused a string of digits: Python reads at most 4,300 of them (Nova too)."""
    digits = str(text).strip().lstrip("+-").replace("_", "")
    if len(digits) > _INT_DIGITS and digits.isdigit():
        return (f" ({len(digits):,} digits: Python's int() reads at most {_INT_DIGITS:,}, "
                "so Nova refuses it too)")
    return ""


_INT_DIGITS = 4300  # sys.get_int_max_str_digits() by default, as Nova runs


def _bad_item(value: str, position: int, item: str, parts: int) -> errors.InvalidAliasRequest:
    what = "has no ':<count>'" if parts < 2 else "has more than one ':'"
    return errors.InvalidAliasRequest(
        value=errors.clip(value), entry=f"item {position + 1}",
        reason=f"item {position + 1} ({errors.clip(repr(item))}) {what}; each item is <alias>:<count>",
        hint="write <alias>:<count>[,<alias>:<count>...], e.g. gpu:1,nic:2")


def _not_defined(name: str, aliases: Mapping[str, alias_mod.Alias]) -> errors.PciRequestAliasNotDefined:
    names = sorted(aliases)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        hint = f"did you mean '{close[0]}'?"
    elif names:
        hint = "defined aliases: " + ", ".join(names)
    else:
        hint = "no [pci] alias is defined in the nova.conf files read"
    return errors.PciRequestAliasNotDefined(alias=name, hint=hint)


def _api_warnings(specs: Mapping[str, str]) -> list[errors.Problem]:
    """Values that Nova's API (>= 2.86) refuses but the boot path may still accept."""
    out = []
    for key in (ALIAS_KEY, POLICY_KEY, NUMA_NODES_KEY, CPU_POLICY_KEY):
        if key not in specs:
            continue
        try:
            validate_extra_spec(key, specs[key])
        except ValidationError as exc:
            out.append(exc.to_problem(entry=key, hint=(
                "Nova's API rejects this value when a flavor is set with microversion 2.86 or "
                "later; older clients stored it unchecked")))
    return out


def _count_warnings(reqs: list[PciRequest]) -> list[errors.Problem]:
    return [errors.Problem(
        code="PciRequestCountNotPositive", entry=f"item {r.request_id + 1}",
        message=(f"pci_passthrough:alias asks for {r.count} device(s) of alias '{r.alias_name}'; "
                 "Nova accepts it but the request gives the instance nothing"),
        hint="use a count of 1 or more") for r in reqs if r.count < 1]
