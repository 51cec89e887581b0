"""What ``pcipass scan`` found: one :class:`HostScan` per host.

The doctor and the scheduler reuse these records. Their JSON document
(``pcipass-scan/1``, ``contracts.md`` §3, pinned by the scan tests) is made at
the output edge, :mod:`pcipass.services.jsonview`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pcipass.core import errors, model

if TYPE_CHECKING:
    from pcipass.adapters import kernel, sysfs, sysnuma
    from pcipass.core import spec
    from pcipass.services import configcheck


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


@dataclasses.dataclass(frozen=True)
class ScanReport:
    """All scanned hosts, in the order given (``--host`` first, then ``--lspci``)."""

    hosts: tuple[HostScan, ...]

    @property
    def valid(self) -> bool:
        """True when every host's config is valid."""
        return all(h.config_valid for h in self.hosts)
