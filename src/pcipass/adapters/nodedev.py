"""``virsh nodedev-dumpxml`` and ``virsh nodedev-list --tree`` pastes (``--nodedev FILE``).

A file may hold many ``<device>`` documents one after another (a loop over
``nodedev-list``), with prompts, ``<?xml ...?>`` declarations and Markdown fences
between them, and the tree form too. The XML gives each PCI function's IDs, class,
driver, NUMA node, IOMMU group (with its members), and its SR-IOV role: a
``phys_function`` capability makes a VF (its address is the PF), a
``virt_functions`` capability a PF (``maxCount`` is its TotalVFs). The tree gives
names and parents only: merged in, it names each function's interfaces
(``net_<ifname>_<mac>`` children) and the parent of a document that has none.

The XML is hostile input: each document is bounded in size and parsed with
:mod:`defusedxml` (no entity expansion, no external references); a document that
does not parse, or a device element without IDs, is a problem naming the document
and its first line, and the other documents still count.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from pcipass.adapters import boundedread, pciids
from pcipass.core import address as address_mod
from pcipass.core import errors, model

MAX_BYTES = boundedread.MAX_INPUT_BYTES
MAX_DOCUMENT = 1 << 20
"""Largest ``<device>`` document read (a PF with 256 VFs is about 20 kB)."""
MAX_NUMBER = 2**31 - 1
_NAME = re.compile(r"^pci_(?P<d>[0-9a-f]{4})_(?P<b>[0-9a-f]{2})_(?P<s>[0-9a-f]{2})_(?P<f>[0-7])$")
_TREE = re.compile(r"^(?P<lead>[ |]*)\+-\s*(?P<name>[A-Za-z0-9_:.-]+)\s*$")
_NET = re.compile(r"^net_(?P<ifname>.+?)(?:_[0-9a-f]{2}){6}$")
_START = re.compile(r"<device[\s>]")


class NodedevInputInvalid(errors.InputError):
    """A ``--nodedev`` file that cannot be read or describes no PCI device."""

    msg_fmt = "Invalid nodedev input %(path)s: %(reason)s"


@dataclasses.dataclass(frozen=True, slots=True)
class NodedevParse:
    """The PCI functions of a paste, their IOMMU groups (group -> members), and problems."""

    devices: tuple[model.Device, ...]
    iommu_groups: dict[int, tuple[str, ...]]
    problems: tuple[errors.Problem, ...]
    tree_parents: dict[str, str]


def read_nodedev(paths: str | Sequence[str]) -> NodedevParse:
    """The PCI functions in the paste at ``paths`` (one host: the tree form and the XML may
    come in files of their own, and are merged).

    :raises NodedevInputInvalid: unreadable, too large, or no PCI device in them.
    """
    names = [paths] if isinstance(paths, str) else list(paths)
    parts: list[tuple[str | None, str]] = []
    for path in names:
        try:
            data = boundedread.read_bounded(path, MAX_BYTES)
        except IsADirectoryError as exc:
            raise NodedevInputInvalid(path=path, reason="a directory") from exc
        except OSError as exc:
            raise NodedevInputInvalid(path=path, reason=exc.strerror or str(exc)) from exc
        parts.append((path, data.decode("utf-8", "replace")))
    parsed = parse_parts(parts, pci_ids=pciids.PciIds.system())
    path = ", ".join(names)
    if not parsed.devices:
        first = parsed.problems[0].message if parsed.problems else "no <device> document of a PCI function"
        raise NodedevInputInvalid(path=path, reason=f"no PCI device found ({first})",
                                  hint="paste virsh nodedev-dumpxml of each pci_* device (and "
                                       "virsh nodedev-list --tree)")
    return parsed


def parse(text: str, *, source: str | None = None, pci_ids: pciids.PciIds | None = None) -> NodedevParse:
    """Parse every ``<device>`` document and the tree form in ``text``."""
    return parse_parts([(source, text)], pci_ids=pci_ids)


def parse_parts(parts: Sequence[tuple[str | None, str]], *,
                pci_ids: pciids.PciIds | None = None) -> NodedevParse:
    """Parse the ``(source, text)`` parts of one host: the tree of every part merges into all."""
    problems: list[errors.Problem] = []
    tree: dict[str, str] = {}
    for _source, text in parts:
        tree.update(_tree(text))
    devices: dict[str, model.Device] = {}
    groups: dict[int, set[str]] = {}
    documents = [(source, line, doc) for source, text in parts
                 for line, doc in _documents(text, source, problems)]
    for number, (source, line, doc) in enumerate(documents, 1):
        where = f"<device> document {number} (line {line})"
        try:
            root = SafeET.fromstring(doc)
        except (ET.ParseError, DefusedXmlException, ValueError) as exc:
            problems.append(errors.Problem("NodedevBadXml", f"{where}: not well-formed XML ({exc}); "
                                           "skipped", file=source, line=line))
            continue
        dev, members = _device(root, tree, where, source, line, problems, pci_ids)
        if dev is None:
            continue
        if dev.address in devices:
            problems.append(errors.Problem("NodedevDuplicate", f"{where}: {dev.address} was already "
                                           "described; the first one is kept", file=source, line=line))
            continue
        devices[dev.address] = dev
        if dev.iommu_group is not None:
            groups.setdefault(dev.iommu_group, set()).update({dev.address, *members})
    source = ", ".join(s for s, _t in parts if s) or None
    only_tree = sorted(a for a in (_address(n) for n in tree) if a and a not in devices)
    if only_tree and devices:
        problems.append(errors.Problem(
            "NodedevTreeOnly", f"{len(only_tree)} PCI function(s) appear only in the tree form "
            f"({', '.join(only_tree[:4])}{' ...' if len(only_tree) > 4 else ''}): the tree has no IDs, "
            "so they are left out", file=source))
    elif not devices and not problems:
        problems.append(errors.Problem("NodedevNoDevices", "no <device> document of a PCI function "
                                       "found", file=source))
    ordered = tuple(devices[a] for a in sorted(devices))
    return NodedevParse(ordered, {g: tuple(sorted(m)) for g, m in sorted(groups.items())},
                        tuple(problems), {k: v for k, v in tree.items()})


def _documents(text: str, source: str | None, problems: list[errors.Problem]) -> list[tuple[int, str]]:
    """Each ``<device>...</device>`` span with its first line (linear: str.find only)."""
    out: list[tuple[int, str]] = []
    pos = counted = 0
    line = 1
    while True:
        found = _START.search(text, pos)
        if found is None:
            return out
        start = found.start()
        end = text.find("</device>", start)
        line += text.count("\n", counted, start)  # counted once: linear in the text
        counted = start
        if end < 0:
            problems.append(errors.Problem("NodedevBadXml", f"<device> document at line {line} never "
                                           "ends (no </device>): skipped", file=source, line=line))
            return out
        end += len("</device>")
        if end - start > MAX_DOCUMENT:
            problems.append(errors.Problem("NodedevBadXml", f"<device> document at line {line} is "
                                           f"{end - start:,} characters long (at most {MAX_DOCUMENT:,} "
                                           "read): skipped", file=source, line=line))
        else:
            out.append((line, text[start:end]))
        pos = end


def _tree(text: str) -> dict[str, str]:
    """name -> parent name, from ``virsh nodedev-list --tree`` lines (4 columns per level)."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.strip() == "computer":
            stack = [(-1, "computer")]
            continue
        m = _TREE.match(line) if len(line) < 512 else None
        if m is None or not stack:
            continue
        depth = len(m.group("lead"))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[m.group("name")] = stack[-1][1]
        stack.append((depth, m.group("name")))
    return parents


