"""A healthy SR-IOV + GPU compute as a fake host root, and the doctor's verdict on it.

Other doctor tests import :func:`healthy` and break exactly one layer of it.
The host: two 82599 PFs with 4 VFs each (the VFs are for physnet2), an I350
carrying the default route, an NVMe holding ``/``, and an A100 pre-bound to
vfio-pci (``managed: "no"``) on NUMA node 1, with the boot files that keep
the VFs and the vfio binding across reboots.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from pcipass import fakehost
from pcipass.doctor import runner
from pcipass.services.doctor import gather, report

PROFILE = ("2x intel-82599 numa=0 vfs=4; 1x intel-i350 numa=0; 1x qemu-nvme numa=0; "
           "1x nvidia-a100 numa=1 driver=vfio-pci; cmdline=intel_iommu=on iommu=pt; hostname=compute-1")
PF1, PF2, NIC, NVME, GPU = "0000:01:00.0", "0000:02:00.0", "0000:03:00.0", "0000:04:00.0", "0000:81:00.0"

COMPUTE_CONF = """\
[DEFAULT]
host = compute-1

[pci]
device_spec = {"vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet2"}
device_spec = {"vendor_id": "10de", "product_id": "20f1", "managed": "no"}

[compute]
cpu_dedicated_set = 1-3,5-7
"""

CONTROLLER_CONF = """\
[pci]
alias = {"name": "vf", "vendor_id": "8086", "product_id": "10ed", "device_type": "type-VF", "numa_policy": "required"}
alias = {"name": "a100", "vendor_id": "10de", "product_id": "20f1", "device_type": "type-PCI"}

