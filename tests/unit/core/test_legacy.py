"""The 2013 label-based design: ``pci_passthrough_devices``, ``pci_passthrough:labels``, modern equivalent."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import alias, errors, legacy, legacy_modern
from pcipass.services import jsonview

PREFIX = "Invalid [DEFAULT] pci_passthrough_devices config: "
ETH = {"label": "with_eth", "address": "0000:04:10.7"}


def devices(*items: Any) -> str:
    return json.dumps(list(items))


# -- the per-host device list ------------------------------------------------------------------------

def test_devices_become_spec_dicts_with_a_label_tag() -> None:
    result = legacy.parse_legacy_devices([devices(ETH, {"label": "gpu", "address": "0000:81:00.0",
                                                        "vendor_id": "10DE", "product_id": "1db6"})])
    assert result.problems == []
    assert [d.spec_dict() for d in result.devices] == [
        {"address": "0000:04:10.7", "label": "with_eth"},
        {"address": "0000:81:00.0", "label": "gpu", "vendor_id": "10de", "product_id": "1db6"}]
    assert [(d.value_index, d.item) for d in result.devices] == [(0, 0), (0, 1)]


def test_address_is_normalized() -> None:
    [dev] = legacy.parse_legacy_devices([devices({"label": "x", "address": "AAAA:AA:1F.1"})]).devices
    assert dev.address == "aaaa:aa:1f.1"


def test_several_values_are_one_list() -> None:
    result = legacy.parse_legacy_devices([devices(ETH), devices({"label": "gpu", "address": "0000:81:00.0"})])
    assert [(d.label, d.value_index, d.item) for d in result.devices] == [("with_eth", 0, 0), ("gpu", 1, 0)]


def test_empty_list_is_fine() -> None:
    result = legacy.parse_legacy_devices(["[]"])
    assert result.devices == [] and result.problems == []


BAD = {
    "not_json": ("[{label: x}]", None,
                 "not JSON (Expecting property name enclosed in double quotes: line 1 column 3 (char 2))"),
    "object_not_list": (json.dumps(ETH), None, "expected a JSON list of devices, got an object"),
    "element_not_object": ('["with_eth"]', "item 0", "item 0 is a string, expected an object"),
    "label_missing": (devices({"address": "0000:04:10.7"}), "item 0",
                      "item 0: label must be a string of 1 to 200 characters, got None"),
    "label_empty": (devices({"label": "", "address": "0000:04:10.7"}), "item 0",
                    "item 0: label must be a string of 1 to 200 characters, got ''"),
    "label_too_long": (devices({"label": "x" * 201, "address": "0000:04:10.7"}), "item 0",
                       "item 0: label must be a string of 1 to 200 characters, got '" + "x" * 201 + "'"),
    "address_missing": (devices({"label": "x"}), "item 0", "item 0: address is missing"),
    "address_wrong_format": (devices({"label": "x", "address": "AAA33:AA:AA.1"}), "item 0",
                             "item 0: Invalid PCI address 'AAA33:AA:AA.1': expected dddd:bb:ss.f"),
    "address_no_domain": (devices({"label": "x", "address": "04:10.7"}), "item 0",
                          "item 0: Invalid PCI address '04:10.7': the domain is missing (dddd:bb:ss.f)"),
    "address_not_string": (devices({"label": "x", "address": 7}), "item 0",
                           "item 0: Invalid PCI address 7: not a string"),
    "vendor_too_long": (devices({**ETH, "vendor_id": "12345"}), "item 0",
                        "item 0: vendor_id '12345' is not 4 hex digits"),
    "product_not_hex": (devices({**ETH, "product_id": "aaZb"}), "item 0",
                        "item 0: product_id 'aaZb' is not 4 hex digits"),
    "vendor_null": (devices({**ETH, "vendor_id": None}), "item 0", "item 0: vendor_id None is not 4 hex digits"),
    "unknown_key": (devices({**ETH, "lable": "y"}), "item 0", "item 0: unknown key 'lable'"),
    "report_key": (devices({**ETH, "dev_id": "pci_0000_04_10_7"}), "item 0", "item 0: unknown key 'dev_id'"),
}


@pytest.mark.parametrize("value,entry,reason", list(BAD.values()), ids=list(BAD))
def test_bad_devices(value: str, entry: str | None, reason: str) -> None:
    result = legacy.parse_legacy_devices([value])
    assert result.devices == []
    [problem] = result.problems
    assert (problem.code, problem.message, problem.value_index, problem.entry) == (
        "PciDeviceInvalidConfig", PREFIX + reason, 0, entry)
    assert problem.hint


@pytest.mark.parametrize("value,hint", [
    (devices({**ETH, "lable": "y"}), 'did you mean "label"?'),
    (devices({**ETH, "dev_id": "x"}), "'dev_id' belongs to the hypervisor's device report, not to this option; "
                                      "remove it"),
], ids=["typo", "report_key"])
def test_key_hints(value: str, hint: str) -> None:
    assert legacy.parse_legacy_devices([value]).problems[0].hint == hint


def test_duplicate_address_rejected_with_both_places() -> None:
    result = legacy.parse_legacy_devices([devices(ETH), devices({"label": "other", "address": "0000:04:10.7"})])
    assert [d.label for d in result.devices] == ["with_eth"]
    [problem] = result.problems
    assert problem.message == PREFIX + ("item 0: address 0000:04:10.7 is listed twice (label 'with_eth' in "
                                        "value 0, item 0)")
    assert (problem.value_index, problem.entry) == (1, "item 0")


def test_good_devices_survive_bad_neighbours() -> None:
    result = legacy.parse_legacy_devices([devices({"label": "x"}, ETH), "nonsense"])
    assert [d.label for d in result.devices] == ["with_eth"]
    assert [(p.value_index, p.entry) for p in result.problems] == [(0, "item 0"), (1, None)]


# -- pci_passthrough:labels ----------------------------------------------------------------------------

@pytest.mark.parametrize("value,pairs", [
    ('["with_eth"]', [("with_eth", 1)]),
    ('["with_eth", "gpu", "with_eth"]', [("with_eth", 2), ("gpu", 1)]),
    ("[]", []),
], ids=["one", "repeated_counts", "empty"])
def test_label_counts(value: str, pairs: list[tuple[str, int]]) -> None:
    assert legacy.label_counts(value) == pairs


def test_labels_become_requests_on_the_label_tag() -> None:
    reqs = legacy.parse_labels('["a", "b", "a"]')
    assert [(r.alias_name, r.count, r.numa_policy, r.specs, r.request_id) for r in reqs] == [
        ("a", 2, None, [{"label": "a"}], 0), ("b", 1, None, [{"label": "b"}], 1)]


@pytest.mark.parametrize("value,reason", [
    ("with_eth", "not JSON (Expecting value: line 1 column 1 (char 0))"),
    ('"with_eth"', "expected a JSON list of labels, got a string"),
    ('{"with_eth": 2}', "expected a JSON list of labels, got an object"),
    ('["a", 2]', "element 1 (2) is not a label"),
    ('[""]', "element 0 ('') is not a label"),
], ids=["bare_word", "string_not_iterated", "counts_dict", "number", "empty_label"])
def test_bad_labels(value: str, reason: str) -> None:
    with pytest.raises(errors.InvalidExtraSpec) as exc:
        legacy.parse_labels(value)
    assert exc.value.message == f"Invalid value {value!r} for pci_passthrough:labels: {reason}"
    assert exc.value.to_problem().entry == "pci_passthrough:labels"


def test_flavor_rewrite() -> None:
    out = legacy_modern.modern_flavor_extra_specs({"pci_passthrough:labels": '["with_eth", "with_eth", "a:b"]',
                                            "hw:numa_nodes": "1"})
    assert out == {"hw:numa_nodes": "1", "pci_passthrough:alias": "with_eth:2,a_b:1"}


def test_flavor_rewrite_of_empty_labels_drops_the_key() -> None:
    assert legacy_modern.modern_flavor_extra_specs({"pci_passthrough:labels": "[]"}) == {}


# -- names -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("label,rc,alias_name", [
    ("with_eth", "CUSTOM_WITH_ETH", "with_eth"),
    ("with-eth", "CUSTOM_WITH_ETH", "with-eth"),
    ("gpu 16a!", "CUSTOM_GPU_16A_", "gpu 16a!"),
    (" a:b,c ", "CUSTOM__A_B_C_", "a_b_c"),
    ("CUSTOM_X", "CUSTOM_CUSTOM_X", "CUSTOM_X"),
    (":", "CUSTOM__", "label"),
], ids=["plain", "dash", "space_bang", "separators", "already_custom", "only_separator"])
def test_label_names(label: str, rc: str, alias_name: str) -> None:
    assert (legacy.resource_class_for(label), legacy.alias_name_for(label)) == (rc, alias_name)


# -- modern equivalent ----------------------------------------------------------------------------------

HOSTS = {"c1": legacy.parse_legacy_devices([devices(ETH, {"label": "gpu", "address": "0000:81:00.0"})]).devices,
         "c2": legacy.parse_legacy_devices([devices({"label": "with_eth", "address": "0000:05:00.1"})]).devices}


def test_modern_equivalent_specs_aliases_options() -> None:
    modern = legacy_modern.modern_equivalent(HOSTS)
    assert modern.device_specs == {
        "c1": ['{"address": "0000:04:10.7", "resource_class": "CUSTOM_WITH_ETH"}',
               '{"address": "0000:81:00.0", "resource_class": "CUSTOM_GPU"}'],
        "c2": ['{"address": "0000:05:00.1", "resource_class": "CUSTOM_WITH_ETH"}']}
    assert modern.aliases == ['{"name": "with_eth", "resource_class": "CUSTOM_WITH_ETH"}',
                              '{"name": "gpu", "resource_class": "CUSTOM_GPU"}']
    assert modern.options == ["[pci] report_in_placement = True", "[filter_scheduler] pci_in_placement = True"]
    assert [w.code for w in modern.warnings] == ["DeprecatedLegacyPciConfig"] * 2
    assert modern.problems == []


def test_modern_aliases_pass_novas_placement_rules() -> None:
    modern = legacy_modern.modern_equivalent(HOSTS)
    parsed = alias.parse_alias_values(modern.aliases, pci_in_placement=True)
    assert parsed.valid and parsed.warnings == []
    assert {n: a.specs for n, a in parsed.aliases.items()} == {
        "with_eth": [{"resource_class": "CUSTOM_WITH_ETH"}], "gpu": [{"resource_class": "CUSTOM_GPU"}]}


def test_modern_equivalent_rewrites_flavors_and_checks_labels() -> None:
    modern = legacy_modern.modern_equivalent(HOSTS, {"small": '["with_eth"]', "big": '["gpu", "gpu", "fpga"]',
                                              "broken": '"gpu"'})
    assert modern.flavor_extra_specs == {"small": {"pci_passthrough:alias": "with_eth:1"},
                                         "big": {"pci_passthrough:alias": "gpu:2,fpga:1"}}
    [missing] = [w for w in modern.warnings if w.code == "LegacyLabelNotOffered"]
    assert missing.message == "flavor 'big' asks for label 'fpga', which no host lists"
    [problem] = modern.problems
    assert (problem.code, problem.entry) == ("InvalidExtraSpec", "flavor 'broken'")


def test_labels_that_collide_are_reported() -> None:
    devs = legacy.parse_legacy_devices([devices(ETH, {"label": "with-eth", "address": "0000:04:10.6"})]).devices
    modern = legacy_modern.modern_equivalent({"c1": devs})
    [collision] = [w for w in modern.warnings if w.code == "LegacyLabelCollision"]
    assert collision.message == ("labels 'with_eth', 'with-eth' all become resource class CUSTOM_WITH_ETH, so "
                                 "their devices become interchangeable")


def test_rendered_conf_snippets() -> None:
    modern = legacy_modern.modern_equivalent({"c1": HOSTS["c1"][:1]})
    assert modern.render_compute_conf("c1") == (
        "[pci]\nreport_in_placement = True\n"
        'device_spec = {"address": "0000:04:10.7", "resource_class": "CUSTOM_WITH_ETH"}\n'
        'alias = {"name": "with_eth", "resource_class": "CUSTOM_WITH_ETH"}\n')
    assert modern.render_controller_conf() == (
        '[pci]\nalias = {"name": "with_eth", "resource_class": "CUSTOM_WITH_ETH"}\n\n'
        "[filter_scheduler]\npci_in_placement = True\n")
    assert modern.render_compute_conf("unknown").startswith("[pci]\nreport_in_placement = True\nalias = ")


def test_host_without_devices_gets_no_deprecation() -> None:
    assert legacy_modern.modern_equivalent({"c1": []}).warnings == []


# -- one host's config, as config check uses it -------------------------------------------------------------

@dataclasses.dataclass
class Located:
    value: str
    file: str
    line: int


def test_parse_legacy_config_locates_problems_and_warns() -> None:
    config = legacy.parse_legacy_config([Located(devices(ETH), "/etc/nova/nova.conf", 12),
                                         Located("oops", "/etc/nova/nova.conf.d/x.conf", 3)], host="c1")
    assert config.has_legacy and config.host == "c1"
    [problem] = config.problems
    assert (problem.file, problem.line, problem.value_index) == ("/etc/nova/nova.conf.d/x.conf", 3, 1)
    [warning] = config.warnings
    assert (warning.code, warning.file, warning.line) == ("DeprecatedLegacyPciConfig", "/etc/nova/nova.conf", 12)
    assert warning.message.startswith("[DEFAULT] pci_passthrough_devices on c1 is the 2013 label-based")


def test_parse_legacy_config_views() -> None:
    config = legacy.parse_legacy_config([Located(devices(ETH), "nova.conf", 5)])
    assert config.host == "this host"
    assert jsonview.legacy_labels(config) == [{
        "label": "with_eth", "resource_class": "CUSTOM_WITH_ETH", "alias_name": "with_eth",
        "devices": [{"address": "0000:04:10.7", "vendor_id": None, "product_id": None,
                     "spec": {"address": "0000:04:10.7", "label": "with_eth"},
                     "source": {"file": "nova.conf", "line": 5, "item": 0}}]}]
    doc = jsonview.modern_equivalent(config)
    assert doc["device_specs"] == {"this host": ['{"address": "0000:04:10.7", "resource_class": "CUSTOM_WITH_ETH"}']}
    assert doc["compute_conf"].startswith("[pci]\nreport_in_placement = True\n")
    assert "pci_in_placement = True" in doc["controller_conf"]
    json.dumps(doc)


def test_no_values_no_legacy() -> None:
    config = legacy.parse_legacy_config([])
    assert not config.has_legacy and config.warnings == [] and jsonview.legacy_labels(config) == []


# -- hostile input -------------------------------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(
                               st.sampled_from(list(legacy.KEYS) + ["dev_id", "x"]), c, max_size=4),
                           max_leaves=10)


@given(values=st.lists(st.one_of(st.text(max_size=20), json_values.map(json.dumps)), max_size=3))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_arbitrary_device_lists_never_raise(values: list[str]) -> None:
    config = legacy.parse_legacy_config(values, host="h")
    assert all(p.code == "PciDeviceInvalidConfig" and p.value_index is not None for p in config.problems)
    modern = legacy_modern.for_host(config)
    assert len(modern.device_specs["h"]) == len(config.devices)
    json.dumps(jsonview.modern_equivalent(config))


@given(value=st.one_of(st.text(max_size=20), json_values.map(json.dumps)))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_arbitrary_labels_raise_only_our_error(value: str) -> None:
    try:
        reqs = legacy.parse_labels(value)
    except errors.InvalidExtraSpec:
        return
    assert all(r.count >= 1 and r.specs == [{"label": r.alias_name}] for r in reqs)


def test_legacy_devices_become_label_specs_that_label_requests_match() -> None:
    from pcipass.core import model, pools
    from pcipass.core import spec as spec_mod

    parsed = legacy.parse_legacy_devices(
        ['[{"label": "with_eth", "address": "0000:04:10.7"}, {"label": "gpu", "address": "0000:05:00.0"}]'])
    entries = legacy.spec_entries(parsed.devices, model.HostFacts(), start=3)
    assert [e.index for e in entries] == [3, 4]
    assert entries[0].spec.tags == {"label": "with_eth"}
    devices = [model.Device("0000:04:10.7", "8086", "10ed", dev_type=model.TYPE_VF,
                            parent_addr="0000:04:00.0"),
               model.Device("0000:05:00.0", "10de", "20b5"),
               model.Device("0000:06:00.0", "10de", "20b5")]
    assert spec_mod.first_match(entries, devices[0]) is entries[0]
    assert spec_mod.first_match(entries, devices[2]) is None
    stats = pools.build(devices, entries)
    (req,) = legacy.parse_labels('["gpu"]')
    outcome = stats.consume([pools.as_request(req)])
    assert outcome.ok and [d.address for _, d in outcome.devices] == ["0000:05:00.0"]
    (two,) = legacy.parse_labels('["gpu", "gpu"]')
    assert not stats.support([pools.as_request(two)]).ok  # only one device carries the label
