"""``[pci] alias`` rules of nova-pci.md §2, one table row per rule, Nova's messages included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import alias

PREFIX = "Invalid PCI alias definition: "
GPU = {"name": "gpu", "vendor_id": "10de", "product_id": "1db6"}


def one(**fields: Any) -> str:
    return json.dumps({**GPU, **fields})


def parse(*values: str, pci_in_placement: bool = False) -> alias.AliasParseResult:
    return alias.parse_alias_values(list(values), pci_in_placement=pci_in_placement)


# -- accepted values: what Nova stores --------------------------------------------------------

ACCEPTED = {
    "ids_only": (one(), "gpu", "legacy", None, {"vendor_id": "10de", "product_id": "1db6"}),
    "upper_case_ids_kept": (one(vendor_id="10DE", product_id="1DB6"), "gpu", "legacy", None,
                            {"vendor_id": "10DE", "product_id": "1DB6"}),
    "name_stripped": (one(name="  gpu\t"), "gpu", "legacy", None, {"vendor_id": "10de", "product_id": "1db6"}),
    "policy_required": (one(numa_policy="required"), "gpu", "required", None,
                        {"vendor_id": "10de", "product_id": "1db6"}),
    "policy_socket": (one(numa_policy="socket"), "gpu", "socket", None, {"vendor_id": "10de", "product_id": "1db6"}),
    "policy_preferred": (one(numa_policy="preferred"), "gpu", "preferred", None,
                         {"vendor_id": "10de", "product_id": "1db6"}),
    "device_type_becomes_dev_type": (one(device_type="type-VF"), "gpu", "legacy", "type-VF",
                                     {"vendor_id": "10de", "product_id": "1db6", "dev_type": "type-VF"}),
    "type_pf": (one(device_type="type-PF"), "gpu", "legacy", "type-PF",
                {"vendor_id": "10de", "product_id": "1db6", "dev_type": "type-PF"}),
    "rc_and_traits_kept": (one(resource_class="CUSTOM_GPU", traits="a, b"), "gpu", "legacy", None,
                           {"vendor_id": "10de", "product_id": "1db6", "resource_class": "CUSTOM_GPU",
                            "traits": "a, b"}),
    "live_migratable_yes": (one(live_migratable="Yes"), "gpu", "legacy", None,
                            {"vendor_id": "10de", "product_id": "1db6", "live_migratable": "true"}),
    "live_migratable_spaced_off": (one(live_migratable=" off "), "gpu", "legacy", None,
                                   {"vendor_id": "10de", "product_id": "1db6", "live_migratable": "false"}),
    "live_migratable_zero": (one(live_migratable="0"), "gpu", "legacy", None,
                             {"vendor_id": "10de", "product_id": "1db6", "live_migratable": "false"}),
    "capability_type_kept": (one(capability_type="pci"), "gpu", "legacy", None,
                             {"vendor_id": "10de", "product_id": "1db6", "capability_type": "pci"}),
    "json_last_duplicate_key_wins": ('{"name": "x", "name": "gpu", "vendor_id": "10de", "product_id": "1db6"}',
                                     "gpu", "legacy", None, {"vendor_id": "10de", "product_id": "1db6"}),
}


@pytest.mark.parametrize("value,name,policy,dev_type,spec", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_accepted_value_becomes_request_spec(value: str, name: str, policy: str, dev_type: str | None,
                                             spec: dict[str, str]) -> None:
    result = parse(value)
    assert result.valid and result.problems == []
    assert list(result.aliases) == [name]
    got = result.aliases[name]
    assert (got.name, got.numa_policy, got.dev_type, got.specs, got.sources) == (name, policy, dev_type, [spec], [0])


# -- rejected values: Nova's exact reason --------------------------------------------------------

REJECTED = {
    "empty_string": ("", "Expecting value: line 1 column 1 (char 0)"),
    "single_quotes": ("{'name': 'gpu'}",
                      "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    "two_objects": ('{"name": "a"} {}', "Extra data: line 1 column 15 (char 14)"),
    "list_not_accepted": ("[" + one() + "]",
                          "[{'name': 'gpu', 'vendor_id': '10de', 'product_id': '1db6'}] is not of type 'object'"),
    "null": ("null", "None is not of type 'object'"),
    "name_required": ('{"vendor_id": "10de", "product_id": "1db6"}', "'name' is a required property"),
    "name_empty": (one(name=""), "'' should be non-empty"),
    "name_too_long": (one(name="x" * 257), "'" + "x" * 257 + "' is too long"),
    "name_not_string": (one(name=5), "5 is not of type 'string'"),
    "vendor_0x": (one(vendor_id="0x8086"), "'0x8086' does not match '^([\\\\da-fA-F]{4})$'"),
    "vendor_short": (one(vendor_id="86"), "'86' does not match '^([\\\\da-fA-F]{4})$'"),
    "product_wildcard": (one(product_id="*"), "'*' does not match '^([\\\\da-fA-F]{4})$'"),
    "vendor_int": (one(vendor_id=8086), "8086 is not of type 'string'"),
    "device_type_vdpa": (one(device_type="vdpa"), "'vdpa' is not one of ['type-PCI', 'type-PF', 'type-VF']"),
    "device_type_case": (one(device_type="TYPE-PCI"),
                         "'TYPE-PCI' is not one of ['type-PCI', 'type-PF', 'type-VF']"),
    "policy_empty": (one(numa_policy=""), "'' is not one of ['required', 'legacy', 'preferred', 'socket']"),
    "capability_type_other": (one(capability_type="PCI"), "'PCI' is not one of ['pci']"),
    "unknown_key": (one(foo=1), "Additional properties are not allowed ('foo' was unexpected)"),
    "live_migratable_bad": (one(live_migratable="2"),
                            "Unrecognized value '2', acceptable values are: '0', '1', 'f', 'false', 'n', "
                            "'no', 'off', 'on', 't', 'true', 'y', 'yes'"),
    "live_migratable_bool": (one(live_migratable=True), "True is not of type 'string'"),
}


@pytest.mark.parametrize("value,reason", list(REJECTED.values()), ids=list(REJECTED))
def test_rejected_value_has_novas_message(value: str, reason: str) -> None:
    result = parse(value)
    assert not result.valid and result.aliases == {}
    [problem] = result.problems
    assert (problem.code, problem.message, problem.value_index) == ("PciInvalidAlias", PREFIX + reason, 0)


@pytest.mark.parametrize("value,hint", [
    (one(vendorid="8086"), 'did you mean "vendor_id" instead of "vendorid"?'),
    (one(vendor_id="0x8086"), 'vendor_id must be exactly 4 hex digits without "0x", e.g. "8086"'),
    (one(device_type="vdpa"), "device_type is one of type-PCI, type-PF, type-VF"),
    ("[]", "each [pci] alias value must be one JSON object (not a list)"),
], ids=["typo_key", "id_format", "device_type", "list"])
def test_rejections_carry_a_fix(value: str, hint: str) -> None:
    assert parse(value).problems[0].hint == hint


def test_rejection_names_the_alias_entry() -> None:
    problem = parse(one(), one(name="nic", vendor_id="0x8086")).problems[0]
    assert (problem.entry, problem.value_index) == ("alias 'nic'", 1)


# -- repeated names -----------------------------------------------------------------------------

VF1 = one(name="nic", vendor_id="8086", product_id="154c", device_type="type-VF")
VF2 = one(name="nic", vendor_id="8086", product_id="10ed", device_type="type-VF")


def test_same_name_ors_specs_in_order() -> None:
    result = parse(VF1, one(), VF2)
    nic = result.aliases["nic"]
    assert result.valid
    assert [s["product_id"] for s in nic.specs] == ["154c", "10ed"]
    assert (nic.sources, nic.dev_type) == ([0, 2], "type-VF")


DUPLICATES = {
    "numa_policy_mismatch": ([VF1, one(name="nic", vendor_id="8086", product_id="10ed", device_type="type-VF",
                                       numa_policy="required")],
                             PREFIX + "NUMA policy mismatch for alias 'nic'"),
    "explicit_legacy_equals_default": None,
    "device_type_mismatch": ([VF1, one(name="nic", vendor_id="8086", product_id="1572", device_type="type-PF")],
                             PREFIX + "Device type mismatch for alias 'nic'"),
    "compares_with_first_definition": ([VF1, VF2, one(name="nic", vendor_id="8086", product_id="1572",
                                                      device_type="type-PF")],
                                       PREFIX + "Device type mismatch for alias 'nic'"),
    "stripped_names_collide": ([VF1, one(name=" nic ", vendor_id="8086", product_id="1572", device_type="type-PF")],
                               PREFIX + "Device type mismatch for alias 'nic'"),
}
del DUPLICATES["explicit_legacy_equals_default"]


@pytest.mark.parametrize("values,message", list(DUPLICATES.values()), ids=list(DUPLICATES))
def test_repeated_name_conflicts(values: list[str], message: str) -> None:
    result = parse(*values)
    assert not result.valid
    [problem] = result.problems
    assert (problem.code, problem.message, problem.entry) == ("PciInvalidAlias", message, "alias 'nic'")
    assert problem.value_index == len(values) - 1


def test_explicit_legacy_policy_equals_default() -> None:
    result = parse(VF1, one(name="nic", vendor_id="8086", product_id="10ed", device_type="type-VF",
                            numa_policy="legacy"))
    assert result.valid and len(result.aliases["nic"].specs) == 2


@pytest.mark.parametrize("values", [
    [one(), one(product_id="1db7")],
    [one(device_type="type-PCI"), one(product_id="1db7")],
    [one(), one(product_id="1db7", device_type="type-PCI")],
], ids=["neither", "second_lacks", "first_lacks"])
def test_repeated_name_without_device_type_is_rejected_clearly(values: list[str]) -> None:
    """nova-pci.md §9.1: Nova's KeyError 'dev_type'; same rejection and code, clearer text."""
    result = parse(*values)
    [problem] = result.problems
    assert problem.code == "PciInvalidAlias" and problem.value_index == 1
    assert problem.message == (PREFIX + "alias 'gpu' is defined more than once, so every definition must "
                               "set device_type (Nova reports this only as 'dev_type')")
    assert "device_type" in (problem.hint or "")
    assert len(result.aliases["gpu"].specs) == 1


