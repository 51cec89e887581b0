"""One verdict: `schedule` and `doctor` give the same layer and severity for the same inputs, and the
doctor's headline leads with the first broken layer the flavor -> hosts table shows."""

from __future__ import annotations

import json
from pathlib import Path

from support import run_cli, validate_schema
from test_doctor_hosts import Host, healthy

from pcipass.cli import commands_doctor


def _no_pci_filter(host: Host) -> None:
    host.replace(str(host.controller), "PciPassthroughFilter,", "")


def _both(host: Host) -> tuple[dict, dict]:  # type: ignore[type-arg]
    args = ["--host", str(host.root), "--nova-conf", str(host.controller)]
    doctor = run_cli(["doctor", *args, "--flavor", str(host.flavor), "-f", "json"])
    schedule = run_cli(["schedule", *args, "--flavor", str(host.flavor), "-f", "json"])
    assert schedule.code == 0, schedule.err  # contracts §5: schedule exits 0 when it answered
    return doctor.json(), schedule.json()


def test_a_missing_pci_filter_is_a_scheduler_failure_in_both(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    _no_pci_filter(host)
    doctor, sched = _both(host)
    validate_schema(doctor, "doctor")
    validate_schema(sched, "schedule")
    [c1] = [f for f in doctor["findings"] if f["id"] == "PCI-C001"]
    assert (c1["layer"], c1["severity"]) == ("scheduler", "fail")
    [h] = sched["results"][0]["hosts"]
    [r] = [r for r in h["reasons"] if r["message"].startswith("PciFilterDisabled")]
    assert (r["layer"], r["severity"]) == (c1["layer"], c1["severity"])


def test_schedule_reasons_carry_the_doctors_severity(tmp_path: Path) -> None:
    """The VFs on NUMA node 1, CPUs for guests on node 0 only: numa, failing, in both."""
    host = healthy(tmp_path, "2x intel-82599 numa=1 vfs=4; 1x intel-i350 numa=0; 1x qemu-nvme numa=0; "
                   "cmdline=intel_iommu=on iommu=pt; hostname=compute-1")
    host.replace("etc/nova/nova.conf", 'device_spec = {"vendor_id": "10de", "product_id": "20f1", "managed": "no"}\n', "")
    host.replace("etc/nova/nova.conf", "cpu_dedicated_set = 1-3,5-7\n", "cpu_dedicated_set = 1-3\n")
    doctor, sched = _both(host)
    validate_schema(sched, "schedule")
    [h] = sched["results"][0]["hosts"]
    assert not h["fits"] and h["reasons"] and {r["severity"] for r in h["reasons"]} == {"fail"}
    first = min(h["reasons"], key=lambda r: ["kernel", "driver", "device_spec", "numa", "placement", "flavor",
                                               "neutron", "scheduler"].index(r["layer"]))
    [n2] = [f for f in doctor["findings"] if f["id"] == "PCI-N002"]
    assert (first["layer"], first["severity"]) == (n2["layer"], n2["severity"]) == ("numa", "fail")
    [cell] = doctor["mapping"]["flavors"][0]["hosts"]
    assert cell["first_broken_layer"] == "numa" and {r["severity"] for r in cell["reasons"]} == {"fail"}


def test_headline_leads_with_the_flavor_tables_first_broken_layer(tmp_path: Path) -> None:
    """A flavor too big for any node: only PCI-C005 (scheduler) fails, but the table shows numa."""
    host = healthy(tmp_path)
    host.flavor.write_text(json.dumps(dict(json.loads(host.flavor.read_text()), vcpus=6)))
    doctor, _ = _both(host)
    validate_schema(doctor, "doctor")
    assert doctor["broken_layers"] == ["scheduler"]
    assert doctor["mapping"]["flavors"][0]["hosts"][0]["first_broken_layer"] == "numa"
    assert doctor["first_broken_layer"] == "numa"
    text = run_cli(["doctor", "--host", str(host.root), "--nova-conf", str(host.controller),
                    "--flavor", str(host.flavor)]).out
    assert "BROKEN: numa first (the flavor table's first broken layer); failing layers: scheduler" in \
        " ".join(text.split())


def test_headline_names_layers_in_contract_order() -> None:
    assert commands_doctor.headline(["kernel", "device_spec", "scheduler"], "kernel") == \
        "BROKEN: kernel > device_spec > scheduler"
    assert commands_doctor.headline(["driver", "scheduler"], "numa") == \
        "BROKEN: numa first (the flavor table's first broken layer); failing layers: driver > scheduler"


def test_a_missing_numa_filter_for_pinned_cpus_is_a_failure_in_both(tmp_path: Path) -> None:
    """hw:cpu_policy=dedicated alone gives the guest a NUMA topology: PCI-C002 and schedule agree."""
    host = healthy(tmp_path)
    host.replace(str(host.controller), ",NUMATopologyFilter", "")
    doc = json.loads(host.flavor.read_text())
    props = {k: v for k, v in doc["properties"].items() if k != "hw:numa_nodes"}
    host.flavor.write_text(json.dumps(dict(doc, properties=props)))
    doctor, sched = _both(host)
    [c2] = [f for f in doctor["findings"] if f["id"] == "PCI-C002"]
    [h] = sched["results"][0]["hosts"]
    [r] = [r for r in h["reasons"] if r["message"].startswith("NumaFilterDisabled")]
    assert (r["layer"], r["severity"]) == (c2["layer"], c2["severity"]) == ("scheduler", "fail")


def test_a_removed_filter_is_a_scheduler_failure_in_both(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.replace(str(host.controller), "enabled_filters = ComputeFilter,", "enabled_filters = RamFilter,ComputeFilter,")
    doctor, sched = _both(host)
    [c6] = [f for f in doctor["findings"] if f["id"] == "PCI-C006"]
    [h] = sched["results"][0]["hosts"]
    [r] = [r for r in h["reasons"] if r["message"].startswith("SchedulerHostFilterNotFound")]
    assert (r["layer"], r["severity"]) == (c6["layer"], c6["severity"]) == ("scheduler", "fail")
    assert "20.0.0 (Train)" in r["message"]


def test_a_scheduler_that_does_not_start_fits_no_host_in_both(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.replace(str(host.controller), "enabled_filters = ComputeFilter,", "enabled_filters = RetryFilter,ComputeFilter,")
    doctor, sched = _both(host)
    [cell] = doctor["mapping"]["flavors"][0]["hosts"]
    [h] = sched["results"][0]["hosts"]
    assert (cell["fits"], h["fits"], sched["results"][0]["chosen_host"]) == (False, False, None)
    assert cell["first_broken_layer"] == "scheduler" and cell["reasons"][0]["check"] == "PCI-C006"
    assert doctor["first_broken_layer"] == "scheduler"
