"""The JSON of a host's kernel facts (``kernel`` in the scan document), with its IOMMU mode.

A view of :mod:`pcipass.services.jsonview`'s table, kept apart so the table stays one idea.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pcipass.adapters import kernel


def cmdline_view(c: kernel.Cmdline) -> dict[str, Any]:
    return {"raw": c.raw, "intel_iommu": c.intel_iommu, "amd_iommu": c.amd_iommu, "iommu": c.iommu,
            "iommu_pt": c.iommu_pt, "iommu_passthrough": c.iommu_passthrough,
            "vfio_pci_ids": c.vfio_pci_ids, "others": c.others}


def kernel_view(k: kernel.KernelFacts) -> dict[str, Any]:
    # NOTE: adapters.kernel costs ~13-24 ms to import, which a JSON document without kernel facts
    # (config check, flavor explain) never pays; a kernel record printed has loaded it already.
    from pcipass.adapters.kernel import iommu_mode

    return {"release": k.release, "cmdline": k.cmdline, "iommu_present": k.iommu_present,
            "iommu_devices": k.iommu_devices, "iommu_groups": k.iommu_groups if k.sysfs else None,
            "acpi_tables": k.acpi_tables, "modules": k.modules, "vfio_pci": k.vfio_pci,
            "dmesg_source": k.dmesg_source, "dmesg_iommu_lines": k.dmesg_iommu_lines,
            "dmesg_group_additions": k.dmesg_group_additions, "warnings": k.warnings,
            "iommu_mode": iommu_mode(k),
            "iommu_group_types": {t: n for t, n in k.iommu_group_types}}


UNKNOWN_KERNEL: Mapping[str, Any] = {
    "release": None, "cmdline": None, "iommu_present": None, "iommu_devices": [], "iommu_groups": None,
    "acpi_tables": [], "modules": [], "vfio_pci": None, "dmesg_source": None, "dmesg_iommu_lines": [],
    "dmesg_group_additions": None, "warnings": [],
    "iommu_mode": {"mode": "unknown", "source": None, "detail": "no kernel facts in an lspci paste"},
    "iommu_group_types": {}}
"""The ``kernel`` object of a host known only from lspci: the same keys, nothing known."""
