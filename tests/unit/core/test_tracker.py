"""The tracker's rules on plain values: each rule of nova-pci.md §5, Nova's quirks, by example."""

from __future__ import annotations

import dataclasses

import pytest

from pcipass.core import devicestate as ds
from pcipass.core import model
from pcipass.core import tracker as tr

PF, VF1, VF2, GPU = "0000:81:00.0", "0000:81:00.1", "0000:81:00.2", "0000:3b:00.0"
A = "instance-a"


def pf(**extra: object) -> tr.DiscoveredDevice:
    return tr.DiscoveredDevice(PF, model.TYPE_PF, "8086", "1572", numa_node=0, extra=extra)


def vf(address: str = VF1, **extra: object) -> tr.DiscoveredDevice:
    return tr.DiscoveredDevice(address, model.TYPE_VF, "8086", "154c", parent_addr=PF, numa_node=0,
                               extra=extra)


def gpu(**changes: object) -> tr.DiscoveredDevice:
    base = tr.DiscoveredDevice(GPU, model.TYPE_PCI, "10de", "1db4", numa_node=1)
    return dataclasses.replace(base, **changes)


def started(*found: tr.DiscoveredDevice) -> tr.TrackerState:
    return tr.sync(tr.TrackerState(ds.DeviceTree([], compute_node_id=7)), found).state


def ops(change: tr.TrackerChange) -> list[tuple[str, str]]:
    return [(str(e.op), e.address) for e in change.events]


def test_new_devices_are_created_available_and_enter_the_pools_in_discovery_order() -> None:
    change = tr.sync(tr.TrackerState(ds.DeviceTree([], 7)), [vf(capabilities={"vpd": {}}), pf()])
    assert ops(change) == [("enter", VF1), ("enter", PF)]
    tree = change.tree
    assert tree[VF1].status == ds.Status.AVAILABLE and tree.parent(VF1) == tree[PF]
    # extra keys go to extra_info, JSON when not a string, as Nova's update_device stores them
    assert tree[VF1].extra_info == {"capabilities": '{"vpd": {}}'}
    assert change.warnings == () and change.state.to_be_removed_when_freed == frozenset()


def test_a_vanished_free_device_is_removed_and_leaves_its_pool() -> None:
    change = tr.sync(started(pf(), vf(), vf(VF2)), [pf(), vf()])
    assert ops(change) == [("leave", VF2)]
    assert change.tree[VF2].status == ds.Status.REMOVED
    assert [k.address for k in change.tree.children(PF)] == [VF1]  # the tree is rebuilt
    saved = tr.save(change.state)
    assert saved.tree[VF2].status == ds.Status.DELETED
    again = tr.sync(saved, [pf(), vf(), vf(VF2)])  # the next sync forgets it, then finds it new
    assert ops(again) == [("enter", VF2)] and again.tree[VF2].status == ds.Status.AVAILABLE


def test_a_vanished_busy_device_keeps_its_owner_warns_and_is_removed_when_freed() -> None:
    state = started(pf(), vf(), vf(VF2))
    state = state.with_tree(ds.allocate(state.tree, VF1, A).tree)
    change = tr.sync(state, [pf(), vf(VF2)])
    assert change.tree[VF1].status == ds.Status.ALLOCATED and change.tree[VF1].owner == A
    assert change.state.to_be_removed_when_freed == {VF1} and ops(change) == []
    assert change.warnings == (
        "Unable to remove device with status 'allocated' and ownership instance-a because of PCI "
        "device 7:0000:81:00.1 is allocated instead of ['available', 'unavailable', "
        "'unclaimable']. Check your [pci]device_spec configuration to make sure this allocated "
        "device is whitelisted. If you have removed the device from the whitelist intentionally "
        "or the device is no longer available on the host you will need to delete the server or "
        "migrate it to another host to silence this warning.",)
    freed = tr.free_instance(change.state, A)
    assert freed.tree[VF1].status == ds.Status.REMOVED and freed.tree[VF1].owner is None
    assert freed.state.to_be_removed_when_freed == frozenset()
    # Nova's quirk: the PF its release made available never goes back to the pools
    assert freed.tree[PF].status == ds.Status.AVAILABLE and ops(freed) == [("leave", VF1)]


def test_new_data_for_a_busy_device_waits_until_it_is_freed() -> None:
    state = started(gpu())
    state = state.with_tree(ds.claim(state.tree, GPU, A).tree)
    change = tr.sync(state, [gpu(numa_node=0, dev_type=model.TYPE_PF)])
    assert change.tree[GPU] == state.tree[GPU] and ops(change) == []
    assert change.state.stale == {GPU: gpu(numa_node=0, dev_type=model.TYPE_PF)}
    freed = tr.free(change.state, GPU, A)
    assert freed.state.stale == {}
    dev = freed.tree[GPU]
    assert (dev.status, dev.numa_node, dev.dev_type) == (ds.Status.AVAILABLE, 0, model.TYPE_PF)
    assert [(e.op, e.device) for e in freed.events] == [(tr.PoolOp.ENTER, dev)]


def test_a_free_device_takes_new_data_in_place_as_update_device_does() -> None:
    state = started(vf(managed="true", mac_address="52:54:00:00:00:01"), pf())
    change = tr.sync(state, [pf(), dataclasses.replace(vf(live_migratable=True), numa_node=1)])
    dev, before = change.tree[VF1], state.tree[VF1]
    # the status stays, the fields are replaced, extra_info merges: old keys stay (mac_address),
    # except the spec tags no longer reported (managed)
    assert (dev.status, dev.numa_node) == (ds.Status.AVAILABLE, 1)
    assert dev.extra_info == {"mac_address": "52:54:00:00:00:01", "live_migratable": "true"}
    assert [(e.op, e.device, e.previous) for e in change.events] == [
        (tr.PoolOp.UPDATE, dev, before)]
    # the same data again changes nothing
    assert tr.sync(change.state, [pf(), dataclasses.replace(vf(live_migratable=True),
                                                            numa_node=1)]).events == ()


