"""``flavor explain``: the PCI requests Nova makes for a flavor (and image), or why it refuses.

Each flavor is read through :mod:`~pcipass.adapters.flavorfile`, its extra
specs translated with the aliases of the configuration
(:func:`~pcipass.services.configcheck.load_config`), the 2013
``pci_passthrough:labels`` included, with the command that replaces them.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from pathlib import Path
from pcipass.adapters import flavorfile
from pcipass.core import config, errors, legacy, legacy_modern, requests
from pcipass.services import configcheck

@dataclasses.dataclass
class FlavorResult:
    flavor: str
    file: str | None
    requests: list[requests.PciRequest]
    numa_nodes: int | None
    numa_policy: str | None
    error: errors.Problem | None
    warnings: list[errors.Problem] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class FlavorReport:
    """Every flavor's result; its JSON (``pcipass flavor explain -f json``) is
    :func:`pcipass.services.jsonview.to_json`."""

    config: configcheck.ConfigView
    results: list[FlavorResult]
    image: str | None = None

    @property
    def valid(self) -> bool:
        return all(r.error is None for r in self.results)


def load_image(image: str | Path | None) -> tuple[dict[str, str] | None, errors.Problem | None]:
    """The image's properties (None without ``--image``) and its first problem, if any."""
    if image is None:
        return None, None
    img = flavorfile.read_image(image)
    return dict(img.properties), (img.problems[0] if img.problems else None)


def explain_flavors(flavors: Sequence[str | Path], *, nova_conf: Sequence[str | Path] = (),
                    image: str | Path | None = None) -> FlavorReport:
    """Turn each flavor (and the image) into Nova's PCI requests, or say why Nova would refuse."""
    view = configcheck.load_config(nova_conf)
    image_props, image_problem = load_image(image)
    results = []
    for path in flavors:
        fl = flavorfile.read_flavor(path)
        if fl.problems:
            results.append(FlavorResult(fl.name, str(path), [], None, None, fl.problems[0]))
            continue
        if image_problem is not None:
            results.append(FlavorResult(fl.name, str(path), [], None, None, image_problem))
            continue
        results.append(_explain_one(fl, view, image_props))
    return FlavorReport(view, results, str(image) if image is not None else None)


def _explain_one(fl: config.Flavor, view: configcheck.ConfigView, image_props: dict[str, str] | None) -> FlavorResult:
    if fl.extra_specs.get("pci_passthrough:alias") and not view.aliases.valid:
        # Nova parses the whole alias table on the first PCI flavor and refuses
        # every such flavor while any alias value is invalid.
        first = next((p for p in view.errors if p.code == "PciInvalidAlias"), None)
        if first is not None:
            return FlavorResult(fl.name, fl.file, [], None, None, first)
    try:
        fr = requests.translate_flavor(fl.extra_specs, view.aliases.aliases, image_props)
    except errors.PcipassError as exc:
        problem = exc.to_problem(file=fl.file, entry=f"flavor {fl.name!r}")
        return FlavorResult(fl.name, fl.file, [], None, None, problem)
    reqs = list(fr.requests)
    warnings = [w.located(file=fl.file) for w in fr.warnings]
    if legacy.LABELS_KEY in fl.extra_specs:
        # The 2013 design: labels name devices tagged with that label on each host.
        try:
            label_reqs = legacy.parse_labels(fl.extra_specs[legacy.LABELS_KEY])
            modern = legacy_modern.modern_flavor_extra_specs(fl.extra_specs)
        except errors.PcipassError as exc:
            return FlavorResult(fl.name, fl.file, [], None, None,
                                exc.to_problem(file=fl.file, entry=f"flavor {fl.name!r}"))
        offset = len(reqs)
        reqs.extend(dataclasses.replace(r, request_id=offset + i) for i, r in enumerate(label_reqs))
        warnings.append(errors.Problem(
            code="DeprecatedLegacyPciConfig", file=fl.file, entry=legacy.LABELS_KEY,
            message=(f"flavor {fl.name!r} uses pci_passthrough:labels from the 2013 design; "
                     "current Nova ignores it and boots the instance without these devices"),
            hint=(f"openstack flavor set {shlex.quote(fl.name)} --property "
                  + shlex.quote(f"pci_passthrough:alias={modern.get(requests.ALIAS_KEY, '')}")
                  + " --no-property pci_passthrough:labels (aliases as config check prints them)")))
    return FlavorResult(fl.name, fl.file, reqs, fr.numa_nodes, fr.numa_policy, None, warnings)
