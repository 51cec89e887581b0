"""Nova's device_spec and alias against the hardware: what each entry claims, and what it misses."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence

from pcipass.core import aliasservices, codes, errors, model, schedfilters, spec
from pcipass.doctor import mapping
from pcipass.doctor import model as dm
from pcipass.doctor.checks import common
from pcipass.doctor.registry import check
from pcipass.core.layers import Layer

NAME_CODES = frozenset({"DeprecatedOption", "RemovedOption", "MisplacedOption", "UnknownOption"})
TYPO_CODES = frozenset({"SuspiciousTag"})
#: The alias table's codes (the registry's alias area), and the warning that the aliases shown
#: are a compute host's: PCI-S006 reports them, PCI-S009 the controller's other warnings.
ALIAS_WARNINGS = frozenset(c.name for c in codes.CODES.values()
                           if c.area is codes.Area.ALIAS) | {"AliasesFromCompute"}


def _from_problem(p: errors.Problem, severity: dm.Severity) -> dm.Result:
    subject = p.entry or p.code
    return dm.result(severity, subject, f"{p.code}: {p.message}", [dm.problem_evidence(p)], p.hint)


@check("PCI-S001", Layer.DEVICE_SPEC, title="the compute config is valid")
def config_errors(compute_config: dm.ConfigFacts) -> Iterator[dm.Result]:
    """Everything Nova would refuse in the host's nova.conf, as ``config check`` reports it with file and
    line: an invalid ``device_spec`` stops nova-compute, so no device of the host is assignable."""
    for p in compute_config.problems:
        if p.code != aliasservices.CODE:  # PCI-S014's
            yield _from_problem(p, dm.FAIL)


@check("PCI-S014", Layer.DEVICE_SPEC, title="the compute and the controller define each alias alike")
def alias_services_differ(compute_config: dm.ConfigFacts) -> Iterator[dm.Result]:
    """nova-api and nova-scheduler read the controller's ``[pci] alias``, nova-compute its own file.
    Defining an alias in both is the normal layout (and an all-in-one host gives one file to both):
    each service counts its own specs, so the same alias in both files is no "multiple specs" even
    with ``pci_in_placement``. Fails only when the two definitions of one alias differ, showing what
    differs; flavors' requests are made from the controller's."""
    for p in compute_config.problems:
        if p.code == aliasservices.CODE:
            yield _from_problem(p, dm.FAIL)


@check("PCI-S002", Layer.DEVICE_SPEC, title="every device_spec entry matches a device")
def spec_matches_nothing(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts,
                         spec_map: Sequence[mapping.SpecRow]) -> Iterator[dm.Result]:
    """A device_spec entry that matches no device of the host is dead config, and usually a typo: a
    PF product ID where the VFs have another, a wrong slot, a devname that no longer exists. Fails
    with the near misses (devices that differ in one field) and what differs, e.g. "product_id 10ed
    is the VF ID of the PF 0000:5e:00.0, which has no VFs". A ``remote_managed`` entry whose devices
    differ only by the VPD card serial number warns instead: pcipass never reads ``vpd`` (it can
    hang a device), so whether Nova tracks them is unknown; the fix gives the command to check."""
    for row in spec_map:
        if row.status != mapping.MISSING:
            continue
        entry = row.entry
        misses = row.near_misses
        ev = [compute_config.source_of(entry)]
        ev += [dm.Evidence(common.sysfs(m.device.address), "; ".join(
            f"{d.field}={d.got}" for d in m.differs)) for m in misses]
        if misses and all(_only_vpd(m) for m in misses):
            yield _vpd_unknown(entry, misses, ev)
            continue
        yield dm.result(dm.FAIL, f"device_spec entry {entry.index}",
                        "matches no device (MISSING): " + " | ".join(row.notes), ev,
                        _missing_fix(entry, misses, devices))


def _only_vpd(miss: mapping.NearMiss) -> bool:
    return [d.field for d in miss.differs] == ["card_serial_number"]


def _vpd_unknown(entry: spec.SpecEntry, misses: Sequence[mapping.NearMiss],
                 ev: list[dm.Evidence]) -> dm.Result:
    """A remote_managed entry whose devices differ only by the VPD serial pcipass never reads."""
    first = misses[0].device.address
    ev = [ev[0], *(dm.Evidence(common.sysfs(m.device.address), "card_serial_number: unknown (vpd is not read)")
                   for m in misses)]
    return dm.result(
        dm.WARN, f"device_spec entry {entry.index}",
        f"remote_managed entry: its {len(misses)} device(s) match in every field pcipass can read; "
        "Nova also needs a VPD card serial number on each (the VF's, else its PF's), which sysfs "
        "discovery never reads (reading vpd can hang a device) and this input does not show, so "
        "whether Nova tracks them is unknown", ev,
        f"on the host: virsh nodedev-dumpxml {common.sh('pci_' + first.replace(':', '_').replace('.', '_'))} "
        f"| grep serial_number (or lspci -vv -s {common.sh(first)} | grep 'Serial number'); no serial on the VF nor "
        "its PF means Nova never tracks these devices: enable VPD in the NIC firmware")


def _missing_fix(entry: spec.SpecEntry, misses: Sequence[mapping.NearMiss],
                 devices: dm.DeviceFacts) -> str | None:
    s = entry.spec
    for pf in devices.devices:
        if pf.sriov_vf_device == s.product_id and pf.sriov_totalvfs and not devices.vfs_of(pf.address):
            return f"echo {common.sh(pf.sriov_totalvfs)} > {common.sysfs_path(pf.address, 'sriov_numvfs')}"
    if not misses:
        return "check the IDs with `lspci -nn`; remove the entry if the device is gone"
    raw = dict(s.raw)
    for d in misses[0].differs:
        if d.field in ("vendor_id", "product_id", "address") and d.got is not None:
            raw[d.field] = d.got
    if raw == dict(s.raw):  # nothing the entry itself could say differently
        fields = ", ".join(d.field for d in misses[0].differs)
        return f"the entry is right for {misses[0].device.address} except {fields}: fix the device's side"
    return "device_spec = " + json.dumps(raw)


@check("PCI-S003", Layer.DEVICE_SPEC, title="device_spec spares the host's own NIC")
def spec_claims_host_nic(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts,
                         default_route: dm.RouteFacts) -> Iterator[dm.Result]:
    """A device_spec so broad that it claims the NIC of the host's default route lets Nova hand the
    host's own network card to a guest; the host drops off the network when the guest boots. Fails."""
    owner = {n: d for d in devices.devices for n in d.netdevs}
    for ifname, line in default_route.default:
        dev = owner.get(ifname)
        entry = compute_config.matches.get(dev.address) if dev is not None else None
        if dev is None or entry is None:
            continue
        yield dm.result(
            dm.FAIL, dev.address, f"device_spec entry {entry.index} claims {dev.address} ({ifname}), the "
            "NIC of the host's default route: a guest can take the host's network away",
            [compute_config.source_of(entry), dm.Evidence(default_route.source, f"{ifname} 00000000 (default)", line),
             dm.Evidence(common.sysfs(dev.address, f"net/{ifname}"), ifname)],
            f"narrow the entry with an \"address\" that excludes {dev.address}")


