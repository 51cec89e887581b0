"""The answer records of the scheduling core: a host's verdict, its reasons and their evidence.

These are the contract's ``hosts`` entries of ``pcipass schedule`` (their JSON
is made at the output edge, :mod:`pcipass.services.jsonview`). :class:`HostInput` is the question's side: one host as the
core needs it.
"""

from __future__ import annotations

import dataclasses

from pcipass.core import model, numa, spec
from pcipass.core.evidence import Evidence as Evidence  # the reasons' evidence is the core's one kind
from pcipass.core.layers import Layer
from pcipass.core.severity import Severity

#: Nova's PCIWeigher counts at most this many free devices (``MAX_DEVS`` in nova/scheduler/weights/pci.py).
MAX_DEVS = 100


@dataclasses.dataclass(frozen=True, slots=True)
class HostInput:
    """One host as the scheduler core needs it: devices, parsed device_spec, NUMA cells."""

    name: str
    devices: tuple[model.Device, ...]
    specs: tuple[spec.SpecEntry, ...]
    cells: tuple[numa.HostCell, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Reason:
    """Why (part of) a host was rejected: the contract's Reason object.

    ``layer`` prints as its name (a JSON or YAML string); ``evidence`` without lines.
    """

    layer: Layer
    message: str
    dropped: int = 0
    evidence: tuple[Evidence, ...] = ()
    #: As the doctor's finding for the same cause would say it: ``fail`` (the host is refused, or
    #: the boot fails there), ``warn`` or ``info``.
    severity: Severity = Severity.FAIL


@dataclasses.dataclass(frozen=True, slots=True)
class PinnedNodesUnknown(Reason):
    """The instance was pinned ("what if") to host NUMA nodes this host does not have.

    A front end words it with the name of its pinning option; the JSON form is a
    plain :class:`Reason`.

    :ivar unknown: the pinned nodes missing here.
    :ivar host_nodes: the host's NUMA node ids, as the message shows them.
    """

    unknown: tuple[int, ...] = ()
    host_nodes: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class ChosenDevice:
    """A device the compute claim would give the instance."""

    address: str
    dev_type: str | None
    numa_node: int | None
    alias_name: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class HostVerdict:
    """The answer for one host.

    :ivar fits: the instance would boot here (scheduler and claim agree), or,
        with ``nova_compatible``, Nova's scheduler would pick it.
    :ivar nova_fits: Nova's scheduler filters pass.
    :ivar claim_ok: the compute claim succeeds (None: not reached).
    :ivar free: free PCI devices (the PCIWeigher's input).
    :ivar weight: set by :func:`ranking.rank_hosts`.
    """

    name: str
    fits: bool
    nova_fits: bool
    claim_ok: bool | None
    devices: tuple[ChosenDevice, ...] = ()
    instance_numa_nodes: tuple[int, ...] | None = None
    reasons: tuple[Reason, ...] = ()
    free: int = 0
    weight: float = 0.0

    @property
    def one_numa_node(self) -> bool:
        """Instance cells and chosen devices all sit on one known NUMA node."""
        nodes: set[int | None] = set(self.instance_numa_nodes or ())
        nodes.update(d.numa_node for d in self.devices)
        return len(nodes) == 1 and None not in nodes

    @property
    def raw_weight(self) -> int:
        """Nova's PCIWeigher before normalization."""
        return MAX_DEVS - min(self.free, MAX_DEVS - 1)
