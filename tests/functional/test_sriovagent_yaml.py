"""The SR-IOV agent's mappings from deployment YAML (OpenStack-Ansible, Kolla), and the neutron layer on them.

Fixtures (origins beside them): an OpenStack-Ansible host_vars file that maps physnet "vlan" to
eno49 and eno50 while the post creates VFs on eno50 only, and Kolla's globals.yml example.
"""

from __future__ import annotations

from support import FIXTURES

from pcipass.adapters import sriovagent
from pcipass.core import alias as alias_mod
from pcipass.core import config, model, spec
from pcipass.doctor import model as dm
from pcipass.doctor.checks import neutron

DIR = FIXTURES / "sriovagent"


def test_openstack_ansible_overrides_give_the_agents_mappings() -> None:
    agent = sriovagent.read_sriov_agent_conf(DIR / "osa_compute-4_host_vars.yml")
    assert agent.problems == []
    # the linuxbridge agent's shared_physical_device_mappings (line 8) is another agent's: not read
    assert agent.device_mappings == {"vlan": ["eno49", "eno50"]}
    ov = agent.sources["physical_device_mappings"]
    assert (ov.line, ov.value) == (13, "vlan:eno49,vlan:eno50")


def test_kolla_physnet_mappings() -> None:
    agent = sriovagent.read_sriov_agent_conf(DIR / "kolla_globals.yml")
    assert agent.problems == [] and agent.device_mappings == {"sriovtenant1": ["ens785f0"]}


def test_a_yaml_without_agent_keys_says_so(tmp_path: object) -> None:
    from pathlib import Path

    other = Path(str(tmp_path)) / "vars.yml"
    other.write_text("nova_scheduler_default_filters:\n  - ComputeFilter\n")
    agent = sriovagent.read_sriov_agent_conf(other)
    assert agent.mappings == [] and [w.code for w in agent.warnings] == ["NoDeviceMappings"]


def test_q001_flags_eno49_the_mapped_interface_without_the_offered_vfs() -> None:
    """The post's host: 82599 ports eno49 (no VFs: the management NIC) and eno50 (12 VFs)."""
    eno49 = model.Device("0000:04:00.0", "8086", "10f8", class_code="020000", dev_type=model.TYPE_PF,
                         driver="ixgbe", netdevs=("eno49",), sriov_totalvfs=63, sriov_numvfs=0,
                         sriov_vf_device="10ed")
    eno50 = model.Device("0000:04:00.1", "8086", "10f8", class_code="020000", dev_type=model.TYPE_PF,
                         driver="ixgbe", netdevs=("eno50",), sriov_totalvfs=63, sriov_numvfs=2,
                         sriov_vf_device="10ed")
    vfs = [model.Device(f"0000:04:10.{2 * i + 1}", "8086", "10ed", class_code="020000", dev_type=model.TYPE_VF,
                        parent_addr=eno50.address, driver="ixgbevf") for i in range(2)]
    devs = [eno49, eno50, *vfs]
    parsed = spec.parse_device_spec_values(['{"vendor_id": "8086", "product_id": "10ed", "physical_network": "vlan"}'],
                                           model.HostFacts.from_devices(devs))
    cfg = dm.ConfigFacts(("nova.conf",), config.NovaConfig(files=["nova.conf"]), parsed,
                         alias_mod.AliasParseResult({}, [], []), (), (),
                         {d.address: spec.first_match(parsed.specs, d) for d in devs}, True, {0: ("nova.conf", 3, None)})
    agent = sriovagent.read_sriov_agent_conf(DIR / "osa_compute-4_host_vars.yml")
    [r] = neutron.physnet_mapped(dm.DeviceFacts.of(devs, "sysfs"), cfg, agent)
    assert r.severity == dm.FAIL
    assert "maps 'vlan' to eno49, a PF of this host, but not one whose VFs device_spec offers for it" in r.message
    assert r.fix == "[sriov_nic] physical_device_mappings = vlan:eno50"


def test_tripleo_and_charm_keys(tmp_path: object) -> None:
    """TripleO's role parameters (a YAML list) and a Juju bundle's charm options (a comma list)."""
    from pathlib import Path

    tripleo = Path(str(tmp_path)) / "sriov-env.yaml"
    tripleo.write_text("parameter_defaults:\n  ComputeSriovParameters:\n    NeutronPhysicalDevMappings:\n"
                       "      - 'sriov1:ens1f0'\n      - 'sriov2:ens1f1'\n"
                       "    NeutronExcludeDevices: 'ens1f0:0000:3b:02.0'\n")
    agent = sriovagent.read_sriov_agent_conf(tripleo)
    assert agent.problems == [] and agent.device_mappings == {"sriov1": ["ens1f0"], "sriov2": ["ens1f1"]}
    assert agent.exclude_devices == {"ens1f0": ["0000:3b:02.0"]}
    assert agent.sources["physical_device_mappings"].line == 4
    charm = Path(str(tmp_path)) / "bundle.yaml"
    charm.write_text("applications:\n  neutron-sriov:\n    charm: neutron-sriov\n    options:\n"
                     "      sriov-device-mappings: physnet1:enp3s0f0 physnet2:enp3s0f1\n")
    agent = sriovagent.read_sriov_agent_conf(charm)
    assert agent.problems == [] and agent.device_mappings == {"physnet1": ["enp3s0f0"], "physnet2": ["enp3s0f1"]}
