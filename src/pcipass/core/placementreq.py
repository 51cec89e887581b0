"""The Placement request groups Nova sends for a flavor's PCI requests (nova-pci.md §6).

With ``[filter_scheduler] pci_in_placement`` on, ``RequestSpec.generate_request_groups_from_pci_requests``
turns each flavor PCI request (not a Neutron port's) into one request group per requested
device: ``{RC: 1}`` on one provider (``use_same_provider``), the alias's traits required,
named ``<request id>-<i>``. ``resources_from_request_spec`` then sets ``group_policy=none``
when there are two groups or more and the flavor sets none (and has at most one numbered
group of its own). Nova sends no ``same_subtree`` for PCI, and NUMA affinity is not in the
query: the PCI filter checks it afterwards.

The resource class and traits are normalized as the compute side names them
(:mod:`pcipass.core.placement`), so a request matches the inventory when the alias and the
device_spec name the same class.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from pcipass.core import errors, placementnames

GROUP_POLICIES = ("none", "isolate")
#: Nova's ``ResourceRequest.XS_KEYPAT``: ``resources[$S]:RC`` and ``trait[$S]:NAME`` extra specs.
_FLAVOR_GROUP_KEY = re.compile(r"^(resources|trait)([a-zA-Z0-9_-]{1,64})?:(.*)$")


class PciRequestLike(Protocol):
    """A flavor's ``requests.PciRequest`` or a pool-level ``poolrecords.Request`` (ports: no alias)."""

    @property
    def alias_name(self) -> str | None: ...
    @property
    def count(self) -> int: ...
    @property
    def specs(self) -> Sequence[Mapping[str, str | None]]: ...
    @property
    def request_id(self) -> int | str: ...


@dataclasses.dataclass(frozen=True, slots=True)
class RequestGroup:
    """One granular group of the allocation candidates query: one device of one request.

    :ivar requester_id: ``<request id>-<i>``, the group's suffix in the query.
    :ivar request_id: the PCI request it comes from (pcipass: its position in the flavor).
    """

    requester_id: str
    alias_name: str
    request_id: str
    resource_class: str
    amount: int
    required_traits: tuple[str, ...]
    use_same_provider: bool = True

    def query(self) -> list[tuple[str, str]]:
        """This group's query parameters, as Nova's ``RequestGroup.to_queryparams``."""
        out = [(f"resources{self.requester_id}", f"{self.resource_class}:{self.amount}")]
        if self.required_traits:
            out.append((f"required{self.requester_id}", ",".join(self.required_traits)))
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class PciPlacementRequest:
    """What a flavor's PCI requests add to Nova's ``GET /allocation_candidates``.

    :ivar enabled: ``[filter_scheduler] pci_in_placement``; off, Nova adds no group.
    :ivar group_policy: the query's ``group_policy``: the flavor's, or ``none`` Nova adds.
    :ivar same_subtree: always empty: Nova sends none for PCI.
    :ivar refusals: requests Nova cannot turn into groups (it fails the boot).
    :ivar warnings: a query Placement refuses, or that cannot give what was asked.
    """

    enabled: bool
    groups: tuple[RequestGroup, ...]
    group_policy: str | None
    same_subtree: tuple[tuple[str, ...], ...] = ()
    refusals: tuple[errors.Problem, ...] = ()
    warnings: tuple[errors.Problem, ...] = ()

    def query(self) -> list[tuple[str, str]]:
        """The PCI part of the query, sorted as Nova sorts its parameters."""
        out = [p for g in self.groups for p in g.query()]
        if self.group_policy is not None and self.groups:
            out.append(("group_policy", self.group_policy))
        return sorted(out)


