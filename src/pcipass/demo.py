"""``make demo``: an operator's PCI passthrough config, broken the way real ones break, then fixed.

Every step runs the real ``pcipass`` command in-process and checks its exit
code, so the demo fails loudly if the story stops being true.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
from pathlib import Path

from pcipass import fakehost
from pcipass.cli import main as climain

BROKEN_CONF = """\
[DEFAULT]
host = compute-12

[pci]
# X710 VFs for the SR-IOV network (physnet2)
passthrough_whitelist = {"vendor_id": "8086", "product_id": "154c", "physical_netwrok": "physnet2"}
# the two A100s, one per socket
device_spec = [{"vendor_id": "10de", "product_id": "20b5", "address": "0000:3b:00.0"},
               {"vendor_id": "10de", "product_id": "20b5", "address": "0000:d8:20.0"}]
alias = {"name": "intel-vf", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF", "numa_policy": "required"}
alias = {"name": "a100", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}
"""

FIXED_CONF = """\
[DEFAULT]
host = compute-12

[pci]
# X710 VFs for the SR-IOV network (physnet2)
device_spec = {"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet2"}
# the two A100s, one per socket
device_spec = [{"vendor_id": "10de", "product_id": "20b5", "address": "0000:3b:00.0"},
               {"vendor_id": "10de", "product_id": "20b5", "address": "0000:d8:00.0"}]
alias = {"name": "intel-vf", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF", "numa_policy": "required"}
alias = {"name": "a100", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}
"""

FLAVOR_TYPO = """\
{"name": "nfv.medium", "vcpus": 8, "ram": 16384, "disk": 40,
 "properties": "hw:cpu_policy='dedicated', hw:numa_nodes='1', pci_passthrough:alias='intel_vf:2'"}
"""

FLAVOR_FIXED = """\
{"name": "nfv.medium", "vcpus": 8, "ram": 16384, "disk": 40,
 "properties": "hw:cpu_policy='dedicated', hw:numa_nodes='1', pci_passthrough:alias='intel-vf:2'"}
"""

LEGACY_CONF = """\
[DEFAULT]
host = compute-legacy
pci_passthrough_devices = [{"label": "with_eth", "address": "0000:04:10.7"}]
"""


#: The operator's compute: one X710 on NUMA node 1 with 4 VFs; node 0 CPUs 0-3, node 1 CPUs 4-7.
STORY_HOST = ("1x intel-x710 numa=1 vfs=4; numa-nodes=2; cpus-per-node=4; "
              "cmdline=intel_iommu=on iommu=pt; hostname=compute-7")

#: device_spec holds the PF's product_id (1572); the VFs report 154c. Only node 0's CPUs are for guests.
STORY_COMPUTE = """\
[DEFAULT]
host = compute-7

[pci]
device_spec = {{"vendor_id": "8086", "product_id": "{product}"}}
alias = {{"name": "x710-vf", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF", "numa_policy": "required"}}

[compute]
cpu_dedicated_set = 1-3
"""

STORY_CONTROLLER = """\
[pci]
alias = {"name": "x710-vf", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF", "numa_policy": "required"}

[filter_scheduler]
enabled_filters = ComputeFilter,ImagePropertiesFilter,PciPassthroughFilter,NUMATopologyFilter
"""

STORY_FLAVOR = """\
{{"name": "nfv.vf", "vcpus": 2, "ram": 4096, "disk": 20,
 "properties": "hw:cpu_policy='dedicated', hw:numa_nodes='1', {extra}pci_passthrough:alias='x710-vf:2'"}}
"""


def _banner(text: str) -> None:
    print("\n" + "=" * 100)
    print(textwrap.fill(text, 100))
    print("=" * 100, flush=True)


def _run(args: list[str], expect: int) -> None:
    print(f"$ pcipass {' '.join(args)}", flush=True)
    code = climain.main(args)
    print(f"(exit code {code})", flush=True)
    if code != expect:
        raise SystemExit(f"demo: expected exit code {expect} from 'pcipass {' '.join(args)}', got {code}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pcipass-demo-") as tmp:
        d = Path(tmp)
        for name, text in (("nova.conf", BROKEN_CONF), ("nova-fixed.conf", FIXED_CONF),
                           ("flavor.json", FLAVOR_TYPO), ("flavor-fixed.json", FLAVOR_FIXED),
                           ("nova-2013.conf", LEGACY_CONF)):
            (d / name).write_text(text)

        _banner("1. An operator's nova.conf, as found on compute-12. Nova would refuse to start "
                "nova-compute with one line of it and silently mis-pool devices because of another. "
                "pcipass reads it exactly as Nova does and names every file, line and fix.")
        _run(["config", "check", "--nova-conf", str(d / "nova.conf")], expect=2)

        _banner("2. The flavor the tenants boot. Nova would answer 'PCI alias intel_vf is not "
                "defined'; pcipass adds which alias was meant.")
        _run(["flavor", "explain", "--nova-conf", str(d / "nova.conf"), "--flavor",
              str(d / "flavor.json")], expect=2)

        _banner("3. Fixed: the current option name, the tag spelled right, the GPU's real slot, "
                "and the flavor naming the alias that exists.")
        _run(["config", "check", "--nova-conf", str(d / "nova-fixed.conf")], expect=0)
        _run(["flavor", "explain", "--nova-conf", str(d / "nova-fixed.conf"), "--flavor",
              str(d / "flavor-fixed.json")], expect=0)

        _banner("4. A host still configured the 2013 way ('PCI passthrough base': labels). Today's "
                "Nova ignores it; pcipass prints the modern equivalent: resource classes per label, "
                "aliases naming them, and PCI in Placement.")
        _run(["config", "check", "--nova-conf", str(d / "nova-2013.conf")], expect=1)
        _story(d)
        _fleet(d)
        _store(d)
        _claims(d)
    print("\ndemo: every step behaved as expected.")
    return 0


def _story(d: Path) -> None:
    """An operator's two bugs, one hiding behind the other; the doctor finds both at once."""
    built = fakehost.build(d / "compute-7", STORY_HOST)
    compute = built.root / "etc/nova/nova.conf"
    compute.parent.mkdir(parents=True, exist_ok=True)
    compute.write_text(STORY_COMPUTE.format(product="1572"))
    (d / "controller.conf").write_text(STORY_CONTROLLER)
    flavor = d / "nfv-vf.json"
    flavor.write_text(STORY_FLAVOR.format(extra=""))
    doctor = ["doctor", "--host", str(built.root), "--nova-conf", str(d / "controller.conf"),
              "--flavor", str(flavor)]

    _banner("5. An operator's story, on a fake compute-7: an X710 whose 4 VFs sit on NUMA node 1, and "
            "the flavor nfv.vf (2 pinned vCPUs, alias x710-vf with numa_policy required). Its "
            "device_spec holds the PF's product_id 1572; the VFs report 154c. Only node 0's CPUs are "
            "in cpu_dedicated_set. The doctor finds both bugs in one run: the ID, and the NUMA problem "
            "that would remain after fixing it.")
    _run(doctor, expect=2)

    _banner("6. The product_id fixed (154c). The VFs are now in Nova's pools, and the doctor's second "
            "finding stands: under 'required' the VFs on node 1 are useless to an instance that can "
            "only be placed on node 0.")
    compute.write_text(STORY_COMPUTE.format(product="154c"))
    _run(doctor, expect=2)

    _banner("7. The policy relaxed on the flavor (hw:pci_numa_affinity_policy=preferred; adding node "
            "1's CPUs to cpu_dedicated_set would do too). The doctor turns green.")
    flavor.write_text(STORY_FLAVOR.format(extra="hw:pci_numa_affinity_policy='preferred', "))
    _run(doctor, expect=0)

    _banner("8. And the scheduler's answer: compute-7 takes nfv.vf, the instance on NUMA node 0, "
            "two VFs from node 1.")
    _run(["schedule", "--host", str(built.root), "--nova-conf", str(d / "controller.conf"),
          "--flavor", str(flavor)], expect=0)


FLEET = (
    ("rack1-a", "2x intel-x710 numa=1 vfs=4 vf-driver=iavf", "154c"),
    ("rack1-b", "2x intel-x710 numa=0 vfs=4 vf-driver=iavf", "154c"),
    ("rack2-a", "1x intel-82599 numa=0 vfs=4 vf-driver=ixgbevf", "154c"),
    ("rack2-b", "2x intel-x710 numa=0 vfs=4 vf-driver=iavf", None),
)
FLEET_CONTROLLER = """\
[pci]
alias = {"name": "sriov-nic", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF", "numa_policy": "required"}
[filter_scheduler]
enabled_filters = ComputeFilter,PciPassthroughFilter,NUMATopologyFilter
"""
FLEET_FLAVOR = """\
{"name": "nfv.small", "vcpus": 2, "ram": 2048, "disk": 20,
 "properties": {"hw:numa_nodes": "1", "pci_passthrough:alias": "sriov-nic:2"}}
"""


def _fleet(d: Path) -> None:
    """Four computes, one flavor: where Nova says 'No valid host', each host gets its reason."""
    args = ["schedule", "--nova-conf", str(d / "fleet-controller.conf"), "--flavor",
            str(d / "nfv-small.json"), "--instance-numa-nodes", "0"]
    (d / "fleet-controller.conf").write_text(FLEET_CONTROLLER)
    (d / "nfv-small.json").write_text(FLEET_FLAVOR)
    for name, profile, product in FLEET:
        built = fakehost.build(d / name, f"{profile}; hostname={name}; numa-nodes=2; "
                                         "cmdline=intel_iommu=on")
        if product is not None:
            conf = built.root / "etc/nova/nova.conf"
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text('[pci]\ndevice_spec = {"vendor_id": "8086", "product_id": "%s", '
                            '"physical_network": "physnet2"}\n' % product)
        args += ["--host", str(built.root)]
    _banner("9. A small fleet and the question 'what if the instance sits on NUMA node 0?'. Nova would "
            "pick one host or answer 'No valid host'; pcipass names the host it picks and why each "
            "other host was dropped: VFs on the wrong NUMA node under 'required', a NIC whose VFs "
            "are another model (82599, 10ed), and a compute with no device_spec at all.")
    _run(args, expect=0)


def _store(d: Path) -> None:
    """compute-7 kept in the device store: stored by the agent, listed, and kept as it is."""
    db = ["--db", f"sqlite:///{d / 'pcipass.db'}"]
    agent = ["agent", "--once", "--host", str(d / "compute-7"), *db]
    _banner("10. The device store: compute-7 kept in a SQLite file. The agent discovers the host, "
            "matches its device_spec and applies Nova's tracker rules in one transaction: its 4 VFs "
            "are stored available. A second run changes nothing; devices lists the store.")
    _run(["db", "upgrade", *db], expect=0)
    _run(agent, expect=0)
    _run(agent, expect=0)
    _run(["devices", *db], expect=0)


CLAIM_HOST = "1x intel-x710 numa=1 vfs=4; numa-nodes=2; cmdline=intel_iommu=on; hostname=compute-8"
CLAIM_COMPUTE = """\
[DEFAULT]
host = compute-8

[pci]
device_spec = [{"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet2"},
               {"vendor_id": "8086", "product_id": "1572"}]
"""
CLAIM_FLAVOR = '{"name": "demo.vf", "vcpus": 1, "ram": 512, ' \
               '"extra_specs": {"pci_passthrough:alias": "x710-vf:1"}}'
CLAIM_PORTS_FLAVOR = '{"name": "demo.port", "vcpus": 1, "ram": 512, "extra_specs": {}}'
FIRST, SECOND = "4f1c2a9e-0000-4000-8000-000000000001", "4f1c2a9e-0000-4000-8000-000000000002"


def _claims(d: Path) -> None:
    """Claims on compute-8, whose PF and VFs are both assignable: two claims, two devices, the
    guest's XML, and the PF back to available when the last VF is freed."""
    built = fakehost.build(d / "compute-8", CLAIM_HOST)
    conf = built.root / "etc/nova/nova.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(CLAIM_COMPUTE)
    (d / "demo-vf.json").write_text(CLAIM_FLAVOR)
    (d / "demo-port.json").write_text(CLAIM_PORTS_FLAVOR)
    db = ["--db", f"sqlite:///{d / 'claims.db'}"]
    _banner("11. Claims. compute-8 in its own store, its PF and 4 VFs assignable. A claim for the "
            "flavor demo.vf (one x710-vf): the scheduler runs over the store, and the VF is claimed "
            "in one transaction with a 300 s lease; its PF becomes unclaimable.")
    _run(["db", "upgrade", *db], expect=0)
    _run(["agent", "--once", "--host", str(built.root), *db], expect=0)
    _run(["schedule", *db, "--claim", "--consumer", FIRST, "--flavor", str(d / "demo-vf.json"),
          "--nova-conf", str(d / "controller.conf")], expect=0)
    _banner("12. A second consumer, through a Neutron port (with its MAC and VLAN): it gets a "
            "different VF. Repeating the first claim returns the same device. The PF stays "
            "unclaimable while a VF is busy.")
    _run(["schedule", *db, "--claim", "--consumer", SECOND, "--flavor", str(d / "demo-port.json"),
          "--port", "vnic_type=direct,physnet=physnet2,mac=fa:16:3e:4d:00:02,vlan=100"], expect=0)
    _run(["schedule", *db, "--claim", "--consumer", FIRST, "--flavor", str(d / "demo-vf.json"),
          "--nova-conf", str(d / "controller.conf")], expect=0)
    _run(["devices", *db, "--status", "unclaimable"], expect=0)
    _banner("13. The first claim's device as the guest gets it: the libvirt <hostdev> Nova writes.")
    _run(["allocation", "show", FIRST, *db, "-f", "libvirt"], expect=0)
    _banner("14. Both consumers freed: when the last VF is free, the PF is available again.")
    _run(["claim", "free", FIRST, *db], expect=0)
    _run(["claim", "free", SECOND, *db], expect=0)
    _run(["devices", *db], expect=0)


if __name__ == "__main__":
    sys.exit(main())
