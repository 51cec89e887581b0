"""Would an instance land on this host, and if not, why? (nova-pci.md §4, §7, §9.8)

:func:`evaluate_host` plays Nova's two PCI-aware scheduler filters on one host
(PciPassthroughFilter: ``support_requests`` without NUMA cells;
NUMATopologyFilter: the NUMA fit with a PCI check per placement) and then the
compute claim (the NUMA fit again on the compute's pools, then
``consume_requests``). Every matched device counts as free (bundles carry no
allocation state).

``fits`` is the improved answer: the scheduler passes *and* the claim would
succeed, so the PF/VF dependency is honoured (one PF and one VF of the only
PF: Nova's scheduler says yes, the claim fails and Nova reschedules).
``nova_fits`` is what Nova's scheduler decides; ``evaluate_host(...,
nova_compatible=True)`` makes ``fits`` equal to it.

A "no" comes with :class:`Reason` records: the layer, a sentence a new user
can act on, the number of devices dropped and the evidence. A request that
matches no pool at all gets a near-miss analysis (what its spec wants, what
the host has).

:func:`rank_hosts` is Nova's PCIWeigher (``100 - min(free, 99)``,
normalized across the hosts that fit, times ``pci_weight_multiplier``), with
ties broken by "fits on one NUMA node" and then the host name.
:class:`FleetIndex` answers "which hosts fit" over many hosts at once.
:func:`parse_port` turns ``--port vnic_type=...,physnet=...`` into the request
Nova makes for a Neutron SR-IOV port.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pcipass.core import alias as alias_mod
from pcipass.core import errors, model, numa, pools, spec

MAX_DEVS = 100
#: Placements whose PCI rejection is explained in reasons (Nova may try many more).
MAX_EXPLAINED_PLACEMENTS = 4

VNIC_DEV_TYPE = {"direct-physical": model.TYPE_PF, "vdpa": model.TYPE_VDPA}
SRIOV_VNIC_TYPES = ("direct", "macvtap", "direct-physical", "virtio-forwarder", "vdpa",
                    "remote-managed")
NON_PCI_VNIC_TYPES = ("normal", "baremetal", "smart-nic", "accelerator-direct",
                      "accelerator-direct-physical")
PORT_KEYS = ("vnic_type", "physnet", "trusted", "numa_policy")


class InvalidPortRequest(errors.InputError):
    """A ``--port`` value pcipass cannot turn into a Neutron port request."""

    msg_fmt = "Invalid --port value %(value)r: %(reason)s"


# -- values ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Evidence:
    """One fact behind a reason: where it comes from and what it says."""

    source: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "value": self.value}


@dataclasses.dataclass(frozen=True, slots=True)
class Reason:
    """Why (part of) a host was rejected: the contract's Reason object."""

    layer: str
    message: str
    dropped: int = 0
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "message": self.message, "dropped": self.dropped,
                "evidence": [e.to_dict() for e in self.evidence]}


@dataclasses.dataclass(frozen=True, slots=True)
class ChosenDevice:
    """A device the compute claim would give the instance."""

    address: str
    dev_type: str | None
    numa_node: int | None
    alias_name: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "dev_type": self.dev_type, "numa_node": self.numa_node,
                "alias_name": self.alias_name}


@dataclasses.dataclass(frozen=True, slots=True)
class HostVerdict:
    """The answer for one host.

    :ivar fits: the instance would boot here (scheduler and claim agree), or,
        with ``nova_compatible``, Nova's scheduler would pick it.
    :ivar nova_fits: Nova's scheduler filters pass.
    :ivar claim_ok: the compute claim succeeds (None: not reached).
    :ivar free: free PCI devices (the PCIWeigher's input).
    :ivar weight: set by :func:`rank_hosts`.
    """

    name: str
    fits: bool
    nova_fits: bool
    claim_ok: bool | None
    devices: tuple[ChosenDevice, ...] = ()
    instance_numa_nodes: tuple[int, ...] | None = None
    reasons: tuple[Reason, ...] = ()
    free: int = 0
    weight: float = 0.0

    @property
    def one_numa_node(self) -> bool:
        """Instance cells and chosen devices all sit on one known NUMA node."""
        nodes: set[int | None] = set(self.instance_numa_nodes or ())
        nodes.update(d.numa_node for d in self.devices)
        return len(nodes) == 1 and None not in nodes

    @property
    def raw_weight(self) -> int:
        """Nova's PCIWeigher before normalization."""
        return MAX_DEVS - min(self.free, MAX_DEVS - 1)

    def to_dict(self) -> dict[str, Any]:
        nodes = None if self.instance_numa_nodes is None else list(self.instance_numa_nodes)
        return {"name": self.name, "fits": self.fits, "instance_numa_nodes": nodes,
                "devices": [d.to_dict() for d in self.devices],
                "reasons": [r.to_dict() for r in self.reasons], "weight": self.weight}


