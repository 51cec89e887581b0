"""The Placement view (core.placement) and the request groups (core.placementreq), by example.

The generated comparison with Nova is tests/differential/test_placement_nova.py; these pin the
examples of nova-pci.md §6 and the records' shapes.
"""

from __future__ import annotations

import json

import pytest

from pcipass.core import alias, model, placement, placementreq, poolrecords, requests, spec

PF = "0000:0a:00.0"
VF1, VF2 = "0000:0a:00.1", "0000:0a:00.2"
GPU = "0000:af:00.0"


def host() -> list[model.Device]:
    return [model.Device(PF, "8086", "1572", dev_type=model.TYPE_PF, sriov_totalvfs=8,
                         sriov_vf_device="154c"),
            model.Device(VF1, "8086", "154c", dev_type=model.TYPE_VF, parent_addr=PF),
            model.Device(VF2, "8086", "154c", dev_type=model.TYPE_VF, parent_addr=PF),
            model.Device(GPU, "10de", "1db6", dev_type=model.TYPE_PCI)]


def view(*specs: dict[str, object], allocated: dict[str, str] | None = None) -> placement.PlacementView:
    devices = host()
    parsed = spec.parse_device_spec_values([json.dumps(s) for s in specs],
                                           model.HostFacts.from_devices(devices),
                                           report_in_placement=True)
    assert parsed.valid, parsed.problems
    tracked = [d for d in devices if spec.first_match(parsed.specs, d) is not None]
    return placement.translate("compute1", tracked, parsed.specs, allocated=allocated)


@pytest.mark.parametrize(("given", "expected"), [
    ("pgpu", "PGPU"), ("vgpu", "VGPU"), ("a16 16a!", "CUSTOM_A16_16A_"), ("custom_x", "CUSTOM_X"),
    ("CUSTOM_A B", "CUSTOM_A B"), (None, "CUSTOM_PCI_8086_154C"), ("", "CUSTOM_PCI_8086_154C")])
def test_resource_class_is_normalized_as_nova_does(given: str | None, expected: str) -> None:
    assert placement.resource_class_name(given, "8086", "154c") == expected


@pytest.mark.parametrize(("given", "expected"), [
    ("a, big", {"CUSTOM_A", "CUSTOM__BIG"}), (" CUSTOM_X", {"CUSTOM__CUSTOM_X"}),
    ("my-awesome-gpu", {"CUSTOM_MY_AWESOME_GPU"}), ("HW_CPU_X86_AVX", {"HW_CPU_X86_AVX"}),
    ("hw_cpu_x86_avx", {"CUSTOM_HW_CPU_X86_AVX"}), ("", set()), ("x,,y", {"CUSTOM_X", "CUSTOM_", "CUSTOM_Y"})])
def test_traits_are_normalized_as_nova_does(given: str, expected: set[str]) -> None:
    assert placement.traits_from_text(given) == expected


def test_vfs_of_one_pf_share_one_provider_named_after_the_pf() -> None:
    v = view({"vendor_id": "8086", "product_id": "154c", "traits": "fast"})
    assert v.reported and not v.exclusions
    (p,) = v.providers
    assert p.name == "compute1_0000:0A:00.0" and p.parent_provider == "compute1"
    assert p.dev_type == model.TYPE_VF and p.devices == (VF1, VF2)
    assert p.inventory == placement.Inventory("CUSTOM_PCI_8086_154C", 2, 2, None)
    assert p.traits == ("COMPUTE_MANAGED_PCI_DEVICE", "CUSTOM_FAST", "OWNER_NOVA")


def test_a_one_time_use_device_in_use_is_reserved() -> None:
    wanted = {"address": GPU, "one_time_use": "true", "resource_class": "pgpu",
              "live_migratable": "yes"}
    free = view(wanted).providers[0]
    used = view(wanted, allocated={GPU: "uuid"}).providers[0]
    assert free.inventory == placement.Inventory("PGPU", 1, 1, None)
    assert used.inventory == placement.Inventory("PGPU", 1, 1, 1)
    assert "HW_PCI_ONE_TIME_USE" in used.traits and "HW_PCI_LIVE_MIGRATABLE" in used.traits


def test_a_physical_network_device_is_excluded_with_its_reason() -> None:
    v = view({"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet0"})
    assert v.providers == () and v.reported
    assert [(e.address, e.reason) for e in v.exclusions] == [
        (VF1, placement.EXCLUDED_PHYSNET), (VF2, placement.EXCLUDED_PHYSNET)]
    assert "Neutron" in v.exclusions[0].message


def test_a_pf_and_its_vfs_together_are_refused_with_novas_message() -> None:
    v = view({"address": PF})
    assert not v.reported
    assert [p.code for p in v.refusals] == ["PlacementPciDependentDeviceException"] * 2
    assert v.refusals[0].message.startswith(f"Configuring both {VF1} and {PF} in [pci]device_spec")
    assert [p.name for p in v.providers] == ["compute1_0000:0A:00.0"]


