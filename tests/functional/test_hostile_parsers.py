"""Hostile input to the parsers: a precise error (exit 2) or warning, never a crash or a hang.

Issue 9, points 2, 3 and 9, for the parsers of nova.conf, flavor and image JSON, lspci
pastes and proc/mounts. Each case is the minimal input of the issue's repro, run through
the CLI where the crash was at the CLI:

* JSON nested 100,000 deep (flavor, ``--image``, every JSON value of ``--nova-conf``);
* integers of thousands of digits (flavor and image JSON, ``int()`` of extra specs,
  lspci fields);
* oslo.config ``$`` interpolation (nova.conf and the SR-IOV agent's ini): a reference to no
  option, loops, depth and size;
* a ``proc/mounts`` device that climbs out of the root;
* regexes that backtracked quadratically or exponentially on long runs of spaces or
  brackets (flavor properties strings, lspci lines, Markdown links in a nova.conf);
* a UTF-8 byte-order mark, and section headers with look-alike letters.

Every test runs under a 10 s alarm: a hang guard, not a speed test (each input takes
milliseconds now; the old code took from 11 s to hours).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import run_cli

from pcipass import fakehost
from pcipass.adapters import flavorfile, lspci, novaconf, sniff
from pcipass.core import requests

GUARD_S = 10
DEEP = "[" * 100_000
BIG = "9" * 5000
ALIAS = '{"name": "a1", "vendor_id": "8086", "product_id": "1572"}'
NIC = "00:03.0 Ethernet controller [0200]: Intel Corporation Ethernet Controller X710 [8086:1572] (rev 02)\n"


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"hang guard: still running after {GUARD_S} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(GUARD_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def check(tmp_path: Path, conf: str) -> tuple[int, dict[str, Any]]:
    r = run_cli(["config", "check", "--nova-conf", write(tmp_path, "nova.conf", conf), "-f", "json"])
    assert r.code != 255, r.err
    return r.code, r.json()


def explain(tmp_path: Path, flavor: str, image: str | None = None) -> tuple[int, dict[str, Any]]:
    args = ["flavor", "explain", "--nova-conf", write(tmp_path, "alias.conf", f"[pci]\nalias = {ALIAS}\n"),
            "--flavor", write(tmp_path, "flavor.json", flavor), "-f", "json"]
    if image is not None:
        args[-2:-2] = ["--image", write(tmp_path, "image.json", image)]
    r = run_cli(args)
    assert r.code != 255, r.err
    return r.code, r.json()


def flavor_error(tmp_path: Path, flavor: str, image: str | None = None) -> dict[str, Any]:
    code, doc = explain(tmp_path, flavor, image)
    assert code == 2
    error = doc["results"][0]["error"]
    assert error is not None
    assert len(error["message"]) < 600  # values are quoted clipped, never whole
    return dict(error)


FLAVOR = '{"name": "f1", "vcpus": 2, "ram": 1024, "extra_specs": {"pci_passthrough:alias": "a1:1"}}'


# -- 1. deeply nested JSON ------------------------------------------------------------------


def test_deep_flavor_is_a_json_error_naming_the_file(tmp_path: Path) -> None:
    error = flavor_error(tmp_path, DEEP)
    assert error["code"] == "JsonTooComplex"
    assert error["file"].endswith("flavor.json") and error["line"] == 1
    assert "nested 100000 levels deep (at most 200)" in error["message"]


def test_deep_image_is_a_json_error_naming_the_image(tmp_path: Path) -> None:
    error = flavor_error(tmp_path, FLAVOR, image='{"properties":\n' + DEEP)
    assert error["code"] == "JsonTooComplex"
    assert error["file"].endswith("image.json") and error["line"] == 2


@pytest.mark.parametrize(("section", "option", "code", "entry"), [
    ("pci", "device_spec", "PciConfigInvalidSpec", "device_spec value 0"),
    ("pci", "passthrough_whitelist", "PciConfigInvalidSpec", "device_spec value 0"),
    ("pci", "alias", "PciInvalidAlias", None),
    ("DEFAULT", "pci_passthrough_devices", "PciDeviceInvalidConfig", None),
])
def test_deep_nova_conf_value_is_the_entrys_error(tmp_path: Path, section: str, option: str,
                                                  code: str, entry: str | None) -> None:
    exit_code, doc = check(tmp_path, f"[{section}]\n{option} = {DEEP}\n")
    assert exit_code == 2
    error = next(e for e in doc["errors"] if e["code"] == code)
    assert (error["file"], error["line"], error["value_index"], error["entry"]) == (
        str(tmp_path / "nova.conf"), 2, 0, entry)
    assert "nested 100000 levels deep (at most 200)" in error["message"]
    assert len(error["message"]) < 400


def test_a_file_of_brackets_is_not_a_nova_conf(tmp_path: Path) -> None:
    exit_code, doc = check(tmp_path, DEEP)
    assert exit_code == 2
    assert doc["errors"][0]["code"] == "NotNovaConf"
    assert "JSON, but nested 100000 levels deep" in doc["errors"][0]["message"]


# -- 2. integers of thousands of digits ------------------------------------------------------


def test_huge_json_number_in_a_flavor_names_its_line(tmp_path: Path) -> None:
    error = flavor_error(tmp_path, '{"name": "f1",\n "extra_specs":\n  {"hw:numa_nodes": ' + BIG + "}}")
    assert error["code"] == "JsonTooComplex" and error["line"] == 3
    assert "an integer of 5000 digits (at most 4300)" in error["message"]


def test_huge_json_number_in_an_image(tmp_path: Path) -> None:
    error = flavor_error(tmp_path, FLAVOR, image='{"properties": {"hw_numa_nodes": ' + BIG + "}}")
    assert (error["code"], error["file"]) == ("JsonTooComplex", str(tmp_path / "image.json"))


def test_huge_numa_nodes_string_is_nova_s_error_with_the_digit_count(tmp_path: Path) -> None:
    flavor = json.dumps({"name": "f1", "extra_specs": {"hw:numa_nodes": BIG}})
    error = flavor_error(tmp_path, flavor)
    assert error["code"] == "InvalidNUMANodesNumber" and error["entry"] == "flavor 'f1'"
    assert "(5,000 characters)" in error["message"]
    assert "5,000 digits: Python's int() reads at most 4,300" in error["hint"]


def test_huge_alias_count_is_an_invalid_alias_request(tmp_path: Path) -> None:
    error = flavor_error(tmp_path, json.dumps({"name": "f1", "extra_specs": {
        "pci_passthrough:alias": "a1:" + BIG}}))
    assert (error["code"], error["entry"]) == ("InvalidAliasRequest", "item 1")
    assert error["file"] == str(tmp_path / "flavor.json")
    assert "5,000 digits: Python's int() reads at most 4,300" in error["message"]


def test_huge_image_numa_nodes_string_is_invalid_image_metadata(tmp_path: Path) -> None:
    error = flavor_error(tmp_path, FLAVOR, image=json.dumps({"properties": {"hw_numa_nodes": BIG}}))
    assert error["code"] == "InvalidRequest"
    assert "Exceeds the limit (4300 digits)" in error["message"]


@pytest.mark.parametrize("vcpus", [json.dumps(BIG), str(2**40)])
def test_huge_vcpus_is_an_invalid_flavor_field(tmp_path: Path, vcpus: str) -> None:
    error = flavor_error(tmp_path, '{"name": "f1",\n "vcpus": ' + vcpus + "}")
    assert (error["code"], error["line"]) == ("InvalidFlavorField", 2)


@pytest.mark.parametrize(("text", "line", "field"), [
    (NIC + "\tNUMA node: 999999999999999999999\n", 2, "NUMA node"),
    (NIC + "\tIOMMU group: 999999999999999999999\n", 2, "IOMMU group"),
    ("IOMMU group 999999999999999999999 " + NIC, 1, "IOMMU group"),
    (NIC + "\tFlags: bus master, fast devsel, NUMA node 999999999999999999999\n", 2, "NUMA node"),
    (NIC + "\tCapabilities: [160] Single Root I/O Virtualization (SR-IOV)\n"
     "\t\tInitial VFs: 64, Total VFs: 999999999999999999999, Number of VFs: 0, Function Dependency Link: 00\n",
     3, "Total VFs"),
    ("Slot:\t00:03.0\nClass:\tEthernet controller [0200]\nVendor:\tIntel Corporation [8086]\n"
     "Device:\tEthernet Controller X710 [1572]\nNUMANode:\t999999999999999999999\n", 5, "NUMANode"),
])
def test_lspci_number_out_of_range_is_left_unknown_with_a_problem(text: str, line: int,
                                                                  field: str) -> None:
    result = lspci.parse(text, source="paste.txt")
    (dev,) = result.devices
    assert (dev.numa_node, dev.iommu_group, dev.sriov_totalvfs) == (None, None, None)
    assert [(p.code, p.line) for p in result.problems] == [("LspciBadValue", line)]
    assert result.problems[0].message == (f"{field} 999999999999999999999 is out of range "
                                          "(at most 2147483647); left unknown")


LONG_NUMBER = [  # (paste, line, field): every place lspci prints a number pcipass converts
    (NIC + f"\tNUMA node: {BIG}\n\tKernel driver in use: i40e\n", 2, "NUMA node"),
    (NIC + f"\tIOMMU group: {BIG}\n", 2, "IOMMU group"),
    (f"IOMMU group {BIG} " + NIC, 1, "IOMMU group"),
    (NIC + f"\tFlags: bus master, fast devsel, NUMA node {BIG}\n", 2, "NUMA node"),
    (NIC + "\tCapabilities: [160] Single Root I/O Virtualization (SR-IOV)\n"
     f"\t\tInitial VFs: 64, Total VFs: {BIG}, Number of VFs: 0, Function Dependency Link: 00\n",
     3, "Total VFs"),
    ("Slot:\t00:03.0\nClass:\tEthernet controller [0200]\nVendor:\tIntel Corporation [8086]\n"
     f"Device:\tEthernet Controller X710 [1572]\nNUMANode:\t{BIG}\n", 5, "NUMANode"),
]


@pytest.mark.parametrize(("text", "line", "field"), LONG_NUMBER,
                         ids=["numa", "iommu", "group-prefix", "flags", "total-vfs", "vmm-numa"])
def test_lspci_field_of_thousands_of_digits_is_an_error(tmp_path: Path, text: str, line: int,
                                                        field: str) -> None:
    """More digits than Python's int() reads (a ValueError once: exit 255, issue 9 point 2): the
    paste is invalid, exit 2 on every command that reads it, naming the file, line and field.
    (Numbers merely out of range are left unknown: the test above.)"""
    paste = write(tmp_path, "paste.txt", text)
    message = (f"Invalid lspci input {paste}: line {line}: {field} is a number of 5,000 digits "
               "(Python's int() reads at most 4,300)")
    parsed = lspci.parse(text, source=paste)
    assert [(p.code, p.line) for p in parsed.problems if p.code in lspci.ERRORS] == [
        ("LspciNumberTooLong", line)]
    for command in (["scan"], ["doctor"], ["schedule", "--flavor", write(tmp_path, "f.json", FLAVOR)]):
        r = run_cli([*command, "--lspci", paste, "-f", "json"])
        assert r.code == 2, r.err
        assert r.out == ""
        assert f"pcipass {command[0]}: {message}" in r.err


def test_a_long_line_of_other_digits_is_only_skipped(tmp_path: Path) -> None:
    """Digits that are no number pcipass converts (a VPD field) stay a long line skipped with a
    warning."""
    vpd = f"\t\t[V0] Vendor specific: {BIG}"  # 24 characters, then the 5,000 digits
    paste = write(tmp_path, "paste.txt", NIC + vpd + "\n\tKernel driver in use: i40e\n")
    r = run_cli(["scan", "--lspci", paste, "-f", "json"])
    assert r.code == 0, r.err
    host = r.json()["hosts"][0]
    assert [(d["address"], d["driver"]) for d in host["devices"]] == [("0000:00:03.0", "i40e")]
    assert len(vpd) == 5024
    assert f"{paste}:2: line 2 is 5,024 characters long, more than lspci prints (at most 4,096 " \
           "read); not read" in host["warnings"]


# -- 3. oslo.config $ interpolation -----------------------------------------------------------


def error_of(doc: dict[str, Any], code: str) -> dict[str, Any]:
    found = [e for e in doc["errors"] if e["code"] == code]
    assert found, doc["errors"]
    return found[0]


def test_reference_to_no_option_is_nova_s_no_such_opt_error(tmp_path: Path) -> None:
    exit_code, doc = check(tmp_path, f"[DEFAULT]\nhost = $nonexistent_opt\n[pci]\nalias = {ALIAS}\n")
    assert exit_code == 2
    error = error_of(doc, "NoSuchOptError")
    assert (error["file"], error["line"], error["entry"]) == (
        str(tmp_path / "nova.conf"), 2, "[DEFAULT] host")
    assert error["message"] == (
        "[DEFAULT] host -> $nonexistent_opt: Nova has no option 'nonexistent_opt' in [DEFAULT], "
        "so oslo.config cannot substitute $nonexistent_opt and Nova stops with NoSuchOptError")


def test_options_that_refer_to_each_other_are_a_loop(tmp_path: Path) -> None:
    exit_code, doc = check(tmp_path, "[DEFAULT]\nmy_ip = $state_path\nhost = $my_ip\n"
                                     "state_path = $my_ip\n")
    assert exit_code == 2
    error = error_of(doc, "TemplateSubstitutionError")
    assert (error["line"], error["entry"]) == (3, "[DEFAULT] host")
    assert error["message"].startswith("[DEFAULT] host -> $my_ip -> $state_path -> $my_ip: the "
                                       "references loop")


def test_unknown_options_that_refer_to_each_other(tmp_path: Path) -> None:
    exit_code, doc = check(tmp_path, "[DEFAULT]\nhost = $a\na = $b\nb = $a\n")
    assert exit_code == 2
    assert error_of(doc, "NoSuchOptError")["line"] == 2


def test_a_pci_option_referring_to_itself(tmp_path: Path) -> None:
    exit_code, doc = check(tmp_path, "[pci]\nalias = $alias\n")
    assert exit_code == 2
    error = error_of(doc, "TemplateSubstitutionError")
    assert (error["line"], error["entry"]) == (2, "[pci] alias")


NOVA_NAMES = ["my_ip", "state_path", "pybasedir", "tempdir", "instances_path", "log_dir",
              "log_file", "console_host", "cert", "key", "web"]


def test_references_nested_too_deep(tmp_path: Path) -> None:
    chain = "".join(f"{a} = ${b}\n" for a, b in zip(NOVA_NAMES, NOVA_NAMES[1:]))
    exit_code, doc = check(tmp_path, f"[DEFAULT]\nhost = $my_ip\n{chain}web = x\n")
    assert exit_code == 2
    assert "references nested more than 8 deep" in error_of(doc, "TemplateSubstitutionError")["message"]


def test_references_multiplying_at_each_level(tmp_path: Path) -> None:
    levels = "".join(f"{a} = {('$' + b) * 10}\n" for a, b in zip(NOVA_NAMES[:6], NOVA_NAMES[1:7]))
    exit_code, doc = check(tmp_path, f"[DEFAULT]\nhost = $my_ip\n{levels}log_file = x\n")
    assert exit_code == 2
    assert "more than 1000 references substituted in one value" in error_of(
        doc, "TemplateSubstitutionError")["message"]


def test_references_expanding_past_a_mebibyte(tmp_path: Path) -> None:
    exit_code, doc = check(tmp_path, "[DEFAULT]\nhost = " + "$my_ip" * 600 + "\nmy_ip = "
                           + "x" * 2000 + "\n")
    assert exit_code == 2
    assert "expand to more than 1,048,576 characters" in error_of(
        doc, "TemplateSubstitutionError")["message"]


def test_valid_references_keep_nova_s_meaning(tmp_path: Path) -> None:
    path = write(tmp_path, "nova.conf", "[DEFAULT]\nhost = $my_ip\nmy_ip = 192.0.2.7\n[pci]\n"
                 'alias = {"name": "a$$1", "vendor_id": "8086", "product_id": "1572"}\n')
    nova = novaconf.read_nova_conf([path])
    assert (nova.problems, nova.host) == ([], "192.0.2.7")
    assert [v.value for v in nova.alias] == ['{"name": "a$1", "vendor_id": "8086", "product_id": "1572"}']


def test_reference_to_a_nova_default_is_a_warning(tmp_path: Path) -> None:
    exit_code, doc = check(tmp_path, f"[DEFAULT]\nhost = $my_ip\n[pci]\nalias = {ALIAS}\n")
    assert exit_code == 1 and doc["errors"] == []
    (warning,) = doc["warnings"]
    assert (warning["code"], warning["line"]) == ("UnresolvedInterpolation", 2)


def test_nova_reads_the_valid_references_the_same(tmp_path: Path) -> None:
    """Differential: with Nova's own options registered, oslo.config gives the same host."""
    from support import require_module

    require_module("nova")
    import nova.conf.opts
    from oslo_config import cfg

    for text in ["[DEFAULT]\nhost = $my_ip\nmy_ip = 192.0.2.7\n",
                 "[DEFAULT]\nhost = a$$b.example\n",
                 "[DEFAULT]\nhost = ${my_ip}.example\nmy_ip = h1\n",
                 "[DEFAULT]\nhost = $nonexistent_opt\n",
                 "[DEFAULT]\nhost = $my_ip\nmy_ip = $host\n"]:
        path = write(tmp_path, "nova.conf", text)
        conf = cfg.ConfigOpts()
        for group, opts in nova.conf.opts.list_opts():
            if getattr(group, "name", group) == "DEFAULT":
                conf.register_opts(opts)
        conf(["--config-file", path], project="nova", default_config_files=[],
             default_config_dirs=[], use_env=False)
        try:
            theirs: Any = conf.host
        except (cfg.Error, ValueError):
            theirs = "fails"
        ours = novaconf.read_nova_conf([path])
        assert (ours.host if not ours.problems else "fails") == theirs, text