@dataclasses.dataclass(frozen=True, slots=True)
class HostInput:
    """One host as the scheduler core needs it: devices, parsed device_spec, NUMA cells."""

    name: str
    devices: tuple[model.Device, ...]
    specs: tuple[spec.SpecEntry, ...]
    cells: tuple[numa.HostCell, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Ranking:
    """Hosts in Nova's order (fitting ones by weight, then the rest by name) and the winner."""

    hosts: tuple[HostVerdict, ...]
    chosen: str | None


# -- requests ---------------------------------------------------------------------------------


def parse_port(value: str, position: int = 0, flavor_policy: str | None = None) -> pools.Request:
    """Turn ``vnic_type=direct,physnet=NAME[,trusted=true][,numa_policy=...]`` into Nova's port request.

    As nova/network/neutron.py ``create_resource_requests`` does: one device;
    spec ``physical_network`` (None when ``physnet`` is omitted, i.e. a
    tunnelled network), ``remote_managed`` ``"True"``/``"False"`` from the vnic
    type, ``dev_type`` ``type-PF`` for ``direct-physical`` (``vdpa`` for
    ``vdpa``), ``trusted`` as ``str(bool)`` when given; no alias name; the
    port's NUMA policy wins over the flavor/image one.

    :raises InvalidPortRequest: unknown or repeated key, missing or non-SR-IOV
        vnic_type, a trusted value oslo cannot read, an unknown NUMA policy.
    """
    fields = _port_fields(value)
    vnic = fields.get("vnic_type")
    if vnic is None:
        raise InvalidPortRequest(value=value, reason="vnic_type is missing",
                                 hint="e.g. --port vnic_type=direct,physnet=physnet1")
    if vnic not in SRIOV_VNIC_TYPES:
        why = "it needs no PCI device" if vnic in NON_PCI_VNIC_TYPES else "unknown vnic_type"
        raise InvalidPortRequest(value=value, reason=f"vnic_type {vnic!r}: {why}",
                                 hint="SR-IOV vnic types: " + ", ".join(SRIOV_VNIC_TYPES))
    physnet = fields.get("physnet") or None
    entry: dict[str, str | None] = {"physical_network": physnet,
                                    "remote_managed": str(vnic == "remote-managed")}
    if vnic in VNIC_DEV_TYPE:
        entry["dev_type"] = VNIC_DEV_TYPE[vnic]
    if "trusted" in fields:
        entry["trusted"] = str(_port_bool(value, fields["trusted"]))
    policy = fields.get("numa_policy") or None
    if policy is not None and policy not in alias_mod.NUMA_POLICIES:
        raise InvalidPortRequest(value=value, reason=f"numa_policy {policy!r} is not a policy",
                                 hint="one of " + ", ".join(alias_mod.NUMA_POLICIES))
    label = f"port {position + 1} ({vnic}, physnet {physnet})" if physnet else \
        f"port {position + 1} ({vnic}, no physnet)"
    return pools.Request(1, (entry,), None, policy or flavor_policy, f"port-{position}", label)


def _port_fields(value: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep:
            raise InvalidPortRequest(value=value, reason=f"{item.strip()!r} is not key=value",
                                     hint="keys: " + ", ".join(PORT_KEYS))
        if key not in PORT_KEYS:
            close = difflib.get_close_matches(key, PORT_KEYS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "keys: " + ", ".join(PORT_KEYS)
            raise InvalidPortRequest(value=value, reason=f"unknown key {key!r}", hint=hint)
        if key in fields:
            raise InvalidPortRequest(value=value, reason=f"{key} given twice")
        fields[key] = val.strip()
    return fields


def _port_bool(value: str, text: str) -> bool:
    try:
        return spec.strict_bool(text)
    except ValueError as exc:
        raise InvalidPortRequest(value=value, reason=f"trusted: {exc}") from None


def build_requests(flavor_requests: Iterable[Any], ports: Sequence[str] = (),
                   flavor_policy: str | None = None) -> list[pools.Request]:
    """Flavor requests first, then one request per ``--port``, in Nova's order."""
    out = [pools.as_request(r, i) for i, r in enumerate(flavor_requests)]
    out.extend(parse_port(p, i, flavor_policy) for i, p in enumerate(ports))
    return out


# -- one host ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class HostPools:
    """A host's pools, built once and shared by every flavor evaluated on it.

    Neither view is ever consumed in place (support and claims work on copies).
    """

    compute: pools.PciStats
    view: pools.PciStats


def host_pools(host_devices: Sequence[model.Device], specs: Sequence[spec.SpecEntry],
               numa_cells: Sequence[numa.HostCell] = ()) -> HostPools:
    """The compute's pools of a host (every matched device free) and the scheduler's view."""
    compute = pools.build(host_devices, specs, {c.id: c.socket for c in numa_cells})
    return HostPools(compute, compute.scheduler_view())


def evaluate_host(host_devices: Sequence[model.Device], specs: Sequence[spec.SpecEntry],
                  requests: Sequence[Any], numa_cells: Sequence[numa.HostCell] = (),
                  instance_shape: numa.InstanceShape | None = None, *, name: str = "",
                  instance_numa_nodes: Sequence[int] | None = None,
                  nova_compatible: bool = False, prebuilt: HostPools | None = None) -> HostVerdict:
    """Decide whether the instance fits this host, with Nova's decisions and our reasons.

    :param requests: ``requests.PciRequest`` or :class:`pools.Request` values, flavor ones first.
    :param numa_cells: the host's NUMA cells (:func:`numa.host_cells`); empty: no NUMA topology.
    :param instance_shape: vCPUs/RAM/NUMA of the flavor; None: CPU and RAM are not considered
        and the instance has a NUMA topology only when ``instance_numa_nodes`` is given.
    :param instance_numa_nodes: pin the guest cells to these host nodes ("what if").
    :param prebuilt: :func:`host_pools` of the same devices, specs and cells, to reuse.
    :raises numa.InstanceNumaNodesMismatch, numa.ImageNUMATopologyAsymmetric,
        numa.UnsupportedTopology: the instance layout is contradictory or not modelled.
    """
    reqs = [pools.as_request(r, i) for i, r in enumerate(requests)]
    guest = _guest(instance_shape, instance_numa_nodes)
    built = prebuilt if prebuilt is not None else host_pools(host_devices, specs, numa_cells)
    compute, view = built.compute, built.view
    ctx = _Context(reqs, compute, view, host_devices, specs)
    verdict = _scheduler(ctx, numa_cells, guest, instance_numa_nodes)
    verdict = dataclasses.replace(verdict, name=name, free=view.free)
    if not verdict.nova_fits or not reqs:
        return dataclasses.replace(verdict, fits=verdict.nova_fits)
    claimed = _claim(ctx, numa_cells, guest, instance_numa_nodes)
    if claimed.claim_ok or not nova_compatible:
        return dataclasses.replace(claimed, name=name, free=view.free)
    return dataclasses.replace(claimed, name=name, free=view.free, fits=True,
                               instance_numa_nodes=verdict.instance_numa_nodes)


def _guest(shape: numa.InstanceShape | None, pinned: Sequence[int] | None,
           ) -> tuple[numa.InstanceCell, ...] | None:
    if shape is None:
        if pinned is None:
            return None
        shape = numa.InstanceShape(vcpus=len(pinned), memory_mb=0)
    return numa.instance_cells(shape, pinned)


@dataclasses.dataclass
class _Context:
    reqs: list[pools.Request]
    compute: pools.PciStats
    view: pools.PciStats
    devices: Sequence[model.Device]
    specs: Sequence[spec.SpecEntry]


def _scheduler(ctx: _Context, cells: Sequence[numa.HostCell],
               guest: tuple[numa.InstanceCell, ...] | None, pinned: Sequence[int] | None,
               ) -> HostVerdict:
    """PciPassthroughFilter, then NUMATopologyFilter, on the scheduler's pools."""
    if ctx.reqs:
        passed = ctx.view.support(ctx.reqs)
        if not passed.ok:
            return HostVerdict("", False, False, None, reasons=tuple(_pci_reasons(ctx, passed)))
    if guest is None:
        return HostVerdict("", True, True, None)
    fitted = _numa_fit(ctx.view, ctx.reqs, cells, guest, pinned)
    if fitted.nodes is None:
        return HostVerdict("", False, False, None, reasons=tuple(_numa_reasons(ctx, fitted, cells, guest)))
    return HostVerdict("", True, True, None, instance_numa_nodes=fitted.nodes)


def _numa_fit(stats: pools.PciStats, reqs: Sequence[pools.Request], cells: Sequence[numa.HostCell],
              guest: Sequence[numa.InstanceCell], pinned: Sequence[int] | None) -> numa.NumaFit:
    memo: dict[tuple[int, ...], bool] = {}

    def check(nodes: tuple[int, ...]) -> bool:
        if nodes not in memo:
            memo[nodes] = stats.support(reqs, nodes).ok
        return memo[nodes]

    return numa.fit(cells, guest, pci_check=check if reqs else None,
                    pci_per_node=stats.free_per_node(), pinned=pinned)


def _claim(ctx: _Context, cells: Sequence[numa.HostCell],
           guest: tuple[numa.InstanceCell, ...] | None, pinned: Sequence[int] | None,
           ) -> HostVerdict:
    """The compute claim: NUMA fit on the compute's pools, then consume_requests on a copy."""
    nodes: tuple[int, ...] | None = None
    if guest is not None:
        fitted = _numa_fit(ctx.compute, ctx.reqs, cells, guest, pinned)
        if fitted.nodes is None:
            reasons = [Reason("scheduler", "Nova's scheduler accepts this host but the compute's own "
                              "NUMA check fails, so Nova reschedules (tag values differ between "
                              "the scheduler's and the compute's view of the pools)")]
            reasons += _numa_reasons(ctx, fitted, cells, guest)
            return HostVerdict("", False, True, False, reasons=tuple(reasons))
        nodes = fitted.nodes
    outcome = ctx.compute.can_fit(ctx.reqs, nodes)
    if outcome.ok:
        chosen = tuple(ChosenDevice(d.address, d.device.dev_type, d.device.numa_node,
                                    ctx.reqs[i].alias_name) for i, d in outcome.devices)
        return HostVerdict("", True, True, True, chosen, nodes)
    return HostVerdict("", False, True, False, instance_numa_nodes=nodes,
                       reasons=tuple(_claim_reasons(ctx, outcome, nodes)))


# -- reasons ----------------------------------------------------------------------------------


def _pci_reasons(ctx: _Context, outcome: pools.Outcome, prefix: str = "",
                 numa_cells: Sequence[int] | None = None) -> list[Reason]:
    """Reasons for a failed support/claim: the failing request's drops, explained."""
    index = outcome.failed_request
    if index is None:
        return []
    req = ctx.reqs[index]
    if index and ctx.view.support([req], numa_cells).ok:
        return _taken_by_earlier(ctx, index, numa_cells, prefix)
    out: list[Reason] = []
    for drop in outcome.drops:
        if drop.request != index or (drop.stage == "spec" and not drop.failed):
            continue
        out.extend(_drop_reasons(ctx, req, drop, prefix))
    return out


def _drop_reasons(ctx: _Context, req: pools.Request, drop: pools.Drop, prefix: str) -> list[Reason]:
    layer = _request_layer(req)
    if drop.stage == "spec":
        return _spec_reasons(ctx, req, drop, prefix)
    if drop.stage == "no_pool":
        return [Reason(layer, f"{prefix}{req.label} asks for 0 devices and no pool is left for it; "
                       "Nova rejects the host anyway", 0, _request_evidence(req))]
    out = []
    for info in drop.pools:
        out.append(Reason(_stage_layer(drop.stage, layer),
                          f"{prefix}{info.describe()} dropped: {_stage_why(drop, req, info)}",
                          info.count, (Evidence("pool", _pool_text(info)),
                                       *_request_evidence(req))))
    if drop.failed:
        out.append(Reason(_stage_layer(drop.stage, layer),
                          f"{prefix}{req.label} needs {drop.needed} device(s); "
                          f"{drop.remaining} left after that", 0, _request_evidence(req)))
    return out


def _stage_layer(stage: str, request_layer: str) -> str:
    return {"numa": "numa", "placement": "placement"}.get(stage, request_layer)


def _stage_why(drop: pools.Drop, req: pools.Request, info: pools.PoolInfo) -> str:
    if drop.stage == "numa":
        return drop.detail
    if drop.stage == "unrequested_pf":
        how = "vnic_type direct-physical" if req.is_port else "an alias with device_type type-PF"
        return f"Nova hands out a PF only to a request that names it ({how})"
    if drop.stage == "unrequested_vdpa":
        return "vDPA devices go only to ports with vnic_type vdpa"
    if drop.stage == "unrequested_remote_managed":
        return ("they are remote_managed (SmartNIC/DPU); only vnic_type remote-managed ports "
                "get them")
    if drop.stage == "live_migratable":
        wanted = req.specs[0].get("live_migratable") if req.specs else None
        return f"{req.label} wants live_migratable={wanted}; these have {info.get('live_migratable')}"
    return drop.why


def _spec_reasons(ctx: _Context, req: pools.Request, drop: pools.Drop, prefix: str) -> list[Reason]:
    layer = _request_layer(req)
    if drop.remaining:
        return [Reason(layer, f"{prefix}{req.label} needs {drop.needed} device(s); only "
                       f"{drop.remaining} match its spec", drop.dropped, _request_evidence(req))]
    out = [_near_miss(ctx, req, prefix)]
    unlisted = _unlisted(ctx, req)
    if unlisted:
        sample = unlisted[0]
        kind = _kind(sample.dev_type, len(unlisted))
        out.append(Reason("device_spec", f"{len(unlisted)} {kind} {sample.vendor_id}:"
                          f"{sample.product_id} would match {req.label} but no [pci] device_spec "
                          "entry allows them", len(unlisted),
                          tuple(Evidence("device", d.address) for d in unlisted[:8])))
    return out


def _near_miss(ctx: _Context, req: pools.Request, prefix: str) -> Reason:
    """``alias 'nic' matches no device: its spec wants 8086:154c, this host has VFs 8086:10ed``."""
    layer = _request_layer(req)
    pools_now = ctx.view.snapshot()
    wanted = " or ".join(_spec_text(s) for s in req.specs) or "any device"
    if not pools_now:
        closest = _closest_devices(ctx.devices, req.specs)
        seen = f"; closest devices on this host: {closest}" if closest else ""
        return Reason("device_spec", f"{prefix}{req.label} matches no device: its spec wants "
                      f"{wanted}, and this host has no assignable device (no [pci] device_spec "
                      f"entry matches any of its devices){seen}", 0, _request_evidence(req))
    scored = sorted(((_misses(s, p), p) for s in req.specs for p in pools_now),
                    key=lambda t: len(t[0]))
    best = len(scored[0][0]) if scored else 0
    close = [(m, p) for m, p in scored if len(m) == best]
    has = "; ".join(_have_text(p, m) for m, p in _unique(close)[:4])
    evidence = (*_request_evidence(req),
                *(Evidence("pool", _pool_text(p)) for _, p in _unique(close)[:4]))
    return Reason(layer, f"{prefix}{req.label} matches no device: its spec wants {wanted}, this "
                  f"host has {has}", 0, evidence)


def _closest_devices(devices: Sequence[model.Device],
                     wanted: Sequence[Mapping[str, Any]]) -> str:
    """Devices sharing the wanted vendor (same type first), grouped: ``4 VFs 8086:10ed``."""
    vendors = {w.get("vendor_id", "").lower() for w in wanted if w.get("vendor_id")}
    types = {w.get("dev_type") for w in wanted if w.get("dev_type")}
    groups: dict[tuple[int, str | None, str, str], int] = {}
    for dev in devices:
        if vendors and dev.vendor_id.lower() not in vendors:
            continue
        if (dev.class_code or "").startswith("0604"):
            continue  # PCI bridges and root ports are never what an alias means
        rank = 0 if not types or dev.dev_type in types else 1
        key = (rank, dev.dev_type, dev.vendor_id, dev.product_id)
        groups[key] = groups.get(key, 0) + 1
    ordered = sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1:]))
    return ", ".join(f"{n} {_kind(t, n)} {v}:{p}" for (_, t, v, p), n in ordered[:4])


