"""Fake-host profiles: a short text that says which hardware a fake host has.

Grammar (documented for users in ``docs/fakehost.md``)::

    profile := item (";" item)*
    item    := COUNT "x" MODEL option*        one or more PCI functions of a catalog model
             | KEY "=" VALUE                   a host setting (cmdline takes the rest of the item)

Example: ``"2x intel-x710 pf numa=1 vfs=8 vf-driver=iavf; 1x nvidia-a100 numa=0
driver=vfio-pci; cmdline=intel_iommu=on"``.
"""

from __future__ import annotations

import dataclasses
import re

from pcipass.core import errors

NO_DRIVER = "none"


class FakeHostProfileInvalid(errors.InputError):
    """A fake-host profile text that does not parse."""

    msg_fmt = "Invalid fake-host profile item %(item)r: %(reason)s"


@dataclasses.dataclass(frozen=True, slots=True)
class Model:
    """A catalog entry: IDs and drivers of one kind of card (one PCI function)."""

    key: str
    vendor: str
    device: str
    class_code: str
    revision: str
    subsystem_vendor: str
    subsystem_device: str
    driver: str
    vf_device: str | None = None
    vf_driver: str | None = None
    totalvfs: int = 0
    vf_offset: int = 1
    vf_stride: int = 1
    netdev: bool = False
    link_speed: str = "8.0 GT/s PCIe"
    link_width: int = 8


# IDs and drivers from ../shared/docs/hardware-facts.md. Total VFs, offsets and strides are
# verified where that page says so (E810 128/8/1, 82599 offset 0x80 stride 2, X550-like
# stride 2, QEMU NVMe 8/1/1); the others are plausible defaults for fake hosts, not facts.
MODELS: dict[str, Model] = {m.key: m for m in (
    Model("intel-x710", "8086", "1572", "020000", "02", "8086", "0007", "i40e",
          "154c", "iavf", 64, 16, 1, True),
    Model("intel-xl710", "8086", "1583", "020000", "02", "8086", "0001", "i40e",
          "154c", "iavf", 64, 16, 1, True),
    Model("intel-e810", "8086", "159b", "020000", "02", "8086", "0003", "ice",
          "1889", "iavf", 128, 8, 1, True, "16.0 GT/s PCIe", 16),
    Model("intel-82599", "8086", "10fb", "020000", "01", "8086", "000c", "ixgbe",
          "10ed", "ixgbevf", 63, 128, 2, True),
    Model("intel-x550", "8086", "1563", "020000", "01", "8086", "001d", "ixgbe",
          "1565", "ixgbevf", 64, 128, 2, True),
    Model("intel-i350", "8086", "1521", "020000", "01", "8086", "0001", "igb",
          "1520", "igbvf", 7, 128, 4, True, "5.0 GT/s PCIe", 4),
    Model("mlx-cx4lx", "15b3", "1015", "020000", "00", "15b3", "0003", "mlx5_core",
          "1016", "mlx5_core", 8, 2, 1, True),
    Model("mlx-cx5", "15b3", "1017", "020000", "00", "15b3", "0007", "mlx5_core",
          "1018", "mlx5_core", 8, 2, 1, True),
    Model("mlx-cx6", "15b3", "101b", "020700", "00", "15b3", "0006", "mlx5_core",
          "101c", "mlx5_core", 8, 2, 1, True, "16.0 GT/s PCIe", 16),
    Model("mlx-cx6dx", "15b3", "101d", "020000", "00", "15b3", "0016", "mlx5_core",
          "101e", "mlx5_core", 8, 2, 1, True, "16.0 GT/s PCIe", 16),
    Model("nvidia-a100", "10de", "20f1", "030200", "a1", "10de", "145f", "nvidia",
          link_speed="16.0 GT/s PCIe", link_width=16),
    Model("nvidia-v100", "10de", "1db4", "030200", "a1", "10de", "1214", "nvidia",
          link_width=16),
    Model("nvidia-t4", "10de", "1eb8", "030200", "a1", "10de", "12a2", "nvidia",
          link_width=16),
    Model("intel-qat-c62x", "8086", "37c8", "0b4000", "04", "8086", "0000", "c6xx",
          "37c9", "c6xxvf", 16, 1, 1, False),
    Model("qemu-nvme", "1b36", "0010", "010802", "02", "1af4", "1100", "nvme",
          "0010", "nvme", 8, 1, 1, False, "2.5 GT/s PCIe", 1),
)}

# driver name -> kernel module (None: built in)
DRIVER_MODULES: dict[str, str | None] = {
    "pcieport": None, "vfio-pci": "vfio_pci", "c6xx": "qat_c62x", "c6xxvf": "qat_c62xvf",
}