def test_sriov_agent_ini_interpolation_is_bounded_too(tmp_path: Path) -> None:
    alias = write(tmp_path, "alias.conf", f"[pci]\nalias = {ALIAS}\n")
    loop = write(tmp_path, "loop.ini", "[sriov_nic]\nphysical_device_mappings = $exclude_devices\n"
                                       "exclude_devices = $physical_device_mappings\n")
    r = run_cli(["config", "check", "--nova-conf", alias, "--sriov-agent-conf", loop, "-f", "json"])
    assert r.code == 2, r.err
    assert {(e["code"], e["line"]) for e in r.json()["errors"]} == {
        ("TemplateSubstitutionError", 2), ("TemplateSubstitutionError", 3)}
    unknown = write(tmp_path, "unknown.ini", "[sriov_nic]\nphysical_device_mappings = $nonexistent\n")
    r = run_cli(["config", "check", "--nova-conf", alias, "--sriov-agent-conf", unknown, "-f", "json"])
    assert r.code == 1, r.err
    assert ("UnresolvedInterpolation", 2) in {(w["code"], w["line"]) for w in r.json()["warnings"]}


# -- 4. proc/mounts --------------------------------------------------------------------------


def test_mounts_device_climbing_out_of_the_root_is_an_error(tmp_path: Path) -> None:
    """The kernel prints canonical paths: a device that climbs was never written by it, and
    would lead the reads out of the root. The doctor, the one command that reads proc/mounts,
    stops with exit 2 naming the file and the line."""
    root = fakehost.build(tmp_path / "h", "1x intel-e810 numa=0 vfs=2; hostname=h1").root
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc/mounts").write_text("sysfs /sys sysfs rw 0 0\n"
                                      "/dev/mapper/../../../../etc / ext4 rw,relatime 0 0\n")
    r = run_cli(["doctor", "--host", str(root), "-f", "json"])
    assert r.code == 2, r.err
    assert r.out == ""
    assert r.err.splitlines() == [
        f"pcipass doctor: Invalid host root {root}: proc/mounts line 2: the device "
        "'/dev/mapper/../../../../etc' climbs with '.' or '..' (the kernel prints canonical paths)"]
    assert run_cli(["scan", "--host", str(root), "-f", "json"]).code == 0  # scan never reads it


