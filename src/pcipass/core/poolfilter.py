"""Nova's filter pipeline over PCI pools (``PciDeviceStats._filter_pools``, nova-pci.md §4.2).

Each stage is declared once, as a :class:`Stage` in :data:`PIPELINE` (its name,
whether Nova checks the count after it, its filter, Nova's log reason and its
explanation), and records what it dropped as a
:class:`~pcipass.core.poolrecords.Drop`, so that a "no" comes with the stage,
the count, the pools and the reason (the ``reasons`` of ``pcipass schedule``).
:func:`accepts` is the part of the pipeline that judges one pool alone; the
doctor's alias mapping asks it too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pcipass.core import model, spec, strutils
from pcipass.core.layers import Layer
from pcipass.core.poolrecords import (
    IGNORED_SPEC_KEYS, LEGACY, PREFERRED, REMOTE_MANAGED_TYPES, REQUIRED, SOCKET, Drop, Pool, PoolInfo,
    Request,
)


#: A stage's filter over the pool list: the pools kept, and what decided (shown in reasons).
StageFilter = Callable[[list[Pool], Request, Sequence[int] | None, Mapping[int, int | None] | None],
                       tuple[list[Pool], str]]
#: A test of one pool key.
KeyTest = Callable[[Mapping[str, Any]], bool]
#: A stage's rule, for the stages that judge each pool alone: the test of a pool key for this
#: request, or None when the stage keeps every pool for it.
PoolRule = Callable[[Request], KeyTest | None]
#: The sentence that explains why one pool was dropped (the reasons of ``pcipass schedule``).
Explain = Callable[[Drop, Request, PoolInfo], str]


@dataclasses.dataclass(frozen=True, slots=True)
class Stage:
    """One stage of Nova's ``_filter_pools`` (nova-pci.md §4.2), declared once.

    :ivar name: what :attr:`Drop.stage` and the JSON call it.
    :ivar counted: Nova checks after this stage that enough devices remain (and fails if not).
    :ivar why: the reason Nova logs for what the stage drops ("Dropped N device(s) as ...").
    :ivar rule: for a stage that judges each pool alone, the test of one pool key for a
        request (None: it keeps them all); :func:`accepts` is the conjunction of these.
    :ivar select: the filter of a stage that needs the whole list or the counts (NUMA,
        Placement); it also says what decided.
    :ivar explain: the sentence for one pool the stage dropped; None: :attr:`why`.
    :ivar layer: the layer its drops belong to; None: the request's (flavor or Neutron).
    """

    name: str
    counted: bool
    why: str
    rule: PoolRule | None = None
    select: StageFilter | None = None
    explain: Explain | None = None
    layer: Layer | None = None

    def run(self, pools: list[Pool], request: Request, numa_cells: Sequence[int] | None,
            sockets: Mapping[int, int | None] | None) -> tuple[list[Pool], str]:
        """The pools this stage keeps for ``request``, and what decided."""
        if self.rule is not None:
            test = self.rule(request)
            return (pools if test is None else [p for p in pools if test(p.key)]), ""
        if self.select is None:
            raise ValueError(f"stage {self.name!r} filters nothing")
        return self.select(pools, request, numa_cells, sockets)

    def explanation(self, drop: Drop, request: Request, info: PoolInfo) -> str:
        """Why the pool ``info`` was dropped, in a sentence."""
        return self.explain(drop, request, info) if self.explain is not None else self.why


def prop_match(key: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Nova's ``pci_device_prop_match`` for one spec dict: every wanted key equals the pool's
    value (a key the pool lacks is None); strings compare case-insensitively, a list value must
    be a subset of the pool's list."""
    for name, value in wanted.items():
        have = key.get(name)
        if isinstance(value, list) and isinstance(have, list):
            if not all(x in have for x in value):
                return False
            continue
        if isinstance(value, str):
            value = value.lower()
        if isinstance(have, str):
            have = have.lower()
        if have != value:
            return False
    return True


