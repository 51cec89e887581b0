"""How Nova names what it puts in Placement for PCI, and the names Placement then refuses.

Nova normalizes the ``resource_class`` and ``traits`` of a ``device_spec`` (and of an
alias, for the request side) with os-resource-classes and os-traits, without stripping
anything; the same rules on both sides are what make a request match an inventory
(nova-pci.md §6). A few of its results are not what an operator meant, or are refused
by Placement: :func:`text_warnings` and :func:`name_warnings` say which.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

import os_resource_classes
import os_traits

from pcipass.core import errors

STANDARD_RESOURCE_CLASSES = frozenset(os_resource_classes.STANDARDS)
#: What Placement accepts as a custom trait or resource class name.
_CUSTOM_NAME = re.compile(r"CUSTOM_[A-Z0-9_]+")
_NAME_MAX = 255
_PROVIDER_NAME_MAX = 200


def normalize_traits(names: Sequence[str]) -> set[str]:
    """Nova's trait normalization: standard traits kept; others upper-cased, ``CUSTOM_`` ensured.

    A name is compared with the standard ones as written (``hw_cpu_x86_avx`` is no standard
    trait: it becomes ``CUSTOM_HW_CPU_X86_AVX``), then upper-cased; one that then starts with
    ``CUSTOM_`` is kept as it is, even with characters Placement refuses.
    """
    standard, rest = os_traits.check_traits(names)
    out = set(standard)
    for name in rest:
        upper = name.upper()
        out.add(upper if os_traits.is_custom(upper) else os_traits.normalize_name(upper))
    return out


def traits_from_text(text: str | None) -> set[str]:
    """A ``traits`` value (comma-separated, nothing stripped) as Nova normalizes it."""
    if not text:
        return set()
    return normalize_traits(text.split(","))


def resource_class_name(requested: str | None, vendor_id: str | None, product_id: str | None) -> str:
    """The resource class: ``requested`` normalized, else ``CUSTOM_PCI_<VENDOR>_<PRODUCT>``.

    ``requested`` is upper-cased; a standard class or a ``CUSTOM_`` name is kept as it is,
    anything else goes through os-resource-classes' normalization. Nova formats missing
    ids as ``None`` (``CUSTOM_PCI_NONE_NONE``).
    """
    if requested:
        rc = requested.upper()
        if rc in STANDARD_RESOURCE_CLASSES or os_resource_classes.is_custom(rc):
            return rc
        return str(os_resource_classes.normalize_name(rc))
    return f"CUSTOM_PCI_{vendor_id}_{product_id}".upper()


def provider_name(hypervisor_hostname: str, address: str) -> str:
    """``<hypervisor hostname>_<ADDRESS>``, as Nova names a PCI provider."""
    return f"{hypervisor_hostname}_{address.upper()}"


def text_warnings(index: int, resource_class: Any, traits: Any) -> list[errors.Problem]:
    """What device_spec entry ``index``'s names become that its writer probably did not mean."""
    out = []
    entry = f"device_spec {index}"
    items = traits.split(",") if isinstance(traits, str) and traits else []
    standard = _standard_traits()
    for item in items:
        got = normalize_traits([item])
        if item.strip().upper() in standard and item not in standard:
            out.append(errors.Problem(
                code="PlacementTraitNotStandard", entry=entry, message=(
                    f"trait {errors.clip(repr(item))} becomes {', '.join(sorted(got))}, not the "
                    f"standard trait {item.strip().upper()}: Nova compares standard names as "
                    "written, spaces and case included"),
                hint=f"write {item.strip().upper()} exactly, without spaces around the comma"))
        elif item != item.strip():
            out.append(errors.Problem(
                code="PlacementTraitNotStandard", entry=entry, message=(
                    f"trait {errors.clip(repr(item))} becomes {', '.join(sorted(got))}: Nova "
                    "keeps the spaces around a comma and turns them into _"),
                hint="write the traits without spaces: a,b"))
    if isinstance(resource_class, str) and resource_class and resource_class != resource_class.strip():
        out.append(errors.Problem(
            code="PlacementTraitNotStandard", entry=entry, message=(
                f"resource_class {errors.clip(repr(resource_class))} becomes "
                f"{resource_class_name(resource_class, None, None)}: Nova keeps the spaces"),
            hint="write the resource class without spaces"))
    return out


@functools.cache
def _standard_traits() -> frozenset[str]:
    return frozenset(os_traits.get_traits())


def name_warnings(provider: str, names: Sequence[str]) -> list[errors.Problem]:
    """The names of ``provider`` that Nova sends as they are and Placement refuses."""
    out = []
    bad = [n for n in names if (n.startswith("CUSTOM_") and not _CUSTOM_NAME.fullmatch(n))
           or len(n) > _NAME_MAX]
    for name in bad:
        out.append(errors.Problem(
            code="PlacementNameInvalid", entry=provider, message=(
                f"provider {provider} gets {errors.clip(repr(name))}, which Placement refuses "
                "(custom names are CUSTOM_ and A-Z, 0-9, _; at most 255 characters)"),
            hint="use only letters, digits and _ in resource_class and traits"))
    if len(provider) > _PROVIDER_NAME_MAX:
        out.append(errors.Problem(
            code="PlacementNameInvalid", entry=provider, message=(
                f"provider name {errors.clip(provider)} is longer than the 200 characters "
                "Placement allows"), hint="use a shorter hypervisor hostname"))
    return out
