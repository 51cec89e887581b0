"""Flavors and images from the JSON operators have: CLI output (old and new) and API documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.adapters import flavorfile

FLAVORS = Path(__file__).resolve().parents[1] / "fixtures" / "flavors"


def write(tmp_path: Path, doc: object | str, name: str = "flavor.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2), encoding="utf-8")
    return path


def test_flavor_show_with_properties_dict() -> None:
    fl = flavorfile.read_flavor(FLAVORS / "flavor-show-properties-dict.json")
    assert fl.problems == []
    assert (fl.name, fl.id, fl.vcpus, fl.ram, fl.disk) == (
        "gpu.a16.16a", "c1a4bd3e-2f4b-4b39-9d0c-1d5d2a4b0f11", 8, 16384, 40)
    assert fl.extra_specs == {"hw:numa_nodes": "1", "hw:pci_numa_affinity_policy": "preferred",
                              "pci_passthrough:alias": "A16_16A:1"}
    assert fl.file == str(FLAVORS / "flavor-show-properties-dict.json")


def test_flavor_show_with_old_properties_string() -> None:
    fl = flavorfile.read_flavor(FLAVORS / "flavor-show-properties-string.json")
    assert fl.problems == []
    assert fl.extra_specs == {"hw:cpu_policy": "dedicated", "hw:numa_nodes": "2",
                              "pci_passthrough:alias": "vf:2, nic:1"}
    assert (fl.name, fl.id, fl.vcpus) == ("sriov.two", "42", 4)


def test_api_flavor_document() -> None:
    fl = flavorfile.read_flavor(FLAVORS / "flavor-api.json")
    assert fl.problems == []
    assert fl.extra_specs == {"pci_passthrough:alias": "QuickAssist:1",
                              "hw:pci_numa_affinity_policy": "socket"}
    assert (fl.name, fl.id, fl.ram) == ("m1.pci", "7", 2048)


def test_extra_specs_only_document_takes_the_file_stem(tmp_path: Path) -> None:
    path = write(tmp_path, {"extra_specs": {"pci_passthrough:alias": "a1:2"}}, "gpu.big.json")
    fl = flavorfile.read_flavor(path)
    assert (fl.name, fl.extra_specs, fl.problems) == ("gpu.big", {"pci_passthrough:alias": "a1:2"}, [])
    path = write(tmp_path, {"name": "x", "os-flavor-extra-specs": {"k": "v"}, "links": []}, "x.json")
    assert flavorfile.read_flavor(path).extra_specs == {"k": "v"}


def test_non_string_extra_spec_is_rejected_naming_the_key() -> None:
    fl = flavorfile.read_flavor(FLAVORS / "flavor-bad-value.json")
    assert fl.extra_specs == {"pci_passthrough:alias": "gpu:1"}
    assert len(fl.problems) == 1
    p = fl.problems[0]
    assert (p.code, p.line) == ("InvalidExtraSpec", 7)
    assert "hw:numa_nodes" in p.message and 'write "1"' in p.message
    assert p.file == str(FLAVORS / "flavor-bad-value.json") and p.entry == "flavor 'bad.numbers'"


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "name": "x",\n  "properties": {\n    "a": "b",\n  }\n}\n')
    fl = flavorfile.read_flavor(path)
    assert fl.name == "flavor"
    assert [(p.code, p.file, p.line) for p in fl.problems] == [("InvalidJson", str(path), 5)]
    yaml_path = write(tmp_path, "name: x\nproperties: {}\n", "f.yaml")
    problem = flavorfile.read_flavor(yaml_path).problems[0]
    assert problem.code == "InvalidJson" and problem.hint is not None and "-f json" in problem.hint


def test_unreadable_inputs(tmp_path: Path) -> None:
    assert [p.code for p in flavorfile.read_flavor(tmp_path / "none.json").problems] == [
        "InputFileNotFound"]
    assert [p.code for p in flavorfile.read_flavor(tmp_path).problems] == ["InputFileIsDirectory"]
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\x80\x81\x82")
    assert [p.code for p in flavorfile.read_flavor(binary).problems] == ["InputFileDecodeError"]
    for doc in ("[1, 2]", '"just a string"', "[]"):
        assert [p.code for p in flavorfile.read_flavor(write(tmp_path, doc)).problems] == [
            "InvalidFlavorFile"]


def test_flavor_list_long(tmp_path: Path) -> None:
    rows = [{"ID": "1", "Name": "a", "VCPUs": 2, "RAM": 512, "Disk": 1,
             "Properties": "pci_passthrough:alias='a1:1'"},
            {"ID": "2", "Name": "b", "VCPUs": 4, "RAM": 1024, "Disk": 2, "Properties": ""}]
    path = write(tmp_path, rows)
    flavors = flavorfile.read_flavors(path)
    assert [(f.name, f.id, f.vcpus, f.extra_specs) for f in flavors] == [
        ("a", "1", 2, {"pci_passthrough:alias": "a1:1"}), ("b", "2", 4, {})]
    single = flavorfile.read_flavor(path)
    assert [p.code for p in single.problems] == ["InvalidFlavorFile"]


@pytest.mark.parametrize("text, expected", [
    ("a='1'", {"a": "1"}),
    ("a='x, y', b='p:1, q:2'", {"a": "x, y", "b": "p:1, q:2"}),
    ("hw:cpu_policy='dedicated',pci_passthrough:alias='a:1'",
     {"hw:cpu_policy": "dedicated", "pci_passthrough:alias": "a:1"}),
    ('a="double", b=\'single\'', {"a": "double", "b": "single"}),
    ("a=, b='2'", {"a": "", "b": "2"}),
    ("quota:disk read='1', b='it''s'", {"quota:disk read": "1", "b": "it''s"}),
    ("", {}),
])
def test_parse_properties_string(text: str, expected: dict[str, str]) -> None:
    assert flavorfile.parse_properties(text) == expected


@pytest.mark.parametrize("text", ["novalue", "a='unterminated", "='x'"])
def test_parse_properties_errors(text: str) -> None:
    with pytest.raises(ValueError):
        flavorfile.parse_properties(text)


def test_bad_properties_string_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, {"name": "f", "properties": "a='unterminated"})
    fl = flavorfile.read_flavor(path)
    assert [(p.code, p.line) for p in fl.problems] == [("InvalidFlavorProperties", 3)]


_KEY = st.from_regex(r"[a-z][a-z0-9:_.]{0,12}", fullmatch=True)
_VALUE = st.text(st.characters(blacklist_characters="'", blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(specs=st.dictionaries(_KEY, _VALUE, max_size=6))
def test_properties_string_round_trips_osc_format(specs: dict[str, str]) -> None:
    # osc's format_dict: sorted keys, key='value', joined by ", "
    text = ", ".join(f"{k}='{specs[k]}'" for k in sorted(specs))
    assert flavorfile.parse_properties(text) == specs


def test_image_show() -> None:
    img = flavorfile.read_image(FLAVORS / "image-show.json")
    assert img.name == "ubuntu-24.04" and img.problems == []
    assert img.properties == {"hw_pci_numa_affinity_policy": "required", "os_hash_algo": "sha512"}


def test_image_bare_properties_and_api_shape(tmp_path: Path) -> None:
    img = flavorfile.read_image(FLAVORS / "image-bare-properties.json")
    assert img.name == "image-bare-properties"
    assert img.properties == {"hw_pci_numa_affinity_policy": "socket", "hw_machine_type": "q35"}
    api = write(tmp_path, {"id": "x", "name": "cirros", "status": "active", "disk_format": "raw",
                           "visibility": "public", "hw_pci_numa_affinity_policy": "legacy",
                           "tags": []}, "img.json")
    img = flavorfile.read_image(api)
    assert (img.name, img.properties) == ("cirros", {"hw_pci_numa_affinity_policy": "legacy"})
    old = write(tmp_path, {"name": "old", "properties": "hw_pci_numa_affinity_policy='socket', "
                                                         "os_distro='ubuntu'"}, "old.json")
    assert flavorfile.read_image(old).properties == {"hw_pci_numa_affinity_policy": "socket",
                                                     "os_distro": "ubuntu"}


def test_image_non_string_hw_property_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, {"name": "i", "properties": {"hw_pci_numa_affinity_policy": 3,
                                                        "os_hidden": True}}, "i.json")
    img = flavorfile.read_image(path)
    assert img.properties == {}
    assert [(p.code, p.entry) for p in img.problems] == [("InvalidExtraSpec", "image 'i'")]
    assert "hw_pci_numa_affinity_policy" in img.problems[0].message
    bad = flavorfile.read_image(write(tmp_path, "[1]", "l.json"))
    assert [p.code for p in bad.problems] == ["InvalidImageFile"]
    broken = flavorfile.read_image(write(tmp_path, "{\n\n  oops", "b.json"))
    assert [(p.code, p.line) for p in broken.problems] == [("InvalidJson", 3)]
