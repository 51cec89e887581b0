"""NUMA: device locality against what the flavors' PCI NUMA policies demand.

The full fit (host cells x guest cells x pools) is the scheduling core's:
PCI-N002 asks it (``host_fit``), and asks it again with a near-miss
device_spec corrected, so the operator hears about NUMA before fixing an ID.
The other checks need only the devices' NUMA nodes and the policies in effect.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence

from pcipass.core import model, pools, requests, schedule, spec
from pcipass.core import numa as numa_mod
from pcipass.doctor import hypothesis, mapping
from pcipass.doctor import model as dm
from pcipass.doctor.checks import common
from pcipass.doctor.registry import check
from pcipass.core.layers import Layer

#: Policies under which a device must sit on (or beside) the instance's NUMA nodes: a device of
#: unknown NUMA node is unusable there.
STRICT = pools.UNKNOWN_NODE_EXCLUDED


def _request_devices(req: requests.PciRequest, config: dm.ConfigFacts,
                     devices: dm.DeviceFacts) -> list[model.Device]:
    return [d for d, _ in mapping.request_devices(req.specs, config, devices)]


@check("PCI-N001", Layer.NUMA, title="devices have a NUMA node where the policy requires one")
def unknown_numa(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts,
                 flavors: Sequence[dm.FlavorFacts]) -> Iterator[dm.Result]:
    """Firmware without PCI locality information makes sysfs report ``numa_node`` -1. Under the
    ``required`` and ``socket`` policies such devices are unusable for guests with a NUMA topology
    ("Dropped N device(s) as they are on the wrong NUMA node(s)"). Fails when every device a request
    could use has an unknown node; warns when some have. A paste that shows no device's NUMA node
    (lspci without ``-vmm`` on a NUMA host) says nothing about the firmware: the check skips."""
    unknown_source = devices.source != "sysfs" and all(d.numa_node is None for d in devices.devices)
    for fl in flavors:
        if not fl.uses_numa:
            continue
        for req in fl.requests:
            if req.numa_policy not in STRICT:
                continue
            usable = _request_devices(req, compute_config, devices)
            unknown = [d for d in usable if d.numa_node is None]
            if not unknown:
                continue
            if unknown_source:
                yield dm.result(dm.SKIP, f"flavor {fl.name!r}", f"the {devices.source} paste shows no "
                                "device's NUMA node (not collected: unknown, not -1), so whether policy "
                                f"{req.numa_policy!r} can use the devices is unknown")
                continue
            severity = dm.FAIL if len(unknown) == len(usable) else dm.WARN
            yield dm.result(
                severity, f"flavor {fl.name!r}",
                f"{len(unknown)} of the {len(usable)} device(s) for alias {req.alias_name!r} have no NUMA "
                f"node (numa_node -1) and policy {req.numa_policy!r} excludes them",
                [*(dm.Evidence(common.sysfs(d.address, "numa_node"), "-1") for d in unknown[:4])],
                f"openstack flavor set {common.sh(fl.name)} --property hw:pci_numa_affinity_policy=preferred "
                "(or legacy), or fix the firmware's ACPI _PXM/SRAT information")


@check("PCI-N003", Layer.NUMA, title="one NUMA node can serve a required request")
def count_per_node(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts,
                   flavors: Sequence[dm.FlavorFacts]) -> Iterator[dm.Result]:
    """A guest with one NUMA node and policy ``required`` takes all its devices from that node. When
    the host has enough devices in total but no single node holds the count the flavor asks for, no
    NUMA placement fits. Fails, with the count per node."""
    for fl in flavors:
        if not fl.uses_numa or (fl.numa_nodes or 1) != 1:
            continue
        for req in fl.requests:
            if req.numa_policy != pools.REQUIRED:
                continue
            usable = _request_devices(req, compute_config, devices)
            per_node: dict[int, int] = {}
            for d in usable:
                if d.numa_node is not None:
                    per_node[d.numa_node] = per_node.get(d.numa_node, 0) + 1
            best = max(per_node.values(), default=0)
            if best >= req.count or sum(per_node.values()) < req.count:  # unknown nodes: PCI-N001
                continue
            counts = ", ".join(f"node {n}: {c}" for n, c in sorted(per_node.items()))
            yield dm.result(
                dm.FAIL, f"flavor {fl.name!r}",
                f"alias {req.alias_name!r} asks {req.count} device(s) on the guest's one NUMA node under "
                f"'required', but no node has that many ({counts})",
                [fl.evidence(requests.ALIAS_KEY), fl.evidence(requests.POLICY_KEY)],
                f"openstack flavor set {common.sh(fl.name)} --property hw:numa_nodes=2, or --property "
                "hw:pci_numa_affinity_policy=preferred")


# -- PCI-N002: where the devices are vs where the instance can be placed ---------------------------

MAX_HYPOTHESES = 2
Matcher = Callable[[model.Device], "spec.SpecEntry | None"]


@check("PCI-N002", Layer.NUMA, title="the flavor's devices sit where the instance can be placed")
def device_numa_vs_fit(host_fit: dm.HostFit, devices: dm.DeviceFacts, compute_config: dm.ConfigFacts,
                       flavors: Sequence[dm.FlavorFacts], spec_map: Sequence[mapping.SpecRow],
                       controller_config: dm.ControllerFacts | None = None,
                       numa: dm.NumaFacts | None = None) -> Iterator[dm.Result]:
    """Under ``required`` (or ``socket``) the devices must sit on the NUMA node(s) the guest is placed
    on. When the devices the flavor's alias would use are on a node where the instance cannot be
    placed (too few CPUs or too little memory there, CPUs not in ``cpu_dedicated_set``, a
    ``hw:numa_nodes`` layout), NUMATopologyFilter rejects the host although both the devices and the
    CPUs exist. The scheduling core decides it, with the device NUMA nodes from sysfs and the cells'
    capacity as evidence. The check also runs on the near misses of a device_spec entry that matches
    nothing (or only the PFs), and of an alias asking ``type-VF`` with a PF's id: one hypothesis
    corrects the ID in every device_spec entry and alias the request depends on, and asks whether the
    flavor would fit. So the operator hears about NUMA before fixing the ID. Without
    ``cpu_dedicated_set`` a pinned guest is judged as if it held every CPU of each node, and the
    message says so. Fails; the fix moves the instance to the devices' node or relaxes
    ``hw:pci_numa_affinity_policy`` to ``preferred``."""
    if host_fit.broken is not None:
        return
    for fl in flavors:
        ff = host_fit.flavors.get(fl.name)
        if ff is None or ff.verdict is None or ff.verdict.fits or not fl.requests:
            continue
        guest = numa_mod.instance_cells(ff.shape)
        cells = host_fit.usable.cells
        feasible = _placements(cells, guest) if guest is not None else []
        if guest is None or not feasible:
            continue  # no NUMA topology, or the instance fits no node at all (PCI-C005 says so)
        ctx = _Fit(fl, ff, guest, cells, feasible, compute_config, controller_config,
                   dict(numa.cells) if numa is not None else {}, tuple(fl.requests))
        if _has_numa_reason(ff.verdict):
            yield from _stuck(ctx, lambda d: compute_config.matches.get(d.address), devices, None)
        for hyp in hypothesis.hypotheses(spec_map, fl.requests, devices)[:MAX_HYPOTHESES]:
            specs = hyp.corrected_specs(host_fit.usable.specs)
            reqs = hypothesis.corrected_requests(hyp, fl.requests)
            verdict = schedule.evaluate_host(host_fit.usable.devices, specs, reqs, cells, ff.shape)
            if verdict.fits or not _has_numa_reason(verdict):
                continue
            yield from _stuck(dataclasses.replace(ctx, reqs=tuple(reqs)), _matcher(specs), devices, hyp)


@dataclasses.dataclass(frozen=True, slots=True)
class _Fit:
    fl: dm.FlavorFacts
    ff: dm.FlavorFit
    guest: tuple[numa_mod.InstanceCell, ...]
    cells: tuple[numa_mod.HostCell, ...]
    feasible: list[tuple[numa_mod.HostCell, ...]]
    config: dm.ConfigFacts
    controller: dm.ControllerFacts | None
    node_cpus: Mapping[int, tuple[int, ...]]
    reqs: tuple[requests.PciRequest, ...]  # the flavor's requests, corrected under a hypothesis


def _has_numa_reason(verdict: schedule.HostVerdict) -> bool:
    return any(r.layer == Layer.NUMA for r in verdict.reasons)


def _placements(cells: Sequence[numa_mod.HostCell], guest: Sequence[numa_mod.InstanceCell],
                ) -> list[tuple[numa_mod.HostCell, ...]]:
    """Host cell tuples (one per guest cell) that hold the guest's CPUs and memory."""
    out = []
    for perm in itertools.islice(itertools.permutations(cells, len(guest)), numa_mod.MAX_PERMUTATIONS):
        if all(numa_mod.cell_miss(h, g) is None for h, g in zip(perm, guest)):
            out.append(perm)
    return out