def request_groups(requests: Sequence[PciRequestLike], *, pci_in_placement: bool = True,
                   extra_specs: Mapping[str, str] | None = None,
                   request_ids: Sequence[str] | None = None) -> PciPlacementRequest:
    """Nova's request groups for ``requests`` (the flavor's, from ``requests.translate_flavor``).

    :param pci_in_placement: ``[filter_scheduler] pci_in_placement``.
    :param extra_specs: the flavor's extra specs: its ``group_policy`` and its own numbered
        groups (``resources1:VCPU``...) decide the group policy.
    :param request_ids: the request ids to name the groups by (Nova's are UUIDs);
        default: each request's position in the flavor.
    """
    if not pci_in_placement:
        return PciPlacementRequest(False, (), None)
    groups: list[RequestGroup] = []
    refusals: list[errors.Problem] = []
    for position, req in enumerate(requests):
        if req.alias_name is None:  # a Neutron port's request: no group (yet, in Nova 34)
            continue
        rid = request_ids[position] if request_ids is not None else str(req.request_id)
        name = req.alias_name
        if len(req.specs) != 1:
            refusals.append(errors.Problem(
                code="PciRequestMultipleSpecs", entry=f"alias '{name}'",
                message=("PCI tracking in placement does not support multiple specs per PCI "
                         f"request (alias '{name}' has {len(req.specs)})"),
                hint="Nova fails with a bare ValueError; give each alias name one definition"))
            continue
        wanted = req.specs[0]
        rc = placementnames.resource_class_name(wanted.get("resource_class"), wanted.get("vendor_id"),
                                           wanted.get("product_id"))
        traits = tuple(sorted(placementnames.traits_from_text(wanted.get("traits", ""))))
        for i in range(req.count):
            groups.append(RequestGroup(f"{rid}-{i}", name, rid, rc, 1, traits))
    policy, warnings = _group_policy(len(groups), extra_specs or {})
    return PciPlacementRequest(True, tuple(groups), policy, (), tuple(refusals), tuple(warnings))


def flavor_numbered_groups(extra_specs: Mapping[str, str]) -> tuple[int, int]:
    """The flavor's own numbered request groups, as Nova counts them: (made, kept).

    Every suffix of a ``resources$S:``/``trait$S:`` key makes a group (Nova counts these
    when it decides whether it may add ``group_policy``); a group is kept only when it asks
    for something: a valid resource class with a positive amount, or a trait ``required``
    or ``forbidden`` (Nova strips the rest before counting the query's groups).
    """
    made: set[str] = set()
    kept: set[str] = set()
    for key, value in extra_specs.items():
        m = _FLAVOR_GROUP_KEY.match(key)
        if m is None or m.group(2) is None:
            continue
        prefix, suffix, name = m.groups()
        made.add(suffix)
        if prefix == "trait" and value in ("required", "forbidden"):
            kept.add(suffix)
        elif prefix == "resources" and _valid_rc(name) and _positive(value):
            kept.add(suffix)
    return len(made), len(kept)


def _valid_rc(name: str) -> bool:
    return name.startswith("CUSTOM_") or name in placementnames.STANDARD_RESOURCE_CLASSES


def _positive(value: str) -> bool:
    try:
        return int(value) > 0
    except (TypeError, ValueError):
        return False


def _group_policy(pci_groups: int, extra_specs: Mapping[str, str]) -> tuple[str | None, list[errors.Problem]]:
    """``resources_from_request_spec``: the flavor's valid policy wins; else ``none`` if needed."""
    value = extra_specs.get("group_policy")
    policy = value if value in GROUP_POLICIES else None
    warnings = []
    made, kept = flavor_numbered_groups(extra_specs)
    if policy is None and pci_groups + kept >= 2:
        if made <= 1:
            policy = "none"
        else:
            warnings.append(errors.Problem(
                code="PlacementGroupPolicyMissing", entry="group_policy",
                message=(f"the flavor has {made} numbered request groups of its own and no "
                         "group_policy: Nova leaves the policy out and Placement refuses the query"),
                hint="set the flavor extra spec group_policy=none"))
    if policy == "isolate" and pci_groups >= 2:
        warnings.append(errors.Problem(
            code="PlacementGroupPolicyIsolate", entry="group_policy",
            message=(f"group_policy=isolate puts each of the {pci_groups} PCI device groups on a "
                     "different provider: two VFs of one PF can never be given"),
            hint="use group_policy=none unless the devices must come from distinct providers"))
    return policy, warnings
