"""The pools a long-running scheduler keeps up to date after claims
(:func:`pcipass.core.storedhost.without`) are the pools :func:`scheduler_book` builds from
scratch on the same tree: same pools in the same order, same devices in each, same counts,
same scheduler view, same free devices. Any sequence of claims and allocations, on hosts
with PFs and VFs on two NUMA nodes, VFs whose spec tags differ by PF, and type-PCI devices
of another product whose pools sort by key length among the rest.

A device freed, added or removed is :func:`leaving`'s None (built again), never updated."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pcipass.core import claimrules, numa, storedhost, tracker
from pcipass.core import devicestate as ds

CELLS = (numa.HostCell(0, frozenset({0, 1}), frozenset(), 4096, 0),
         numa.HostCell(1, frozenset({2, 3}), frozenset(), 4096, 1))


def _tree(pfs: int, vfs: int, pcis: int) -> tuple[ds.DeviceTree, dict[str, Any]]:
    """PFs 0000:81:00.p, their VFs interleaved as a dual-port card's (VF v of PF p at
    0000:81:(02+v).p), so the VF pools of two PFs (keys of one length) sort by their first
    device; type-PCI devices of another product on bus 0x84."""
    found = []
    for p in range(pfs):
        pf = f"0000:81:00.{p}"
        found.append(tracker.DiscoveredDevice(pf, "type-PF", "8086", "1572", None, p % 2))
        found += [tracker.DiscoveredDevice(f"0000:81:{0x02 + v:02x}.{p}", "type-VF", "8086",
                                           "154c", pf, p % 2,
                                           extra={"parent_ifname": f"enp129s0f{p}"})
                  for v in range(vfs)]
    found += [tracker.DiscoveredDevice(f"0000:84:00.{i}", "type-PCI", "10de", "1db4", None,
                                       i % 2) for i in range(pcis)]
    state = tracker.sync(tracker.TrackerState(ds.DeviceTree([], "h")), found).state
    tags = {d.address: ({"physical_network": f"physnet{d.address[-1]}"}
                        if d.dev_type == "type-VF" else {}) for d in found}
    return state.tree, tags


def _pools(built: storedhost.Book) -> list[Any]:
    return [(p.key, p.count, [d.address for d in p.devices]) for p in built.pools.compute.pools]


def _view(built: storedhost.Book) -> list[Any]:
    return [(p.key, p.count) for p in built.pools.view.pools]


@settings(max_examples=150, deadline=None, derandomize=True)
# The VF pools of PF 0 (81:02.0, 81:03.0) and PF 1 (81:02.1, 81:03.1): built again without
# 81:02.0 (the first free device, index 2 after the two PFs), PF 1's pool comes first.
@example(2, 2, 0, [(2, False)])
@given(st.integers(1, 3), st.integers(0, 4), st.integers(0, 3),
       st.lists(st.tuples(st.integers(0, 10_000), st.booleans()), min_size=1, max_size=12))
def test_kept_pools_equal_pools_built_again(pfs: int, vfs: int, pcis: int,
                                            steps: list[tuple[int, bool]]) -> None:
    tree, tags = _tree(pfs, vfs, pcis)
    state = tracker.TrackerState(tree)
    kept = storedhost.scheduler_book("h", tree, tags, CELLS)
    updates = 0
    for n, (choice, allocate) in enumerate(steps):
        free = sorted(a for a, d in state.tree.devices.items() if d.status == ds.Status.AVAILABLE)
        if not free:
            break
        consumer = f"c{n}"
        state = claimrules.claim(state, [claimrules.Pick(free[choice % len(free)])],
                                 consumer).state
        if allocate:
            state = claimrules.allocate(state, consumer).state
        gone = storedhost.leaving(tree, state.tree)
        assert gone is not None, "a claim only takes devices out of the pools"
        kept = storedhost.without(kept, gone)
        tree = state.tree
        updates += 1
        again = storedhost.scheduler_book("h", tree, tags, CELLS)
        assert _pools(kept) == _pools(again)
        assert _view(kept) == _view(again)
        assert [d.address for d in kept.host.devices] == [d.address for d in again.host.devices]
    assert updates >= 1


def test_a_freed_device_makes_the_pools_be_built_again() -> None:
    tree, _tags = _tree(1, 2, 0)
    state = tracker.TrackerState(tree)
    claimed = claimrules.claim(state, [claimrules.Pick("0000:81:02.0")], "c").state
    gone = storedhost.leaving(tree, claimed.tree)
    # The VF leaves its pool, and its PF (now unavailable) leaves the PF pool.
    assert gone is not None and sorted(d.address for d in gone) == ["0000:81:00.0",
                                                                     "0000:81:02.0"]
    freed = claimrules.free(claimed, "c").state
    assert storedhost.leaving(claimed.tree, freed.tree) is None
    assert storedhost.leaving(tree, ds.DeviceTree(list(tree.devices.values())[1:], "h")) is None
    assert storedhost.leaving(tree, tree) == []
