"""From lspci records to devices: one record per address, IDs and names from pci.ids.

The parser (:mod:`~pcipass.adapters.lspci`) turns each record of a paste into
an :class:`LspciRecord`. A paste often shows a device more than once (``-nnk``
then ``-vvv``): :func:`merge` folds them, reporting values that disagree, and
:func:`to_device` makes the :class:`~pcipass.core.model.Device`, guessing
missing IDs from names only when asked.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence

from pcipass.adapters import lspcigroups, pciids
from pcipass.core import model

SRIOV_UNCOUNTED = "SR-IOV capability shown without its VF counts (lspci -vv as root shows them)"
"""A device warning: the device may be a PF, but the paste does not say how many VFs it has."""
Report = Callable[[str, str, int | None], None]
"""Records a problem: code, message and the paste's line."""
_UNKNOWN_DEVICE = re.compile(r"(?:^|\s)Device(?: (?P<id>[0-9a-fA-F]{4}))?$")


@dataclasses.dataclass
class LspciRecord:
    """One device as one lspci record showed it (before merging), with its 1-based line."""

    address: str
    line: int
    form: str  # "terse" (-nn / plain), "verbose" (-v...), "machine" (-vmm)
    class_name: str | None = None
    class_id: str | None = None
    prog_if: str | None = None
    text: str | None = None
    vendor_id: str | None = None
    product_id: str | None = None
    subsystem_vendor_id: str | None = None
    subsystem_id: str | None = None
    revision: str | None = None
    driver: str | None = None
    modules: tuple[str, ...] = ()
    numa_node: int | None = None
    iommu_group: int | None = None
    sriov: bool = False
    sriov_totalvfs: int | None = None
    sriov_numvfs: int | None = None
    sriov_vf_device: str | None = None
    card_serial_number: str | None = None
    access_denied: bool = False
    vendor_name: str | None = None
    device_name: str | None = None
    capabilities: bool = False  # -vv showed its capability list (not "<access denied>")
    parent_addr: str | None = None  # the PF, from a physfn/virtfnN link in the paste
    vf_index: int | None = None
    has_vfs: bool = False  # a virtfnN link names it as a PF
    virtual_bar: bool = False  # a "Region N: ... [virtual]" line: BARs set by a PF, as a VF's are


def apply_links(merged: dict[str, LspciRecord], links: Mapping[str, lspcigroups.Link]) -> None:
    """Mark the VFs and PFs that ``physfn``/``virtfnN`` lines of the paste name."""
    for link in links.values():
        vf, pf = merged.get(link.vf), merged.get(link.pf)
        if vf is not None:
            vf.parent_addr = link.pf
            vf.vf_index = link.vf_index if link.vf_index is not None else vf.vf_index
        if pf is not None:
            pf.has_vfs = True


def device_type(rec: LspciRecord) -> str | None:
    """The type the paste shows, or ``None`` when it does not tell (a ``-nn`` line).

    A VF: a ``physfn`` link, or "Virtual Function" in its name (every SR-IOV VF in
    pci.ids is named so). A PF: an SR-IOV capability with Total VFs > 0, or a
    ``virtfnN`` link. type-PCI: ``-vv`` listed its capabilities (as root) and none
    of them is SR-IOV with VFs, and no BAR is ``[virtual]`` (a VF's BARs read 0 in its
    config space, so lspci marks them so; a VF whose name does not say so, such as
    QEMU's emulated NVMe VF, shows only that).
    """
    names = " ".join(n for n in (rec.text, rec.device_name) if n)
    if rec.parent_addr is not None or "virtual function" in names.lower():
        return model.TYPE_VF
    if (rec.sriov and (rec.sriov_totalvfs or 0) > 0) or rec.has_vfs:
        return model.TYPE_PF
    if rec.sriov:  # -v shows the capability but not Total VFs; "Total VFs: 0" is no PF
        return model.TYPE_PCI if rec.sriov_totalvfs == 0 else None
    if rec.capabilities and not rec.access_denied and not rec.virtual_bar:
        return model.TYPE_PCI
    return None


def merge(records: Sequence[LspciRecord], report: Report) -> dict[str, LspciRecord]:
    """One record per address, later records of it folded into the first (copies, in order)."""
    merged: dict[str, LspciRecord] = {}
    for rec in records:
        if rec.address in merged:
            _merge_into(merged[rec.address], rec, report)
        else:
            merged[rec.address] = dataclasses.replace(rec)
    return merged


