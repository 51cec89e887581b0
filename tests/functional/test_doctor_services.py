"""Controller and compute are separate services: an alias's specs are counted per service.

nova-api/nova-scheduler read the controller's [pci] alias, nova-compute its own file; Nova's
"only one spec per alias" (pci_in_placement) holds per service. The same file given as both,
or the same alias in both files (the normal layout), is accepted by Nova and must not fail.
"""

from __future__ import annotations

from pathlib import Path

from test_doctor_hosts import COMPUTE_CONF, CONTROLLER_CONF, Host, healthy
from test_doctor_layers import fired

from pcipass.core import aliasservices

PLACEMENT = "\n[filter_scheduler]\npci_in_placement = True\n"
ALIASES = CONTROLLER_CONF.split("\n\n")[0] + "\n"  # the [pci] section with its two alias lines


def _all_in_one(host: Host) -> Path:
    """One nova.conf holding device_spec, the aliases, report_in_placement and the filters."""
    conf = (COMPUTE_CONF.replace("[pci]\n", "[pci]\nreport_in_placement = True\n" + "".join(
        ln + "\n" for ln in ALIASES.splitlines()[1:])) + CONTROLLER_CONF.split("\n\n")[1]
            + "pci_in_placement = True\n")
    return host.write("etc/nova/nova.conf", conf)


def test_one_file_as_compute_and_controller_config_is_no_multiple_specs(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    conf = _all_in_one(host)
    got = fired(host.diagnose(compute_conf=[str(conf)], nova_conf=[str(conf)]))
    assert not {k for k, v in got.items() if any(f.severity == "fail" for f in v)}, \
        {k: [f.message for f in v] for k, v in got.items()}
    assert not any("multiple specs" in f.message for fs in got.values() for f in fs)


def test_same_alias_in_the_computes_and_the_controllers_file(tmp_path: Path) -> None:
    """The normal layout: etc/nova/nova.conf on the compute and the controller's both define it."""
    host = healthy(tmp_path)
    host.write("etc/nova/nova.conf", COMPUTE_CONF.replace("[pci]\n", "[pci]\nreport_in_placement = True\n" + "".join(
        ln + "\n" for ln in ALIASES.splitlines()[1:])))
    host.controller.write_text(CONTROLLER_CONF + "pci_in_placement = True\n")
    got = fired(host.diagnose())
    assert got == {}, {k: [f.message for f in v] for k, v in got.items()}


def test_differing_definitions_fail_showing_the_difference(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    differing = ALIASES.splitlines()[1].replace('"numa_policy": "required"', '"numa_policy": "preferred"')
    host.write("etc/nova/nova.conf", COMPUTE_CONF.replace("[pci]\n", f"[pci]\n{differing}\n"))
    got = fired(host.diagnose())
    assert set(got) == {"PCI-S014"}, {k: [f.message for f in v] for k, v in got.items()}
    [f] = got["PCI-S014"]
    assert f.severity == "fail" and f.subject == "[pci] alias 'vf'"
    assert 'numa_policy: compute "preferred" vs controller "required"' in f.message
    assert f.evidence[0].line == 5  # the compute's alias line


def test_without_nova_conf_the_hosts_own_config_stands_in_and_says_so(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    _all_in_one(host)
    d = host.diagnose(nova_conf=[])
    [c7] = [f for f in d.findings if f.id == "PCI-C007"]
    assert c7.severity == "info"
    assert c7.message.startswith("no --nova-conf given: compute-1's own nova.conf stands in for the controller")
    assert "available_filters, weight_classes: judged as Nova's defaults" in c7.message
    assert not [f for f in d.findings if f.severity == "fail"]


def test_compare_keeps_the_computes_other_aliases() -> None:
    same = '{"name": "vf", "vendor_id": "8086", "product_id": "10ed", "device_type": "type-VF"}'
    mine = '{"name": " mine ", "vendor_id": "10de", "product_id": "20b5"}'
    got = aliasservices.compare([same, mine, "not json"], [same])
    assert got.kept == (1, 2) and got.problems == ()
    other = same.replace("10ed", "154c")
    [p] = aliasservices.compare([other], [same], [("compute.conf", 3)]).problems
    assert (p.code, p.file, p.line) == ("AliasDiffersBetweenServices", "compute.conf", 3)
    assert '"product_id": "154c"' in p.message and '"product_id": "10ed"' in p.message
