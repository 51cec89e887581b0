"""Placement: what nova-compute reported beside what the host and its device_spec give now.

Each check compares Nova's translation of the host (``pcipass placement show``) with the
providers Placement holds (``--placement-url`` or ``--placement FILE``). Devices Nova keeps
out of Placement (a ``physical_network`` spec: Neutron's SR-IOV) are not expected there and
are never flagged. The ``CUSTOM_PCIPASS_OWNED`` mark of ``placement sync`` is ignored. The
inconsistent ``report_in_placement`` / ``pci_in_placement`` pair is PCI-C003.
"""

from __future__ import annotations

from collections.abc import Iterator

from pcipass.core import placementnames, rptree
from pcipass.core.layers import Layer
from pcipass.doctor import model as dm
from pcipass.doctor.placementfacts import PlacementFacts
from pcipass.doctor.registry import check

SHOW = "pcipass placement show --host ROOT"
OFF_NOTE = " (the scheduler does not ask Placement for PCI devices: pci_in_placement is off)"
RESTART = "restart nova-compute on the host: it rewrites its PCI providers at start"


def _fail(controller_config: dm.ControllerFacts | None) -> tuple[dm.Severity, str]:
    """``fail`` when the scheduler asks Placement for PCI devices (or its config is unknown);
    ``warn`` when ``[filter_scheduler] pci_in_placement`` is off: then only the inventory is wrong."""
    if controller_config is not None and not controller_config.nova.pci_in_placement:
        return dm.WARN, OFF_NOTE
    return dm.FAIL, ""


def _failure(controller_config: dm.ControllerFacts | None, subject: str, message: str,
             evidence: list[dm.Evidence], fix: str) -> dm.Result:
    severity, note = _fail(controller_config)
    return dm.result(severity, subject, message + note, evidence, fix)


def _similar(name: str, state: rptree.PlacementState) -> list[str]:
    """Root providers that look like ``name`` (another case, FQDN against short name)."""
    short = name.split(".")[0].lower()
    return [p.name for p in state.providers if p.parent is None and p.name != name
            and p.name.split(".")[0].lower() == short][:3]


@check("PCI-P001", Layer.PLACEMENT, title="The compute node's provider tree is in Placement")
def compute_tree(placement: PlacementFacts,
                 controller_config: dm.ControllerFacts | None = None) -> Iterator[dm.Result]:
    """With ``[pci] report_in_placement`` on, nova-compute reports its PCI devices as children of
    the compute node's resource provider, named after the hypervisor hostname. When Placement has
    no provider of that name, the scheduler finds no PCI inventory there and every PCI flavor gets
    "No valid host". Fails when the translation has providers and the compute node's provider is
    missing (a provider with a similar name is shown: a hostname changed or an FQDN against a
    short name). Tells, as info, when Nova stops at a refusal and reports nothing. Like every
    Placement check but PCI-P004, it warns instead of failing when the controller's
    ``pci_in_placement`` is off (the scheduler then does not ask Placement for PCI devices)."""
    if placement.refusals and placement.report_in_placement:
        first = placement.refusals[0]
        yield dm.result(dm.INFO, placement.hypervisor_hostname,
                        f"nova-compute stops at {first.code} and reports no PCI inventory; the "
                        "Placement checks compare nothing for this host",
                        [dm.problem_evidence(first)], first.hint)
        return
    if not placement.reporting or not placement.providers or placement.compute is not None:
        return
    similar = _similar(placement.hypervisor_hostname, placement.state)
    evidence = [placement.evidence(f"no root provider named {placement.hypervisor_hostname!r} "
                                   f"among {len(placement.state.providers)} providers"),
                *(placement.evidence(f"similar root provider: {n}") for n in similar)]
    yield _failure(controller_config, placement.hypervisor_hostname,
                    f"Placement has no provider for compute node {placement.hypervisor_hostname!r}: its "
                    f"{len(placement.providers)} PCI provider(s) are not reported, so no PCI flavor "
                    "lands here", evidence,
                    "check that nova-compute runs and reports under this name (openstack hypervisor "
                    "list; nova-compute's log says why Placement refused it), then " + RESTART)


