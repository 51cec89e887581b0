"""Scheduler filters and weighers that Nova 34 has, and those it removed: what stops nova-scheduler.

nova-scheduler loads every class ``[filter_scheduler] available_filters`` names
(default: Nova's ``all_filters``), then looks up each ``enabled_filters`` name
among them by class name; one name it cannot find stops it at start
(``SchedulerHostFilterNotFound``, ``nova/scheduler/host_manager.py``). The
classes of ``available_filters`` and ``weight_classes`` are imported by path
(``nova/loadables.py``): a path that does not import stops it too.

Old configs and blog posts still carry filters Nova removed (``RetryFilter``,
``RamFilter``, ``AvailabilityZoneFilter``...). :data:`REMOVED` names the release
that removed each, from Nova's release notes (the notes are kept in
``tests/fixtures/nova-releasenotes/`` with their origin, and a test checks this
table against them), and what replaced it. :data:`NOVA_FILTERS` and
:data:`NOVA_WEIGHERS` are what the ``nova`` 34.0.0 package registers; a
differential test keeps them equal.

Pure: option values in, problems out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pcipass.core import errors
from pcipass.core.severity import Severity

ALL_FILTERS = "nova.scheduler.filters.all_filters"
#: The two filters PCI passthrough needs: the devices, and the NUMA placement (with pinned CPUs).
PCI_FILTER = "PciPassthroughFilter"
NUMA_FILTER = "NUMATopologyFilter"
ALL_WEIGHERS = "nova.scheduler.weights.all_weighers"

#: The class names ``nova.scheduler.filters.all_filters()`` returns in nova 34.0.0.
NOVA_FILTERS: frozenset[str] = frozenset({
    "AggregateImagePropertiesIsolation", "AggregateInstanceExtraSpecsFilter", "AggregateIoOpsFilter",
    "AggregateMultiTenancyIsolation", "AggregateNumInstancesFilter", "AggregateTypeAffinityFilter",
    "AllHostsFilter", "ComputeCapabilitiesFilter", "ComputeFilter", "DifferentHostFilter",
    "ImagePropertiesFilter", "IoOpsFilter", "IsolatedHostsFilter", "JsonFilter", "MetricsFilter",
    "NUMATopologyFilter", "NumInstancesFilter", "PciPassthroughFilter", "SameHostFilter",
    "ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter", "SimpleCIDRAffinityFilter",
})

#: The classes ``nova.scheduler.weights.all_weighers()`` returns in nova 34.0.0, by import path.
NOVA_WEIGHERS: frozenset[str] = frozenset({
    "nova.scheduler.weights.affinity.ServerGroupSoftAffinityWeigher",
    "nova.scheduler.weights.affinity.ServerGroupSoftAntiAffinityWeigher",
    "nova.scheduler.weights.compute.BuildFailureWeigher", "nova.scheduler.weights.cpu.CPUWeigher",
    "nova.scheduler.weights.cross_cell.CrossCellWeigher", "nova.scheduler.weights.disk.DiskWeigher",
    "nova.scheduler.weights.hypervisor_version.HypervisorVersionWeigher",
    "nova.scheduler.weights.image_props.ImagePropertiesWeigher",
    "nova.scheduler.weights.io_ops.IoOpsWeigher", "nova.scheduler.weights.metrics.MetricsWeigher",
    "nova.scheduler.weights.num_instances.NumInstancesWeigher", "nova.scheduler.weights.pci.PCIWeigher",
    "nova.scheduler.weights.ram.RAMWeigher",
})


@dataclasses.dataclass(frozen=True, slots=True)
class Removed:
    """A filter Nova removed: the release (version and name), the release note, and what replaces it."""

    version: str
    release: str
    note: str
    replacement: str

    @property
    def when(self) -> str:
        return f"{self.version} ({self.release})"


_PLACEMENT_RATIOS = ("Placement enforces the allocation ratios ([DEFAULT] cpu_allocation_ratio, "
                     "ram_allocation_ratio, disk_allocation_ratio, or per host in Placement): drop it")
_EXACT = ("Ironic nodes are scheduled by their custom resource class: drop it")

#: Filters Nova removed, from its release notes (releasenotes/notes/<note>.yaml in openstack/nova;
#: the version is the first release tag that contains the note).
REMOVED: dict[str, Removed] = {
    "TrustedFilter": Removed("17.0.0", "Queens", "remove-trusted-filter-82afe7ebd3413e3e",
                             "none (it was experimental): drop it"),
    "TypeAffinityFilter": Removed("17.0.0", "Queens", "delete-TypeAffinityFilter-61bb92d1382f4a68",
                                  "none (it relied on flavor ids): drop it"),
    "ExactCoreFilter": Removed("18.0.0", "Rocky", "remove_exact_filters-2fd96171b93d7413", _EXACT),
    "ExactDiskFilter": Removed("18.0.0", "Rocky", "remove_exact_filters-2fd96171b93d7413", _EXACT),
    "ExactRamFilter": Removed("18.0.0", "Rocky", "remove_exact_filters-2fd96171b93d7413", _EXACT),
    "CoreFilter": Removed("20.0.0", "Train", "remove-core-ram-disk-filters-9510cbe5b4e295b6",
                          "Placement filters VCPU natively: drop it"),
    "DiskFilter": Removed("20.0.0", "Train", "remove-core-ram-disk-filters-9510cbe5b4e295b6",
                          "Placement filters DISK_GB natively: drop it"),
    "RamFilter": Removed("20.0.0", "Train", "remove-core-ram-disk-filters-9510cbe5b4e295b6",
                         "Placement filters MEMORY_MB natively: drop it"),
    "RetryFilter": Removed("22.0.0", "Victoria", "remove-retry-and-aggregate-filters-f872a85d0b815982",
                           "none needed: the scheduler hands out alternate hosts since 17.0.0 (Queens): "
                           "drop it"),
    "AggregateCoreFilter": Removed("22.0.0", "Victoria", "remove-retry-and-aggregate-filters-f872a85d0b815982",
                                   _PLACEMENT_RATIOS),
    "AggregateDiskFilter": Removed("22.0.0", "Victoria", "remove-retry-and-aggregate-filters-f872a85d0b815982",
                                   _PLACEMENT_RATIOS),
    "AggregateRamFilter": Removed("22.0.0", "Victoria", "remove-retry-and-aggregate-filters-f872a85d0b815982",
                                  _PLACEMENT_RATIOS),
    "AvailabilityZoneFilter": Removed("28.0.0", "2023.2 Bobcat", "az-filter-removal-587f7337040b6216",
                                      "the map_az_to_placement_aggregate pre-filter, always on: drop it"),
}

#: The codes :func:`problems` gives (the doctor's PCI-C006 reports them, once, for the controller).
CODES = frozenset({"SchedulerHostFilterNotFound", "SchedulerClassNotFound", "UnverifiedSchedulerClass"})


def severity(code: str) -> Severity:
    """A scheduler filter problem as the doctor's finding and the schedule's reason both say it:
    ``UnverifiedSchedulerClass`` warns (modules other than Nova's may define the class); any
    other fails (nova-scheduler stops at start, or a filter the flavor needs is off)."""
    return Severity.WARN if code == "UnverifiedSchedulerClass" else Severity.FAIL

ENABLED = "[filter_scheduler] enabled_filters"
AVAILABLE = "[filter_scheduler] available_filters"
WEIGHTS = "[filter_scheduler] weight_classes"


@dataclasses.dataclass(frozen=True, slots=True)
class Where:
    """Where an option's value was set (None: Nova's default)."""

    file: str | None = None
    line: int | None = None


def loads_other_modules(available: Sequence[str]) -> bool:
    """True when available_filters loads more than Nova's own ``all_filters`` (out-of-tree filters)."""
    return any(a != ALL_FILTERS for a in available)


