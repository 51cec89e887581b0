"""What the doctor talks about: layers, severities, findings, and the facts checks consume.

Pure data (contracts.md §3 "doctor"). Checks import this module and the core,
never the adapters: every fact a check can ask for is declared here, by name,
in :data:`FACT_TYPES`, with a plain record type. :mod:`pcipass.services.doctor.gather`
fills the records from hosts and files; tests build them by hand.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from pcipass.core import alias as alias_mod
from pcipass.core.evidence import Evidence as Evidence  # findings cite facts as the core's reasons do
from pcipass.core.layers import Layer
from pcipass.core.severity import Severity as Severity  # findings and the core's reasons alike
from pcipass.core import config, errors, model, numa, pools, requests, schedule, spec

# -- severities ----------------------------------------------------------------------------

FAIL, WARN, INFO, SKIP = Severity.FAIL, Severity.WARN, Severity.INFO, Severity.SKIP
SEVERITIES = tuple(Severity)
#: What each severity contributes to the exit code; skip changes nothing.
EXIT_CONTRIBUTION = {FAIL: 2, WARN: 1, INFO: 0, SKIP: 0}


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One result of one check on one host (``host`` None: cloud-wide, e.g. a flavor)."""

    id: str
    layer: Layer
    severity: Severity
    host: str | None
    subject: str
    message: str
    evidence: tuple[Evidence, ...] = ()
    fix: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    """What a check yields: a finding without the bookkeeping the runner adds (id, layer, host)."""

    severity: Severity
    subject: str
    message: str
    evidence: tuple[Evidence, ...] = ()
    fix: str | None = None


def result(severity: Severity, subject: str, message: str, evidence: list[Evidence] | tuple[Evidence, ...] = (),
           fix: str | None = None) -> Result:
    """Shorthand for checks."""
    return Result(severity, subject, message, tuple(evidence), fix)


def problem_evidence(problem: errors.Problem) -> Evidence:
    """A config problem as evidence: its file and line, and its entry or message."""
    where = problem.file or "(config)"
    value = problem.entry or problem.code
    return Evidence(where, value, problem.line)


# -- facts ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class HostInfo:
    """Which host this is: its name, what was given, and of what kind."""

    name: str
    root: str
    kind: str  # live | directory | bundle | lspci
    nova_name: str
    warnings: tuple[str, ...] = ()
    facts_from: str = "sysfs"  # sysfs | facts.json | lspci: where devices, NUMA and kernel facts came from


@dataclasses.dataclass(frozen=True, slots=True)
class KernelView:
    """The kernel's IOMMU and vfio facts, each with the file it came from.

    :ivar cmdline: the raw ``proc/cmdline``; None when unreadable.
    :ivar acpi_tables: which of ``DMAR``/``IVRS`` exist in ``sys/firmware/acpi/tables``.
    :ivar iommu_groups: how many ``sys/kernel/iommu_groups/*`` exist.
    :ivar vfio_pci: ``module``, ``builtin``, ``absent``, or None (cannot tell).
    :ivar dmesg_lines: the IOMMU/DMAR/vfio lines of the kernel log.
    """

    release: str | None
    cmdline: str | None
    intel_iommu: str | None
    amd_iommu: str | None
    iommu: str | None
    vfio_pci_ids: tuple[str, ...]
    iommu_devices: tuple[str, ...]
    iommu_groups: int
    acpi_tables: tuple[str, ...]
    vfio_pci: str | None
    modules: tuple[str, ...]
    dmesg_source: str | None
    dmesg_lines: tuple[str, ...]
    platform: str | None = None  # intel | amd | None (from ACPI tables or dmesg)
    sysfs: bool = True  # False: only a pasted dmesg and/or command line are known
    dmesg_group_additions: int = 0
    iommu_mode: str = "unknown"  # passthrough | translated | mixed | off | unknown
    iommu_mode_source: str | None = None
    iommu_mode_detail: str = ""
    acpi_read: bool = True  # False: sys/firmware/acpi/tables was not collected (tables unknown)
    groups_read: bool = True  # False: sys/kernel/iommu_groups was not collected (groups unknown)

    @property
    def iommu_present(self) -> bool:
        return bool(self.iommu_devices) or self.iommu_groups > 0


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceFacts:
    """A host's PCI functions and where they were read from (``sysfs`` or ``lspci``)."""

    devices: tuple[model.Device, ...]
    source: str
    by_address: Mapping[str, model.Device]
    assumed_types: tuple[str, ...] = ()  # a paste showed no type: taken as type-PCI

    @classmethod
    def of(cls, devices: tuple[model.Device, ...] | list[model.Device], source: str,
           assumed_types: tuple[str, ...] = ()) -> DeviceFacts:
        devs = tuple(devices)
        return cls(devs, source, {d.address: d for d in devs}, assumed_types)

    def vfs_of(self, pf_address: str) -> list[model.Device]:
        return [d for d in self.devices if d.parent_addr == pf_address]

    def with_ids(self, vendor_id: str, product_id: str) -> list[model.Device]:
        """The devices whose IDs are ``vendor_id:product_id`` (any case, as a config writes them)."""
        vendor, product = vendor_id.lower(), product_id.lower()
        return [d for d in self.devices if d.vendor_id == vendor and d.product_id == product]

    def vf_product_ids(self, pf: model.Device) -> list[str]:
        """The product IDs the VFs of ``pf`` report: read from its VFs, else (no VF created yet)
        its ``sriov_vf_device``; sorted."""
        ids = {v.product_id for v in self.vfs_of(pf.address)}
        return sorted(ids or ({pf.sriov_vf_device} if pf.sriov_vf_device else set()))