# -- 5. regexes on long runs --------------------------------------------------------------------


def test_flavor_properties_string_with_long_spaces(tmp_path: Path) -> None:
    text = json.dumps({"name": "f1", "properties": "k=a" + " " * 2400 + "b, hw:numa_nodes='1'"})
    fl = flavorfile.read_flavor(write(tmp_path, "f.json", text))
    assert fl.extra_specs == {"k": "a" + " " * 2400 + "b", "hw:numa_nodes": "1"}
    code, doc = explain(tmp_path, text)
    assert code == 0 and doc["results"][0]["error"] is None


#: Seconds a 100 kB input may take: linear parsing needs milliseconds, quadratic needs hours.
LINEAR_BOUND = 5.0


@pytest.mark.parametrize(("text", "expected"), [
    ("k=a" + " " * 100_000 + "b", {"k": "a" + " " * 100_000 + "b"}),
    ("k='a" + " " * 100_000 + "b", "unterminated ' value at offset 2"),
    ("k=a" + " ," * 50_000, {"k": "a" + " ," * 50_000}),
    ("k='" + "' ," * 50_000, "unterminated ' value at offset 2"),
], ids=["spaces", "unterminated_spaces", "commas", "unterminated_quotes"])
def test_flavor_properties_strings_are_parsed_in_linear_time(text: str, expected: Any) -> None:
    start = time.perf_counter()
    try:
        got: Any = flavorfile.parse_properties(text)
    except ValueError as exc:
        got = str(exc)
    assert time.perf_counter() - start < LINEAR_BOUND
    assert got == expected


