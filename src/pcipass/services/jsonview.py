"""Records to the contract's JSON, at the output edge: one generic function, one table of views.

Every JSON document pcipass prints (``contracts.md`` §2, §3; ``docs/schemas/``) is
:func:`to_json` of a record. The records themselves are plain standard-library
dataclasses with no JSON methods (contracts §6): how a record is printed is
decided here, once.

:func:`to_json` turns a value into JSON data by these rules:

* a dataclass: its fields in declaration order (names starting with ``_`` are
  private and left out), each value turned the same way;
* a tuple or a list: a list; a mapping: a dict with string keys (an enum key
  gives its value, any other non-string key its ``str``);
* an enum (``Layer``, ``Severity``, ``DeviceStatus``): its value;
* ``None``, ``bool``, ``int``, ``float`` and ``str`` as they are;
* anything else raises :class:`TypeError` (a set, a function): no record
  prints something nobody chose.

A record whose JSON is not its fields has a *view* in :data:`VIEWS`: a function
from the record to the JSON's fields, by name and in order, whose values are
turned by the same rules (so a view may hand back records, tuples and enums). A
view renames (``Device.class_code`` prints as ``class``), leaves fields out
(``HostVerdict.claim_ok``), computes fields (``KernelFacts.iommu_present``) and
nests (``ScanReport``: the schema, then every host's document). A subclass
without a view of its own prints as its nearest base that has one
(``PinnedNodesUnknown`` is a ``Reason``).

The table is keyed by the records' qualified names, so importing this module
imports none of them: ``pcipass scan -f json`` loads no scheduler. A test checks
that every name is a record.

The facts cache's codec (:mod:`pcipass.adapters.jsoncodec`) is the other direction.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pcipass.services import kernelview

if TYPE_CHECKING:
    from pcipass.adapters import sysnuma
    from pcipass.core import config, evidence, legacy, legacy_modern, model, pools, requests, spec
    from pcipass.core import spec_address as addr
    from pcipass.core.schedule import verdicts
    from pcipass.doctor import mapping, registry
    from pcipass.doctor import model as dm
    from pcipass.services import configcheck, flavorexplain, scanreport, schedule

SCAN_SCHEMA = "pcipass-scan/1"
CONFIG_SCHEMA = "pcipass-config/1"
FLAVOR_SCHEMA = "pcipass-flavor/1"
SCHEDULE_SCHEMA = "pcipass-schedule/1"

View = Callable[[Any], Any]
"""A record's JSON: its fields by name, in order (values turned by :func:`to_json`)."""

_AS_IS = frozenset({str, int, float, bool, type(None)})


def to_json(value: Any) -> Any:
    """The contract's JSON data for ``value``: a record, a list of records, a mapping, a scalar.

    ``json.dumps(to_json(report))`` is what ``-f json`` prints; YAML is the same data.

    :raises TypeError: a value with no JSON form (a set, a function, an unknown object).
    """
    kind = type(value)
    if kind in _AS_IS:
        return value
    convert = _CONVERTERS.get(kind)
    if convert is None:
        convert = _CONVERTERS[kind] = _converter(kind)
    return convert(value)


def _list(value: Any) -> list[Any]:
    # Scalars are tested inline: a scan's document is a thousand devices of twenty-odd fields.
    return [x if type(x) in _AS_IS else to_json(x) for x in value]


def _dict(value: Any) -> dict[str, Any]:
    return {k if type(k) is str else _key(k): x if type(x) in _AS_IS else to_json(x)
            for k, x in value.items()}


_CONVERTERS: dict[type, Callable[[Any], Any]] = {list: _list, tuple: _list, dict: _dict}


def _key(key: Any) -> str:
    if isinstance(key, enum.Enum):
        return str(key.value)
    return str(key)


def _converter(kind: type) -> Callable[[Any], Any]:
    """How to turn values of ``kind`` into JSON, decided once per type."""
    view = view_of(kind)
    if view is not None:
        return lambda v: to_json(view(v))
    if dataclasses.is_dataclass(kind):
        names = tuple(f.name for f in dataclasses.fields(kind) if not f.name.startswith("_"))
        return lambda v: _dict({n: getattr(v, n) for n in names})
    if issubclass(kind, enum.Enum):
        return lambda v: to_json(v.value)
    for base in (str, bool, int, float):  # a subclass of a scalar prints as the scalar
        if issubclass(kind, base):
            return base
    if issubclass(kind, Mapping):
        return _dict
    if issubclass(kind, (list, tuple)):
        return _list
    raise TypeError(f"{kind.__module__}.{kind.__qualname__} has no JSON form: give it a view in "
                    "pcipass.services.jsonview.VIEWS, or make it a dataclass")