@dataclasses.dataclass(frozen=True, slots=True)
class NumaFacts:
    """Host NUMA cells: id -> CPUs (for the NUMA-fit checks)."""

    cells: Mapping[int, tuple[int, ...]]


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigFacts:
    """A host's compute config (merged with the controller's, as nova-compute + API see it).

    :ivar problems: errors that belong to this host (controller-only ones are
        reported once, by the controller checks).
    :ivar matches: device address -> the spec entry that claims it (first match).
    :ivar starts: False when nova-compute would refuse this config.
    :ivar spec_sources: spec index -> (file, line, item).
    """

    files: tuple[str, ...]
    nova: config.NovaConfig
    specs: spec.SpecParseResult
    aliases: alias_mod.AliasParseResult
    problems: tuple[errors.Problem, ...]
    warnings: tuple[errors.Problem, ...]
    matches: Mapping[str, spec.SpecEntry | None]
    starts: bool | None
    spec_sources: Mapping[int, tuple[str | None, int | None, int | None]]

    def source_of(self, entry: spec.SpecEntry) -> Evidence:
        file, line, item = self.spec_sources.get(entry.index, (None, None, None))
        where = f" item {item}" if item is not None else ""
        return Evidence(file or "(config)", f"device_spec = {_raw(entry)}{where}", line)

    def matched(self, entry: spec.SpecEntry, devices: DeviceFacts) -> list[model.Device]:
        """The devices this entry claims (first match wins, as in Nova)."""
        return [d for d in devices.devices if (m := self.matches.get(d.address)) is not None
                and m.index == entry.index]


def _raw(entry: spec.SpecEntry) -> str:
    return json.dumps(entry.spec.raw, sort_keys=False)


@dataclasses.dataclass(frozen=True, slots=True)
class ControllerFacts:
    """The controller's view (nova-api / nova-scheduler): aliases and scheduler options.

    :ivar origin: ``--nova-conf`` or the one host whose config stands in for it.
    """

    files: tuple[str, ...]
    nova: config.NovaConfig
    aliases: alias_mod.AliasParseResult
    problems: tuple[errors.Problem, ...]
    warnings: tuple[errors.Problem, ...]
    origin: str

    def alias_source(self, name: str) -> Evidence:
        al = self.aliases.aliases.get(name)
        if al is not None and al.sources and 0 <= al.sources[0] < len(self.nova.alias):
            ov = self.nova.alias[al.sources[0]]
            return Evidence(ov.file or "(config)", f"alias = {ov.value}", ov.line)
        return Evidence(", ".join(self.files) or "(config)", f"alias {name!r}")

    def option_source(self, option: str, shown: str) -> Evidence:
        ov = self.nova.located(option)
        if ov is None:
            return Evidence(", ".join(self.files) or "(config)", f"{shown} (default)")
        return Evidence(ov.file or "(config)", f"{ov.option} = {ov.value}", ov.line)


@dataclasses.dataclass(frozen=True, slots=True)
class FlavorFacts:
    """One flavor as Nova would turn it into PCI requests (or refuse it).

    :ivar aliases_known: False when no alias table was available (no controller config).
    """

    name: str
    file: str | None
    extra_specs: Mapping[str, str]
    requests: tuple[requests.PciRequest, ...]
    numa_nodes: int | None
    numa_policy: str | None
    cpu_policy: str | None
    error: errors.Problem | None
    warnings: tuple[errors.Problem, ...]
    aliases_known: bool = True
    line_of: Mapping[str, int] = dataclasses.field(default_factory=dict)
    vcpus: int | None = None
    ram: int | None = None

    def evidence(self, key: str) -> Evidence:
        value = self.extra_specs.get(key)
        return Evidence(self.file or f"flavor {self.name}",
                        f"{key}={value}" if value is not None else f"{key} (unset)",
                        self.line_of.get(key))

    @property
    def uses_numa(self) -> bool:
        """True when Nova builds a guest NUMA topology (then NUMATopologyFilter decides)."""
        return numa.has_topology(self.numa_nodes, self.cpu_policy)