def _misses(wanted: Mapping[str, Any], info: pools.PoolInfo) -> tuple[str, ...]:
    key = dict(info.key)
    return tuple(k for k, v in wanted.items() if k not in ("resource_class", "traits", "rp_uuids")
                 and not pools._spec_matches(key, {k: v}))


def _unique(items: list[tuple[tuple[str, ...], pools.PoolInfo]],
            ) -> list[tuple[tuple[str, ...], pools.PoolInfo]]:
    seen: set[str] = set()
    out = []
    for misses, info in items:
        text = _have_text(info, misses)
        if text not in seen:
            seen.add(text)
            out.append((misses, info))
    return out


def _have_text(info: pools.PoolInfo, misses: Sequence[str]) -> str:
    kind = _kind(info.dev_type, info.count)
    base = f"{kind} {info.get('vendor_id')}:{info.get('product_id')}"
    extra = [f"{k}={info.get(k)}" if info.get(k) is not None else f"no {k} tag"
             for k in misses if k not in ("vendor_id", "product_id", "dev_type")]
    return base + (f" ({', '.join(extra)})" if extra else "")


def _spec_text(wanted: Mapping[str, Any]) -> str:
    vendor, product = wanted.get("vendor_id"), wanted.get("product_id")
    parts = []
    if vendor or product:
        parts.append(f"{vendor or '*'}:{product or '*'}")
    parts += [f"{k}={v}" for k, v in wanted.items() if k not in ("vendor_id", "product_id")]
    return " ".join(parts) or "any device"