def view_of(kind: type) -> View | None:
    """The view of ``kind`` or of its nearest base that has one; None: its fields as they are."""
    for cls in kind.__mro__:
        view = VIEWS.get(f"{cls.__module__}.{cls.__qualname__}")
        if view is not None:
            return view
    return None


# -- the views: records whose JSON is not their fields -------------------------------------------
# Each returns the JSON's fields in the contract's order.


def _device(d: model.Device) -> dict[str, Any]:
    """The contract's Device fields that discovery owns (``class`` spelled as in JSON)."""
    return {"address": d.address, "vendor_id": d.vendor_id, "product_id": d.product_id,
            "subsystem_vendor_id": d.subsystem_vendor_id, "subsystem_id": d.subsystem_id,
            "class": d.class_code, "name": d.name, "dev_type": d.dev_type,
            "parent_addr": d.parent_addr, "vf_index": d.vf_index, "numa_node": d.numa_node,
            "driver": d.driver, "iommu_group": d.iommu_group, "netdevs": d.netdevs,
            "sriov_totalvfs": d.sriov_totalvfs, "sriov_numvfs": d.sriov_numvfs,
            "warnings": d.warnings}


def _mapping_device(d: model.Device) -> dict[str, Any]:
    """A device as the doctor's mapping table lists it (its columns)."""
    return {"address": d.address, "vendor_id": d.vendor_id, "product_id": d.product_id,
            "dev_type": d.dev_type, "driver": d.driver, "numa_node": d.numa_node,
            "iommu_group": d.iommu_group}


def _brief(e: evidence.Evidence) -> dict[str, Any]:
    """Evidence as reasons print it: without the line."""
    return {"source": e.source, "value": e.value}


def _request(r: requests.PciRequest | pools.Request) -> dict[str, Any]:
    """A PCI request (a flavor's, or the pools' with ports): what it asks for, not its bookkeeping."""
    return {"alias_name": r.alias_name, "count": r.count, "numa_policy": r.numa_policy,
            "specs": r.specs}


def _pool_info(p: pools.PoolInfo) -> dict[str, Any]:
    return {"key": dict(p.key), "count": p.count}


def _device_spec(s: spec.DeviceSpec) -> dict[str, Any]:
    """A parsed device_spec entry: its address as written (glob text or regex dict), None with devname."""
    return {"vendor_id": s.vendor_id, "product_id": s.product_id,
            "address": s.address if s.devname is None else None, "devname": s.devname,
            "tags": s.tags, "physical_function": s.physical_function}


def _glob_address(a: addr.GlobAddress) -> str:
    return a.text


def _regex_address(a: addr.RegexAddress) -> dict[str, Any]:
    return dict(a.raw)


def _reason(r: verdicts.Reason) -> dict[str, Any]:
    return {"layer": r.layer, "severity": r.severity, "message": r.message, "dropped": r.dropped,
            "evidence": [_brief(e) for e in r.evidence]}


def _host_verdict(v: verdicts.HostVerdict) -> dict[str, Any]:
    return {"name": v.name, "fits": v.fits, "instance_numa_nodes": v.instance_numa_nodes,
            "devices": v.devices, "reasons": v.reasons, "weight": v.weight}


def _sriov_agent(c: config.SriovAgentConfig) -> dict[str, Any]:
    return {"file": c.file, "physical_device_mappings": c.device_mappings,
            "exclude_devices": c.exclude_devices,
            "resource_provider_bandwidths": {b.ifname: {"egress": b.egress, "ingress": b.ingress}
                                             for b in c.bandwidths},
            "errors": c.problems, "warnings": c.warnings}


def _modern_config(m: legacy_modern.ModernConfig) -> dict[str, Any]:
    return {"device_specs": m.device_specs, "aliases": m.aliases, "options": m.options,
            "flavor_extra_specs": m.flavor_extra_specs, "errors": m.problems, "warnings": m.warnings}


def _numa(n: sysnuma.NumaTopology) -> dict[str, Any]:
    return {"cells": n.cells, "sockets": n.sockets, "warnings": n.warnings}