@check("PCI-S012", Layer.DEVICE_SPEC, title="device_spec spares the root disk's controller")
def spec_claims_root_disk(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts,
                          root_disk: dm.RootDiskFacts) -> Iterator[dm.Result]:
    """A device_spec that claims the controller of the root filesystem (an NVMe drive, a SATA/SAS HBA)
    lets Nova give the host's system disk to a guest. Fails."""
    if root_disk.address is None:
        return
    entry = compute_config.matches.get(root_disk.address)
    if entry is None:
        return
    yield dm.result(
        dm.FAIL, root_disk.address, f"device_spec entry {entry.index} claims {root_disk.address}, the "
        f"controller of the root filesystem ({root_disk.block})",
        [compute_config.source_of(entry), dm.Evidence(root_disk.source, root_disk.mount, root_disk.line),
         dm.Evidence(root_disk.sysfs_path, root_disk.address)],
        f"narrow the entry with an \"address\" that excludes {root_disk.address}")


@check("PCI-S004", Layer.DEVICE_SPEC, title="a PF and its VFs are not both in device_spec")
def pf_and_vfs(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts) -> Iterator[dm.Result]:
    """A PF and its VFs are mutually exclusive: assigning the PF destroys its VFs. With
    ``report_in_placement`` nova-compute refuses the config ("Configuring both ... in
    [pci]device_spec is not supported. Either the parent PF or its children VFs can be configured.");
    without it the scheduler accepts both and the claim fails later ("Not all Virtual Functions of PF
    ... are free"). Fails with Placement reporting, warns otherwise."""
    pairs = common.claimed(compute_config, devices)
    pfs = {d.address: e for d, e in pairs if d.is_pf}
    children: dict[str, list[str]] = {}
    for d, _ in pairs:
        if d.is_vf and d.parent_addr in pfs:
            children.setdefault(d.parent_addr, []).append(d.address)
    severity = dm.FAIL if compute_config.nova.report_in_placement else dm.WARN
    for pf, vfs in sorted(children.items()):
        entry = pfs[pf]
        yield dm.result(
            severity, pf, f"Configuring both {pf} and {','.join(vfs[:3])}{'...' if len(vfs) > 3 else ''} "
            "in [pci]device_spec is not supported. Either the parent PF or its children VFs can be configured.",
            [compute_config.source_of(entry)], _pf_and_vfs_fix(entry, devices.by_address[pf], vfs, devices))


