"""The mapping table: device_spec entries, aliases and flavors -> the devices they reach.

This is the artefact operators ask an AI assistant for, computed instead.
Pure: it takes the facts the gatherer built and returns typed rows
(:class:`SpecRow`, :class:`AliasRow`, :class:`FlavorRow`); their JSON is made
at the output edge (:mod:`pcipass.services.jsonview`). For an entry that matches
nothing it finds the *near misses* (devices that differ in one field) and
says what differs, in the operator's terms:

    product_id 10fb matches the PF 0000:5e:00.0; its 4 VFs report 10ed. For VFs
    write 10ed, and use device_type type-VF in the alias.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pcipass.core import alias as alias_mod
from pcipass.core import errors, model, pools, requests, schedule, spec
from pcipass.core.evidence import Evidence
from pcipass.doctor import model as dm
from pcipass.doctor import plausible
from pcipass.core.layers import Layer

MAX_NEAR_MISSES = 8
MATCHED, MISSING, SHADOWED = "MATCHED", "MISSING", "SHADOWED"
#: What matching raises for a device address Nova cannot parse: not ``d:b:s.f``
#: (PciDeviceWrongAddressFormat), or a field that is not hex or out of range (PciConfigInvalidSpec,
#: as Nova raises it). Such a device matches no entry (discovery never produces one).
MALFORMED_DEVICE_ADDRESS = (errors.PciDeviceWrongAddressFormat, errors.PciConfigInvalidSpec)


@dataclasses.dataclass(frozen=True, slots=True)
class NearMiss:
    """A device a spec entry misses by one field."""

    device: model.Device
    differs: tuple[spec.Mismatch, ...]


# -- device_spec --------------------------------------------------------------------------------


def near_misses(entry: spec.SpecEntry, devices: dm.DeviceFacts) -> list[NearMiss]:
    """Devices that one field (vendor, product, address, devname or serial) keeps out of ``entry``."""
    out = []
    s = entry.spec
    for dev in devices.devices:
        if ((s.vendor_id != spec.ANY and s.vendor_id != dev.vendor_id)
                and (s.product_id != spec.ANY and s.product_id != dev.product_id)):
            continue  # two fields differ already: no near miss
        try:
            diffs = s.mismatches(dev)
        except MALFORMED_DEVICE_ADDRESS:  # a malformed address is no near miss
            continue
        fields = {d.field for d in diffs} - {"parent_addr"}
        if len(fields) == 1 and plausible.plausible(entry.spec, dev, diffs, devices):
            out.append(NearMiss(dev, tuple(diffs)))
    out.sort(key=lambda n: (n.device.dev_type != model.TYPE_VF, n.device.address))
    return out[:MAX_NEAR_MISSES] if len(out) > MAX_NEAR_MISSES else out


def explain_missing(entry: spec.SpecEntry, devices: dm.DeviceFacts,
                    misses: Sequence[NearMiss]) -> list[str]:
    """Plain-language notes for an entry that matches nothing."""
    notes = _vf_id_notes(entry.spec, devices)
    for miss in misses:
        diffs = "; ".join(f"{m.field} is {m.got} (the spec wants {m.wanted})" for m in miss.differs)
        notes.append(f"{miss.device.address} ({miss.device.dev_type or 'type ?'}) differs only in: {diffs}")
    if not notes:
        notes.append(f"no device has vendor_id {entry.spec.vendor_id} and product_id "
                     f"{entry.spec.product_id}")
        if entry.spec.vendor_id != spec.ANY and entry.spec.product_id != spec.ANY:
            notes.append("no device of this host is one the entry could have meant (no VF of a PF with "
                         "that id, no device of the same vendor and class, none with that subsystem id): "
                         "no fix is proposed")
    return notes


def _vf_id_notes(s: spec.DeviceSpec, devices: dm.DeviceFacts) -> list[str]:
    """The spec names the VF ID of PFs whose VFs are not created."""
    out = []
    for pf in devices.devices:
        if (pf.sriov_vf_device and pf.sriov_vf_device == s.product_id
                and s.vendor_id in (spec.ANY, pf.vendor_id) and not devices.vfs_of(pf.address)):
            out.append(f"product_id {s.product_id} is the VF ID of the PF {pf.address}, which has no "
                       f"VFs (sriov_numvfs={pf.sriov_numvfs}, sriov_totalvfs={pf.sriov_totalvfs})")
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class VfMixup:
    """The commonest mix-up: a product_id that names PFs whose VFs report another ID (the PF's ID
    copied from lspci where the VFs were meant). ``pf`` is the first of ``pfs`` PFs; ``vfs`` its
    VFs; ``vf_id`` the ID to write instead."""

    product_id: str
    pf: model.Device
    pfs: int
    vfs: int
    vf_id: str

    def sentence(self, *, more: bool = True) -> str:
        others = f" (and {self.pfs - 1} more PF(s))" if more and self.pfs > 1 else ""
        return (f"product_id {self.product_id} matches the PF {self.pf.address}{others}; its "
                f"{self.vfs} VFs report {self.vf_id}. For VFs write {self.vf_id}, and use device_type "
                "type-VF in the alias.")


def vf_mixup(product_id: str, pfs: Sequence[model.Device], devices: dm.DeviceFacts) -> VfMixup | None:
    """The mix-up when ``pfs`` are all PFs and the first one's VFs report an ID other than
    ``product_id``; else None."""
    if not pfs or any(d.dev_type != model.TYPE_PF for d in pfs):
        return None
    vf_ids = devices.vf_product_ids(pfs[0])
    if not vf_ids or vf_ids[0] == product_id.lower():
        return None
    return VfMixup(product_id, pfs[0], len(pfs), len(devices.vfs_of(pfs[0].address)), vf_ids[0])


def pf_instead_of_vf(s: spec.DeviceSpec, claimed: Sequence[model.Device],
                     devices: dm.DeviceFacts) -> str | None:
    """When a spec with a product_id claims only PFs whose VFs report another ID, say so."""
    if s.product_id == spec.ANY:
        return None
    mixup = vf_mixup(s.product_id, claimed, devices)
    return mixup.sentence() if mixup is not None else None


@dataclasses.dataclass(frozen=True, slots=True)
class SpecRow:
    """One device_spec entry of a host in the mapping table: what it claims, or why not.

    ``status`` is :data:`MATCHED` (``devices`` it claims), :data:`SHADOWED`
    (every device it matches is claimed by an earlier entry) or :data:`MISSING`
    (``near_misses``: devices one field keeps out). Checks read these fields.
    """

    host: str
    entry: spec.SpecEntry
    source: tuple[str | None, int | None, int | None]  # file, line, item
    status: str
    devices: tuple[model.Device, ...] = ()
    near_misses: tuple[NearMiss, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def index(self) -> int:
        return self.entry.index


def spec_rows(host: str, config: dm.ConfigFacts, devices: dm.DeviceFacts) -> list[SpecRow]:
    """One row per device_spec entry of ``host``: what it claims, or MISSING with near misses."""
    claimed: dict[int, list[model.Device]] = {}
    for dev in devices.devices:
        entry = config.matches.get(dev.address)
        if entry is not None:
            claimed.setdefault(entry.index, []).append(dev)
    rows = []
    for entry in config.specs.specs:
        rows.append(_spec_row(host, config, devices, entry, claimed.get(entry.index, [])))
    return rows


def _spec_row(host: str, config: dm.ConfigFacts, devices: dm.DeviceFacts, entry: spec.SpecEntry,
              mine: list[model.Device]) -> SpecRow:
    source = config.spec_sources.get(entry.index, (None, None, None))
    if mine:
        note = pf_instead_of_vf(entry.spec, mine, devices)
        return SpecRow(host, entry, source, MATCHED, tuple(mine), notes=(note,) if note else ())
    shadowed = [x for x in devices.devices if _matches(entry.spec, x)]
    if shadowed:
        return SpecRow(host, entry, source, SHADOWED, notes=(
            f"matches {len(shadowed)} device(s), all claimed by earlier entries "
            "(Nova uses the first entry that matches)",))
    misses = near_misses(entry, devices)
    return SpecRow(host, entry, source, MISSING, near_misses=tuple(misses),
                   notes=tuple(explain_missing(entry, devices, misses)))


def _matches(s: spec.DeviceSpec, dev: model.Device) -> bool:
    try:
        return s.match(dev)
    except MALFORMED_DEVICE_ADDRESS:  # a malformed device address matches nothing
        return False


# -- aliases --------------------------------------------------------------------------------


def reaches(specs: Sequence[Mapping[str, Any]], dev: model.Device, entry: spec.SpecEntry,
            devices: dm.DeviceFacts) -> bool:
    """Would Nova's pools give ``dev`` (claimed by ``entry``) to a request with these specs?

    The pools' own rule (:func:`pools.accepts`) on the device's pool key as the
    compute builds it: the spec stage (every key equal, strings case-insensitive,
    Placement's keys ignored), then no PF, vDPA or remote-managed device the
    request does not name, and live_migratable. NUMA and counts are the
    scheduling core's (``host_fit``). The compute's view is what the claim hands
    out: a device the scheduler counts but the claim refuses (a JSON ``true`` tag
    against ``"true"``) is not reached.
    """
    key = pools.pool_key(dev, entry.spec.tags, _parent_ifname(dev, devices))
    return pools.accepts(key, pools.Request(1, tuple(specs)))


def _parent_ifname(dev: model.Device, devices: dm.DeviceFacts) -> str | None:
    parent = devices.by_address.get(dev.parent_addr) if dev.parent_addr else None
    return pools.parent_ifname(dev, parent)


def request_devices(specs: Sequence[Mapping[str, Any]], config: dm.ConfigFacts | None,
                    devices: dm.DeviceFacts) -> list[tuple[model.Device, spec.SpecEntry]]:
    """The devices of this host (with the entry that claims each) a request with these specs reaches."""
    if config is None:
        return []
    out = []
    for dev in devices.devices:
        entry = config.matches.get(dev.address)
        if entry is not None and reaches(specs, dev, entry, devices):
            out.append((dev, entry))
    return out


def alias_devices(al: alias_mod.Alias, config: dm.ConfigFacts,
                  devices: dm.DeviceFacts) -> tuple[list[int], list[model.Device]]:
    """The spec indexes and the devices of this host that the alias reaches (:func:`reaches`)."""
    found = request_devices(al.specs, config, devices)
    return sorted({e.index for _, e in found}), [d for d, _ in found]


@dataclasses.dataclass(frozen=True, slots=True)
class AliasHost:
    """What an alias reaches on one host: the spec entries (indexes) and their devices."""

    host: str
    device_specs: tuple[int, ...]
    devices: tuple[model.Device, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class AliasRow:
    """One alias of the mapping table: its definition and what it reaches on each host."""

    name: str
    device_type: str | None
    numa_policy: str | None
    specs: tuple[Mapping[str, Any], ...]
    hosts: tuple[AliasHost, ...] = ()


def alias_rows(hosts: Iterable[tuple[str, dm.ConfigFacts | None, dm.DeviceFacts | None]],
               controller: dm.ControllerFacts | None) -> list[AliasRow]:
    """One row per alias: its definition and, per host, the specs and devices it reaches.

    The controller's aliases come first; an alias only a compute defines follows, as
    that compute first defines it.
    """
    heads: dict[str, alias_mod.Alias] = {}
    reached: dict[str, list[AliasHost]] = {}
    if controller is not None:
        for al in controller.aliases.aliases.values():
            heads[al.name] = al
            reached[al.name] = []
    for host, config, devices in hosts:
        if config is None or devices is None:
            continue
        for al in config.aliases.aliases.values():
            heads.setdefault(al.name, al)
            idx, devs = alias_devices(al, config, devices)
            reached.setdefault(al.name, []).append(AliasHost(host, tuple(idx), tuple(devs)))
    return [AliasRow(name, al.dev_type, al.numa_policy, tuple(dict(s) for s in al.specs),
                     tuple(reached[name])) for name, al in heads.items()]


# -- flavors --------------------------------------------------------------------------------

#: Checks that summarize the flavor mapping (their findings are its output, never its input).
FIT_SUMMARY_IDS = frozenset({"PCI-C005"})
#: Layers whose failures make a host unable to run passthrough guests whatever the scheduler says:
#: the boot breaks (kernel, driver), or Placement offers nothing there while the scheduler asks it
#: first (the PCI-P checks fail only with pci_in_placement on, or not known; else they warn).
BOOT_BREAKING = (Layer.KERNEL, Layer.DRIVER, Layer.PLACEMENT)
#: Failing checks with which nova-scheduler does not start: no host fits any flavor.
SCHEDULER_DOWN_IDS = frozenset({"PCI-C006"})
MAX_REASONS = 4


@dataclasses.dataclass(frozen=True, slots=True)
class FlavorReason:
    """Why a flavor does not fit a host: a reason of the scheduling core, or a failing finding
    (``check`` is its id); ``evidence`` prints without lines, as the scheduler's reasons do."""

    layer: Layer
    message: str
    check: str | None = None
    evidence: tuple[Evidence, ...] = ()
    severity: dm.Severity = dm.FAIL  # the finding's, or the core reason's (the schedule command's)


@dataclasses.dataclass(frozen=True, slots=True)
class FlavorHost:
    """One flavor on one host: fits (None: cannot tell), the devices it gets, or the first
    broken layer and its reasons."""

    name: str
    fits: bool | None = None
    instance_numa_nodes: tuple[int, ...] | None = None
    devices: tuple[schedule.ChosenDevice, ...] = ()
    first_broken_layer: Layer | None = None
    reasons: tuple[FlavorReason, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class FlavorRow:
    """One flavor of the mapping table: its requests (or error) and its fit on every host."""

    flavor: str
    file: str | None
    requests: tuple[requests.PciRequest, ...]
    numa_nodes: int | None
    numa_policy: str | None
    error: errors.Problem | None
    chosen_host: str | None
    hosts: tuple[FlavorHost, ...]


def flavor_rows(flavors: Sequence[dm.FlavorFacts], hosts: Sequence[str], findings: Sequence[dm.Finding],
                fits: Mapping[str, dm.HostFit | None]) -> list[FlavorRow]:
    """Each flavor's requests and, per host, whether it fits (the scheduling core) or the first broken layer.

    ``fits`` per host: the core's verdict, except that a host with a failing
    kernel or driver finding never counts as fitting (the scheduler may pick
    it, the boot fails there). The first broken layer is the lowest of the
    failing findings that concern this flavor on this host (or cloud-wide) and
    the layers of the core's reasons. ``chosen_host`` is Nova's pick
    (PCIWeigher) among the hosts that fit.
    """
    rows = []
    for fl in flavors:
        relevant = [f for f in findings if f.severity == dm.FAIL and f.id not in FIT_SUMMARY_IDS
                    and _concerns(f, fl.name)]
        cells = [_flavor_host(fl, h, fits.get(h), relevant) for h in hosts]
        rows.append(FlavorRow(fl.name, fl.file, tuple(fl.requests), fl.numa_nodes, fl.numa_policy,
                              fl.error, _chosen(fl, hosts, cells, fits), tuple(cells)))
    return rows


def _concerns(f: dm.Finding, flavor: str) -> bool:
    """A finding about another flavor says nothing about this one; every other finding may."""
    return not f.subject.startswith("flavor ") or f.subject == f"flavor {flavor!r}"


def _flavor_host(fl: dm.FlavorFacts, host: str, fit: dm.HostFit | None,
                 relevant: Sequence[dm.Finding]) -> FlavorHost:
    if fl.error is not None:
        return FlavorHost(host, False, first_broken_layer=Layer.FLAVOR, reasons=(
            FlavorReason(Layer.FLAVOR, f"{fl.error.code}: {fl.error.message}"),))
    blockers = [f for f in relevant if f.host in (host, None)]
    ff = fit.flavors.get(fl.name) if fit is not None else None
    verdict = ff.verdict if ff is not None else None
    placed = FlavorHost(host)
    reasons: list[FlavorReason] = []
    if ff is not None and ff.error is not None:
        reasons.append(FlavorReason(Layer.FLAVOR, f"{ff.error.code}: {ff.error.message}"))
    elif verdict is not None:
        boot_broken = any((f.layer in BOOT_BREAKING and f.host == host) or f.id in SCHEDULER_DOWN_IDS
                          for f in blockers)
        placed = FlavorHost(host, verdict.fits and not boot_broken)
        if verdict.fits:  # the devices the claim gives, even where the boot then breaks
            placed = dataclasses.replace(placed, instance_numa_nodes=verdict.instance_numa_nodes,
                                         devices=verdict.devices)
        else:
            reasons = [FlavorReason(r.layer, r.message, None, r.evidence, r.severity) for r in verdict.reasons]
    if placed.fits:
        return placed
    reasons += [FlavorReason(f.layer, f"{f.id}: {f.message}", f.id, f.evidence[:4]) for f in blockers]
    if not reasons:
        return placed
    first = min((r.layer for r in reasons), key=lambda layer: layer.order)
    return dataclasses.replace(placed, first_broken_layer=first,
                               reasons=tuple(r for r in reasons if r.layer == first)[:MAX_REASONS])


def _chosen(fl: dm.FlavorFacts, hosts: Sequence[str], cells: Sequence[FlavorHost],
            fits: Mapping[str, dm.HostFit | None]) -> str | None:
    verdicts = []
    multiplier: dict[str, float] = {}
    for host, cell in zip(hosts, cells):
        fit = fits.get(host)
        ff = fit.flavors.get(fl.name) if fit is not None else None
        if fit is None or ff is None or ff.verdict is None:
            continue
        verdicts.append(dataclasses.replace(ff.verdict, name=host, fits=bool(cell.fits)))
        multiplier[host] = fit.multiplier
    return schedule.rank_hosts(verdicts, multiplier).chosen if verdicts else None
