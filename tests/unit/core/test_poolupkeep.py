"""Pools kept one device at a time (core.poolupkeep): equal to pools rebuilt from scratch,
and the tracker's calls on them. Nova's own behaviour is the differential tests' business
(tests/differential/test_poolupkeep_nova.py, test_tracker_nova.py)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import devicestate as ds
from pcipass.core import model, pools, spec
from pcipass.core import poolupkeep as upkeep
from pcipass.core import tracker as tr
from pcipass.core.poolrecords import PoolCorrupted

PF = "0000:01:00.0"
VF1, VF2 = "0000:01:00.1", "0000:01:00.2"
GPU = "0000:05:00.0"


def specs_of(*entries: dict[str, Any]) -> list[spec.SpecEntry]:
    parsed = spec.parse_device_spec_values([json.dumps(list(entries))],
                                           model.HostFacts.from_devices([]))
    assert not parsed.problems
    return list(parsed.specs)


def tracked(address: str, dev_type: str, parent: str | None = None, product: str = "154c",
            numa: int | None = 0, **extra: str) -> ds.TrackedDevice:
    return ds.TrackedDevice(address, dev_type, parent_addr=parent, vendor_id="8086",
                            product_id=product, numa_node=numa, extra_info=extra)


def canonical(stats: pools.PciStats) -> list[tuple[Any, int, tuple[str, ...]]]:
    """Pools as a sorted list of (key, count, addresses): the order of pools of the same key
    length and of devices in a pool depend on the history, nothing else does."""
    return sorted(((sorted(p.key.items(), key=repr), p.count,
                    tuple(sorted(d.address for d in p.devices))) for p in stats.pools), key=repr)


# -- the property: kept pools equal rebuilt pools ---------------------------------------------

ADDRESSES = [f"0000:0{bus}:00.{fn}" for bus in (1, 2) for fn in range(4)] + [GPU, "0000:06:00.0"]
SPEC_SETS = [
    [{"vendor_id": "8086"}],
    [{"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet1"},
     {"vendor_id": "8086", "resource_class": "CUSTOM_NIC"}],
    [{"address": "0000:01:00.*", "trusted": "true"}, {"product_id": "1889"}],
]
TYPES = [model.TYPE_PCI, model.TYPE_PF, model.TYPE_VF, ds.TYPE_VDPA]


@st.composite
def a_device(draw: st.DrawFn, address: str) -> ds.TrackedDevice:
    dev_type = draw(st.sampled_from(TYPES))
    parent = address[:-1] + "0" if dev_type in ds.CHILD_TYPES else None
    return tracked(address, dev_type, parent, draw(st.sampled_from(["154c", "1572", "1889"])),
                   draw(st.sampled_from([0, 1, None])))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=st.data())
def test_pools_kept_by_add_remove_and_update_equal_pools_rebuilt(data: st.DataObject) -> None:
    """After any sequence of adds, removes and type changes, the pools are the ones
    ``pools.build`` makes from scratch for the devices now pooled, with their current data."""
    specs = specs_of(*data.draw(st.sampled_from(SPEC_SETS)))
    book = upkeep.PoolBook(specs)
    pooled: dict[str, ds.TrackedDevice] = {}
    for _ in range(data.draw(st.integers(1, 30))):
        address = data.draw(st.sampled_from(ADDRESSES))
        if address not in pooled:
            dev = data.draw(a_device(address))
            book.add(dev)
            if upkeep.pooled(dev, specs) is not None:
                pooled[address] = dev
        elif data.draw(st.booleans()):
            book.remove(pooled.pop(address))
        else:
            old = pooled[address]
            new = dataclasses.replace(old, dev_type=data.draw(st.sampled_from(
                [t for t in TYPES if t != old.dev_type])), numa_node=data.draw(
                st.sampled_from([0, 1, None])), product_id=data.draw(st.sampled_from(
                    ["154c", "1889"])))
            book.update(new)
            del pooled[address]
            if upkeep.pooled(new, specs) is not None:
                pooled[address] = new
        rebuilt = pools.build([upkeep.as_device(d) for d in pooled.values()], specs)
        assert canonical(book.stats) == canonical(rebuilt)
        assert all(p.count == len(p.devices) > 0 for p in book.stats.pools)
        sizes = [len(p.key) for p in book.stats.pools]
        assert sizes == sorted(sizes)  # Nova's order: pools sorted by key length


# -- Nova's calls, one by one -----------------------------------------------------------------


def test_removing_a_device_whose_key_has_no_pool_is_pool_empty() -> None:
    book = upkeep.PoolBook(specs_of({"vendor_id": "8086"}), compute_node_id=7)
    with pytest.raises(upkeep.PciDevicePoolEmpty) as err:
        book.remove(tracked(GPU, model.TYPE_PCI))
    # Nova's message (nova.exception.PciDevicePoolEmpty): compute node id, then the address
    assert err.value.message == "Attempt to consume PCI device 7:0000:05:00.0 from empty pool"


def test_removing_a_device_its_pool_does_not_hold_is_a_corrupt_pool() -> None:
    """VF2 has VF1's key (same PF, product, node) but was never added: Nova's list.remove
    raises ValueError."""
    book = upkeep.PoolBook(specs_of({"vendor_id": "8086"}))
    book.add(tracked(VF1, model.TYPE_VF, PF))
    with pytest.raises(PoolCorrupted, match="0000:01:00.2"):
        book.remove(tracked(VF2, model.TYPE_VF, PF))
    assert [p.count for p in book.stats.pools] == [1]


def test_a_device_no_spec_matches_is_neither_added_nor_removed() -> None:
    book = upkeep.PoolBook(specs_of({"vendor_id": "15b3"}))
    book.add(tracked(GPU, model.TYPE_PCI))
    book.remove(tracked(GPU, model.TYPE_PCI))
    assert book.stats.pools == []


def test_update_moves_only_on_a_type_change() -> None:
    book = upkeep.PoolBook(specs_of({"vendor_id": "8086"}))
    book.add(tracked(GPU, model.TYPE_PCI, numa=0))
    book.update(tracked(GPU, model.TYPE_PCI, numa=1))  # data changed in place: old key kept
    assert [p.key["numa_node"] for p in book.stats.pools] == [0]
    book.update(tracked(GPU, model.TYPE_PF, numa=1))  # a type change: the new data's pool
    assert [(p.key["dev_type"], p.key["numa_node"]) for p in book.stats.pools] == [
        (model.TYPE_PF, 1)]


def test_pool_keys_read_the_tracked_data() -> None:
    """``parent_ifname`` from extra_info, ``remote_managed`` false for SR-IOV types, the
    address of the PF for a VF, and a VPD serial for a remote_managed spec."""
    specs = specs_of({"vendor_id": "8086", "product_id": "1572", "remote_managed": "true"},
                     {"vendor_id": "8086"})
    vf = tracked(VF1, model.TYPE_VF, PF, parent_ifname="ens1f0")
    item = upkeep.pooled(vf, specs)
    assert item is not None and item.spec_index == 1
    assert dict(item.key) == {"product_id": "154c", "vendor_id": "8086", "numa_node": 0,
                              "dev_type": model.TYPE_VF, "address": PF,
                              "parent_ifname": "ens1f0", "remote_managed": "false"}
    pf = tracked(PF, model.TYPE_PF, product="1572",
                 capabilities=json.dumps({"vpd": {"card_serial_number": "MT2113X00001"}}))
    item = upkeep.pooled(pf, specs)
    assert item is not None and item.spec_index == 0 and item.key["remote_managed"] == "true"
    bare = dataclasses.replace(pf, extra_info={})  # no serial: the remote_managed spec skips it
    item = upkeep.pooled(bare, specs)
    assert item is not None and item.spec_index == 1


def test_capabilities_that_are_not_json_name_the_device() -> None:
    with pytest.raises(ValueError, match="0000:01:00.1: extra_info capabilities is not JSON"):
        upkeep.card_serial_number(tracked(VF1, model.TYPE_VF, PF, capabilities="{vpd"))


# -- driven by the tracker --------------------------------------------------------------------


def reported(address: str, dev_type: str, parent: str | None = None,
             numa: int = 0) -> tr.DiscoveredDevice:
    return tr.DiscoveredDevice(address, dev_type, "8086", "1572" if dev_type == "type-PF"
                               else "154c", parent, numa)


def test_the_tracker_events_keep_the_pools_equal_to_its_available_devices() -> None:
    specs = specs_of({"vendor_id": "8086"})
    book = upkeep.PoolBook(specs)
    change = tr.sync(tr.TrackerState(ds.DeviceTree([])), [
        reported(PF, model.TYPE_PF), reported(VF1, model.TYPE_VF, PF),
        reported(VF2, model.TYPE_VF, PF)])
    assert all(e.created for e in change.events)
    book.apply(change.events)
    assert sorted(d.address for d in book.stats.free_devices()) == [PF, VF1, VF2]
    # the compute claim takes VF1: it leaves its pool, and its PF leaves too
    tree = ds.claim(change.tree, VF1, "uuid-1").tree
    taken = book.take(tree, VF1)
    assert taken.address == VF1
    assert sorted(d.address for d in book.stats.free_devices()) == [VF2]
    # VF2 vanishes: it leaves; VF1, busy, stays with its owner
    state = change.state.with_tree(tree)
    gone = tr.sync(state, [reported(PF, model.TYPE_PF), reported(VF1, model.TYPE_VF, PF)])
    book.apply(gone.events)
    assert book.stats.free_devices() == []
    # freeing VF1 gives it and its PF back
    freed = tr.free(gone.state, VF1, "uuid-1")
    book.apply(freed.events)
    assert sorted(d.address for d in book.stats.free_devices()) == [PF, VF1]
    rebuilt = upkeep.PoolBook.rebuilt(freed.tree.devices.values(), specs)
    assert canonical(book.stats) == canonical(rebuilt.stats)


def test_rebuilt_pools_hold_only_available_devices() -> None:
    devices = [tracked(PF, model.TYPE_PF), dataclasses.replace(
        tracked(VF1, model.TYPE_VF, PF), status=ds.Status.ALLOCATED, owner="u"),
        tracked(GPU, model.TYPE_PCI)]
    book = upkeep.PoolBook.rebuilt(devices, specs_of({"vendor_id": "8086"}))
    assert sorted(d.address for d in book.stats.free_devices()) == [PF, GPU]


def test_taking_a_pf_drops_its_free_children() -> None:
    devices = [tracked(PF, model.TYPE_PF, product="1572"), tracked(VF1, model.TYPE_VF, PF),
               tracked(VF2, model.TYPE_VF, PF)]
    book = upkeep.PoolBook.rebuilt(devices, specs_of({"vendor_id": "8086"}))
    tree = ds.claim(ds.DeviceTree(devices), PF, "u").tree
    book.take(tree, PF)
    assert book.stats.free_devices() == []
    with pytest.raises(PoolCorrupted, match="in no pool"):
        book.take(tree, PF)