# -- table-wide checks --------------------------------------------------------------------------

TABLES = {
    "pools_need_ids": ([json.dumps({"name": "z"}), json.dumps({"name": "b", "vendor_id": "8086"})], False,
                       ["The PCI alias(es) b,z does not have vendor_id and product_id fields set."]),
    "pools_rc_not_enough": ([json.dumps({"name": "a", "resource_class": "CUSTOM_A"})], False,
                            ["The PCI alias(es) a does not have vendor_id and product_id fields set."]),
    "placement_rc_enough": ([json.dumps({"name": "a", "resource_class": "CUSTOM_A"})], True, []),
    "placement_traits_not_enough": ([json.dumps({"name": "a", "traits": "CUSTOM_A"})], True,
                                    ["The PCI alias(es) a does not have vendor_id and product_id fields set "
                                     "or resource_class field set."]),
    "placement_multispec_in_table_order": (
        [one(name="z", device_type="type-PCI"), one(name="z", device_type="type-PCI", product_id="0001"),
         one(name="b", device_type="type-PCI"), one(name="b", device_type="type-PCI", product_id="0001")],
        True,
        ["The PCI alias(es) z,b have multiple specs but [filter_scheduler]pci_in_placement is True. The PCI in "
         "Placement feature only supports one spec per alias. You can assign the same resource_class to "
         "multiple [pci]device_spec matchers to allow using different devices for the same alias."]),
    "pools_multispec_fine": ([VF1, VF2], False, []),
    "placement_both_in_novas_order": (
        [one(name="m", device_type="type-PCI"), json.dumps({"name": "m", "device_type": "type-PCI"})], True,
        ["The PCI alias(es) m have multiple specs but [filter_scheduler]pci_in_placement is True. The PCI in "
         "Placement feature only supports one spec per alias. You can assign the same resource_class to "
         "multiple [pci]device_spec matchers to allow using different devices for the same alias.",
         "The PCI alias(es) m does not have vendor_id and product_id fields set or resource_class field set."]),
}


