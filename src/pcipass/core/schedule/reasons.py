"""Why not this host: the reasons of a rejected host, as sentences a new user can act on.

Each reason names its layer, what was dropped and why, and the evidence
(nova-pci.md §4, §9.8). :func:`pci_reasons` explains a failed PCI request
(pool by pool, with a near-miss analysis when the request matches no pool),
:func:`numa_reasons` a failed NUMA fit and :func:`claim_reasons` a compute
claim that fails where Nova's scheduler said yes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pcipass.core import model, numa, pools, spec
from pcipass.core.evidence import Evidence
from pcipass.core.layers import Layer
from pcipass.core.schedule import verdicts

#: Placements whose PCI rejection is explained in reasons (Nova may try many more).
MAX_EXPLAINED_PLACEMENTS = 4


@dataclasses.dataclass
class Context:
    """A host under evaluation: the requests, both views of its pools, its devices and specs."""

    reqs: list[pools.Request]
    compute: pools.PciStats
    view: pools.PciStats
    devices: Sequence[model.Device]
    specs: Sequence[spec.SpecEntry]


def compute_numa_reasons(ctx: Context, fitted: numa.NumaFit, cells: Sequence[numa.HostCell],
                         guest: Sequence[numa.InstanceCell]) -> list[verdicts.Reason]:
    """The scheduler's NUMA fit passed, the compute's (on its own pools) does not."""
    head = verdicts.Reason(Layer.SCHEDULER, "Nova's scheduler accepts this host but the compute's own NUMA check "
                  "fails, so Nova reschedules (tag values differ between the scheduler's and the "
                  "compute's view of the pools)")
    return [head, *numa_reasons(ctx, fitted, cells, guest)]


def pci_reasons(ctx: Context, outcome: pools.Outcome, prefix: str = "",
                 numa_cells: Sequence[int] | None = None) -> list[verdicts.Reason]:
    """Reasons for a failed support/claim: the failing request's drops, explained."""
    index = outcome.failed_request
    if index is None:
        return []
    req = ctx.reqs[index]
    if index and ctx.view.support([req], numa_cells).ok:
        return _taken_by_earlier(ctx, index, numa_cells, prefix)
    out: list[verdicts.Reason] = []
    for drop in outcome.drops:
        if drop.request != index or (drop.stage == pools.SPEC.name and not drop.failed):
            continue
        out.extend(_drop_reasons(ctx, req, drop, prefix))
    return out


def _drop_reasons(ctx: Context, req: pools.Request, drop: pools.Drop, prefix: str) -> list[verdicts.Reason]:
    stage = pools.STAGES[drop.stage]
    if stage is pools.SPEC:
        return _spec_reasons(ctx, req, drop, prefix)
    layer = stage.layer or _request_layer(req)
    if stage is pools.SPLIT_RP:
        return [verdicts.Reason(layer, f"{prefix}Nova refuses the placement allocation of "
                                f"{req.label}: a provider's devices are split across pools "
                                f"({drop.detail}); Nova logs it as a bug", 0,
                                (*(Evidence("pool", _pool_text(i)) for i in drop.pools),
                                 *_request_evidence(req)))]
    if stage is pools.NO_POOL:
        return [verdicts.Reason(layer, f"{prefix}{req.label} asks for 0 devices and no pool is left for it; "
                       "Nova rejects the host anyway", 0, _request_evidence(req))]
    out = []
    for info in drop.pools:
        out.append(verdicts.Reason(layer, f"{prefix}{info.describe()} dropped: "
                          f"{stage.explanation(drop, req, info)}",
                          info.count, (Evidence("pool", _pool_text(info)), *_request_evidence(req))))
    if drop.failed:
        out.append(verdicts.Reason(layer, f"{prefix}{req.label} needs {drop.needed} device(s); "
                          f"{drop.remaining} left after that", 0, _request_evidence(req)))
    return out


def _spec_reasons(ctx: Context, req: pools.Request, drop: pools.Drop, prefix: str) -> list[verdicts.Reason]:
    layer = _request_layer(req)
    if drop.remaining:
        return [verdicts.Reason(layer, f"{prefix}{req.label} needs {drop.needed} device(s); only "
                       f"{drop.remaining} match its spec", drop.dropped, _request_evidence(req))]
    out = [_near_miss(ctx, req, prefix)]
    unlisted = _unlisted(ctx, req)
    if unlisted:
        sample = unlisted[0]
        kind = model.device_noun(sample.dev_type, len(unlisted))
        out.append(verdicts.Reason(Layer.DEVICE_SPEC, f"{len(unlisted)} {kind} {sample.vendor_id}:"
                          f"{sample.product_id} would match {req.label} but no [pci] device_spec "
                          "entry allows them", len(unlisted),
                          tuple(Evidence("device", d.address) for d in unlisted[:8])))
    return out


def _near_miss(ctx: Context, req: pools.Request, prefix: str) -> verdicts.Reason:
    """``alias 'nic' matches no device: its spec wants 8086:154c, this host has VFs 8086:10ed``."""
    layer = _request_layer(req)
    pools_now = ctx.view.snapshot()
    wanted = " or ".join(_spec_text(s) for s in req.specs) or "any device"
    if not pools_now:
        closest = _closest_devices(ctx.devices, req.specs)
        seen = f"; closest devices on this host: {closest}" if closest else ""
        return verdicts.Reason(Layer.DEVICE_SPEC, f"{prefix}{req.label} matches no device: its spec wants "
                      f"{wanted}, and this host has no assignable device (no [pci] device_spec "
                      f"entry matches any of its devices){seen}", 0, _request_evidence(req))
    scored = sorted(((_misses(s, p), p) for s in req.specs for p in pools_now),
                    key=lambda t: len(t[0]))
    best = len(scored[0][0]) if scored else 0
    close = [(m, p) for m, p in scored if len(m) == best]
    has = "; ".join(_have_text(p, m) for m, p in _unique(close)[:4])
    evidence = (*_request_evidence(req),
                *(Evidence("pool", _pool_text(p)) for _, p in _unique(close)[:4]))
    return verdicts.Reason(layer, f"{prefix}{req.label} matches no device: its spec wants {wanted}, this "
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
        if model.is_bridge(dev):
            continue  # PCI bridges and root ports are never what an alias means
        rank = 0 if not types or dev.dev_type in types else 1
        key = (rank, dev.dev_type, dev.vendor_id, dev.product_id)
        groups[key] = groups.get(key, 0) + 1
    ordered = sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1:]))
    return ", ".join(f"{n} {model.device_noun(t, n)} {v}:{p}" for (_, t, v, p), n in ordered[:4])


