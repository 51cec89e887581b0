"""Which near misses a device_spec entry could have meant: only those are offered as a fix.

A near miss that is no device the operator could have meant makes a harmful fix (seen: a memory
controller proposed for a NIC entry, a VGA function for an audio entry, the PF's id for an entry
that already had the VF's). Pure: the entry, the device and the host's other devices.
"""

from __future__ import annotations

from pcipass.core import model, spec
from pcipass.doctor import model as dm


def plausible(s: spec.DeviceSpec, dev: model.Device, diffs: list[spec.Mismatch],
               devices: dm.DeviceFacts) -> bool:
    """Is ``dev`` a device the operator could have meant? Only those are offered as a fix.

    An address-only miss on a wildcard-id spec is no hint (every device would be one). An ID
    miss is plausible only for a VF of a PF with the entry's id, a device of the same vendor and
    class as the host's devices with the entry's id, or a device whose subsystem is the entry's
    id; never the PF whose VFs the entry's id names (the entry already has the VF's id).
    """
    field = diffs[0].field
    if field in ("address", "parent_addr", "devname"):
        return s.vendor_id != spec.ANY and s.product_id != spec.ANY
    if field == "vendor_id":
        return dev.subsystem_vendor_id == s.vendor_id
    if field != "product_id":
        return True
    if is_vf_id_of(s.product_id, dev, devices):
        return False  # the entry has the VF's id: the PF's own id is never the fix
    parent = devices.by_address.get(dev.parent_addr) if dev.parent_addr else None
    if dev.is_vf and parent is not None and parent.product_id == s.product_id:
        return True  # a VF of the PF the entry names
    if (dev.subsystem_vendor_id, dev.subsystem_id) == (s.vendor_id, s.product_id):
        return True  # the subsystem id copied from lspci
    anchors = [d for d in devices.devices if d.vendor_id == dev.vendor_id and d.product_id == s.product_id]
    return any(a.class_code and dev.class_code and a.class_code[:4] == dev.class_code[:4] for a in anchors)


def is_vf_id_of(product_id: str, dev: model.Device, devices: dm.DeviceFacts) -> bool:
    """Is ``product_id`` the VF id of ``dev`` (a PF: its VFs report it, or its SR-IOV capability says so)?"""
    if dev.sriov_vf_device == product_id:
        return True
    return any(v.product_id == product_id for v in devices.vfs_of(dev.address))
