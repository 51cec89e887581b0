"""The device state machine on plain values: each PF/VF rule of nova-pci.md §5, by example."""

from __future__ import annotations

import pytest

from pcipass.core import devicestate as ds
from pcipass.core import model

PF, VF1, VF2, VDPA = "0000:01:00.0", "0000:01:00.1", "0000:01:00.2", "0000:01:00.3"
A, B = "instance-a", "instance-b"


def tree(**status: ds.Status) -> ds.DeviceTree:
    devs = [ds.TrackedDevice(PF, model.TYPE_PF), ds.TrackedDevice(VF1, model.TYPE_VF, parent_addr=PF),
            ds.TrackedDevice(VF2, model.TYPE_VF, parent_addr=PF),
            ds.TrackedDevice(VDPA, ds.TYPE_VDPA, parent_addr=PF)]
    names = {"pf": PF, "vf1": VF1, "vf2": VF2, "vdpa": VDPA}
    devs = [ds.TrackedDevice(d.address, d.dev_type, status.get(k, ds.Status.AVAILABLE), d.parent_addr)
            for k, d in zip(names, devs)]
    return ds.DeviceTree(devs, compute_node_id=7)


def test_a_vf_claim_then_allocation_makes_its_pf_unclaimable_then_unavailable() -> None:
    t = ds.claim(tree(), VF1, A).tree
    assert (t[VF1].status, t[VF1].owner, t[PF].status) == (ds.Status.CLAIMED, A, ds.Status.UNCLAIMABLE)
    t = ds.allocate(t, VF1, A).tree
    assert (t[VF1].status, t[PF].status) == (ds.Status.ALLOCATED, ds.Status.UNAVAILABLE)


def test_the_pf_is_free_again_only_with_its_last_busy_child() -> None:
    t = ds.allocate(ds.allocate(tree(), VF1, A).tree, VDPA, A).tree  # vDPA follows the VF rules
    first = ds.free(t, VF1, A)
    assert first.tree[PF].status == ds.Status.UNAVAILABLE and first.freed == (VF1,)
    last = ds.free(first.tree, VDPA)
    assert last.tree[PF].status == ds.Status.AVAILABLE and last.freed == (PF, VDPA)


def test_a_pf_claim_makes_every_child_unclaimable_and_its_free_gives_them_back() -> None:
    t = ds.allocate(tree(), PF, A).tree
    assert [t[a].status for a in (VF1, VF2, VDPA)] == [ds.Status.UNAVAILABLE] * 3
    change = ds.free(t, PF, A)
    assert change.freed == (VF1, VF2, VDPA, PF)
    assert set(change.tree.statuses().values()) == {ds.Status.AVAILABLE}


def test_errors_carry_novas_names_and_messages() -> None:
    t = ds.claim(tree(), VF1, A).tree
    with pytest.raises(ds.PciDeviceInvalidStatus) as status:
        ds.claim(t, VF1, B)
    assert status.value.message == "PCI device 7:0000:01:00.1 is claimed instead of ['available']"
    with pytest.raises(ds.PciDeviceInvalidOwner) as owner:
        ds.allocate(t, VF1, B)
    assert owner.value.message == "PCI device 7:0000:01:00.1 is owned by instance-a instead of instance-b"
    # A PF left available while a VF is claimed (an inconsistent database): the PF is refused.
    with pytest.raises(ds.PciDeviceVFInvalidStatus, match="Not all Virtual Functions of PF 7:0000:01:00.0"):
        ds.allocate(tree(vf2=ds.Status.CLAIMED), PF, A)
    with pytest.raises(ds.PciDevicePFInvalidStatus) as pf:
        ds.claim(tree(pf=ds.Status.CLAIMED), VF1, A)  # a claimed PF above an available VF
    # Nova's message gives the VF's own status where the PF's is meant (kept on purpose).
    assert pf.value.message == ("Physical Function 7:0000:01:00.0, related to VF 7:0000:01:00.1 is "
                                "available instead of ('available', 'unclaimable', 'unavailable')")


def test_remove_takes_only_unused_devices() -> None:
    assert ds.remove(tree(), VF2).tree[VF2].status == ds.Status.REMOVED
    with pytest.raises(ds.PciDeviceInvalidStatus):
        ds.remove(ds.claim(tree(), VF2, A).tree, VF2)
    owned = ds.DeviceTree([ds.TrackedDevice(VF1, model.TYPE_VF, ds.Status.UNAVAILABLE, owner=A)])
    with pytest.raises(ds.PciDeviceInvalidOwner, match="is owned by instance-a instead of None"):
        ds.remove(owned, VF1)


def test_a_pf_with_only_unclaimable_children_is_claimed_with_a_warning() -> None:
    change = ds.claim(tree(vf1=ds.Status.UNCLAIMABLE), PF, A)
    assert change.tree[PF].status == ds.Status.CLAIMED
    assert change.warnings == (f"Some child device of parent {PF} is in an inconsistent state. "
                               f"Inconsistent children with state: {VF1} - unclaimable",)


def test_transitions_never_change_the_tree_they_are_given() -> None:
    t = tree()
    ds.allocate(t, PF, A)
    assert set(t.statuses().values()) == {ds.Status.AVAILABLE}