_ITEM = re.compile(r"^(?P<count>\d+)\s*[x×]\s*(?P<model>[A-Za-z0-9_.-]+)(?P<opts>(?:\s+\S+)*)\s*$")
_HOST_KEYS = ("hostname", "cmdline", "numa-nodes", "cpus-per-node", "mem-per-node", "iommu",
              "platform", "kernel", "vfio")


@dataclasses.dataclass(frozen=True, slots=True)
class CardSpec:
    """``COUNT x MODEL ...``: COUNT functions (PFs for SR-IOV models) of one model.

    ``driver``/``vf_driver`` of ``None`` mean the model's default; ``"none"``
    leaves the function unbound. ``numa`` of ``-1`` writes an unknown node.
    """

    model: Model
    count: int = 1
    numa: int = 0
    vfs: int = 0
    driver: str | None = None
    vf_driver: str | None = None
    autoprobe: bool = True
    totalvfs: int | None = None

    @property
    def pf_driver(self) -> str | None:
        drv = self.driver or self.model.driver
        return None if drv == NO_DRIVER else drv

    @property
    def bound_vf_driver(self) -> str | None:
        """The VFs' driver: explicit, else the model's when autoprobe is on, else none."""
        if self.vf_driver is not None:
            return None if self.vf_driver == NO_DRIVER else self.vf_driver
        return self.model.vf_driver if self.autoprobe else None

    @property
    def sriov_totalvfs(self) -> int:
        return self.model.totalvfs if self.totalvfs is None else self.totalvfs


@dataclasses.dataclass(frozen=True, slots=True)
class HostProfile:
    """Everything the builder needs; see :func:`parse_profile` for the text form."""

    cards: tuple[CardSpec, ...] = ()
    hostname: str = "fakehost"
    cmdline: str = ""
    numa_nodes: int | None = None
    cpus_per_node: int = 4
    mem_per_node_mb: int = 16384
    iommu: bool | None = None
    platform: str = "intel"
    kernel: str = "6.1.0-fake-amd64"
    vfio: str = "module"

    @property
    def node_count(self) -> int:
        if self.numa_nodes is not None:
            return self.numa_nodes
        used = [c.numa for c in self.cards if c.numa >= 0]
        return max([1, *(n + 1 for n in used)])

    @property
    def iommu_on(self) -> bool:
        """Explicit ``iommu=``, else what the platform and command line imply."""
        if self.iommu is not None:
            return self.iommu
        words = self.cmdline.split()
        if self.platform == "amd":
            return "amd_iommu=off" not in words and "iommu=off" not in words
        return "intel_iommu=on" in words


def parse_profile(text: str) -> HostProfile:
    """Parse a profile text.

    :raises FakeHostProfileInvalid: naming the bad item.
    """
    cards: list[CardSpec] = []
    host: dict[str, object] = {}
    for raw_item in text.split(";"):
        item = raw_item.strip()
        if not item:
            continue
        m = _ITEM.match(item)
        if m:
            cards.append(_parse_card(item, m))
        else:
            key, value = _parse_host_item(item)
            host[key] = value
    return HostProfile(cards=tuple(cards), **host)  # type: ignore[arg-type]


def _parse_card(item: str, m: re.Match[str]) -> CardSpec:
    key = m.group("model").lower()
    model = MODELS.get(key)
    if model is None:
        raise FakeHostProfileInvalid(item=item, reason=f"unknown model {key!r}; known: "
                                     + ", ".join(sorted(MODELS)))
    values: dict[str, object] = {"model": model, "count": int(m.group("count"))}
    for opt in m.group("opts").split():
        if opt.lower() in ("pf", "pfs"):
            continue
        name, sep, value = opt.partition("=")
        if not sep:
            raise FakeHostProfileInvalid(item=item, reason=f"expected key=value, got {opt!r}")
        values.update(_card_option(item, name.lower(), value, model))
    if values["count"] == 0 or int(str(values["count"])) > 256:
        raise FakeHostProfileInvalid(item=item, reason="count must be 1..256")
    card = CardSpec(**values)  # type: ignore[arg-type]
    if card.vfs > card.sriov_totalvfs:
        raise FakeHostProfileInvalid(item=item, reason=f"vfs={card.vfs} is more than "
                                     f"totalvfs={card.sriov_totalvfs}")
    return card


