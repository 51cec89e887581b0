"""The doctor as one use case: gather the facts, run the checks, build the ``pcipass-doctor/1`` document."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pcipass.core.layers import Layer
from pcipass.doctor import mapping, registry, runner
from pcipass.doctor import model as dm
from pcipass.services import gcpause
from pcipass.services.doctor import gather
from pcipass.services.jsonview import to_json

SCHEMA = "pcipass-doctor/1"


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """The findings, the JSON document, and the exit code they imply."""

    doc: dict[str, Any]
    findings: tuple[dm.Finding, ...]
    internal_errors: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        """0/1/2 from the findings (contracts.md §5); 255 when gathering itself broke."""
        return 255 if self.internal_errors else runner.exit_code(self.findings)


def diagnose(inputs: gather.Inputs, selection: runner.Selection = runner.Selection(),
             checks: Sequence[registry.Check] | None = None) -> Diagnosis:
    """Run the doctor over ``inputs``.

    :raises hostroot.HostRootInvalid, lspcifile.LspciInputInvalid: unusable inputs.
    """
    chosen = list(checks) if checks is not None else registry.load_builtin().all()
    if not _placement_asked(inputs, selection):  # the Placement layer runs when given a Placement
        chosen = [c for c in chosen if c.layer != Layer.PLACEMENT]
    with gcpause.paused(), gather.gather(inputs) as g:
        findings = runner.run(chosen, g.hosts, g.run, selection)
        doc = build_document(g, findings)
        errors = tuple(g.run.internal_errors)
    if errors:
        doc["internal_errors"] = list(errors)
    return Diagnosis(doc, tuple(findings), errors)


def _placement_asked(inputs: gather.Inputs, selection: runner.Selection) -> bool:
    """A Placement was given (URL, cloud or export), or a PCI-P check was selected by name."""
    given = (inputs.placement_url, inputs.placement_cloud, inputs.placement_file)
    return any(x is not None for x in given) or any(
        s.upper().startswith("PCI-P") for s in selection.select)


def build_document(g: gather.Gathered, findings: Sequence[dm.Finding]) -> dict[str, Any]:
    """The contract document: hosts, mapping table, findings, summary."""
    broken = runner.broken_layers(findings)
    table = mapping_table(g, findings)
    return {
        "schema": SCHEMA,
        "hosts": [_host(h) for h in g.hosts],
        "broken_layers": to_json(broken),
        "first_broken_layer": to_json(lead_layer(broken, table.flavors)),
        "mapping": to_json(table),
        "findings": to_json(findings),
        "summary": runner.summary(findings),
    }


def lead_layer(broken: Sequence[Layer], flavor_rows: Sequence[mapping.FlavorRow]) -> Layer | None:
    """The layer the headline leads with: the lowest first broken layer the flavor -> hosts table
    shows (where a tenant's boot stops), else the lowest layer with a failing finding."""
    shown = {h.first_broken_layer for row in flavor_rows for h in row.hosts
             if h.first_broken_layer is not None and h.fits is not True}
    if shown:
        return min(shown, key=lambda layer: layer.order)
    return broken[0] if broken else None


def _host(h: gather.HostSource) -> Any:
    info: dm.HostInfo = h.get("host")
    return to_json(info)


@dataclasses.dataclass(frozen=True, slots=True)
class MappingTable:
    """The doctor's mapping table: device_spec entries, aliases and flavors, as typed rows."""

    specs: tuple[mapping.SpecRow, ...]
    aliases: tuple[mapping.AliasRow, ...]
    flavors: tuple[mapping.FlavorRow, ...]


def mapping_table(g: gather.Gathered, findings: Sequence[dm.Finding]) -> MappingTable:
    specs: list[mapping.SpecRow] = []
    per_host: list[tuple[str, dm.ConfigFacts | None, dm.DeviceFacts | None]] = []
    for h in g.hosts:
        config: dm.ConfigFacts | None = h.peek("compute_config")
        devices: dm.DeviceFacts | None = h.peek("devices")
        per_host.append((h.host, config, devices))
        specs.extend(h.peek("spec_map") or [])
    flavors = g.run.peek("flavors") or ()
    return MappingTable(
        tuple(specs), tuple(mapping.alias_rows(per_host, g.run.peek("controller_config"))),
        tuple(mapping.flavor_rows(flavors, [h.host for h in g.hosts], findings,
                                  {h.host: h.peek("host_fit") for h in g.hosts})))


def checks_document(reg: registry.Registry) -> dict[str, Any]:
    """``pcipass doctor checks -f json``: every check with its documentation."""
    return {"schema": "pcipass-doctor-checks/1", "checks": to_json(reg.all())}
