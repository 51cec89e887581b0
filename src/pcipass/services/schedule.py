"""``pcipass schedule``: which host would Nova pick for this flavor, and why not the others.

Hosts are scanned once (host roots, bundles or lspci pastes, each matched
against its own compute config); every matched device counts as free.
Each flavor is translated with the controller's aliases (``--nova-conf``),
joined by the ``--port`` requests, and answered for every host by the pure
scheduling core, which plays Nova's filters, the compute claim and the
PCIWeigher, and explains every rejection. The core's fleet index
(:class:`schedule.FleetIndex`) picks the hosts that fit; hosts are evaluated
one by one only for the reasons of those that do not and the devices of those
that do, once per class of identical hosts (a fleet of one hardware model and
one config is one class).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pcipass.adapters import flavorfile
from pcipass.core import codes, config, errors, legacy, model, numa, requests, schedfilters, schedule
from pcipass.core.layers import Layer
from pcipass.services import configcheck, cpusets, flavorexplain, gcpause, pastetypes
from pcipass.services import scan as scan_mod
from pcipass.services import scanreport

PCI_FILTER, NUMA_FILTER = schedfilters.PCI_FILTER, schedfilters.NUMA_FILTER


@dataclasses.dataclass(frozen=True)
class HostModel:
    """One scanned host, reduced to what the scheduler needs."""

    name: str
    scan: scanreport.HostScan
    usable: schedule.HostInput
    broken: errors.Problem | None  # nova-compute would not start with this config

    @classmethod
    def from_scan(cls, host: scanreport.HostScan) -> HostModel:
        view = host.config
        specs = tuple(view.specs.specs) if view is not None and host.compute_starts else ()
        if view is not None and view.legacy is not None and view.legacy.devices:
            # The 2013 design's per-host labelled devices (pcipass's own model supports them).
            start = max((e.index for e in specs), default=-1) + 1
            specs += tuple(legacy.spec_entries(view.legacy.devices,
                                               model.HostFacts.from_devices(list(host.devices)),
                                               start=start))
        nova = view.nova if view is not None else None
        # CPU sets are bounded before the core expands them; a refused one stops nova-compute.
        cpu_sets, cpu_problems = (cpusets.bounded_options(nova) if nova is not None
                                  else ({}, []))
        cells: tuple[numa.HostCell, ...] = ()
        if host.numa is not None and host.numa.cells:
            cells = numa.host_cells(
                host.numa.cells,
                cpu_dedicated_set=cpu_sets.get("cpu_dedicated_set"),
                cpu_shared_set=cpu_sets.get("cpu_shared_set"),
                vcpu_pin_set=cpu_sets.get("vcpu_pin_set"))
        broken = None
        if host.compute_starts is False and host.config_errors:
            broken = host.config_errors[0]
        elif cpu_problems:
            broken = cpu_problems[0]
        devices, _assumed = pastetypes.assume(host.devices)  # a paste's unknown types: type-PCI
        return cls(host.nova_name, host,
                   schedule.HostInput(host.nova_name, devices, specs, cells), broken)

    @functools.cached_property
    def pools(self) -> schedule.HostPools:
        """The host's pools, built on first use and shared by every flavor."""
        u = self.usable
        return schedule.host_pools(u.devices, u.specs, u.cells)


