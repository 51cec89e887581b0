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
from collections.abc import Callable, Sequence

from pcipass.adapters import pciids
from pcipass.core import model

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
    is_pf = rec.sriov and (rec.sriov_totalvfs or 0) > 0
    assert rec.vendor_id is not None and rec.product_id is not None
    return model.Device(
        address=rec.address, vendor_id=rec.vendor_id, product_id=rec.product_id,
        subsystem_vendor_id=rec.subsystem_vendor_id, subsystem_id=rec.subsystem_id,
        class_code=class_code, revision=rec.revision, name=_name(rec, pci_ids),
        dev_type=model.TYPE_PF if is_pf else None,
        numa_node=rec.numa_node, driver=rec.driver, iommu_group=rec.iommu_group,
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