def test_vfs_with_mixed_classes_or_traits_are_refused() -> None:
    rc = view({"address": VF1, "resource_class": "A"}, {"address": VF2, "resource_class": "B"})
    assert [p.code for p in rc.refusals] == ["PlacementPciMixedResourceClassException"]
    assert "We got CUSTOM_B for 0000:0a:00.2 and CUSTOM_A for 0000:0a:00.1." in rc.refusals[0].message
    traits = view({"address": VF1}, {"address": VF2, "live_migratable": "true"})
    assert [p.code for p in traits.refusals] == ["PlacementPciMixedTraitsException"]


def test_devname_specs_and_vf_one_time_use_are_refused() -> None:
    devices = host()
    facts = model.HostFacts(pfs=model.HostFacts.from_devices(devices).pfs, netdevs={"ens1": GPU})
    parsed = spec.parse_device_spec_values(['{"devname": "ens1"}'], facts, report_in_placement=True)
    v = placement.translate("h", [devices[3]], parsed.specs)
    assert [p.code for p in v.refusals] == ["PlacementPciException"]
    assert "'devname' based device specification" in v.refusals[0].message
    otu = view({"address": VF1, "one_time_use": "false"})
    assert "Only type-PCI and type-PF devices may set one_time_use" in otu.refusals[0].message


def test_a_name_placement_refuses_is_a_warning() -> None:
    v = view({"address": GPU, "traits": "custom_a b"})
    assert v.reported and [w.code for w in v.warnings] == ["PlacementNameInvalid"]


# -- request groups ------------------------------------------------------------------------------


def flavor_requests(spec_value: str, *aliases: str) -> list[requests.PciRequest]:
    table = alias.parse_alias_values(list(aliases), pci_in_placement=True)
    assert table.valid, table.problems
    return requests.translate_flavor({"pci_passthrough:alias": spec_value}, table.aliases).requests


def test_one_group_per_device_with_rc_1_and_the_alias_traits() -> None:
    reqs = flavor_requests("nic:2,gpu:1",
                           '{"name": "nic", "vendor_id": "8086", "product_id": "154c", "traits": "fast"}',
                           '{"name": "gpu", "resource_class": "pgpu"}')
    out = placementreq.request_groups(reqs)
    assert [(g.requester_id, g.resource_class, g.amount, g.required_traits) for g in out.groups] == [
        ("0-0", "CUSTOM_PCI_8086_154C", 1, ("CUSTOM_FAST",)),
        ("0-1", "CUSTOM_PCI_8086_154C", 1, ("CUSTOM_FAST",)), ("1-0", "PGPU", 1, ())]
    assert out.group_policy == "none" and out.same_subtree == ()
    assert out.query() == [("group_policy", "none"), ("required0-0", "CUSTOM_FAST"),
                           ("required0-1", "CUSTOM_FAST"), ("resources0-0", "CUSTOM_PCI_8086_154C:1"),
                           ("resources0-1", "CUSTOM_PCI_8086_154C:1"), ("resources1-0", "PGPU:1")]


def test_group_policy_follows_novas_rules() -> None:
    reqs = flavor_requests("gpu:1", '{"name": "gpu", "resource_class": "pgpu"}')
    assert placementreq.request_groups(reqs).group_policy is None
    assert placementreq.request_groups(reqs, extra_specs={"resources1:VGPU": "1"}).group_policy == "none"
    two = {"resources1:VGPU": "1", "trait2:HW_X": "required"}
    missing = placementreq.request_groups(reqs, extra_specs=two)
    assert missing.group_policy is None and [w.code for w in missing.warnings] == [
        "PlacementGroupPolicyMissing"]
    isolate = placementreq.request_groups(flavor_requests("gpu:2", '{"name": "gpu", "resource_class": "x"}'),
                                          extra_specs={"group_policy": "isolate"})
    assert isolate.group_policy == "isolate"
    assert [w.code for w in isolate.warnings] == ["PlacementGroupPolicyIsolate"]
    assert placementreq.request_groups(reqs, pci_in_placement=False).groups == ()


def test_ports_are_skipped_and_several_specs_refused() -> None:
    port = poolrecords.Request(count=1, specs=({"physical_network": "p"},))
    multi = requests.PciRequest("a", 1, None, [{"vendor_id": "1"}, {"vendor_id": "2"}], 1)
    out = placementreq.request_groups([port, multi], request_ids=["uuid-a", "uuid-b"])
    assert out.groups == () and [p.code for p in out.refusals] == ["PciRequestMultipleSpecs"]


def test_a_trait_that_is_not_what_its_writer_meant_is_a_warning() -> None:
    v = view({"address": GPU, "traits": "hw_cpu_x86_avx, big", "resource_class": " gpu"})
    assert v.reported
    messages = [w.message for w in v.warnings]
    assert [w.code for w in v.warnings] == ["PlacementTraitNotStandard"] * 3
    assert "not the standard trait HW_CPU_X86_AVX" in messages[0]
    assert "CUSTOM__BIG" in messages[1] and "CUSTOM__GPU" in messages[2]
    assert view({"address": GPU, "traits": "HW_CPU_X86_AVX,fast"}).warnings == ()
