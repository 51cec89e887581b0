"""The modern configuration that does what a 2013 label configuration meant.

Each label of ``[DEFAULT] pci_passthrough_devices`` (parsed by
:mod:`~pcipass.core.legacy`) becomes a custom resource class reported to
Placement, and one ``[pci] alias`` asking for it; each flavor's
``pci_passthrough:labels`` becomes ``pci_passthrough:alias``. Labels that
would share a resource class or alias name, and flavors asking for labels no
host offers, are reported.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pcipass.core import errors, legacy
from pcipass.core import requests as requests_mod


@dataclasses.dataclass(frozen=True, slots=True)
class ModernConfig:
    """The device_spec/alias/Placement configuration that replaces the legacy one.

    :ivar device_specs: per host, one ``[pci] device_spec`` JSON value per device.
    :ivar aliases: ``[pci] alias`` JSON values, one per label (controller and computes).
    :ivar options: the two option lines PCI in Placement needs.
    :ivar flavor_extra_specs: per flavor, its rewritten extra specs.
    """

    device_specs: dict[str, list[str]]
    aliases: list[str]
    options: list[str]
    flavor_extra_specs: dict[str, dict[str, str]]
    problems: list[errors.Problem]
    warnings: list[errors.Problem]

    def render_compute_conf(self, host: str) -> str:
        """nova.conf lines for one compute (aliases too: move operations read them there)."""
        lines = ["[pci]", "report_in_placement = True"]
        lines += [f"device_spec = {s}" for s in self.device_specs.get(host, [])]
        lines += [f"alias = {a}" for a in self.aliases]
        return "\n".join(lines) + "\n"

    def render_controller_conf(self) -> str:
        """nova.conf lines for the API and scheduler."""
        lines = ["[pci]"] + [f"alias = {a}" for a in self.aliases]
        lines += ["", "[filter_scheduler]", "pci_in_placement = True"]
        return "\n".join(lines) + "\n"


def modern_equivalent(legacy_devices_by_host: Mapping[str, Sequence[legacy.LegacyDevice]],
                      labels: Mapping[str, str] | None = None) -> ModernConfig:
    """Write the modern configuration that does what the legacy one meant.

    :param legacy_devices_by_host: host name -> its parsed legacy devices.
    :param labels: flavor name -> its ``pci_passthrough:labels`` value, if any.
    :returns: device_spec values per host (address + ``resource_class``
        ``CUSTOM_<LABEL>``), one alias per label, the two options, the
        rewritten flavors, and problems/warnings (label collisions, flavors
        asking for labels no host offers, the deprecation itself).
    """
    hosts = sorted(legacy_devices_by_host)
    warnings = [legacy.deprecation_warning(h) for h in hosts if legacy_devices_by_host[h]]
    device_specs = {h: [_spec_json(d) for d in legacy_devices_by_host[h]] for h in hosts}
    all_labels = _ordered_labels(legacy_devices_by_host[h] for h in hosts)
    warnings += _collisions(all_labels)
    aliases = [json.dumps({"name": legacy.alias_name_for(label),
                           "resource_class": legacy.resource_class_for(label)})
               for label in all_labels]
    flavors, problems = _modern_flavors(labels or {}, set(all_labels), warnings)
    return ModernConfig(device_specs, aliases, [legacy.COMPUTE_OPTION, legacy.SCHEDULER_OPTION],
                        flavors, problems, warnings)


def _spec_json(dev: legacy.LegacyDevice) -> str:
    return json.dumps({"address": dev.address, "resource_class": dev.resource_class})


def _ordered_labels(groups: Any) -> list[str]:
    seen: dict[str, None] = {}
    for devs in groups:
        for dev in devs:
            seen.setdefault(dev.label, None)
    return list(seen)


def _collisions(labels: Sequence[str]) -> list[errors.Problem]:
    """Labels that would share a resource class or an alias name."""
    out = []
    for what, key in (("resource class", legacy.resource_class_for),
                      ("alias name", legacy.alias_name_for)):
        by_key: dict[str, list[str]] = {}
        for label in labels:
            by_key.setdefault(key(label), []).append(label)
        for value, group in by_key.items():
            if len(group) > 1:
                out.append(errors.Problem(
                    code="LegacyLabelCollision", entry=f"label {group[0]!r}",
                    message=(f"labels {', '.join(repr(g) for g in group)} all become {what} {value}, "
                             "so their devices become interchangeable"),
                    hint="rename the labels so they differ in letters or digits"))
    return out


def _modern_flavors(labels: Mapping[str, str], offered: set[str],
                    warnings: list[errors.Problem]) -> tuple[dict[str, dict[str, str]], list[errors.Problem]]:
    flavors: dict[str, dict[str, str]] = {}
    problems: list[errors.Problem] = []
    for flavor, value in labels.items():
        try:
            pairs = legacy.label_counts(value)
        except errors.InvalidExtraSpec as exc:
            problems.append(dataclasses.replace(exc.to_problem(), entry=f"flavor {flavor!r}"))
            continue
        for label, _count in pairs:
            if label not in offered:
                warnings.append(errors.Problem(
                    code="LegacyLabelNotOffered", entry=f"flavor {flavor!r}",
                    message=f"flavor {flavor!r} asks for label {label!r}, which no host lists",
                    hint=f"add a device with label {label!r} to some host's {legacy.OPTION}"))
        flavors[flavor] = modern_flavor_extra_specs({legacy.LABELS_KEY: value})
    return flavors, problems


def modern_flavor_extra_specs(extra_specs: Mapping[str, str]) -> dict[str, str]:
    """Rewrite a flavor's extra specs: ``pci_passthrough:labels`` -> ``pci_passthrough:alias``.

    :raises errors.InvalidExtraSpec: a malformed labels value.
    """
    out = {k: v for k, v in extra_specs.items() if k != legacy.LABELS_KEY}
    if legacy.LABELS_KEY in extra_specs:
        pairs = legacy.label_counts(extra_specs[legacy.LABELS_KEY])
        if pairs:
            out[requests_mod.ALIAS_KEY] = ",".join(f"{legacy.alias_name_for(label)}:{n}"
                                                   for label, n in pairs)
    return out


def for_host(config: legacy.LegacyConfig) -> ModernConfig:
    """The modern equivalent of one host's legacy configuration."""
    return modern_equivalent({config.host: config.devices})
