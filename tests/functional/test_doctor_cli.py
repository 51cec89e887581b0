"""``pcipass doctor`` as a command: exit codes, JSON schema, SARIF, JUnit, selection, real captures."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from support import REPO, run_cli, unpack_trusted, validate_schema
from test_doctor_hosts import GPU, PF1, Host, healthy

from pcipass.doctor import registry


def _args(host: Host, *extra: str) -> list[str]:
    return ["doctor", "--host", str(host.root), "--nova-conf", str(host.controller),
            "--flavor", str(host.flavor), *extra]


def _broken(tmp_path: Path) -> Host:
    """Two failures on different layers (a dead spec, a bad VF count) and a warning."""
    host = healthy(tmp_path)
    host.replace("etc/nova/nova.conf", '"product_id": "20f1", "managed"',
                 '"product_id": "20f1", "address": "0000:82:00.0", "managed"')
    host.write(host.built.by_address()[PF1].sysfs_path + "/sriov_numvfs", "99\n")
    (host.root / "etc/udev/rules.d/70-sriov.rules").unlink()
    return host


def test_healthy_json_exit_0_and_schema(tmp_path: Path) -> None:
    res = run_cli(_args(healthy(tmp_path), "-f", "json"))
    assert res.code == 0, res.err
    doc = res.json()
    validate_schema(doc, "doctor")
    # The one info is PCI-K006's IOMMU mode: the host boots with iommu=pt.
    assert doc["summary"] == {"fail": 0, "warn": 0, "info": 1, "skip": 0}
    assert [f["id"] for f in doc["findings"]] == ["PCI-K006"]
    assert doc["findings"][0]["message"].startswith("IOMMU mode: passthrough")
    assert doc["hosts"][0]["name"] == "compute-1"


def test_broken_json_exit_2_schema_and_layers(tmp_path: Path) -> None:
    res = run_cli(_args(_broken(tmp_path), "-f", "json"))
    assert res.code == 2
    doc = res.json()
    validate_schema(doc, "doctor")
    assert doc["broken_layers"] == ["driver", "device_spec"]
    ids = {(f["id"], f["severity"]) for f in doc["findings"]}
    assert {("PCI-S002", "fail"), ("PCI-D002", "fail"), ("PCI-D006", "warn")} <= ids
    missing = [s for s in doc["mapping"]["specs"] if s["status"] == "MISSING"]
    assert [(m["index"], m["near_misses"][0]["address"]) for m in missing] == [(1, GPU)]
    assert missing[0]["near_misses"][0]["differs"] == [{"field": "address", "wanted": "0000:82:00.0", "got": GPU}]
    assert doc["mapping"]["flavors"][0]["hosts"][0]["first_broken_layer"] == "driver"


def test_warnings_only_exit_1(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    (host.root / "etc/udev/rules.d/70-sriov.rules").unlink()
    res = run_cli(_args(host, "-f", "yaml"))
    assert res.code == 1
    assert "PCI-D006" in res.out and "severity: warn" in res.out


def test_table_leads_with_broken_layers_then_mapping(tmp_path: Path) -> None:
    res = run_cli(_args(_broken(tmp_path)))
    assert res.code == 2
    lines = res.out.splitlines()
    assert lines[0].startswith("doctor: BROKEN: driver > device_spec")
    out = res.out
    assert out.index("device_spec -> devices") < out.index("alias -> specs -> devices") < out.index("DRIVER")
    assert "MISSING" in out and "MATCHED" in out


def test_sarif(tmp_path: Path) -> None:
    host = _broken(tmp_path)
    host.replace("etc/nova/nova.conf", "[compute]", '[pci]\ndevice_spec = {"vendor_id": "zz"}\n\n[compute]')
    res = run_cli(_args(host, "-f", "sarif"))
    assert res.code == 2
    log = json.loads(res.out)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "pcipass"
    assert [r["id"] for r in driver["rules"]] == [c.id for c in registry.load_builtin().all()]
    for r in run["results"]:
        assert {"ruleId", "level", "message", "locations"} <= set(r)
        assert r["level"] in ("error", "warning", "note", "none") and r["message"]["text"]
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    config = by_rule["PCI-S001"]["locations"][0]["physicalLocation"]
    assert config["artifactLocation"]["uri"] == "etc/nova/nova.conf" and config["region"]["startLine"] == 9
    host_loc = by_rule["PCI-D002"]["locations"][0]["logicalLocations"][0]
    assert host_loc["fullyQualifiedName"] == f"compute-1/{PF1}"
    assert by_rule["PCI-D002"]["level"] == "error" and by_rule["PCI-D006"]["level"] == "warning"


def test_junit_parses_back(tmp_path: Path) -> None:
    res = run_cli(_args(_broken(tmp_path), "-f", "junit"))
    assert res.code == 2
    root = ET.fromstring(res.out)
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    cases = [c for s in suites.values() for c in s.findall("testcase")]
    assert int(root.get("tests", "0")) == len(cases)
    failures = {(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None}
    assert ("driver.PCI-D002", f"compute-1:{PF1}") in failures
    assert ("device_spec.PCI-S002", "compute-1:device_spec entry 1") in failures
    assert int(root.get("failures", "0")) == len(failures)
    failure = next(c for c in cases if c.get("classname") == "driver.PCI-D002").find("failure")
    assert failure is not None and "sriov_numvfs" in (failure.text or "")
    # every check that ran appears, passing or not
    assert {c.get("classname", "").split(".")[1] for c in cases} == {c.id for c in registry.load_builtin().all()}


def test_select_and_ignore(tmp_path: Path) -> None:
    host = _broken(tmp_path)
    doc = run_cli(_args(host, "-f", "json", "--select", "PCI-D")).json()
    assert {f["id"][:5] for f in doc["findings"]} == {"PCI-D"}
    res = run_cli(_args(host, "-f", "json", "--ignore", "PCI-D", "--ignore", "PCI-S002", "--ignore", "PCI-K006"))
    assert res.code == 0
    assert res.json()["findings"] == []
    narrow = run_cli(_args(host, "-f", "json", "--select", "PCI-D", "--ignore", "PCI-D00", "--select", "PCI-D002")).json()
    assert {f["id"] for f in narrow["findings"]} == {"PCI-D002"}


def test_usage_and_input_errors(tmp_path: Path) -> None:
    assert run_cli(["doctor", "-f", "nope"]).code == 64
    assert run_cli(["doctor", "--bogus"]).code == 64
    res = run_cli(["doctor", "--host", str(tmp_path / "nope")])
    assert res.code == 2 and "no such file or directory" in res.err and "Traceback" not in res.err
    garbage = tmp_path / "host.tar.gz"
    garbage.write_bytes(b"not a tarball")
    res = run_cli(["doctor", "--host", str(garbage)])
    assert res.code == 2 and "Traceback" not in res.err + res.out


def test_doctor_checks_lists_every_check_with_docs() -> None:
    res = run_cli(["doctor", "checks", "-f", "json"])
    assert res.code == 0
    checks = res.json()["checks"]
    assert [c["id"] for c in checks] == [c.id for c in registry.load_builtin().all()]
    assert all(len(c["doc"]) > 80 and c["facts"] for c in checks)
    table = run_cli(["doctor", "checks"])
    assert table.code == 0 and "PCI-K001" in table.out and "PCI-C004" in table.out


def test_docs_page_is_current() -> None:
    res = run_cli(["doctor", "checks", "-f", "markdown"])
    assert (REPO / "docs" / "doctor-checks.md").read_text() == res.out, \
        "regenerate: pcipass doctor checks -f markdown > docs/doctor-checks.md"


def _findings(doc: dict[str, Any], severity: str) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["severity"] == severity]


def test_iommu_capture_has_no_failures(shared: Path) -> None:
    res = run_cli(["doctor", "--host", str(shared / "corpus/realkernel/lab-iommu.tar.gz"), "-f", "json"])
    doc = res.json()
    validate_schema(doc, "doctor")
    assert _findings(doc, "fail") == [] and res.code in (0, 1)
    # No config travels with the capture: the config checks say so instead of passing.
    skipped = {f["id"] for f in _findings(doc, "skip")}
    assert {"PCI-S002", "PCI-D003"} <= skipped


@pytest.fixture(scope="module")
def noiommu(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The noiommu capture unpacked once (bundles themselves are tested with the iommu capture)."""

    dest = tmp_path_factory.mktemp("capture")
    unpack_trusted(shared / "corpus/realkernel/lab-noiommu.tar.gz", dest)
    return dest / "lab-noiommu"