def test_lspci_address_then_16000_spaces(tmp_path: Path) -> None:
    paste = write(tmp_path, "paste.txt", "00:00.0" + " " * 16_000 + "\n")
    r = run_cli(["scan", "--lspci", paste, "-f", "json"])
    assert r.code == 2
    assert "line 1 is 16,007 characters long, more than lspci prints (at most 4,096 read)" in r.err


@pytest.mark.parametrize(("line", "code"), [
    ("00:00.0 " + " " * 4000 + "x", "LspciNoDevices"),
    ("00:00.0 Ethernet controller: x" + " " * 4000 + "y (rev 01)", "LspciNoIds"),
    ("00:00.0 Ethernet controller: x (prog-if 00 [" + "a" * 4000, "LspciNoIds"),
    ("Slot:\t00:00.0\nDevice:\ta" + " " * 4000 + "b [1572]", "LspciNoIds"),
], ids=["spaces", "spaces_in_name", "open_bracket", "machine_readable"])
def test_lspci_long_lines_under_the_cap_are_parsed_in_linear_time(line: str, code: str) -> None:
    start = time.perf_counter()
    result = lspci.parse(line)
    assert time.perf_counter() - start < LINEAR_BOUND
    assert result.devices == ()
    assert [p.code for p in result.problems][:1] == [code]