def _unlisted(ctx: _Context, req: pools.Request) -> list[model.Device]:
    """Devices no device_spec matched whose ids and type would satisfy the request."""
    pooled = {d.address for p in ctx.compute.pools for d in p.devices}
    out = []
    for dev in ctx.devices:
        if dev.address in pooled:
            continue
        probe = {"vendor_id": dev.vendor_id, "product_id": dev.product_id, "dev_type": dev.dev_type}
        for wanted in req.specs:
            keys = {k: v for k, v in wanted.items() if k in probe}
            special = dev.dev_type in (model.TYPE_PF, model.TYPE_VDPA)
            if special and keys.get("dev_type") != dev.dev_type:
                continue  # Nova never gives PFs or vDPA devices to requests that do not name them
            if pools._spec_matches(probe, keys):
                out.append(dev)
                break
    return out


def _taken_by_earlier(ctx: _Context, index: int, numa_cells: Sequence[int] | None,
                      prefix: str) -> list[Reason]:
    """The request would fit on its own: the earlier requests took (or, at the claim,
    blocked through the PF/VF dependency) the devices it could use."""
    earlier = ctx.reqs[:index]
    taken = ctx.compute.can_fit(earlier, numa_cells)
    evidence = [Evidence("taken", f"{earlier[i].label}: {_kind(d.device.dev_type, 1)} {d.address}")
                for i, d in taken.devices]
    names = ", ".join(r.label for r in earlier)
    pfs = [d for _, d in taken.devices if d.device.dev_type == model.TYPE_PF]
    vfs = [d for _, d in taken.devices if d.device.dev_type in (model.TYPE_VF, model.TYPE_VDPA)]
    blocked = ""
    if pfs:
        blocked = f"; taking PF {pfs[0].address} also takes its VFs out of the pools"
    elif vfs:
        blocked = f"; taking VF {vfs[0].address} also takes its PF out of the pools"
    req = ctx.reqs[index]
    return [Reason("scheduler", f"{prefix}{req.label} alone would fit, but the earlier request(s) "
                   f"{names} already took the devices it could use{blocked}", 0,
                   (*_request_evidence(req), *evidence[:8]))]