def _merge_into(into: LspciRecord, rec: LspciRecord, report: Report) -> None:
    """Fold a later record of the same address into the first; conflicts are reported."""
    for field in dataclasses.fields(LspciRecord):
        name = field.name
        if name in ("address", "line", "form"):
            continue
        old, new = getattr(into, name), getattr(rec, name)
        if _empty(new) or old == new:
            continue
        if name == "revision" and new == "00":
            continue
        if _empty(old) or (name == "revision" and old == "00") or name == "text":
            setattr(into, name, new)
        else:
            report("LspciConflict", f"{rec.address}: {name} is {old!r} on line {into.line} "
                   f"but {new!r} here; keeping {old!r}", rec.line)
    if rec.form != "terse":
        into.form = rec.form if into.form == "terse" else into.form


def to_device(rec: LspciRecord, pci_ids: pciids.PciIds | None, *, guess_ids: bool,
              report: Report) -> model.Device | None:
    """The device a merged record describes, or ``None`` (reported) when its IDs are unknown.

    :param guess_ids: find missing IDs from the names in ``pci_ids`` (flagged when found).
    """
    warnings: list[str] = []
    if rec.sriov and rec.sriov_totalvfs is None:
        warnings.append(SRIOV_UNCOUNTED)
    if rec.vendor_id is None or rec.product_id is None:
        if not (guess_ids and _ids_from_names(rec, pci_ids)):
            report("LspciNoIds", f"{rec.address}: no [vendor:device] IDs (use lspci -nn); "
                   "device left out", rec.line)
            return None
        note = (f"{rec.address}: IDs {rec.vendor_id}:{rec.product_id} guessed from the name "
                f"{rec.text or rec.device_name!r} in pci.ids")
        warnings.append(f"line {rec.line}: {note}")
        report("LspciIdsFromNames", note, rec.line)
    if rec.class_id is None and rec.class_name and pci_ids is not None:
        rec.class_id = pci_ids.class_id(rec.class_name)
    prog_if = rec.prog_if or ("00" if rec.form == "verbose" else None)
    class_code = (rec.class_id + prog_if) if rec.class_id and prog_if else None
    assert rec.vendor_id is not None and rec.product_id is not None
    return model.Device(
        address=rec.address, vendor_id=rec.vendor_id, product_id=rec.product_id,
        subsystem_vendor_id=rec.subsystem_vendor_id, subsystem_id=rec.subsystem_id,
        class_code=class_code, revision=rec.revision, name=_name(rec, pci_ids),
        dev_type=device_type(rec), parent_addr=rec.parent_addr, vf_index=rec.vf_index,
        numa_node=model.known_numa_node(rec.numa_node), driver=rec.driver,
        iommu_group=rec.iommu_group,
        sriov_totalvfs=rec.sriov_totalvfs if rec.sriov else None,
        sriov_numvfs=rec.sriov_numvfs if rec.sriov else None,
        sriov_vf_device=rec.sriov_vf_device if rec.sriov else None,
        card_serial_number=rec.card_serial_number,
        warnings=tuple(warnings),
    )


def _ids_from_names(rec: LspciRecord, pci_ids: pciids.PciIds | None) -> bool:
    """Fill in IDs from names via pci.ids (unambiguous matches only)."""
    if pci_ids is None:
        return False
    vendor_id = rec.vendor_id
    device_text = rec.device_name
    if vendor_id is None:
        if rec.vendor_name is not None:
            ids = pci_ids.vendor_ids(rec.vendor_name)
            vendor_id = ids[0] if len(ids) == 1 else None
        elif rec.text:
            split = pci_ids.split_vendor(rec.text)
            if split is not None:
                vendor_id, device_text = split
    if vendor_id is None or device_text is None:
        return False
    product_id = rec.product_id
    if product_id is None:
        unknown = _UNKNOWN_DEVICE.fullmatch(device_text.strip()) or _UNKNOWN_DEVICE.match(device_text.strip())
        if unknown and unknown.group("id"):
            product_id = unknown.group("id").lower()
        else:
            ids = pci_ids.device_ids(vendor_id, device_text.strip())
            product_id = ids[0] if len(ids) == 1 else None
    if product_id is None:
        return False
    rec.vendor_id, rec.product_id = vendor_id, product_id
    return True


def _name(rec: LspciRecord, pci_ids: pciids.PciIds | None) -> str | None:
    """The name lspci printed, or ``None`` for an ID pci.ids did not know ("Device")."""
    if pci_ids is not None and rec.vendor_id and rec.product_id:
        known = pci_ids.describe(rec.vendor_id, rec.product_id)
        if known is not None:
            return known
    if rec.form == "machine" or rec.device_name is not None:
        if rec.device_name is None or _UNKNOWN_DEVICE.fullmatch(rec.device_name):
            return None
        return f"{rec.vendor_name} {rec.device_name}" if rec.vendor_name else rec.device_name
    text = rec.text
    if not text or _UNKNOWN_DEVICE.search(text):
        return None
    return text


def _empty(value: object) -> bool:
    """Unset in a record (0 is a value, so no truthiness test)."""
    return value is None or value is False or value == ()
