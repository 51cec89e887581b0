"""The sysfs allow-list: the only attributes under ``sys/`` that pcipass ever opens.

Discovery needs a few dozen attributes. Others can hang or change a device
when read (``vpd``, ``rom``, ``resource*``, ``reset``, ``remove``,
``rescan``), and ``config`` is never read past its first 64 bytes
(contracts §1). Asking for anything else is a bug in pcipass, not bad input:
it raises :class:`AttributeNotAllowed`.
"""

from __future__ import annotations

MAX_CONFIG_BYTES = 64

FORBIDDEN_ATTRS = frozenset({"vpd", "rom", "reset", "remove", "rescan"})

# sysfs attributes discovery reads. Anything else under sys/ is refused.
ALLOWED_SYS_ATTRS = frozenset({
    # PCI device attributes
    "vendor", "device", "subsystem_vendor", "subsystem_device", "class", "revision",
    "numa_node", "local_cpulist", "driver_override", "modalias", "uevent", "config",
    "sriov_totalvfs", "sriov_numvfs", "sriov_drivers_autoprobe", "sriov_vf_device",
    "sriov_offset", "sriov_stride",
    # net/<ifname>/
    "address", "operstate",
    # NUMA nodes and CPUs
    "cpulist", "meminfo", "online", "possible", "has_cpu", "has_memory",
    "physical_package_id", "core_id", "die_id",
    # iommu groups and modules
    "type", "initstate", "refcnt", "ids",
})


ALLOWED_FAST = ALLOWED_SYS_ATTRS - {"config"}
"""The attributes read whole (all but ``config``): the scan's hot path checks this set."""


class AttributeNotAllowed(ValueError):
    """Raised when code asks for a sysfs attribute outside the allow-list (a bug, not bad input)."""


def check_allowed(rel: str, limit: int) -> int:
    """Apply the sysfs allow-list; return the byte limit to use."""
    if not rel.startswith("sys/"):
        return limit
    name = rel.rpartition("/")[2]
    if name in ALLOWED_FAST:
        return limit
    if name in FORBIDDEN_ATTRS or name.startswith("resource"):
        raise AttributeNotAllowed(f"refusing to read {rel}: {name} can hang or change the device")
    if name not in ALLOWED_SYS_ATTRS and not rel.startswith("sys/module/"):
        raise AttributeNotAllowed(f"refusing to read {rel}: {name} is not an allow-listed attribute")
    return min(limit, MAX_CONFIG_BYTES) if name == "config" else limit