def _host_scan(h: scanreport.HostScan) -> dict[str, Any]:
    return {"name": h.name, "root": h.root, "kind": h.kind, "nova_host": h.nova_host,
            "facts_from": h.facts_from,
            "kernel": h.kernel if h.kernel is not None else kernelview.UNKNOWN_KERNEL, "numa": h.numa,
            "config": {"valid": h.config_valid,
                       "files": h.config.nova.files if h.config is not None else [],
                       "compute_starts": h.compute_starts, "errors": h.config_errors,
                       "warnings": h.config_warnings},
            "devices": [_scan_device(h, d) for d in h.devices], "warnings": h.warnings}


def _scan_device(host: scanreport.HostScan, dev: model.Device) -> dict[str, Any]:
    """The contract's Device object of a scanned host: discovery's fields, how the host's
    device_spec takes it, and ``revision`` and ``driver_override``."""
    out = _device(dev)
    warnings = out.pop("warnings")
    entry = host.assigned_spec(dev.address)
    out["passthrough"] = entry is not None
    out["spec_index"] = entry.index if entry is not None else None
    out["spec_source"] = (host.config.spec_source(entry)
                          if host.config is not None and entry is not None else None)
    out["tags"] = entry.spec.tags if entry is not None else {}
    out["revision"] = dev.revision
    out["driver_override"] = dev.driver_override
    out["warnings"] = warnings
    return out


def _scan_report(r: scanreport.ScanReport) -> dict[str, Any]:
    return {"schema": SCAN_SCHEMA, "hosts": r.hosts}


def _config_view(v: configcheck.ConfigView) -> dict[str, Any]:
    specs = []
    for entry in v.specs.specs:
        d = _device_spec(entry.spec)
        specs.append({"index": entry.index, "source": v.spec_source(entry), "vendor_id": d["vendor_id"],
                      "product_id": d["product_id"], "address": d["address"], "devname": d["devname"],
                      "tags": d["tags"]})
    aliases = [{"name": name, "numa_policy": al.numa_policy, "device_type": al.dev_type,
                "specs": al.specs,
                "sources": [_option_source(v.nova.alias[i] if 0 <= i < len(v.nova.alias) else None)
                            for i in al.sources]}
               for name, al in v.aliases.aliases.items()]
    doc: dict[str, Any] = {
        "schema": CONFIG_SCHEMA, "files": v.nova.files, "valid": v.valid, "device_specs": specs,
        "aliases": aliases, "labels": legacy_labels(v.legacy) if v.legacy is not None else [],
        "errors": v.errors, "warnings": v.warnings,
        "options": {"report_in_placement": v.nova.report_in_placement,
                    "pci_in_placement": v.nova.pci_in_placement,
                    "enabled_filters": v.nova.enabled_filters}}
    if v.legacy is not None and v.legacy.has_legacy:
        doc["modern_equivalent"] = modern_equivalent(v.legacy)
    if v.sriov_agent is not None:
        doc["sriov_agent"] = v.sriov_agent
    if v.not_nova:
        doc["not_nova_conf"] = v.not_nova
    return doc


def _option_source(ov: config.OptionValue | None) -> dict[str, Any]:
    if ov is None:
        return {"file": None, "line": None}
    return {"file": ov.file, "line": ov.line, "option": f"[{ov.group}] {ov.option}"}


def legacy_labels(conf: legacy.LegacyConfig) -> list[dict[str, Any]]:
    """Config check's ``labels``: each 2013 label with its resource class and devices."""
    # NOTE: core.legacy costs ~30 ms to import (with core.spec), which pcipass scan -f json
    # never pays; a config that has a legacy view has loaded it already.
    from pcipass.core import legacy

    out: dict[str, dict[str, Any]] = {}
    for dev in conf.devices:
        entry = out.setdefault(dev.label, {"label": dev.label, "resource_class": dev.resource_class,
                                           "alias_name": legacy.alias_name_for(dev.label), "devices": []})
        src = conf.sources[dev.value_index] if dev.value_index < len(conf.sources) else None
        where = {"file": src.file, "line": src.line} if src is not None else {}
        entry["devices"].append({"address": dev.address, "vendor_id": dev.vendor_id,
                                 "product_id": dev.product_id, "spec": dev.spec_dict(),
                                 "source": {**where, "item": dev.item}})
    return list(out.values())


def modern_equivalent(conf: legacy.LegacyConfig) -> dict[str, Any]:
    """Config check's ``modern_equivalent``: the modern configuration and both nova.conf texts."""
    from pcipass.core import legacy_modern  # ~30 ms, as legacy above: a scan never needs it

    modern = legacy_modern.for_host(conf)
    doc = _modern_config(modern)
    doc["compute_conf"] = modern.render_compute_conf(conf.host)
    doc["controller_conf"] = modern.render_controller_conf()
    json_doc: dict[str, Any] = to_json(doc)
    return json_doc