class Fleet:
    """The scanned hosts, and the fleet index that answers for them (built once, on first use)."""

    def __init__(self, models: Sequence[HostModel]) -> None:
        self.models = list(models)
        #: What the last :meth:`verdicts` learnt besides the verdicts, for the flavor's answer:
        #: (the flavor's ``placement`` record, warnings). A fleet answered through Placement
        #: (:mod:`pcipass.services.scheduleplacement`) sets it.
        self.side: tuple[Any, list[errors.Problem]] = (None, [])

    @functools.cached_property
    def index(self) -> schedule.FleetIndex:
        """The index over every host's scheduler input, in host order, shared by all flavors."""
        return schedule.FleetIndex.build(m.usable for m in self.models)

    def verdicts(self, reqs: Sequence[Any], shape: numa.InstanceShape,
                 pinned: Sequence[int] | None = None, *,
                 extra_specs: Mapping[str, str] | None = None) -> list[schedule.HostVerdict]:
        """Every host's verdict, in host order: what :func:`evaluate` gives host by host.

        ``extra_specs`` (the flavor's) is for subclasses that need more than the requests.

        :raises numa.InstanceNumaNodesMismatch, numa.ImageNUMATopologyAsymmetric,
            numa.UnsupportedTopology: see :func:`schedule.evaluate_host`.
        """
        takes = [i for i, m in enumerate(self.models) if _takes_requests(m, reqs)]
        answers = iter(self.index.verdicts(reqs, shape, instance_numa_nodes=pinned, hosts=takes))
        return [next(answers) if _takes_requests(m, reqs) else _refused(m) for m in self.models]


@dataclasses.dataclass
class FlavorSchedule:
    """One flavor's answer; ``cause`` is the exception behind ``error``, for a front end to
    word anew (with its own option names)."""

    flavor: str
    file: str | None
    requests: list[Any]
    error: errors.Problem | None
    ranking: schedule.Ranking | None = None
    warnings: list[errors.Problem] = dataclasses.field(default_factory=list)
    cause: errors.PcipassError | None = None
    #: Placement's answer (``scheduleplacement.PlacementAnswer``) when scheduled through it.
    placement: Any = None


@dataclasses.dataclass
class ScheduleReport:
    """Every flavor's answer; its JSON (``pcipass schedule -f json``) is
    :func:`pcipass.services.jsonview.to_json`."""

    results: list[FlavorSchedule]
    hosts: list[HostModel]

    @property
    def valid(self) -> bool:
        return all(r.error is None for r in self.results)


def schedule_flavors(flavors: Sequence[str | Path], hosts: Sequence[str | Path], *,
                     lspci: Sequence[str | Path] = (), nova_conf: Sequence[str | Path] = (),
                     compute_conf: Sequence[str | Path] = (), image: str | Path | None = None,
                     ports: Sequence[str] = (),
                     instance_numa_nodes: Sequence[int] | None = None,
                     jobs: int = 0, facts_cache: str = scan_mod.CACHE_USE,
                     fleet: Callable[[Sequence[HostModel]], Fleet] = Fleet) -> ScheduleReport:
    """Evaluate every flavor on every host and rank the hosts as Nova would.

    :param fleet: builds the fleet that answers (:class:`Fleet`; through Placement:
        :func:`pcipass.services.scheduleplacement.fleet_factory`).

    :raises hostroot.HostRootInvalid, lspcifile.LspciInputInvalid: a host cannot be read.
    """
    with gcpause.paused():
        report = scan_mod.scan_hosts(hosts, lspci=lspci, nova_conf=nova_conf,
                                     compute_conf=compute_conf, jobs=jobs, facts_cache=facts_cache)
        models = [HostModel.from_scan(h) for h in report.hosts]
        controller, note = _controller_config(nova_conf, models)
        hosts_fleet = fleet(models)
        image_props, image_problem = flavorexplain.load_image(image)
        results = []
        for path in flavors:
            fl = flavorfile.read_flavor(path)
            problem = fl.problems[0] if fl.problems else image_problem
            if problem is not None:
                results.append(FlavorSchedule(fl.name, str(path), [], problem))
                continue
            result = _schedule_one(fl, controller, image_props, ports, instance_numa_nodes,
                                   hosts_fleet, check_filters=bool(nova_conf))
            if note is not None and fl.extra_specs.get(requests.ALIAS_KEY):
                result.warnings.insert(0, note)
            results.append(result)
        return ScheduleReport(results, models)


