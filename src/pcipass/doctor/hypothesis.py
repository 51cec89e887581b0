""""Even after the ID fix": one corrected view of every entry a flavor's requests depend on.

A near-miss ID is rarely copied into one place only: the PF's product id sits in the
device_spec *and* in the alias. A hypothesis corrects one ID (``field`` from
``wanted`` to ``got``) everywhere it appears, the device_spec entries the mapping
table finds near misses for and the alias specs of the flavor's requests, so the
scheduling core can be asked the question the operator will ask next: with the ID
fixed, does the flavor fit?

Pure: it reads the mapping table's rows and the devices, and returns new records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pcipass.core import model, requests, spec
from pcipass.doctor import mapping
from pcipass.doctor import model as dm

ID_FIELDS = ("vendor_id", "product_id")


@dataclasses.dataclass(frozen=True, slots=True)
class Hypothesis:
    """One ID corrected: the device_spec entries and the aliases that carried ``wanted``."""

    field: str
    wanted: str
    got: str
    entries: tuple[spec.SpecEntry, ...]
    aliases: tuple[str, ...] = ()

    @property
    def indexes(self) -> frozenset[int]:
        return frozenset(e.index for e in self.entries)

    def where(self) -> str:
        """``device_spec entry 0 and alias 'vf'``: every place the correction touches."""
        places = []
        if self.entries:
            noun = "entry" if len(self.entries) == 1 else "entries"
            places.append(f"device_spec {noun} {', '.join(str(e.index) for e in self.entries)}")
        places += [f"alias {a!r}" for a in self.aliases]
        return " and ".join(places)

    def corrected_specs(self, specs: Sequence[spec.SpecEntry]) -> list[spec.SpecEntry]:
        mine = self.indexes
        return [_corrected_entry(e, self.field, self.got) if e.index in mine else e for e in specs]


def vf_id_for(vendor: str | None, product: str | None, devices: dm.DeviceFacts) -> str | None:
    """The VFs' product id when ``vendor:product`` names only PFs whose VFs report another id."""
    if not vendor or not product:
        return None
    mixup = mapping.vf_mixup(product, devices.with_ids(vendor, product), devices)
    return mixup.vf_id if mixup is not None else None


def hypotheses(rows: Sequence[mapping.SpecRow], fl_requests: Sequence[requests.PciRequest],
               devices: dm.DeviceFacts) -> list[Hypothesis]:
    """Every ID correction the mapping table or the aliases suggest, each applied everywhere at once.

    From the device_spec: a MISSING entry's near miss that differs in one ID field, and a
    MATCHED entry that claims only PFs whose VFs report another id (the PF id copied where
    the VFs were meant). From the aliases: a ``type-VF`` request naming a PF's id. The
    aliases that carry the same wrong value join the same hypothesis.
    """
    found: dict[tuple[str, str, str], list[spec.SpecEntry]] = {}
    for row in rows:
        for field, wanted, got in _row_fixes(row, devices):
            entries = found.setdefault((field, wanted, got), [])
            if row.entry not in entries:
                entries.append(row.entry)
    for req in fl_requests:
        for s in req.specs:
            vf_id = vf_id_for(s.get("vendor_id"), s.get("product_id"), devices)
            if vf_id is not None and s.get("dev_type") == model.TYPE_VF:
                found.setdefault(("product_id", s["product_id"].lower(), vf_id), [])
    out = []
    for (field, wanted, got), entries in found.items():
        names = tuple(dict.fromkeys(r.alias_name for r in fl_requests if r.alias_name and any(
            str(s.get(field, "")).lower() == wanted for s in r.specs)))
        if entries or names:
            out.append(Hypothesis(field, wanted, got, tuple(entries), names))
    return out


def _row_fixes(row: mapping.SpecRow, devices: dm.DeviceFacts) -> list[tuple[str, str, str]]:
    entry = row.entry
    out: list[tuple[str, str, str]] = []
    if row.status == mapping.MISSING:
        for miss in row.near_misses:
            diff = miss.differs
            if len(diff) == 1 and diff[0].field in ID_FIELDS and diff[0].got and diff[0].wanted:
                out.append((diff[0].field, str(diff[0].wanted).lower(), str(diff[0].got).lower()))
    elif row.status == mapping.MATCHED and entry.spec.product_id != spec.ANY:
        pfs = list(row.devices)
        mixup = mapping.vf_mixup(entry.spec.product_id, pfs, devices)
        if mixup is not None and any(devices.vfs_of(pf.address) for pf in pfs):
            out.append(("product_id", entry.spec.product_id.lower(), mixup.vf_id))
    return list(dict.fromkeys(out))


def corrected_requests(hyp: Hypothesis, fl_requests: Sequence[requests.PciRequest]) -> list[requests.PciRequest]:
    """The flavor's requests with the hypothesis's aliases corrected (other requests as they are)."""
    out = []
    for req in fl_requests:
        if req.alias_name not in hyp.aliases:
            out.append(req)
            continue
        specs = [{**s, hyp.field: hyp.got} if str(s.get(hyp.field, "")).lower() == hyp.wanted else dict(s)
                 for s in req.specs]
        out.append(dataclasses.replace(req, specs=specs))
    return out


def _corrected_entry(entry: spec.SpecEntry, field: str, got: str) -> spec.SpecEntry:
    raw = {**entry.spec.raw, field: got}
    old = entry.spec
    new = (dataclasses.replace(old, raw=raw, vendor_id=got) if field == "vendor_id"
           else dataclasses.replace(old, raw=raw, product_id=got))
    return dataclasses.replace(entry, spec=new)
