"""What a Placement service holds: resource providers and allocations, as read (the placement view).

These are the records of ``pcipass placement export`` (``pcipass-placement-view/1``,
``docs/schemas/placement-view.json``), read from the Placement API or from that file, and
what ``placement sync`` and the doctor's Placement checks compare with Nova's translation
(:mod:`pcipass.core.placement`). One provider is one ``GET /resource_providers`` entry with
its inventories, traits and usages; one consumer is the allocations one instance (or
migration) holds, gathered from every provider's ``/allocations``.

Pure data: no IO.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

VIEW_SCHEMA = "pcipass-placement-view/1"
#: The trait ``placement sync`` puts on the compute providers it creates, and looks for
#: before changing a tree: a tree without it is Nova's own.
OWNED_TRAIT = "CUSTOM_PCIPASS_OWNED"


@dataclasses.dataclass(frozen=True, slots=True)
class RpInventory:
    """One resource class of a provider, as Placement holds it."""

    resource_class: str
    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = 2147483647
    step_size: int = 1
    allocation_ratio: float = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class RpRecord:
    """One resource provider.

    :ivar parent: the parent provider's UUID (None for a root: a compute node).
    :ivar root: the root provider's UUID (its own for a root).
    :ivar usages: resource class -> amount allocated against it.
    """

    name: str
    uuid: str
    parent: str | None
    root: str
    generation: int
    inventories: tuple[RpInventory, ...]
    traits: tuple[str, ...]
    usages: Mapping[str, int]

    def inventory(self, resource_class: str) -> RpInventory | None:
        return next((i for i in self.inventories if i.resource_class == resource_class), None)


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerAllocation:
    """What one consumer holds: provider UUID -> resource class -> amount."""

    consumer: str
    resources: Mapping[str, Mapping[str, int]]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PlacementState:
    """Every provider and allocation of one Placement, as read at one moment.

    :ivar source: where it was read (a URL, ``cloud:<name>``, or a file).
    :ivar microversion: the API microversion the reads used.
    """

    schema: str = VIEW_SCHEMA
    source: str
    microversion: str
    providers: tuple[RpRecord, ...]
    allocations: tuple[ConsumerAllocation, ...] = ()

    def by_name(self, name: str) -> RpRecord | None:
        return next((p for p in self.providers if p.name == name), None)

    def children(self, uuid: str) -> tuple[RpRecord, ...]:
        return tuple(p for p in self.providers if p.parent == uuid)

    def tree(self, root_uuid: str) -> tuple[RpRecord, ...]:
        """The providers whose root is ``root_uuid`` (the root first)."""
        return tuple(sorted((p for p in self.providers if p.root == root_uuid),
                            key=lambda p: (p.parent is not None, p.name)))

    def consumers_of(self, uuid: str) -> tuple[str, ...]:
        return tuple(a.consumer for a in self.allocations if uuid in a.resources)
