"""Nova's PCI inventory in Placement: devices and device_spec -> resource providers (nova-pci.md §6).

This is what ``nova/compute/pci_placement_translator.py`` builds when
``[pci] report_in_placement`` is on, as a pure function of the devices nova-compute
tracks and the ``device_spec`` entries that match them:

* one child provider of the compute node per type-PCI or type-PF device, named
  ``<hypervisor hostname>_<ADDRESS UPPER-CASED>``; the VFs (and vDPA devices) of
  one PF share the provider named after their PF;
* inventory ``{RC: {total: n, max_unit: n}}``, n the devices the provider stands
  for; ``reserved = total`` only for an allocated ``one_time_use`` device (Nova
  never sets ``reserved`` otherwise);
* traits: the spec's ``traits`` (:func:`normalize_traits`), ``COMPUTE_MANAGED_PCI_DEVICE``,
  ``HW_PCI_LIVE_MIGRATABLE`` for ``live_migratable``, ``HW_PCI_ONE_TIME_USE`` for a
  one-time-use parent, and ``OWNER_NOVA``.

Nova stops at its first error and then reports no PCI inventory at all; here every
refusal is collected, in the order Nova meets them (the devname specs first, then the
devices in order), so ``refusals[0]`` is Nova's error. A refused device is left out
and the translation goes on. Devices Nova leaves out without an error (a
``physical_network`` spec: Neutron's SR-IOV) are :class:`Exclusion` records.

Not modelled: Placement's own state (existing allocations that hold a removed
device's inventory up, allocation healing, random provider UUIDs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import os_traits

from pcipass.core import errors, model, placementnames, spec, strutils

PARENT_TYPES = (model.TYPE_PCI, model.TYPE_PF)
STANDARD_RESOURCE_CLASSES = placementnames.STANDARD_RESOURCE_CLASSES
CHILD_TYPES = (model.TYPE_VF, model.TYPE_VDPA)

#: Why a device tracked by nova-compute has no inventory (``Exclusion.reason``).
EXCLUDED_PHYSNET = "physical_network"
EXCLUDED_NO_SPEC = "no_spec"
EXCLUDED_UNKNOWN_TYPE = "unknown_type"
EXCLUDED_REFUSED = "refused"

# The naming rules live in placementnames; these are their names here too.
normalize_traits = placementnames.normalize_traits
traits_from_text = placementnames.traits_from_text
resource_class_name = placementnames.resource_class_name
provider_name = placementnames.provider_name


@dataclasses.dataclass(frozen=True, slots=True)
class Inventory:
    """One resource class of a provider. ``reserved`` None: Nova leaves Placement's value alone."""

    resource_class: str
    total: int
    max_unit: int
    reserved: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Provider:
    """One PCI resource provider, a child of the compute node's provider.

    :ivar address: the device (type-PCI, type-PF) or the PF whose VFs it stands for.
    :ivar dev_type: the type of the devices counted (``type-VF`` for a PF's VFs).
    :ivar devices: the addresses counted in the inventory, in the order met.
    :ivar spec_indexes: the device_spec entry of each device, in the same order.
    :ivar traits: sorted, ``OWNER_NOVA`` included.
    """

    name: str
    parent_provider: str
    address: str
    dev_type: str
    inventory: Inventory
    traits: tuple[str, ...]
    devices: tuple[str, ...]
    spec_indexes: tuple[int, ...]
    one_time_use: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Exclusion:
    """A tracked device that Nova keeps out of Placement, and why."""

    address: str
    reason: str
    message: str
    spec_index: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PlacementView:
    """What nova-compute reports to Placement for one compute node.

    :ivar refusals: Nova's errors, in the order it meets them; with any, Nova reports
        no PCI inventory at all (the periodic update fails on the first).
    :ivar warnings: names Nova sends that Placement refuses, and similar.
    """

    hypervisor_hostname: str
    providers: tuple[Provider, ...]
    exclusions: tuple[Exclusion, ...]
    refusals: tuple[errors.Problem, ...]
    warnings: tuple[errors.Problem, ...] = ()

    @property
    def reported(self) -> bool:
        """True when Nova would report these providers (no refusal)."""
        return not self.refusals

    def provider(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)


# -- translation -----------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Draft:
    name: str
    address: str
    dev_type: str
    parent: str | None = None
    parent_index: int | None = None
    children: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    resource_class: str | None = None
    traits: frozenset[str] | None = None
    one_time_use: bool = False


