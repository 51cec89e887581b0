"""Hostile inputs that used to hang or exhaust pcipass, each bounded now (issue 9, points 3 and 4).

* a regex address with nested quantifiers: warned by ``config check``; matched
  by ``scan``/``schedule``/``doctor`` with a 100 ms bound per call, and a
  pattern that hits the bound is an error on its spec entry (exit 2);
* a NUMA node ``cpulist`` of 4,000 huge ranges: bounded by the root's
  ``cpu/possible`` (else 8,192 CPUs), the rest dropped with a warning;
* a CPU set option naming CPUs no kernel has: an error naming the option,
  file and line.

Each command runs in a subprocess with a 60 s hang guard and a 2 GiB address
space limit. These are guards, not speed tests: nothing here asserts a time.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from support import validate_schema

from pcipass import fakehost

GUARD_S = 60
MEMORY_GUARD = 2 << 30
#: The issue's pattern: Nova's re.match takes minutes on a four-digit domain.
NESTED = "(?:(?:(?:(?:(?:0*)*)*)*)*)*1"
#: Slow even for the bounded engine on "0000": it always hits the 100 ms bound.
TIMES_OUT = "(((0?(0?))+?)+){0,9}(?=x)"
HINT = ('match a PCI field with a pattern without nested quantifiers, e.g. "0[0-3]" or '
        '"[0-9a-f]{2}", or use a glob string address such as "*:0a:00.*"')
# 1 PF and 7 VFs: the issue's 8 devices, plus the host bridge.
PROFILE = "1x intel-e810 pf numa=0 vfs=7; numa-nodes=2; cpus-per-node=4"
ADDRESSES = ["0000:00:01.0", "0000:01:00.0"] + [f"0000:01:01.{i}" for i in range(7)]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_GUARD, MEMORY_GUARD))


def pcipass(*args: str) -> tuple[int, Any, str]:
    """Run the CLI in a guarded subprocess; return (exit code, parsed JSON stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "pcipass", *args, "-f", "json"],
                          capture_output=True, text=True, timeout=GUARD_S,
                          preexec_fn=_limit_memory, check=False)
    assert proc.returncode != 255, proc.stderr
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None, proc.stderr


def host(tmp_path: Path, conf: str) -> Path:
    root = fakehost.build(tmp_path / "h", PROFILE).root
    (root / "etc/nova").mkdir(parents=True, exist_ok=True)
    (root / "etc/nova/nova.conf").write_text(conf)
    return root


def spec_conf(*values: str) -> str:
    return "[pci]\n" + "".join(f"device_spec = {v}\n" for v in values)


def backtracking(key: str, pattern: str, file: str, line: int, value_index: int) -> dict[str, Any]:
    return {
        "code": "SpecRegexBacktracking",
        "message": (f"regex address {key} pattern {pattern!r} repeats a part that is itself repeated "
                    "(nested quantifiers): Nova's re.match can backtrack on it for minutes per "
                    "device (catastrophic backtracking). pcipass stops each match after 100 ms and "
                    "reports an error on this entry when it does"),
        "file": file, "line": line, "value_index": value_index,
        "entry": f"device_spec value {value_index}", "hint": HINT}


def timeout_error(file: str, line: int, value_index: int) -> dict[str, Any]:
    return {
        "code": "SpecRegexTimeout",
        "message": (f"regex address pattern {TIMES_OUT!r} did not finish matching the device domain "
                    "'0000' within 100 ms: Nova's re.match can backtrack on it for minutes, and "
                    "nova-compute hangs while it matches its PCI devices"),
        "file": file, "line": line, "value_index": value_index,
        "entry": f"device_spec value {value_index}", "hint": HINT}


# -- regex addresses ----------------------------------------------------------------------------


def test_config_check_warns_about_nested_quantifiers(tmp_path: Path) -> None:
    conf = tmp_path / "nova.conf"
    conf.write_text(spec_conf('{"address": {"domain": "%s"}}' % NESTED,
                              '{"address": {"bus": "0[ab]", "function": "[0-2]"}}'))
    code, doc, _err = pcipass("config", "check", "--nova-conf", str(conf))
    assert code == 1  # warnings only
    assert doc["valid"] is True and doc["errors"] == []
    assert doc["warnings"] == [backtracking("domain", NESTED, str(conf), 2, 0)]