def _enough(devs: Sequence[model.Device], need: int, placement: Sequence[numa_mod.HostCell],
            cells: Sequence[numa_mod.HostCell], policy: str) -> bool:
    """Would the pools' NUMA stage leave ``need`` of these devices to an instance on ``placement``?

    The core's rule (:func:`pools.filter_numa`, with the ``socket`` fallback), on one
    pool per NUMA node.
    """
    per_node: dict[int | None, int] = {}
    for d in devs:
        per_node[d.numa_node] = per_node.get(d.numa_node, 0) + 1
    by_node = [pools.Pool({"numa_node": n}, c) for n, c in per_node.items()]
    kept, _ = pools.filter_numa(by_node, pools.Request(need, (), numa_policy=policy),
                                [c.id for c in placement], {c.id: c.socket for c in cells})
    return sum(p.count for p in kept) >= need


def _stuck(ctx: _Fit, matcher: Matcher, devices: dm.DeviceFacts,
           hyp: hypothesis.Hypothesis | None) -> Iterator[dm.Result]:
    """One result per strict request whose devices suffice on some node set, but not on any set the
    instance can be placed on."""
    for req in ctx.reqs:
        policy = req.numa_policy or pools.LEGACY
        if policy not in STRICT:
            continue
        devs = [d for d in devices.devices if d.numa_node is not None
                and (e := matcher(d)) is not None
                and (hyp is None or not hyp.entries or e.index in hyp.indexes)
                and mapping.reaches(req.specs, d, e, devices)]
        anywhere = itertools.permutations(ctx.cells, len(ctx.guest))
        if not devs or not any(_enough(devs, req.count, p, ctx.cells, policy) for p in anywhere):
            continue  # too few devices per node: PCI-N003; none at all: PCI-S002/PCI-C005
        if any(_enough(devs, req.count, p, ctx.cells, policy) for p in ctx.feasible):
            continue
        yield _result(ctx, req, policy, devs, hyp)


