"""The store keeps exactly what the pure tracker says, step after step, on SQLite, PostgreSQL
and MariaDB: random sequences of discoveries, claims, allocations and frees go through the
store (:func:`hoststate.apply`) and through :mod:`pcipass.core.tracker` alone (then ``save``),
and the stored state read back equals the pure one after every step (issue 13)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from storedb import Store, ready, store  # noqa: F401 - fixtures

from pcipass.adapters.store import hoststate, queries, records
from pcipass.core import devicestate as ds
from pcipass.core import tracker

PF = "0000:81:00.0"
VFS = tuple(f"0000:81:02.{i}" for i in range(4))
GPU = "0000:3b:00.0"
OWNERS = ("a1b2c3d4-0000-4000-8000-000000000001", "a1b2c3d4-0000-4000-8000-000000000002")
FACTS = records.HostFacts("compute-9", "c9", "test")
REFUSED = (ds.PciDeviceInvalidStatus, ds.PciDeviceInvalidOwner, ds.PciDeviceVFInvalidStatus,
           ds.PciDevicePFInvalidStatus)


def _report(address: str, rng: random.Random) -> tracker.DiscoveredDevice:
    extra: dict[str, Any] = {}
    if rng.random() < 0.3:
        extra["managed"] = rng.choice(["true", "false"])
    if address in VFS:
        extra["capabilities"] = {"sriov": {"pf_mac_address": "02:00:00:81:00:00",
                                           "vf_num": VFS.index(address)}}
        return tracker.DiscoveredDevice(address, "type-VF", "8086", "154c", PF,
                                        rng.choice([0, 1]), label="label_8086_154c",
                                        extra=extra)
    if address == PF:
        return tracker.DiscoveredDevice(address, "type-PF", "8086", "1572", None, 1,
                                        extra={"mac_address": "02:00:00:81:00:00", **extra})
    return tracker.DiscoveredDevice(address, rng.choice(["type-PCI", "type-PCI", "type-PF"]),
                                    "10de", "20b5", None, 0, extra=extra)


def _step(state: tracker.TrackerState, rng: random.Random) -> tuple[str, Any]:
    """A random rule: (its name, the function of a state)."""
    free = [a for a, d in state.tree.devices.items() if d.status == ds.Status.AVAILABLE]
    busy = [a for a, d in state.tree.devices.items()
            if d.status in (ds.Status.CLAIMED, ds.Status.ALLOCATED)]
    pick = rng.random()
    if pick < 0.45 or not (free or busy):
        present = [a for a in (PF, *VFS, GPU) if rng.random() < 0.8]
        found = [_report(a, rng) for a in present]
        return "sync", lambda st: tracker.sync(st, found)
    if pick < 0.75 and free:
        address, owner = rng.choice(sorted(free)), rng.choice(OWNERS)
        allocate = rng.random() < 0.5

        def take(st: tracker.TrackerState) -> tracker.TrackerChange:
            tree = ds.claim(st.tree, address, owner).tree
            if allocate:
                tree = ds.allocate(tree, address, owner).tree
            return tracker.TrackerChange(st.with_tree(tree))

        return f"take {address}", take
    if busy:
        address = rng.choice(sorted(busy))
        return f"free {address}", lambda st: tracker.free(st, address)
    return "nothing", lambda st: tracker.TrackerChange(st)


def _same(stored: tracker.TrackerState, pure: tracker.TrackerState) -> None:
    # the store keeps no deleted row: sync would forget it anyway
    live = {a: d for a, d in pure.tree.devices.items() if d.status != ds.Status.DELETED}
    assert stored.tree.devices == live
    assert stored.to_be_removed_when_freed == pure.to_be_removed_when_freed
    assert dict(stored.stale) == dict(pure.stale)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_store_keeps_what_the_tracker_says(ready: Store, seed: int) -> None:
    rng = random.Random(seed)
    first = [_report(a, rng) for a in (PF, *VFS, GPU)]
    hoststate.apply(ready.engine, "compute-9", lambda st: tracker.sync(st, first),
                    command="test", facts=FACTS)
    pure = tracker.save(tracker.sync(tracker.TrackerState(ds.DeviceTree([], "c9")), first).state)
    _same(hoststate.read_state(ready.engine, "compute-9"), pure)
    rules = {"sync": 0, "take": 0, "free": 0}
    for _ in range(30):
        name, rule = _step(pure, rng)
        try:
            expected = rule(pure)
        except REFUSED as exc:  # the state machine refuses it: so does the store, writing nothing
            with pytest.raises(type(exc)):
                hoststate.apply(ready.engine, "compute-9", rule, command=name)
            _same(hoststate.read_state(ready.engine, "compute-9"), pure)
            rules["refused"] = rules.get("refused", 0) + 1
            continue
        applied = hoststate.apply(ready.engine, "compute-9", rule, command=name)
        assert applied.warnings == expected.warnings
        pure = tracker.save(expected.state)
        _same(hoststate.read_state(ready.engine, "compute-9"), pure)
        rules[name.split()[0]] = rules.get(name.split()[0], 0) + 1
    assert min(rules[k] for k in ("sync", "take", "free")) >= 3, rules
    busy = {(a, d.owner) for a, d in pure.tree.devices.items()
            if d.status in (ds.Status.CLAIMED, ds.Status.ALLOCATED)}
    assert {(a, c) for _h, a, c, _s in queries.claims(ready.engine)} == busy
