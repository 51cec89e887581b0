"""The bytes of the files a fake host's functions carry: uevent, modalias, resource, config space.

``config`` holds a real header and the PCI Express (and, for PFs, SR-IOV)
capabilities, so ``lspci -O sysfs.path=`` reads a fake function as it reads a
real one; a VF's vendor and device read ``ffff``, as hardware gives them.
"""

from __future__ import annotations

from pcipass.fakehost.plan import FakeDevice

def cpumask(cpulist: str) -> str:
    mask = 0
    for part in cpulist.split(","):
        lo, _, hi = part.partition("-")
        for cpu in range(int(lo), int(hi or lo) + 1):
            mask |= 1 << cpu
    return f"{mask:08x}"


def modalias(dev: FakeDevice) -> str:
    c = dev.class_code.upper()
    return (f"pci:v0000{dev.vendor_id.upper()}d0000{dev.product_id.upper()}"
            f"sv0000{dev.subsystem_vendor_id.upper()}sd0000{dev.subsystem_id.upper()}"
            f"bc{c[0:2]}sc{c[2:4]}i{c[4:6]}")


def uevent(dev: FakeDevice) -> str:
    lines = [f"DRIVER={dev.driver}"] if dev.driver else []
    lines += [f"PCI_CLASS={int(dev.class_code, 16):X}",
              f"PCI_ID={dev.vendor_id.upper()}:{dev.product_id.upper()}",
              f"PCI_SUBSYS_ID={dev.subsystem_vendor_id.upper()}:{dev.subsystem_id.upper()}",
              f"PCI_SLOT_NAME={dev.address}", f"MODALIAS={modalias(dev)}"]
    return "\n".join(lines)


def resource() -> str:
    return "\n".join(["0x0000000000000000 0x0000000000000000 0x0000000000000000"] * 13)


def config(dev: FakeDevice, is_bridge: bool) -> bytes:
    """4 KiB of config space: type 0/1 header, a PCI Express capability, SR-IOV for PFs."""
    cfg = bytearray(4096)
    vf = dev.dev_type == "type-VF"
    put16(cfg, 0x00, 0xFFFF if vf else int(dev.vendor_id, 16))
    put16(cfg, 0x02, 0xFFFF if vf else int(dev.product_id, 16))
    put16(cfg, 0x04, 0x0006 if dev.driver else 0x0000)  # memory space + bus master when bound
    put16(cfg, 0x06, 0x0010)  # capability list present
    cfg[0x08] = int(dev.revision, 16)
    cls = int(dev.class_code, 16)
    cfg[0x09], cfg[0x0A], cfg[0x0B] = cls & 0xFF, (cls >> 8) & 0xFF, (cls >> 16) & 0xFF
    cfg[0x0E] = 0x01 if is_bridge else 0x00
    if is_bridge:
        bus = int(dev.address[5:7], 16)
        cfg[0x18], cfg[0x19] = bus, dev.secondary_bus or 0
        cfg[0x1A] = dev.secondary_bus or 0
    else:
        put16(cfg, 0x2C, int(dev.subsystem_vendor_id, 16))
        put16(cfg, 0x2E, int(dev.subsystem_id, 16))
    cfg[0x34] = 0x40
    cfg[0x3D] = 0 if vf else 1  # interrupt pin A
    # PCI Express capability (v2): endpoint (type 0) or root port (type 4)
    cfg[0x40], cfg[0x41] = 0x10, 0x00
    put16(cfg, 0x42, 0x0002 | ((4 if is_bridge else 0) << 4))
    if dev.sriov_totalvfs is not None:
        sriov_capability(cfg, dev)
    return bytes(cfg)


def sriov_capability(cfg: bytearray, dev: FakeDevice) -> None:
    base = 0x100
    put32(cfg, base, 0x0010 | (1 << 16))  # SR-IOV extended capability, version 1, last
    put16(cfg, base + 0x08, (0x0009 if dev.sriov_numvfs else 0) | 0x0010)  # VF enable+MSE, ARI
    put16(cfg, base + 0x0C, dev.sriov_totalvfs or 0)  # InitialVFs
    put16(cfg, base + 0x0E, dev.sriov_totalvfs or 0)  # TotalVFs
    put16(cfg, base + 0x10, dev.sriov_numvfs or 0)  # NumVFs
    put16(cfg, base + 0x14, dev.sriov_offset or 0)
    put16(cfg, base + 0x16, dev.sriov_stride or 0)
    put16(cfg, base + 0x1A, int(dev.sriov_vf_device or "0", 16))
    put32(cfg, base + 0x1C, 0x00000553)  # supported page sizes
    put32(cfg, base + 0x20, 0x00000001)  # system page size


def put16(buf: bytearray, offset: int, value: int) -> None:
    buf[offset:offset + 2] = value.to_bytes(2, "little")


def put32(buf: bytearray, offset: int, value: int) -> None:
    buf[offset:offset + 4] = value.to_bytes(4, "little")
