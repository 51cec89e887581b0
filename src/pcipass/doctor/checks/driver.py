"""Driver and VF state: are the VFs there, on the right driver, and will they be after a reboot?"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pcipass.core import model, pools, spec
from pcipass.doctor import model as dm
from pcipass.doctor.checks import common
from pcipass.doctor.registry import check
from pcipass.core.layers import Layer


def _numvfs_fix(pf: model.Device, count: int) -> str:
    path = common.sysfs_path(pf.address, "sriov_numvfs")
    return f"echo 0 > {path}; echo {common.sh(count)} > {path} (and persist it: see PCI-D006)"


def _wants_vfs(pf: model.Device, config: dm.ConfigFacts | None,
               controller: dm.ControllerFacts | None) -> str | None:
    """Why the configuration expects VFs of ``pf``: a spec or alias naming its VF ID or address."""
    vf_id = pf.sriov_vf_device if pf.sriov_vf_device != pf.product_id else None  # same ID: the PF itself
    if config is not None:
        for entry in config.specs.specs:
            s = entry.spec
            if vf_id and s.product_id == vf_id and s.vendor_id in (spec.ANY, pf.vendor_id):
                return f"device_spec entry {entry.index} asks for product_id {vf_id}"
            if s.physical_function and s.address is not None and s.address.single_address() == pf.address:
                return f"device_spec entry {entry.index} names this PF's address (its VFs)"
    if controller is not None and vf_id:
        ids = {"vendor_id": pf.vendor_id, "product_id": vf_id}
        for al in controller.aliases.aliases.values():
            # the pools' own comparison (IDs in any case), on the two IDs the alias must both name
            if any(pools.prop_match(ids, {k: x.get(k) for k in ids}) for x in al.specs):
                return f"alias {al.name!r} asks for {pf.vendor_id}:{vf_id}"
    return None


@check("PCI-D001", Layer.DRIVER, title="VFs exist where the config expects them")
def numvfs_zero(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts | None = None,
                controller_config: dm.ControllerFacts | None = None) -> Iterator[dm.Result]:
    """An SR-IOV PF with ``sriov_numvfs`` 0 has no VFs, so a device_spec or alias naming the VF product
    ID (or the PF's address, meaning its VFs) finds nothing. Fails for every such PF; PFs nobody asks
    VFs of are left alone."""
    for pf in devices.devices:
        if not pf.sriov_totalvfs or pf.sriov_numvfs != 0:
            continue
        why = _wants_vfs(pf, compute_config, controller_config)
        if why is None:
            continue
        yield dm.result(
            dm.FAIL, pf.address, f"SR-IOV is enabled on nothing: sriov_numvfs is 0 but {why}",
            [dm.Evidence(common.sysfs(pf.address, "sriov_numvfs"), "0"),
             dm.Evidence(common.sysfs(pf.address, "sriov_totalvfs"), str(pf.sriov_totalvfs))],
            _numvfs_fix(pf, pf.sriov_totalvfs))


@check("PCI-D002", Layer.DRIVER, title="sriov_numvfs within sriov_totalvfs")
def numvfs_above_total(devices: dm.DeviceFacts) -> Iterator[dm.Result]:
    """``sriov_numvfs`` above ``sriov_totalvfs`` cannot be written (the kernel answers "Numerical result
    out of range"); seen in a capture it means the count was edited or the firmware limit changed
    (e.g. Mellanox ``NUM_OF_VFS``). Fails."""
    for pf in devices.devices:
        if pf.sriov_numvfs is not None and pf.sriov_totalvfs is not None and pf.sriov_numvfs > pf.sriov_totalvfs:
            yield dm.result(
                dm.FAIL, pf.address,
                f"sriov_numvfs {pf.sriov_numvfs} is above sriov_totalvfs {pf.sriov_totalvfs}",
                [dm.Evidence(common.sysfs(pf.address, "sriov_numvfs"), str(pf.sriov_numvfs)),
                 dm.Evidence(common.sysfs(pf.address, "sriov_totalvfs"), str(pf.sriov_totalvfs))],
                _numvfs_fix(pf, pf.sriov_totalvfs))


@check("PCI-D003", Layer.DRIVER, title='managed "no" devices are pre-bound to vfio-pci')
def managed_no_on_vfio(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts) -> Iterator[dm.Result]:
    """With ``"managed": "no"`` libvirt does not detach the device from its host driver; it must already
    be on vfio-pci, or the boot fails ("Unmanaged PCI device ... must be manually detached from the
    host"). Fails for every device such a spec claims that is not bound to vfio-pci."""
    unknown = common.drivers_unknown(devices)
    for dev, entry in common.claimed(compute_config, devices):
        if common.managed_no(entry) and dev.driver != common.VFIO:
            if unknown is not None:
                yield dm.result(dm.SKIP, dev.address, f"cannot tell whether it is on vfio-pci: {unknown}")
                continue
            yield dm.result(
                dm.FAIL, dev.address,
                f'device_spec entry {entry.index} says "managed": "no" but the device is on '
                f"{dev.driver or 'no driver'}, not vfio-pci",
                [compute_config.source_of(entry), common.driver_evidence(dev)],
                f"driverctl set-override {common.sh(dev.address)} vfio-pci")


@check("PCI-D004", Layer.DRIVER, title="VFs for Neutron ports have their VF driver")
def direct_port_vf_driver(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts) -> Iterator[dm.Result]:
    """VFs tagged with ``physical_network`` serve Neutron SR-IOV ports. The SR-IOV agent and Nova's
    macvtap ports need the VF's network driver (iavf, ixgbevf, mlx5_core...) and its netdev; unbound
    VFs, or VFs parked on vfio-pci, break macvtap ports and hide the VF from the agent. Warns (direct
    ports still work through libvirt's managed hostdev)."""
    unknown = common.drivers_unknown(devices)
    for dev, entry in common.claimed(compute_config, devices):
        if not dev.is_vf or not entry.spec.tags.get("physical_network") or common.managed_no(entry):
            continue
        if dev.driver is None and unknown is not None:
            yield dm.result(dm.SKIP, dev.address, f"cannot tell the VF's driver: {unknown}")
        elif dev.driver is None or dev.driver == common.VFIO:
            yield dm.result(
                dm.WARN, dev.address,
                f"VF for physical_network {entry.spec.tags['physical_network']!r} is on "
                f"{dev.driver or 'no driver'}: macvtap ports fail and the SR-IOV agent sees no netdev",
                [compute_config.source_of(entry), common.driver_evidence(dev)], _vf_driver_fix(dev))


def _vf_driver_fix(dev: model.Device) -> str:
    """Rebind the VF to its own driver: ``driverctl unset-override`` only where an override exists."""
    probe = f"echo {common.sh(dev.address)} > /sys/bus/pci/drivers_probe"
    autoprobe = (f"echo 1 > {common.sysfs_path(str(dev.parent_addr), 'sriov_drivers_autoprobe')} before "
                 "creating the VFs")
    if dev.driver_override:
        return f"driverctl unset-override {common.sh(dev.address)} (driver_override is {dev.driver_override})"
    if dev.driver == common.VFIO:
        return (f"echo {common.sh(dev.address)} > {common.sysfs_path(dev.address, 'driver/unbind')}; {probe} "
                f"(or {autoprobe})")
    return f"{probe} (or {autoprobe})"


@check("PCI-D005", Layer.DRIVER, title="PFs with VFs have their driver")
def pf_unbound(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts | None = None) -> Iterator[dm.Result]:
    """A PF whose VFs are enabled or wanted must stay on its own driver (i40e, ice, mlx5_core...): it
    owns the VFs' MAC/VLAN settings and the Neutron agent talks to it. An unbound PF leaves VFs that
    cannot be configured. Fails."""
    wanted = {d.parent_addr for d, _ in common.claimed(compute_config, devices) if d.parent_addr}
    unknown = common.drivers_unknown(devices)
    for pf in devices.devices:
        if not pf.is_pf or pf.driver is not None:
            continue
        if not (pf.sriov_numvfs or pf.address in wanted):
            continue
        if unknown is not None:
            yield dm.result(dm.SKIP, pf.address, f"cannot tell whether the PF has its driver: {unknown}")
            continue
        yield dm.result(
            dm.FAIL, pf.address, f"the PF has {pf.sriov_numvfs or 0} VF(s) but no driver bound",
            [common.driver_evidence(pf),
             dm.Evidence(common.sysfs(pf.address, "sriov_numvfs"), str(pf.sriov_numvfs))],
            f"echo {common.sh(pf.address)} > /sys/bus/pci/drivers_probe (or modprobe the PF driver)")


def _mentions(text: str, *needles: str) -> bool:
    low = text.lower()
    return any(n and n.lower() in low for n in needles)


def _numvfs_persisted(pf: model.Device, files: dm.PersistenceFacts) -> str | None:
    for path, text in files.files:
        if re.search(r"sriov_numvfs|numvfs|sriov-numvfs|total-vfs|virtual-function", text, re.I) and _mentions(
                text, pf.address, *pf.netdevs, pf.driver or "", f"{pf.vendor_id}:{pf.product_id}"):
            return path
    return None


@check("PCI-D006", Layer.DRIVER, title="VF counts survive a reboot")
def vfs_persisted(devices: dm.DeviceFacts, persistence: dm.PersistenceFacts,
                  compute_config: dm.ConfigFacts | None = None) -> Iterator[dm.Result]:
    """``sriov_numvfs`` resets to 0 at every boot. Something must write it again before nova-compute
    and the SR-IOV agent start: a udev rule, a systemd unit, sysfsutils. Warns for each PF with VFs
    (VFs a device_spec claims, or any VFs when the host has no compute config) when no collected boot
    file mentions both the VF count and this PF (address, netdev, driver or IDs). A capture that holds
    none of the places a VF count is persisted in (udev rules, systemd units, sysfsutils, rc.local)
    cannot tell: skip."""
    used = {d.parent_addr for d, _ in common.claimed(compute_config, devices) if d.parent_addr}
    missing = [p for p in NUMVFS_PLACES if persistence.collected is not None and p not in persistence.collected]
    for pf in devices.devices:
        if not pf.sriov_numvfs or (compute_config is not None and pf.address not in used):
            continue
        if _numvfs_persisted(pf, files=persistence) is not None:
            continue
        if len(missing) == len(NUMVFS_PLACES):  # none of the places that persist a VF count was collected
            yield dm.result(dm.SKIP, pf.address, "cannot tell whether the VF count is persisted: the host "
                            f"root holds none of {', '.join(NUMVFS_PLACES)} (not collected: unknown, not absent)")
            continue
        yield dm.result(
            dm.WARN, pf.address, f"{pf.sriov_numvfs} VFs are not persisted: no udev rule, unit or "
            "sysfs.conf sets sriov_numvfs for this PF, so they vanish at the next reboot",
            [dm.Evidence(common.sysfs(pf.address, "sriov_numvfs"), str(pf.sriov_numvfs)),
             dm.Evidence("etc/", f"{len(persistence.files)} collected boot file(s), none for this PF")],
            f"echo {common.sh(_udev_rule(pf))} > /etc/udev/rules.d/70-sriov.rules")


#: Where a VF count is persisted: udev rules, systemd units, sysfsutils, rc.local.
NUMVFS_PLACES = ("etc/udev/rules.d", "etc/systemd/system", "etc/sysfs.d", "etc/sysfs.conf", "etc/rc.local")


def _udev_rule(pf: model.Device) -> str:
    """The udev rule that sets ``pf``'s VF count at boot (one line; quoted as a whole by the caller)."""
    return f'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="{pf.address}", ATTR{{sriov_numvfs}}="{pf.sriov_numvfs}"'


def _binding_persisted(dev: model.Device, files: dm.PersistenceFacts) -> bool:
    ids = f"{dev.vendor_id}:{dev.product_id}"
    if ids in files.cmdline_vfio_ids:
        return True
    for path, text in files.files:
        if path.startswith("etc/driverctl.d") and _mentions(path + text, dev.address):
            return True
        if "vfio" in text and (_mentions(text, ids) or _mentions(text, dev.address)):
            return True
    return False


@check("PCI-D007", Layer.DRIVER, title="vfio-pci bindings survive a reboot")
def vfio_binding_persisted(devices: dm.DeviceFacts, persistence: dm.PersistenceFacts,
                           compute_config: dm.ConfigFacts | None = None) -> Iterator[dm.Result]:
    """A device pre-bound to vfio-pci by hand (``driver_override``) returns to its host driver at boot.
    Devices that must stay on vfio-pci (``managed: "no"`` specs, or any driver_override when the host
    has no compute config) need a driverctl override, ``options vfio-pci ids=`` in modprobe.d, or
    ``vfio-pci.ids=`` on the command line. Warns when none of these covers the device."""
    if compute_config is not None:
        targets = [d for d, e in common.claimed(compute_config, devices) if common.managed_no(e)]
    else:
        targets = [d for d in devices.devices if d.driver_override == common.VFIO]
    for dev in targets:
        if _binding_persisted(dev, persistence):
            continue
        yield dm.result(
            dm.WARN, dev.address, "the vfio-pci binding is not persisted: after a reboot the device is "
            f"back on {'its host driver' if dev.driver == common.VFIO else 'another driver'}",
            [dm.Evidence(common.sysfs(dev.address, "driver_override"), dev.driver_override or "(null)"),
             common.driver_evidence(dev)],
            f"driverctl set-override {common.sh(dev.address)} vfio-pci")


@check("PCI-D008", Layer.DRIVER, title="device types are known")
def types_known(devices: dm.DeviceFacts) -> Iterator[dm.Result]:
    """A paste such as ``lspci -nn`` shows no SR-IOV capability, so it cannot say whether a device is a
    PF, a VF or a plain PCI device. Nova's pools and aliases key on that type (``device_type``), so the
    doctor takes such a device as type-PCI, as Nova does a device without SR-IOV, and warns: an alias
    for ``type-PF`` or ``type-VF`` may then look unreachable when it is not. ``lspci -nnvvv`` as root
    settles it (the SR-IOV capability with its VF counts; VFs say "Virtual Function")."""
    if not devices.assumed_types:
        return
    shown = devices.assumed_types[:6]
    more = f" and {len(devices.assumed_types) - 6} more" if len(devices.assumed_types) > 6 else ""
    ev = [dm.Evidence(devices.source, f"{a}: {devices.by_address[a].vendor_id}:"
                      f"{devices.by_address[a].product_id}, no SR-IOV capability shown")
          for a in shown if a in devices.by_address]
    yield dm.result(dm.WARN, "device types",
                    f"{len(devices.assumed_types)} device(s) of this {devices.source} paste show no type "
                    f"({', '.join(shown)}{more}); taken as type-PCI, as Nova calls a device without "
                    "SR-IOV", ev,
                    "paste lspci -nnvvv run as root (each device's capabilities, SR-IOV among them); "
                    "lspci -vmmnnkD adds NUMA nodes and IOMMU groups")