def _flavor_report(r: flavorexplain.FlavorReport) -> dict[str, Any]:
    return {"schema": FLAVOR_SCHEMA, "image": r.image, "config_errors": r.config.errors,
            "results": r.results}


def _flavor_schedule(f: schedule.FlavorSchedule) -> dict[str, Any]:
    out = {"flavor": f.flavor, "file": f.file, "requests": f.requests, "error": f.error,
           "chosen_host": f.ranking.chosen if f.ranking else None,
           "hosts": f.ranking.hosts if f.ranking else [], "warnings": f.warnings}
    if f.placement is not None:  # scheduled through Placement (schedule --placement-url)
        out["placement"] = f.placement
    return out


def _schedule_report(r: schedule.ScheduleReport) -> dict[str, Any]:
    return {"schema": SCHEDULE_SCHEMA, "results": r.results}


def _check(c: registry.Check) -> dict[str, Any]:
    return {"id": c.id, "layer": c.layer, "title": c.title, "scope": c.scope, "facts": c.facts,
            "doc": c.doc}


def _host_info(h: dm.HostInfo) -> dict[str, Any]:
    return {"name": h.name, "root": h.root, "kind": h.kind, "nova_name": h.nova_name,
            "facts_from": h.facts_from, "warnings": h.warnings}


def _near_miss(n: mapping.NearMiss) -> dict[str, Any]:
    return {**_mapping_device(n.device), "differs": n.differs}


def _spec_row(r: mapping.SpecRow) -> dict[str, Any]:
    d = _device_spec(r.entry.spec)
    file, line, item = r.source
    return {"host": r.host, "index": r.index, "source": {"file": file, "line": line, "item": item},
            "vendor_id": d["vendor_id"], "product_id": d["product_id"], "address": d["address"],
            "devname": d["devname"], "tags": d["tags"], "status": r.status,
            "devices": [_mapping_device(x) for x in r.devices], "near_misses": r.near_misses,
            "notes": r.notes}


def _alias_host(a: mapping.AliasHost) -> dict[str, Any]:
    return {"host": a.host, "device_specs": a.device_specs,
            "devices": [_mapping_device(d) for d in a.devices]}


def _flavor_reason(r: mapping.FlavorReason) -> dict[str, Any]:
    return {"layer": r.layer, "severity": r.severity, "message": r.message, "check": r.check,
            "evidence": [_brief(e) for e in r.evidence]}


#: Record (qualified name) -> its view. Records not listed print their fields (:func:`to_json`).
VIEWS: Mapping[str, View] = {
    # core
    "pcipass.core.model.Device": _device,
    "pcipass.core.requests.PciRequest": _request,
    "pcipass.core.poolrecords.Request": _request,
    "pcipass.core.poolrecords.PoolInfo": _pool_info,
    "pcipass.core.spec.DeviceSpec": _device_spec,
    "pcipass.core.spec_address.GlobAddress": _glob_address,
    "pcipass.core.spec_address.RegexAddress": _regex_address,
    "pcipass.core.schedule.verdicts.Reason": _reason,
    "pcipass.core.schedule.verdicts.HostVerdict": _host_verdict,
    "pcipass.core.config.SriovAgentConfig": _sriov_agent,
    "pcipass.core.legacy_modern.ModernConfig": _modern_config,
    # adapters
    "pcipass.adapters.kernel.Cmdline": kernelview.cmdline_view,
    "pcipass.adapters.kernel.KernelFacts": kernelview.kernel_view,
    "pcipass.adapters.sysnuma.NumaTopology": _numa,
    # the doctor
    "pcipass.doctor.registry.Check": _check,
    "pcipass.doctor.model.HostInfo": _host_info,
    "pcipass.doctor.mapping.NearMiss": _near_miss,
    "pcipass.doctor.mapping.SpecRow": _spec_row,
    "pcipass.doctor.mapping.AliasHost": _alias_host,
    "pcipass.doctor.mapping.FlavorReason": _flavor_reason,
    # services: the documents
    "pcipass.services.scanreport.HostScan": _host_scan,
    "pcipass.services.scanreport.ScanReport": _scan_report,
    "pcipass.services.configcheck.ConfigView": _config_view,
    "pcipass.services.flavorexplain.FlavorReport": _flavor_report,
    "pcipass.services.schedule.FlavorSchedule": _flavor_schedule,
    "pcipass.services.schedule.ScheduleReport": _schedule_report,
}