@pytest.mark.parametrize("values,placement,messages", list(TABLES.values()), ids=list(TABLES))
def test_table_checks(values: list[str], placement: bool, messages: list[str]) -> None:
    result = parse(*values, pci_in_placement=placement)
    assert [p.message for p in result.problems] == messages
    assert all(p.code == "PciInvalidAlias" and p.value_index is not None for p in result.problems)
    assert result.valid is (not messages)


def test_table_problem_points_at_first_named_alias() -> None:
    problem = parse(one(), json.dumps({"name": "z"})).problems[0]
    assert (problem.value_index, problem.entry) == (1, "alias 'z'")


# -- collecting everything ------------------------------------------------------------------------


def test_all_problems_collected_in_novas_order() -> None:
    result = parse("{", one(), one(name="nic", vendor_id="0x1"), json.dumps({"name": "z"}))
    assert [p.value_index for p in result.problems] == [0, 2, 3]
    assert result.nova_error == result.problems[0]
    assert result.nova_error.message.startswith(PREFIX + "Expecting property name")
    assert list(result.aliases) == ["gpu", "z"]


def test_empty_table_is_valid() -> None:
    result = parse()
    assert result.valid and result.aliases == {} and result.nova_error is None


# -- warnings: accepted by Nova, but will not work ------------------------------------------------

