"""``core.spec``: one test (table) per rule of nova-pci.md §1, plus the doctor helpers.

Expected messages are Nova's texts, checked against nova 34.0.0 by the
differential tests; here they pin each rule on its own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pcipass.core import errors, model, pools, spec, spec_fields, strutils
from pcipass.core import spec_address as addr

PF = "0000:0a:00.0"
VF1 = "0000:0a:02.1"
PF_INFO = model.PfInfo(PF, "8086", "1572", 64, "154c")
HOST = model.HostFacts(pfs={PF: PF_INFO}, netdevs={"ens1f0": PF, "ens1f0v1": VF1})
NO_PFS = model.HostFacts()
PREFIX = "Invalid [pci]device_spec config: "


def parse(raw: dict[str, Any], facts: model.HostFacts = HOST, *, rip: bool = False) -> spec.DeviceSpec:
    return spec.parse_spec(raw, facts, report_in_placement=rip)


def reject(raw: dict[str, Any], facts: model.HostFacts = HOST, *, rip: bool = False) -> errors.PcipassError:
    with pytest.raises(errors.PcipassError) as info:
        parse(raw, facts, rip=rip)
    return info.value


def dev(address: str = "0000:0a:00.0", vendor: str = "8086", product: str = "1572",
        parent: str | None = None, serial: str | None = None) -> model.Device:
    return model.Device(address=address, vendor_id=vendor, product_id=product,
                        parent_addr=parent, card_serial_number=serial)


VF_DEV = dev(VF1, product="154c", parent=PF)


# -- §1.1 config values -> flattened spec list -------------------------------------------------


@pytest.mark.parametrize("value", [
    '{"vendor_id": "8086",}', "{'vendor_id': '8086'}", '{"a": 1}{"b": 2}', "", "{", "vendor_id=8086",
], ids=["trailing-comma", "single-quotes", "two-objects", "empty", "truncated", "ini-style"])
def test_value_not_json_is_invalid_entry(value: str) -> None:
    result = spec.parse_device_spec_values([value], HOST)
    assert [(p.code, p.message) for p in result.problems] == [
        ("PciConfigInvalidSpec", f"{PREFIX}Invalid entry: '{value}'")]
    assert result.specs == []


@pytest.mark.parametrize("value", ["1", '"8086"', "null", "true", "1.5"],
                         ids=["int", "string", "null", "bool", "float"])
def test_value_not_list_or_dict(value: str) -> None:
    result = spec.parse_device_spec_values([value], HOST)
    assert [p.message for p in result.problems] == [
        f"{PREFIX}Invalid entry: '{value}'; Expecting list or dict"]


@pytest.mark.parametrize(("element", "shown"), [
    ("1", "1"), ('"x"', "x"), ("null", "None"), ("[1]", "[1]"), ("true", "True"),
], ids=["int", "string", "null", "list", "bool"])
def test_list_element_not_dict(element: str, shown: str) -> None:
    result = spec.parse_device_spec_values([f'[{{"vendor_id": "8086"}}, {element}]'], HOST)
    assert [p.message for p in result.problems] == [f"{PREFIX}Invalid entry: '{shown}'; Expecting dict"]
    assert result.problems[0].entry == "device_spec value 0, item 1"
    assert [e.spec.vendor_id for e in result.specs] == ["8086"]


def test_dict_list_and_empty_list_values_flatten_in_config_order() -> None:
    values = ['{"vendor_id": "0001"}', "[]", '[{"vendor_id": "0002"}, {"vendor_id": "0003"}]',
              '{"vendor_id": "0004"}']
    result = spec.parse_device_spec_values(values, HOST)
    got = [(e.index, e.value_index, e.item, e.spec.vendor_id) for e in result.specs]
    assert got == [(0, 0, None, "0001"), (1, 2, 0, "0002"), (2, 2, 1, "0003"), (3, 3, None, "0004")]
    assert result.valid and result.problems == [] and result.warnings == []


def test_no_values_means_no_specs() -> None:
    result = spec.parse_device_spec_values([], HOST)
    assert (result.specs, result.problems, result.warnings) == ([], [], [])


def test_every_problem_is_collected_and_indexes_do_not_shift() -> None:
    values = ["{bad", '[{"vendor_id": "zz"}, {"product_id": "10fb"}, 5]', '{"vendor_id": "8086"}',
              '{"address": "0000:0a:00.0", "devname": "ens1f0"}']
    result = spec.parse_device_spec_values(values, HOST)
    assert [(p.value_index, p.entry, p.code) for p in result.problems] == [
        (0, "device_spec value 0", "PciConfigInvalidSpec"),
        (1, "device_spec value 1, item 0", "PciConfigInvalidSpec"),
        (1, "device_spec value 1, item 2", "PciConfigInvalidSpec"),
        (3, "device_spec value 3", "PciDeviceInvalidDeviceName"),
    ]
    assert [(e.index, e.value_index, e.item) for e in result.specs] == [(2, 1, 1), (4, 2, None)]
    assert not result.valid


def test_values_that_are_not_strings_are_invalid_entries() -> None:
    result = spec.parse_device_spec_values([None, 5], HOST)  # type: ignore[list-item]
    assert [p.code for p in result.problems] == ["PciConfigInvalidSpec"] * 2


def test_first_matching_spec_wins_and_its_tags_apply() -> None:
    values = ['{"vendor_id": "8086", "physical_network": "first"}',
              '[{"product_id": "1572", "physical_network": "second"}, {"physical_network": "any"}]']
    entries = spec.parse_device_spec_values(values, HOST).specs
    assert spec.first_match(entries, dev()) is not None
    winners = [spec.first_match(entries, d) for d in (dev(), dev(vendor="15b3"),
                                                      dev(vendor="15b3", product="1017"))]
    assert [(w.index, w.spec.tags["physical_network"]) for w in winners if w is not None] == [
        (0, "first"), (1, "second"), (2, "any")]
    assert spec.first_match(entries[:2], dev(vendor="15b3", product="1017")) is None


# -- §1.2 fields of one spec -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["foo", "Vendor_ID", "dev_type", "numa_node", "rp_uuids", "label"])
def test_unknown_keys_become_tags(key: str) -> None:
    assert parse({key: "x", "vendor_id": "8086"}).tags == {key: "x"}


def test_tags_keep_their_json_types() -> None:
    raw = {"a": None, "b": 1, "c": 1.5, "d": [1], "e": {"x": True}, "physical_network": "p"}
    assert parse(raw).tags == raw


def test_parse_spec_does_not_modify_its_input() -> None:
    raw = {"vendor_id": " 8086 ", "address": "0a:00.0", "managed": "yes"}
    before = json.dumps(raw)
    result = parse(raw)
    assert json.dumps(raw) == before and result.raw == raw


@pytest.mark.parametrize(("given", "vendor", "product"), [
    ("8086", "8086", "8086"), ("0x8086", "8086", "8086"), ("0X8086", "8086", "8086"),
    (" 8086 ", "8086", "8086"), ("8_086", "8086", "8086"), ("86", "0086", "0086"),
    ("ABCD", "abcd", "abcd"), ("0", "0000", "0000"), ("ffff", "ffff", "ffff"), ("+1", "0001", "0001"),
], ids=["plain", "0x", "0X", "spaces", "underscore", "short", "upper", "zero", "max", "plus"])
def test_ids_are_normalized_with_int_leniency(given: str, vendor: str, product: str) -> None:
    result = parse({"vendor_id": given, "product_id": given})
    assert (result.vendor_id, result.product_id) == (vendor, product)


def test_ids_default_to_wildcard_and_star_stays() -> None:
    assert (parse({}).vendor_id, parse({}).product_id) == ("*", "*")
    assert parse({"vendor_id": "*", "product_id": "*"}).vendor_id == "*"


def test_vendor_is_stripped_before_the_wildcard_test_but_product_is_not() -> None:
    assert parse({"vendor_id": " * "}).vendor_id == "*"
    assert reject({"product_id": " * "}).message == (
        f"{PREFIX}property product_id (' * ') does not parse as a hex number.")


@pytest.mark.parametrize(("key", "given", "message"), [
    ("vendor_id", "", "property vendor_id ('') does not parse as a hex number."),
    ("vendor_id", "xyz", "property vendor_id ('xyz') does not parse as a hex number."),
    ("product_id", "10fg", "property product_id ('10fg') does not parse as a hex number."),
    ("vendor_id", "80860",
     "property vendor_id (80860) is greater than the maximum allowable value (FFFF)."),
    ("product_id", "0x10000", "property product_id (0x10000) is greater than the maximum allowable "
                              "value (FFFF)."),
    ("vendor_id", " 80860 ",
     "property vendor_id (80860) is greater than the maximum allowable value (FFFF)."),
], ids=["empty", "non-hex", "product-non-hex", "too-big", "product-too-big", "stripped-in-message"])
def test_bad_ids(key: str, given: str, message: str) -> None:
    exc = reject({key: given})
    assert (exc.code, exc.message) == ("PciConfigInvalidSpec", PREFIX + message)


@pytest.mark.parametrize(("key", "given", "shown"), [
    ("vendor_id", 8086, "8086"), ("vendor_id", None, "null"), ("product_id", 4466, "4466"),
    ("product_id", True, "true"), ("vendor_id", ["8086"], '["8086"]'),
], ids=["int-vendor", "null-vendor", "int-product", "bool-product", "list-vendor"])
def test_non_string_ids_are_our_error_not_a_traceback(key: str, given: Any, shown: str) -> None:
    # Documented difference: Nova raises a bare AttributeError/TypeError here.
    exc = reject({key: given})
    assert (exc.code, exc.message) == ("PciConfigInvalidSpec",
                                       f"{PREFIX}property {key} ({shown}) must be a JSON string")
    assert exc.hint is not None and key in exc.hint


@pytest.mark.parametrize(("device_vendor", "device_product", "matches"), [
    ("abcd", "1234", True), ("ABCD", "1234", False), ("abcd", "1234 ", False), ("0xabcd", "1234", False),
], ids=["same", "device-upper", "device-space", "device-0x"])
def test_device_ids_are_compared_verbatim(device_vendor: str, device_product: str, matches: bool) -> None:
    result = parse({"vendor_id": "ABCD", "product_id": "1234"})
    assert result.match(dev("0000:81:00.0", device_vendor, device_product)) is matches


def test_wildcard_spec_matches_any_device_ids() -> None:
    assert parse({}).match(dev("0000:81:00.0", "ABCD", "anything"))


@pytest.mark.parametrize("address", ["0000:0a:00.0", {"bus": "0a"}, "*", [1]])
def test_devname_and_address_are_exclusive(address: Any) -> None:
    exc = reject({"devname": "ens1f0", "address": address})
    assert (exc.code, exc.message) == (
        "PciDeviceInvalidDeviceName",
        "Invalid PCI Whitelist: The PCI whitelist can specify devname or address, but not both")


@pytest.mark.parametrize("devname", ["", None, 0, False], ids=["empty", "null", "zero", "false"])
def test_empty_devname_counts_as_absent(devname: Any) -> None:
    result = parse({"devname": devname, "address": "0000:81:00.0"})
    assert result.devname is None and result.address_text() == "0000:81:00.0"
    assert parse({"devname": devname}).address_text() == "*:*:*.*"


def test_non_string_devname_is_rejected() -> None:
    # Documented difference: Nova would look up the netdev named str(5).
    exc = reject({"devname": 5})
    assert exc.message == f"{PREFIX}property devname (5) must be a JSON string"


@pytest.mark.parametrize("raw", [{}, {"address": None}, {"address": ""}, {"address": {}},
                                 {"address": 0}, {"address": False}, {"address": []}],
                         ids=["absent", "null", "empty-string", "empty-dict", "zero", "false", "empty-list"])
def test_missing_or_empty_address_matches_everything(raw: dict[str, Any]) -> None:
    result = parse(raw)
    assert result.address_text() == "*:*:*.*"
    assert all(result.match(d) for d in (dev(), VF_DEV, dev("0001:ff:1f.7", "ffff", "ffff")))


@pytest.mark.parametrize(("given", "normalized"), [
    ("1", "true"), ("0", "false"), ("t", "true"), ("F", "false"), ("TRUE", "true"), ("false", "false"),
    ("on", "true"), ("OFF", "false"), ("y", "true"), ("N", "false"), ("Yes", "true"), ("no", "false"),
    (" yes ", "true"), (True, "true"), (False, "false"), (1, "true"), (0, "false"),
], ids=lambda v: repr(v))
@pytest.mark.parametrize("tag", ["managed", "live_migratable", "one_time_use"])
def test_strict_bool_tags_are_normalized(tag: str, given: Any, normalized: str) -> None:
    assert parse({tag: given}, rip=True).tags == {tag: normalized}


def test_null_bool_tag_is_left_alone() -> None:
    assert parse({"managed": None}).tags == {"managed": None}


@pytest.mark.parametrize(("given", "shown"), [
    ("maybe", "maybe"), ("", ""), (2, "2"), (1.0, "1.0"), (" nope ", " nope "), ([1], "[1]"),
], ids=["word", "empty", "two", "float", "spaces-kept-in-message", "list"])
def test_bad_bool_tag_message(given: Any, shown: str) -> None:
    exc = reject({"live_migratable": given})
    assert exc.message == (
        f"{PREFIX}Cannot parse tag 'live_migratable': Unrecognized value '{shown}', acceptable values "
        "are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'")


@pytest.mark.parametrize("tag", ["trusted", "remote_managed", "physical_network"])
def test_other_tags_are_not_rewritten(tag: str) -> None:
    assert parse({tag: "Yes"}).tags == {tag: "Yes"}


def test_one_time_use_true_requires_report_in_placement() -> None:
    exc = reject({"one_time_use": "yes"})
    assert exc.message == f"{PREFIX}one_time_use=true requires pci.report_in_placement to be enabled"
    assert parse({"one_time_use": "yes"}, rip=True).tags == {"one_time_use": "true"}
    assert parse({"one_time_use": "no"}).tags == {"one_time_use": "false"}


def test_bool_tags_are_checked_in_nova_order() -> None:
    exc = reject({"one_time_use": "x", "managed": "y2"})
    assert "Cannot parse tag 'managed'" in exc.message


# -- §1.3 glob addresses -----------------------------------------------------------------------


@pytest.mark.parametrize(("given", "normalized"), [
    ("0000:0a:00.1", "0000:0a:00.1"), ("0a:00.5", "*:0a:00.5"), ("00.5", "*:*:00.5"),
    (".5", "*:*:*.5"), (":0a:00.", "*:0a:00.*"), ("a:0:5", "000a:00:05.*"), ("*: *: *.5", "*:*:*.5"),
    ("0x0a:0A:1f.7", "000a:0a:1f.7"), ("*", "*:*:*.*"), ("*:*:*.*", "*:*:*.*"), ("::.", "*:*:*.*"),
    (" 0a : 00 . 5 ", "*:0a:00.5"), ("-1:0a:00.5", "-001:0a:00.5"), ("0:0:0.-1", "0000:00:00.-1"),
    ("ffff:ff:1f.7", "ffff:ff:1f.7"), ("1_0:0:0.0", "0010:00:00.0"),
], ids=["full", "no-domain", "slot-func", "func-only", "colon-lead", "no-dot-is-dbs", "spaced-stars",
        "0x-and-upper", "star", "all-stars", "empty-fields", "spaces", "minus-one-domain",
        "minus-one-func", "limits", "underscore"])
def test_glob_normalization(given: str, normalized: str) -> None:
    assert parse({"address": given}, NO_PFS).address_text() == normalized


@pytest.mark.parametrize(("given", "message"), [
    ("10000:00:00.0", "property domain (10000) is greater than the maximum allowable value (FFFF)."),
    ("0:100:00.0", "property bus (100) is greater than the maximum allowable value (FF)."),
    ("0:0:20.0", "property slot (20) is greater than the maximum allowable value (1F)."),
    ("0:0:0.8", "property func (8) is greater than the maximum allowable value (7)."),
    ("0:0:0. 8 ", "property func (8) is greater than the maximum allowable value (7)."),
    ("0:0:0.1.2", "property func ('1.2') does not parse as a hex number."),
    ("0:0:0.?", "property func ('?') does not parse as a hex number."),
    ("0:0:0. ", "property func ('') does not parse as a hex number."),
    ("0*:0:0.0", "property domain ('0*') does not parse as a hex number."),
    ("0:[0-3]:0.0", "property bus ('[0-3]') does not parse as a hex number."),
    ("0:0:g.0", "property slot ('g') does not parse as a hex number."),
    ("9:zz:0.9", "property func (9) is greater than the maximum allowable value (7)."),
], ids=["domain-max", "bus-max", "slot-max", "func-max", "func-stripped", "func-with-dot", "question",
        "func-blank", "partial-glob", "range", "non-hex-slot", "func-checked-first"])
def test_glob_field_errors(given: str, message: str) -> None:
    exc = reject({"address": given})
    assert (exc.code, exc.message) == ("PciConfigInvalidSpec", PREFIX + message)


@pytest.mark.parametrize("given", ["0:0:0:0.0", "1:2:3:4", "::::"])
def test_glob_with_more_than_three_dbs_fields(given: str) -> None:
    exc = reject({"address": given})
    assert (exc.code, exc.message) == ("PciDeviceWrongAddressFormat",
                                       f"The PCI address {given} has an incorrect format.")


@pytest.mark.parametrize(("glob", "address", "matches"), [
    ("*:0a:00.*", "0000:0a:00.3", True), ("*:0a:00.*", "0000:0b:00.3", False),
    ("0a:00.5", "0001:0a:00.5", True), ("a:0:5", "000a:00:05.7", True), ("a:0:5", "0000:0a:00.5", False),
    ("-1:0a:00.5", "0000:0a:00.5", False), ("0000:0a:00.0", "0000:0a:00.0", True),
], ids=["star-fields", "bus-differs", "no-domain", "no-dot", "no-dot-not-bdf", "minus-one", "exact"])
def test_glob_match(glob: str, address: str, matches: bool) -> None:
    assert parse({"address": glob}, NO_PFS).match(dev(address)) is matches


# -- §1.3 regex addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(("regex", "address", "matches"), [
    ({"bus": "0"}, "0000:0a:00.0", True), ({"bus": "0a$"}, "0000:0a:00.0", True),
    ({"bus": "a"}, "0000:0a:00.0", False), ({"bus": "0A"}, "0000:0a:00.0", False),
    ({"unknown": "x"}, "0001:ff:1f.7", True), ({"function": "[0-2]"}, "0000:0a:00.2", True),
    ({"function": "[0-2]"}, "0000:0a:00.3", False), ({"domain": "0+", "slot": "1f"}, "0000:0a:1f.0", True),
    ({"bus": "ff|0a"}, "0000:0a:00.0", True), ({"bus": "fff"}, "0000:ff:00.0", False),
    ({"bus": ""}, "0000:0a:00.0", True),
], ids=["prefix", "anchored-end", "not-search", "case-sensitive", "unknown-key", "class", "class-miss",
        "two-fields", "alternation", "no-limit-but-no-match", "empty-pattern"])
def test_regex_match_is_re_match(regex: dict[str, str], address: str, matches: bool) -> None:
    result = parse({"address": regex}, NO_PFS)
    assert result.match(dev(address)) is matches
    assert isinstance(result.address, addr.RegexAddress) and result.address.raw == regex


@pytest.mark.parametrize("regex", [{"bus": "*"}, {"slot": "(0a"}, {"domain": "[z-a]"}])
def test_regex_that_does_not_compile(regex: dict[str, str]) -> None:
    exc = reject({"address": regex})
    assert (exc.code, exc.message) == ("PciDeviceWrongAddressFormat",
                                       f"The PCI address {regex} has an incorrect format.")
    assert exc.hint is not None and "regular expression" in exc.hint


@pytest.mark.parametrize("regex", [{"bus": 5}, {"slot": None}, {"function": ["0"]}])
def test_regex_non_string_pattern(regex: dict[str, Any]) -> None:
    # Documented difference: Nova leaks a bare TypeError.
    assert reject({"address": regex}).code == "PciDeviceWrongAddressFormat"


@pytest.mark.parametrize(("address", "shown"), [([1], "[1]"), (5, "5"), (True, "True"), (1.5, "1.5")],
                         ids=["list", "int", "bool", "float"])
def test_address_of_another_type(address: Any, shown: str) -> None:
    exc = reject({"address": address})
    assert (exc.code, exc.message) == ("PciDeviceWrongAddressFormat",
                                       f"The PCI address {shown} has an incorrect format.")


# -- §1.3 the device side ----------------------------------------------------------------------


def test_device_address_case_is_normalized() -> None:
    assert parse({"address": "0000:0a:00.5"}, NO_PFS).match(dev("0000:0A:00.5"))


@pytest.mark.parametrize(("address", "code"), [
    ("0a:00.5", "PciDeviceWrongAddressFormat"), ("0000:0a:00.8", "PciConfigInvalidSpec"),
    ("0000:0a:20.0", "PciConfigInvalidSpec"), ("x:0a:00.0", "PciConfigInvalidSpec"),
], ids=["short", "func-range", "slot-range", "non-hex"])
def test_bad_device_address_raises_like_nova(address: str, code: str) -> None:
    with pytest.raises(errors.PcipassError) as info:
        parse({}).match(dev(address))
    assert info.value.code == code
    with pytest.raises(errors.PcipassError):
        spec.first_match(spec.parse_device_spec_values(["{}"], HOST).specs, dev(address))


# -- §1.4 PF address matches its VFs -------------------------------------------------------------


@pytest.mark.parametrize(("raw", "pf", "vf", "other_vf"), [
    ({"address": PF}, True, True, False),
    ({"address": PF, "product_id": "154c"}, False, True, False),
    ({"address": PF, "product_id": "1572"}, True, False, False),
    ({"address": "0:a:0.0"}, True, True, False),
    ({"address": {"domain": "0000", "bus": "0a", "slot": "00", "function": "0"}}, True, True, False),
    ({"devname": "ens1f0"}, True, True, False),
], ids=["pf", "pf-vf-ids", "pf-pf-ids", "short-spelling", "regex-single", "devname"])
def test_pf_spec_matches_pf_and_its_vfs(raw: dict[str, Any], pf: bool, vf: bool, other_vf: bool) -> None:
    result = parse(raw)
    assert result.physical_function
    assert (result.match(dev()), result.match(VF_DEV),
            result.match(dev("0000:3b:02.0", product="154c", parent="0000:3b:00.0"))) == (pf, vf, other_vf)


@pytest.mark.parametrize(("raw", "facts", "pf_matches", "vf_matches"), [
    ({"address": PF}, NO_PFS, True, False),
    ({"address": "*:0a:00.0"}, HOST, True, False),
    ({"address": {"bus": "0a", "slot": "00", "function": "0"}}, HOST, True, False),
    ({"address": {"domain": "0000", "bus": "0A", "slot": "00", "function": "0"}}, HOST, False, False),
    ({"devname": "ens1f0v1"}, HOST, False, True),
], ids=["not-a-pf-on-host", "wildcard-glob", "regex-with-default", "regex-upper", "vf-devname"])
def test_without_pf_evidence_only_the_address_matches(raw: dict[str, Any], facts: model.HostFacts,
                                                      pf_matches: bool, vf_matches: bool) -> None:
    result = parse(raw, facts)
    assert not result.physical_function
    assert (result.match(dev()), result.match(VF_DEV)) == (pf_matches, vf_matches)


def test_parent_rule_trusts_the_reported_parent_only() -> None:
    result = parse({"address": PF})
    not_really_a_vf = dev("0000:81:00.0", parent=PF)
    assert result.match(not_really_a_vf)
    assert not result.match(dev(VF1, product="154c", parent=None))


def test_devname_not_on_host_matches_nothing_and_warns() -> None:
    result = spec.parse_device_spec_values(['{"devname": "eth9"}'], HOST)
    entry = result.specs[0]
    assert entry.spec.address is None and not entry.spec.match(dev())
    assert [w.code for w in result.warnings] == ["DevnameNotPresent"]
    assert result.warnings[0].entry == "device_spec value 0"
    assert entry.spec.mismatches(dev()) == [spec.Mismatch("devname", "netdev eth9 present on the host", None)]


def test_devname_on_unknown_host_does_not_warn() -> None:
    result = spec.parse_device_spec_values(['{"devname": "eth9"}'], model.HostFacts.unknown())
    assert result.warnings == [] and result.problems == []


def test_vf_devname_matches_exactly_that_vf() -> None:
    result = parse({"devname": "ens1f0v1"})
    assert result.match(VF_DEV) and not result.match(dev("0000:0a:02.2", product="154c", parent=PF))


# -- §1.5 remote_managed -----------------------------------------------------------------------


@pytest.mark.parametrize(("given", "truth"), [
    ("true", True), ("Yes", True), (" on ", True), ("1", True), (1, True), (True, True), ("t", True),
    ("false", False), ("bogus", False), (None, False), (1.0, False), ("", False), (2, False),
], ids=lambda v: repr(v))
def test_remote_managed_is_parsed_leniently(given: Any, truth: bool) -> None:
    result = parse({"remote_managed": given, "address": "0000:81:00.0"})
    assert result.remote_managed is truth
    assert result.tags == {"remote_managed": given}


def test_remote_managed_devname_not_present() -> None:
    exc = reject({"devname": "eth9", "remote_managed": "true"})
    assert (exc.code, exc.message) == (
        "PciDeviceRemoteManagedNotPresent",
        'Invalid PCI Whitelist: A device specified as "remote_managed" is not actually present on the host')


@pytest.mark.parametrize("where", [{"devname": "ens1f0"}, {"address": PF}], ids=["devname", "address"])
@pytest.mark.parametrize(("ids", "outcome"), [
    ({"product_id": "154c"}, None),
    ({"product_id": "154c", "vendor_id": "8086"}, None),
    ({}, "PciDeviceInvalidPFRemoteManaged"),
    ({"product_id": "1572"}, "PciDeviceInvalidPFRemoteManaged"),
    ({"vendor_id": "8086"}, "PciDeviceInvalidPFRemoteManaged"),
    ({"product_id": "10fb"}, "PciConfigInvalidSpec"),
    ({"product_id": "154c", "vendor_id": "15b3"}, "PciConfigInvalidSpec"),
], ids=["vf-product", "vf-ids", "no-ids", "pf-product", "pf-vendor", "other-product", "other-vendor"])
def test_remote_managed_on_a_pf(where: dict[str, str], ids: dict[str, str], outcome: str | None) -> None:
    # For the address form this is the check Nova intends (Nova crashes, nova-pci.md §9.7).
    raw = {**where, **ids, "remote_managed": "yes"}
    if outcome is None:
        assert parse(raw).remote_managed
        return
    exc = reject(raw)
    assert exc.code == outcome
    if outcome == "PciDeviceInvalidPFRemoteManaged":
        assert exc.message == ('Invalid PCI Whitelist: PFs must not have the "remote_managed"tag, '
                               f"device address: {PF}")
    else:
        vendor, product = ids.get("vendor_id", "*"), ids["product_id"]
        assert exc.message == (
            f"{PREFIX}the specified VF vendor ID {vendor} and product ID {product} do not match the "
            f"expected VF IDs based on the corresponding PF identified by PCI address {PF}")


def test_remote_managed_pf_without_vf_device_id() -> None:
    facts = model.HostFacts(pfs={PF: model.PfInfo(PF, "8086", "1572", 8, None)}, netdevs={"ens1f0": PF})
    exc = reject({"devname": "ens1f0", "remote_managed": "true", "product_id": "154c"}, facts)
    assert (exc.code, exc.message) == ("PciDeviceNotFoundById", f"PCI device {PF} not found")


def test_remote_managed_needs_a_card_serial_number() -> None:
    result = parse({"address": PF, "product_id": "154c", "remote_managed": "true"})
    assert not result.match(VF_DEV)
    assert not result.match(dev(VF1, product="154c", parent=PF, serial=""))
    assert result.match(dev(VF1, product="154c", parent=PF, serial="MT2116X09299"))
    assert parse({"remote_managed": "false"}).match(VF_DEV)


@pytest.mark.parametrize(("raw", "warned"), [
    ({"devname": "ens1f0", "remote_managed": "true"}, True),
    ({"address": PF, "remote_managed": "true"}, True),
    ({"address": "*:0a:*.*", "remote_managed": "true"}, False),
    ({"address": PF, "remote_managed": "false"}, False),
], ids=["devname", "single-address", "wildcards", "not-remote-managed"])
def test_remote_managed_on_unknown_host_is_not_checked(raw: dict[str, Any], warned: bool) -> None:
    result = spec.parse_device_spec_values([json.dumps(raw)], model.HostFacts.unknown())
    assert result.problems == []
    assert [w.code for w in result.warnings] == (["SpecNotChecked"] if warned else [])


# -- §1.6 match summary ------------------------------------------------------------------------


def test_tags_play_no_part_in_matching() -> None:
    assert parse({"vendor_id": "8086", "physical_network": "x", "foo": 1}).match(dev())


@pytest.mark.parametrize(("device", "wanted"), [
    (dev(), []),
    (dev(product="10fb"), [spec.Mismatch("product_id", "1572", "10fb")]),
    (dev(vendor="15b3", product="10fb"), [spec.Mismatch("vendor_id", "8086", "15b3"),
                                           spec.Mismatch("product_id", "1572", "10fb")]),
    (dev("0000:0b:00.0"), [spec.Mismatch("address", "*:0a:*.*", "0000:0b:00.0")]),
], ids=["match", "product", "vendor-and-product", "address"])
def test_mismatches(device: model.Device, wanted: list[spec.Mismatch]) -> None:
    result = parse({"vendor_id": "8086", "product_id": "1572", "address": "*:0a:*.*"})
    assert result.mismatches(device) == wanted
    assert result.match(device) is (wanted == [])


def test_mismatches_of_a_pf_spec_name_address_and_parent() -> None:
    result = parse({"address": PF, "remote_managed": "true", "product_id": "154c"})
    device = dev("0000:3b:02.0", product="154c", parent="0000:3b:00.0")
    assert result.mismatches(device) == [
        spec.Mismatch("address", PF, "0000:3b:02.0"), spec.Mismatch("parent_addr", PF, "0000:3b:00.0"),
        spec.Mismatch("card_serial_number", "a VPD card serial number (remote_managed)", None)]
    assert str(result.mismatches(device)[0]) == f"address wanted {PF} got 0000:3b:02.0"


# -- doctor helpers ----------------------------------------------------------------------------


def pool_tags(result: spec.DeviceSpec) -> dict[str, Any]:
    """The spec's tags as they land in a device's pool key (pools.pool_key), less the device's own
    fields."""
    key = pools.pool_key(model.Device("0000:00:01.0", "8086", "1572"), result.tags)
    return {k: v for k, v in key.items() if k not in ("product_id", "vendor_id", "numa_node", "dev_type", "address")}


def test_pool_tags_leave_out_placement_only_tags() -> None:
    result = parse({"physical_network": "p", "resource_class": "CUSTOM_X", "traits": "A", "trusted": "yes"})
    assert pool_tags(result) == {"physical_network": "p", "trusted": "yes"}


def test_misspelt_tag_is_kept_and_becomes_a_pool_key() -> None:
    # nova-pci.md §9.6: the typo silently makes a separate pool.
    result = parse({"physical_netwrok": "physnet1"})
    assert pool_tags(result) == {"physical_netwrok": "physnet1"}


def test_trait_and_resource_class_strings_are_kept_verbatim() -> None:
    # nova-pci.md §9.14: nothing is stripped; "a, b" later yields CUSTOM__B in Placement.
    result = parse({"traits": "a, b", "resource_class": " pgpu"})
    assert result.tags == {"traits": "a, b", "resource_class": " pgpu"}


@pytest.mark.parametrize(("tag", "suggestion"), [
    ("physical_netwrok", "physical_network"), ("Physical_Network", "physical_network"),
    ("physical-network", "physical_network"), ("trust", "trusted"), ("remote_manged", "remote_managed"),
    ("Vendor_ID", "vendor_id"), ("product", "product_id"), ("resource_clas", "resource_class"),
    ("live_migrateable", "live_migratable"), ("adress", "address"), ("labels", "label"),
], ids=lambda v: v)
def test_suspicious_tags(tag: str, suggestion: str) -> None:
    assert spec_fields.suspicious_tags(parse({tag: "x"}).tags) == [(tag, suggestion)]


@pytest.mark.parametrize("tag", ["physical_network", "trusted", "dev_type", "numa_node", "rp_uuids",
                                 "foo", "label"])
def test_tags_that_are_not_suspicious(tag: str) -> None:
    assert spec_fields.suspicious_tags(parse({tag: "x"}).tags) == []


def test_known_tags() -> None:
    assert spec_fields.KNOWN_TAGS == {"physical_network", "trusted", "remote_managed",
                                      "resource_class", "traits",
                                      "managed", "live_migratable", "one_time_use", "label"}


@pytest.mark.parametrize(("raw", "message"), [
    ({"address": "-1:0a:00.5"}, "negative domain -001 is accepted by Nova but can never match a device"),
    ({"vendor_id": "-1", "product_id": "-2"},
     "negative vendor_id -001, product_id -002 is accepted by Nova but can never match a device"),
], ids=["domain", "ids"])
def test_never_matching_values_warn(raw: dict[str, Any], message: str) -> None:
    result = spec.parse_device_spec_values([json.dumps(raw)], HOST)
    assert [(w.code, w.message) for w in result.warnings] == [("SpecNeverMatches", message)]


@pytest.mark.parametrize(("value", "expected"), [
    ("yes", True), ("NO", False), (" on ", True), (True, True), (0, False),
])
def test_strict_bool_table(value: Any, expected: bool) -> None:
    assert strutils.strict_bool(value) is expected


def test_strict_bool_rejects_none_like_oslo() -> None:
    with pytest.raises(ValueError, match="Unrecognized value 'None'"):
        strutils.strict_bool(None)


def test_parse_spec_rejects_a_non_dict() -> None:
    with pytest.raises(errors.PciConfigInvalidSpec, match="Expecting dict"):
        spec.parse_spec([1], HOST)  # type: ignore[arg-type]