def _misses(wanted: Mapping[str, Any], info: pools.PoolInfo) -> tuple[str, ...]:
    key = dict(info.key)
    return tuple(k for k, v in wanted.items() if not pools.spec_matches(key, {k: v}))


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
    kind = model.device_noun(info.dev_type, info.count)
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


def _unlisted(ctx: Context, req: pools.Request) -> list[model.Device]:
    """Devices no device_spec matched whose ids and type would satisfy the request."""
    pooled = {d.address for p in ctx.compute.pools for d in p.devices}
    out = []
    for dev in ctx.devices:
        if dev.address in pooled:
            continue
        probe = {"vendor_id": dev.vendor_id, "product_id": dev.product_id, "dev_type": dev.dev_type}
        for wanted in req.specs:
            # the pools' own rules on what a device list can tell: ids and type (Nova never gives
            # PFs or vDPA devices to requests that do not name them)
            keys = {k: v for k, v in wanted.items() if k in probe}
            if pools.accepts(probe, dataclasses.replace(req, specs=(keys,))):
                out.append(dev)
                break
    return out


def _taken_by_earlier(ctx: Context, index: int, numa_cells: Sequence[int] | None,
                      prefix: str) -> list[verdicts.Reason]:
    """The request would fit on its own: the earlier requests took (or, at the claim,
    blocked through the PF/VF dependency) the devices it could use."""
    earlier = ctx.reqs[:index]
    taken = ctx.compute.can_fit(earlier, numa_cells)
    evidence = [Evidence("taken", f"{earlier[i].label}: {model.device_noun(d.device.dev_type)} {d.address}")
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
    return [verdicts.Reason(Layer.SCHEDULER, f"{prefix}{req.label} alone would fit, but the earlier request(s) "
                   f"{names} already took the devices it could use{blocked}", 0,
                   (*_request_evidence(req), *evidence[:8]))]


def numa_reasons(ctx: Context, fitted: numa.NumaFit, cells: Sequence[numa.HostCell],
                  guest: Sequence[numa.InstanceCell]) -> list[verdicts.Reason]:
    ids = ",".join(str(c.id) for c in cells) or "none"
    if fitted.unknown_nodes:
        unknown = ",".join(map(str, fitted.unknown_nodes))
        return [verdicts.PinnedNodesUnknown(Layer.NUMA, f"the instance is pinned to NUMA node(s) {unknown}; "
                                   f"this host has NUMA node(s) {ids}", 0,
                                   (Evidence("host", f"NUMA nodes {ids}"),),
                                   unknown=fitted.unknown_nodes, host_nodes=ids)]
    if fitted.too_few_cells:
        what = "reports no NUMA topology" if not cells else f"has {len(cells)} NUMA node(s) ({ids})"
        return [verdicts.Reason(Layer.NUMA, f"the instance needs {len(guest)} NUMA node(s); this host {what}",
                       0, (Evidence("flavor", f"{len(guest)} guest NUMA cell(s)"),))]
    out = [verdicts.Reason(Layer.NUMA, str(m), 0, (Evidence("host", f"NUMA node {m.host}"),))
           for m in fitted.misses]
    for placement in fitted.pci_rejected[:MAX_EXPLAINED_PLACEMENTS]:
        where = ",".join(map(str, placement))
        outcome = ctx.view.support(ctx.reqs, placement)
        out.extend(pci_reasons(ctx, outcome, f"with the instance on NUMA node(s) {where}: ",
                                placement))
    return out


def claim_reasons(ctx: Context, outcome: pools.Outcome, nodes: tuple[int, ...] | None,
                   ) -> list[verdicts.Reason]:
    head = verdicts.Reason(Layer.SCHEDULER, "Nova's scheduler accepts this host, but the compute claim fails and "
                  "Nova reschedules: taking a PF removes its VFs from the pools and taking a VF "
                  "removes its PF (nova-pci.md §9.8)", 0,
                  tuple(Evidence("request", r.label) for r in ctx.reqs))
    if outcome.crashed:
        return [dataclasses.replace(head, message=head.message + "; Nova's claim itself crashes here "
                                    "(a pool emptied under it)")]
    return [head, *pci_reasons(ctx, outcome, "at the claim: ", nodes)]


def _request_layer(req: pools.Request) -> Layer:
    return Layer.NEUTRON if req.is_port else Layer.FLAVOR


def _request_evidence(req: pools.Request) -> tuple[Evidence, ...]:
    specs = " or ".join("{" + ", ".join(f"{k}: {v}" for k, v in s.items()) + "}" for s in req.specs)
    out = [Evidence("request", f"{req.label}: {req.count} x {specs or '{}'}")]
    if req.numa_policy:
        out.append(Evidence("policy", req.numa_policy))
    return tuple(out)


def _pool_text(info: pools.PoolInfo) -> str:
    return ", ".join(f"{k}={v}" for k, v in info.key)

