"""``pcipass agent --once``: keep the device store true to one host.

One run discovers the host as ``scan --host`` does (a root, a bundle or the live ``/``; sysfs
read afresh, never the root's ``facts.json``), matches its own ``device_spec``, reports the
matched devices as Nova's libvirt driver does (:func:`reported`), and applies Nova's tracker
rules (:func:`pcipass.core.tracker.sync`, then ``save``) to the stored state in one
transaction (:func:`pcipass.adapters.store.hoststate.apply`). A second run on the same host
changes nothing.

Only a clean discovery may remove devices: a broken read must never look like a hot-unplug. The
run is refused, and the store left untouched, when the host root fails its checks (missing,
not a root, a bundle cut anywhere, corrupt or oversized: ``HostRootInvalid``), when any warning concerns
the PCI devices (under ``sys/bus/pci`` or ``sys/devices/pci*``, a skipped bundle member, a device
the device_spec could not be matched against, a compute config file not read), or when the
compute config is missing or has errors (nova-compute would not start, so nothing can be said of its devices).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pcipass.adapters.store import hoststate, models, records
from pcipass.core import cpuset, errors, model, numa, tracker
from pcipass.services import cpusets, scanreport
from pcipass.services import scan as scan_mod

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

COMMAND = "agent --once"
AGENT_SCHEMA = "pcipass-agent/1"
#: Warnings that make a discovery unclean: they speak of the PCI devices, of the bundle, of a
#: compute config file that was not read (its device_spec entries would be missing), or of the
#: host's identity (a broken manifest.json: the devices would be stored under another name).
UNCLEAN_MARKERS = ("sys/bus/pci", "sys/devices/pci", "bundle member", "top-level directory",
                   "cannot be matched", "etc/nova/", "manifest.json", "etc/hostname")
#: Nova's spec tags copied into a reported device (``enhanced_pci_device_with_spec_tags``).
SPEC_TAGS = tracker.SPEC_TAGS
MAX_REASONS = 5


class DiscoveryUnclean(errors.InputError):
    """The host could not be read cleanly: the store is left as it was."""

    msg_fmt = ("%(source)s: the discovery is not clean, so the device store was left "
               "untouched (a broken read must never look like a hot-unplug): %(reason)s")


@dataclasses.dataclass(frozen=True, slots=True)
class AgentReport:
    """One agent run: the host, what it reported, and what the store now says."""

    schema: str
    hostname: str
    nova_host: str | None
    source: str
    reported: int
    applied: records.Applied
    cells: tuple[records.StoredCell, ...]


def run_once(engine: Engine, host: str | Path = "/", *,
             compute_conf: Sequence[str | Path] = ()) -> AgentReport:
    """Discover ``host`` and bring its stored state up to date, in one transaction.

    :raises hostroot.HostRootInvalid: the host root fails its checks.
    :raises DiscoveryUnclean: a warning under sys/bus/pci, a config error, no compute config.
    :raises hoststate.StoreConflict: another writer changed the host meanwhile.
    """
    source = os.fspath(host)
    scanned = scan_mod.scan_hosts([host], compute_conf=compute_conf,
                                  facts_cache=scan_mod.CACHE_IGNORE).hosts[0]
    cells, cpu_problems = host_cells(scanned)
    reasons = unclean(scanned, cpu_problems)
    if reasons:
        more = len(reasons) - MAX_REASONS
        shown = "; ".join(reasons[:MAX_REASONS]) + (f"; and {more} more" if more > 0 else "")
        raise DiscoveryUnclean(source=source, reason=shown,
                               hint="fix the host root or its compute config, then run again")
    found = [reported(scanned, d) for d in scanned.passthrough_devices()]
    tags = {d.address: _tags(scanned, d.address) for d in scanned.passthrough_devices()}
    shown = source.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    facts = records.HostFacts(scanned.name, scanned.nova_host, shown.replace("\x00", ""), cells)
    applied = hoststate.apply(engine, scanned.name, lambda st: tracker.sync(st, found),
                              command=COMMAND, facts=facts, spec_tags=tags)
    return AgentReport(AGENT_SCHEMA, scanned.name, scanned.nova_host, source, len(found), applied, cells)


def unclean(scanned: scanreport.HostScan, cpu_problems: Sequence[errors.Problem] = ()) -> list[str]:
    """Why this discovery may not change the store (empty when it is clean)."""
    reasons = [w for w in scanned.warnings if any(m in w for m in UNCLEAN_MARKERS)]
    reasons += [w for d in scanned.devices for w in d.warnings]
    if scanned.compute_starts is None:
        reasons.append("the host has no compute config (etc/nova/nova.conf), so its "
                       "device_spec is unknown")
    reasons += [_config_error(p) for p in scanned.config_errors]
    if scanned.compute_starts is False and not scanned.config_errors:
        reasons.append("nova-compute would refuse this compute config")
    reasons += [_config_error(p) for p in cpu_problems]
    for what, name in (("host name", scanned.name), ("[DEFAULT] host", scanned.nova_host)):
        if name is not None and len(name) > models.NAME:
            reasons.append(f"the {what} is {len(name):,} characters long; the store keeps "
                           f"names of up to {models.NAME}")
        elif name is not None and not _text(name):
            reasons.append(f"the {what} {name!r} holds a NUL or bytes that are not UTF-8; the "
                           "store keeps names as text")
    return list(dict.fromkeys(reasons))


def _text(name: str) -> bool:
    """Whether every database stores ``name`` as it is: UTF-8, no NUL."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in name


