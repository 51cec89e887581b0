"""Differential: instance NUMA topology and host-cell fit agree with Nova's hardware module.

Covers what ``core/numa.py`` claims to model: the instance topology from
``hw:numa_nodes`` / ``hw:cpu_policy`` (``numa_get_constraints``), host cells
with shared and dedicated CPU sets and no explicit page sizes, on an empty
host, and the PCI-aware cell order and permutation search of
``numa_fit_instance_to_host`` with the scheduler's pools.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from pcipass.core import numa, pools

from support import require_module  # noqa: E402

require_module("nova")  # fails in CI, skips only where the reference extra is absent

import test_stats_nova as stats_nova  # noqa: E402  (sibling module: the shared Nova harness)

pytestmark = pytest.mark.nova


@st.composite
def host_cells(draw: st.DrawFn) -> tuple[numa.HostCell, ...]:
    out = []
    base = 0
    for i in range(draw(st.integers(1, 4))):
        ncpus = draw(st.integers(0, 6))
        cpus = frozenset(range(base, base + ncpus))
        base += ncpus
        pcpus = frozenset(c for c in cpus if draw(st.booleans()))
        out.append(numa.HostCell(i, cpus - pcpus if draw(st.booleans()) else cpus, pcpus,
                                 draw(st.sampled_from([512, 1024, 2048, 4096])),
                                 draw(st.sampled_from([0, 1, None]))))
    return tuple(out)


shapes = st.builds(numa.InstanceShape, vcpus=st.integers(1, 8),
                   memory_mb=st.sampled_from([256, 512, 768, 1024, 2048, 3072]),
                   numa_nodes=st.sampled_from([None, 1, 2, 3]),
                   cpu_policy=st.sampled_from([None, "shared", "dedicated"]))


def nova_instance_topology(shape: numa.InstanceShape) -> Any:
    """Nova's own ``numa_get_constraints`` for a flavor with this shape (or the error name)."""
    from nova import exception, objects
    from nova.virt import hardware

    objects.register_all()
    extra = {}
    if shape.numa_nodes is not None:
        extra["hw:numa_nodes"] = str(shape.numa_nodes)
    if shape.cpu_policy is not None:
        extra["hw:cpu_policy"] = shape.cpu_policy
    flavor = objects.Flavor(vcpus=shape.vcpus, memory_mb=shape.memory_mb, extra_specs=extra)
    try:
        return hardware.numa_get_constraints(flavor, objects.ImageMeta.from_dict({}))
    except exception.NovaException as exc:
        return type(exc).__name__


def our_instance_cells(shape: numa.InstanceShape) -> Any:
    try:
        return numa.instance_cells(shape)
    except numa.ImageNUMATopologyAsymmetric as exc:
        return exc.code


@settings(max_examples=120, deadline=None, derandomize=True)
@given(shape=shapes)
def test_instance_topology_agrees_with_nova(nova_oracle: Any, shape: numa.InstanceShape) -> None:
    theirs = nova_instance_topology(shape)
    ours = our_instance_cells(shape)
    if isinstance(theirs, str) or theirs is None:
        assert ours == theirs
        return
    assert ours is not None and not isinstance(ours, str)
    assert [(c.id, len(c.cpuset) + len(c.pcpuset), c.memory, bool(c.pcpuset))
            for c in theirs.cells] == [(c.index, c.vcpus, c.memory_mb, c.dedicated) for c in ours]


def nova_fit(topology: Any, cells: Sequence[numa.HostCell], reqs: list[Any] | None,
             scheduler: Any) -> tuple[int, ...] | None:
    from nova.virt import hardware

    got = hardware.numa_fit_instance_to_host(stats_nova.nova_topology(cells), topology, None,
                                             pci_requests=reqs, pci_stats=scheduler)
    return None if got is None else tuple(c.id for c in got.cells)


def our_fit(shape: numa.InstanceShape, cells: Sequence[numa.HostCell],
            reqs: Sequence[pools.Request], view: pools.PciStats | None) -> tuple[int, ...] | None:
    guest = numa.instance_cells(shape)
    assert guest is not None
    check = None
    if reqs and view is not None:
        def check(nodes: tuple[int, ...]) -> bool:
            return view.support(reqs, nodes).ok
    per_node = view.free_per_node() if view is not None else None
    return numa.fit(cells, guest, pci_check=check, pci_per_node=per_node).nodes


topology_shapes = st.builds(numa.InstanceShape, vcpus=st.integers(1, 6),
                            memory_mb=st.sampled_from([256, 512, 1024, 2048, 3072]),
                            numa_nodes=st.sampled_from([1, 1, 2, 3]),
                            cpu_policy=st.sampled_from([None, "shared", "dedicated"]))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(shape=st.one_of(shapes, topology_shapes), cells=host_cells())
def test_fit_without_pci_agrees_with_nova(nova_oracle: Any, shape: numa.InstanceShape,
                                          cells: tuple[numa.HostCell, ...]) -> None:
    topology = nova_instance_topology(shape)
    if topology is None or isinstance(topology, str):
        return
    expected = nova_fit(topology, cells, None, None)
    event(f"fits={expected is not None}")
    if expected is not None and len(cells) > len(topology.cells):
        event(f"placement {expected}")
    assert our_fit(shape, cells, [], None) == expected


numa_shapes = st.builds(numa.InstanceShape, vcpus=st.sampled_from([2, 4]), memory_mb=st.just(1024),
                        numa_nodes=st.sampled_from([1, 1, 2]),
                        cpu_policy=st.sampled_from([None, "dedicated"]))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(shape=numa_shapes, sc=stats_nova.scenarios())
def test_fit_with_pci_agrees_with_nova(nova_oracle: Any, shape: numa.InstanceShape,
                                       sc: dict[str, Any]) -> None:
    """PCI-rich cells first, each permutation checked against the scheduler's pools."""
    topology = nova_instance_topology(shape)
    if topology is None or isinstance(topology, str):
        return
    cells = tuple(numa.HostCell(c.id, frozenset(range(8 * c.id, 8 * c.id + 8)),
                                frozenset(range(8 * c.id, 8 * c.id + 8)), 4096, c.socket)
                  for c in sc["cells"])
    sc = {**sc, "cells": cells}
    ours, values, facts = stats_nova._ours(sc)
    compute, wl = stats_nova.nova_stats(nova_oracle, sc["devices"], values, facts, cells)
    scheduler = stats_nova.nova_scheduler_stats(compute, wl, cells)
    reqs = sc["requests"]
    expected = nova_fit(topology, cells, stats_nova.nova_requests(reqs) or None, scheduler)
    event(f"fits={expected is not None} cells={len(cells)} guest={len(topology.cells)}")
    if expected is not None and len(cells) > len(topology.cells):
        event(f"placement {expected}")
    assert our_fit(shape, cells, reqs, ours.scheduler_view()) == expected