def test_lspci_vf_device_id_is_the_last_after_vf_offset() -> None:
    text = (NIC + "\tCapabilities: [160] Single Root I/O Virtualization (SR-IOV)\n"
            "\t\tInitial VFs: 64, Total VFs: 64, Number of VFs: 4, Function Dependency Link: 00\n"
            "\t\tVF offset: 16, stride: 1, Device ID: 154c Device ID: 1889" + " VF offset:" * 300 + "\n")
    (dev,) = lspci.parse(text).devices
    assert (dev.dev_type, dev.sriov_totalvfs, dev.sriov_vf_device) == ("type-PF", 64, "1889")


def test_nova_conf_comment_of_120k_brackets(tmp_path: Path) -> None:
    exit_code, doc = check(tmp_path, "# " + "[" * 120_000 + f"\n[pci]\nalias = {ALIAS}\n")
    assert exit_code == 0 and doc["valid"] and [a["name"] for a in doc["aliases"]] == ["a1"]


@pytest.mark.parametrize(("text", "kind"), [
    ("[a](" * 30_000, "prose"), ("[a]" * 30_000, "prose"), (" " * 100_000 + "x", "prose"),
    ("- " + " " * 100_000 + "x", "prose"), ("a: b\n" + "\n" * 100_000 + "x", "yaml"),
    ("a: b\n" + " \n" * 100_000, "yaml"), ("{{" * 50_000, "json"), ("[" + "a" * 100_000, "prose"),
    ("=" * 100_000 + "x", "prose"), ("a: [" + "[" * 40 + "]" * 41 + "\n" + "b: c\n" * 10_000, "yaml"),
])
def test_sniffing_is_linear(text: str, kind: str) -> None:
    start = time.perf_counter()
    found = sniff.classify(text, "guide.md")
    snippets = sniff.ini_snippets(text)
    assert time.perf_counter() - start < LINEAR_BOUND
    assert found.kind == kind and snippets == []