def _result(ctx: _Fit, req: requests.PciRequest, policy: str, devs: Sequence[model.Device],
            hyp: hypothesis.Hypothesis | None) -> dm.Result:
    dev_nodes = sorted({d.numa_node for d in devs if d.numa_node is not None})
    fit_nodes = sorted({c.id for p in ctx.feasible for c in p})
    kind = _kinds(devs)
    where = ", ".join(map(str, dev_nodes))
    why = "; ".join(str(m) for m in _misses(ctx, dev_nodes)) or "another guest cell does not fit there"
    shape = ctx.ff.shape
    instance = (f"the instance ({shape.vcpus} vCPUs{' pinned' if shape.cpu_policy == numa_mod.DEDICATED else ''}, "
                f"{shape.memory_mb} MiB) can only be placed on NUMA node(s) {', '.join(map(str, fit_nodes))}")
    if hyp is None:
        message = (f"alias {req.alias_name!r} needs {req.count} device(s) under {policy!r}: the {len(devs)} "
                   f"{kind} it can use sit on NUMA node {where}, but {instance} ({why})")
    else:
        message = (f"after you fix the {hyp.field} {hyp.wanted} -> {hyp.got} in {hyp.where()}, these "
                   f"{len(devs)} {kind} on NUMA node {where} still won't fit alias "
                   f"{req.alias_name!r} under {policy}: {instance} ({why})")
    if _cpus_unset(ctx):
        message += (f"; [compute] cpu_dedicated_set is unset: judged as if it held every CPU of each NUMA "
                    "node (set it to the CPUs guests may pin, PCI-C004)")
    return dm.result(dm.FAIL, f"flavor {ctx.fl.name!r}", message, _evidence(ctx, req, devs, hyp),
                     _fix(ctx, dev_nodes))


def _cpus_unset(ctx: _Fit) -> bool:
    """A pinned guest on a compute without cpu_dedicated_set (or vcpu_pin_set): the cells hold every CPU."""
    nova = ctx.config.nova
    return (ctx.ff.shape.cpu_policy == numa_mod.DEDICATED and not nova.cpu_dedicated_set
            and not nova.vcpu_pin_set)