def spec_matches(key: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """The spec stage's test of one request spec against a pool key: :func:`prop_match` on
    every key but :data:`IGNORED_SPEC_KEYS` (Placement's)."""
    if IGNORED_SPEC_KEYS.isdisjoint(wanted):
        return prop_match(key, wanted)
    return prop_match(key, {k: v for k, v in wanted.items() if k not in IGNORED_SPEC_KEYS})


def accepts(key: Mapping[str, Any], request: Request) -> bool:
    """Would the request's filters keep a pool with this key, counts and NUMA aside?

    Every stage that judges a pool alone (spec, unrequested PF, vDPA and
    remote-managed devices, live_migratable) says yes. The NUMA and Placement
    stages are left out: they need the instance's cells and the pools' counts.
    Whichever view ``key`` comes from decides: the compute's keeps JSON tag
    types (:func:`pool_key`), the scheduler's has them string-coerced
    (:func:`scheduler_key`).
    """
    for stage in PIPELINE:
        test = stage.rule(request) if stage.rule is not None else None
        if test is not None and not test(key):
            return False
    return True


def scheduler_key(key: Mapping[str, Any]) -> dict[str, Any]:
    """A pool key as the scheduler sees it (see :meth:`PciStats.scheduler_view`)."""
    return coerce_key(key)


def _spec_rule(request: Request) -> KeyTest:
    wanted = [{k: v for k, v in s.items() if k not in IGNORED_SPEC_KEYS} for s in request.specs]
    return lambda key: any(prop_match(key, w) for w in wanted)


def _unrequested_rule(dev_type: str) -> PoolRule:
    def rule(request: Request) -> KeyTest | None:
        if any(s.get("dev_type") == dev_type for s in request.specs):
            return None
        return lambda key: key.get("dev_type") != dev_type
    return rule


def _remote_managed_rule(request: Request) -> KeyTest | None:
    if any(strutils.lenient_bool(s.get(spec.REMOTE_MANAGED)) for s in request.specs):
        return None
    return lambda key: not strutils.lenient_bool(key.get(spec.REMOTE_MANAGED))


def _live_migratable_rule(request: Request) -> KeyTest | None:
    for value in ("true", "false"):
        if all(s.get("live_migratable") == value for s in request.specs):
            return lambda key: key.get("live_migratable") == value
    return None


def _explain_pf(drop: Drop, req: Request, info: PoolInfo) -> str:
    how = "vnic_type direct-physical" if req.is_port else "an alias with device_type type-PF"
    return f"Nova hands out a PF only to a request that names it ({how})"


def _explain_live_migratable(drop: Drop, req: Request, info: PoolInfo) -> str:
    wanted = req.specs[0].get("live_migratable") if req.specs else None
    return f"{req.label} wants live_migratable={wanted}; these have {info.get('live_migratable')}"


def _select_numa(pools: list[Pool], request: Request, numa_cells: Sequence[int] | None,
                 sockets: Mapping[int, int | None] | None) -> tuple[list[Pool], str]:
    return filter_numa(pools, request, numa_cells, sockets)


def _select_placement(pools: list[Pool], request: Request, numa_cells: Sequence[int] | None,
                      sockets: Mapping[int, int | None] | None) -> tuple[list[Pool], str]:
    return _placement(pools, request), ""


SPEC = Stage("spec", True, "mismatched PCI attribute(s)", rule=_spec_rule)
NUMA = Stage("numa", True, "they are on the wrong NUMA node(s)", select=_select_numa,
             explain=lambda drop, req, info: drop.detail, layer=Layer.NUMA)
UNREQUESTED_PF = Stage("unrequested_pf", True, "they are PFs which we have not requested",
                       rule=_unrequested_rule(model.TYPE_PF), explain=_explain_pf)
UNREQUESTED_VDPA = Stage("unrequested_vdpa", False, "they are VDPA devices which we have not requested",
                         rule=_unrequested_rule(model.TYPE_VDPA),
                         explain=lambda drop, req, info: "vDPA devices go only to ports with vnic_type vdpa")
UNREQUESTED_REMOTE_MANAGED = Stage(
    "unrequested_remote_managed", False, "they are remote-managed devices which we have not requested",
    rule=_remote_managed_rule,
    explain=lambda drop, req, info: ("they are remote_managed (SmartNIC/DPU); only vnic_type "
                                     "remote-managed ports get them"))
PLACEMENT = Stage("placement", False, "they are not part of the placement allocation",
                  select=_select_placement, layer=Layer.PLACEMENT)
LIVE_MIGRATABLE = Stage("live_migratable", True, "they are not live migratable",
                        rule=_live_migratable_rule, explain=_explain_live_migratable)
#: Not a filter: the request met an empty pool list (Nova fails it, even for 0 devices).
NO_POOL = Stage("no_pool", True,
                "no pool is left for the request (Nova fails even a request for 0 devices)")

#: Not a filter: the allocation names a provider whose devices are split across pools.
SPLIT_RP = Stage("split_rp", True,
                 "a resource provider of the placement allocation is split across pools (Nova "
                 "refuses the request and asks for a bug report)", layer=Layer.PLACEMENT)

#: Nova's filter stages, in pipeline order.
PIPELINE: tuple[Stage, ...] = (SPEC, NUMA, UNREQUESTED_PF, UNREQUESTED_VDPA, UNREQUESTED_REMOTE_MANAGED,
                               PLACEMENT, LIVE_MIGRATABLE)
#: Every stage a :class:`Drop` can name, by name.
STAGES: dict[str, Stage] = {stage.name: stage for stage in (*PIPELINE, NO_POOL, SPLIT_RP)}


def filter_pools(pools: Sequence[Pool], request: Request, numa_cells: Sequence[int] | None,
                 sockets: Mapping[int, int | None] | None, index: int = 0,
                 drops: list[Drop] | None = None) -> list[Pool] | None:
    """Nova's ``_filter_pools``: the pools usable for ``request``, None when too few devices remain.

    Each stage that drops devices (or leaves too few) appends a :class:`Drop` to ``drops``.
    """
    log = drops if drops is not None else []
    current = list(pools)
    for stage in PIPELINE:
        before = _total(current)
        kept, detail = stage.run(current, request, numa_cells, sockets)
        after = _total(kept)
        failed = stage.counted and after < request.count
        if after < before or failed:
            kept_ids = {id(p) for p in kept}
            gone = tuple(p.info() for p in current if id(p) not in kept_ids and p.count)
            log.append(Drop(stage.name, index, request.label, before, before - after, request.count,
                            gone, failed, detail, stage.why))
        if failed:
            return None
        current = kept
    return current


def filter_numa(pools: list[Pool], request: Request, numa_cells: Sequence[int] | None,
                sockets: Mapping[int, int | None] | None) -> tuple[list[Pool], str]:
    """Nova's ``_filter_pools_for_numa_cells`` (§4.4); also returns which rule decided."""
    if not numa_cells:
        return pools, ""
    policy = request.numa_policy or LEGACY
    cells = list(numa_cells)
    where = f"the instance is on NUMA node(s) {_nodes(cells)} and policy is {policy}"
    strict = [p for p in pools if any(_same_node(p, c) for c in cells)]
    if policy == REQUIRED or _total(strict) >= request.count:
        return strict, where
    if policy == SOCKET:
        allowed, why = socket_nodes(cells, sockets)
        return [p for p in pools if any(_same_node(p, n) for n in allowed)], f"{where}: {why}"
    relaxed = [p for p in pools if any(_same_node(p, c) for c in [*cells, None])]
    if policy == LEGACY or _total(relaxed) >= request.count:
        return relaxed, f"{where} (devices of unknown NUMA node are allowed too)"
    ordered = sorted(pools, key=lambda p: p.key.get("numa_node") not in [*cells, None])
    return ordered, f"{where}: any node, those first"


def _same_node(pool: Pool, cell: int | None) -> bool:
    return prop_match(pool.key, {"numa_node": cell})


def socket_nodes(cells: Sequence[int], sockets: Mapping[int, int | None] | None,
                 ) -> tuple[list[int], str]:
    """The ``socket`` policy's fallback: the host NUMA nodes that share a CPU socket with the
    instance's ``cells``, and the sentence that says so.

    Empty when a host node's socket is unknown: Nova then accepts no node at all
    ("No socket information in host NUMA cell(s)").
    """
    host = dict(sockets or {})
    unknown = sorted(n for n, s in host.items() if s is None)
    if unknown:
        return [], f"the host reports no CPU socket for NUMA node(s) {_nodes(unknown)}"
    wanted = {host[c] for c in cells if c in host}
    allowed = sorted(n for n, s in host.items() if s in wanted)
    return allowed, (f"only NUMA node(s) {_nodes(allowed)} share its socket(s) "
                     f"{_nodes(sorted(x for x in wanted if x is not None))}")


def _nodes(values: Iterable[Any]) -> str:
    return ",".join(str(v) for v in values) or "none"


def _placement(pools: list[Pool], request: Request) -> list[Pool]:
    if not request.rp_uuids:
        return pools
    wanted = count_by(request.rp_uuids)
    return [p for p in pools if p.key.get("rp_uuid") is not None
            and p.key["rp_uuid"] in wanted and p.count >= wanted[p.key["rp_uuid"]]]


def _total(pools: Iterable[Pool]) -> int:
    return sum(p.count for p in pools)


def count_by(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def split_rps(pools: Iterable[Pool]) -> dict[Any, int]:
    """Nova's ``_assert_one_pool_per_rp_uuid``: each ``rp_uuid`` key value (None too, when the
    key is there) held by more than one pool, with the number of pools."""
    seen: dict[Any, int] = {}
    for pool in pools:
        if "rp_uuid" in pool.key:
            rp = pool.key["rp_uuid"]
            seen[rp] = seen.get(rp, 0) + 1
    return {rp: n for rp, n in seen.items() if n > 1}


def one_pool_per_rp(pools: Iterable[Pool]) -> bool:
    return not split_rps(pools)


def split_rp_drop(request: Request, index: int, pools: Sequence[Pool]) -> Drop:
    """The refusal when a provider of the request's allocation is split across ``pools``."""
    split = split_rps(pools)
    shared = [p for p in pools if "rp_uuid" in p.key and p.key["rp_uuid"] in split]
    detail = ", ".join(f"{rp} in {n} pools" for rp, n in split.items())
    return Drop(SPLIT_RP.name, index, request.label, _total(pools), 0, request.count,
                tuple(p.info() for p in shared), True, detail, why=SPLIT_RP.why)


def no_pool_drop(request: Request, index: int) -> Drop:
    return Drop(NO_POOL.name, index, request.label, 0, 0, request.count, (), True, why=NO_POOL.why)


def coerce_key(key: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in key.items():
        if name == "numa_node":
            out[name] = _coerce_int(value)
        elif value is None and name not in ("vendor_id", "product_id"):
            out[name] = None
        else:
            out[name] = _coerce_str(value)
    return out


def _coerce_str(value: Any) -> Any:
    """oslo.versionedobjects ``String.coerce``: str, int, float (and bool, an int) -> ``str()``."""
    if isinstance(value, (str, int, float)):
        return str(value)
    return value


def _coerce_int(value: Any) -> Any:
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return value
