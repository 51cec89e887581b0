"""Scheduler config: the filters and Placement switches the controller and computes must agree on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pcipass.core import numa, schedfilters, schedule
from pcipass.doctor import model as dm
from pcipass.doctor.checks import common
from pcipass.doctor.registry import check
from pcipass.core.layers import Layer

PCI_FILTER, NUMA_FILTER = schedfilters.PCI_FILTER, schedfilters.NUMA_FILTER


def _filters_fix(current: list[str], add: str) -> str:
    return f"[filter_scheduler] enabled_filters = {','.join([*current, add])}"


@check("PCI-C001", Layer.SCHEDULER, title="PciPassthroughFilter is enabled")
def pci_filter(controller_config: dm.ControllerFacts,
               flavors: Sequence[dm.FlavorFacts] | None = None) -> Iterator[dm.Result]:
    """Without ``PciPassthroughFilter`` in ``[filter_scheduler] enabled_filters`` the scheduler picks
    hosts without looking at PCI devices; the claim then fails on the compute ("Insufficient compute
    resources") and the instance is rescheduled until it runs out of hosts. Fails when aliases are
    defined or a flavor requests PCI devices. The default filter list does not include it."""
    nova = controller_config.nova
    if PCI_FILTER in nova.enabled_filters:
        return
    users = [f.name for f in flavors or () if f.requests]
    if not users and not controller_config.aliases.aliases:
        return
    why = f"flavor(s) {', '.join(users)} request PCI devices" if users else "[pci] alias is defined"
    yield dm.result(dm.FAIL, "enabled_filters", f"{PCI_FILTER} is not enabled but {why}",
                    [controller_config.option_source("enabled_filters", "[filter_scheduler] enabled_filters")],
                    _filters_fix(nova.enabled_filters, PCI_FILTER))


@check("PCI-C002", Layer.SCHEDULER, title="NUMATopologyFilter is enabled for NUMA flavors")
def numa_filter(controller_config: dm.ControllerFacts, flavors: Sequence[dm.FlavorFacts]) -> Iterator[dm.Result]:
    """PCI NUMA affinity (``required``, ``socket``, ``legacy``) and pinned CPUs are enforced by
    ``NUMATopologyFilter``, not by PciPassthroughFilter. Without it the scheduler ignores the guest's
    NUMA needs and the compute's claim fails late. Fails when a flavor has a NUMA topology
    (``hw:numa_nodes``, or ``hw:cpu_policy`` dedicated/mixed)."""
    nova = controller_config.nova
    users = [f for f in flavors if f.uses_numa]
    if NUMA_FILTER in nova.enabled_filters or not users:
        return
    yield dm.result(dm.FAIL, "enabled_filters",
                    f"{NUMA_FILTER} is not enabled but flavor(s) {', '.join(f.name for f in users)} "
                    "have a NUMA topology",
                    [controller_config.option_source("enabled_filters", "[filter_scheduler] enabled_filters"),
                     *(f.evidence("hw:numa_nodes" if f.numa_nodes else "hw:cpu_policy") for f in users[:3])],
                    _filters_fix(nova.enabled_filters, NUMA_FILTER))


@check("PCI-C003", Layer.SCHEDULER, title="pci_in_placement only with report_in_placement")
def placement_switches(controller_config: dm.ControllerFacts, compute_config: dm.ConfigFacts) -> Iterator[dm.Result]:
    """``[filter_scheduler] pci_in_placement`` makes the scheduler ask Placement for PCI inventory that
    only computes with ``[pci] report_in_placement = True`` report. With the first on and the second off
    on a compute, that compute never matches a PCI flavor. Fails per such host."""
    if not controller_config.nova.pci_in_placement or compute_config.nova.report_in_placement:
        return
    ov = compute_config.nova.located("report_in_placement")
    yield dm.result(dm.FAIL, "report_in_placement",
                    "the scheduler has pci_in_placement = True but this compute does not report PCI "
                    "devices to Placement ([pci] report_in_placement is False)",
                    [controller_config.option_source("pci_in_placement", "[filter_scheduler] pci_in_placement"),
                     dm.Evidence(ov.file or "(config)", f"report_in_placement = {ov.value}", ov.line)
                     if ov is not None else
                     dm.Evidence(", ".join(compute_config.files) or "(config)", "report_in_placement (default False)")],
                    "[pci] report_in_placement = True (on every compute, then restart nova-compute)")


@check("PCI-C004", Layer.SCHEDULER, title="dedicated-CPU flavors have a cpu_dedicated_set")
def dedicated_cpus(flavors: Sequence[dm.FlavorFacts], compute_config: dm.ConfigFacts) -> Iterator[dm.Result]:
    """A flavor with ``hw:cpu_policy=dedicated`` asks Placement for PCPU inventory, which a compute
    reports only from ``[compute] cpu_dedicated_set`` (``vcpu_pin_set`` is the deprecated fallback).
    Without either this host never fits such a flavor. Fails per host."""
    nova = compute_config.nova
    if nova.cpu_dedicated_set or nova.vcpu_pin_set:
        return
    for fl in flavors:
        if fl.cpu_policy != numa.DEDICATED:
            continue
        yield dm.result(dm.FAIL, f"flavor {fl.name!r}",
                        f"flavor {fl.name!r} pins CPUs (hw:cpu_policy=dedicated) but this compute has no "
                        "[compute] cpu_dedicated_set: it reports no PCPU inventory",
                        [fl.evidence("hw:cpu_policy"),
                         dm.Evidence(", ".join(compute_config.files) or "(config)", "cpu_dedicated_set (unset)")],
                        "[compute] cpu_dedicated_set = <host CPUs for guests, e.g. 2-15,18-31>")


@check("PCI-C006", Layer.SCHEDULER, title="every scheduler filter and weigher exists in Nova 34")
def scheduler_classes(controller_config: dm.ControllerFacts) -> Iterator[dm.Result]:
    """nova-scheduler looks up each ``[filter_scheduler] enabled_filters`` name among the classes
    ``available_filters`` loads, and imports every ``available_filters`` and ``weight_classes`` path;
    one it cannot find stops it at start (``SchedulerHostFilterNotFound``). Old configs and guides
    still carry filters Nova removed: ``RetryFilter`` (22.0.0 Victoria), ``RamFilter``,
    ``CoreFilter``, ``DiskFilter`` (20.0.0 Train), ``AvailabilityZoneFilter`` (28.0.0 2023.2)...
    Fails on a removed filter, on any other unknown name while ``available_filters`` is Nova's
    default, and on a ``nova.`` path Nova 34 does not have, naming the release that removed it and
    the replacement; warns ("cannot verify") where ``available_filters`` or ``weight_classes``
    load other modules, which may define the name."""
    for p in (*controller_config.problems, *controller_config.warnings):
        if p.code in schedfilters.CODES:
            yield dm.result(schedfilters.severity(p.code), p.entry or p.code, f"{p.code}: {p.message}", [dm.problem_evidence(p)], p.hint)


@check("PCI-C007", Layer.SCHEDULER, title="whose config speaks for the controller")
def controller_origin(controller_config: dm.ControllerFacts) -> Iterator[dm.Result]:
    """The aliases and scheduler options are the controller's (nova-api, nova-scheduler), given with
    ``--nova-conf``. Without it, a host's own nova.conf stands in for the controller, as on an
    all-in-one host; this says so, and names the scheduler options that file does not set, which are
    then judged as Nova's defaults. Information."""
    if controller_config.origin == "--nova-conf":
        return
    unset = [o for o in ("enabled_filters", "available_filters", "weight_classes", "pci_in_placement")
             if controller_config.nova.located(o) is None]
    defaults = (f"; it does not set [filter_scheduler] {', '.join(unset)}: judged as Nova's defaults "
                f"(enabled_filters = {','.join(controller_config.nova.enabled_filters)})"
                if "enabled_filters" in unset else
                f"; it does not set [filter_scheduler] {', '.join(unset)}: judged as Nova's defaults" if unset else "")
    yield dm.result(dm.INFO, "controller config",
                    f"no --nova-conf given: {controller_config.origin.split(' (')[0]} stands in for the "
                    f"controller (nova-api, nova-scheduler), as on an all-in-one host{defaults}",
                    [dm.Evidence(", ".join(controller_config.files) or "(config)", "aliases and [filter_scheduler]")],
                    "pass the controller's nova.conf with --nova-conf when the controller is another host")


#: Where to look when a layer is the first broken one on every host (the fix of PCI-C005).
LAYER_FIX = {
    Layer.DEVICE_SPEC: "make a [pci] device_spec entry match the devices the alias asks for "
                       "(see PCI-S002, PCI-S011 and the device_spec table)",
    Layer.NUMA: "place the instance where its devices are, or relax the policy: openstack flavor set "
                "{flavor} --property hw:pci_numa_affinity_policy=preferred (see PCI-N002, PCI-N003)",
    Layer.FLAVOR: "ask for devices the hosts have: the alias's vendor/product/device_type and the count "
                  "in pci_passthrough:alias (see the alias table)",
    Layer.NEUTRON: "check the port's physnet against the device_spec physical_network tags",
    Layer.PLACEMENT: "check the PCI inventories and traits in Placement",
    Layer.SCHEDULER: "see the reasons: the claim on the compute fails where the scheduler passes",
}


@check("PCI-C005", Layer.SCHEDULER, title="every flavor fits some host")
def no_valid_host(flavors: Sequence[dm.FlavorFacts], fleet_fit: Sequence[dm.HostFit]) -> Iterator[dm.Result]:
    """Nova's "No valid host was found" for a flavor, answered before a tenant hits it: the scheduling core
    evaluates each flavor on every host (all matched devices free) and, when no host fits, this check names
    the first broken layer per host with its reason. The fix points at that layer. Flavors Nova refuses
    outright are the flavor checks' (PCI-F001..F004). Fails per flavor."""
    for fl in flavors:
        verdicts = [(fit.host, ff.verdict) for fit in fleet_fit
                    if (ff := fit.flavors.get(fl.name)) is not None and ff.verdict is not None]
        if not verdicts or any(v.fits for _, v in verdicts):
            continue
        per_host = [(host, _first(v)) for host, v in verdicts]
        layers = [r.layer for _, r in per_host if r is not None]
        text = "; ".join(f"{host}: {r.layer} - {r.message}" if r else f"{host}: (no reason given)"
                         for host, r in per_host[:4])
        more = f" (and {len(per_host) - 4} more host(s))" if len(per_host) > 4 else ""
        first = min(layers, key=lambda layer: layer.order) if layers else None
        fix = (LAYER_FIX.get(first, "see the reasons per host") if first else
               "see the reasons per host").format(flavor=common.sh(fl.name))
        yield dm.result(
            dm.FAIL, f"flavor {fl.name!r}",
            f"No valid host for flavor {fl.name!r}; first broken layer per host: {text}{more}",
            [dm.Evidence(f"host {host}", f"{r.layer}: {r.message}" if r else "no fit") for host, r in per_host[:8]],
            fix)


def _first(verdict: schedule.HostVerdict) -> schedule.Reason | None:
    """The reason of the lowest layer (reasons keep their order within a layer)."""
    if not verdict.reasons:
        return None
    return min(verdict.reasons, key=lambda r: r.layer.order)