def _controller_config(nova_conf: Sequence[str | Path],
                       models: Sequence[HostModel]) -> tuple[Any, errors.Problem | None]:
    """The controller's view (aliases, scheduler options).

    Without ``--nova-conf`` the aliases come from the first host whose compute
    config defines any (nova-api must define the same ones: failure mode #2).
    """
    if nova_conf:
        return configcheck.load_config(nova_conf), None
    for m in models:
        view = m.scan.config
        if view is not None and view.aliases.aliases:
            first = view.nova.alias[0] if view.nova.alias else None
            return view, errors.Problem(
                code="AliasesFromCompute", file=first.file if first else None,
                line=first.line if first else None,
                message=(f"no --nova-conf given: using the [pci] alias entries of host "
                         f"{m.name}'s compute config; nova-api must define the same aliases"),
                hint="pass the controller's nova.conf with --nova-conf")
    return configcheck.load_config([]), None


def _schedule_one(fl: config.Flavor, controller: Any, image_props: dict[str, str] | None,
                  ports: Sequence[str], pinned: Sequence[int] | None,
                  fleet: Fleet, *, check_filters: bool) -> FlavorSchedule:
    where = {"file": fl.file, "entry": f"flavor {fl.name!r}"}
    if fl.extra_specs.get(requests.ALIAS_KEY) and not controller.aliases.valid:
        return FlavorSchedule(fl.name, fl.file, [], controller.aliases.nova_error)
    try:
        fr = requests.translate_flavor(fl.extra_specs, controller.aliases.aliases, image_props)
        flavor_reqs: list[Any] = list(fr.requests)
        if legacy.LABELS_KEY in fl.extra_specs:
            flavor_reqs += [dataclasses.replace(r, request_id=len(flavor_reqs) + i) for i, r in
                            enumerate(legacy.parse_labels(fl.extra_specs[legacy.LABELS_KEY]))]
        reqs = schedule.build_requests(flavor_reqs, ports, flavor_policy=fr.numa_policy)
        shape = instance_shape(fl.vcpus, fl.ram, fr.numa_nodes, fr.cpu_policy)
        verdicts = fleet.verdicts(reqs, shape, pinned, extra_specs=fl.extra_specs)
    except errors.PcipassError as exc:
        return FlavorSchedule(fl.name, fl.file, [], exc.to_problem(**where), cause=exc)
    answer, notes = fleet.side
    warnings = [w.located(file=fl.file) for w in fr.warnings] + notes
    if check_filters:
        filter_problems = _filter_warnings(controller.nova, reqs, shape)
        warnings.extend(filter_problems)
        classes = [p for p in (*controller.errors, *controller.warnings) if p.code in schedfilters.CODES]
        verdicts = _with_filter_reasons(verdicts, [*filter_problems, *classes])
    multiplier = controller.nova.pci_weight_multiplier
    ranking = schedule.rank_hosts(verdicts, multiplier if multiplier is not None else 1.0)
    return FlavorSchedule(fl.name, fl.file, reqs, None, ranking, warnings, placement=answer)


def host_model(host: scanreport.HostScan) -> HostModel:
    """The scheduler's view of one scanned host (shared with the doctor).

    A CPU set option Nova cannot parse, or one naming CPUs no kernel has, makes
    the host ``broken`` (nova-compute does not start) with that option's error.
    """
    return HostModel.from_scan(host)


def instance_shape(vcpus: int | None, ram: int | None, numa_nodes: int | None,
                   cpu_policy: str | None) -> numa.InstanceShape:
    """The CPU/RAM/NUMA shape of a flavor (Nova's defaults for a flavor file without sizes)."""
    return numa.InstanceShape(vcpus=vcpus or 1, memory_mb=ram or 512, numa_nodes=numa_nodes,
                              cpu_policy=cpu_policy)


