"""What ``pcipass scan`` found: one :class:`HostScan` per host, and the ``pcipass-scan/1`` JSON shape.

The doctor and the scheduler reuse these records; the JSON document is the
scan's contract (``contracts.md`` §1), pinned by the scan tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pcipass.core import errors, model

if TYPE_CHECKING:
    from pcipass.adapters import kernel, sysfs, sysnuma
    from pcipass.core import spec
    from pcipass.services import configcheck

SCAN_SCHEMA = "pcipass-scan/1"


@dataclasses.dataclass(frozen=True)
class HostScan:
    """One scanned host, as the doctor and the scheduler reuse it.

    :ivar name: the host name (``manifest.hostname``, ``etc/hostname``, the
        directory name; an lspci file's stem).
    :ivar root: what was given: the ``--host`` path or the ``--lspci`` file.
    :ivar kind: ``live``, ``directory``, ``bundle`` or ``lspci``.
    :ivar nova_host: ``[DEFAULT] host`` of the compute config when set: the
        name Nova and Placement use for this host.
    :ivar numa: NUMA cells and sockets; ``None`` for an lspci paste.
    :ivar kernel: kernel facts; ``None`` for an lspci paste.
    :ivar config: the parsed compute (+ controller) config; ``None`` when the
        host has no compute config and no ``--nova-conf`` was given.
    :ivar compute_starts: False when nova-compute would refuse this config
        (invalid device_spec, unreadable file): then nothing is assignable;
        ``None`` when there is no compute config at all.
    :ivar matches: address -> the first device_spec entry that matches it,
        ``None`` when none does (over the entries that parsed).
    :ivar iommu_groups: group -> member addresses (sysfs only).
    :ivar netdevs: address -> interfaces with MAC and operstate (sysfs only).
    :ivar config_errors: the ``config.errors`` of the JSON document.
    :ivar config_warnings: the ``config.warnings`` of the JSON document.
    :ivar warnings: unreadable or odd host files, each naming the path.
    :ivar facts_from: ``sysfs``, ``facts.json`` (the root's saved facts) or ``lspci``.
    """

    name: str
    root: str
    kind: str
    devices: tuple[model.Device, ...]
    numa: sysnuma.NumaTopology | None
    kernel: kernel.KernelFacts | None
    config: configcheck.ConfigView | None
    compute_starts: bool | None
    matches: Mapping[str, spec.SpecEntry | None]
    iommu_groups: Mapping[int, tuple[str, ...]]
    netdevs: Mapping[str, tuple[sysfs.NetDev, ...]]
    config_errors: tuple[errors.Problem, ...]
    config_warnings: tuple[errors.Problem, ...]
    warnings: tuple[str, ...]
    nova_host: str | None = None
    facts_from: str = "sysfs"

    @property
    def nova_name(self) -> str:
        """The name Nova reports this host under (``[DEFAULT] host`` wins)."""
        return self.nova_host or self.name

    @property
    def config_valid(self) -> bool:
        return not self.config_errors

    def assigned_spec(self, address: str) -> spec.SpecEntry | None:
        """The spec entry that makes ``address`` assignable, as nova-compute decides."""
        return self.matches.get(address) if self.compute_starts is True else None

    def passthrough_devices(self) -> list[model.Device]:
        return [d for d in self.devices if self.assigned_spec(d.address) is not None]

    def device_dict(self, dev: model.Device) -> dict[str, Any]:
        """The contract's Device object (plus ``revision`` and ``driver_override``)."""
        out = dev.to_dict()
        warnings = out.pop("warnings")
        entry = self.assigned_spec(dev.address)
        out["passthrough"] = entry is not None
        out["spec_index"] = entry.index if entry is not None else None
        out["spec_source"] = _spec_source(self.config, entry)
        out["tags"] = dict(entry.spec.tags) if entry is not None else {}
        out["revision"] = dev.revision
        out["driver_override"] = dev.driver_override
        out["warnings"] = warnings
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "root": self.root,
            "kind": self.kind,
            "nova_host": self.nova_host,
            "facts_from": self.facts_from,
            "kernel": self.kernel.to_dict() if self.kernel is not None else unknown_kernel(),
            "numa": self.numa.to_dict() if self.numa is not None else None,
            "config": {
                "valid": self.config_valid,
                "files": list(self.config.nova.files) if self.config is not None else [],
                "compute_starts": self.compute_starts,
                "errors": [p.to_dict() for p in self.config_errors],
                "warnings": [p.to_dict() for p in self.config_warnings],
            },
            "devices": [self.device_dict(d) for d in self.devices],
            "warnings": list(self.warnings),
        }


@dataclasses.dataclass(frozen=True)
class ScanReport:
    """All scanned hosts, in the order given (``--host`` first, then ``--lspci``)."""

    hosts: tuple[HostScan, ...]

    @property
    def valid(self) -> bool:
        """True when every host's config is valid."""
        return all(h.config_valid for h in self.hosts)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCAN_SCHEMA, "hosts": [h.to_dict() for h in self.hosts]}


def unknown_kernel() -> dict[str, Any]:
    """The ``kernel`` object of a host known only from lspci: the same keys, nothing known."""
    return {"release": None, "cmdline": None, "iommu_present": None, "iommu_devices": [],
            "iommu_groups": None, "acpi_tables": [], "modules": [], "vfio_pci": None,
            "dmesg_source": None, "dmesg_iommu_lines": [], "dmesg_group_additions": None,
            "warnings": []}


def _spec_source(view: configcheck.ConfigView | None,
                 entry: spec.SpecEntry | None) -> dict[str, Any] | None:
    if view is None or entry is None:
        return None
    return view.spec_source(entry)