WARNINGS = {
    "name_with_colon": (one(name="a:b"), False, "AliasNameUnusable"),
    "name_with_comma": (one(name="a,b"), False, "AliasNameUnusable"),
    "name_blank_after_strip": (one(name="  "), False, "AliasNameUnusable"),
    "capability_type": (one(capability_type="pci"), False, "AliasNeverMatches"),
    "rc_ignored_without_placement": (one(resource_class="CUSTOM_X"), False, "AliasPlacementFieldsIgnored"),
}


@pytest.mark.parametrize("value,placement,code", list(WARNINGS.values()), ids=list(WARNINGS))
def test_warnings(value: str, placement: bool, code: str) -> None:
    result = parse(value, pci_in_placement=placement)
    assert result.valid
    assert [w.code for w in result.warnings] == [code]
    assert result.warnings[0].value_index == 0 and result.warnings[0].hint


def test_no_warning_for_rc_with_placement() -> None:
    assert parse(one(resource_class="CUSTOM_X"), pci_in_placement=True).warnings == []


# -- hostile input --------------------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(
                               st.sampled_from(list(alias.KNOWN_KEYS) + ["x"]), c, max_size=4),
                           max_leaves=8)


@given(values=st.lists(st.one_of(st.text(max_size=30), json_values.map(json.dumps)), max_size=4),
       placement=st.booleans())
@settings(max_examples=300, deadline=None, derandomize=True)
def test_arbitrary_values_never_raise(values: list[str], placement: bool) -> None:
    result = alias.parse_alias_values(values, pci_in_placement=placement)
    assert all(p.code == "PciInvalidAlias" and p.message for p in result.problems)
    for p in result.problems:
        assert p.value_index is not None and 0 <= p.value_index < len(values)
    assert result.valid is (not result.problems)


def test_deeply_nested_value_is_a_problem() -> None:
    result = parse("[" * 100000 + "]" * 100000)
    assert result.problems[0].code == "PciInvalidAlias"
    assert "nested 100000 levels deep" in result.problems[0].message


def test_non_string_value_is_a_problem() -> None:
    result = alias.parse_alias_values([None])  # type: ignore[list-item]
    assert result.problems[0].message == PREFIX + "the value None is not a string"
