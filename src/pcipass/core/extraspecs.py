"""Flavor extra spec keys Nova knows, and the typos of them that Nova silently ignores.

A flavor set with an old client (or an old microversion) keeps any key, and Nova ignores a key
it does not know: ``hw:cpu_polcy=dedicated`` boots an unpinned guest, and
``pci_passthrough:aliases`` boots one with no device. :func:`typo_warnings` names the key
meant. The keys are Nova 34's own (``nova.api.validation.extra_specs``), in the namespaces
that hold fixed names; a differential test keeps the table equal to Nova's registry. Keys of
free-form namespaces (``capabilities:``, ``aggregate_instance_extra_specs:``, ``resources*``,
``trait*``) and keys of no namespace of Nova's are never judged.

Pure data and functions, standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pcipass.core import errors

#: The namespaces whose every key Nova 34 lists by name (templates below).
JUDGED_NAMESPACES = ("accel", "hw", "hw_rng", "hw_video", "os", "pci_passthrough", "quota",
                     "vmware")
#: Keys of no namespace that Nova knows.
BARE_KEYS = frozenset({"group_policy", "hide_hypervisor_id"})
#: Nova 34's keys in :data:`JUDGED_NAMESPACES`, without the templated ones.
KNOWN_KEYS = frozenset({
    "accel:device_profile",
    "hw:boot_menu", "hw:cpu_cores", "hw:cpu_dedicated_mask", "hw:cpu_max_cores",
    "hw:cpu_max_sockets", "hw:cpu_max_threads", "hw:cpu_policy", "hw:cpu_realtime",
    "hw:cpu_realtime_mask", "hw:cpu_sockets", "hw:cpu_thread_policy", "hw:cpu_threads",
    "hw:emulator_threads_policy", "hw:ephemeral_encryption", "hw:ephemeral_encryption_format",
    "hw:hide_hypervisor_id", "hw:locked_memory", "hw:mem_encryption", "hw:mem_encryption_model",
    "hw:mem_page_size", "hw:numa_nodes", "hw:pci_numa_affinity_policy", "hw:pmem", "hw:pmu",
    "hw:redirected_usb_ports", "hw:serial_port_count", "hw:sound_model", "hw:tpm_model",
    "hw:tpm_secret_security", "hw:tpm_version", "hw:usb_model", "hw:vif_multiqueue_enabled",
    "hw:viommu_model", "hw:virtio_packed_ring", "hw:watchdog_action",
    "hw_rng:allowed", "hw_rng:rate_bytes", "hw_rng:rate_period", "hw_video:ram_max_mb",
    "os:secure_boot", "pci_passthrough:alias",
    "quota:cpu_limit", "quota:cpu_period", "quota:cpu_quota", "quota:cpu_reservation",
    "quota:cpu_shares", "quota:cpu_shares_level", "quota:cpu_shares_share",
    "quota:disk_io_limit", "quota:disk_io_reservation", "quota:disk_io_shares_level",
    "quota:disk_io_shares_share", "quota:disk_read_bytes_sec", "quota:disk_read_iops_sec",
    "quota:disk_total_bytes_sec", "quota:disk_total_iops_sec", "quota:disk_write_bytes_sec",
    "quota:disk_write_iops_sec", "quota:memory_limit", "quota:memory_reservation",
    "quota:memory_shares_level", "quota:memory_shares_share", "quota:vif_inbound_average",
    "quota:vif_inbound_burst", "quota:vif_inbound_peak", "quota:vif_limit",
    "quota:vif_outbound_average", "quota:vif_outbound_burst", "quota:vif_outbound_peak",
    "quota:vif_reservation", "quota:vif_shares_level", "quota:vif_shares_share",
    "vmware:hw_version", "vmware:storage_policy",
})
#: Nova's templated keys in those namespaces (``hw:numa_cpus.{num}``), as patterns.
TEMPLATES = {"hw:numa_cpus.{num}": re.compile(r"hw:numa_cpus\.\d+"),
             "hw:numa_mem.{num}": re.compile(r"hw:numa_mem\.\d+")}


def is_known(key: str) -> bool:
    return key in KNOWN_KEYS or key in BARE_KEYS or any(
        p.fullmatch(key) for p in TEMPLATES.values())


def meant(key: str) -> str | None:
    """The known key ``key`` is a typo of (one edit away, two for keys of 20 characters or
    more: ``pci_passthrough:aliases``), or None: known, unjudged, or no close key."""
    if is_known(key):
        return None
    namespace = key.split(":", 1)[0] if ":" in key else None
    candidates = sorted(KNOWN_KEYS | BARE_KEYS)
    if namespace is not None and namespace not in JUDGED_NAMESPACES:
        # a misspelt namespace ("hw_:cpu_policy", "pci_passthough:alias") is judged too
        if not any(distance(namespace, ns, 1) <= 1 for ns in JUDGED_NAMESPACES):
            return None
    bound = 2 if len(key) >= 20 else 1
    best: tuple[int, str] | None = None
    for known in candidates:
        d = distance(key, known, bound)
        if d <= bound and (best is None or d < best[0]):
            best = (d, known)
    return best[1] if best else None


def distance(a: str, b: str, bound: int) -> int:
    """Edits (insert, delete, replace, swap two neighbours) from ``a`` to ``b``; any value
    above ``bound`` stands for "too far"."""
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        if min(row) > bound:
            return bound + 1
        prev2, prev = prev, row
    return prev[-1]


def typo_warnings(specs: Mapping[str, str]) -> list[errors.Problem]:
    """A warning for each key Nova will ignore that is a typo of a key it knows."""
    out = []
    for key in specs:
        right = meant(key)
        if right is not None:
            out.append(errors.Problem(
                "FlavorExtraSpecTypo",
                f"Nova does not know the extra spec {key!r} and ignores it; did you mean "
                f"{right!r}?", entry=key, hint=f"rename it on the flavor: unset the property {key} and "
                f"set {right} with the value it was meant to have"))
    return out
