"""Flavor extra specs and image properties -> PCI requests: nova-pci.md §3, one row per rule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import alias, errors, requests

PATTERN = r"[^:]+:\d+(?:\s*,\s*[^:]+:\d+)*"
TABLE = alias.parse_alias_values([
    json.dumps({"name": "gpu", "vendor_id": "10de", "product_id": "1db6", "numa_policy": "required"}),
    json.dumps({"name": "nic", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF"}),
    json.dumps({"name": "nic", "vendor_id": "8086", "product_id": "10ed", "device_type": "type-VF"}),
])
ALIASES = TABLE.aliases
GPU_SPEC = {"vendor_id": "10de", "product_id": "1db6"}
NIC_SPECS = [{"vendor_id": "8086", "product_id": "154c", "dev_type": "type-VF"},
             {"vendor_id": "8086", "product_id": "10ed", "dev_type": "type-VF"}]


def translate(specs: dict[str, str], image: dict[str, Any] | None = None, **kw: Any) -> requests.FlavorRequests:
    return requests.translate_flavor(specs, ALIASES, image, **kw)


def summary(result: requests.FlavorRequests) -> list[tuple[str, int, str | None]]:
    return [(r.alias_name, r.count, r.numa_policy) for r in result.requests]


# -- §3.1 API validation of pci_passthrough:alias ------------------------------------------------

@pytest.mark.parametrize("value", ["a:2,b:1", "a:2 , b:1", "a:0", "a b:1", "a:10"],
                         ids=["plain", "spaces_around_comma", "count_zero", "space_in_name", "two_digits"])
def test_api_accepts(value: str) -> None:
    assert requests.validate_extra_spec("pci_passthrough:alias", value) is None
    with pytest.raises(requests.ValidationError):  # the same value, spoiled, is refused
        requests.validate_extra_spec("pci_passthrough:alias", value + ":")


@pytest.mark.parametrize("value", ["a", "a:x", "a:-1", "a:1:2", "a:1,", "", " a : 1"],
                         ids=["no_count", "word_count", "negative", "two_colons", "trailing_comma", "empty",
                              "space_before_count"])
def test_api_rejects_with_novas_text(value: str) -> None:
    with pytest.raises(requests.ValidationError) as exc:
        requests.validate_extra_spec("pci_passthrough:alias", value)
    assert exc.value.code == "ValidationError"
    assert exc.value.message == f"Validation failed; '{value}' is not of the format '{PATTERN}'."


@pytest.mark.parametrize("key,value,message", [
    ("hw:pci_numa_affinity_policy", "strict",
     "Validation failed; 'strict' is not one of: required, preferred, legacy, socket."),
    ("hw:cpu_policy", "pinned", "Validation failed; 'pinned' is not one of: dedicated, shared, mixed."),
    ("hw:numa_nodes", "two", "Validation failed; 'two' is not a valid integer value."),
    ("hw:numa_nodes", " 0", "Validation failed; '0' is less than the min value of '1'."),
], ids=["pci_policy", "cpu_policy", "nodes_word", "nodes_zero"])
def test_api_rejects_other_keys(key: str, value: str, message: str) -> None:
    with pytest.raises(requests.ValidationError) as exc:
        requests.validate_extra_spec(key, value)
    assert exc.value.message == message


def test_api_ignores_other_keys() -> None:
    assert requests.validate_extra_spec("hw:mem_page_size", "whatever") is None
    with pytest.raises(requests.ValidationError):  # a key it reads refuses the same value
        requests.validate_extra_spec("hw:cpu_policy", "whatever")


# -- §3.1 boot-time translation -------------------------------------------------------------------

TRANSLATED = {
    "one_item": ("gpu:2", [("gpu", 2, "required")]),
    "order_kept": ("nic:1,gpu:1", [("nic", 1, "legacy"), ("gpu", 1, "required")]),
    "same_alias_twice_two_requests": ("gpu:1,gpu:2", [("gpu", 1, "required"), ("gpu", 2, "required")]),
    "name_and_count_whitespace": (" gpu : 2 ", [("gpu", 2, "required")]),
    "count_zero": ("gpu:0", [("gpu", 0, "required")]),
    "count_negative": ("gpu:-1", [("gpu", -1, "required")]),
    "count_underscore": ("gpu:1_0", [("gpu", 10, "required")]),
    "count_plus": ("gpu:+3", [("gpu", 3, "required")]),
}


@pytest.mark.parametrize("value,expected", list(TRANSLATED.values()), ids=list(TRANSLATED))
def test_boot_translation(value: str, expected: list[tuple[str, int, str]]) -> None:
    result = translate({"pci_passthrough:alias": value})
    assert summary(result) == expected
    assert [r.request_id for r in result.requests] == list(range(len(expected)))
    assert result.alias_spec == value


def test_request_specs_are_the_alias_specs_as_strings() -> None:
    gpu, nic = translate({"pci_passthrough:alias": "gpu:1,nic:1"}).requests
    assert gpu.specs == [GPU_SPEC] and nic.specs == NIC_SPECS
    assert all(isinstance(v, str) for spec in nic.specs for v in spec.values())
    gpu.specs[0]["vendor_id"] = "ffff"
    assert ALIASES["gpu"].specs[0]["vendor_id"] == "10de"


BOOT_ERRORS = {
    "no_colon": ("gpu", "InvalidAliasRequest",
                 "Invalid pci_passthrough:alias value 'gpu': item 1 ('gpu') has no ':<count>'; "
                 "each item is <alias>:<count>"),
    "two_colons": ("gpu:1:2", "InvalidAliasRequest",
                   "Invalid pci_passthrough:alias value 'gpu:1:2': item 1 ('gpu:1:2') has more than one ':'; "
                   "each item is <alias>:<count>"),
    "empty": ("", "InvalidAliasRequest",
              "Invalid pci_passthrough:alias value '': item 1 ('') has no ':<count>'; each item is <alias>:<count>"),
    "trailing_comma": ("gpu:1,", "InvalidAliasRequest",
                       "Invalid pci_passthrough:alias value 'gpu:1,': item 2 ('') has no ':<count>'; "
                       "each item is <alias>:<count>"),
    "word_count": ("gpu:x", "InvalidAliasRequest",
                   "Invalid pci_passthrough:alias value 'gpu:x': item 1: count 'x' is not an integer"),
    "undefined": ("gpx:1", "PciRequestAliasNotDefined", "PCI alias gpx is not defined"),
    "undefined_checked_before_count": ("gpx:x", "PciRequestAliasNotDefined", "PCI alias gpx is not defined"),
    "undefined_before_later_malformed": ("gpx:1,nic", "PciRequestAliasNotDefined", "PCI alias gpx is not defined"),
    "malformed_before_later_undefined": ("nic,gpx:1", "InvalidAliasRequest",
                                         "Invalid pci_passthrough:alias value 'nic,gpx:1': item 1 ('nic') has no "
                                         "':<count>'; each item is <alias>:<count>"),
    "case_sensitive_names": ("GPU:1", "PciRequestAliasNotDefined", "PCI alias GPU is not defined"),
}


@pytest.mark.parametrize("value,code,message", list(BOOT_ERRORS.values()), ids=list(BOOT_ERRORS))
def test_boot_errors(value: str, code: str, message: str) -> None:
    with pytest.raises(errors.PcipassError) as exc:
        translate({"pci_passthrough:alias": value})
    assert (exc.value.code, exc.value.message) == (code, message)


@pytest.mark.parametrize("name,aliases,hint", [
    ("gpx", ALIASES, "did you mean 'gpu'?"),
    ("fpga", ALIASES, "defined aliases: gpu, nic"),
    ("gpu", {}, "no [pci] alias is defined in the nova.conf files read"),
], ids=["close_match", "list_defined", "none_defined"])
def test_undefined_alias_hint(name: str, aliases: dict[str, alias.Alias], hint: str) -> None:
    with pytest.raises(errors.PciRequestAliasNotDefined) as exc:
        requests.translate_flavor({"pci_passthrough:alias": f"{name}:1"}, aliases)
    assert exc.value.hint == hint


def test_malformed_item_names_its_entry() -> None:
    with pytest.raises(errors.InvalidAliasRequest) as exc:
        translate({"pci_passthrough:alias": "gpu:1,nic:two"})
    assert exc.value.to_problem().entry == "item 2"


@pytest.mark.parametrize("key,value", [("pci_passthrough:alias", 1), ("hw:numa_nodes", 2), ("hw:cpu_policy", None)],
                         ids=["alias_int", "nodes_int", "cpu_null"])
def test_non_string_extra_spec_is_our_error(key: str, value: Any) -> None:
    with pytest.raises(errors.InvalidExtraSpec) as exc:
        translate({key: value})
    assert exc.value.message == f"Invalid value {value!r} for {key}: extra spec values are strings"


def test_no_alias_key_needs_no_aliases() -> None:
    result = requests.translate_flavor({"hw:numa_nodes": "1"}, {})
    assert result.requests == [] and result.alias_spec is None and result.numa_nodes == 1


# -- warnings: what the API would refuse, and empty requests --------------------------------------

def test_values_the_api_refuses_are_warnings_by_default() -> None:
    result = translate({"pci_passthrough:alias": "gpu:-1"})
    assert summary(result) == [("gpu", -1, "required")]
    assert [w.code for w in result.warnings] == ["ValidationError", "PciRequestCountNotPositive"]
    assert result.warnings[0].message == f"Validation failed; 'gpu:-1' is not of the format '{PATTERN}'."
    assert result.warnings[0].entry == "pci_passthrough:alias"


def test_strict_api_raises_validation_error() -> None:
    with pytest.raises(requests.ValidationError):
        translate({"pci_passthrough:alias": " gpu : 1"}, strict_api=True)
    assert summary(translate({"pci_passthrough:alias": "gpu:1"}, strict_api=True)) == [("gpu", 1, "required")]


def test_count_zero_warns() -> None:
    [warning] = translate({"pci_passthrough:alias": "gpu:0"}).warnings
    assert (warning.code, warning.entry) == ("PciRequestCountNotPositive", "item 1")


# -- §3.2 PCI NUMA policy --------------------------------------------------------------------------

POLICIES = {
    "alias_policy_when_unset": (None, None, "required", None),
    "flavor_overrides_alias": ("preferred", None, "preferred", "preferred"),
    "image_overrides_alias": (None, "socket", "socket", "socket"),
    "both_equal": ("legacy", "legacy", "legacy", "legacy"),
    "empty_flavor_falls_to_image": ("", "preferred", "preferred", "preferred"),
    "empty_flavor_alone": ("", None, "required", None),
}


@pytest.mark.parametrize("flavor,image,request_policy,resolved", list(POLICIES.values()), ids=list(POLICIES))
def test_policy_resolution(flavor: str | None, image: str | None, request_policy: str,
                           resolved: str | None) -> None:
    specs = {"pci_passthrough:alias": "gpu:1"}
    if flavor is not None:
        specs["hw:pci_numa_affinity_policy"] = flavor
    props = {"hw_pci_numa_affinity_policy": image} if image is not None else None
    result = translate(specs, props)
    assert result.requests[0].numa_policy == request_policy
    assert result.numa_policy == resolved


POLICY_ERRORS = {
    "flavor_and_image_differ": ({"hw:pci_numa_affinity_policy": "required"},
                                {"hw_pci_numa_affinity_policy": "preferred"}, "ImagePCINUMAPolicyForbidden",
                                "Image property 'hw_pci_numa_affinity_policy' is not permitted to override the "
                                "'hw:pci_numa_affinity_policy' flavor extra spec."),
    "flavor_value_invalid": ({"hw:pci_numa_affinity_policy": "strict"}, {}, "InvalidPCINUMAAffinity",
                             "Invalid PCI NUMA affinity configured: strict"),
    "flavor_value_case": ({"hw:pci_numa_affinity_policy": "Required"}, {}, "InvalidPCINUMAAffinity",
                          "Invalid PCI NUMA affinity configured: Required"),
    "image_value_invalid": ({}, {"hw_pci_numa_affinity_policy": "strict"}, "InvalidRequest",
                            "Invalid image metadata. Error: Field value strict is invalid"),
    "image_value_empty": ({}, {"hw_pci_numa_affinity_policy": ""}, "InvalidRequest",
                          "Invalid image metadata. Error: Field value  is invalid"),
}


@pytest.mark.parametrize("specs,image,code,message", list(POLICY_ERRORS.values()), ids=list(POLICY_ERRORS))
def test_policy_errors(specs: dict[str, str], image: dict[str, str], code: str, message: str) -> None:
    with pytest.raises(errors.PcipassError) as exc:
        translate({"pci_passthrough:alias": "gpu:1", **specs}, image)
    assert (exc.value.code, exc.value.message) == (code, message)
    assert exc.value.hint


def test_policy_checked_before_aliases() -> None:
    with pytest.raises(errors.InvalidPCINUMAAffinity):
        translate({"pci_passthrough:alias": "undefined:1", "hw:pci_numa_affinity_policy": "x"})


# -- hw:numa_nodes and hw:cpu_policy -----------------------------------------------------------------

NODES = {
    "flavor": ({"hw:numa_nodes": "2"}, {}, 2),
    "image": ({}, {"hw_numa_nodes": "3"}, 3),
    "image_int_whitespace": ({}, {"hw_numa_nodes": " 3 "}, 3),
    "unset": ({}, {}, None),
    "empty_flavor": ({"hw:numa_nodes": ""}, {}, None),
    "empty_flavor_image_set": ({"hw:numa_nodes": ""}, {"hw_numa_nodes": "2"}, 2),
}


@pytest.mark.parametrize("specs,image,nodes", list(NODES.values()), ids=list(NODES))
def test_numa_nodes(specs: dict[str, str], image: dict[str, str], nodes: int | None) -> None:
    assert translate(specs, image).numa_nodes == nodes


NODE_ERRORS = {
    "zero": ({"hw:numa_nodes": "0"}, {}, "InvalidNUMANodesNumber",
             "The property 'numa_nodes' cannot be '0'. It must be a number greater than 0"),
    "padded": ({"hw:numa_nodes": " 2"}, {}, "InvalidNUMANodesNumber",
               "The property 'numa_nodes' cannot be ' 2'. It must be a number greater than 0"),
    "leading_zero": ({"hw:numa_nodes": "02"}, {}, "InvalidNUMANodesNumber",
                     "The property 'numa_nodes' cannot be '02'. It must be a number greater than 0"),
    "image_zero": ({}, {"hw_numa_nodes": "0"}, "InvalidNUMANodesNumber",
                   "The property 'numa_nodes' cannot be '0'. It must be a number greater than 0"),
    "image_word": ({}, {"hw_numa_nodes": "x"}, "InvalidRequest",
                   "Invalid image metadata. Error: invalid literal for int() with base 10: 'x'"),
    "both": ({"hw:numa_nodes": "2"}, {"hw_numa_nodes": "2"}, "ImageNUMATopologyForbidden",
             "Image property 'hw_numa_nodes' is not permitted to override NUMA configuration set against "
             "the flavor"),
}


@pytest.mark.parametrize("specs,image,code,message", list(NODE_ERRORS.values()), ids=list(NODE_ERRORS))
def test_numa_node_errors(specs: dict[str, str], image: dict[str, str], code: str, message: str) -> None:
    with pytest.raises(errors.PcipassError) as exc:
        translate(specs, image)
    assert (exc.value.code, exc.value.message) == (code, message)


CPU = {
    "unset": (None, None, None),
    "flavor_dedicated": ("dedicated", None, "dedicated"),
    "flavor_dedicated_wins": ("dedicated", "shared", "dedicated"),
    "image_only": (None, "mixed", "mixed"),
    "shared_with_image_shared": ("shared", "shared", "shared"),
    "mixed_with_image_shared": ("mixed", "shared", "mixed"),
}


@pytest.mark.parametrize("flavor,image,resolved", list(CPU.values()), ids=list(CPU))
def test_cpu_policy(flavor: str | None, image: str | None, resolved: str | None) -> None:
    specs = {"hw:cpu_policy": flavor} if flavor else {}
    props = {"hw_cpu_policy": image} if image else {}
    assert translate(specs, props).cpu_policy == resolved


CPU_ERRORS = {
    "flavor_bogus": ({"hw:cpu_policy": "pinned"}, {}, "InvalidCPUAllocationPolicy",
                     "CPU policy requested from 'flavor extra specs' is invalid, given: 'pinned', available: "
                     "'('dedicated', 'shared', 'mixed')'."),
    "image_bogus": ({}, {"hw_cpu_policy": "pinned"}, "InvalidRequest",
                    "Invalid image metadata. Error: Field value pinned is invalid"),
    "shared_vs_image_dedicated": ({"hw:cpu_policy": "shared"}, {"hw_cpu_policy": "dedicated"},
                                  "ImageCPUPinningForbidden",
                                  "Image property 'hw_cpu_policy' is not permitted to override CPU pinning "
                                  "policy set against the flavor"),
    "mixed_vs_image_dedicated": ({"hw:cpu_policy": "mixed"}, {"hw_cpu_policy": "dedicated"},
                                 "ImageCPUPinningForbidden",
                                 "Image property 'hw_cpu_policy' is not permitted to override CPU pinning "
                                 "policy set against the flavor"),
}


@pytest.mark.parametrize("specs,image,code,message", list(CPU_ERRORS.values()), ids=list(CPU_ERRORS))
def test_cpu_policy_errors(specs: dict[str, str], image: dict[str, str], code: str, message: str) -> None:
    with pytest.raises(errors.PcipassError) as exc:
        translate(specs, image)
    assert (exc.value.code, exc.value.message) == (code, message)


# -- image property forms ---------------------------------------------------------------------------

@pytest.mark.parametrize("image,expected", [
    (None, {}),
    ({"hw_numa_nodes": "2"}, {"hw_numa_nodes": "2"}),
    ({"name": "cirros", "properties": {"hw_numa_nodes": "2", "os_distro": "cirros"}},
     {"hw_numa_nodes": "2", "os_distro": "cirros"}),
], ids=["none", "flat", "image_show"])
def test_image_properties_forms(image: dict[str, Any] | None, expected: dict[str, str]) -> None:
    assert requests.image_properties(image) == expected


def test_image_show_document_is_read() -> None:
    doc = {"name": "img", "properties": {"hw_pci_numa_affinity_policy": "socket"}}
    result = translate({"pci_passthrough:alias": "nic:1"}, doc)
    assert summary(result) == [("nic", 1, "socket")]
    assert result.image_props == {"hw_pci_numa_affinity_policy": "socket"}


def test_alias_value_that_is_no_string() -> None:
    with pytest.raises(errors.InvalidAliasRequest) as exc:
        requests.translate_alias_spec(3, ALIASES)  # type: ignore[arg-type]
    assert exc.value.message == "Invalid pci_passthrough:alias value 3: not a string"


# -- hostile input -----------------------------------------------------------------------------------

text = st.text(alphabet=st.sampled_from(list("gpunic:, -0129x_\u0661")), max_size=12)
keys = st.sampled_from(["pci_passthrough:alias", "hw:pci_numa_affinity_policy", "hw:numa_nodes", "hw:cpu_policy",
                        "other"])
image_keys = st.sampled_from(["hw_pci_numa_affinity_policy", "hw_numa_nodes", "hw_cpu_policy", "properties"])


@given(specs=st.dictionaries(keys, st.one_of(text, text, st.integers(), st.none())), image=st.dictionaries(image_keys, st.one_of(text, st.integers())),
       strict=st.booleans())
@settings(max_examples=400, deadline=None, derandomize=True)
def test_arbitrary_flavors_raise_only_our_errors(specs: dict[str, str], image: dict[str, Any],
                                                 strict: bool) -> None:
    try:
        result = translate(specs, image, strict_api=strict)
    except errors.PcipassError as exc:
        assert exc.code and exc.message
        return
    assert all(r.alias_name in ALIASES for r in result.requests)