def test_a_type_change_moves_the_device_to_another_pool() -> None:
    change = tr.sync(started(pf(), vf()), [pf(), dataclasses.replace(vf(), dev_type=ds.TYPE_VDPA)])
    assert ops(change) == [("move", VF1)]
    assert change.events[0].previous is not None
    assert (change.events[0].previous.dev_type, change.tree[VF1].dev_type) == (
        model.TYPE_VF, ds.TYPE_VDPA)


def test_a_remembered_device_that_came_back_is_still_removed_when_freed() -> None:
    state = started(pf(), vf())
    state = state.with_tree(ds.claim(state.tree, VF1, A).tree)
    gone = tr.sync(state, [pf()]).state
    back = tr.sync(gone, [pf(), vf()])
    assert back.state.to_be_removed_when_freed == {VF1} and back.warnings == ()
    assert tr.free(back.state, VF1, A).tree[VF1].status == ds.Status.REMOVED


def test_a_removed_device_that_vanishes_again_before_save_is_remembered_with_a_warning() -> None:
    once = tr.sync(started(gpu()), []).state
    twice = tr.sync(once, [])
    assert twice.warnings[0].startswith(
        "Unable to remove device with status 'removed' and ownership None because of PCI device "
        "7:0000:3b:00.0 is removed instead of ['available', 'unavailable', 'unclaimable']. ")
    # the address stays remembered after the device is deleted: the next GPU there, once
    # claimed and freed, is removed instead of going back to the pools
    state = tr.sync(tr.save(twice.state), [gpu()]).state
    state = state.with_tree(ds.claim(state.tree, GPU, A).tree)
    freed = tr.free(state, GPU)
    assert freed.tree[GPU].status == ds.Status.REMOVED and ops(freed) == [("leave", GPU)]


def test_free_instance_frees_allocations_then_claims_in_address_order() -> None:
    state = started(pf(), vf(), vf(VF2), gpu())
    tree = ds.claim(ds.allocate(state.tree, VF2, A).tree, GPU, A).tree
    tree = ds.allocate(tree, VF1, A).tree
    state = state.with_tree(tree)
    assert ops(tr.free_instance(state, A)) == [
        ("enter", VF1), ("enter", PF), ("enter", VF2), ("enter", GPU)]
    claims = tr.free_instance(state, A, ds.Status.CLAIMED)
    assert ops(claims) == [("enter", GPU)] and claims.tree[VF1].status == ds.Status.ALLOCATED
    assert ops(tr.free_instance(state, "instance-b")) == []
    with pytest.raises(ValueError, match="not available"):
        tr.free_instance(state, A, ds.Status.AVAILABLE)
    with pytest.raises(ds.PciDeviceInvalidOwner):
        tr.free(state, GPU, "instance-b")


def test_values_in_values_out() -> None:
    state = started(pf(), vf())
    statuses = state.tree.statuses()
    tr.sync(state, [pf()])
    tr.free_instance(state.with_tree(ds.claim(state.tree, VF1, A).tree), A)
    assert state.tree.statuses() == statuses and state.to_be_removed_when_freed == frozenset()


def test_links_change_only_when_the_tree_is_rebuilt() -> None:
    state = started(pf(), vf())
    state = state.with_tree(ds.allocate(state.tree, VF1, A).tree)
    other = dataclasses.replace(vf(), parent_addr="0000:82:00.0")
    freed = tr.free(tr.sync(state, [pf(), other]).state, VF1)
    assert freed.tree[VF1].parent_addr == "0000:82:00.0"
    assert freed.tree.parent(VF1) == freed.tree[PF]  # as Nova's parent_device, until a sync
    assert tr.sync(freed.state, [pf(), other]).tree.parent(VF1) is None
    with pytest.raises(KeyError, match="not in the tree"):
        freed.tree.replaced([ds.TrackedDevice(GPU, model.TYPE_PCI)])


def test_reported_devices_are_checked() -> None:
    reported = {"address": VF1, "dev_type": "type-VF", "vendor_id": "8086", "product_id": "154c",
                "parent_addr": PF, "numa_node": 0, "label": "l", "dev_id": "d",
                "compute_node_id": 3, "status": "claimed", "instance_uuid": A, "id": 9,
                "extra_info": {"x": "y"}, "parent_ifname": "ens1f0"}
    rec = tr.DiscoveredDevice.from_dict(reported)
    assert rec == dataclasses.replace(vf(parent_ifname="ens1f0"), label="l", dev_id="d")
    assert rec.extra == {"parent_ifname": "ens1f0"}  # the keys Nova never applies are dropped
    with pytest.raises(ValueError, match="never takes request_id"):
        tr.DiscoveredDevice.from_dict({**reported, "request_id": "r"})
    with pytest.raises(ValueError, match="without product_id"):
        tr.DiscoveredDevice.from_dict({"address": VF1, "dev_type": "type-VF", "vendor_id": "8086"})
    with pytest.raises(ValueError, match="dev_type 'type-XX'"):
        tr.DiscoveredDevice(VF1, "type-XX", "8086", "154c")
    with pytest.raises(ValueError, match="numa_node is a device field"):
        vf(numa_node=1)
    with pytest.raises(ValueError, match="reported twice"):
        tr.sync(started(), [vf(), vf()])
    with pytest.raises(ValueError, match="data for 0000:81:00.2 given to 0000:81:00.1"):
        tr.updated(started(vf()).tree[VF1], vf(VF2))
