"""Each check against a fixture that breaks exactly its layer (the healthy host, one thing changed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from test_doctor_hosts import GPU, NIC, NVME, PF1, PROFILE, Host, healthy

from pcipass.doctor import model
from pcipass.services.doctor import report


def fired(d: report.Diagnosis) -> dict[str, list[model.Finding]]:
    out: dict[str, list[model.Finding]] = {}
    for f in d.findings:
        if f.severity != "skip" and f.id != "PCI-K006":  # the IOMMU mode: information on every host
            out.setdefault(f.id, []).append(f)
    return out


def only(d: report.Diagnosis, check_id: str, severity: str, *, no_valid_host: str | None = None,
         ) -> list[model.Finding]:
    """The findings of ``check_id``, after asserting nothing else was found.

    ``no_valid_host``: the breakage also leaves the flavor without a host, and
    PCI-C005 must name this layer as the host's first broken one.
    """
    got = fired(d)
    if no_valid_host is not None:
        [c5] = got.pop("PCI-C005")
        assert c5.severity == "fail" and f"compute-1: {no_valid_host} - " in c5.message, c5.message
    assert set(got) == {check_id}, {k: [f.message for f in v] for k, v in got.items()}
    assert {f.severity for f in got[check_id]} == {severity}
    return got[check_id]


def _set_conf(host: Host, old: str, new: str) -> None:
    host.replace("etc/nova/nova.conf", old, new)


# -- kernel --------------------------------------------------------------------------------------------


NO_GPU = PROFILE.replace("1x nvidia-a100 numa=1 driver=vfio-pci; ", "")


def _no_gpu(tmp_path: Path, profile: str) -> Host:
    host = healthy(tmp_path, profile)
    _set_conf(host, 'device_spec = {"vendor_id": "10de", "product_id": "20f1", "managed": "no"}\n', "")
    return host


def test_k001_iommu_off_in_firmware(tmp_path: Path) -> None:
    host = _no_gpu(tmp_path, NO_GPU.replace("intel_iommu=on iommu=pt", "iommu=pt"))
    os.chmod(host.root / "sys/firmware/acpi/tables/DMAR", 0o644)
    os.remove(host.root / "sys/firmware/acpi/tables/DMAR")
    dmesg = host.root / "cmd/dmesg.txt"
    # Without the table the kernel prints none of its DMAR lines ("ACPI: DMAR", "DMAR: Host address width").
    host.write("cmd/dmesg.txt", "".join(ln for ln in dmesg.read_text().splitlines(True) if "DMAR" not in ln))
    [f] = only(host.diagnose(), "PCI-K001", "fail")
    values = {e.source: e.value for e in f.evidence}
    assert values["sys/firmware/acpi/tables"] == "no DMAR or IVRS table"
    assert "intel_iommu" not in values["proc/cmdline"]
    assert "VT-d" in (f.fix or "")


def test_k002_iommu_off_on_cmdline(tmp_path: Path) -> None:
    host = _no_gpu(tmp_path, NO_GPU.replace("intel_iommu=on iommu=pt", "iommu=pt"))
    [f] = only(host.diagnose(), "PCI-K002", "fail")
    assert {e.value for e in f.evidence if e.source == "sys/firmware/acpi/tables"} == {"DMAR"}
    assert "intel_iommu=on" in (f.fix or "")


def test_k003_no_iommu_groups(tmp_path: Path) -> None:
    host = _no_gpu(tmp_path, NO_GPU + "; iommu=off")
    [f] = only(host.diagnose(), "PCI-K003", "fail")
    assert {e.value for e in f.evidence if e.source == "sys/kernel/iommu_groups"} == {"0 group(s)"}


def test_k004_vfio_absent(tmp_path: Path) -> None:
    host = healthy(tmp_path, PROFILE.replace("numa=1 driver=vfio-pci", "numa=1 driver=nvidia") + "; vfio=none")
    got = fired(host.diagnose())
    [f] = got["PCI-K004"]
    assert f.severity == "fail" and GPU in f.message
    assert set(got) == {"PCI-K004", "PCI-D003"}  # the GPU cannot be on vfio-pci either


def test_k004_vfio_absent_but_not_needed_yet_warns(tmp_path: Path) -> None:
    host = _no_gpu(tmp_path, NO_GPU + "; vfio=none")
    only(host.diagnose(), "PCI-K004", "warn")


def _move_to_group(host: Host, address: str, group: int) -> None:
    link = host.root / host.built.by_address()[address].sysfs_path / "iommu_group"
    os.remove(link)
    os.symlink(os.path.relpath(host.root / f"sys/kernel/iommu_groups/{group}", link.parent), link)


def test_k005_group_not_viable(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    gpu_group = host.built.by_address()[GPU].iommu_group
    assert gpu_group is not None
    _move_to_group(host, NIC, gpu_group)
    [f] = only(host.diagnose(), "PCI-K005", "fail")
    assert f.subject == GPU and f"{NIC}, is bound to the host driver igb" in f.message
    assert f"driverctl set-override {NIC} vfio-pci" in (f.fix or "")


def test_k005_bridge_in_group_warns(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    gpu_group = host.built.by_address()[GPU].iommu_group
    assert gpu_group is not None
    _move_to_group(host, "0000:80:01.0", gpu_group)
    [f] = only(host.diagnose(), "PCI-K005", "warn")
    assert "bridge 0000:80:01.0" in f.message


# -- driver --------------------------------------------------------------------------------------------


def test_d001_numvfs_zero(tmp_path: Path) -> None:
    host = healthy(tmp_path, PROFILE.replace("2x intel-82599 numa=0 vfs=4", "2x intel-82599 numa=0 vfs=0"))
    got = fired(host.diagnose())
    assert {f.subject for f in got["PCI-D001"]} == {PF1, "0000:02:00.0"}
    [missing] = got["PCI-S002"]  # the spec for the VFs matches nothing: a consequence, with the cause named
    assert f"product_id 10ed is the VF ID of the PF {PF1}, which has no VFs" in missing.message
    assert missing.fix == f"echo 63 > /sys/bus/pci/devices/{PF1}/sriov_numvfs"


def test_d001_an_alias_naming_the_vf_id_in_upper_case_expects_vfs(tmp_path: Path) -> None:
    # Only the alias names the VF ID, in upper case: Nova's pools compare alias IDs without case
    # (pci_device_prop_match), so the alias asks for these VFs and D001 must say so.
    host = healthy(tmp_path, PROFILE.replace("2x intel-82599 numa=0 vfs=4", "2x intel-82599 numa=0 vfs=0"))
    _set_conf(host, 'device_spec = {"vendor_id": "8086", "product_id": "10ed", '
                    '"physical_network": "physnet2"}\n', "")
    host.controller.write_text(host.controller.read_text().replace(
        '"vendor_id": "8086", "product_id": "10ed"', '"vendor_id": "8086", "product_id": "10ED"'))
    got = fired(host.diagnose())
    assert {f.subject for f in got["PCI-D001"]} == {PF1, "0000:02:00.0"}
    assert {f.message for f in got["PCI-D001"]} == {
        "SR-IOV is enabled on nothing: sriov_numvfs is 0 but alias 'vf' asks for 8086:10ed"}


def test_d002_numvfs_above_total(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.write(host.built.by_address()[PF1].sysfs_path + "/sriov_numvfs", "99\n")
    [f] = only(host.diagnose(), "PCI-D002", "fail")
    assert f.subject == PF1 and "99 is above sriov_totalvfs 63" in f.message


def test_d003_managed_no_not_on_vfio(tmp_path: Path) -> None:
    host = healthy(tmp_path, PROFILE.replace("numa=1 driver=vfio-pci", "numa=1 driver=nvidia"))
    [f] = only(host.diagnose(), "PCI-D003", "fail")
    assert f.subject == GPU and "nvidia" in f.message
    assert f.evidence[0].source == "etc/nova/nova.conf" and f.evidence[0].line == 6


def test_d004_vf_without_driver(tmp_path: Path) -> None:
    host = healthy(tmp_path, PROFILE.replace("numa=0 vfs=4", "numa=0 vfs=4 vf-driver=none"))
    found = only(host.diagnose(), "PCI-D004", "warn")
    assert len(found) == 8


def test_d005_pf_unbound(tmp_path: Path) -> None:
    host = healthy(tmp_path, PROFILE.replace("numa=0 vfs=4", "numa=0 vfs=4 driver=none"))
    got = fired(host.diagnose())
    assert {f.subject for f in got["PCI-D005"]} == {PF1, "0000:02:00.0"}
    assert {f.severity for f in got["PCI-D005"]} == {"fail"}


def test_d006_vfs_not_persisted(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    os.remove(host.root / "etc/udev/rules.d/70-sriov.rules")
    found = only(host.diagnose(), "PCI-D006", "warn")
    assert {f.subject for f in found} == {PF1, "0000:02:00.0"}
    assert all('ATTR{sriov_numvfs}="4"' in (f.fix or "") for f in found)


def test_d007_vfio_binding_not_persisted(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    os.remove(host.root / f"etc/driverctl.d/pci-{GPU}")
    [f] = only(host.diagnose(), "PCI-D007", "warn")
    assert f.fix == f"driverctl set-override {GPU} vfio-pci"


# -- device_spec / alias ---------------------------------------------------------------------------------


def test_s001_invalid_spec_with_file_and_line(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    _set_conf(host, '"managed": "no"}\n', '"managed": "no"}\ndevice_spec = {"vendor_id": "8086", "address": "0000:zz:00.0"}\n')
    got = fired(host.diagnose())
    [f] = got["PCI-S001"]
    assert f.evidence[0].source == "etc/nova/nova.conf" and f.evidence[0].line == 7
    assert set(got) == {"PCI-S001", "PCI-C005"}
    [c5] = got["PCI-C005"]
    assert "compute-1: device_spec - nova-compute would refuse to start" in c5.message


def test_s002_missing_with_near_miss(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    _set_conf(host, '"product_id": "20f1", "managed"', '"product_id": "20f1", "address": "0000:82:00.0", "managed"')
    got = fired(host.diagnose())
    [f] = got["PCI-S002"]
    assert "MISSING" in f.message and f"{GPU} (type-PCI) differs only in: address is {GPU}" in f.message
    assert json.loads(f.fix.split(" = ", 1)[1])["address"] == GPU  # type: ignore[union-attr]
    # The GPU is now unclaimed, so the vfio binding check has nothing to say; no other layer breaks.
    assert set(got) == {"PCI-S002"}


def test_s002_remote_managed_vfs_differing_only_by_the_unread_vpd_warn(tmp_path: Path) -> None:
    """pcipass never reads vpd, so "no serial" is "unknown": a warning with the command to check,
    not a MISSING failure with a fix that repeats the same line."""
    host = healthy(tmp_path)
    _set_conf(host, '"product_id": "10ed", "physical_network": "physnet2"}',
              '"product_id": "10ed", "physical_network": "physnet2", "remote_managed": "true"}')
    got = fired(host.diagnose())
    [f] = got["PCI-S002"]
    assert f.severity == "warn" and "remote_managed entry: its 8 device(s) match" in f.message
    assert {e.value for e in f.evidence[1:]} == {"card_serial_number: unknown (vpd is not read)"}
    assert f.fix is not None and f.fix.startswith("on the host: virsh nodedev-dumpxml pci_0000_01_10_0 ")
    assert not any(x.severity == "fail" and x.id == "PCI-S002" for x in host.diagnose().findings)


def test_s005_s011_pf_product_id_for_vfs(tmp_path: Path) -> None:
    """The operator's story: the PF's product_id in device_spec and alias."""
    host = healthy(tmp_path)
    _set_conf(host, '"product_id": "10ed"', '"product_id": "10fb"')
    host.replace(str(host.controller), '"product_id": "10ed"', '"product_id": "10fb"')
    got = fired(host.diagnose())
    phrase = (f"product_id 10fb matches the PF {PF1}; its 4 VFs report 10ed. For VFs write 10ed, "
              "and use device_type type-VF in the alias.")
    [s5] = got["PCI-S005"]
    assert s5.severity == "fail" and phrase in s5.message
    [s11] = got["PCI-S011"]
    assert s11.severity == "warn" and s11.message.startswith(f"product_id 10fb matches the PF {PF1} (and 1 more PF(s)); its 4 VFs report 10ed.")
    assert json.loads(s11.fix.split(" = ", 1)[1])["product_id"] == "10ed"  # type: ignore[union-attr]


def test_s003_spec_claims_default_route_nic(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    _set_conf(host, "\n[compute]", 'device_spec = {"vendor_id": "8086", "product_id": "1521"}\n\n[compute]')
    [f] = only(host.diagnose(), "PCI-S003", "fail")
    assert f.subject == NIC
    assert [e for e in f.evidence if e.source == "proc/net/route"][0].line == 2


def test_s012_spec_claims_root_disk(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    _set_conf(host, "\n[compute]", 'device_spec = {"vendor_id": "1b36", "product_id": "0010"}\n\n[compute]')
    [f] = only(host.diagnose(), "PCI-S012", "fail")
    assert f.subject == NVME and "nvme0n1p2" in f.message


def test_s004_pf_and_vfs(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    _set_conf(host, "\n[compute]", 'device_spec = {"vendor_id": "8086", "product_id": "10fb"}\n\n[compute]')
    got = fired(host.diagnose())
    assert {f.severity for f in got["PCI-S004"]} == {"warn"}
    assert "Either the parent PF or its children VFs can be configured." in got["PCI-S004"][0].message


def test_s006_duplicate_alias_conflict(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.controller.write_text(host.controller.read_text().replace(
        "\n[filter_scheduler]",
        'alias = {"name": "vf", "vendor_id": "8086", "product_id": "10fb", "device_type": "type-PF", '
        '"numa_policy": "required"}\n\n[filter_scheduler]'))
    got = fired(host.diagnose())
    [f] = got["PCI-S006"]
    assert "Device type mismatch for alias 'vf'" in f.message and f.host is None
    assert f.evidence[0].line == 4
    # Nova refuses every PCI flavor while the table is invalid: the flavor layer says so too.
    assert {x.id for x in got["PCI-F004"]} == {"PCI-F004"}


def test_s007_typo_tag(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    _set_conf(host, '"physical_network"', '"physical_netwrok"')
    got = fired(host.diagnose())
    assert [f.severity for f in got["PCI-S007"]] == ["warn"]
    assert "physical_network" in (got["PCI-S007"][0].fix or "")


def test_s008_deprecated_option_name(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    _set_conf(host, 'device_spec = {"vendor_id": "8086"', 'passthrough_whitelist = {"vendor_id": "8086"')
    _set_conf(host, 'device_spec = {"vendor_id": "10de"', 'passthrough_whitelist = {"vendor_id": "10de"')
    found = only(host.diagnose(), "PCI-S008", "warn")
    assert [f.evidence[0].line for f in found] == [5, 6]
    assert found[0].fix == '[pci] device_spec = {"vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet2"}'


def test_s013_shadowed_entry(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    _set_conf(host, "\n[compute]", 'device_spec = {"vendor_id": "8086", "product_id": "10ed", "trusted": "true"}\n\n[compute]')
    only(host.diagnose(), "PCI-S013", "warn")


# -- NUMA ----------------------------------------------------------------------------------------------


def test_n001_unknown_numa_under_required(tmp_path: Path) -> None:
    host = healthy(tmp_path, PROFILE.replace("2x intel-82599 numa=0", "2x intel-82599 numa=-1"))
    found = only(host.diagnose(), "PCI-N001", "fail", no_valid_host="numa")
    assert "8 of the 8 device(s) for alias 'vf'" in found[0].message


def test_n003_count_split_across_nodes(tmp_path: Path) -> None:
    host = healthy(tmp_path, PROFILE.replace("2x intel-82599 numa=0 vfs=4", "1x intel-82599 numa=0 vfs=4; 1x intel-82599 numa=1 vfs=4"))
    host.set_flavor(**{"pci_passthrough:alias": "vf:6"})
    [f] = only(host.diagnose(), "PCI-N003", "fail", no_valid_host="numa")
    assert "node 0: 4, node 1: 4" in f.message


# -- flavor --------------------------------------------------------------------------------------------


def test_f001_undefined_alias(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.set_flavor(**{"pci_passthrough:alias": "vff:1"})
    [f] = only(host.diagnose(), "PCI-F001", "fail")
    assert "PCI alias vff is not defined" in f.message and "did you mean 'vf'" in (f.fix or "")


def test_f002_malformed_alias_value(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.set_flavor(**{"pci_passthrough:alias": "vf:two"})
    found = only(host.diagnose(), "PCI-F002", "fail")
    assert any("'two' is not an integer" in f.message for f in found)


def test_f003_image_policy_conflict(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.set_flavor(**{"hw:pci_numa_affinity_policy": "required"})
    image = tmp_path / "image.json"
    image.write_text(json.dumps({"name": "img", "properties": {"hw_pci_numa_affinity_policy": "preferred"}}))
    [f] = only(host.diagnose(image=str(image)), "PCI-F003", "fail")
    assert "ImagePCINUMAPolicyForbidden" in f.message


def test_f004_invalid_policy(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.set_flavor(**{"hw:pci_numa_affinity_policy": "strict"})
    [f] = only(host.diagnose(), "PCI-F004", "fail")
    assert "Invalid PCI NUMA affinity configured: strict" in f.message
    assert f.evidence[0].value == "hw:pci_numa_affinity_policy=strict"


def test_f004_bad_numa_nodes_points_at_hw_numa_nodes(tmp_path: Path) -> None:
    """The evidence is the extra spec Nova refused, not the PCI policy (a code with "NUMA" in
    its name is not always about the PCI policy)."""
    host = healthy(tmp_path)
    host.set_flavor(**{"hw:numa_nodes": "0"})
    [f] = only(host.diagnose(), "PCI-F004", "fail")
    assert f.message.startswith("InvalidNUMANodesNumber: ")
    assert f.evidence[0].value == "hw:numa_nodes=0"


# -- scheduler config ------------------------------------------------------------------------------------


def test_c001_no_pci_filter(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.replace(str(host.controller), "PciPassthroughFilter,", "")
    [f] = only(host.diagnose(), "PCI-C001", "fail")
    assert f.fix is not None and f.fix.endswith(",NUMATopologyFilter,PciPassthroughFilter")
    assert f.evidence[0].line == 6


def test_c002_no_numa_filter(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.replace(str(host.controller), ",NUMATopologyFilter", "")
    [f] = only(host.diagnose(), "PCI-C002", "fail")
    assert "nfv.small" in f.message


def test_c003_pci_in_placement_without_reporting(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    host.replace(str(host.controller), "[filter_scheduler]\n", "[filter_scheduler]\npci_in_placement = True\n")
    [f] = only(host.diagnose(), "PCI-C003", "fail")
    assert f.host == "compute-1" and f.fix == "[pci] report_in_placement = True (on every compute, then restart nova-compute)"


def test_c004_dedicated_flavor_without_cpu_dedicated_set(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    _set_conf(host, "cpu_dedicated_set = 1-3,5-7\n", "")
    [f] = only(host.diagnose(), "PCI-C004", "fail")
    assert "nfv.small" in f.subject


# -- NUMA fit (scheduling core) and "No valid host" --------------------------------------------------------

VFS_ON_NODE1 = PROFILE.replace("2x intel-82599 numa=0 vfs=4", "2x intel-82599 numa=1 vfs=4")


def _node0_cpus_only(host: Host) -> None:
    _set_conf(host, "cpu_dedicated_set = 1-3,5-7\n", "cpu_dedicated_set = 1-3\n")


def test_n002_devices_on_a_node_the_instance_cannot_use(tmp_path: Path) -> None:
    host = healthy(tmp_path, VFS_ON_NODE1)
    _node0_cpus_only(host)
    d = host.diagnose()
    [f] = only(d, "PCI-N002", "fail", no_valid_host="numa")
    assert f.subject == "flavor 'nfv.small'"
    assert ("alias 'vf' needs 2 device(s) under 'required': the 8 VFs it can use sit on NUMA node 1, but the "
            "instance (2 vCPUs pinned, 2048 MiB) can only be placed on NUMA node(s) 0") in f.message
    assert "host NUMA node 1 has 0" in f.message
    values = {e.source: e.value for e in f.evidence}
    vf = sorted(x.address for x in host.built.devices if x.dev_type == "type-VF")[0]
    assert values[f"sys/bus/pci/devices/{vf}/numa_node"] == "1"
    assert values["sys/devices/system/node/node1"].startswith("CPUs (4,5,6,7): 0 dedicated (none)")
    assert [e.line for e in f.evidence if e.value == "cpu_dedicated_set = 1-3"] == [9]
    assert any('"numa_policy": "required"' in e.value and e.line == 2 for e in f.evidence)  # the alias
    assert f.fix is not None and "add NUMA node 1's CPUs (4,5,6,7) to [compute] cpu_dedicated_set" in f.fix
    assert f.fix.endswith("openstack flavor set nfv.small --property hw:pci_numa_affinity_policy=preferred")
    row = d.doc["mapping"]["flavors"][0]
    [h] = row["hosts"]
    assert (h["fits"], h["first_broken_layer"], row["chosen_host"]) == (False, "numa", None)
    assert h["reasons"][0]["message"] == "guest cell 0 needs 2 dedicated CPUs but host NUMA node 1 has 0"


def test_n002_fix_by_relaxing_the_policy_turns_the_host_green(tmp_path: Path) -> None:
    host = healthy(tmp_path, VFS_ON_NODE1)
    _node0_cpus_only(host)
    host.set_flavor(**{"hw:pci_numa_affinity_policy": "preferred"})
    d = host.diagnose()
    assert fired(d) == {}
    [h] = d.doc["mapping"]["flavors"][0]["hosts"]
    assert h["fits"] and h["instance_numa_nodes"] == [0] and {x["numa_node"] for x in h["devices"]} == {1}


def test_n002_runs_on_the_near_misses_before_the_id_is_fixed(tmp_path: Path) -> None:
    """The issue's story: the PF's product_id in device_spec, and VFs where the instance cannot go."""
    host = healthy(tmp_path, VFS_ON_NODE1)
    _node0_cpus_only(host)
    _set_conf(host, '"product_id": "10ed"', '"product_id": "10fb"')
    got = fired(host.diagnose())
    assert set(got) == {"PCI-S011", "PCI-N002", "PCI-C005"}
    [n2] = got["PCI-N002"]
    assert n2.severity == "fail" and n2.message.startswith(
        "after you fix the product_id 10fb -> 10ed in device_spec entry 0, these 8 VFs on NUMA node 1 still "
        "won't fit alias 'vf' under required: the instance (2 vCPUs pinned, 2048 MiB) can only be placed on "
        "NUMA node(s) 0")
    assert any(e.value.startswith('device_spec = {"vendor_id": "8086", "product_id": "10fb"') for e in n2.evidence)
    [c5] = got["PCI-C005"]
    assert "compute-1: device_spec - 8 VFs 8086:10ed would match alias 'vf' but no [pci] device_spec" in c5.message
    assert "PCI-S011" in (c5.fix or "")


def test_n002_quiet_when_the_corrected_spec_would_fit(tmp_path: Path) -> None:
    """Near misses whose correction fits: only the ID findings, no NUMA noise."""
    host = healthy(tmp_path)
    _set_conf(host, '"product_id": "10ed"', '"product_id": "10fb"')
    got = fired(host.diagnose())
    assert "PCI-N002" not in got and {"PCI-S011", "PCI-C005"} <= set(got)


def test_c005_flavor_too_big_for_any_node(tmp_path: Path) -> None:
    host = healthy(tmp_path)
    flavor = json.loads(host.flavor.read_text())
    host.flavor.write_text(json.dumps(dict(flavor, vcpus=6)))
    d = host.diagnose()
    [f] = only(d, "PCI-C005", "fail")
    assert f.host is None and f.subject == "flavor 'nfv.small'"
    assert "compute-1: numa - guest cell 0 needs 6 dedicated CPUs but host NUMA node" in f.message
    assert (f.fix or "").startswith("place the instance where its devices are")


def test_flavor_mapping_kernel_failure_beats_the_numa_reason(tmp_path: Path) -> None:
    host = healthy(tmp_path, VFS_ON_NODE1.replace("intel_iommu=on iommu=pt", "iommu=pt"))
    _node0_cpus_only(host)
    d = host.diagnose()
    assert {"PCI-K002", "PCI-N002"} <= set(fired(d))
    [h] = d.doc["mapping"]["flavors"][0]["hosts"]
    assert h["fits"] is False and h["first_broken_layer"] == "kernel"
    assert h["reasons"] and all(r["layer"] == "kernel" and r["check"].startswith("PCI-K") for r in h["reasons"])


def test_flavor_mapping_host_with_failing_driver_does_not_fit(tmp_path: Path) -> None:
    """The core would place the flavor, but a driver-layer failure on the host means the boot fails there."""
    host = healthy(tmp_path)
    host.replace(f"sys/bus/pci/devices/{PF1}/sriov_numvfs", "4", "0")
    d = host.diagnose()
    [h] = d.doc["mapping"]["flavors"][0]["hosts"]
    assert "PCI-D001" in fired(d) or "PCI-D002" in fired(d)
    assert (h["fits"], h["first_broken_layer"]) == (False, "driver")
    assert d.doc["mapping"]["flavors"][0]["chosen_host"] is None