@check("PCI-P002", Layer.PLACEMENT, title="Every device's provider is in the compute node's tree")
def device_providers(placement: PlacementFacts,
                     controller_config: dm.ControllerFacts | None = None) -> Iterator[dm.Result]:
    """Nova reports one child provider per PF or type-PCI device a ``device_spec`` entry matches
    (the VFs of a PF share their PF's), named ``<hostname>_<ADDRESS>``. A missing child means the
    device's inventory is not in Placement: the scheduler cannot pick it. Fails per missing
    provider, with the devices it stands for; the compute node's tree must exist (PCI-P001)."""
    if not placement.reporting or placement.compute is None:
        return
    children = placement.children()
    for provider in placement.providers:
        if provider.name in children:
            continue
        elsewhere = placement.state.by_name(provider.name)
        evidence = [placement.translation_evidence(provider),
                    placement.evidence(f"no child provider {provider.name} under "
                                       f"{placement.hypervisor_hostname}")]
        if elsewhere is not None:
            evidence.append(placement.rp_evidence(elsewhere))
        yield _failure(controller_config, provider.name,
                        f"Placement has no provider for {provider.dev_type} device(s) "
                        f"{', '.join(provider.devices)}: its {provider.inventory.resource_class} "
                        "inventory is missing", evidence,
                        "see nova-compute's log for the Placement update that failed; " + RESTART)


@check("PCI-P003", Layer.PLACEMENT, title="Inventory totals and reserved amounts match the host")
def inventory_amounts(placement: PlacementFacts,
                      controller_config: dm.ControllerFacts | None = None) -> Iterator[dm.Result]:
    """A PCI provider's ``total`` (and ``max_unit``) is the number of devices the ``device_spec``
    matches on the host now; ``reserved`` is set by Nova only for a ``one_time_use`` device in use.
    A stale total (VFs added or removed since nova-compute last reported) makes the scheduler
    promise devices that are not there, or hide ones that are. Fails on a total or a Nova-set
    reserved that differs; warns when an operator-set ``reserved`` hides devices."""
    if not placement.reporting:
        return
    children = placement.children()
    for provider in placement.providers:
        held = children.get(provider.name)
        want = provider.inventory
        inv = held.inventory(want.resource_class) if held is not None else None
        if held is None or inv is None:
            continue  # PCI-P002 / PCI-P006
        evidence = [placement.translation_evidence(provider), placement.rp_evidence(held)]
        if inv.total != want.total or (want.reserved is not None and inv.reserved != want.reserved):
            parts = []
            if inv.total != want.total:
                parts.append(f"total {inv.total} where the host has {want.total} device(s)")
            if want.reserved is not None and inv.reserved != want.reserved:
                parts.append(f"reserved {inv.reserved} where Nova sets {want.reserved}")
            yield _failure(controller_config, provider.name,
                            f"{want.resource_class} on {provider.name}: {' and '.join(parts)}",
                            evidence, RESTART + " (or, for a pcipass-owned lab tree, pcipass "
                            "placement sync --apply)")
        elif want.reserved is None and inv.reserved > 0:
            yield dm.result(dm.WARN, provider.name,
                            f"{inv.reserved} of {inv.total} {want.resource_class} on {provider.name} "
                            "are reserved in Placement: the scheduler never picks them", evidence,
                            f"openstack resource provider inventory set {held.uuid} --amend "
                            f"--resource {want.resource_class}:reserved=0 (if nobody meant it)")


@check("PCI-P004", Layer.PLACEMENT, title="Every alias's resource class and traits are offered")
def alias_offered(controller_config: dm.ControllerFacts,
                  placement_view: rptree.PlacementState) -> Iterator[dm.Result]:
    """With ``[filter_scheduler] pci_in_placement`` the scheduler asks Placement, per requested
    device, for one unit of the alias's ``resource_class`` (by default ``CUSTOM_PCI_<VENDOR>_<PRODUCT>``)
    with the alias's ``traits``. When no provider anywhere offers that class with those traits,
    every flavor using the alias gets "No valid host". Fails per alias spec; runs only with
    pci_in_placement on."""
    if not controller_config.nova.pci_in_placement:
        return
    for name, alias in sorted(controller_config.aliases.aliases.items()):
        for spec in alias.specs:
            rc = placementnames.resource_class_name(spec.get("resource_class"), spec.get("vendor_id"),
                                                    spec.get("product_id"))
            traits = placementnames.traits_from_text(spec.get("traits") or "")
            with_rc = [p for p in placement_view.providers if p.inventory(rc) is not None]
            if any(traits <= set(p.traits) for p in with_rc):
                continue
            evidence = [controller_config.alias_source(name)]
            if with_rc:
                evidence += [dm.Evidence(f"placement {placement_view.source}",
                                         f"provider {p.name} offers {rc}, lacks "
                                         f"{', '.join(sorted(traits - set(p.traits)))}")
                             for p in with_rc[:3]]
                why = f"providers offer {rc} but none has the trait(s) {', '.join(sorted(traits))}"
            else:
                evidence.append(dm.Evidence(f"placement {placement_view.source}",
                                            f"no provider has {rc} inventory"))
                why = f"no provider has {rc} inventory"
            yield dm.result(dm.FAIL, f"alias {name}",
                            f"alias {name!r} asks Placement for {rc}"
                            + (f" with {', '.join(sorted(traits))}" if traits else "") + f": {why}",
                            evidence,
                            "make the alias's resource_class and traits those the device_spec gives "
                            f"the devices ({SHOW} lists them), or the device_spec's")