def _numa_reasons(ctx: _Context, fitted: numa.NumaFit, cells: Sequence[numa.HostCell],
                  guest: Sequence[numa.InstanceCell]) -> list[Reason]:
    ids = ",".join(str(c.id) for c in cells) or "none"
    if fitted.unknown_nodes:
        return [Reason("numa", f"--instance-numa-nodes names node(s) "
                       f"{','.join(map(str, fitted.unknown_nodes))}; this host has NUMA node(s) {ids}",
                       0, (Evidence("host", f"NUMA nodes {ids}"),))]
    if fitted.too_few_cells:
        what = "reports no NUMA topology" if not cells else f"has {len(cells)} NUMA node(s) ({ids})"
        return [Reason("numa", f"the instance needs {len(guest)} NUMA node(s); this host {what}",
                       0, (Evidence("flavor", f"{len(guest)} guest NUMA cell(s)"),))]
    out = [Reason("numa", str(m), 0, (Evidence("host", f"NUMA node {m.host}"),))
           for m in fitted.misses]
    for placement in fitted.pci_rejected[:MAX_EXPLAINED_PLACEMENTS]:
        where = ",".join(map(str, placement))
        outcome = ctx.view.support(ctx.reqs, placement)
        out.extend(_pci_reasons(ctx, outcome, f"with the instance on NUMA node(s) {where}: ",
                                placement))
    return out