@dataclasses.dataclass(frozen=True, slots=True)
class FlavorFit:
    """One flavor on one host, as the scheduling core decides it (every matched device free).

    :ivar verdict: None when the instance layout cannot be evaluated (``error`` says why).
    """

    flavor: str
    requests: tuple[pools.Request, ...]
    shape: numa.InstanceShape
    verdict: schedule.HostVerdict | None
    error: errors.Problem | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class HostFit:
    """The scheduler's input for one host and every valid flavor's verdict on it.

    ``usable`` keeps the devices, specs and cells so checks can ask "what if the
    device_spec were corrected" of the same core; ``broken`` is set when
    nova-compute would refuse the host's config (then no PCI request fits).
    """

    host: str
    usable: schedule.HostInput
    broken: errors.Problem | None
    flavors: Mapping[str, FlavorFit]
    multiplier: float = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class RouteFacts:
    """The interfaces of the default route, from ``proc/net/route``: (ifname, line)."""

    source: str
    default: tuple[tuple[str, int], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class RootDiskFacts:
    """The PCI controller behind ``/``: mounts line, block device, sysfs path, address."""

    source: str
    line: int
    mount: str
    block: str
    sysfs_path: str
    address: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class PersistenceFacts:
    """Collected boot-time config (udev, modprobe.d, driverctl, systemd units): (path, text)."""

    files: tuple[tuple[str, str], ...]
    cmdline_vfio_ids: tuple[str, ...] = ()
    #: The boot-config places the root holds (None: all of them, a live host or pcipass's collector).
    collected: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class FactType:
    """A fact checks may name: its record type, scope and what it is."""

    type: str
    scope: str  # "host": one per host; "global": one for the run
    doc: str
    later: bool = False  # declared for the Placement/Neutron/fit layers, not gathered yet


HOST, GLOBAL = "host", "global"

#: Every fact a check may name, by parameter name. The registry refuses any other name.
FACT_TYPES: dict[str, FactType] = {
    "host": FactType("HostInfo", HOST, "the host's name and what was given"),
    "kernel": FactType("KernelView", HOST, "command line, ACPI tables, IOMMU groups, vfio, dmesg"),
    "devices": FactType("DeviceFacts", HOST, "PCI functions from sysfs or an lspci paste"),
    "iommu_groups": FactType("Mapping[int, tuple[str, ...]]", HOST, "IOMMU group -> member addresses (sysfs)"),
    "numa": FactType("NumaFacts", HOST, "host NUMA cells (sysfs)"),
    "compute_config": FactType("ConfigFacts", HOST, "the host's nova.conf: device_spec, matches"),
    "spec_map": FactType("list[SpecRow]", HOST, "the mapping table's device_spec rows: claimed devices, "
                         "MISSING entries with near misses (computed once per host)"),
    "default_route": FactType("RouteFacts", HOST, "default-route interfaces (proc/net/route)"),
    "root_disk": FactType("RootDiskFacts", HOST, "the PCI controller of the root filesystem"),
    "persistence": FactType("PersistenceFacts", HOST,
                            "udev rules, modprobe.d, driverctl, systemd units that persist VFs/drivers"),
    "controller_config": FactType("ControllerFacts", GLOBAL, "aliases and scheduler options"),
    "flavors": FactType("tuple[FlavorFacts, ...]", GLOBAL, "flavors (and image) as PCI requests"),
    "placement": FactType("PlacementFacts", HOST, "Nova's translation of the host's devices beside the "
                           "providers Placement holds for it (--placement-url, --placement FILE)"),
    "placement_view": FactType("PlacementState", GLOBAL, "every provider and allocation Placement "
                                "holds (--placement-url, --os-cloud or --placement FILE)"),
    # Declared for the layers a later issue adds; gather reports them missing for now.
    "sriov_agent": FactType("SriovAgentConfig", HOST, "Neutron SR-IOV agent mappings (--sriov-agent-conf, or "
                            "etc/neutron/plugins/ml2/sriov_agent.ini in the host root)"),
    "neutron": FactType("NeutronView", GLOBAL, "networks' physnets and ports' vnic types", later=True),
    "host_fit": FactType("HostFit", HOST, "each flavor's verdict on this host (the scheduling core: "
                         "pools, NUMA fit, claim), with the host's scheduler input"),
    "fleet_fit": FactType("tuple[HostFit, ...]", GLOBAL, "host_fit of every host that has one"),
}


class FactMissing(Exception):
    """A fact could not be gathered; ``reason`` says why (shown in the skip finding)."""

    def __init__(self, fact: str, reason: str) -> None:
        super().__init__(f"{fact}: {reason}")
        self.fact = fact
        self.reason = reason