class _Refused(Exception):
    def __init__(self, problem: errors.Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def translate(hypervisor_hostname: str, devices: Sequence[model.Device],
              specs: Sequence[spec.SpecEntry], *,
              allocated: Mapping[str, str] | None = None) -> PlacementView:
    """The Placement view Nova builds for ``devices`` (those nova-compute tracks) under ``specs``.

    :param hypervisor_hostname: the compute node's name: providers are named after it.
    :param devices: the tracked devices, in the tracker's order (it decides which of two
        conflicting devices is refused, and Nova's message).
    :param specs: the parsed ``[pci] device_spec`` entries; each device takes its first match.
    :param allocated: address -> consumer of the devices in use (for ``one_time_use``).
    """
    allocated = allocated or {}
    refusals = [_devname_refusal(e) for e in specs if e.spec.raw.get("devname")]
    exclusions: list[Exclusion] = []
    drafts: dict[str, _Draft] = {}
    for dev in devices:
        try:
            entry = spec.first_match(specs, dev)
        except errors.PcipassError as exc:
            exclusions.append(Exclusion(dev.address, EXCLUDED_NO_SPEC, f"cannot be matched: {exc.message}"))
            continue
        excluded = _excluded(dev, entry, allocated)
        if excluded is not None:
            exclusions.append(excluded)
            continue
        assert entry is not None
        try:
            _add(drafts, hypervisor_hostname, dev, entry)
        except _Refused as refused:
            refusals.append(refused.problem)
            exclusions.append(Exclusion(dev.address, EXCLUDED_REFUSED,
                                        f"refused by Nova: {refused.problem.code}", entry.index))
    providers = tuple(_provider(hypervisor_hostname, d, allocated) for d in drafts.values()
                      if d.parent is not None or d.children)
    used = {i for p in providers for i in p.spec_indexes}
    warnings = [w for e in specs if e.index in used for w in placementnames.text_warnings(
        e.index, e.spec.tags.get("resource_class"), e.spec.tags.get("traits"))]
    warnings += [w for p in providers for w in placementnames.name_warnings(
        p.name, (p.inventory.resource_class, *p.traits))]
    return PlacementView(hypervisor_hostname, providers, tuple(exclusions), tuple(refusals),
                         tuple(warnings))


def _excluded(dev: model.Device, entry: spec.SpecEntry | None,
              allocated: Mapping[str, str]) -> Exclusion | None:
    if entry is None:
        if dev.address in allocated:
            return Exclusion(dev.address, EXCLUDED_NO_SPEC, (
                "no device_spec entry matches it but it is allocated: Nova keeps its provider "
                "only while Placement holds allocations against it"))
        return Exclusion(dev.address, EXCLUDED_NO_SPEC,
                         "no device_spec entry matches it: Nova ignores it in the Placement view")
    tags = entry.spec.tags
    if tags.get("physical_network"):
        return Exclusion(dev.address, EXCLUDED_PHYSNET, (
            f"its device_spec sets physical_network {tags['physical_network']!r}: a Neutron "
            "SR-IOV device, which Nova does not report to Placement"), entry.index)
    if dev.dev_type not in PARENT_TYPES and dev.dev_type not in CHILD_TYPES:
        return Exclusion(dev.address, EXCLUDED_UNKNOWN_TYPE, (
            f"its device type is {'unknown' if dev.dev_type is None else repr(dev.dev_type)}: "
            "pcipass cannot tell which provider Nova gives it"), entry.index)
    return None


def _add(drafts: dict[str, _Draft], host: str, dev: model.Device, entry: spec.SpecEntry) -> None:
    """Put ``dev`` on its provider, checking in Nova's order (its first error is Nova's)."""
    tags = entry.spec.tags
    if dev.dev_type in PARENT_TYPES:
        name = provider_name(host, dev.address)
        draft = drafts.setdefault(name, _Draft(name, dev.address, str(dev.dev_type)))
        if draft.parent is not None or draft.children:
            held = [draft.parent] if draft.parent else [a for a, _ in draft.children]
            raise _dependent(dev.address, held, dev.address)
        rc = _resource_class(dev, entry)
        otu = strutils.lenient_bool(tags.get("one_time_use", "false"))
        traits = _traits(dev, entry) | ({os_traits.HW_PCI_ONE_TIME_USE} if otu else set())
        draft.parent, draft.parent_index, draft.dev_type = dev.address, entry.index, str(dev.dev_type)
        draft.resource_class, draft.traits, draft.one_time_use = rc, frozenset(traits), otu
        return
    if not dev.parent_addr:
        raise _Refused(errors.Problem(
            code="PlacementPciException", entry=dev.address, message=(
                "Failed to gather or report PCI resources to Placement: Missing parent address "
                f"for PCI device {dev.address} with type {dev.dev_type}"),
            hint="Nova means to raise this, but a typo in its message template makes it fail "
                 "with a bare ValueError instead"))
    name = provider_name(host, dev.parent_addr)
    draft = drafts.setdefault(name, _Draft(name, dev.parent_addr, str(dev.dev_type)))
    if draft.parent is not None:
        # NOTE: Nova names the VF as the parent and the PF as the children here.
        raise _dependent(dev.address, [draft.parent], dev.address)
    current = ",".join(a for a, _ in draft.children)
    rc = _resource_class(dev, entry)
    if draft.resource_class is not None and rc != draft.resource_class:
        raise _Refused(errors.Problem(
            code="PlacementPciMixedResourceClassException", entry=dev.address, message=(
                "VFs from the same PF cannot be configured with different 'resource_class' "
                f"values in [pci]device_spec. We got {rc} for {dev.address} and "
                f"{draft.resource_class} for {current}."),
            hint="give every VF of one PF the same resource_class"))
    traits = _traits(dev, entry)
    if draft.traits is not None and draft.traits != traits:
        raise _Refused(errors.Problem(
            code="PlacementPciMixedTraitsException", entry=dev.address, message=(
                "VFs from the same PF cannot be configured with different set of 'traits' in "
                f"[pci]device_spec. We got {','.join(sorted(traits))} for {dev.address} and "
                f"{','.join(sorted(draft.traits))} for {current}."),
            hint="give every VF of one PF the same traits and live_migratable"))
    if "one_time_use" in tags:
        raise _Refused(errors.Problem(
            code="PlacementPciException", entry=dev.address, message=(
                "Failed to gather or report PCI resources to Placement: Only type-PCI and "
                f"type-PF devices may set one_time_use and {draft.name} does not qualify"),
            hint="remove one_time_use (even one_time_use=false) from the VFs' device_spec"))
    if not draft.children:
        draft.dev_type = str(dev.dev_type)
    draft.children.append((dev.address, entry.index))
    draft.resource_class, draft.traits = rc, frozenset(traits)


def _resource_class(dev: model.Device, entry: spec.SpecEntry) -> str:
    requested = entry.spec.tags.get("resource_class")
    _require_text(dev, entry, "resource_class", requested)
    return resource_class_name(requested, dev.vendor_id, dev.product_id)


def _traits(dev: model.Device, entry: spec.SpecEntry) -> frozenset[str]:
    tags = entry.spec.tags
    _require_text(dev, entry, "traits", tags.get("traits"))
    traits = traits_from_text(tags.get("traits", "")) | {os_traits.COMPUTE_MANAGED_PCI_DEVICE}
    if strutils.lenient_bool(tags.get("live_migratable", "false")):
        traits.add(os_traits.HW_PCI_LIVE_MIGRATABLE)
    return frozenset(traits)


def _require_text(dev: model.Device, entry: spec.SpecEntry, key: str, value: Any) -> None:
    """A truthy non-string ``resource_class``/``traits`` makes Nova fail with a bare AttributeError."""
    if value and not isinstance(value, str):
        raise _Refused(errors.Problem(
            code="PlacementPciTagNotText", entry=dev.address, message=(
                f"device_spec entry {entry.index} sets {key} to {errors.clip(repr(value))}, "
                "not a string: nova-compute fails with a bare AttributeError and reports no "
                "PCI inventory"),
            hint=f'write {key} as a JSON string, e.g. "{key}": "CUSTOM_X"'))


def _dependent(parent: str, children: Sequence[str], device: str) -> _Refused:
    return _Refused(errors.Problem(
        code="PlacementPciDependentDeviceException", entry=device, message=(
            f"Configuring both {parent} and {','.join(children)} in [pci]device_spec is not "
            "supported. Either the parent PF or its children VFs can be configured."),
        hint="match either the PF (for the whole device) or its VFs in [pci] device_spec, "
             "not both"))


def _devname_refusal(entry: spec.SpecEntry) -> errors.Problem:
    return errors.Problem(
        code="PlacementPciException", value_index=entry.value_index, entry=f"device_spec {entry.index}",
        message=("Failed to gather or report PCI resources to Placement: Invalid [pci]device_spec "
                 "configuration. PCI Placement reporting does not support 'devname' based device "
                 f"specification but we got {errors.clip(repr(entry.spec.raw), 400)}. Please use PCI "
                 "address in the configuration instead."),
        hint="replace devname with the device's PCI address")


def _provider(host: str, draft: _Draft, allocated: Mapping[str, str]) -> Provider:
    devices: tuple[str, ...]
    indexes: tuple[int, ...]
    if draft.parent is not None:
        devices, indexes = (draft.parent,), (draft.parent_index or 0,)
    else:
        devices = tuple(a for a, _ in draft.children)
        indexes = tuple(i for _, i in draft.children)
    total = len(devices)
    reserved = total if (draft.parent is not None and draft.one_time_use
                         and allocated.get(draft.parent)) else None
    assert draft.resource_class is not None and draft.traits is not None
    return Provider(draft.name, host, draft.address, draft.dev_type,
                    Inventory(draft.resource_class, total, total, reserved),
                    tuple(sorted(draft.traits | {os_traits.OWNER_NOVA})), devices, indexes,
                    draft.one_time_use)
