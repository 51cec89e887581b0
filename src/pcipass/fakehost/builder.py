"""Write a fake host root in the kernel's real sysfs layout.

The layout copies what the real-kernel captures (``corpus/realkernel``)
show: ``sys/bus/pci/devices/X`` are links into ``sys/devices/pci<dom:bus>/<root
port>/X``; ``driver`` links into ``sys/bus/pci/drivers/<name>``;
``iommu_group`` into ``sys/kernel/iommu_groups/N``; ``physfn``/``virtfnN``
between siblings; and each function has a ``config`` file whose header and
capabilities (PCI Express, SR-IOV for PFs) let ``lspci -O sysfs.path=`` read
it like a real device. VFs' config reads ``ffff`` for vendor/device, as
hardware does.

Planning (addresses, groups, drivers) is separate from writing, so tests can
compare what the builder meant with what the readers see.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tarfile
from pathlib import Path

from pcipass.fakehost import profile as profile_mod

ROOT_PORT = ("8086", "2030", "060400", "04")  # Sky Lake-E PCI Express Root Port A
BUS_STEP_MAX = 0x80
COLLECTED_AT = "2024-01-01T00:00:00Z"


@dataclasses.dataclass(frozen=True, slots=True)
class FakeDevice:
    """One PCI function the builder writes, with the facts a reader should find."""

    address: str
    vendor_id: str
    product_id: str
    class_code: str
    revision: str
    subsystem_vendor_id: str
    subsystem_id: str
    dev_type: str
    sysfs_path: str  # relative to the root: sys/devices/pci..../<address>
    numa_node: int | None
    local_cpulist: str
    driver: str | None = None
    driver_override: str | None = None
    parent_addr: str | None = None
    vf_index: int | None = None
    iommu_group: int | None = None
    netdevs: tuple[tuple[str, str], ...] = ()  # (ifname, mac)
    sriov_totalvfs: int | None = None
    sriov_numvfs: int | None = None
    sriov_vf_device: str | None = None
    sriov_drivers_autoprobe: bool | None = None
    sriov_offset: int | None = None
    sriov_stride: int | None = None
    secondary_bus: int | None = None
    vfio_failed: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class BuiltHost:
    """What :func:`build` wrote: the root directory and every device in it."""

    root: Path
    profile: profile_mod.HostProfile
    devices: tuple[FakeDevice, ...]

    @property
    def hostname(self) -> str:
        return self.profile.hostname

    def by_address(self) -> dict[str, FakeDevice]:
        return {d.address: d for d in self.devices}


# -- planning -----------------------------------------------------------------------------


def plan(profile: profile_mod.HostProfile) -> tuple[FakeDevice, ...]:
    """Addresses, drivers and groups of every function of ``profile`` (no IO)."""
    nodes = profile.node_count
    step = max(0x10, min(BUS_STEP_MAX, 0x100 // nodes))
    next_bus = {n: n * step + 1 for n in range(nodes)}
    next_port = {n: 1 for n in range(nodes)}
    devices: list[FakeDevice] = []
    iommu = profile.iommu_on
    for card in profile.cards:
        node = card.numa if card.numa >= 0 else 0
        if node >= nodes:
            raise profile_mod.FakeHostProfileInvalid(
                item=card.model.key, reason=f"numa={card.numa} but the host has {nodes} node(s)")
        for _ in range(card.count):
            segment = node * step
            port = next_port[node]
            next_port[node] += 1
            bus = next_bus[node]
            span = _bus_span(card)
            next_bus[node] += span
            if port > 0x1F or next_bus[node] > segment + step:
                raise profile_mod.FakeHostProfileInvalid(
                    item=card.model.key, reason=f"too many cards on NUMA node {node}")
            devices.extend(_plan_card(profile, card, segment, port, bus, iommu))
    groups = iter(range(len(devices)))
    if iommu:
        devices = [dataclasses.replace(d, iommu_group=next(groups)) for d in devices]
    return tuple(devices)


def _bus_span(card: profile_mod.CardSpec) -> int:
    last = card.model.vf_offset + max(card.vfs - 1, 0) * card.model.vf_stride if card.vfs else 0
    return (last >> 8) + 1


def _plan_card(profile: profile_mod.HostProfile, card: profile_mod.CardSpec, segment: int,
               port: int, bus: int, iommu: bool) -> list[FakeDevice]:
    node = card.numa if card.numa >= 0 else None
    cpus = _node_cpulist(profile, card.numa if card.numa >= 0 else None)
    seg_dir = f"sys/devices/pci0000:{segment:02x}"
    port_addr = f"0000:{segment:02x}:{port:02x}.0"
    port_dir = f"{seg_dir}/{port_addr}"
    model = card.model
    vendor, device, cls, rev = ROOT_PORT
    out = [FakeDevice(port_addr, vendor, device, cls, rev, "8086", "0000", "type-PCI", port_dir,
                      node, cpus, driver="pcieport", secondary_bus=bus)]
    pf_addr = f"0000:{bus:02x}:00.0"
    driver, override, failed = _binding(card.pf_driver, iommu)
    sriov = model.totalvfs > 0  # the capability (sriov_* files), even when firmware says 0 VFs
    netdevs = _netdevs(model, driver, bus, 0, 0, None)
    pf = FakeDevice(
        pf_addr, model.vendor, model.device, model.class_code, model.revision,
        model.subsystem_vendor, model.subsystem_device,
        "type-PF" if sriov and card.sriov_totalvfs > 0 else "type-PCI",
        f"{port_dir}/{pf_addr}", node, cpus, driver=driver, driver_override=override,
        netdevs=netdevs, vfio_failed=failed,
        sriov_totalvfs=card.sriov_totalvfs if sriov else None,
        sriov_numvfs=card.vfs if sriov else None,
        sriov_vf_device=model.vf_device if sriov else None,
        sriov_drivers_autoprobe=card.autoprobe if sriov else None,
        sriov_offset=model.vf_offset if sriov else None,
        sriov_stride=model.vf_stride if sriov else None)
    out.append(pf)
    pf_if = netdevs[0][0] if netdevs else None
    for index in range(card.vfs):
        rid = (bus << 8) + model.vf_offset + index * model.vf_stride
        vf_addr = f"0000:{rid >> 8:02x}:{(rid & 0xFF) >> 3:02x}.{rid & 7:x}"
        vdrv, voverride, vfailed = _binding(card.bound_vf_driver, iommu)
        out.append(FakeDevice(
            vf_addr, model.vendor, model.vf_device or model.device, model.class_code,
            model.revision, model.subsystem_vendor, model.subsystem_device, "type-VF",
            f"{port_dir}/{vf_addr}", node, cpus, driver=vdrv, driver_override=voverride,
            parent_addr=pf_addr, vf_index=index, vfio_failed=vfailed,
            netdevs=_netdevs(model, vdrv, rid >> 8, (rid & 0xFF) >> 3, rid & 7,
                             f"{pf_if}v{index}" if pf_if else None)))
    return out


def _binding(driver: str | None, iommu: bool) -> tuple[str | None, str | None, bool]:
    """(bound driver, driver_override, vfio bind failed): vfio-pci binds via driver_override
    and fails without an IOMMU, as in the lab-noiommu capture."""
    if driver != "vfio-pci":
        return driver, None, False
    return ("vfio-pci" if iommu else None), "vfio-pci", not iommu


_NET_DRIVERS = {"i40e", "iavf", "i40evf", "ice", "ixgbe", "ixgbevf", "igb", "igbvf", "mlx5_core"}


def _netdevs(model: profile_mod.Model, driver: str | None, bus: int, slot: int, func: int,
             name: str | None) -> tuple[tuple[str, str], ...]:
    if not model.netdev or driver not in _NET_DRIVERS:
        return ()
    ifname = name or f"enp{bus}s{slot}f{func}"
    return ((ifname, f"02:00:00:{bus:02x}:{slot:02x}:{func:02x}"),)


def _node_cpulist(profile: profile_mod.HostProfile, node: int | None) -> str:
    per = profile.cpus_per_node
    if node is None:
        return f"0-{profile.node_count * per - 1}"
    return f"{node * per}-{node * per + per - 1}"


# -- writing ------------------------------------------------------------------------------


def build(dest: str | os.PathLike[str], spec: profile_mod.HostProfile | str) -> BuiltHost:
    """Write the host root for ``spec`` (a profile or its text) into the empty dir ``dest``."""
    profile = profile_mod.parse_profile(spec) if isinstance(spec, str) else spec
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    devices = plan(profile)
    _Writer(root, profile, devices).write()
    return BuiltHost(root=root, profile=profile, devices=devices)


def pack(built: BuiltHost, tarball: str | os.PathLike[str]) -> Path:
    """Pack a built root as a bundle: ``.tar.gz`` with one top-level dir named after the host."""
    out = Path(tarball)
    with tarfile.open(out, "w:gz") as tar:
        tar.add(built.root, arcname=built.hostname)
    return out


class _Writer:
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
            "local_cpulist": dev.local_cpulist, "local_cpus": _cpumask(dev.local_cpulist),
            "driver_override": dev.driver_override or "(null)", "enable": "1" if bound else "0",
            "irq": "0" if dev.dev_type == "type-VF" else "16", "ari_enabled": "1",
            "broken_parity_status": "0", "d3cold_allowed": "1", "msi_bus": "1",
            "consistent_dma_mask_bits": "64", "dma_mask_bits": "64",
            "power_state": "D0" if bound else "D3hot", "modalias": _modalias(dev),
            "uevent": _uevent(dev), "resource": _resource(),
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
        self.file(f"{d}/config", _config(dev, is_bridge), 0o644)
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
            self.file(f"{base}/cpumap", _cpumask(cpulist) + "\n")
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


# -- file contents ------------------------------------------------------------------------


def _cpumask(cpulist: str) -> str:
    mask = 0
    for part in cpulist.split(","):
        lo, _, hi = part.partition("-")
        for cpu in range(int(lo), int(hi or lo) + 1):
            mask |= 1 << cpu
    return f"{mask:08x}"


def _modalias(dev: FakeDevice) -> str:
    c = dev.class_code.upper()
    return (f"pci:v0000{dev.vendor_id.upper()}d0000{dev.product_id.upper()}"
            f"sv0000{dev.subsystem_vendor_id.upper()}sd0000{dev.subsystem_id.upper()}"
            f"bc{c[0:2]}sc{c[2:4]}i{c[4:6]}")


def _uevent(dev: FakeDevice) -> str:
    lines = [f"DRIVER={dev.driver}"] if dev.driver else []
    lines += [f"PCI_CLASS={int(dev.class_code, 16):X}",
              f"PCI_ID={dev.vendor_id.upper()}:{dev.product_id.upper()}",
              f"PCI_SUBSYS_ID={dev.subsystem_vendor_id.upper()}:{dev.subsystem_id.upper()}",
              f"PCI_SLOT_NAME={dev.address}", f"MODALIAS={_modalias(dev)}"]
    return "\n".join(lines)


def _resource() -> str:
    return "\n".join(["0x0000000000000000 0x0000000000000000 0x0000000000000000"] * 13)


def _config(dev: FakeDevice, is_bridge: bool) -> bytes:
    """4 KiB of config space: type 0/1 header, a PCI Express capability, SR-IOV for PFs."""
    cfg = bytearray(4096)
    vf = dev.dev_type == "type-VF"
    _put16(cfg, 0x00, 0xFFFF if vf else int(dev.vendor_id, 16))
    _put16(cfg, 0x02, 0xFFFF if vf else int(dev.product_id, 16))
    _put16(cfg, 0x04, 0x0006 if dev.driver else 0x0000)  # memory space + bus master when bound
    _put16(cfg, 0x06, 0x0010)  # capability list present
    cfg[0x08] = int(dev.revision, 16)
    cls = int(dev.class_code, 16)
    cfg[0x09], cfg[0x0A], cfg[0x0B] = cls & 0xFF, (cls >> 8) & 0xFF, (cls >> 16) & 0xFF
    cfg[0x0E] = 0x01 if is_bridge else 0x00
    if is_bridge:
        bus = int(dev.address[5:7], 16)
        cfg[0x18], cfg[0x19] = bus, dev.secondary_bus or 0
        cfg[0x1A] = dev.secondary_bus or 0
    else:
        _put16(cfg, 0x2C, int(dev.subsystem_vendor_id, 16))
        _put16(cfg, 0x2E, int(dev.subsystem_id, 16))
    cfg[0x34] = 0x40
    cfg[0x3D] = 0 if vf else 1  # interrupt pin A
    # PCI Express capability (v2): endpoint (type 0) or root port (type 4)
    cfg[0x40], cfg[0x41] = 0x10, 0x00
    _put16(cfg, 0x42, 0x0002 | ((4 if is_bridge else 0) << 4))
    if dev.sriov_totalvfs is not None:
        _sriov_capability(cfg, dev)
    return bytes(cfg)


def _sriov_capability(cfg: bytearray, dev: FakeDevice) -> None:
    base = 0x100
    _put32(cfg, base, 0x0010 | (1 << 16))  # SR-IOV extended capability, version 1, last
    _put16(cfg, base + 0x08, (0x0009 if dev.sriov_numvfs else 0) | 0x0010)  # VF enable+MSE, ARI
    _put16(cfg, base + 0x0C, dev.sriov_totalvfs or 0)  # InitialVFs
    _put16(cfg, base + 0x0E, dev.sriov_totalvfs or 0)  # TotalVFs
    _put16(cfg, base + 0x10, dev.sriov_numvfs or 0)  # NumVFs
    _put16(cfg, base + 0x14, dev.sriov_offset or 0)
    _put16(cfg, base + 0x16, dev.sriov_stride or 0)
    _put16(cfg, base + 0x1A, int(dev.sriov_vf_device or "0", 16))
    _put32(cfg, base + 0x1C, 0x00000553)  # supported page sizes
    _put32(cfg, base + 0x20, 0x00000001)  # system page size


def _put16(buf: bytearray, offset: int, value: int) -> None:
    buf[offset:offset + 2] = value.to_bytes(2, "little")


def _put32(buf: bytearray, offset: int, value: int) -> None:
    buf[offset:offset + 4] = value.to_bytes(4, "little")