def _pf_and_vfs_fix(entry: spec.SpecEntry, pf: model.Device, vfs: Sequence[str], devices: dm.DeviceFacts) -> str:
    """Keep the VFs only: by their product id when it differs from the PF's, else by their address.

    Some SR-IOV NVMe drives and accelerators give their VFs the PF's product id: then
    "product_id (the VF ID)" matches the PF again, and only an address can tell them apart
    (device_spec has no device_type; the alias's device_type type-VF keeps PFs out of a request).
    """
    vf_ids = sorted({devices.by_address[v].product_id for v in vfs if v in devices.by_address})
    if vf_ids and pf.product_id not in vf_ids:
        raw = {**entry.spec.raw, "product_id": vf_ids[0]}
        return f"device_spec = {json.dumps(raw)} (the VFs' product_id, which the PF {pf.address} does not have)"
    slots = sorted({common.slot_of(v) for v in vfs})
    if common.slot_of(pf.address) not in slots:
        entries = " ".join("device_spec = " + json.dumps({**{k: v for k, v in entry.spec.raw.items()
                                                            if k != "address"}, "address": f"{slot}.*"})
                           for slot in slots[:4])
        return (f"the VFs report the PF's product_id {pf.product_id}, so only an address tells them apart: "
                f"{entries}; and device_type type-VF in the alias")
    return (f"the VFs report the PF's product_id {pf.product_id} and share its slot: list the VFs' "
            f"addresses one per entry (e.g. device_spec = {json.dumps({**entry.spec.raw, 'address': vfs[0]})}), "
            "and use device_type type-VF in the alias")


def _id_types(devices: dm.DeviceFacts, vendor: str, product: str) -> dict[str, list[model.Device]]:
    out: dict[str, list[model.Device]] = {}
    for d in devices.with_ids(vendor, product):
        if d.dev_type:
            out.setdefault(d.dev_type, []).append(d)
    return out