def _claim_reasons(ctx: _Context, outcome: pools.Outcome, nodes: tuple[int, ...] | None,
                   ) -> list[Reason]:
    head = Reason("scheduler", "Nova's scheduler accepts this host, but the compute claim fails and "
                  "Nova reschedules: taking a PF removes its VFs from the pools and taking a VF "
                  "removes its PF (nova-pci.md §9.8)", 0,
                  tuple(Evidence("request", r.label) for r in ctx.reqs))
    if outcome.crashed:
        return [dataclasses.replace(head, message=head.message + "; Nova's claim itself crashes here "
                                    "(a pool emptied under it)")]
    return [head, *_pci_reasons(ctx, outcome, "at the claim: ", nodes)]


def _request_layer(req: pools.Request) -> str:
    return "neutron" if req.is_port else "flavor"


def _request_evidence(req: pools.Request) -> tuple[Evidence, ...]:
    specs = " or ".join("{" + ", ".join(f"{k}: {v}" for k, v in s.items()) + "}" for s in req.specs)
    out = [Evidence("request", f"{req.label}: {req.count} x {specs or '{}'}")]
    if req.numa_policy:
        out.append(Evidence("policy", req.numa_policy))
    return tuple(out)


def _pool_text(info: pools.PoolInfo) -> str:
    return ", ".join(f"{k}={v}" for k, v in info.key)


