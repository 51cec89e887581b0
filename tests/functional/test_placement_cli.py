"""``pcipass placement show`` on fake hosts: the document, its schema, names, reasons, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcipass import fakehost
from support import run_cli, validate_schema

PROFILE = "1x intel-x710 numa=0 vfs=3; 1x nvidia-a100 numa=1 driver=vfio-pci; hostname=compute-7"
# The profile's devices: the X710 PF 0000:01:00.0 with VFs 0000:01:02.0-2, the A100 0000:81:00.0.
PF, GPU = "0000:01:00.0", "0000:81:00.0"
VFS = ("0000:01:02.0", "0000:01:02.1", "0000:01:02.2")


def make_host(tmp_path: Path, conf: str, profile: str = PROFILE, name: str = "h1") -> str:
    built = fakehost.build(tmp_path / name, profile)
    assert {d.address for d in built.devices} >= {PF, GPU, *VFS}
    (built.root / "etc" / "nova").mkdir(parents=True, exist_ok=True)
    (built.root / "etc" / "nova" / "nova.conf").write_text(conf)
    return str(built.root)


GOOD = """\
[pci]
report_in_placement = True
device_spec = {"vendor_id": "8086", "product_id": "154c", "traits": "fast"}
device_spec = {"vendor_id": "10de", "resource_class": "pgpu", "one_time_use": "true"}
"""


def test_the_view_names_providers_after_the_hostname_and_validates(tmp_path: Path) -> None:
    res = run_cli(["placement", "show", "--host", make_host(tmp_path, GOOD), "-f", "json"])
    assert res.code == 0, res.err
    doc = res.json()
    validate_schema(doc, "placement")
    (host,) = doc["hosts"]
    assert (host["hypervisor_hostname"], host["hostname_source"]) == ("compute-7", "hostname")
    assert host["reported"] and host["report_in_placement"] and host["nova_starts"]
    providers = {p["name"]: p for p in host["providers"]}
    assert set(providers) == {"compute-7_0000:01:00.0", "compute-7_0000:81:00.0"}
    vfs = providers["compute-7_0000:01:00.0"]
    assert vfs["inventory"] == {"resource_class": "CUSTOM_PCI_8086_154C", "total": 3, "max_unit": 3,
                                "reserved": None}
    assert vfs["devices"] == list(VFS) and vfs["dev_type"] == "type-VF"
    assert vfs["traits"] == ["COMPUTE_MANAGED_PCI_DEVICE", "CUSTOM_FAST", "OWNER_NOVA"]
    gpu = providers["compute-7_0000:81:00.0"]
    assert gpu["inventory"]["resource_class"] == "PGPU" and gpu["one_time_use"]
    assert "HW_PCI_ONE_TIME_USE" in gpu["traits"]


def test_the_hypervisor_hostname_is_the_hostname_or_the_option(tmp_path: Path) -> None:
    root = make_host(tmp_path, "[DEFAULT]\nhost = cn-from-conf\n" + GOOD)
    doc = run_cli(["placement", "show", "--host", root, "-f", "json"]).json()
    (host,) = doc["hosts"]
    # libvirt names the compute node after the hypervisor's hostname, not [DEFAULT] host
    assert host["hostname_source"] == "hostname"
    assert host["providers"][0]["name"].startswith("compute-7_0000:")
    assert any("[DEFAULT] host is 'cn-from-conf'" in n for n in host["notes"])
    assert any("openstack hypervisor list" in n for n in host["notes"])
    doc = run_cli(["placement", "show", "--host", root, "--hypervisor-hostname", "node.example",
                   "-f", "json"]).json()
    validate_schema(doc, "placement")
    assert doc["hosts"][0]["hostname_source"] == "option"
    assert {p["parent_provider"] for p in doc["hosts"][0]["providers"]} == {"node.example"}
    second = make_host(tmp_path, GOOD, name="h2")
    res = run_cli(["placement", "show", "--host", root, "--host", second,
                   "--hypervisor-hostname", "x"])
    assert res.code == 64 and "one --host" in res.err


def test_every_refusal_and_exclusion_is_explained(tmp_path: Path) -> None:
    conf = """\