def test_noiommu_capture_fails_the_kernel_layer_with_quoted_evidence(noiommu: Path) -> None:
    res = run_cli(["doctor", "--host", str(noiommu), "-f", "json"])
    assert res.code == 2
    doc = res.json()
    assert doc["broken_layers"] == ["kernel"]
    [k001] = [f for f in _findings(doc, "fail") if f["id"] == "PCI-K001"]
    cap = noiommu
    evidence = {(e["source"], e["value"]) for e in k001["evidence"]}
    assert ("proc/cmdline", (cap / "proc/cmdline").read_text().strip()) in evidence
    assert ("sys/firmware/acpi/tables", "no DMAR or IVRS table") in evidence
    dmesg = (cap / "cmd/dmesg.txt").read_text().splitlines()
    quoted = [v for s, v in evidence if s == "cmd/dmesg.txt"]
    assert quoted and all(v in {ln.strip() for ln in dmesg} for v in quoted)
    assert any("vfio-pci: probe of 0000:81:00.1 failed with error -22" in v for v in quoted)


def test_lspci_paste_host(shared: Path, tmp_path: Path) -> None:
    paste = shared / "corpus/lspci/dpdk_playground_X550_E810_host_lspci_vv.md"
    conf = tmp_path / "compute.conf"
    conf.write_text('[pci]\ndevice_spec = {"vendor_id": "8086", "product_id": "10ed"}\n')
    res = run_cli(["doctor", "--lspci", str(paste), "--compute-conf", str(conf), "-f", "json"])
    doc = res.json()
    validate_schema(doc, "doctor")
    assert doc["hosts"][0]["kind"] == "lspci"
    kernel = [f for f in doc["findings"] if f["layer"] == "kernel"]
    assert kernel and {f["severity"] for f in kernel} == {"skip"}
    assert all("lspci" in f["message"] for f in kernel)
    assert len(doc["mapping"]["specs"]) == 1