def _config_error(problem: errors.Problem) -> str:
    where = ":".join(str(x) for x in (problem.file, problem.line) if x is not None)
    return f"config error {problem.code}{f' at {where}' if where else ''}: {problem.message}"


def host_cells(scanned: scanreport.HostScan,
               ) -> tuple[tuple[records.StoredCell, ...], list[errors.Problem]]:
    """The host's NUMA cells as the scheduler sees them (``schedule --host``'s
    ``HostModel.from_scan``): discovery's nodes with the compute's CPU options."""
    if scanned.numa is None or not scanned.numa.cells:
        return (), []
    nova = scanned.config.nova if scanned.config is not None else None
    options, problems = cpusets.bounded_options(nova) if nova is not None else ({}, [])
    if problems:
        return (), problems
    try:
        nova_cells = numa.host_cells(scanned.numa.cells,
                                     cpu_dedicated_set=options.get("cpu_dedicated_set"),
                                     cpu_shared_set=options.get("cpu_shared_set"),
                                     vcpu_pin_set=options.get("vcpu_pin_set"))
    except cpuset.InvalidCpuSet as exc:
        return (), [exc.to_problem()]
    by_id = {c.id: c for c in nova_cells}
    out = []
    for cell in scanned.numa.cells:
        view = by_id.get(cell.id, numa.HostCell(cell.id))
        out.append(records.StoredCell(cell.id, _ranges(cell.cpus), cell.memory_kb,
                                      tuple(cell.sockets), _ranges(view.cpus),
                                      _ranges(view.pcpus), view.memory_mb, view.socket))
    return tuple(out), []


def reported(scanned: scanreport.HostScan, dev: model.Device) -> tracker.DiscoveredDevice:
    """The device as Nova's libvirt driver reports it (``Host._get_pcidev_info``), with the
    matched spec's ``managed`` and ``live_migratable`` tags (``update_devices_from_hypervisor_
    resources``). pcipass reads no ethtool features, so a VF's ``capabilities.network`` is
    left out."""
    item: dict[str, Any] = {
        "dev_id": "pci_" + dev.address.replace(":", "_").replace(".", "_"),
        "address": dev.address, "product_id": dev.product_id, "vendor_id": dev.vendor_id,
        "numa_node": dev.numa_node, "label": f"label_{dev.vendor_id}_{dev.product_id}",
        "dev_type": dev.dev_type or model.TYPE_PCI}
    by_address = {d.address: d for d in scanned.devices}
    parent = by_address.get(dev.parent_addr) if dev.parent_addr else None
    caps: dict[str, Any] = {}
    if dev.dev_type == model.TYPE_VF:
        item["parent_addr"] = dev.parent_addr
        pf_nets = scanned.netdevs.get(dev.parent_addr or "", ())
        if dev.netdevs and pf_nets:
            item["parent_ifname"] = pf_nets[0].name
        pf_mac = _mac(scanned.netdevs, dev.parent_addr)
        if pf_mac is not None and dev.vf_index is not None:
            caps["sriov"] = {"pf_mac_address": pf_mac, "vf_num": dev.vf_index}
    serial = dev.card_serial_number or (parent.card_serial_number if parent else None)
    if serial:
        caps["vpd"] = {"card_serial_number": serial}
    if caps:
        item["capabilities"] = caps
    if dev.dev_type == model.TYPE_PF:
        mac = _mac(scanned.netdevs, dev.address)
        if mac is not None:
            item["mac_address"] = mac
    entry = scanned.assigned_spec(dev.address)
    if entry is not None:
        item.update({t: entry.spec.tags[t] for t in SPEC_TAGS
                     if entry.spec.tags.get(t) is not None})
    return tracker.DiscoveredDevice.from_dict(item)


def _tags(scanned: scanreport.HostScan, address: str) -> Mapping[str, Any]:
    entry = scanned.assigned_spec(address)
    return dict(entry.spec.tags) if entry is not None else {}


def _mac(netdevs: Mapping[str, Sequence[Any]], address: str | None) -> str | None:
    for net in netdevs.get(address or "", ()):
        if net.mac:
            return str(net.mac)
    return None


def _ranges(cpus: Any) -> str:
    return cpuset.canonical(cpuset.merge([(c, c) for c in cpus]))
