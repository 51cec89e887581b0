"""The neutron layer (PCI-Q): the SR-IOV agent's ini against device_spec and the host.

The healthy host (test_doctor_hosts) offers its 82599 VFs for physnet2 and its agent ini maps
physnet2 to both 82599 PFs' interfaces; each test breaks one thing.
"""

from __future__ import annotations

from pathlib import Path

from test_doctor_hosts import PF1, Host, healthy
from test_doctor_layers import fired, only

INI = "etc/neutron/plugins/ml2/sriov_agent.ini"


def _ini(host: Host) -> str:
    return (host.root / INI).read_text()


def _pf_ifs(host: Host) -> list[str]:
    return sorted(n[0] for d in host.built.devices if (d.vendor_id, d.product_id) == ("8086", "10fb")
                  for n in d.netdevs[:1])


def test_q001_physnet_not_mapped(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.write(INI, _ini(host).replace("physnet2:", "physnet9:"))
    [f] = only(host.diagnose(), "PCI-Q001", "fail")
    assert f.layer == "neutron" and "maps no interface to it" in f.message
    assert f.fix is not None and f.fix.startswith(
        f"[sriov_nic] physical_device_mappings = physnet2:{_pf_ifs(host)[0]},physnet2:{_pf_ifs(host)[1]}")
    assert any(e.source == INI and e.line == 2 for e in f.evidence)


def test_q001_mapped_to_an_interface_that_is_not_the_pf(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    nic = next(n[0] for d in host.built.devices if (d.vendor_id, d.product_id) == ("8086", "1521")
               for n in d.netdevs[:1])
    first = _pf_ifs(host)[0]
    host.write(INI, _ini(host).replace(f"physnet2:{first}", f"physnet2:{nic}"))
    found = only(host.diagnose(), "PCI-Q001", "fail")
    assert [f"maps 'physnet2' to {nic}, a PF of this host, but not one whose VFs" in f.message
            or f"maps 'physnet2' to {nic}, not a PF interface" in f.message for f in found] == [True]


def test_q001_given_with_sriov_agent_conf(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    other = tmp_path / "agent.ini"
    other.write_text("[sriov_nic]\nphysical_device_mappings = physnet1:ens1f0\n")
    [f] = only(host.diagnose(sriov_agent_conf=[str(other)]), "PCI-Q001", "fail")
    assert any(e.source == str(other) for e in f.evidence)


def test_q002_excluded_vfs_that_device_spec_offers(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    vf = sorted(d.address for d in host.built.devices if d.parent_addr == PF1)[0]
    first = _pf_ifs(host)[0]
    host.write(INI, _ini(host) + f"exclude_devices = {first}:{vf}\n")
    [f] = only(host.diagnose(), "PCI-Q002", "fail")
    assert vf in f.message and any(e.value.startswith("exclude_devices = ") and e.line == 3 for e in f.evidence)


def test_q003_vfs_on_vfio_for_an_agent_physnet(tmp_path: Path) -> None:
    from test_doctor_hosts import PROFILE

    host = healthy(tmp_path, PROFILE.replace("numa=0 vfs=4", "numa=0 vfs=4 vf-driver=vfio-pci"))
    got = fired(host.diagnose())
    [q3] = got["PCI-Q003"]
    assert q3.severity == "fail" and "sit on vfio-pci" in q3.message
    # the fake host binds through driver_override, as the lab did: the fix unsets that override
    assert q3.fix is not None and q3.fix.startswith("driverctl unset-override")
    assert {"PCI-Q003", "PCI-D004"} <= set(got)


def test_q004_trusted_split_and_remote_managed(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.replace("etc/nova/nova.conf",
                 'device_spec = {"vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet2"}\n',
                 f'device_spec = {{"vendor_id": "8086", "product_id": "10ed", "address": "0000:01:*.*", '
                 f'"physical_network": "physnet2", "trusted": "true"}}\n'
                 'device_spec = {"vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet2"}\n')
    [f] = only(host.diagnose(), "PCI-Q004", "warn")
    assert "trusted in device_spec entries [0] and not in [1]" in f.message


def test_without_an_agent_config_the_layer_skips_saying_why(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    (host.root / INI).unlink()
    d = host.diagnose()
    skips = [f for f in d.findings if f.id.startswith("PCI-Q")]
    assert skips and {f.severity for f in skips} == {"skip"}
    assert "pass --sriov-agent-conf FILE" in skips[0].message
