"""Instance NUMA fit: which host NUMA nodes can hold an instance (nova-pci.md §3.3, §4.4).

Nova's NUMATopologyFilter (nova/virt/hardware.py ``numa_fit_instance_to_host``)
maps the instance's guest NUMA cells onto host NUMA cells and, for every
candidate mapping, asks the PCI pools whether the devices fit with NUMA
affinity. This module does the same for a host that runs nothing yet, with a
deliberately simplified CPU/memory check.

What is modelled exactly as Nova does it:

* The instance topology (``numa_get_constraints`` / ``_get_numa_topology_auto``):
  a topology exists when ``hw:numa_nodes`` is set or ``hw:cpu_policy`` is
  ``dedicated``; N nodes split vCPUs and RAM evenly (uneven ->
  ``ImageNUMATopologyAsymmetric``); ``dedicated`` pins every vCPU. No topology
  means no NUMA filtering of PCI devices at all.
* Host cells as the libvirt driver builds them (``_get_host_numa_topology``):
  shared CPUs = ``vcpu_pin_set``, else ``[compute] cpu_shared_set``, else none
  when ``cpu_dedicated_set`` is set, else every CPU of the cell; dedicated CPUs
  = ``cpu_dedicated_set``, else (unless only ``cpu_shared_set`` is set) the
  shared ones; a cell's socket is the one physical package of its CPUs, None
  when they span several (or the cell has no CPUs).
* The cell order: when the host has more cells than the instance, stable
  sorts by free memory (most first), by free dedicated CPUs (most first, for
  ``dedicated``) and finally by free PCI devices per cell: most first when the
  instance requests PCI, fewest first otherwise. Then every permutation of
  host cells is tried in ``itertools.permutations`` order, the first that fits
  CPU/memory *and* PCI wins.

What is simplified (a fresh host, no other instances):

* CPU: a guest cell fits when its vCPU count is at most the host cell's
  shared CPUs (shared policy) or dedicated CPUs (``dedicated``). Thread
  siblings, ``hw:cpu_thread_policy``, emulator threads, realtime masks and the
  ``mixed`` policy are not modelled (``mixed`` is refused with
  :class:`UnsupportedTopology`).
* Memory: a guest cell fits when its RAM is at most the host cell's total
  memory. Huge pages, ``hw:mem_page_size``, ``reserved_host_memory_mb`` and
  allocation ratios are not modelled; CPU/RAM overcommit limits cannot reject
  an instance on an empty host anyway.
* Manual per-cell layouts (``hw:numa_cpus.N`` / ``hw:numa_mem.N``), vPMEM and
  ``[neutron_physnet_*] numa_nodes`` affinity are ignored.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from pcipass.core import cpuset, errors
from pcipass.core.cpuset import MAX_CPU_RANGE, InvalidCpuSet  # noqa: F401 - re-exported

DEDICATED = "dedicated"
SHARED = "shared"
MIXED = "mixed"
#: More permutations than this are not explored (Nova would; hosts have at most 8 cells in practice).
MAX_PERMUTATIONS = 40320


class ImageNUMATopologyAsymmetric(errors.InputError):
    msg_fmt = ("Instance CPUs and/or memory cannot be evenly distributed across instance NUMA "
               "nodes. Explicit assignment of CPUs and memory to nodes is required")


class InstanceNumaNodesMismatch(errors.InputError):
    """The host nodes the instance is pinned to ("what if") disagree with the flavor's count.

    ``kwargs``: ``given`` (pinned nodes) and ``nodes`` (``hw:numa_nodes``), for a front
    end to word the message with the name of its pinning option.
    """

    msg_fmt = ("the instance is pinned to %(given)d host NUMA node(s) but the flavor asks for "
               "hw:numa_nodes=%(nodes)d")


class UnsupportedTopology(errors.InputError):
    """An instance layout the simplified fit does not model."""

    msg_fmt = "pcipass cannot model this instance NUMA layout: %(reason)s"


class PinnedNodesRepeated(UnsupportedTopology):
    """The host nodes the instance is pinned to are not distinct (or none are given).

    ``kwargs``: ``pinned`` (the nodes as a list). The code stays its parent's.
    """

    code = "UnsupportedTopology"


class CellFacts(Protocol):
    """What discovery knows of a host NUMA node (``adapters.sysnuma.NumaCell`` has this shape)."""

    @property
    def id(self) -> int: ...

    @property
    def cpus(self) -> tuple[int, ...]: ...

    @property
    def memory_kb(self) -> int | None: ...

    @property
    def sockets(self) -> tuple[int, ...]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class HostCell:
    """One host NUMA cell as Nova's libvirt driver reports it (a ``NUMACell``).

    :ivar cpus: CPUs for shared (floating) vCPUs.
    :ivar pcpus: CPUs for pinned vCPUs.
    :ivar memory_mb: total memory in MiB.
    :ivar socket: the physical package, None when unknown or not unique.
    """

    id: int
    cpus: frozenset[int] = frozenset()
    pcpus: frozenset[int] = frozenset()
    memory_mb: int = 0
    socket: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceShape:
    """The CPU/RAM/NUMA part of a flavor (and image) that the NUMA fit reads.

    :ivar numa_nodes: resolved ``hw:numa_nodes`` (None: unset).
    :ivar cpu_policy: resolved ``hw:cpu_policy`` (None: unset, i.e. shared).
    """

    vcpus: int = 1
    memory_mb: int = 512
    numa_nodes: int | None = None
    cpu_policy: str | None = None


def has_topology(numa_nodes: int | None, cpu_policy: str | None) -> bool:
    """Whether Nova builds a guest NUMA topology: ``hw:numa_nodes`` set, or pinned CPUs
    (``hw:cpu_policy`` dedicated or mixed); then NUMATopologyFilter decides."""
    return numa_nodes is not None or cpu_policy in (DEDICATED, MIXED)


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceCell:
    """One guest NUMA cell: ``index`` is the guest cell id."""

    index: int
    vcpus: int
    memory_mb: int
    dedicated: bool


@dataclasses.dataclass(frozen=True, slots=True)
class CellMiss:
    """Why guest cell ``guest`` does not fit host cell ``host``: ``what`` needed, ``have`` there."""

    host: int
    guest: int
    resource: str
    need: int
    have: int

    def __str__(self) -> str:
        return (f"guest cell {self.guest} needs {self.need} {self.resource} but host NUMA node "
                f"{self.host} has {self.have}")


@dataclasses.dataclass(frozen=True, slots=True)
class NumaFit:
    """The outcome of fitting an instance topology onto a host.

    :ivar nodes: host cell id per guest cell for the winning placement, None when nothing fits.
    :ivar order: host cell ids in the order Nova tries them.
    :ivar misses: CPU/memory shortfalls met, one per (host, guest) pair tried.
    :ivar pci_rejected: placements that fit CPU/memory but not the PCI devices, in try order.
    :ivar too_few_cells: the host has fewer cells than the instance (or none at all).
    :ivar unknown_nodes: pinned host nodes the host does not have.
    """

    nodes: tuple[int, ...] | None
    order: tuple[int, ...] = ()
    misses: tuple[CellMiss, ...] = ()
    pci_rejected: tuple[tuple[int, ...], ...] = ()
    too_few_cells: bool = False
    unknown_nodes: tuple[int, ...] = ()

    @property
    def fits(self) -> bool:
        return self.nodes is not None


def parse_cpu_set(value: str, option: str = "cpu set") -> frozenset[int]:
    """Nova's ``parse_cpu_spec``: ``"0-7,^3,12"`` -> CPU ids (bounded: :mod:`pcipass.core.cpuset`).

    :raises InvalidCpuSet: a malformed element, a reversed or absurdly large range, a CPU
        beyond any kernel's.
    """
    return cpuset.parse(value, option)


def host_cells(cells: Iterable[CellFacts], *, cpu_dedicated_set: str | None = None,
               cpu_shared_set: str | None = None, vcpu_pin_set: str | None = None,
               ) -> tuple[HostCell, ...]:
    """Build Nova's host NUMA cells from discovered nodes and the compute's CPU options.

    :raises InvalidCpuSet: an option value Nova cannot parse.
    """
    facts = list(cells)
    online = frozenset(cpu for cell in facts for cpu in cell.cpus)
    pin = parse_cpu_set(vcpu_pin_set, "vcpu_pin_set") if vcpu_pin_set else None
    shared_opt = parse_cpu_set(cpu_shared_set, "[compute] cpu_shared_set") if cpu_shared_set else None
    dedicated = (parse_cpu_set(cpu_dedicated_set, "[compute] cpu_dedicated_set")
                 if cpu_dedicated_set else frozenset())
    if pin is not None:
        shared = pin
    elif shared_opt is not None:
        shared = shared_opt
    elif dedicated:
        shared = frozenset()
    else:
        shared = online
    if not dedicated and not (cpu_shared_set and not vcpu_pin_set):
        dedicated = shared
    out = []
    for cell in sorted(facts, key=lambda c: c.id):
        cpus = frozenset(cell.cpus)
        socket = cell.sockets[0] if len(cell.sockets) == 1 else None
        out.append(HostCell(cell.id, cpus & shared, cpus & dedicated, (cell.memory_kb or 0) // 1024,
                            socket))
    return tuple(out)


def instance_cells(shape: InstanceShape, pinned: Sequence[int] | None = None,
                   ) -> tuple[InstanceCell, ...] | None:
    """The guest NUMA cells Nova builds for ``shape``; None when it gets no NUMA topology.

    ``pinned`` asks "what if the instance sat on these host nodes": it implies a
    topology of ``len(pinned)`` cells.

    :raises InstanceNumaNodesMismatch: ``pinned`` contradicts ``hw:numa_nodes``.
    :raises ImageNUMATopologyAsymmetric: CPUs or RAM do not split evenly.
    :raises UnsupportedTopology: ``mixed`` CPU policy.
    :raises PinnedNodesRepeated: a repeated pinned node.
    """
    if shape.cpu_policy == MIXED:
        raise UnsupportedTopology(reason="hw:cpu_policy=mixed needs per-CPU masks",
                                  hint="use dedicated or shared")
    nodes = shape.numa_nodes
    if pinned is not None:
        if len(set(pinned)) != len(pinned) or not pinned:
            raise PinnedNodesRepeated(reason=f"the pinned host NUMA nodes {list(pinned)} must be "
                                      "distinct", pinned=list(pinned), hint="e.g. 0,1")
        if nodes is not None and nodes != len(pinned):
            raise InstanceNumaNodesMismatch(given=len(pinned), nodes=nodes,
                                            hint=f"give {nodes} node id(s), or drop the option")
        nodes = len(pinned)
    dedicated = shape.cpu_policy == DEDICATED
    if nodes is None and not has_topology(shape.numa_nodes, shape.cpu_policy):
        return None
    nodes = nodes or 1
    if shape.vcpus % nodes or shape.memory_mb % nodes:
        raise ImageNUMATopologyAsymmetric(
            hint=f"{shape.vcpus} vCPUs and {shape.memory_mb} MiB must both divide by {nodes}")
    return tuple(InstanceCell(i, shape.vcpus // nodes, shape.memory_mb // nodes, dedicated)
                 for i in range(nodes))


def order_cells(cells: Sequence[HostCell], guest: Sequence[InstanceCell],
                pci_per_node: Mapping[int | None, int] | None, wants_pci: bool,
                ) -> tuple[HostCell, ...]:
    """Nova's host cell order before permutations (a fresh host: no CPU in use).

    ``pci_per_node`` counts free devices per ``numa_node`` (None: unknown); pass
    None when the host has no PCI stats.
    """
    ordered = list(cells)
    if len(ordered) <= len(guest):
        return tuple(ordered)
    ordered.sort(key=lambda c: c.memory_mb, reverse=True)
    if guest and guest[0].dedicated:
        ordered.sort(key=lambda c: len(c.pcpus), reverse=True)
    if pci_per_node is not None:
        counts = pci_per_node
        ordered.sort(key=lambda c: counts.get(c.id, 0), reverse=wants_pci)
    return tuple(ordered)


def cell_miss(host: HostCell, guest: InstanceCell) -> CellMiss | None:
    """The first reason guest cell ``guest`` cannot sit on ``host``, as Nova checks (memory, then CPUs)."""
    if host.memory_mb < guest.memory_mb:
        return CellMiss(host.id, guest.index, "MiB of memory", guest.memory_mb, host.memory_mb)
    if guest.dedicated:
        if guest.vcpus > len(host.pcpus):
            return CellMiss(host.id, guest.index, "dedicated CPUs", guest.vcpus, len(host.pcpus))
    elif guest.vcpus > len(host.cpus):
        return CellMiss(host.id, guest.index, "shared CPUs", guest.vcpus, len(host.cpus))
    return None


def fit(cells: Sequence[HostCell], guest: Sequence[InstanceCell], *,
        pci_check: Callable[[tuple[int, ...]], bool] | None = None,
        pci_per_node: Mapping[int | None, int] | None = None,
        pinned: Sequence[int] | None = None) -> NumaFit:
    """Fit guest cells onto host cells, Nova's ``numa_fit_instance_to_host`` on an empty host.

    :param pci_check: given the host cell id per guest cell, do the PCI requests
        fit (Nova's ``support_requests`` with those instance cells)? None: the
        instance requests no PCI device.
    :param pci_per_node: free PCI devices per NUMA node, for the cell order.
    :param pinned: only try this placement (host cell id per guest cell).
    """
    ids = tuple(c.id for c in cells)
    if pinned is not None and cells:
        by_id = {c.id: c for c in cells}
        missing = tuple(n for n in pinned if n not in by_id)
        if missing:
            return NumaFit(None, ids, unknown_nodes=missing)
    if not cells or len(cells) < len(guest):
        return NumaFit(None, ids, too_few_cells=True)
    if pinned is not None:
        candidates: Iterable[tuple[HostCell, ...]] = [tuple(by_id[n] for n in pinned)]
        order = tuple(pinned)
    else:
        ordered = order_cells(cells, guest, pci_per_node, pci_check is not None)
        order = tuple(c.id for c in ordered)
        candidates = itertools.islice(itertools.permutations(ordered, len(guest)), MAX_PERMUTATIONS)
    misses: dict[tuple[int, int], CellMiss | None] = {}
    rejected: list[tuple[int, ...]] = []
    for perm in candidates:
        if not _cpu_mem_fits(perm, guest, misses):
            continue
        placement = tuple(c.id for c in perm)
        if pci_check is not None and not pci_check(placement):
            rejected.append(placement)
            continue
        return NumaFit(placement, order, _found(misses), tuple(rejected))
    return NumaFit(None, order, _found(misses), tuple(rejected))


def _cpu_mem_fits(perm: Sequence[HostCell], guest: Sequence[InstanceCell],
                  misses: dict[tuple[int, int], CellMiss | None]) -> bool:
    for host, cell in zip(perm, guest):
        pair = (host.id, cell.index)
        if pair not in misses:
            misses[pair] = cell_miss(host, cell)
        if misses[pair] is not None:
            return False
    return True


def _found(misses: Mapping[tuple[int, int], CellMiss | None]) -> tuple[CellMiss, ...]:
    return tuple(m for m in misses.values() if m is not None)
