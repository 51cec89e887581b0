"""The five layers of passthrough, and the three around them, as the doctor and scheduler name them.

Bottom-up, in the order a broken chain is read: the kernel and IOMMU, the
drivers and VFs, Nova's ``[pci] device_spec``, NUMA placement, Placement's
inventory, the flavor's extra specs, Neutron's ports and the scheduler's own
options. Each has the letter of its doctor check ids (``PCI-<L><nnn>``,
contracts §3). A :class:`Layer` is a ``str``: JSON prints its name.
"""

from __future__ import annotations

import enum


class Layer(enum.StrEnum):
    KERNEL = "kernel"
    DRIVER = "driver"
    DEVICE_SPEC = "device_spec"
    NUMA = "numa"
    PLACEMENT = "placement"
    FLAVOR = "flavor"
    NEUTRON = "neutron"
    SCHEDULER = "scheduler"

    @property
    def letter(self) -> str:
        """The id letter of the layer's doctor checks."""
        return _LETTERS[self]

    @property
    def order(self) -> int:
        """Position bottom-up: the lowest broken layer is where to look first."""
        return _ORDER[self]


_LETTERS = {Layer.KERNEL: "K", Layer.DRIVER: "D", Layer.DEVICE_SPEC: "S", Layer.NUMA: "N",
            Layer.PLACEMENT: "P", Layer.FLAVOR: "F", Layer.NEUTRON: "Q", Layer.SCHEDULER: "C"}
_ORDER = {layer: i for i, layer in enumerate(Layer)}