[pci]
report_in_placement = True
device_spec = {"address": "0000:01:00.0"}
device_spec = {"vendor_id": "10de", "physical_network": "physnet0"}
"""
    res = run_cli(["placement", "show", "--host", make_host(tmp_path, conf), "-f", "json"])
    assert res.code == 2
    doc = res.json()
    validate_schema(doc, "placement")
    host = doc["hosts"][0]
    assert not host["reported"]
    codes = {p["code"] for p in host["refusals"]}
    assert codes == {"PlacementPciDependentDeviceException"}
    assert all(p["file"].endswith("etc/nova/nova.conf") and p["line"] == 3 for p in host["refusals"])
    reasons = {e["address"]: e["reason"] for e in host["exclusions"]}
    assert reasons[GPU] == "physical_network"
    assert sum(r == "refused" for r in reasons.values()) == len(host["refusals"])
    assert any("stops at the first refusal" in n for n in host["notes"])
    table = run_cli(["placement", "show", "--host", make_host(tmp_path, conf, name="t")])
    assert "Refused by Nova" in table.out and "PlacementPciDependentDeviceException" in table.out
    assert "physical_network" in table.out


@pytest.mark.parametrize(("conf", "note", "reported"), [
    ('[pci]\ndevice_spec = {"vendor_id": "10de"}\n', "report_in_placement is False", "false"),
    ('[pci]\nreport_in_placement = True\ndevice_spec = {"vendor_id": "zzzz"}\n', "does not start",
     "false"),
    ("[pci]\nreport_in_placement = True\n", "no device matches", "true"),
])
def test_why_nothing_is_reported_is_said(tmp_path: Path, conf: str, note: str, reported: str) -> None:
    res = run_cli(["placement", "show", "--host", make_host(tmp_path, conf), "-f", "yaml"])
    assert res.code == 0, res.err
    assert note in res.out and f"reported: {reported}" in res.out


def test_a_devname_spec_with_reporting_off_is_shown_but_does_not_fail(tmp_path: Path) -> None:
    conf = '[pci]\ndevice_spec = {"devname": "enp1s0f0"}\n'
    doc = run_cli(["placement", "show", "--host", make_host(tmp_path, conf), "-f", "json"])
    assert doc.code == 0
    (host,) = doc.json()["hosts"]
    # the netdev is the PF's: its VFs are matched too (Nova's refusals, after the devname one)
    assert host["refusals"][0]["code"] == "PlacementPciException"
    assert "'devname' based" in host["refusals"][0]["message"]
    assert host["refusals"][0]["line"] == 2
    assert host["report_in_placement"] is False


def test_a_host_that_is_not_a_root_is_an_input_error(tmp_path: Path) -> None:
    res = run_cli(["placement", "show", "--host", str(tmp_path / "missing")])
    assert res.code == 2 and "pcipass placement show:" in res.err


def test_a_hostile_hostname_is_escaped_in_the_table_and_exact_in_json(tmp_path: Path) -> None:
    import json

    root = Path(make_host(tmp_path, GOOD))
    name = "cn\x1b[31m\u202e[bold]x"
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["hostname"] = name
    (root / "manifest.json").write_text(json.dumps(manifest))
    doc = run_cli(["placement", "show", "--host", str(root), "-f", "json"]).json()
    assert doc["hosts"][0]["providers"][0]["name"].startswith(name + "_0000:")
    table = run_cli(["placement", "show", "--host", str(root)]).out
    assert "\x1b" not in table and "\u202e" not in table
    assert "cn\\x1b[31m\\u202e[bold]x" in table


def test_many_devices_left_out_for_one_reason_are_one_table_line(tmp_path: Path) -> None:
    conf = ('[pci]\nreport_in_placement = True\n'
            'device_spec = {"vendor_id": "8086", "product_id": "154c", "physical_network": "p0"}\n')
    root = make_host(tmp_path, conf, profile="1x intel-x710 vfs=12; 1x nvidia-a100 numa=1; hostname=n")
    doc = run_cli(["placement", "show", "--host", root, "-f", "json"]).json()
    assert [e["reason"] for e in doc["hosts"][0]["exclusions"]] == ["physical_network"] * 12
    table = run_cli(["placement", "show", "--host", root]).out
    last = doc["hosts"][0]["exclusions"][-1]["address"]
    assert f"12 devices 0000:01:02.0 ... {last}  [physical_network]" in table