def test_scan_matches_the_issue_pattern_as_nova_without_hanging(tmp_path: Path) -> None:
    # Nova's re.match: "0000" never matches (...0*...)*1, so only the vendor spec assigns.
    root = host(tmp_path, spec_conf('{"address": {"domain": "%s"}, "physical_network": "p1"}' % NESTED,
                                    '{"vendor_id": "8086", "address": {"bus": "01", "slot": "0+1"}}'))
    code, doc, _err = pcipass("scan", "--host", str(root))
    validate_schema(doc, "scan")
    assert code == 0
    (h,) = doc["hosts"]
    assert h["config"]["errors"] == []
    assert h["config"]["warnings"] == [backtracking("domain", NESTED, "etc/nova/nova.conf", 2, 0)]
    got = {d["address"]: d["spec_index"] for d in h["devices"]}
    assert got == {a: (1 if a.startswith("0000:01:01.") else None) for a in ADDRESSES}


def test_scan_reports_a_pattern_that_hits_the_bound_on_its_entry(tmp_path: Path) -> None:
    root = host(tmp_path, spec_conf('{"vendor_id": "8086", "product_id": "1592"}',
                                    '{"address": {"domain": "%s"}}' % TIMES_OUT))
    code, doc, _err = pcipass("scan", "--host", str(root))
    validate_schema(doc, "scan")
    assert code == 2
    (h,) = doc["hosts"]
    assert h["config"]["errors"] == [timeout_error("etc/nova/nova.conf", 3, 1)]
    assert h["config"]["compute_starts"] is False
    assert [d["passthrough"] for d in h["devices"]] == [False] * len(ADDRESSES)


def test_schedule_and_doctor_use_the_bounded_matcher(tmp_path: Path) -> None:
    root = host(tmp_path, spec_conf('{"address": {"domain": "%s"}}' % TIMES_OUT))
    flavor = tmp_path / "f.json"
    flavor.write_text(json.dumps({"name": "f1", "vcpus": 1, "ram": 512,
                                  "extra_specs": {"pci_passthrough:alias": "a1:1"}}))
    ctl = tmp_path / "ctl.conf"
    ctl.write_text('[pci]\nalias = {"name": "a1", "vendor_id": "8086", "product_id": "1889", '
                   '"device_type": "type-VF"}\n')
    code, doc, _err = pcipass("schedule", "--flavor", str(flavor), "--host", str(root),
                              "--nova-conf", str(ctl))
    assert code == 0  # it produced its answer: no host fits
    (result,) = doc["results"]
    assert result["chosen_host"] is None
    # the refused config, and (the controller config enables no PciPassthroughFilter) the scheduler's failure
    reason, sched = result["hosts"][0]["reasons"]
    assert (sched["layer"], sched["severity"]) == ("scheduler", "fail")
    message = timeout_error("etc/nova/nova.conf", 2, 0)["message"]
    assert reason["message"] == f"nova-compute would refuse to start with this host's config: {message}"
    assert reason["evidence"] == [{"source": "etc/nova/nova.conf:2", "value": message}]

    code, doc, _err = pcipass("doctor", "--host", str(root))
    assert code == 2
    fails = [f for f in doc["findings"] if f["message"].startswith("SpecRegexTimeout")]
    assert [(f["id"], f["severity"], f["subject"]) for f in fails] == [
        ("PCI-S001", "fail", "device_spec value 0")]


# -- CPU lists ----------------------------------------------------------------------------------


HUGE_CPULIST = ",".join(["0-1000000"] * 4000)  # 39,999 bytes


def scan_with_huge_node0(root: Path, possible: str | None) -> dict[str, Any]:
    """Scan ``root`` with node0's cpulist replaced by :data:`HUGE_CPULIST` and ``cpu/possible``
    set to ``possible`` (None: removed); the one host of the document."""
    possible_file = root / "sys/devices/system/cpu/possible"
    if possible is None:
        possible_file.unlink()
    else:
        possible_file.chmod(0o644)
        possible_file.write_text(possible + "\n")
    node0 = root / "sys/devices/system/node/node0/cpulist"
    node0.chmod(0o644)
    node0.write_text(HUGE_CPULIST + "\n")
    code, doc, _err = pcipass("scan", "--host", str(root))
    assert code == 0
    (h,) = doc["hosts"]
    return h  # type: ignore[no-any-return]