def _kind(dev_type: str | None, count: int) -> str:
    names = {model.TYPE_VF: "VF", model.TYPE_PF: "PF", model.TYPE_PCI: "PCI device",
             model.TYPE_VDPA: "vDPA device"}
    name = names.get(dev_type or "", "device")
    return name + ("s" if count != 1 else "")


# -- ranking ----------------------------------------------------------------------------------


def normalize(values: Sequence[float]) -> list[float]:
    """Nova's ``weights.normalize``: min-max to [0, 1]; all equal -> all 0."""
    if not values:
        return []
    low, high = float(min(values)), float(max(values))
    if low == high:
        return [0.0] * len(values)
    return [(v - low) / (high - low) for v in values]


def rank_hosts(verdicts: Sequence[HostVerdict],
               multiplier: float | Mapping[str, float] = 1.0) -> Ranking:
    """PCIWeigher over the hosts that fit, then "fits on one NUMA node", then the host name.

    Nova weighs only hosts that passed the filters, and a single host is not
    weighed at all (weight 0.0). Hosts that do not fit keep weight 0.0 and come
    last, by name. ``multiplier`` is ``pci_weight_multiplier``, or per host
    (aggregate metadata overrides).
    """
    fitting = [v for v in verdicts if v.fits]
    weights = [0.0] * len(fitting)
    if len(fitting) > 1:
        normalized = normalize([float(v.raw_weight) for v in fitting])
        weights = [_multiplier(multiplier, v.name) * w for v, w in zip(fitting, normalized)]
    weighed = [dataclasses.replace(v, weight=w) for v, w in zip(fitting, weights)]
    weighed.sort(key=lambda v: (-v.weight, not v.one_numa_node, v.name))
    rest = sorted((dataclasses.replace(v, weight=0.0) for v in verdicts if not v.fits),
                  key=lambda v: v.name)
    return Ranking(tuple(weighed + rest), weighed[0].name if weighed else None)


def _multiplier(value: float | Mapping[str, float], name: str) -> float:
    if isinstance(value, Mapping):
        return float(value.get(name, 1.0))
    return float(value)


# -- fleets -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class FleetAnswer:
    """Hosts that fit (input order) and how many distinct host shapes had to be evaluated."""

    fits: tuple[str, ...]
    evaluated: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Shape:
    """Hosts with the same pools up to counts and PF addresses, and the same NUMA cells."""

    keys: tuple[dict[str, Any], ...]
    cells: tuple[numa.HostCell, ...]
    plain: bool