def test_alias_api_pattern_does_not_backtrack_exponentially() -> None:
    value = "a:1" + " , a:1" * 60 + ":"
    with pytest.raises(requests.ValidationError):
        requests.validate_extra_spec(requests.ALIAS_KEY, value)
    requests.validate_extra_spec(requests.ALIAS_KEY, "a:1" + " , a:1" * 60)


# -- 6. encoding -----------------------------------------------------------------------------


def test_byte_order_mark_is_oslo_s_parse_error_at_line_1(tmp_path: Path) -> None:
    exit_code, doc = check(tmp_path, f"\ufeff[pci]\nalias = {ALIAS}\n")
    assert exit_code == 2
    (error,) = doc["errors"]
    assert (error["code"], error["line"]) == ("ConfigFileParseError", 1)
    assert error["message"].endswith("at line 1, No ':' or '=' found in assignment: '\\ufeff[pci]'")
    assert "byte-order mark" in error["hint"]
    assert "not_nova_conf" not in doc


@pytest.mark.parametrize("text", [
    "\ufeff[DEFAULT]\nhost = h1\n",
    f"\ufeff[pci]\nalias = {ALIAS}\n",
    "\ufeff# nova.conf\n[DEFAULT]\nhost = h1\n",
    "\ufeff\n[DEFAULT]\nhost = h1\n",
], ids=["section", "pci", "comment", "blank_line"])
def test_byte_order_mark_fails_in_oslo_config_itself_as_pcipass_says(tmp_path: Path, text: str) -> None:
    """Differential: the issue asked to strip the BOM "as oslo.config does", but oslo.config
    does not strip it. Its ConfigParser opens the file with a plain ``open()`` (UTF-8, not
    ``utf-8-sig``), so line 1 starts with U+FEFF and ConfigOpts raises ConfigFileParseError;
    nova-compute stops on it. pcipass reports that same error, at the same line, with the
    same text; without the mark the same file loads."""
    from oslo_config import cfg

    path = write(tmp_path, "nova.conf", text)

    def oslo_load() -> Any:
        conf = cfg.ConfigOpts()
        conf.register_opt(cfg.StrOpt("host"))
        conf(args=[], project="nova", default_config_files=[path], default_config_dirs=[],
             use_env=False)
        return conf.host

    with pytest.raises(cfg.ConfigFileParseError) as raised:
        oslo_load()
    oslo_message = raised.value.msg  # "at <path>:1, No ':' or '=' found in assignment: '\ufeff...'"
    assert oslo_message.startswith(f"at {path}:1, ")

    exit_code, doc = check(tmp_path, text)
    assert exit_code == 2
    (error,) = doc["errors"]
    assert (error["code"], error["file"], error["line"]) == ("ConfigFileParseError", path, 1)
    assert error["message"] == f"Failed to parse {path}: at line 1, " + oslo_message.split(", ", 1)[1]
    assert "byte-order mark" in error["hint"]

    write(tmp_path, "nova.conf", text[1:])
    assert oslo_load() in ("h1", None)  # the mark was the only fault


