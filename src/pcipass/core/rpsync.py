"""``placement sync``'s plan: what to change in Placement so it holds Nova's translation of a host.

Pure: the wanted providers (:func:`pcipass.core.placement.translate`) and what Placement
holds (:class:`pcipass.core.rptree.PlacementState`) in, a list of :class:`Change` out, in the
order they can be applied:

1. the compute node's provider, when missing, created with :data:`rptree.OWNED_TRAIT`;
2. per PCI provider: created under it, then its inventory and traits set as Nova sets them
   (the inventory's ``reserved`` kept as Placement has it unless Nova sets it);
3. PCI providers of the tree that the translation no longer has, deleted (Placement refuses
   while allocations hold them).

A compute provider without :data:`rptree.OWNED_TRAIT` is Nova's own: the plan for that host is
a ``PlacementTreeNotOwned`` refusal and no change. A host for which Nova stops at a refusal
(it would report no PCI inventory) gets no change either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pcipass.core import errors, placement, rptree

CREATE_COMPUTE = "create_compute"
CREATE_PROVIDER = "create_provider"
SET_INVENTORY = "set_inventory"
SET_TRAITS = "set_traits"
DELETE_PROVIDER = "delete_provider"
#: How each action is marked in the diff.
SIGNS = {CREATE_COMPUTE: "+", CREATE_PROVIDER: "+", SET_INVENTORY: "~", SET_TRAITS: "~",
         DELETE_PROVIDER: "-"}


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """One write. ``before``/``after`` are what the diff shows (inventory lines or traits).

    :ivar uuid: the provider's UUID when it exists already.
    :ivar parent: the parent provider's name (creations).
    """

    action: str
    provider: str
    uuid: str | None = None
    parent: str | None = None
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class HostPlan:
    """The changes for one compute node, or why there are none."""

    hypervisor_hostname: str
    compute_uuid: str | None
    owned: bool
    changes: tuple[Change, ...]
    refusals: tuple[errors.Problem, ...] = ()


def inventory_line(rc: str, total: int, max_unit: int, reserved: int) -> str:
    return f"{rc}: total {total}, max_unit {max_unit}, reserved {reserved}"


def wanted_inventory(provider: placement.Provider, held: rptree.RpRecord | None) -> tuple[str, int, int, int]:
    """(resource class, total, max_unit, reserved) as Nova would set it on ``held``."""
    inv = provider.inventory
    reserved = inv.reserved
    if reserved is None:
        current = held.inventory(inv.resource_class) if held is not None else None
        reserved = current.reserved if current is not None else 0
    return inv.resource_class, inv.total, inv.max_unit, reserved


def plan(hypervisor_hostname: str, wanted: Sequence[placement.Provider], state: rptree.PlacementState,
         *, nova_refusals: Sequence[errors.Problem] = ()) -> HostPlan:
    """The changes that make ``state`` hold ``wanted`` under ``hypervisor_hostname``."""
    compute = state.by_name(hypervisor_hostname)
    if nova_refusals:
        return HostPlan(hypervisor_hostname, compute.uuid if compute else None,
                        bool(compute and rptree.OWNED_TRAIT in compute.traits), (),
                        (errors.Problem(
                            code=nova_refusals[0].code,
                            message=f"{hypervisor_hostname}: Nova stops at {nova_refusals[0].code} and "
                                    "reports no PCI inventory; nothing is synced for this host",
                            entry=hypervisor_hostname, hint=nova_refusals[0].hint),))
    if compute is not None and rptree.OWNED_TRAIT not in compute.traits:
        return HostPlan(hypervisor_hostname, compute.uuid, False, (), (errors.Problem(
            code="PlacementTreeNotOwned", entry=hypervisor_hostname, message=(
                f"the provider {hypervisor_hostname} ({compute.uuid}) has no "
                f"{rptree.OWNED_TRAIT} trait: its tree is Nova's own, and placement sync leaves it "
                "as it is"),
            hint="let nova-compute report it ([pci] report_in_placement), or sync this host under "
                 "another hypervisor hostname"),))
    changes: list[Change] = []
    if compute is None:
        changes.append(Change(CREATE_COMPUTE, hypervisor_hostname, after=(rptree.OWNED_TRAIT,)))
    children = {p.name: p for p in state.children(compute.uuid)} if compute is not None else {}
    for provider in wanted:
        held = children.get(provider.name)
        changes.extend(_provider_changes(provider, held, hypervisor_hostname))
    names = {p.name for p in wanted}
    prefix = placement.provider_name(hypervisor_hostname, "")
    for name, held in sorted(children.items()):
        if name not in names and name.startswith(prefix):
            changes.append(Change(DELETE_PROVIDER, name, held.uuid, hypervisor_hostname,
                                  before=_held_lines(held)))
    return HostPlan(hypervisor_hostname, compute.uuid if compute else None, True, tuple(changes))


def _provider_changes(provider: placement.Provider, held: rptree.RpRecord | None,
                      host: str) -> list[Change]:
    rc, total, max_unit, reserved = wanted_inventory(provider, held)
    want_inv = (inventory_line(rc, total, max_unit, reserved),)
    want_traits = tuple(sorted(provider.traits))
    if held is None:
        return [Change(CREATE_PROVIDER, provider.name, None, host),
                Change(SET_INVENTORY, provider.name, None, host, (), want_inv),
                Change(SET_TRAITS, provider.name, None, host, (), want_traits)]
    out = []
    have_inv = tuple(inventory_line(i.resource_class, i.total, i.max_unit, i.reserved)
                     for i in held.inventories)
    if have_inv != want_inv:
        out.append(Change(SET_INVENTORY, provider.name, held.uuid, host, have_inv, want_inv))
    if tuple(sorted(held.traits)) != want_traits:
        out.append(Change(SET_TRAITS, provider.name, held.uuid, host, tuple(sorted(held.traits)),
                          want_traits))
    return out


def _held_lines(held: rptree.RpRecord) -> tuple[str, ...]:
    lines = [inventory_line(i.resource_class, i.total, i.max_unit, i.reserved) for i in held.inventories]
    lines += [f"used {rc}: {n}" for rc, n in sorted(held.usages.items()) if n]
    return tuple(lines)