class FleetIndex:
    """"Which hosts fit?" for many hosts, without evaluating each host.

    Build time groups hosts by shape: the scheduler pools with PF addresses
    and ``parent_ifname`` replaced by their rank in the host (requests never
    name them), plus the NUMA cells. A query caps each pool count at the total
    requested + 1 (no filter or greedy subtraction can tell larger counts
    apart) and evaluates each distinct (shape, capped counts) once.

    Nova's scheduler answer needs nothing more. The claim (``improved=True``)
    can differ from it only when the requests mix PF and non-PF specs (the
    PF/VF dependency) or a pool tag is not a string (the compute keeps JSON
    types); only then are the hosts that pass re-checked one by one.
    """

    def __init__(self, hosts: Sequence[HostInput], shapes: list[_Shape],
                 groups: list[dict[tuple[int, ...], list[int]]], free: list[int]) -> None:
        self.hosts = hosts
        self._shapes = shapes
        self._groups = groups
        self.free = free

    @classmethod
    def build(cls, hosts: Iterable[HostInput]) -> FleetIndex:
        """Index the hosts; pools are computed once per distinct (devices, specs) object pair."""
        listed = list(hosts)
        shape_ids: dict[Any, int] = {}
        shapes: list[_Shape] = []
        groups: list[dict[tuple[int, ...], list[int]]] = []
        free: list[int] = []
        built: dict[tuple[int, int], tuple[Any, tuple[dict[str, Any], ...], tuple[int, ...], bool]] = {}
        for index, host in enumerate(listed):
            memo_key = (id(host.devices), id(host.specs))
            if memo_key not in built:
                built[memo_key] = _canonical(pools.build(host.devices, host.specs))
            signature, keys, counts, plain = built[memo_key]
            full = (signature, host.cells)
            sid = shape_ids.get(full)
            if sid is None:
                sid = shape_ids[full] = len(shapes)
                shapes.append(_Shape(keys, host.cells, plain))
                groups.append({})
            groups[sid].setdefault(counts, []).append(index)
            free.append(sum(counts))
        return cls(listed, shapes, groups, free)

    def query(self, requests: Sequence[Any], instance_shape: numa.InstanceShape | None = None, *,
              policy: str | None = None, instance_numa_nodes: Sequence[int] | None = None,
              improved: bool = True) -> FleetAnswer:
        """Names of the hosts that fit, in input order.

        :param policy: overrides every request's NUMA policy (as the flavor's
            ``hw:pci_numa_affinity_policy`` does).
        :param improved: include the compute claim (see the class docstring).
        """
        reqs = [pools.as_request(r, i) for i, r in enumerate(requests)]
        if policy is not None:
            reqs = [dataclasses.replace(r, numa_policy=policy) for r in reqs]
        if any(k in ("address", "parent_ifname") for r in reqs for s in r.specs for k in s):
            return self._one_by_one(reqs, instance_shape, instance_numa_nodes, improved)
        guest = _guest(instance_shape, instance_numa_nodes)
        cap = sum(max(r.count, 0) for r in reqs) + 1
        claim = improved and _mixes_pf(reqs)
        memo: dict[tuple[int, tuple[int, ...]], bool] = {}
        hits: list[int] = []
        for sid, shape in enumerate(self._shapes):
            recheck = claim or (improved and not shape.plain)
            for counts, members in self._groups[sid].items():
                capped = tuple(c if c < cap else cap for c in counts)
                ok = memo.get((sid, capped))
                if ok is None:
                    ok = memo[(sid, capped)] = _shape_fits(shape, capped, reqs, guest,
                                                           instance_numa_nodes)
                if ok:
                    hits.extend(self._recheck(members, reqs, instance_shape, instance_numa_nodes)
                                if recheck else members)
        hits.sort()
        return FleetAnswer(tuple(self.hosts[i].name for i in hits), len(memo))

    def _recheck(self, members: list[int], reqs: list[pools.Request],
                 shape: numa.InstanceShape | None, pinned: Sequence[int] | None) -> list[int]:
        return [i for i in members if _evaluate(self.hosts[i], reqs, shape, pinned).fits]

    def _one_by_one(self, reqs: list[pools.Request], shape: numa.InstanceShape | None,
                    pinned: Sequence[int] | None, improved: bool) -> FleetAnswer:
        names = []
        for host in self.hosts:
            verdict = _evaluate(host, reqs, shape, pinned, nova_compatible=not improved)
            if verdict.fits:
                names.append(host.name)
        return FleetAnswer(tuple(names), len(self.hosts))


def _evaluate(host: HostInput, reqs: Sequence[pools.Request], shape: numa.InstanceShape | None,
              pinned: Sequence[int] | None, nova_compatible: bool = False) -> HostVerdict:
    return evaluate_host(host.devices, host.specs, reqs, host.cells, shape, name=host.name,
                         instance_numa_nodes=pinned, nova_compatible=nova_compatible)


def _canonical(compute: pools.PciStats,
               ) -> tuple[Any, tuple[dict[str, Any], ...], tuple[int, ...], bool]:
    """A hashable signature of the scheduler pools, host-specific names replaced by their rank.

    ``plain``: every compute-side key value is a string or None (``numa_node``
    an int), so the compute sees the same pools as the scheduler.
    """
    view = compute.scheduler_view()
    ranks: dict[tuple[str, Any], int] = {}
    keys = []
    for pool in view.pools:
        key = dict(pool.key)
        for name in ("address", "parent_ifname"):
            if name in key:
                key[name] = ranks.setdefault((name, key[name]), len(ranks))
        keys.append(key)
    plain = all(v is None or isinstance(v, str) or (k == "numa_node" and type(v) is int)
                for pool in compute.pools for k, v in pool.key.items())
    signature = tuple(tuple(sorted((k, repr(v)) for k, v in key.items())) for key in keys)
    return signature, tuple(keys), tuple(p.count for p in view.pools), plain


def _shape_fits(shape: _Shape, counts: tuple[int, ...], reqs: Sequence[pools.Request],
                guest: tuple[numa.InstanceCell, ...] | None, pinned: Sequence[int] | None) -> bool:
    stats = pools.PciStats([pools.Pool(dict(k), c) for k, c in zip(shape.keys, counts) if c],
                           {c.id: c.socket for c in shape.cells})
    if reqs and not stats.support(reqs).ok:
        return False
    if guest is None:
        return True
    return _numa_fit(stats, reqs, shape.cells, guest, pinned).fits


def _mixes_pf(reqs: Sequence[pools.Request]) -> bool:
    """Can the requests take both a PF and something else (where the PF/VF dependency bites)?"""
    specs = [s for r in reqs for s in r.specs]
    has_pf = any(s.get("dev_type") == model.TYPE_PF for s in specs)
    return has_pf and any(s.get("dev_type") != model.TYPE_PF for s in specs)
