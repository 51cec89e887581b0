"""placement sync's plan (core.rpsync) on hand-built Placement states: pure, no server."""

from __future__ import annotations

from pcipass.core import errors, placement, rpsync, rptree

HOST = "cn1"
VF = placement.Provider(f"{HOST}_0000:81:00.0", HOST, "0000:81:00.0", "type-VF",
                        placement.Inventory("CUSTOM_PCI_8086_154C", 4, 4),
                        ("COMPUTE_MANAGED_PCI_DEVICE", "OWNER_NOVA"),
                        ("0000:81:02.0", "0000:81:02.1", "0000:81:02.2", "0000:81:02.3"), (0, 0, 0, 0))


def rp(name: str, uuid: str, parent: str | None, *, invs: tuple[rptree.RpInventory, ...] = (),
       traits: tuple[str, ...] = (), usages: dict[str, int] | None = None) -> rptree.RpRecord:
    return rptree.RpRecord(name, uuid, parent, parent or uuid, 1, invs, traits, usages or {})


def state(*providers: rptree.RpRecord) -> rptree.PlacementState:
    return rptree.PlacementState(source="test", microversion="1.39", providers=providers)


def actions(plan: rpsync.HostPlan) -> list[tuple[str, str]]:
    return [(c.action, c.provider) for c in plan.changes]


def test_empty_placement_creates_the_compute_and_its_providers() -> None:
    plan = rpsync.plan(HOST, [VF], state())
    assert plan.owned and plan.compute_uuid is None and not plan.refusals
    assert actions(plan) == [("create_compute", HOST), ("create_provider", VF.name),
                             ("set_inventory", VF.name), ("set_traits", VF.name)]
    assert plan.changes[0].after == (rptree.OWNED_TRAIT,)
    assert plan.changes[2].after == ("CUSTOM_PCI_8086_154C: total 4, max_unit 4, reserved 0",)


def test_a_tree_without_the_mark_is_refused_whole() -> None:
    plan = rpsync.plan(HOST, [VF], state(rp(HOST, "c", None)))
    assert plan.changes == () and not plan.owned
    (refusal,) = plan.refusals
    assert refusal.code == "PlacementTreeNotOwned" and "CUSTOM_PCIPASS_OWNED" in refusal.message


def test_an_owned_tree_in_sync_needs_nothing_and_keeps_reserved() -> None:
    held = rp(VF.name, "v", "c", invs=(rptree.RpInventory("CUSTOM_PCI_8086_154C", 4, reserved=2, max_unit=4),),
              traits=VF.traits)
    plan = rpsync.plan(HOST, [VF], state(rp(HOST, "c", None, traits=(rptree.OWNED_TRAIT,)), held))
    assert plan.changes == () and plan.owned and plan.compute_uuid == "c"


def test_drift_and_stale_providers() -> None:
    held = rp(VF.name, "v", "c", invs=(rptree.RpInventory("CUSTOM_PCI_8086_154C", 8, max_unit=8),),
              traits=("OWNER_NOVA",))
    stale = rp(f"{HOST}_0000:05:00.0", "s", "c", invs=(rptree.RpInventory("PGPU", 1, max_unit=1),),
               usages={"PGPU": 1})
    other = rp("vgpu-child", "g", "c")  # not a PCI provider: left alone
    plan = rpsync.plan(HOST, [VF], state(rp(HOST, "c", None, traits=(rptree.OWNED_TRAIT,)),
                                         held, stale, other))
    assert actions(plan) == [("set_inventory", VF.name), ("set_traits", VF.name),
                             ("delete_provider", stale.name)]
    assert plan.changes[0].before == ("CUSTOM_PCI_8086_154C: total 8, max_unit 8, reserved 0",)
    assert plan.changes[1].after == VF.traits
    assert plan.changes[2].uuid == "s" and "used PGPU: 1" in plan.changes[2].before


def test_nova_refusal_means_no_change() -> None:
    refusal = errors.Problem(code="PlacementPciDependentDeviceException", message="both", hint="one")
    plan = rpsync.plan(HOST, [VF], state(), nova_refusals=[refusal])
    assert plan.changes == ()
    assert plan.refusals[0].code == "PlacementPciDependentDeviceException"
    assert "nothing is synced" in plan.refusals[0].message
