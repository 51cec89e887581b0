"""Plan a fake host: every PCI function's address, IDs, driver, IOMMU group and NUMA node.

Planning is separate from writing (:mod:`~pcipass.fakehost.writer`), so tests
can compare what the builder meant with what the readers see.
"""

from __future__ import annotations

import dataclasses

from pcipass.fakehost import profile as profile_mod

ROOT_PORT = ("8086", "2030", "060400", "04")  # Sky Lake-E PCI Express Root Port A
BUS_STEP_MAX = 0x80


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