def evaluate(model: HostModel, reqs: Sequence[Any], shape: numa.InstanceShape,
             pinned: Sequence[int] | None = None) -> schedule.HostVerdict:
    """One host's verdict, evaluated on its own; a host whose nova-compute would not start
    takes no PCI request. (:class:`Fleet` answers for many hosts at once, equally.)

    :raises numa.InstanceNumaNodesMismatch, numa.ImageNUMATopologyAsymmetric,
        numa.UnsupportedTopology: see :func:`schedule.evaluate_host`.
    """
    if not _takes_requests(model, reqs):
        return _refused(model)
    u = model.usable
    return schedule.evaluate_host(u.devices, u.specs, reqs, u.cells, shape, name=u.name,
                                  instance_numa_nodes=pinned, prebuilt=model.pools)


def _takes_requests(model: HostModel, reqs: Sequence[Any]) -> bool:
    return model.broken is None or not reqs


def _refused(model: HostModel) -> schedule.HostVerdict:
    """The verdict of a host whose nova-compute would not start: its config error."""
    p = model.broken
    assert p is not None
    where = f"{p.file}:{p.line}" if p.line else str(p.file)
    registered = codes.CODES.get(p.code)
    layer = registered.layer if registered is not None and registered.layer else Layer.DEVICE_SPEC
    return schedule.HostVerdict(
        model.name, False, False, None, reasons=(schedule.Reason(
            layer, f"nova-compute would refuse to start with this host's config: "
            f"{p.message}", 0, (schedule.Evidence(where, p.message),)),))


def _with_filter_reasons(verdicts: Sequence[schedule.HostVerdict],
                         problems: Sequence[errors.Problem]) -> list[schedule.HostVerdict]:
    """A filter the flavor needs and the scheduler lacks, as a failing scheduler reason on every host:
    the doctor's PCI-C001/C002 fail for the same config, so the schedule says it the same way
    (the hosts' fit stays the core's: the claim on the compute still decides there)."""
    if not problems:
        return list(verdicts)
    extra = tuple(schedule.Reason(Layer.SCHEDULER, f"{p.code}: {p.message}", 0,
                                  (schedule.Evidence(f"{p.file}:{p.line}" if p.file else "(default)",
                                                     p.entry or "[filter_scheduler] enabled_filters"),),
                                  schedfilters.severity(p.code))
                  for p in problems)
    down = any(p.code in SCHEDULER_DOWN for p in problems)  # nova-scheduler does not start: no host
    return [dataclasses.replace(v, reasons=(*v.reasons, *extra), fits=v.fits and not down,
                                nova_fits=v.nova_fits and not down) for v in verdicts]


#: Codes with which nova-scheduler stops at start: then no host is chosen.
SCHEDULER_DOWN = frozenset({"SchedulerHostFilterNotFound", "SchedulerClassNotFound"})


def _filter_warnings(nova: config.NovaConfig, reqs: Sequence[Any],
                     shape: numa.InstanceShape) -> list[errors.Problem]:
    out = []
    filters = list(nova.enabled_filters or [])
    src = nova.located("enabled_filters")
    file, line = (src.file, src.line) if src else (None, None)
    if reqs and PCI_FILTER not in filters:
        out.append(errors.Problem(
            code="PciFilterDisabled", file=file, line=line, entry="[filter_scheduler] enabled_filters",
            message=("PciPassthroughFilter is not in [filter_scheduler] enabled_filters: Nova's "
                     "scheduler ignores the PCI request, picks any host, and the compute claim "
                     "fails there (reschedule, then 'No valid host')"),
            hint="add PciPassthroughFilter to [filter_scheduler] enabled_filters"))
    numa_topology = numa.has_topology(shape.numa_nodes, shape.cpu_policy)
    if numa_topology and NUMA_FILTER not in filters:  # as the doctor's PCI-C002
        out.append(errors.Problem(
            code="NumaFilterDisabled", file=file, line=line, entry="[filter_scheduler] enabled_filters",
            message=("NUMATopologyFilter is not in [filter_scheduler] enabled_filters while the "
                     "flavor has a NUMA topology (hw:numa_nodes, or pinned CPUs): NUMA placement is "
                     "decided only at the compute"),
            hint="add NUMATopologyFilter to [filter_scheduler] enabled_filters"))
    return out
