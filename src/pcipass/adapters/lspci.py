"""Parse lspci output that operators paste: ``-nnk``, ``-vmmnnk[D]``, ``-nnvvv`` and plain ``lspci``.

Pastes are messy, so the parser takes in stride: markdown fences and shell
prompts around the output, spaces instead of tabs, missing domains, missing
``Kernel modules:`` lines, ``Device [8086:4940]`` for IDs pci.ids lacks,
several commands in one paste (records of the same address are merged), and
``IOMMU group N`` loop prefixes.

What lspci cannot tell is ``None``:

* ``dev_type`` is what the paste shows (:func:`lspcirecords.device_type`): a VF by
  its "Virtual Function" name or a ``physfn`` link pasted beside it, a PF by an
  SR-IOV capability with Total VFs > 0 (or a ``virtfnN`` link), type-PCI when
  ``-vv`` lists the capabilities without SR-IOV; otherwise ``None`` (``-nn``).
* IOMMU-group listings (``IOMMU Group N:`` headers, ``lspci -mm`` group lines) are
  read with their group numbers (:mod:`~pcipass.adapters.lspcigroups`).
* ``class_code`` needs the prog-if, which terse output (``-nn``) never prints:
  it is ``None`` there (the 4-digit class is kept in
  :attr:`~pcipass.adapters.lspcirecords.LspciRecord.class_id`).
* ``revision`` is ``"00"`` when no ``(rev ..)`` is shown: lspci omits a zero revision.
* ``sriov_totalvfs`` is the capability's TotalVFs; a driver may lower the
  sysfs value below it.

Without ``-nn`` there are no IDs, and such records are left out with a
problem naming the line. ``guess_ids=True`` looks the names up in reverse in
a pci.ids database (unambiguous matches only, each flagged): opt-in, because
pci.ids renames devices between versions. The X550 paste in the corpus says
"Ethernet Controller 10G X550T", which the 2023 pci.ids gives to 15d1, while
the card is 1563.
"""

from __future__ import annotations

import dataclasses
import re

from pcipass.adapters import lspcigroups, lspcirecords, pciids
from pcipass.core import address as address_mod
from pcipass.core import errors, model

# NOTE: pastes are hostile input, so no pattern here may backtrack over a run of characters
# more than once. Where two quantifiers could share a run of spaces (the old "\s+" before a
# class that also took spaces, or a search() starting with "\s*"), one of them now excludes
# spaces, and surrounding spaces are stripped in code: "00:00.0" and 16,000 spaces took 11 s.
# The group prefix: "IOMMU group 35 " (a loop's printf), "IOMMU Group  35: " (ls-iommu,
# whose class has no colon after its "[0c03]": the colon is optional after a class ID only),
# or "Group 35 Device: ".
_HEADER = re.compile(
    r"^\s*(?:(?:IOMMU )?[Gg]roup\s+(?P<group>\d+)(?:\s+Device)?(?::\s*|\s+))?"
    r"(?P<addr>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+"
    r"(?P<class>[^\s:\[\]][^:\[\]]*?)(?:\s\[(?P<cid>[0-9a-fA-F]{4})\]:?|:)\s(?P<rest>.*)$")
_PROGIF = re.compile(r"\(prog-if (?P<pi>[0-9a-fA-F]{2})(?: \[[^\]]*\])?\)\s*$")
_REV = re.compile(r"\(rev (?P<rev>[0-9a-fA-F]{2})\)\s*$")
_IDS = re.compile(r"\[(?P<v>[0-9a-fA-F]{4}):(?P<d>[0-9a-fA-F]{4})\]\s*$")
_VMM_TAG = re.compile(r"^(?P<tag>[A-Za-z]+):\s+(?P<value>.*)$")
_VMM_ID = re.compile(r"^(?P<name>.*)\[(?P<id>[0-9a-fA-F]{2,4})\]$")
_TOTAL_VFS = re.compile(r"Total VFs:\s*(?P<total>\d+),\s*Number of VFs:\s*(?P<num>\d+)")
_DEVICE_ID = re.compile(r"Device ID:\s*(?P<id>[0-9a-fA-F]{4})")
MAX_LINE = 4096
"""Longest line read, in characters. lspci's longest lines (VPD fields, -vvv capability
details) are a few hundred; a longer one ends the record it is in, with a problem."""
MAX_NUMBER = 2**31 - 1
"""Largest NUMA node, IOMMU group or VF count read; a larger one is left unknown, with a problem."""
MAX_DIGITS = 4300
"""Python's own ``int()`` bound. A field number longer than this (only an overlong line can hold
one) was a crash; it is now the error :data:`NUMBER_TOO_LONG`, and the paste is invalid."""
NUMBER_TOO_LONG = "LspciNumberTooLong"
ERRORS = frozenset({NUMBER_TOO_LONG})
"""Problem codes that make a paste invalid input (the file reader raises on them: exit 2)."""
# A digit run longer than MAX_DIGITS, found from its first digit only (linear: the lookbehind
# fails at once inside a run), and the field label just before it.
_LONG_NUMBER = re.compile(r"(?<![0-9])[0-9]{%d}[0-9]*" % (MAX_DIGITS + 1))
_NUMBER_LABEL = re.compile(r"(NUMA node|NUMANode|IOMMU [Gg]roup|IOMMUGroup|Group|Total VFs|"
                           r"Number of VFs):?[ \t]*$")