@check("PCI-S005", Layer.DEVICE_SPEC, title="alias device_type fits what its IDs are")
def alias_type_mismatch(devices: dm.DeviceFacts, controller_config: dm.ControllerFacts) -> Iterator[dm.Result]:
    """An alias names vendor/product IDs and a ``device_type``. When the devices with those IDs on the
    host are of another type, the request never matches ("No valid host"). The classic: the PF's
    product_id with ``type-VF`` (the VFs report another ID), or no device_type for a PF (Nova never
    hands out PFs unless ``type-PF`` is asked). Fails, naming the ID to write."""
    for al in controller_config.aliases.aliases.values():
        for req in al.specs:
            vendor, product = req.get("vendor_id"), req.get("product_id")
            if not vendor or not product:
                continue
            types = _id_types(devices, vendor, product)
            want = req.get("dev_type")
            if not types or (want in types) or (want is None and set(types) != {model.TYPE_PF}):
                continue
            yield dm.result(dm.FAIL, f"alias {al.name!r}", _type_message(al.name, want, types, devices),
                            [controller_config.alias_source(al.name),
                             *(dm.Evidence(common.sysfs(d.address), f"{d.vendor_id}:{d.product_id} {t}")
                               for t, ds in sorted(types.items()) for d in ds[:2])],
                            _type_fix(al.name, req, types, devices))


def _vf_mixup(pfs: list[model.Device], devices: dm.DeviceFacts) -> mapping.VfMixup | None:
    """The first PF's mix-up: the alias names its ID where its VFs report another."""
    return mapping.vf_mixup(pfs[0].product_id, pfs[:1], devices)


def _type_message(name: str, want: str | None, types: Mapping[str, list[model.Device]],
                  devices: dm.DeviceFacts) -> str:
    have = ", ".join(f"{len(ds)} {t}" for t, ds in sorted(types.items()))
    if want == model.TYPE_VF and model.TYPE_PF in types:
        mixup = _vf_mixup(types[model.TYPE_PF], devices)
        if mixup is not None:
            return f"alias {name!r} asks type-VF, but {mixup.sentence()}"
    if want is None:
        return (f"alias {name!r} sets no device_type and its IDs match only PFs ({have}): Nova drops "
                "PFs unless a request names type-PF")
    return f"alias {name!r} asks {want}, but the devices with its IDs are {have}"


def _type_fix(name: str, req: Mapping[str, str], types: Mapping[str, list[model.Device]],
              devices: dm.DeviceFacts) -> str:
    fixed = {"name": name, **{k: v for k, v in req.items() if k != "dev_type"}}
    if req.get("dev_type") == model.TYPE_VF and model.TYPE_PF in types:
        mixup = _vf_mixup(types[model.TYPE_PF], devices)
        if mixup is not None:
            fixed["product_id"] = mixup.vf_id
            fixed["device_type"] = model.TYPE_VF
            return f"alias = {json.dumps(fixed)} (and device_spec product_id {mixup.vf_id})"
    fixed["device_type"] = sorted(types)[0]
    return f"alias = {json.dumps(fixed)}"


@check("PCI-S006", Layer.DEVICE_SPEC, title="alias definitions are valid and consistent")
def alias_problems(controller_config: dm.ControllerFacts) -> Iterator[dm.Result]:
    """Nova parses the whole ``[pci] alias`` table when the first PCI flavor boots, and refuses every
    PCI flavor while one value is invalid: bad JSON, unknown keys, and duplicate names whose
    definitions disagree ("Device type mismatch for alias", "NUMA policy mismatch for alias"). Fails
    for those; warns for aliases Nova accepts that can never be satisfied."""
    for p in controller_config.problems:
        if p.code not in schedfilters.CODES:  # PCI-C006's
            yield _from_problem(p, dm.FAIL)
    for p in controller_config.warnings:
        if p.code in ALIAS_WARNINGS:
            yield _from_problem(p, dm.WARN)