def _card_option(item: str, name: str, value: str, model: Model) -> dict[str, object]:
    if name in ("numa", "vfs", "totalvfs"):
        number = _number(item, name, value)
        if name == "numa" and not -1 <= number <= 63:
            raise FakeHostProfileInvalid(item=item, reason="numa must be -1..63")
        if name == "vfs" and not model.totalvfs:
            raise FakeHostProfileInvalid(item=item, reason=f"{model.key} has no SR-IOV")
        if name == "vfs" and not 0 <= number <= 256:
            raise FakeHostProfileInvalid(item=item, reason="vfs must be 0..256")
        return {name: number}
    if name in ("driver", "vf-driver"):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
            raise FakeHostProfileInvalid(item=item, reason=f"bad driver name {value!r}")
        return {"driver" if name == "driver" else "vf_driver": value}
    if name == "autoprobe":
        if value not in ("0", "1"):
            raise FakeHostProfileInvalid(item=item, reason="autoprobe must be 0 or 1")
        return {"autoprobe": value == "1"}
    raise FakeHostProfileInvalid(item=item, reason=f"unknown option {name!r}")


def _parse_host_item(item: str) -> tuple[str, object]:
    key, sep, value = item.partition("=")
    key = key.strip().lower()
    if not sep or key not in _HOST_KEYS:
        raise FakeHostProfileInvalid(item=item, reason="expected 'COUNTx MODEL ...' or one of "
                                     + ", ".join(f"{k}=" for k in _HOST_KEYS))
    value = value.strip()
    if key in ("numa-nodes", "cpus-per-node", "mem-per-node"):
        number = _number(item, key, value)
        if number < 1:
            raise FakeHostProfileInvalid(item=item, reason=f"{key} must be positive")
        return {"numa-nodes": "numa_nodes", "cpus-per-node": "cpus_per_node",
                "mem-per-node": "mem_per_node_mb"}[key], number
    if key == "iommu":
        if value not in ("on", "off"):
            raise FakeHostProfileInvalid(item=item, reason="iommu must be on or off")
        return "iommu", value == "on"
    if key == "platform" and value not in ("intel", "amd"):
        raise FakeHostProfileInvalid(item=item, reason="platform must be intel or amd")
    if key == "vfio" and value not in ("module", "builtin", "none"):
        raise FakeHostProfileInvalid(item=item, reason="vfio must be module, builtin or none")
    if key == "hostname" and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}", value):
        raise FakeHostProfileInvalid(item=item, reason="bad hostname")
    return key, value


def _number(item: str, name: str, value: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise FakeHostProfileInvalid(item=item, reason=f"{name} must be an integer") from None


# Ready-made profiles for the common hardware of hardware-facts.md.
PROFILES: dict[str, str] = {
    "x710-sriov": "2x intel-x710 pf numa=1 vfs=8 vf-driver=iavf; cmdline=intel_iommu=on iommu=pt",
    "e810-sriov": "2x intel-e810 pf numa=0 vfs=16; cmdline=intel_iommu=on iommu=pt",
    "82599-sriov": "2x intel-82599 pf numa=0 vfs=8; cmdline=intel_iommu=on",
    "cx5-sriov": "2x mlx-cx5 pf numa=1 vfs=4; cmdline=intel_iommu=on iommu=pt",
    "cx6-sriov": "2x mlx-cx6 pf numa=0 vfs=4; cmdline=intel_iommu=on",
    "a100-vfio": "2x nvidia-a100 numa=0 driver=vfio-pci; 2x nvidia-a100 numa=1 driver=vfio-pci; "
                 "cmdline=intel_iommu=on",
    "v100-vfio": "1x nvidia-v100 numa=0 driver=vfio-pci; 1x nvidia-v100 numa=1 driver=vfio-pci; "
                 "cmdline=intel_iommu=on",
    "t4-vfio": "1x nvidia-t4 numa=0 driver=vfio-pci; cmdline=intel_iommu=on",
    "qat-sriov": "1x intel-qat-c62x numa=0 vfs=16 vf-driver=vfio-pci; cmdline=intel_iommu=on",
    "mixed": "2x intel-x710 pf numa=1 vfs=8 vf-driver=iavf; 1x nvidia-a100 numa=0 driver=vfio-pci; "
             "cmdline=intel_iommu=on",
    "no-iommu": "1x intel-e810 numa=0 vfs=4 vf-driver=vfio-pci; 1x nvidia-t4 numa=0 driver=vfio-pci",
    "amd-epyc": "2x mlx-cx6dx numa=0 vfs=8; 2x nvidia-a100 numa=1 driver=vfio-pci; platform=amd",
    "bench-8x128": "4x intel-e810 numa=0 vfs=128 vf-driver=iavf; 4x intel-e810 numa=1 vfs=128 "
                   "vf-driver=iavf; cmdline=intel_iommu=on iommu=pt",
}