def test_byte_order_mark_then_a_blank_is_the_same_parse_error_as_oslo_s(tmp_path: Path) -> None:
    """``\ufeff [DEFAULT]`` used to be "not a nova.conf: prose". oslo.config fails on line 1
    alike (the mark is no blank, so the line is no continuation but an assignment without
    '='); pcipass says so, with the byte-order mark hint."""
    from oslo_config import cfg

    text = "\ufeff [DEFAULT]\nhost = h1\n"
    path = write(tmp_path, "nova.conf", text)
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.StrOpt("host"))
    with pytest.raises(cfg.ConfigFileParseError) as raised:
        conf(args=[], project="nova", default_config_files=[path], default_config_dirs=[],
             use_env=False)
    assert raised.value.msg == f"at {path}:1, No ':' or '=' found in assignment: '\\ufeff [DEFAULT]'"

    exit_code, doc = check(tmp_path, text)
    assert exit_code == 2
    (error,) = doc["errors"]
    assert (error["code"], error["file"], error["line"]) == ("ConfigFileParseError", path, 1)
    assert error["message"] == f"Failed to parse {path}: at line 1, " + raised.value.msg.split(", ", 1)[1]
    assert "byte-order mark" in error["hint"]
    assert "not_nova_conf" not in doc


def test_cyrillic_letter_in_a_section_header_is_named(tmp_path: Path) -> None:
    exit_code, doc = check(tmp_path, f"[\u0440ci]\nalias = {ALIAS}\n")
    assert exit_code == 2
    error = error_of(doc, "ConfusableCharacter")
    assert (error["line"], error["entry"], error["hint"]) == (
        1, "[\u0440ci]", "retype the name in ASCII: [pci]")
    assert error["message"] == (
        "section [\u0440ci] is not [pci]: column 2: '\u0440' U+0440 CYRILLIC SMALL LETTER ER, "
        "drawn like 'p'; oslo.config reads it as another section, so Nova ignores every option "
        "in it")
    assert "not_nova_conf" not in doc


def test_look_alike_letters_in_option_names_and_fullwidth_sections(tmp_path: Path) -> None:
    exit_code, doc = check(tmp_path, f"[pci]\n\u0430lias = {ALIAS}\n[\uff50ci]\n")
    assert exit_code == 2
    found = {(e["line"], e["entry"]) for e in doc["errors"] if e["code"] == "ConfusableCharacter"}
    assert found == {(2, "[pci] \u0430lias"), (3, "[\uff50ci]")}
    option = next(e for e in doc["errors"] if e["line"] == 2)
    assert "column 1: '\u0430' U+0430 CYRILLIC SMALL LETTER A, drawn like 'a'" in option["message"]