# lspci -vv as root, inside "Capabilities: [..] Vital Product Data": "[SN] Serial number: MT1844K19636"
_VPD_SERIAL = re.compile(r"^\[SN\] Serial number:(?P<sn>.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclasses.dataclass(frozen=True, slots=True)
class LspciParse:
    """Devices found in a paste, the merged records behind them, and problems by line."""

    devices: tuple[model.Device, ...]
    records: tuple[lspcirecords.LspciRecord, ...]
    problems: tuple[errors.Problem, ...]
    source: str | None = None

    def by_address(self) -> dict[str, model.Device]:
        return {dev.address: dev for dev in self.devices}


def parse(text: str, *, source: str | None = None, pci_ids: pciids.PciIds | None = None,
          guess_ids: bool = False) -> LspciParse:
    """Parse lspci output into devices.

    :param source: the file name, put into each problem.
    :param pci_ids: names for devices, and 4-digit classes from class names.
    :param guess_ids: find missing IDs from names in ``pci_ids`` (see module doc).
    """
    parser = _Parser(source, guess_ids)
    parser.feed(text)
    return parser.finish(pci_ids)


class _Parser:
    def __init__(self, source: str | None, guess_ids: bool) -> None:
        self.source = source
        self.guess_ids = guess_ids
        self.records: list[lspcirecords.LspciRecord] = []
        self.problems: list[errors.Problem] = []
        self.current: lspcirecords.LspciRecord | None = None
        self.in_sriov = False
        self.in_vpd = False
        self.group: int | None = None  # the "IOMMU Group N:" the lines below belong to
        self.links: dict[str, lspcigroups.Link] = {}

    def problem(self, code: str, message: str, line: int | None) -> None:
        self.problems.append(errors.Problem(code=code, message=message, file=self.source, line=line))

    # -- line dispatch ------------------------------------------------------------------

    def feed(self, text: str) -> None:
        for number, raw in enumerate(text.splitlines(), 1):
            if len(raw) > MAX_LINE and self.number_too_long(raw, number):
                continue
            if len(raw) > MAX_LINE:
                # An indented line is one field of the current record: only it is lost. Any
                # other line may have started a record, so the current one ends there.
                field = raw[:1] in " \t" and self.current is not None
                self.problem("LspciLineTooLong", f"line {number} is {len(raw):,} characters long, "
                             f"more than lspci prints (at most {MAX_LINE:,} read); not read"
                             + ("" if field else ", and the record before it ends there"), number)
                if not field:
                    self.end()
                continue
            line = raw.rstrip().replace("\u00a0", " ")
            if not line.strip() or _FENCE.match(line):
                self.end()
                self.group = None
                continue
            if self.listing_line(line, number):
                continue
            if self.current is not None and self.current.form == "machine":
                if self.machine_line(line, number):
                    continue
            if line.startswith("Slot:"):
                self.start_machine(line, number)
                continue
            header = _HEADER.match(line)
            if header:
                self.start_header(header, number)
                continue
            if line[0] in " \t" and self.current is not None and self.current.form != "machine":
                self.continuation(line.strip(), number)
                continue
            self.end()  # prose, prompts, tree lines: not part of a record
            self.group = None

    def number_too_long(self, raw: str, number: int) -> bool:
        """A NUMA node, IOMMU group or VF count of more than :data:`MAX_DIGITS` digits on this
        (overlong) line: the error :data:`NUMBER_TOO_LONG`, and True."""
        for found in _LONG_NUMBER.finditer(raw):
            if label := _NUMBER_LABEL.search(raw[max(0, found.start() - 24):found.start()]):
                self.problem(NUMBER_TOO_LONG, f"{label.group(1)} is a number of "
                             f"{len(found.group()):,} digits (Python's int() reads at most "
                             f"{MAX_DIGITS:,})", number)
                return True
        return False

    def listing_line(self, line: str, number: int) -> bool:
        """An IOMMU-group header, an ``lspci -mm`` group line or an SR-IOV link: taken here."""
        group = lspcigroups.group_header(line)
        if group is not None:
            self.end()
            self.group = group
            return True
        if "[" in line[:64]:
            mm = lspcigroups.MM_LINE.match(line)
            if mm:
                self.start_mm(mm, number)
                return True
        link = lspcigroups.sriov_link(line)
        if link is not None:
            self.end()
            if link.vf not in self.links or link.vf_index is not None:
                self.links[link.vf] = link  # a virtfnN link also gives the VF's index
            return True
        return False

    def start_mm(self, m: re.Match[str], number: int) -> None:
        """``Group 35:\t[10de:21c4] [R] 09:00.0  VGA compatible controller   TU116 [...]``."""
        addr = _address(m.group("addr"))
        if addr is None:
            self.problem("LspciBadLine", f"not a valid PCI address: {m.group('addr')!r}", number)
            self.end()
            return
        if m.group("group"):
            self.group = self.number(m.group("group"), "IOMMU group", number)
        rec = lspcirecords.LspciRecord(address=addr, line=number, form="terse",
                                       class_name=m.group("class").strip(), revision="00",
                                       vendor_id=m.group("v").lower(), product_id=m.group("d").lower(),
                                       device_name=m.group("name").strip(), iommu_group=self.group)
        self.add(rec)

    def end(self) -> None:
        self.current = None
        self.in_sriov = False
        self.in_vpd = False

    def add(self, record: lspcirecords.LspciRecord) -> None:
        self.records.append(record)
        self.current = record
        self.in_sriov = False
        self.in_vpd = False

    # -- terse and verbose records --------------------------------------------------------

    def start_header(self, m: re.Match[str], number: int) -> None:
        addr = _address(m.group("addr"))
        if addr is None:
            self.problem("LspciBadLine", f"not a valid PCI address: {m.group('addr')!r}", number)
            self.end()
            return
        rec = lspcirecords.LspciRecord(address=addr, line=number, form="terse",
                          class_name=m.group("class").strip(),
                          class_id=(m.group("cid") or "").lower() or None)
        if m.group("group"):
            rec.iommu_group = self.number(m.group("group"), "IOMMU group", number)
        elif self.group is not None:
            rec.iommu_group = self.group  # under an "IOMMU Group N:" header
        rest = m.group("rest")
        pi = _PROGIF.search(rest)
        if pi:
            rec.prog_if = pi.group("pi").lower()
            rec.form = "verbose"
            rest = rest[:pi.start()].rstrip()
        rev = _REV.search(rest)
        rec.revision = rev.group("rev").lower() if rev else "00"
        rest = rest[:rev.start()].rstrip() if rev else rest
        ids = _IDS.search(rest)
        if ids:
            rec.vendor_id, rec.product_id = ids.group("v").lower(), ids.group("d").lower()
            rest = rest[:ids.start()]
        rec.text = rest.strip() or None
        self.add(rec)

    def number(self, text: str, field: str, line: int) -> int | None:
        """A NUMA node, IOMMU group or VF count as lspci prints it (the first word of ``text``).

        A number larger than :data:`MAX_NUMBER` (thousands of digits would not even
        convert) is left unknown, with a problem naming the line.
        """
        word = text.strip().split()[0] if text.strip() else ""
        digits = word.lstrip("+-").replace("_", "")
        if digits.isdigit() and (len(digits) > len(str(MAX_NUMBER)) or int(digits) > MAX_NUMBER):
            self.problem("LspciBadValue", f"{field} {errors.clip(word, 40)} is out of range "
                         f"(at most {MAX_NUMBER}); left unknown", line)
            return None
        return _int(text)

    def continuation(self, line: str, number: int) -> None:
        rec = self.current
        assert rec is not None
        key, sep, value = line.partition(":")
        value = value.strip()
        if not sep:
            return
        if key not in ("Subsystem", "DeviceName", "Kernel driver in use", "Kernel modules"):
            rec.form = "verbose"
        if key == "Subsystem":
            ids = _IDS.search(value)
            if ids:
                rec.subsystem_vendor_id = ids.group("v").lower()
                rec.subsystem_id = ids.group("d").lower()
        elif key == "Kernel driver in use":
            rec.driver = value or None
        elif key == "Kernel modules":
            rec.modules = tuple(v.strip() for v in value.split(",") if v.strip())
        elif key == "NUMA node":
            rec.numa_node = self.number(value, "NUMA node", number)
        elif key == "IOMMU group":
            rec.iommu_group = self.number(value, "IOMMU group", number)
        elif key == "Flags":  # lspci -v: "Flags: bus master, ..., NUMA node 0, IOMMU group 14"
            group = re.search(r"IOMMU group (\d+)", value)
            node = re.search(r"NUMA node (\d+)", value)
            if group:
                rec.iommu_group = self.number(group.group(1), "IOMMU group", number)
            if node:
                rec.numa_node = self.number(node.group(1), "NUMA node", number)
        elif key.startswith("Region ") and "[virtual]" in value:
            rec.virtual_bar = True
        elif key == "Capabilities":
            self.in_sriov = "(SR-IOV)" in value
            self.in_vpd = "Vital Product Data" in value
            rec.sriov = rec.sriov or self.in_sriov
            rec.access_denied = rec.access_denied or "<access denied>" in value
            rec.capabilities = rec.capabilities or "<access denied>" not in value
        elif self.in_sriov:
            self.sriov_detail(rec, line, number)
        elif self.in_vpd:
            serial = _VPD_SERIAL.match(line.strip())
            if serial and serial.group("sn").strip():
                rec.card_serial_number = serial.group("sn").strip()

    def sriov_detail(self, rec: lspcirecords.LspciRecord, line: str, number: int) -> None:
        total = _TOTAL_VFS.search(line)
        if total:
            rec.sriov_totalvfs = self.number(total.group("total"), "Total VFs", number)
            rec.sriov_numvfs = self.number(total.group("num"), "Number of VFs", number)
        offset = line.find("VF offset:")
        if offset >= 0:
            # The last "Device ID: xxxx" after "VF offset:" (what "VF offset:.*Device ID:" took).
            vfdev = None
            for vfdev in _DEVICE_ID.finditer(line, offset):
                pass
            if vfdev is not None:
                rec.sriov_vf_device = vfdev.group("id").lower()

    # -- machine-readable records (-vmm) ---------------------------------------------------

    def start_machine(self, line: str, number: int) -> None:
        value = line.partition(":")[2].strip()
        addr = _address(value)
        if addr is None:
            self.problem("LspciBadLine", f"not a valid PCI address: {value!r}", number)
            self.end()
            return
        self.add(lspcirecords.LspciRecord(address=addr, line=number, form="machine",
                                          revision="00", prog_if="00"))

    def machine_line(self, line: str, number: int) -> bool:
        m = _VMM_TAG.match(line.strip())
        if m is None or line.startswith("Slot:"):
            return False
        rec = self.current
        assert rec is not None
        tag, value = m.group("tag"), m.group("value").strip()
        named = _VMM_ID.match(value)
        name, ident = ((named.group("name").rstrip(), named.group("id").lower()) if named
                       else (value, None))
        if tag == "Class":
            rec.class_name, rec.class_id = name, ident if ident and len(ident) == 4 else None
        elif tag == "Vendor":
            rec.vendor_name, rec.vendor_id = name, _id4(ident)
        elif tag == "Device":
            rec.device_name, rec.product_id = name, _id4(ident)
        elif tag == "SVendor":
            rec.subsystem_vendor_id = _id4(ident)
        elif tag == "SDevice":
            rec.subsystem_id = _id4(ident)
        elif tag == "Rev":
            rec.revision = value.lower()[:2]
        elif tag == "ProgIf":
            rec.prog_if = value.lower()[:2]
        elif tag == "Driver":
            rec.driver = value or None
        elif tag == "Module":
            rec.modules = rec.modules + (value,)
        elif tag == "NUMANode":
            rec.numa_node = self.number(value, "NUMANode", number)
        elif tag == "IOMMUGroup":
            rec.iommu_group = self.number(value, "IOMMUGroup", number)
        return True

    # -- results ---------------------------------------------------------------------------

    def finish(self, pci_ids: pciids.PciIds | None) -> LspciParse:
        merged = lspcirecords.merge(self.records, self.problem)
        lspcirecords.apply_links(merged, self.links)
        devices: list[model.Device] = []
        for addr in sorted(merged, key=lambda a: address_mod.PciAddress.parse(a)):
            dev = lspcirecords.to_device(merged[addr], pci_ids, guess_ids=self.guess_ids,
                                         report=self.problem)
            if dev is not None:
                devices.append(dev)
        if not self.records:
            self.problem("LspciNoDevices", "no lspci device lines found", None)
        return LspciParse(devices=tuple(devices), records=tuple(merged.values()),
                          problems=tuple(self.problems), source=self.source)


def _address(text: str) -> str | None:
    addr = address_mod.PciAddress.try_parse(text.strip(), default_domain=0)
    return str(addr) if addr is not None else None


def _id4(ident: str | None) -> str | None:
    return ident if ident is not None and len(ident) == 4 else None


def _int(text: str) -> int | None:
    try:
        return int(text.strip().split()[0])
    except (ValueError, IndexError):
        return None