def _kinds(devs: Sequence[model.Device]) -> str:
    types = {d.dev_type for d in devs}
    return model.device_noun(types.pop() if len(types) == 1 else None, count=2)


def _misses(ctx: _Fit, nodes: Sequence[int]) -> list[numa_mod.CellMiss]:
    by_id = {c.id: c for c in ctx.cells}
    out = []
    for n in nodes:
        miss = numa_mod.cell_miss(by_id[n], ctx.guest[0]) if n in by_id else None
        if miss is not None:
            out.append(miss)
    return out


def _evidence(ctx: _Fit, req: requests.PciRequest, devs: Sequence[model.Device],
              hyp: hypothesis.Hypothesis | None) -> list[dm.Evidence]:
    out = [dm.Evidence(common.sysfs(d.address, "numa_node"), str(d.numa_node)) for d in devs[:2]]
    for c in ctx.cells:
        online = ctx.node_cpus.get(c.id)
        has = f"CPUs {_cpus(frozenset(online))}: " if online is not None else ""
        out.append(dm.Evidence(f"sys/devices/system/node/node{c.id}",
                               f"{has}{len(c.pcpus)} dedicated {_cpus(c.pcpus)}, {len(c.cpus)} shared "
                               f"{_cpus(c.cpus)}; {c.memory_mb} MiB"))
    nova = ctx.config.nova
    if nova.cpu_dedicated_set is not None:
        ov = nova.located("cpu_dedicated_set")
        out.append(dm.Evidence(ov.file or "(config)", f"cpu_dedicated_set = {ov.value}", ov.line)
                   if ov is not None else dm.Evidence("(config)", f"cpu_dedicated_set = {nova.cpu_dedicated_set}"))
    if ctx.fl.extra_specs.get(requests.POLICY_KEY):
        out.append(ctx.fl.evidence(requests.POLICY_KEY))
    if ctx.controller is not None and req.alias_name and (
            not ctx.fl.extra_specs.get(requests.POLICY_KEY) or (hyp is not None and req.alias_name in hyp.aliases)):
        out.append(ctx.controller.alias_source(req.alias_name))
    for key in ("hw:numa_nodes", "hw:cpu_policy"):
        if key in ctx.fl.extra_specs:
            out.append(ctx.fl.evidence(key))
    if hyp is not None:
        out.extend(ctx.config.source_of(e) for e in hyp.entries)
    return out


def _cpus(cpus: frozenset[int]) -> str:
    return "(" + ",".join(map(str, sorted(cpus))) + ")" if cpus else "(none)"


def _fix(ctx: _Fit, dev_nodes: Sequence[int]) -> str:
    name = ctx.fl.name
    relax = f"openstack flavor set {common.sh(name)} --property hw:pci_numa_affinity_policy=preferred"
    steps = []
    by_id = {c.id: c for c in ctx.cells}
    for miss in _misses(ctx, dev_nodes):
        cell = by_id[miss.host]
        online = frozenset(ctx.node_cpus.get(cell.id, ())) | cell.cpus | cell.pcpus
        if miss.resource.endswith("CPUs") and len(online) >= miss.need:
            option = "cpu_dedicated_set" if miss.resource == "dedicated CPUs" else "cpu_shared_set"
            steps.append(f"add NUMA node {miss.host}'s CPUs {_cpus(online - cell.pcpus - cell.cpus)} to "
                         f"[compute] {option}")
        elif miss.resource == "MiB of memory":
            steps.append(f"use a flavor with at most {miss.have * len(ctx.guest)} MiB RAM")
        else:
            steps.append(f"use a flavor with at most {miss.have * len(ctx.guest)} vCPUs (node {miss.host} "
                         f"has {miss.have} {miss.resource})")
    place = "; ".join(dict.fromkeys(steps)) or f"place the instance on NUMA node {', '.join(map(str, dev_nodes))}"
    return f"pin/resize the flavor to fit node {', '.join(map(str, dev_nodes))}: {place}; or relax the policy: {relax}"


def _matcher(specs: Sequence[spec.SpecEntry]) -> Matcher:
    def match(dev: model.Device) -> spec.SpecEntry | None:
        try:
            return spec.first_match(specs, dev)
        except mapping.MALFORMED_DEVICE_ADDRESS:  # a malformed device address matches nothing
            return None
    return match