def test_node_cpulist_is_bounded_by_the_roots_possible_cpus(tmp_path: Path) -> None:
    root = host(tmp_path, spec_conf('{"vendor_id": "8086"}'))
    node0 = root / "sys/devices/system/node/node0/cpulist"
    node0.chmod(0o644)
    node0.write_text(HUGE_CPULIST + "\n")
    assert len(HUGE_CPULIST) < 64 << 10
    code, doc, _err = pcipass("scan", "--host", str(root))
    assert code == 0
    (h,) = doc["hosts"]
    assert [(c["id"], c["cpus"]) for c in h["numa"]["cells"]] == [(0, list(range(8))),
                                                                  (1, [4, 5, 6, 7])]
    assert ("sys/devices/system/node/node0/cpulist: CPUs 8-1000000 are outside "
            "sys/devices/system/cpu/possible (0-7); ignored") in h["warnings"]


def test_node_cpulist_without_possible_is_capped_at_8192_cpus(tmp_path: Path) -> None:
    h = scan_with_huge_node0(host(tmp_path, spec_conf('{"vendor_id": "8086"}')), None)
    cells = {c["id"]: c["cpus"] for c in h["numa"]["cells"]}
    assert cells == {0: list(range(8192)), 1: [4, 5, 6, 7]}
    assert ("sys/devices/system/node/node0/cpulist: CPUs 8192-1000000 are outside the 8,192-CPU "
            "cap (0-8191); ignored") in h["warnings"]


def test_possible_itself_is_capped(tmp_path: Path) -> None:
    h = scan_with_huge_node0(host(tmp_path, spec_conf('{"vendor_id": "8086"}')), "0-99999999999")
    assert len(h["numa"]["cells"][0]["cpus"]) == 8192
    assert ("sys/devices/system/cpu/possible: CPUs 8192-99999999999 are beyond the 8,192-CPU cap; "
            "ignored") in h["warnings"]


def cpu_error(option: str, file: str, line: int, value: str, reason: str) -> dict[str, Any]:
    return {"code": "InvalidCpuSet", "message": f"Invalid {option} value {value!r}: {reason}",
            "file": file, "line": line, "value_index": None, "entry": option,
            "hint": "list the host's CPUs, e.g. 2-15,18-31 (sys/devices/system/cpu/online)"}


def test_cpu_set_option_naming_cpus_no_kernel_has_is_an_error(tmp_path: Path) -> None:
    value = ",".join(f"{i * 60000}-{i * 60000 + 60000}" for i in range(4000))
    conf = tmp_path / "nova.conf"
    conf.write_text(f'[pci]\ndevice_spec = {{"vendor_id": "8086"}}\n[compute]\n'
                    f"cpu_dedicated_set = {value}\ncpu_shared_set = 0-1\n")
    code, doc, _err = pcipass("config", "check", "--nova-conf", str(conf))
    assert code == 2
    shown = f"{value[:60]}... ({len(value):,} characters)"
    assert doc["errors"] == [cpu_error(
        "[compute] cpu_dedicated_set", str(conf), 4, shown,
        "CPUs 8192-240000000 are beyond the 8,192 CPUs a kernel can have (NR_CPUS); the value "
        "would expand past any host")]


def test_schedule_refuses_a_host_with_an_oversize_cpu_set(tmp_path: Path) -> None:
    root = host(tmp_path, '[pci]\ndevice_spec = {"vendor_id": "8086"}\n'
                          "[DEFAULT]\nvcpu_pin_set = 0-3,9000\n")
    flavor = tmp_path / "f.json"
    flavor.write_text(json.dumps({"name": "f1", "vcpus": 1, "ram": 512, "extra_specs": {}}))
    code, doc, _err = pcipass("schedule", "--flavor", str(flavor), "--host", str(root))
    assert code == 0
    code, doc, _err = pcipass("scan", "--host", str(root))
    assert code == 2
    assert doc["hosts"][0]["config"]["errors"] == [cpu_error(
        "vcpu_pin_set", "etc/nova/nova.conf", 4, "0-3,9000",
        "CPUs 9000 are beyond the 8,192 CPUs a kernel can have (NR_CPUS); the value would expand "
        "past any host")]
