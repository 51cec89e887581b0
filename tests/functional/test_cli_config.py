"""`pcipass config check` and `pcipass flavor explain`: JSON shapes, exit codes, formats."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
import yaml

from support import FIXTURES, validate_schema

CLI = FIXTURES / "cli"


def conf(name: str) -> str:
    return str(CLI / name)


# -- config check -----------------------------------------------------------------------------


def test_valid_config_exits_0_and_matches_schema(cli: Any) -> None:
    r = cli(["config", "check", "--nova-conf", conf("good.conf"), "-f", "json"])
    assert r.code == 0, r.out + r.err
    doc = r.json()
    validate_schema(doc, "config")
    assert doc["valid"] is True and doc["errors"] == [] and doc["warnings"] == []
    assert [s["index"] for s in doc["device_specs"]] == [0, 1]
    first = doc["device_specs"][0]
    assert first["source"] == {"file": conf("good.conf"), "line": 5, "item": None}
    assert (first["vendor_id"], first["product_id"], first["address"]) == ("8086", "154c", "*:*:*.*")
    assert first["tags"] == {"physical_network": "physnet2"}
    assert doc["device_specs"][1]["address"] == "0000:3b:00.0"
    names = {a["name"]: a for a in doc["aliases"]}
    assert names["vf"]["numa_policy"] == "legacy"
    assert names["a100"]["numa_policy"] == "required"
    assert names["a100"]["specs"] == [{"vendor_id": "10de", "product_id": "20b5",
                                       "dev_type": "type-PCI"}]


def test_warnings_only_exit_1(cli: Any) -> None:
    r = cli(["config", "check", "--nova-conf", conf("warn.conf"), "-f", "json"])
    assert r.code == 1
    doc = r.json()
    validate_schema(doc, "config")
    codes = {w["code"] for w in doc["warnings"]}
    assert {"DeprecatedOption", "SuspiciousTag"} <= codes
    typo = next(w for w in doc["warnings"] if w["code"] == "SuspiciousTag")
    assert typo["line"] == 2 and "physical_network" in typo["hint"]


def test_errors_exit_2_with_file_line_and_entry(cli: Any) -> None:
    r = cli(["config", "check", "--nova-conf", conf("bad.conf"), "-f", "json"])
    assert r.code == 2
    doc = r.json()
    validate_schema(doc, "config")
    assert doc["valid"] is False
    by_code: dict[str, list[dict[str, Any]]] = {}
    for e in doc["errors"]:
        by_code.setdefault(e["code"], []).append(e)
    slot = by_code["PciConfigInvalidSpec"][0]
    assert slot["line"] == 3 and slot["value_index"] == 1
    assert "slot (20) is greater than the maximum allowable value (1F)" in slot["message"]
    assert "item 1" in slot["entry"]
    both = by_code["PciDeviceInvalidDeviceName"][0]
    assert both["line"] == 4
    policy = by_code["PciInvalidAlias"][0]
    assert policy["line"] == 5 and "strict" in policy["message"]
    # the valid entries of the same file are still listed, with stable indexes
    assert [s["index"] for s in doc["device_specs"]] == [0, 1]


def test_yaml_is_the_same_document(cli: Any) -> None:
    j = cli(["config", "check", "--nova-conf", conf("bad.conf"), "-f", "json"]).json()
    y = yaml.safe_load(cli(["config", "check", "--nova-conf", conf("bad.conf"), "-f", "yaml"]).out)
    assert y == j


def test_table_leads_with_verdict_and_names_lines(cli: Any) -> None:
    r = cli(["config", "check", "--nova-conf", conf("bad.conf")])
    assert r.code == 2
    assert r.out.startswith("config check: INVALID")
    assert f"{conf('bad.conf')}:3" in r.out
    assert "Traceback" not in r.out + r.err


def test_legacy_2013_config_prints_modern_equivalent(cli: Any) -> None:
    r = cli(["config", "check", "--nova-conf", conf("legacy.conf"), "-f", "json"])
    doc = r.json()
    validate_schema(doc, "config")
    assert r.code == 1  # deprecated, not invalid
    assert any(w["code"] == "DeprecatedLegacyPciConfig" for w in doc["warnings"])
    labels = {entry["label"] for entry in doc["labels"]}
    assert labels == {"with_eth", "gpu"}
    text = yaml.safe_dump(doc["modern_equivalent"])
    assert "CUSTOM_WITH_ETH" in text and "report_in_placement" in text
    assert "pci_in_placement" in text
    table = cli(["config", "check", "--nova-conf", conf("legacy.conf")]).out
    assert '"resource_class": "CUSTOM_WITH_ETH"' in table


def test_not_a_nova_conf_gets_a_verdict(cli: Any, tmp_path: Any) -> None:
    f = tmp_path / "env.yaml"
    f.write_text("parameter_defaults:\n  NovaPCIPassthrough:\n    - vendor_id: '8086'\n")
    r = cli(["config", "check", "--nova-conf", str(f), "-f", "json"])
    assert r.code == 2
    doc = r.json()
    assert doc["errors"][0]["code"] == "NotNovaConf"
    assert "yaml" in doc["errors"][0]["message"].lower()


@pytest.mark.parametrize("args", [
    ["config", "check", "--bogus"],
    ["config", "check"],
    ["config", "check", "--nova-conf", "/nonexistent/nova.conf"],
    ["config", "check", "--nova-conf", "."],
    ["config", "check", "--nova-conf", str(CLI / "good.conf"), "-f", "xml"],
    ["flavor", "explain"],
    ["no-such-command"],
], ids=["unknown-option", "no-input", "missing-file", "directory", "bad-format", "no-flavor",
        "no-command"])
def test_usage_errors_exit_64(cli: Any, args: list[str]) -> None:
    r = cli(args)
    assert r.code == 64, (r.out, r.err)
    assert "Traceback" not in r.err


def test_internal_error_exits_255_without_traceback(cli: Any, monkeypatch: Any) -> None:
    from pcipass.services import configcheck

    def boom(*a: Any, **k: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(configcheck, "load_config", boom)
    r = cli(["config", "check", "--nova-conf", conf("good.conf")])
    assert r.code == 255
    assert "disk on fire" in r.err and "Traceback" not in r.err
    r = cli(["--debug", "config", "check", "--nova-conf", conf("good.conf")])
    assert r.code == 255 and "Traceback" in r.err


# -- flavor explain ---------------------------------------------------------------------------


def test_flavor_explain_requests(cli: Any) -> None:
    r = cli(["flavor", "explain", "--nova-conf", conf("good.conf"), "--flavor", conf("flavor-vf2.json"),
             "--flavor", conf("flavor-plain.json"), "-f", "json"])
    assert r.code == 0, r.out + r.err
    doc = r.json()
    validate_schema(doc, "flavor")
    assert [x["flavor"] for x in doc["results"]] == ["sriov.vf2", "m1.small"]
    vf2, plain = doc["results"]
    assert vf2["error"] is None and vf2["numa_nodes"] == 1
    assert vf2["requests"] == [{"alias_name": "vf", "count": 2, "numa_policy": "required",
                                "specs": [{"vendor_id": "8086", "product_id": "154c",
                                           "dev_type": "type-VF"}]}]
    assert plain["requests"] == [] and plain["numa_nodes"] is None


def test_flavor_undefined_alias_names_the_closest(cli: Any) -> None:
    r = cli(["flavor", "explain", "--nova-conf", conf("good.conf"), "--flavor",
             conf("flavor-typo.json"), "-f", "json"])
    assert r.code == 2
    doc = r.json()
    validate_schema(doc, "flavor")
    err = doc["results"][0]["error"]
    assert err["code"] == "PciRequestAliasNotDefined"
    assert err["message"] == "PCI alias vf_nic is not defined"
    assert "vf" in err["hint"].replace(",", " ").split()


def test_image_policy_conflict(cli: Any) -> None:
    r = cli(["flavor", "explain", "--nova-conf", conf("good.conf"), "--flavor", conf("flavor-vf2.json"),
             "--image", conf("image-preferred.json"), "-f", "json"])
    assert r.code == 2
    err = r.json()["results"][0]["error"]
    assert err["code"] == "ImagePCINUMAPolicyForbidden"


def test_invalid_alias_table_refuses_pci_flavors_like_nova(cli: Any) -> None:
    r = cli(["flavor", "explain", "--nova-conf", conf("bad.conf"), "--flavor", conf("flavor-vf2.json"),
             "--flavor", conf("flavor-plain.json"), "-f", "json"])
    assert r.code == 2
    vf2, plain = r.json()["results"]
    assert vf2["error"]["code"] == "PciInvalidAlias"
    assert plain["error"] is None  # a flavor without PCI is not affected


def test_legacy_labels_flavor_becomes_label_requests(cli: Any) -> None:
    r = cli(["flavor", "explain", "--flavor", conf("flavor-labels.json"), "-f", "json"])
    assert r.code == 0
    doc = r.json()
    validate_schema(doc, "flavor")
    res = doc["results"][0]
    assert [(q["alias_name"], q["count"], q["specs"]) for q in res["requests"]] == [
        ("with_eth", 2, [{"label": "with_eth"}]), ("gpu", 1, [{"label": "gpu"}])]
    warn = res["warnings"][0]
    assert warn["code"] == "DeprecatedLegacyPciConfig"
    command = warn["hint"].split(" (")[0]
    assert shlex.split(command) == ["openstack", "flavor", "set", "legacy.eth", "--property",
                                    "pci_passthrough:alias=with_eth:2,gpu:1", "--no-property",
                                    "pci_passthrough:labels"]
