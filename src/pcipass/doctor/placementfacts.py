"""The doctor's Placement facts: one host's providers as Nova would report them, beside what Placement holds.

``placement`` (per host) is :class:`PlacementFacts`: Nova's translation of the host's tracked
devices (:func:`pcipass.core.placement.translate`, as ``pcipass placement show`` prints it)
and the Placement view read from ``--placement-url`` or ``--placement FILE``
(:class:`pcipass.core.rptree.PlacementState`). ``placement_view`` (run-wide) is that view alone.

Pure data; :mod:`pcipass.services.doctor.placementfacts` fills it.
"""

from __future__ import annotations

import dataclasses

from pcipass.core import errors, placement, rptree
from pcipass.core.evidence import Evidence


@dataclasses.dataclass(frozen=True, slots=True)
class PlacementFacts:
    """One compute node in Placement.

    :ivar hypervisor_hostname: the compute node's provider name (its PCI providers are
        ``<name>_<ADDRESS>``).
    :ivar reporting: nova-compute reports PCI inventory for this host: ``[pci]
        report_in_placement`` on, the config valid, no refusal.
    :ivar providers: Nova's translation: the PCI providers it would report.
    :ivar exclusions: tracked devices Nova keeps out of Placement (``physical_network``...).
    :ivar refusals: Nova's errors, at which it reports no PCI inventory at all.
    """

    hypervisor_hostname: str
    report_in_placement: bool | None
    reporting: bool
    providers: tuple[placement.Provider, ...]
    exclusions: tuple[placement.Exclusion, ...]
    refusals: tuple[errors.Problem, ...]
    state: rptree.PlacementState

    @property
    def compute(self) -> rptree.RpRecord | None:
        """The compute node's provider (a root named after the hypervisor hostname)."""
        found = self.state.by_name(self.hypervisor_hostname)
        return found if found is not None and found.parent is None else None

    def children(self) -> dict[str, rptree.RpRecord]:
        """The compute node's direct child providers, by name."""
        compute = self.compute
        return {p.name: p for p in self.state.children(compute.uuid)} if compute is not None else {}

    def pci_children(self) -> dict[str, rptree.RpRecord]:
        """The children named as Nova names PCI providers (``<hostname>_<ADDRESS>``)."""
        prefix = placement.provider_name(self.hypervisor_hostname, "")
        return {n: p for n, p in self.children().items() if n.startswith(prefix)}

    def evidence(self, what: str) -> Evidence:
        """A fact read from Placement (the URL or the export file)."""
        return Evidence(f"placement {self.state.source}", what)

    def rp_evidence(self, rp: rptree.RpRecord) -> Evidence:
        inv = ", ".join(f"{i.resource_class} total {i.total} reserved {i.reserved}"
                        for i in rp.inventories) or "no inventory"
        used = ", ".join(f"{rc} {n}" for rc, n in sorted(rp.usages.items()) if n)
        return self.evidence(f"provider {rp.name} ({rp.uuid}): {inv}"
                             + (f"; used: {used}" if used else "")
                             + f"; traits: {', '.join(rp.traits) or 'none'}")

    def translation_evidence(self, provider: placement.Provider) -> Evidence:
        inv = provider.inventory
        return Evidence("pcipass placement show", (
            f"{provider.name}: {inv.resource_class} total {inv.total}"
            + (f" reserved {inv.reserved}" if inv.reserved is not None else "")
            + f"; traits: {', '.join(provider.traits)}; devices: {', '.join(provider.devices)}"))
