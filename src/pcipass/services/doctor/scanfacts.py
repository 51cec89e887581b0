"""The doctor's fact records made from scan results (pure conversions).

The scan service already read each host; these functions reshape what it
found into the records the checks name (:mod:`pcipass.doctor.model`), and
decide which config problems the controller checks report once rather than
every host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pcipass.adapters.kernel import iommu_mode
from pcipass.core import errors, schedfilters
from pcipass.doctor import model

if TYPE_CHECKING:
    from pcipass.adapters import kernel
    from pcipass.services import configcheck, scanreport

#: Problems the controller checks report (once), not every host.
CONTROLLER_CODES = frozenset({"PciInvalidAlias", "AliasNameUnusable", "AliasNeverMatches",
                              "AliasPlacementFieldsIgnored"})


def controller_facts(view: configcheck.ConfigView, origin: str, *,
                      only_controller_problems: bool) -> model.ControllerFacts:
    def keep(p: errors.Problem) -> bool:
        if p.code == "PciInPlacementWithoutReporting":
            return False  # a per-host scheduler check reports it
        return not only_controller_problems or is_controller_problem(p)
    return model.ControllerFacts(
        files=tuple(view.nova.files), nova=view.nova, aliases=view.aliases,
        problems=tuple(p for p in view.errors if keep(p)),
        warnings=tuple(p for p in view.warnings if keep(p)), origin=origin)


def is_controller_problem(p: errors.Problem) -> bool:
    """Alias and [filter_scheduler] problems: the controller's to report."""
    entry = (p.entry or "").lower()
    return p.code in CONTROLLER_CODES or "alias" in entry or "filter_scheduler" in entry


def kernel_view(k: kernel.KernelFacts) -> model.KernelView:
    c = k.cmdline
    lines = k.dmesg_iommu_lines
    platform = ("amd" if "IVRS" in k.acpi_tables or any("AMD-Vi" in ln for ln in lines) else
                "intel" if "DMAR" in k.acpi_tables or any("DMAR" in ln for ln in lines) else None)
    mode = iommu_mode(k)
    return model.KernelView(
        release=k.release, cmdline=c.raw if c else None, intel_iommu=c.intel_iommu if c else None,
        amd_iommu=c.amd_iommu if c else None, iommu=c.iommu if c else None,
        vfio_pci_ids=c.vfio_pci_ids if c else (), iommu_devices=k.iommu_devices,
        iommu_groups=k.iommu_groups, acpi_tables=k.acpi_tables, vfio_pci=k.vfio_pci,
        modules=k.modules, dmesg_source=k.dmesg_source, dmesg_lines=lines, platform=platform,
        sysfs=k.sysfs, dmesg_group_additions=k.dmesg_group_additions, iommu_mode=mode.mode,
        iommu_mode_source=mode.source, iommu_mode_detail=mode.detail, acpi_read=k.acpi_read,
        groups_read=k.groups_read)


def config_facts(s: scanreport.HostScan, controller: model.ControllerFacts | None) -> model.ConfigFacts:
    """The host's view, minus the problems the controller checks already report."""
    view = s.config
    assert view is not None
    same = controller is not None and controller.origin.startswith(f"{s.name}'s own")
    reported = {_key(p) for p in (*controller.problems, *controller.warnings)} if controller else set()

    def mine(p: errors.Problem) -> bool:
        if p.code == "PciInPlacementWithoutReporting" or p.code in schedfilters.CODES:
            return False  # per-host and controller scheduler checks report them (nova-compute loads no filter)
        if same:
            return not is_controller_problem(p)
        return _key(p) not in reported
    sources = {}
    for entry in view.specs.specs:
        src = view.spec_source(entry)
        sources[entry.index] = (src.file, src.line, src.item)
    return model.ConfigFacts(
        files=tuple(view.nova.files), nova=view.nova, specs=view.specs, aliases=view.aliases,
        problems=tuple(p for p in s.config_errors if mine(p)),
        warnings=tuple(p for p in s.config_warnings if mine(p) and p.code != "NoComputeConfig"),
        matches=dict(s.matches), starts=s.compute_starts, spec_sources=sources)


def _key(p: errors.Problem) -> tuple[Any, ...]:
    return (p.code, p.message, p.file, p.line)
