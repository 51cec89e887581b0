"""``pcipass placement show``: the PCI resource providers each host's nova-compute reports to Placement.

Each host is scanned as ``pcipass scan`` scans it (:mod:`pcipass.services.scan`): its
devices, matched against its own compute config. The devices nova-compute tracks (those
a ``device_spec`` entry matches, when the config lets nova-compute start) go through
Nova's translation (:func:`pcipass.core.placement.translate`) under the host's
hypervisor hostname, which names the providers: ``--hypervisor-hostname`` when given,
else the host's hostname (contracts §1: ``manifest.hostname``, ``etc/hostname``, the
directory name). Not ``[DEFAULT] host``: the libvirt driver names its compute node (the
root provider, and so the PCI providers) after libvirt's ``getHostname()``, whatever the
service's ``host`` option says; a note says so when the two differ.

The document is ``pcipass-placement/1`` (``docs/schemas/placement.json``). Every device
left out has an exclusion with its reason; every error Nova would stop at is a refusal,
located at the ``device_spec`` value behind it (file and line); ``notes`` say why
nothing at all would be reported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from pcipass.core import errors, placement
from pcipass.services import scan, scanreport

PLACEMENT_SCHEMA = "pcipass-placement/1"
#: Where the hypervisor hostname came from (``hostname_source`` in the document).
FROM_OPTION, FROM_HOSTNAME = "option", "hostname"


@dataclasses.dataclass(frozen=True)
class HostPlacement:
    """One host's Placement view, with what decides whether Nova reports it.

    :ivar report_in_placement: ``[pci] report_in_placement`` (None: no compute config).
    :ivar nova_starts: False when nova-compute refuses the compute config (nothing is tracked).
    :ivar reported: True when nova-compute would report ``providers`` as they are: the
        option is on, the config valid and nothing refused.
    :ivar notes: why nothing, or not this, reaches Placement.
    """

    name: str
    root: str
    hypervisor_hostname: str
    hostname_source: str
    report_in_placement: bool | None
    nova_starts: bool | None
    reported: bool
    providers: tuple[placement.Provider, ...]
    exclusions: tuple[placement.Exclusion, ...]
    refusals: tuple[errors.Problem, ...]
    warnings: tuple[errors.Problem, ...]
    notes: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PlacementReport:
    """Every host's view, in the order given."""

    schema: str = PLACEMENT_SCHEMA
    hosts: tuple[HostPlacement, ...] = ()

    @property
    def refused(self) -> bool:
        """True when some host's nova-compute, reporting to Placement, would stop at a refusal.

        A host with ``report_in_placement`` off only shows what would happen with it on.
        """
        return any(h.refusals and h.report_in_placement for h in self.hosts)


class HypervisorNameAmbiguous(ValueError):
    """One ``--hypervisor-hostname`` for several hosts would give them the same providers."""


def show_placement(hosts: Sequence[str | Path], *, compute_conf: Sequence[str | Path] = (),
                   hypervisor_hostname: str | None = None, jobs: int = 1,
                   facts_cache: str = scan.CACHE_USE) -> PlacementReport:
    """Translate each host's tracked devices into Nova's Placement providers.

    :param hosts: host roots or bundles (``/`` is the live host).
    :param compute_conf: nova.conf files replacing every host's compute config.
    :param hypervisor_hostname: the compute node name (only with one host).
    :raises HypervisorNameAmbiguous: a hypervisor hostname given for several hosts.
    :raises hostroot.HostRootInvalid: a host path is missing or not a root or bundle.
    """
    if hypervisor_hostname is not None and len(hosts) != 1:
        raise HypervisorNameAmbiguous(
            f"a hypervisor hostname names one compute node, and {len(hosts)} hosts were given")
    report = scan.scan_hosts(hosts, compute_conf=compute_conf, jobs=jobs, facts_cache=facts_cache)
    return PlacementReport(hosts=tuple(host_placement(h, hypervisor_hostname) for h in report.hosts))


def host_placement(host: scanreport.HostScan, hypervisor_hostname: str | None = None) -> HostPlacement:
    """One scanned host's view (``hypervisor_hostname`` overrides the name Nova would use)."""
    if hypervisor_hostname is not None:
        name, source = hypervisor_hostname, FROM_OPTION
    else:
        name, source = host.name, FROM_HOSTNAME
    cfg = host.config
    entries = cfg.specs.specs if cfg is not None else []
    view = placement.translate(name, host.passthrough_devices(), entries)
    option = cfg.nova.report_in_placement if cfg is not None and host.compute_starts is not None else None
    notes = _notes(host, option, view) + _name_notes(host, name, source)
    refusals = tuple(_located(p, host) for p in view.refusals)
    return HostPlacement(host.name, host.root, name, source, option, host.compute_starts,
                         bool(option) and host.compute_starts is True and view.reported,
                         view.providers, view.exclusions, refusals, view.warnings, tuple(notes))


def _notes(host: scanreport.HostScan, option: bool | None,
           view: placement.PlacementView) -> list[str]:
    out = []
    if host.compute_starts is None:
        out.append("no compute config: nova-compute tracks no device, so nothing is reported")
    elif host.compute_starts is False:
        out.append("the compute config is invalid: nova-compute does not start and reports "
                   "nothing (see pcipass config check or scan for the errors)")
    elif option is False:
        out.append("[pci] report_in_placement is False: nova-compute reports no PCI inventory; "
                   "the providers listed are what it would report with the option on")
    if view.refusals:
        out.append(f"nova-compute stops at the first refusal ({view.refusals[0].code}) and "
                   "reports no PCI inventory at all until every refusal is fixed")
    if host.compute_starts is True and not host.passthrough_devices():
        out.append("no device matches a [pci] device_spec entry: nothing to report")
    return out


def _name_notes(host: scanreport.HostScan, name: str, source: str) -> list[str]:
    out = []
    if host.nova_host and host.nova_host != name:
        out.append(f"nova.conf [DEFAULT] host is {host.nova_host!r}: it names the compute service, "
                   f"not the compute node; libvirt names the node, and so the providers, after "
                   f"the hypervisor's hostname ({name!r} here)")
    if source == FROM_HOSTNAME and "." not in name:
        out.append(f"libvirt reports the canonical name of {name!r} when it resolves to one (a "
                   "fully qualified name): compare with 'openstack hypervisor list' and pass "
                   "--hypervisor-hostname if they differ")
    return out


def _located(problem: errors.Problem, host: scanreport.HostScan) -> errors.Problem:
    """The refusal with the file and line of the device_spec value behind it."""
    cfg = host.config
    if cfg is None:
        return problem
    index = problem.value_index
    if index is None and problem.entry is not None:
        entry = host.matches.get(problem.entry)
        index = entry.value_index if entry is not None else None
    values = cfg.nova.device_spec
    if index is None or not 0 <= index < len(values):
        return problem
    return problem.located(file=values[index].file, line=values[index].line, value_index=index)
