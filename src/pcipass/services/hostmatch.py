"""Apply a host's config to its devices: which device_spec entry makes each device assignable.

Which config governs a host (``contracts.md`` §4):

* the compute config is the host root's own (:mod:`pcipass.adapters.hostconf`),
  or ``--compute-conf`` on every host (an lspci paste has none otherwise);
* ``--nova-conf`` is the controller's view. It is merged after the compute
  config, the way oslo.config merges later ``--config-file`` values, but only
  for what the controller owns: ``[pci] alias`` values are appended and the
  ``[filter_scheduler]`` options it sets win. ``device_spec``,
  ``report_in_placement`` and ``[DEFAULT] host`` stay the compute node's;
* host facts for the device_spec parse (is this address a PF? which device
  is netdev X?) come from the host's own devices, as nova-compute probes its
  own sysfs.

An invalid ``device_spec`` (or a compute config oslo.config cannot read)
stops nova-compute, so such a host has no assignable device:
``passthrough`` is false everywhere. :attr:`HostScan.matches` still says what
the valid entries would match, for the doctor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pcipass.core import aliasservices, config, errors, model, spec
from pcipass.services import scanreport

if TYPE_CHECKING:
    from pcipass.adapters import kernel, sysfs, sysnuma
    from pcipass.services import configcheck

#: The [filter_scheduler] options a controller config overrides.
CONTROLLER_OPTIONS = ("pci_in_placement", "enabled_filters", "pci_weight_multiplier", "available_filters",
                      "weight_classes", "host_subset_size")


@dataclasses.dataclass
class HostRead:
    """What was read of a host before its config is applied."""

    name: str
    root: str
    kind: str
    devices: tuple[model.Device, ...]
    numa: sysnuma.NumaTopology | None
    kernel: kernel.KernelFacts | None
    iommu_groups: Mapping[int, tuple[str, ...]]
    netdevs: Mapping[str, tuple[sysfs.NetDev, ...]]
    warnings: list[str]
    no_config: str
    facts_from: str


def with_controller(compute: config.NovaConfig, controller: config.NovaConfig) -> config.NovaConfig:
    """Merge the controller's config after the compute config, for what the controller owns.

    The two are separate services, each reading its own alias table: an alias the controller
    defines is the controller's (a compute's definition of it is compared, and only a
    difference is a problem, :mod:`pcipass.core.aliasservices`); the compute's other aliases
    follow. A ``[filter_scheduler]`` option the controller sets wins.
    """
    compared = aliasservices.compare([ov.value for ov in compute.alias], [ov.value for ov in controller.alias],
                                     [(ov.file, ov.line) for ov in compute.alias])
    own = [compute.alias[i] for i in compared.kept]
    aliases = [dataclasses.replace(ov, value_index=i) for i, ov in enumerate([*own, *controller.alias])]
    owned = [f for f in CONTROLLER_OPTIONS if f in controller.sources]
    return dataclasses.replace(
        compute, files=[*compute.files, *controller.files], alias=aliases,
        problems=[*compute.problems, *controller.problems, *compared.problems],
        warnings=[*compute.warnings, *controller.warnings],
        sources={**compute.sources, **{f: controller.sources[f] for f in owned}},
        **{f: getattr(controller, f) for f in owned})


def finish(part: HostRead, compute: config.NovaConfig | None,
           controller: config.NovaConfig | None) -> scanreport.HostScan:
    """Parse the host's config against its own facts and match every device."""
    view = None
    extra: list[errors.Problem] = []
    if compute is None:
        extra.append(errors.Problem(
            "NoComputeConfig", f"{part.no_config}: no device is assignable",
            hint="pass the compute node's nova.conf with --compute-conf FILE"))
    if compute is not None or controller is not None:
        view = _analyze(compute, controller, part.devices)
    starts = None if compute is None else (not compute.problems and view is not None
                                           and view.specs.valid)
    matches = _match(part.devices, view, part.warnings)
    if starts is False:
        part.warnings.append("the compute config is invalid: nova-compute refuses to start with "
                             "it, so no device is assignable until config.errors are fixed")
    return scanreport.HostScan(
        name=part.name, root=part.root, kind=part.kind, devices=part.devices, numa=part.numa,
        kernel=part.kernel, config=view, compute_starts=starts, matches=matches,
        iommu_groups=part.iommu_groups, netdevs=part.netdevs,
        config_errors=tuple(view.errors) if view is not None else (),
        config_warnings=(*extra, *(view.warnings if view is not None else ())),
        warnings=tuple(part.warnings),
        nova_host=compute.host if compute is not None else None, facts_from=part.facts_from)


def _analyze(compute: config.NovaConfig | None, controller: config.NovaConfig | None,
             devices: tuple[model.Device, ...]) -> configcheck.ConfigView:
    # NOTE: configcheck costs ~100 ms to import (oslo.config, jsonschema, YAML); a scan of
    # hosts without any config never needs it
    # (test_scan_without_config_does_not_load_oslo_or_jsonschema).
    from pcipass.services import configcheck

    merged = compute if compute is not None else config.NovaConfig(files=[])
    if controller is not None:
        merged = with_controller(merged, controller)
    return configcheck.analyze(merged, model.HostFacts.from_devices(devices),
                               devices=devices)  # regex addresses run bounded once


def _match(devices: Sequence[model.Device], view: configcheck.ConfigView | None,
           warnings: list[str]) -> dict[str, spec.SpecEntry | None]:
    entries = view.specs.specs if view is not None else []
    if not entries:
        return dict.fromkeys((d.address for d in devices), None)
    out: dict[str, spec.SpecEntry | None] = {}
    for dev in devices:
        try:
            out[dev.address] = spec.first_match(entries, dev)
        except errors.PcipassError as exc:
            warnings.append(f"{dev.address}: cannot be matched: {exc.message}")
            out[dev.address] = None
    return out