@check("PCI-P005", Layer.PLACEMENT, title="No usage on a device that is gone from the host")
def usages_on_gone(placement: PlacementFacts,
                   controller_config: dm.ControllerFacts | None = None) -> Iterator[dm.Result]:
    """Instances hold allocations against a PCI provider whose device is gone from the host (or no
    longer matched by ``device_spec``), or against more devices than a provider now has. Nova keeps
    such a provider while allocations hold it and its own tracker no longer has the devices: the
    instances are broken and the inventory cannot be fixed. Fails per provider with its consumers;
    a provider without usages that Nova would no longer report is a warning (Nova drops it)."""
    if not placement.reporting or placement.compute is None:
        return
    wanted = {p.name: p for p in placement.providers}
    for name, held in sorted(placement.pci_children().items()):
        used = {rc: n for rc, n in held.usages.items() if n}
        want = wanted.get(name)
        consumers = placement.state.consumers_of(held.uuid)
        evidence = [placement.rp_evidence(held),
                    *(placement.evidence(f"consumer {c}") for c in consumers[:5])]
        if want is None and used:
            yield _failure(controller_config, name,
                            f"{', '.join(f'{n} {rc}' for rc, n in used.items())} allocated on {name}, "
                            "whose device is not on the host now (or no device_spec entry matches it)",
                            evidence, "migrate or delete the instance(s) holding them "
                            "(openstack server show for each consumer), put the device back or fix "
                            "device_spec, then " + RESTART)
        elif want is None:
            yield dm.result(dm.WARN, name,
                            f"{name} is in Placement but the host has no device Nova would report "
                            "for it: a stale provider", evidence,
                            "nova-compute deletes it at its next update; if it stays, nova-compute is "
                            "not reporting (see PCI-P002 and its log)")
        elif want is not None and used.get(want.inventory.resource_class, 0) > want.inventory.total:
            n = used[want.inventory.resource_class]
            yield _failure(controller_config, name,
                            f"{n} {want.inventory.resource_class} allocated on {name}, but the host "
                            f"has {want.inventory.total} such device(s) now",
                            [placement.translation_evidence(want), *evidence],
                            "migrate the instance(s) over the difference, or bring the devices back "
                            "(sriov_numvfs), then " + RESTART)


@check("PCI-P006", Layer.PLACEMENT, title="Providers' resource class and traits match the translation")
def class_and_traits(placement: PlacementFacts,
                     controller_config: dm.ControllerFacts | None = None) -> Iterator[dm.Result]:
    """Each PCI provider carries one resource class and traits that Nova derives from the
    ``device_spec`` entry (``resource_class``, ``traits``, ``live_migratable``, ``one_time_use``) plus
    ``COMPUTE_MANAGED_PCI_DEVICE`` and ``OWNER_NOVA``. When Placement holds another class or other
    traits, the device_spec changed without nova-compute reporting it (or someone edited the
    provider): flavors ask for what is not there. Fails per provider with the difference."""
    if not placement.reporting:
        return
    children = placement.children()
    for provider in placement.providers:
        held = children.get(provider.name)
        if held is None:
            continue  # PCI-P002
        want_rc = provider.inventory.resource_class
        have_rcs = [i.resource_class for i in held.inventories]
        evidence = [placement.translation_evidence(provider), placement.rp_evidence(held)]
        if want_rc not in have_rcs:
            yield _failure(controller_config, provider.name,
                            f"{provider.name} offers {', '.join(have_rcs) or 'no inventory'} where the "
                            f"device_spec gives {want_rc}", evidence, RESTART)
        have = set(held.traits) - {rptree.OWNED_TRAIT}
        want = set(provider.traits)
        if have != want:
            diff = [f"missing {', '.join(sorted(want - have))}" if want - have else "",
                    f"extra {', '.join(sorted(have - want))}" if have - want else ""]
            yield _failure(controller_config, provider.name,
                            f"{provider.name}'s traits differ from the translation: "
                            f"{'; '.join(d for d in diff if d)}", evidence, RESTART)