[filter_scheduler]
enabled_filters = ComputeFilter,ImagePropertiesFilter,PciPassthroughFilter,NUMATopologyFilter
"""

FLAVOR = {"name": "nfv.small", "vcpus": 2, "ram": 2048, "disk": 10,
          "properties": {"hw:cpu_policy": "dedicated", "hw:numa_nodes": "1",
                         "pci_passthrough:alias": "vf:2"}}


@dataclasses.dataclass
class Host:
    """A built host root plus the controller config and flavor files beside it."""

    root: Path
    built: fakehost.BuiltHost
    controller: Path
    flavor: Path

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            os.chmod(path, 0o644)
        path.write_text(text)
        return path

    def replace(self, rel: str, old: str, new: str) -> None:
        path = self.root / rel if not rel.startswith("/") else Path(rel)
        text = path.read_text()
        assert old in text, f"{old!r} not in {path}"
        os.chmod(path, 0o644)
        path.write_text(text.replace(old, new))

    def set_flavor(self, **props: str) -> None:
        doc = dict(FLAVOR, properties=dict(FLAVOR["properties"], **props))  # type: ignore[arg-type]
        self.flavor.write_text(json.dumps(doc))

    def inputs(self, **kw: Any) -> gather.Inputs:
        args: dict[str, Any] = {"hosts": [str(self.root)], "nova_conf": [str(self.controller)],
                                "flavors": [str(self.flavor)]}
        args.update(kw)
        return gather.Inputs(**args)

    def diagnose(self, **kw: Any) -> report.Diagnosis:
        select = kw.pop("select", ())
        return report.diagnose(self.inputs(**kw), runner.Selection(tuple(select)))


def healthy(tmp_path: Path, profile: str = PROFILE) -> Host:
    built = fakehost.build(tmp_path / "compute-1", profile)
    root = built.root
    host = Host(root, built, tmp_path / "controller.conf", tmp_path / "flavor.json")
    host.write("etc/nova/nova.conf", COMPUTE_CONF)
    host.controller.write_text(CONTROLLER_CONF)
    host.set_flavor()
    by_id = {(d.vendor_id, d.product_id): d for d in built.devices if d.dev_type != "type-VF"}
    nic_if = by_id[("8086", "1521")].netdevs[0][0]
    host.write("proc/net/route",
               "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
               f"{nic_if}\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
               f"{nic_if}\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")
    host.write("proc/mounts", "sysfs /sys sysfs rw 0 0\n/dev/nvme0n1p2 / ext4 rw,relatime 0 0\n")
    nvme = by_id[("1b36", "0010")].sysfs_path
    part = root / nvme / "nvme/nvme0/nvme0n1/nvme0n1p2"
    part.mkdir(parents=True)
    (root / "sys/class/block").mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(part, root / "sys/class/block"), root / "sys/class/block/nvme0n1p2")
    host.write("etc/udev/rules.d/70-sriov.rules",
               'ACTION=="add", SUBSYSTEM=="net", ENV{ID_NET_DRIVER}=="ixgbe", ATTR{device/sriov_numvfs}="4"\n')
    # The Neutron SR-IOV agent serves physnet2 on the 82599 PFs, whose VFs device_spec offers for it.
    pf_ifs = sorted(n[0] for d in built.devices if (d.vendor_id, d.product_id) == ("8086", "10fb") for n in d.netdevs[:1])
    if pf_ifs:
        host.write("etc/neutron/plugins/ml2/sriov_agent.ini",
                   "[sriov_nic]\nphysical_device_mappings = " + ",".join(f"physnet2:{i}" for i in pf_ifs) + "\n")
    gpu = by_id.get(("10de", "20f1"))
    if gpu is not None:
        host.write(f"etc/driverctl.d/pci-{gpu.address}", "vfio-pci\n")
    return host


def severities(d: report.Diagnosis, *, skip: bool = False) -> list[tuple[str, str, str]]:
    return [(f.id, f.severity, f.subject) for f in d.findings if skip or f.severity != "skip"]


def test_healthy_host_is_clean(tmp_path: Path) -> None:
    d = healthy(tmp_path).diagnose()
    # Only the IOMMU mode, as information: the fake host boots with "intel_iommu=on iommu=pt".
    assert severities(d) == [("PCI-K006", "info", "IOMMU mode")]
    assert d.exit_code == 0
    # Every check ran: nothing was skipped for lack of facts.
    assert [f for f in d.findings if f.severity == "skip"] == []


def test_healthy_mapping_table(tmp_path: Path) -> None:
    d = healthy(tmp_path).diagnose()
    specs = d.doc["mapping"]["specs"]
    assert [(s["index"], s["status"], len(s["devices"])) for s in specs] == [(0, "MATCHED", 8), (1, "MATCHED", 1)]
    gpu = specs[1]["devices"][0]
    assert gpu == {"address": GPU, "vendor_id": "10de", "product_id": "20f1", "dev_type": "type-PCI",
                   "driver": "vfio-pci", "numa_node": 1, "iommu_group": gpu["iommu_group"]}
    assert isinstance(gpu["iommu_group"], int)
    aliases = {a["name"]: a for a in d.doc["mapping"]["aliases"]}
    assert [h["device_specs"] for h in aliases["vf"]["hosts"]] == [[0]]
    assert len(aliases["vf"]["hosts"][0]["devices"]) == 8
    assert {(dev["dev_type"], dev["numa_node"]) for dev in aliases["vf"]["hosts"][0]["devices"]} == {("type-VF", 0)}
    assert [h["devices"][0]["address"] for h in aliases["a100"]["hosts"]] == [GPU]
    flavors = d.doc["mapping"]["flavors"]
    assert flavors[0]["flavor"] == "nfv.small"
    assert flavors[0]["requests"][0]["alias_name"] == "vf"
    [row] = flavors[0]["hosts"]
    assert (row["name"], row["fits"], row["first_broken_layer"], row["reasons"]) == ("compute-1", True, None, [])
    # Two VFs of the 82599s on node 0, where the 2 pinned vCPUs fit (cpu_dedicated_set 1-3 there).
    assert row["instance_numa_nodes"] == [0]
    assert len(row["devices"]) == 2 and {(x["dev_type"], x["numa_node"], x["alias_name"]) for x in row["devices"]} == {
        ("type-VF", 0, "vf")}
    assert flavors[0]["chosen_host"] == "compute-1"


def test_root_disk_and_route_facts_are_read(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    with gather.gather(host.inputs()) as g:
        src = g.hosts[0]
        disk = src.get("root_disk")
        route = src.get("default_route")
        persist = src.get("persistence")
    assert disk.address == NVME and disk.block == "nvme0n1p2" and disk.line == 2
    assert [i for i, _ in route.default] == [host.built.by_address()[NIC].netdevs[0][0]]
    assert {p for p, _ in persist.files} == {"etc/udev/rules.d/70-sriov.rules", f"etc/driverctl.d/pci-{GPU}"}