def _device(root: ET.Element, tree: dict[str, str], where: str, source: str | None, line: int,
            problems: list[errors.Problem], pci_ids: pciids.PciIds | None,
            ) -> tuple[model.Device | None, list[str]]:
    if root.tag != "device":
        return None, []
    cap = next((c for c in root.findall("capability") if c.get("type") == "pci"), None)
    if cap is None:
        return None, []  # a net_*, usb_* or computer device: not a PCI function
    name = (root.findtext("name") or "").strip()

    def bad(why: str) -> tuple[None, list[str]]:
        problems.append(errors.Problem("NodedevBadDevice", f"{where} ({name or 'no name'}): {why}; "
                                       "left out", file=source, line=line))
        return None, []

    nums = [_int(cap.findtext(tag)) for tag in ("domain", "bus", "slot", "function")]
    if any(n is None for n in nums):
        return bad("no domain/bus/slot/function")
    d, b, s, f = (n for n in nums if n is not None)
    address = _pci_address(d, b, s, f)
    if address is None:
        return bad(f"address {d}:{b}:{s}.{f} is out of range")
    vendor, product = _hex4(cap.find("vendor")), _hex4(cap.find("product"))
    if vendor is None or product is None:
        return bad("no vendor or product id")
    pf = next((c for c in cap.findall("capability") if c.get("type") == "phys_function"), None)
    vfs = next((c for c in cap.findall("capability") if c.get("type") == "virt_functions"), None)
    parent = _addr_elem(pf.find("address")) if pf is not None else None
    total = _int(vfs.get("maxCount")) if vfs is not None else None
    vf_addrs = [a for a in (_addr_elem(x) for x in vfs.findall("address"))] if vfs is not None else []
    dev_type = (model.TYPE_VF if pf is not None else model.TYPE_PF if vfs is not None and
                ((total or 0) > 0 or vf_addrs) else model.TYPE_PCI)
    group_el = cap.find("iommuGroup")
    group = _int(group_el.get("number")) if group_el is not None else None
    members = [a for a in (_addr_elem(x) for x in group_el.findall("address"))] if group_el is not None else []
    numa_el = cap.find("numa")
    numa = _int(numa_el.get("node")) if numa_el is not None else None
    cls = _int(cap.findtext("class"), base=16) if cap.findtext("class") else None
    driver = (root.findtext("driver/name") or "").strip() or None
    netdevs = tuple(sorted(m.group("ifname") for child, par in tree.items() if par == name
                           and (m := _NET.match(child))))
    product_name = (cap.findtext("product") or "").strip()
    vendor_name = (cap.findtext("vendor") or "").strip()
    known = pci_ids.describe(vendor, product) if pci_ids is not None else None
    return model.Device(
        address=address, vendor_id=vendor, product_id=product,
        class_code=f"{cls:06x}" if cls is not None and 0 <= cls <= 0xFFFFFF and cls != 0xFFFFFF else None,
        name=known or (f"{vendor_name} {product_name}".strip() or None), dev_type=dev_type,
        parent_addr=parent, numa_node=model.known_numa_node(numa),
        driver=driver, iommu_group=group, netdevs=netdevs,
        sriov_totalvfs=total if dev_type == model.TYPE_PF else None,
        sriov_numvfs=len(vf_addrs) if dev_type == model.TYPE_PF else None,
    ), [m for m in members if m]


def _int(text: str | None, base: int = 0) -> int | None:
    if text is None:
        return None
    word = text.strip()
    if not word or len(word) > 12:
        return None
    try:
        value = int(word, base)
    except ValueError:
        return None
    return value if -1 <= value <= MAX_NUMBER else None


def _hex4(el: ET.Element | None) -> str | None:
    value = _int(el.get("id")) if el is not None else None
    return f"{value:04x}" if value is not None and 0 <= value <= 0xFFFF else None


def _addr_elem(el: ET.Element | None) -> str | None:
    if el is None:
        return None
    parts = [_int(el.get(k)) for k in ("domain", "bus", "slot", "function")]
    if any(p is None for p in parts):
        return None
    d, b, s, f = (p for p in parts if p is not None)
    return _pci_address(d, b, s, f)


def _pci_address(domain: int, bus: int, slot: int, func: int) -> str | None:
    """The canonical address of these numbers, or None when one is out of range."""
    try:
        return str(address_mod.PciAddress(domain, bus, slot, func))
    except errors.InvalidPciAddress:
        return None


def _address(name: str) -> str | None:
    m = _NAME.match(name)
    return f"{m.group('d')}:{m.group('b')}:{m.group('s')}.{m.group('f')}" if m else None
