"""A host's NUMA topology from sysfs: cells, their CPUs and memory, and the CPUs' sockets.

Every CPU list is bounded by the root's own ``sys/devices/system/cpu/possible``
(else by the 8,192 CPUs a kernel can have, :data:`~pcipass.core.cpuset.MAX_CPUS`):
a 64 KiB ``cpulist`` of ``0-1000000`` ranges expands to at most those CPUs,
and what falls outside is named in a warning.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from pcipass.adapters import hostroot, sysattrs
from pcipass.core import cpuset

NODE_DIR = "sys/devices/system/node"
CPU_DIR = "sys/devices/system/cpu"
#: The CPUs the host's kernel can ever bring up: every CPU list of the root is bounded by it.
POSSIBLE_CPUS = f"{CPU_DIR}/possible"

_MEMTOTAL = re.compile(r"MemTotal:\s+(\d+)\s*kB")


@dataclasses.dataclass(frozen=True, slots=True)
class NumaCell:
    """One host NUMA node: its CPUs, memory and the sockets those CPUs sit in."""

    id: int
    cpus: tuple[int, ...]
    memory_kb: int | None
    sockets: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class NumaTopology:
    """Host NUMA cells and CPU sockets (``cpu_sockets``: cpu -> physical package)."""

    cells: tuple[NumaCell, ...]
    cpu_sockets: Mapping[int, int]
    warnings: tuple[str, ...] = ()

    @property
    def sockets(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.cpu_sockets.values())))


def read_cpu_bound(root: hostroot.HostRoot, warnings: list[str]) -> cpuset.CpuBound:
    """The root's ``possible`` CPUs (capped at :data:`MAX_CPUS`), else the fixed cap."""
    fixed = cpuset.CpuBound.fixed()
    text = root.read_text(POSSIBLE_CPUS, warnings)
    if text is None:
        return fixed
    parsed = cpuset.bounded_list(text, bound=fixed)
    if parsed is None or not parsed.cpus:
        warnings.append(f"{POSSIBLE_CPUS}: unexpected content {text[:40]!r}; CPU lists are "
                        f"bounded by {fixed.source} instead")
        return fixed
    if parsed.dropped:
        warnings.append(f"{POSSIBLE_CPUS}: CPUs {cpuset.format_ranges(parsed.dropped)} are beyond "
                        f"{fixed.source}; ignored")
    return cpuset.CpuBound(cpuset.intersect(cpuset.parse_kernel_list(text) or (), fixed.ranges), POSSIBLE_CPUS)


def read_numa(root: hostroot.HostRoot) -> NumaTopology:
    """Host NUMA cells (CPUs, memory) and CPU sockets from ``sys/devices/system``."""
    warnings: list[str] = []
    cpu_sockets = _read_sockets(root, warnings)
    bound = read_cpu_bound(root, warnings)
    cells: list[NumaCell] = []
    for entry in root.listdir(NODE_DIR, warnings):
        if not re.fullmatch(r"node\d+", entry):
            continue
        cells.append(_read_cell(root, int(entry[4:]), cpu_sockets, warnings, bound))
    cells.sort(key=lambda c: c.id)
    return NumaTopology(cells=tuple(cells), cpu_sockets=cpu_sockets, warnings=tuple(warnings))


def _read_cell(root: hostroot.HostRoot, node: int, cpu_sockets: Mapping[int, int],
               warnings: list[str], bound: cpuset.CpuBound) -> NumaCell:
    base = f"{NODE_DIR}/node{node}"
    cpus: tuple[int, ...] = ()
    text = root.read_text(f"{base}/cpulist", warnings)
    if text is not None:
        parsed = cpuset.bounded_list(text, bound=bound)
        if parsed is None:
            warnings.append(f"{base}/cpulist: unexpected content {text[:40]!r}; ignored")
        else:
            cpus = parsed.cpus
            if parsed.dropped:
                warnings.append(
                    f"{base}/cpulist: CPUs {cpuset.format_ranges(parsed.dropped)} are outside "
                    f"{bound.source} ({cpuset.format_ranges(bound.ranges)}); ignored")
    memory: int | None = None
    meminfo = root.read_text(f"{base}/meminfo", warnings)
    if meminfo is not None:
        m = _MEMTOTAL.search(meminfo)
        if m:
            memory = int(m.group(1))
        else:
            warnings.append(f"{base}/meminfo: no MemTotal line")
    sockets = tuple(sorted({cpu_sockets[c] for c in cpus if c in cpu_sockets}))
    return NumaCell(id=node, cpus=cpus, memory_kb=memory, sockets=sockets)


def _read_sockets(root: hostroot.HostRoot, warnings: list[str]) -> dict[int, int]:
    sockets: dict[int, int] = {}
    for entry in root.listdir(CPU_DIR, warnings):
        if not re.fullmatch(r"cpu\d+", entry):
            continue
        rel = f"{CPU_DIR}/{entry}/topology/physical_package_id"
        text = root.read_text(rel, warnings)
        if text is None:
            continue
        value = sysattrs.int_value(text)
        if value is None:
            warnings.append(f"{rel}: unexpected content {text[:40]!r}; ignored")
            continue
        sockets[int(entry[3:])] = value
    return sockets