def problems(enabled: Sequence[str], available: Sequence[str], weight_classes: Sequence[str],
             where: dict[str, Where] | None = None) -> list[errors.Problem]:
    """What nova-scheduler 34 would stop on, or what pcipass cannot verify, in these three options.

    * an enabled filter Nova removed: ``SchedulerHostFilterNotFound`` (error), naming the release
      and the replacement, whatever available_filters loads (a removed filter is never out-of-tree);
    * another unknown enabled filter: the same error while available_filters is Nova's default;
      ``UnverifiedSchedulerClass`` (warning) when it loads other modules, which may define it;
    * an available_filters or weight_classes path under ``nova.`` that Nova 34 does not have:
      ``SchedulerClassNotFound`` (error, the import fails at start); any other path: the warning.
    """
    where = where or {}
    out: list[errors.Problem] = []
    custom = loads_other_modules(available)
    for name in dict.fromkeys(enabled):
        loc = where.get(ENABLED, Where())
        gone = REMOVED.get(name)
        if gone is not None:
            out.append(errors.Problem(
                "SchedulerHostFilterNotFound",
                f"Scheduler Host Filter {name} could not be found: Nova removed it in {gone.when} "
                f"(release note {gone.note}); nova-scheduler stops at start",
                file=loc.file, line=loc.line, entry=ENABLED,
                hint=f"remove {name} from {ENABLED}; replacement: {gone.replacement}"))
        elif name not in NOVA_FILTERS and not custom:
            out.append(errors.Problem(
                "SchedulerHostFilterNotFound",
                f"Scheduler Host Filter {name} could not be found: Nova 34 has no filter of that name "
                f"and {AVAILABLE} loads only Nova's own; nova-scheduler stops at start",
                file=loc.file, line=loc.line, entry=ENABLED,
                hint=f"remove {name}, or fix its spelling; Nova's filters: {', '.join(sorted(NOVA_FILTERS))}"))
        elif name not in NOVA_FILTERS:
            out.append(errors.Problem(
                "UnverifiedSchedulerClass",
                f"cannot verify filter {name}: it is not Nova's, and {AVAILABLE} loads other modules "
                f"({', '.join(a for a in available if a != ALL_FILTERS)}) that may define it",
                file=loc.file, line=loc.line, entry=ENABLED,
                hint=f"check that one of those modules defines a filter class named {name}"))
    out += _paths(available, ALL_FILTERS, set(), AVAILABLE, where)
    out += _paths(weight_classes, ALL_WEIGHERS, NOVA_WEIGHERS, WEIGHTS, where)
    return out


def _paths(paths: Sequence[str], default: str, known: set[str] | frozenset[str], option: str,
           where: dict[str, Where]) -> list[errors.Problem]:
    """``where`` may locate each value on its own line, keyed ``option + " " + value``."""
    out = []
    for path in dict.fromkeys(paths):
        if path == default or path in known:
            continue
        loc = where.get(f"{option} {path}", where.get(option, Where()))
        if path.startswith("nova."):
            out.append(errors.Problem(
                "SchedulerClassNotFound",
                f"{option} names {path}, which Nova 34 does not have: the import fails and "
                "nova-scheduler stops at start",
                file=loc.file, line=loc.line, entry=option,
                hint=f"use {default}, or a class it returns"))
        else:
            out.append(errors.Problem(
                "UnverifiedSchedulerClass",
                f"cannot verify {path} in {option}: it is not Nova's (an out-of-tree module)",
                file=loc.file, line=loc.line, entry=option,
                hint="check that the module is installed on every scheduler host"))
    return out
