"""Write a planned fake host into a directory, in the kernel's real sysfs layout.

The layout copies what the real-kernel captures (``corpus/realkernel``)
show: ``sys/bus/pci/devices/X`` are links into ``sys/devices/pci<dom:bus>/<root
port>/X``; ``driver`` links into ``sys/bus/pci/drivers/<name>``;
``iommu_group`` into ``sys/kernel/iommu_groups/N``; ``physfn``/``virtfnN``
between siblings; host files (cmdline, modules, dmesg, NUMA nodes, ACPI tables)
beside them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pcipass.fakehost import contents
from pcipass.fakehost import profile as profile_mod
from pcipass.fakehost.plan import ROOT_PORT, FakeDevice

COLLECTED_AT = "2024-01-01T00:00:00Z"


class Writer:
    """Writes a planned host into an empty directory, in the kernel's sysfs layout."""

    def __init__(self, root: Path, profile: profile_mod.HostProfile,
                 devices: tuple[FakeDevice, ...]) -> None:
        self.root = root
        self.profile = profile
        self.devices = devices
        self.iommu = profile.iommu_on
        self.by_addr = {d.address: d for d in devices}
        self.drivers: set[str] = set()

    def write(self) -> None:
        for dev in self.devices:
            self.device(dev)
        self.segments()
        self.drivers_dirs()
        self.iommu_files()
        self.numa()
        self.kernel_files()
        self.host_files()

    # -- helpers ------------------------------------------------------------------------

    def file(self, rel: str, content: str | bytes, mode: int = 0o444) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(data)
        os.chmod(path, mode)

    def link(self, rel: str, target_rel: str) -> None:
        """A relative symlink at ``rel`` pointing at ``target_rel`` (both root-relative)."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(target_rel, os.path.dirname(rel)), path)

    def placeholder(self, rel: str) -> None:
        """A write-only attribute (bind, reset, ...): empty, mode 0200, as the captures have."""
        self.file(rel, b"", 0o200)

    # -- devices ------------------------------------------------------------------------

    def device(self, dev: FakeDevice) -> None:
        d = dev.sysfs_path
        is_bridge = dev.secondary_bus is not None
        bound = dev.driver is not None
        attrs = {
            "vendor": f"0x{dev.vendor_id}", "device": f"0x{dev.product_id}",
            "subsystem_vendor": f"0x{dev.subsystem_vendor_id}",
            "subsystem_device": f"0x{dev.subsystem_id}", "class": f"0x{dev.class_code}",
            "revision": f"0x{dev.revision}",
            "numa_node": str(-1 if dev.numa_node is None else dev.numa_node),
            "local_cpulist": dev.local_cpulist, "local_cpus": contents.cpumask(dev.local_cpulist),
            "driver_override": dev.driver_override or "(null)", "enable": "1" if bound else "0",
            "irq": "0" if dev.dev_type == "type-VF" else "16", "ari_enabled": "1",
            "broken_parity_status": "0", "d3cold_allowed": "1", "msi_bus": "1",
            "consistent_dma_mask_bits": "64", "dma_mask_bits": "64",
            "power_state": "D0" if bound else "D3hot", "modalias": contents.modalias(dev),
            "uevent": contents.uevent(dev), "resource": contents.resource(),
        }
        model = self._model_link(dev)
        attrs["current_link_speed"] = attrs["max_link_speed"] = model[0]
        attrs["current_link_width"] = attrs["max_link_width"] = str(model[1])
        if not is_bridge:
            attrs["reset_method"] = "flr bus"
        else:
            attrs["secondary_bus_number"] = str(dev.secondary_bus)
            attrs["subordinate_bus_number"] = str(self._subordinate(dev))
            for name in ("aer_dev_correctable", "aer_dev_fatal", "aer_dev_nonfatal"):
                attrs[name] = "TOTAL_ERR_COR 0" if name.endswith("correctable") else "TOTAL_ERR_FATAL 0"
            for name in ("cor", "fatal", "nonfatal"):
                attrs[f"aer_rootport_total_err_{name}"] = "0"
        if dev.sriov_totalvfs is not None:
            attrs.update({
                "sriov_totalvfs": str(dev.sriov_totalvfs), "sriov_numvfs": str(dev.sriov_numvfs),
                "sriov_offset": str(dev.sriov_offset), "sriov_stride": str(dev.sriov_stride),
                "sriov_vf_device": f"{int(dev.sriov_vf_device or '0', 16):x}",
                "sriov_drivers_autoprobe": "1" if dev.sriov_drivers_autoprobe else "0",
                "sriov_vf_total_msix": "0",
            })
        writable = {"numa_node", "driver_override", "enable", "broken_parity_status",
                    "d3cold_allowed", "msi_bus", "reset_method", "sriov_numvfs",
                    "sriov_drivers_autoprobe"}
        for name, value in attrs.items():
            self.file(f"{d}/{name}", value + "\n", 0o644 if name in writable else 0o444)
        self.file(f"{d}/config", contents.config(dev, is_bridge), 0o644)
        self.file(f"{d}/resource0", b"", 0o600)
        for name in ("remove", "rescan") if dev.dev_type != "type-VF" else ():
            self.placeholder(f"{d}/{name}")
        self.placeholder(f"{d}/reset_subordinate" if is_bridge else f"{d}/reset")
        if dev.dev_type == "type-VF":
            self.placeholder(f"{d}/sriov_vf_msix_count")
        self.file(f"{d}/power/control", "on\n", 0o644)
        self.file(f"{d}/power/runtime_status", "active\n" if bound else "suspended\n")
        self.file(f"{d}/link/l1_aspm", "0\n", 0o644)
        if bound:
            self.file(f"{d}/msi_irqs/{32 + self.devices.index(dev)}", "msix\n")
        if is_bridge:
            self.file(f"{d}/pci_bus/0000:{dev.secondary_bus:02x}/cpuaffinity", "0\n")
            for service in ("001", "002", "004", "010"):  # PME, AER, hotplug, DPC port services
                self.file(f"{d}/{dev.address}:pcie{service}/uevent", "", 0o644)
        self.device_links(dev)
        for ifname, mac in dev.netdevs:
            self.netdev(dev, ifname, mac)

    def device_links(self, dev: FakeDevice) -> None:
        d = dev.sysfs_path
        self.link(f"sys/bus/pci/devices/{dev.address}", d)
        self.link(f"{d}/subsystem", "sys/bus/pci")
        if dev.driver is not None:
            self.drivers.add(dev.driver)
            self.link(f"{d}/driver", f"sys/bus/pci/drivers/{dev.driver}")
            self.link(f"sys/bus/pci/drivers/{dev.driver}/{dev.address}", d)
        if dev.iommu_group is not None:
            self.link(f"{d}/iommu_group", f"sys/kernel/iommu_groups/{dev.iommu_group}")
            self.link(f"sys/kernel/iommu_groups/{dev.iommu_group}/devices/{dev.address}", d)
            self.link(f"{d}/iommu", f"sys/devices/virtual/iommu/{self._iommu_name()}")
            self.link(f"sys/devices/virtual/iommu/{self._iommu_name()}/devices/{dev.address}", d)
        if dev.parent_addr is not None:
            self.link(f"{d}/physfn", self.by_addr[dev.parent_addr].sysfs_path)
            self.link(f"{self.by_addr[dev.parent_addr].sysfs_path}/virtfn{dev.vf_index}", d)

    def netdev(self, dev: FakeDevice, ifname: str, mac: str) -> None:
        base = f"{dev.sysfs_path}/net/{ifname}"
        self.file(f"{base}/address", mac + "\n")
        self.file(f"{base}/operstate", ("down" if dev.dev_type == "type-VF" else "up") + "\n")
        self.file(f"{base}/ifindex", f"{10 + self.devices.index(dev)}\n")
        self.file(f"{base}/dev_port", "0\n")
        self.link(f"sys/class/net/{ifname}", base)

    def _model_link(self, dev: FakeDevice) -> tuple[str, int]:
        for card in self.profile.cards:
            if card.model.vendor == dev.vendor_id and dev.product_id in (
                    card.model.device, card.model.vf_device):
                return card.model.link_speed, card.model.link_width
        return "8.0 GT/s PCIe", 16

    def _subordinate(self, port: FakeDevice) -> int:
        prefix = port.sysfs_path + "/"
        buses = [int(d.address[5:7], 16) for d in self.devices if d.sysfs_path.startswith(prefix)]
        return max(buses, default=port.secondary_bus or 0)

    def _iommu_name(self) -> str:
        return "ivhd0" if self.profile.platform == "amd" else "dmar0"

    # -- host-wide files -------------------------------------------------------------------

    def segments(self) -> None:
        for seg in sorted({d.sysfs_path.split("/")[2] for d in self.devices}):
            bus = seg[len("pci0000:"):]
            self.file(f"sys/devices/{seg}/uevent", "", 0o644)
            self.file(f"sys/devices/{seg}/pci_bus/0000:{bus}/cpuaffinity", "0\n")
            self.file(f"sys/devices/{seg}/power/control", "auto\n", 0o644)
        for name in ("drivers_autoprobe", "resource_alignment"):
            self.file(f"sys/bus/pci/{name}", "1\n" if name == "drivers_autoprobe" else "\n", 0o644)
        for name in ("rescan", "drivers_probe", "uevent"):
            self.placeholder(f"sys/bus/pci/{name}")
        (self.root / "sys/bus/pci/slots").mkdir(parents=True, exist_ok=True)
        (self.root / "sys/bus/pci/devices").mkdir(parents=True, exist_ok=True)

    def drivers_dirs(self) -> None:
        for drv in sorted(self.drivers | {"pcieport"}):
            base = f"sys/bus/pci/drivers/{drv}"
            for name in ("bind", "unbind", "new_id", "remove_id", "uevent"):
                self.placeholder(f"{base}/{name}")
            module = profile_mod.DRIVER_MODULES.get(drv, drv.replace("-", "_"))
            if module is not None and not (module == "vfio_pci" and self.profile.vfio == "builtin"):
                self.link(f"{base}/module", f"sys/module/{module}")
                self.module_dir(module)

    def module_dir(self, module: str) -> None:
        base = f"sys/module/{module}"
        if (self.root / base).exists():
            return
        self.file(f"{base}/initstate", "live\n")
        self.file(f"{base}/refcnt", "0\n")
        self.file(f"{base}/coresize", "16384\n")
        self.placeholder(f"{base}/uevent")
        (self.root / base / "holders").mkdir(parents=True, exist_ok=True)
        (self.root / base / "drivers").mkdir(parents=True, exist_ok=True)

    def iommu_files(self) -> None:
        groups = sorted({d.iommu_group for d in self.devices if d.iommu_group is not None})
        kind = "identity" if "iommu=pt" in self.profile.cmdline.split() else "DMA"
        for group in groups:
            base = f"sys/kernel/iommu_groups/{group}"
            self.file(f"{base}/type", kind + "\n", 0o644)
            self.file(f"{base}/reserved_regions", "0x00000000fee00000 0x00000000feefffff msi\n")
        (self.root / "sys/kernel/iommu_groups").mkdir(parents=True, exist_ok=True)
        (self.root / "sys/class/iommu").mkdir(parents=True, exist_ok=True)
        if self.iommu:
            name = self._iommu_name()
            self.file(f"sys/devices/virtual/iommu/{name}/uevent", "", 0o644)
            self.link(f"sys/class/iommu/{name}", f"sys/devices/virtual/iommu/{name}")
        table = "IVRS" if self.profile.platform == "amd" else "DMAR"
        self.file(f"sys/firmware/acpi/tables/{table}", table.encode() + bytes(44), 0o400)
        if self.profile.node_count > 1:
            self.file("sys/firmware/acpi/tables/SRAT", b"SRAT" + bytes(44), 0o400)

    def numa(self) -> None:
        nodes, per = self.profile.node_count, self.profile.cpus_per_node
        for node in range(nodes):
            base = f"sys/devices/system/node/node{node}"
            cpulist = f"{node * per}-{node * per + per - 1}"
            self.file(f"{base}/cpulist", cpulist + "\n")
            self.file(f"{base}/cpumap", contents.cpumask(cpulist) + "\n")
            kb = self.profile.mem_per_node_mb * 1024
            self.file(f"{base}/meminfo", f"Node {node} MemTotal:       {kb} kB\n"
                      f"Node {node} MemFree:        {kb // 2} kB\n")
            self.file(f"{base}/distance", " ".join("10" if n == node else "21" for n in range(nodes)) + "\n")
            for cpu in range(node * per, node * per + per):
                self.link(f"{base}/cpu{cpu}", f"sys/devices/system/cpu/cpu{cpu}")
        span = f"0-{nodes - 1}" if nodes > 1 else "0"
        for name in ("online", "possible", "has_cpu", "has_memory", "has_normal_memory"):
            self.file(f"sys/devices/system/node/{name}", span + "\n")
        for cpu in range(nodes * per):
            base = f"sys/devices/system/cpu/cpu{cpu}/topology"
            self.file(f"{base}/physical_package_id", f"{cpu // per}\n")
            self.file(f"{base}/core_id", f"{cpu % per}\n")
            self.file(f"{base}/die_id", "0\n")
            self.file(f"{base}/thread_siblings_list", f"{cpu}\n")
        cpus = f"0-{nodes * per - 1}"
        for name in ("online", "possible", "present"):
            self.file(f"sys/devices/system/cpu/{name}", cpus + "\n")

    def kernel_files(self) -> None:
        p = self.profile
        cmdline = f"BOOT_IMAGE=/boot/vmlinuz-{p.kernel} root=/dev/sda1 ro quiet {p.cmdline}".strip()
        self.file("proc/cmdline", cmdline + "\n")
        modules = sorted({profile_mod.DRIVER_MODULES.get(d, d.replace("-", "_")) or ""
                          for d in self.drivers} - {""})
        if p.vfio == "module":
            modules = sorted(set(modules) | {"vfio_pci", "vfio_pci_core", "vfio_iommu_type1", "vfio"})
            self.module_dir("vfio_pci")
            self.file("sys/module/vfio_pci/parameters/ids", "\n", 0o644)
        else:
            modules = [m for m in modules if m != "vfio_pci"]
            if p.vfio == "builtin":
                self.file("sys/module/vfio_pci/parameters/ids", "\n", 0o644)
                self.file("sys/module/vfio_pci/parameters/disable_vga", "N\n", 0o644)
        self.file("proc/modules", "".join(
            f"{m} 16384 0 - Live 0xffffffffc0{i:06x}000\n" for i, m in enumerate(modules)))
        self.file("cmd/dmesg.txt", self.dmesg(cmdline))
        self.file("cmd/uname-r.txt", p.kernel + "\n")

    def dmesg(self, cmdline: str) -> str:
        lines = [f"Linux version {self.profile.kernel} (fakehost)", f"Command line: {cmdline}"]
        if self.profile.platform == "amd":
            lines.append("ACPI: IVRS 0x00000000BDEF1000 0000D0 (v02 AMD    AmdTable 00000001)")
            lines.append(f"Kernel command line: {cmdline}")
            if self.iommu:
                lines += ["pci 0000:00:00.2: AMD-Vi: IOMMU performance counters supported",
                          "pci 0000:00:00.2: AMD-Vi: Found IOMMU cap 0x40",
                          "AMD-Vi: Interrupt remapping enabled",
                          "perf/amd_iommu: Detected AMD IOMMU #0 (2 banks, 4 counters/bank)."]
        else:
            lines.append("ACPI: DMAR 0x000000006F5E2000 0000F8 (v01 INTEL  FAKEHOST 00000001)")
            lines.append(f"Kernel command line: {cmdline}")
            if self.iommu:
                lines += ["DMAR: IOMMU enabled", "DMAR: Host address width 46",
                          "DMAR: DRHD base: 0x000000fbffc000 flags: 0x0",
                          "DMAR-IR: Enabled IRQ remapping in x2apic mode"]
            else:
                lines.append("DMAR: Host address width 46")
        for dev in self.devices:
            if dev.iommu_group is not None:
                lines.append(f"pci {dev.address}: Adding to iommu group {dev.iommu_group}")
        if self.iommu and self.profile.platform == "intel":
            lines.append("DMAR: Intel(R) Virtualization Technology for Directed I/O")
        if self.profile.vfio != "none":
            lines.append("VFIO - User Level meta-driver version: 0.3")
        for dev in self.devices:
            if dev.vfio_failed:
                lines.append(f"vfio-pci: probe of {dev.address} failed with error -22")
        return "".join(f"[{i * 0.01:12.6f}] {line}\n" for i, line in enumerate(lines))

    def host_files(self) -> None:
        p = self.profile
        self.file("etc/hostname", p.hostname + "\n", 0o644)
        self.file("manifest.json", json.dumps({
            "schema": "pcipass-bundle/1", "hostname": p.hostname, "collected_at": COLLECTED_AT,
            "collector": "pcipass-fakehost 1", "kernel": p.kernel, "redacted": [], "sources": {},
        }, indent=1) + "\n", 0o644)
