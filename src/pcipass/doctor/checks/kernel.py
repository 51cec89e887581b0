"""Kernel and IOMMU: the layer every other one stands on.

The command line alone proves nothing (distributions enable the IOMMU by
default; ``intel_iommu=on`` without VT-d gives no groups), so the checks
weigh the ACPI tables, ``sys/class/iommu``, the IOMMU groups and dmesg
together, and tell firmware apart from the command line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pcipass.core import model
from pcipass.doctor import model as dm
from pcipass.doctor.checks import common
from pcipass.doctor.registry import check
from pcipass.core.layers import Layer

OK, FIRMWARE, CMDLINE, NO_GROUPS, UNKNOWN = "ok", "firmware", "cmdline", "no-groups", "unknown"
ACPI_DIR = "sys/firmware/acpi/tables"
_DMESG_WORDS = ("DMAR", "AMD-Vi", "IVRS", "iommu:", "IOMMU", "vfio-pci: probe")
GROUPS_DIR = "sys/kernel/iommu_groups"
GRUB_FIX = ("add {param} to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then "
            "update-grub or grub2-mkconfig -o /boot/grub2/grub.cfg; or grubby --update-kernel=ALL "
            "--args={param}) and reboot")


#: dmesg lines the kernel prints only when the firmware has a DMAR or IVRS table (the ACPI table
#: listing, the remapping units it describes). "DMAR: IOMMU enabled" is not one: it echoes the
#: command line, whatever the firmware has.
_TABLE_LINES = ("ACPI: DMAR", "ACPI: IVRS", "DMAR: Host address width", "DMAR: DRHD base",
                "DMAR-IR:", "AMD-Vi: Found IOMMU", "AMD-Vi: Interrupt remapping enabled")


def _table_present(k: dm.KernelView) -> bool | None:
    """Does the firmware have a DMAR/IVRS table? None when neither the tables nor dmesg tell."""
    if k.acpi_tables or any(w in ln for ln in k.dmesg_lines for w in _TABLE_LINES):
        return True
    return False if k.acpi_read else None


def _cmdline_enables(k: dm.KernelView) -> bool | None:
    """Does the command line turn the IOMMU on? None when it cannot be read."""
    if k.cmdline is None:
        return None
    if k.iommu == "off":
        return False
    if k.platform == "amd":
        return k.amd_iommu != "off"
    return "on" in (k.intel_iommu or "").split(",")


def iommu_state(k: dm.KernelView) -> str:
    """``ok``, ``firmware`` (no DMAR/IVRS), ``cmdline`` (not enabled there), ``no-groups``, or
    ``unknown`` for a host known only from a pasted dmesg or command line (no sysfs to count on)."""
    if k.iommu_groups > 0 or k.dmesg_group_additions > 0:
        return OK
    table = _table_present(k)
    if not k.sysfs:
        return CMDLINE if table and _cmdline_enables(k) is False else UNKNOWN
    if table is None:
        return UNKNOWN  # a capture without sys/firmware: the firmware is not known to lack a table
    if not table:
        return FIRMWARE
    if _cmdline_enables(k) is False:
        return CMDLINE
    return NO_GROUPS if k.groups_read else UNKNOWN


def _param(k: dm.KernelView) -> str:
    return "amd_iommu=on" if k.platform == "amd" else "intel_iommu=on"


def _evidence(k: dm.KernelView) -> list[dm.Evidence]:
    ev = [dm.Evidence("proc/cmdline", k.cmdline if k.cmdline is not None else "(unreadable)"),
          dm.Evidence(ACPI_DIR, ", ".join(k.acpi_tables) or ("no DMAR or IVRS table" if k.acpi_read
                                                              else "(not collected)")),
          dm.Evidence(GROUPS_DIR, f"{k.iommu_groups} group(s)" if k.groups_read else "(not collected)"),
          dm.Evidence("sys/class/iommu", ", ".join(k.iommu_devices) or "empty")]
    ev += [dm.Evidence(k.dmesg_source or "dmesg", line.strip()) for line in k.dmesg_lines
           if "ommand line:" not in line and any(w in line for w in _DMESG_WORDS)]
    return ev


@check("PCI-K001", Layer.KERNEL, title="IOMMU present in firmware (ACPI DMAR/IVRS)")
def iommu_firmware(kernel: dm.KernelView) -> Iterator[dm.Result]:
    """The firmware must describe an IOMMU: Intel VT-d publishes the ACPI DMAR table, AMD-Vi the IVRS
    table. Without one the kernel has no IOMMU to enable whatever the command line says, there are no
    IOMMU groups, vfio-pci cannot bind ("probe ... failed with error -22") and libvirt refuses device
    assignment. Fails when neither table exists and no IOMMU group exists; the fix is in the BIOS/UEFI
    setup (VT-d / AMD IOMMU), then the kernel command line. A capture without
    ``sys/firmware/acpi/tables`` proves nothing about the firmware: dmesg's table lines ("ACPI: DMAR",
    "DMAR: Host address width") or the IOMMU groups decide, else the check skips, naming what is
    missing ("DMAR: IOMMU enabled" only echoes the command line)."""
    if _unknown(kernel):
        yield _unknown(kernel)[0]
    if iommu_state(kernel) != FIRMWARE:
        return
    yield dm.result(
        dm.FAIL, "IOMMU",
        "no ACPI DMAR/IVRS table: the IOMMU is disabled in the firmware or absent, so there are no "
        "IOMMU groups and vfio-pci cannot bind any device",
        _evidence(kernel),
        "enable VT-d (Intel) or IOMMU/AMD-Vi (AMD) in the BIOS/UEFI setup; then "
        + GRUB_FIX.format(param=_param(kernel)))


@check("PCI-K002", Layer.KERNEL, title="IOMMU enabled on the kernel command line")
def iommu_cmdline(kernel: dm.KernelView) -> Iterator[dm.Result]:
    """The firmware has an IOMMU (DMAR/IVRS table present) but the kernel did not enable it: on Intel
    the command line lacks ``intel_iommu=on`` (or says off), on AMD it says ``amd_iommu=off`` or
    ``iommu=off``. No IOMMU group exists, so nothing can be assigned. Fails with the command line as
    evidence and the parameter to add."""
    if _unknown(kernel):
        yield _unknown(kernel)[0]
    if iommu_state(kernel) != CMDLINE:
        return
    yield dm.result(
        dm.FAIL, "IOMMU",
        f"the firmware has an IOMMU but the kernel command line does not enable it "
        f"({_param(kernel)} missing or overridden): no IOMMU groups",
        _evidence(kernel), GRUB_FIX.format(param=_param(kernel)))


@check("PCI-K003", Layer.KERNEL, title="IOMMU groups exist")
def iommu_groups_exist(kernel: dm.KernelView) -> Iterator[dm.Result]:
    """Firmware and command line both ask for an IOMMU, yet ``sys/kernel/iommu_groups`` is empty: the
    kernel lacks IOMMU support (CONFIG_INTEL_IOMMU / CONFIG_AMD_IOMMU), ``iommu=off`` hides elsewhere,
    or the IOMMU failed to initialise (see the dmesg lines). Without groups vfio cannot assign
    anything. Reported only when K001 and K002 do not already explain it."""
    if _unknown(kernel):
        yield _unknown(kernel)[0]
    if iommu_state(kernel) != NO_GROUPS:
        return
    yield dm.result(
        dm.FAIL, "IOMMU groups",
        "no IOMMU groups although the firmware and command line allow an IOMMU: the kernel did not "
        "enable it (see the dmesg lines) or was built without IOMMU support",
        _evidence(kernel),
        "check `dmesg | grep -i -e DMAR -e IOMMU -e AMD-Vi` for the failure; use a kernel with "
        "CONFIG_INTEL_IOMMU/CONFIG_AMD_IOMMU and reboot")


def _unknown(k: dm.KernelView) -> list[dm.Result]:
    """A skip, with the reason, when the facts that would settle the IOMMU were not collected."""
    if iommu_state(k) != UNKNOWN:
        return []
    if not k.sysfs:
        why = ("only a pasted dmesg or command line is known and neither shows IOMMU groups (no "
               "\"Adding to iommu group\" line)")
    else:
        missing = [d for d, read in ((ACPI_DIR, k.acpi_read), (GROUPS_DIR, k.groups_read)) if not read]
        why = (f"the host root has no {' nor '.join(missing)} (not collected: unknown, not absent) and "
               "dmesg does not settle it (no ACPI DMAR/IVRS table line, no \"Adding to iommu group\" line)")
    return [dm.result(dm.SKIP, "IOMMU", f"{why}: cannot tell", _evidence(k))]


@check("PCI-K006", Layer.KERNEL, title="IOMMU mode (passthrough or translated)")
def iommu_mode(kernel: dm.KernelView) -> Iterator[dm.Result]:
    """Says how the IOMMU maps DMA for devices left to host drivers, from the groups' ``type`` files
    (``identity`` is passthrough, ``DMA`` and ``DMA-FQ`` are translated), else dmesg's "Default
    domain type" line, else the command line (``iommu=pt`` and ``iommu.passthrough=1`` pass
    through, ``iommu.passthrough=0`` translates, ``intel_iommu=on``/``amd_iommu=on`` alone keep
    the kernel's default). vfio gives an assigned device its own translated domain whatever the
    mode, so this is information: passthrough spares the host's own DMA the IOMMU's cost (an IOMMU
    turned ``off`` is PCI-K002's failure)."""
    ev = [dm.Evidence(kernel.iommu_mode_source or "kernel", kernel.iommu_mode_detail)]
    yield dm.result(dm.INFO, "IOMMU mode", f"IOMMU mode: {kernel.iommu_mode} ({kernel.iommu_mode_detail})", ev)


def _vfio_wanted(devices: dm.DeviceFacts | None, config: dm.ConfigFacts | None) -> list[str]:
    """Devices that must sit on vfio-pci now: managed "no" specs and driver_override=vfio-pci."""
    if devices is None:
        return []
    wanted = {d.address for d in devices.devices if d.driver_override == common.VFIO}
    wanted |= {d.address for d, e in common.claimed(config, devices) if common.managed_no(e)}
    return sorted(wanted)


@check("PCI-K004", Layer.KERNEL, title="vfio-pci is available")
def vfio_available(kernel: dm.KernelView, devices: dm.DeviceFacts | None = None,
                   compute_config: dm.ConfigFacts | None = None) -> Iterator[dm.Result]:
    """Device assignment goes through vfio-pci. It must be loaded as a module (``proc/modules``) or
    built into the kernel (``sys/module/vfio_pci`` without ``initstate``). libvirt loads the module on
    demand for ``managed`` devices when it is installed, so its absence is a warning; it is a failure
    when a device must already be on vfio-pci (a ``managed: "no"`` device_spec, or a driver_override)."""
    if kernel.vfio_pci is None:
        yield dm.result(dm.SKIP, "vfio-pci", "cannot tell whether vfio-pci is available: the host root "
                        "has neither proc/modules nor sys/module")
        return
    if kernel.vfio_pci != "absent":
        return
    wanted = _vfio_wanted(devices, compute_config)
    ev = [dm.Evidence("proc/modules", "no vfio_pci line"), dm.Evidence("sys/module/vfio_pci", "absent")]
    ev += [dm.Evidence(common.sysfs(a, "driver_override"), common.VFIO) for a in wanted[:4]]
    severity = dm.FAIL if wanted else dm.WARN
    extra = f"; {len(wanted)} device(s) need it now ({', '.join(wanted[:4])})" if wanted else ""
    yield dm.result(severity, "vfio-pci", "vfio-pci is neither loaded nor built in" + extra, ev,
                    "modprobe vfio-pci && echo vfio-pci > /etc/modules-load.d/vfio-pci.conf")


def _targets(devices: dm.DeviceFacts, config: dm.ConfigFacts | None) -> dict[str, str]:
    """Devices meant for guests, with why: claimed by a device_spec, or bound to vfio-pci."""
    out = {d.address: f"device_spec entry {e.index}" for d, e in common.claimed(config, devices)}
    for d in devices.devices:
        if d.address not in out and common.VFIO in (d.driver, d.driver_override):
            out[d.address] = "bound to vfio-pci"
    return out


@check("PCI-K005", Layer.KERNEL, title="IOMMU groups of assignable devices are viable")
def group_viable(devices: dm.DeviceFacts, iommu_groups: Mapping[int, tuple[str, ...]],
                 compute_config: dm.ConfigFacts | None = None) -> Iterator[dm.Result]:
    """vfio hands a whole IOMMU group to one guest. A group is *not viable* when another member is
    bound to a host driver (vfio: "group N is not viable; Please ensure all devices within the
    iommu_group are bound to their vfio bus driver"), typically another function of the same card
    (a GPU's audio function, the second NIC port). Fails for such members; warns when a PCI bridge
    shares the group (no ACS isolation below it) or when two assignable devices share one group (they
    can only go to the same guest). Checked for devices a device_spec claims or that sit on vfio-pci."""
    targets = _targets(devices, compute_config)
    group_of = {a: g for g, members in iommu_groups.items() for a in members}
    for address, why in sorted(targets.items()):
        group = group_of.get(address)
        if group is None:
            continue
        peers = [p for p in iommu_groups[group] if p != address]
        yield from _group_results(address, why, group, peers, devices, targets)


def _group_results(address: str, why: str, group: int, peers: list[str], devices: dm.DeviceFacts,
                   targets: Mapping[str, str]) -> Iterator[dm.Result]:
    base = [dm.Evidence(common.sysfs(address, "iommu_group"), f"{group} ({why})"),
            dm.Evidence(f"{GROUPS_DIR}/{group}/devices", " ".join(sorted([address, *peers])))]
    for peer in peers:
        dev = devices.by_address.get(peer)
        if dev is None:
            continue
        same_card = common.slot_of(peer) == common.slot_of(address)
        who = "another function of the same card" if same_card else "another device"
        if model.is_bridge(dev):
            yield dm.result(dm.WARN, address, f"IOMMU group {group} also holds the bridge {peer}: the "
                            "group is not isolated (no ACS), everything in it goes to one guest",
                            [*base, dm.Evidence(common.sysfs(peer, "class"), dev.class_code or "?")],
                            "move the card to a slot with ACS isolation (a root port of its own)")
        elif peer in targets and address < peer:
            yield dm.result(dm.WARN, address, f"IOMMU group {group} holds two assignable devices "
                            f"({address}, {peer}): only one guest can own the group",
                            base, f"claim the whole group for one guest, or exclude {peer} from device_spec")
        elif dev.driver is not None and dev.driver not in common.GROUP_SAFE_DRIVERS and peer not in targets:
            yield dm.result(dm.FAIL, address, f"IOMMU group {group} is not viable: {who}, {peer}, is "
                            f"bound to the host driver {dev.driver}",
                            [*base, common.driver_evidence(dev)],
                            f"driverctl set-override {common.sh(peer)} vfio-pci (or unbind it: echo "
                            f"{common.sh(peer)} > {common.sysfs_path(peer, 'driver/unbind')})")