@check("PCI-S007", Layer.DEVICE_SPEC, title="device_spec tags are spelled right")
def typo_tags(compute_config: dm.ConfigFacts) -> Iterator[dm.Result]:
    """Nova keeps any unknown key of a device_spec as a tag, and tags become pool keys: a
    ``physical_netwrok`` puts the devices in a pool no request asks for. Warns for unknown tags close
    to a known tag or key."""
    for p in compute_config.warnings:
        if p.code in TYPO_CODES:
            yield _from_problem(p, dm.WARN)


@check("PCI-S008", Layer.DEVICE_SPEC, title="option names are current")
def option_names(compute_config: dm.ConfigFacts) -> Iterator[dm.Result]:
    """Deprecated names (``passthrough_whitelist``, ``[DEFAULT] pci_alias``...) still work but are on
    their way out; removed, misplaced or misspelled names are silently ignored by Nova. Warns with the
    line as it should read."""
    for p in compute_config.warnings:
        if p.code in NAME_CODES:
            yield _from_problem(p, dm.WARN)


@check("PCI-S009", Layer.DEVICE_SPEC, title="the controller config's names and values are sound")
def controller_warnings(controller_config: dm.ControllerFacts) -> Iterator[dm.Result]:
    """The same naming checks as PCI-S008 for the controller's nova.conf (``--nova-conf``), plus its
    other warnings that are not about aliases (those are PCI-S006's)."""
    for p in controller_config.warnings:
        if p.code not in ALIAS_WARNINGS | schedfilters.CODES:
            yield _from_problem(p, dm.WARN)


@check("PCI-S010", Layer.DEVICE_SPEC, title="no other compute config warnings")
def other_warnings(compute_config: dm.ConfigFacts) -> Iterator[dm.Result]:
    """What else ``config check`` warns about in the compute config: a devname that is not on the host,
    IDs that can never match, values Nova accepts but misreads. Warns."""
    for p in compute_config.warnings:
        if p.code not in NAME_CODES | TYPO_CODES:
            yield _from_problem(p, dm.WARN)


@check("PCI-S011", Layer.DEVICE_SPEC, title="specs with a PF's product_id meant the PF")
def pf_id_for_vfs(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts) -> Iterator[dm.Result]:
    """A device_spec entry whose product_id matches only PFs that have VFs with another ID usually meant
    the VFs: the PF ID was copied from ``lspci``. The PFs become assignable whole (wiping their VFs when
    used) while the VFs stay invisible to Nova. Warns with the VF ID to write."""
    claimed: dict[int, list[model.Device]] = {}
    for d, e in common.claimed(compute_config, devices):
        claimed.setdefault(e.index, []).append(d)
    for entry in compute_config.specs.specs:
        mine = claimed.get(entry.index, [])
        pid = entry.spec.product_id
        mixup = mapping.vf_mixup(pid, mine, devices) if pid != spec.ANY else None
        if mixup is None or not any(devices.vfs_of(d.address) for d in mine):
            continue
        raw = {**entry.spec.raw, "product_id": mixup.vf_id}
        yield dm.result(dm.WARN, f"device_spec entry {entry.index}", mixup.sentence(),
                        [compute_config.source_of(entry),
                         dm.Evidence(common.sysfs(mine[0].address, "sriov_numvfs"), str(mine[0].sriov_numvfs))],
                        "device_spec = " + json.dumps(raw))


@check("PCI-S013", Layer.DEVICE_SPEC, title="no device_spec entry is shadowed")
def spec_shadowed(spec_map: Sequence[mapping.SpecRow]) -> Iterator[dm.Result]:
    """Nova uses the first device_spec entry that matches a device. An entry whose devices are all
    claimed by earlier entries never applies: its tags (physical_network, resource_class...) are
    ignored. Warns."""
    for row in spec_map:
        if row.status == mapping.SHADOWED:
            file, line, _ = row.source
            yield dm.result(dm.WARN, f"device_spec entry {row.index}", row.notes[0],
                            [dm.Evidence(file or "(config)", f"device_spec entry {row.index}", line)],
                            "merge it into the earlier entry, or move it before the broader one")