@pytest.mark.parametrize("fmt", ["table", "json", "yaml", "sarif", "junit"])
def test_every_format_on_the_noiommu_capture(noiommu: Path, fmt: str) -> None:
    res = run_cli(["doctor", "--host", str(noiommu), "-f", fmt])
    assert res.code == 2 and res.out.strip()
    assert "Traceback" not in res.err


def test_gathering_bug_exits_255_without_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pcipass.services.doctor import gather

    def broken(self: object) -> None:
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(gather.HostSource, "_route", broken)
    res = run_cli(_args(healthy(tmp_path), "-f", "json"))
    assert res.code == 255
    assert "internal error: compute-1: gathering default_route: RuntimeError: disk on fire" in res.err
    assert "Traceback" not in res.err
    doc = res.json()
    [s003] = [f for f in doc["findings"] if f["id"] == "PCI-S003"]
    assert s003["severity"] == "skip" and "internal error" in s003["message"]
    assert doc["internal_errors"]


def test_crashing_check_is_a_finding_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pcipass.doctor import model

    def boom(self: object) -> bool:
        raise ZeroDivisionError("x")
    monkeypatch.setattr(model.FlavorFacts, "uses_numa", property(boom))
    res = run_cli(_args(healthy(tmp_path), "-f", "json"))
    assert res.code == 2 and "Traceback" not in res.err
    crashed = {f["id"] for f in res.json()["findings"] if f["message"].startswith("check crashed: ZeroDivisionError")}
    assert crashed == {"PCI-C002", "PCI-N001", "PCI-N003"}
