"""Scheduler options that stop nova-scheduler: `config check` and the doctor (PCI-C006).

The fixtures are Blazar's documented nova.conf lines (2017 and 2022, origins beside them).
Expected values from the raw data: the 2017 lines enable RetryFilter, AvailabilityZoneFilter and
RamFilter, which Nova removed (release notes in tests/fixtures/nova-releasenotes: 22.0.0,
28.0.0, 20.0.0), and BlazarFilter, an out-of-tree filter available_filters loads from
blazarnova, which pcipass cannot verify. The 2022 lines dropped RetryFilter and RamFilter but
keep AvailabilityZoneFilter, which Nova 34 no longer has either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support import FIXTURES
from test_doctor_hosts import healthy
from test_doctor_layers import fired

BLAZAR_2017 = str(FIXTURES / "conf" / "blazar_nova_filters_2017.conf")
BLAZAR_2022 = str(FIXTURES / "conf" / "blazar_nova_filters_2022.conf")


def test_config_check_fails_a_config_with_removed_filters(cli: Any) -> None:
    r = cli(["config", "check", "--nova-conf", BLAZAR_2017, "-f", "json"])
    assert r.code == 2, r.out + r.err
    doc = r.json()
    assert doc["valid"] is False
    errs = [(e["code"], e["line"]) for e in doc["errors"]]
    assert errs == [("SchedulerHostFilterNotFound", 4)] * 3
    text = " ".join(e["message"] for e in doc["errors"])
    for name, when in (("RetryFilter", "22.0.0 (Victoria)"), ("AvailabilityZoneFilter", "28.0.0 (2023.2 Bobcat)"),
                       ("RamFilter", "20.0.0 (Train)")):
        assert f"Scheduler Host Filter {name} could not be found: Nova removed it in {when}" in text
    warns = {(w["code"], w["line"]) for w in doc["warnings"]}
    assert ("UnverifiedSchedulerClass", 4) in warns  # BlazarFilter: blazarnova may define it
    assert ("UnverifiedSchedulerClass", 3) in warns  # the blazarnova path itself, on its own line
    assert not any("ComputeFilter" in e["message"] or "AggregateMultiTenancy" in e["message"]
                   for e in doc["errors"] + doc["warnings"])


def test_config_check_fails_the_2022_lines_on_the_az_filter_only(cli: Any) -> None:
    r = cli(["config", "check", "--nova-conf", BLAZAR_2022, "-f", "json"])
    assert r.code == 2
    [e] = r.json()["errors"]
    assert e["code"] == "SchedulerHostFilterNotFound" and "AvailabilityZoneFilter" in e["message"]
    assert "map_az_to_placement_aggregate" in e["hint"]


def test_config_check_accepts_novas_own_filters(cli: Any, tmp_path: Path) -> None:
    conf = tmp_path / "nova.conf"
    conf.write_text("[filter_scheduler]\nenabled_filters = ComputeFilter,PciPassthroughFilter,NUMATopologyFilter\n"
                    "weight_classes = nova.scheduler.weights.pci.PCIWeigher\n")
    r = cli(["config", "check", "--nova-conf", str(conf), "-f", "json"])
    assert r.code in (0, 1) and r.json()["errors"] == []
    assert not any(w["code"].startswith(("Scheduler", "Unverified")) for w in r.json()["warnings"])


def test_doctor_fails_pci_c006_on_a_removed_filter(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.replace(str(host.controller), "enabled_filters = ComputeFilter,",
                 "enabled_filters = RetryFilter,ComputeFilter,")
    d = host.diagnose()
    got = fired(d)
    assert set(got) == {"PCI-C006"}, {k: [f.message for f in v] for k, v in got.items()}
    [f] = got["PCI-C006"]
    assert f.severity == "fail" and f.layer == "scheduler" and "22.0.0 (Victoria)" in f.message
    assert f.evidence[0].source == str(host.controller) and f.evidence[0].line == 6
    assert d.exit_code == 2


def test_doctor_warns_cannot_verify_with_out_of_tree_modules(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.replace(str(host.controller), "enabled_filters = ComputeFilter,",
                 "available_filters = nova.scheduler.filters.all_filters\n"
                 "available_filters = blazarnova.scheduler.filters.blazar_filter.BlazarFilter\n"
                 "enabled_filters = BlazarFilter,ComputeFilter,")
    got = fired(host.diagnose())
    assert set(got) == {"PCI-C006"} and {f.severity for f in got["PCI-C006"]} == {"warn"}
    assert any("cannot verify filter BlazarFilter" in f.message for f in got["PCI-C006"])


def test_a_computes_own_old_filters_are_not_a_compute_config_error(tmp_path: Path) -> None:
    """nova-compute loads no scheduler filter: with the controller's config given, a RetryFilter
    left in the compute's nova.conf is not PCI-S001's (nor the controller's PCI-C006)."""
    host = healthy(tmp_path)
    conf = host.root / "etc/nova/nova.conf"
    host.write("etc/nova/nova.conf", conf.read_text() + "\n[filter_scheduler]\nenabled_filters = RetryFilter\n")
    assert fired(host.diagnose()) == {}
