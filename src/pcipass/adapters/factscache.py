"""``facts.json``: a host root's parsed facts, saved so the next scan need not walk sysfs again.

contracts.md §1 allows a host root to carry ``facts.json``, "used only if its
schema and version match". pcipass writes it only when asked
(``pcipass scan --host DIR --save-facts``), never into the live ``/`` and
never into a ``.tar.gz``. The file is evidence, not truth: it may have been
copied from another host, edited, or written by an attacker. A scan uses it
when all of these hold, and otherwise reads sysfs as usual, with one warning
that names ``facts.json`` and why:

* it is at most :data:`MAX_BYTES` long and holds at most :data:`MAX_ITEMS`
  JSON values (bounds on the objects parsed, not only on the bytes read);
* ``schema`` is :data:`SCHEMA` and ``version`` is this pcipass's version;
* ``hostname`` is the root's host name (a file written for another host with
  the same PCI addresses is not this host's);
* the root has ``sys/bus/pci/devices`` (without it there is nothing to check
  the file against), the names in it are the ``device_entries`` the file was
  written from (a device added or removed since makes it stale; one directory
  listing), and the device records are exactly those of these names that are
  PCI addresses, as the sysfs reader would give them: no device the host does
  not have, none left out;
* every value has the type the reader expects, and every field the form the
  sysfs reader gives it: canonical lower-case addresses, 4-digit IDs, 6-digit
  classes, kernel-valid driver and interface names, IOMMU groups that agree
  with the devices, a command line that parses to the fields stored with it
  (a hostile or truncated file is named with the entry that is wrong, and
  nothing of it is used).

What it holds: the sysfs devices (every field, pci.ids names included), their
interfaces and IOMMU groups, the NUMA topology and the kernel facts, with the
warnings each reader gave. The compute config is never cached: it is read
and matched afresh on every scan. Attribute changes that keep the device
list (a driver rebind, a new ``sriov_numvfs`` with the same VFs) are not
seen; ``--no-facts-cache`` reads sysfs regardless, and ``--save-facts``
refreshes the file.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pcipass.adapters import hostroot, kernel, sysfs, sysnuma
from pcipass.core import cpuset, errors, jsontext, model

SCHEMA = "pcipass-facts/1"
FILE = "facts.json"

#: Measured: ``--save-facts`` on a fake host of 10,100 functions (100 SR-IOV PFs of 100 functions
#: each, four NUMA nodes) writes 5.1 MB holding 264,000 JSON values, about 26 values and 510 bytes
#: per function. The bounds leave room for about four times the values and six times the bytes of
#: such a host (long pci.ids names, many warnings), and keep the parse of a hostile file small: a
#: file of empty lists (``[[],[],...]``) at the item bound decodes to about 60 MB of objects.
MAX_ITEMS = 1_000_000
MAX_BYTES = 32 << 20


class FactsCacheRefused(errors.InputError):
    """``--save-facts`` asked for a root pcipass must not (or cannot) write into."""

    msg_fmt = "Cannot save %(file)s for %(root)s: %(reason)s"


@dataclasses.dataclass(frozen=True, slots=True)
class CachedFacts:
    """What a scan reads from sysfs, as ``facts.json`` gave it back."""

    found: sysfs.SysfsScan
    topology: sysnuma.NumaTopology
    kernel_facts: kernel.KernelFacts


class _Bad(Exception):
    """Internal: a value of the wrong shape; ``args`` are (where, why)."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(where, why)
        self.where, self.why = where, why

    def inside(self, outer: str) -> _Bad:
        sep = "" if self.where.startswith("[") or not self.where else "."
        return _Bad(f"{outer}{sep}{self.where}", self.why)


# -- reading --------------------------------------------------------------------------------


def load(root: hostroot.HostRoot, warnings: list[str]) -> CachedFacts | None:
    """The root's cached facts when ``facts.json`` is there and usable, else None.

    A file that is present but unusable adds one warning naming it and why.
    """
    if root.live:
        return None  # the live host's facts are always read fresh
    data = root.read_bytes(FILE, warnings, limit=MAX_BYTES + 1)
    if data is None:
        return None
    try:
        return _read(data, root)
    except _Bad as bad:
        where = f"{bad.where}: " if bad.where else ""
        warnings.append(f"{FILE}: {where}{bad.why}; ignored, sysfs read instead")
        return None


def _read(data: bytes, root: hostroot.HostRoot) -> CachedFacts:
    if len(data) > MAX_BYTES:
        raise _Bad("", f"larger than {MAX_BYTES >> 20} MiB, the bound for {FILE}")
    try:
        doc = jsontext.loads(data, max_depth=None, max_items=MAX_ITEMS)
    except jsontext.JsonTooComplex as exc:
        raise _Bad("", f"over the bound for {FILE}: {exc} (a host of 10,000 PCI functions "
                       "needs about 265,000 values)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Bad("", f"not valid JSON ({exc})") from None
    why = _mismatch(doc, root)
    if why is not None:
        raise _Bad("", why)
    facts = CachedFacts(_decode(sysfs.SysfsScan, doc["sysfs"], "sysfs"),
                        _decode(sysnuma.NumaTopology, doc["numa"], "numa"),
                        _decode(kernel.KernelFacts, doc["kernel"], "kernel"))
    return _validate(facts, doc["device_entries"])


def _mismatch(doc: Any, root: hostroot.HostRoot) -> str | None:
    from pcipass import __version__

    if not isinstance(doc, dict):
        return "not a JSON object"
    if doc.get("schema") != SCHEMA:
        return f"schema {doc.get('schema')!r} is not {SCHEMA}"
    if doc.get("version") != __version__:
        return f"written by pcipass {doc.get('version')!r}, this is {__version__}"
    missing = [k for k in ("hostname", "device_entries", "sysfs", "numa", "kernel") if k not in doc]
    if missing:
        return f"no {', '.join(missing)}"
    if doc["hostname"] != root.name:
        return f"written for host {_show(doc['hostname'])}, but this host root is {_show(root.name)}"
    if not root.exists(sysfs.DEVICES_DIR):
        return f"the host root has no {sysfs.DEVICES_DIR} to check it against"
    if doc["device_entries"] != device_entries(root):
        return f"stale: the entries of {sysfs.DEVICES_DIR} changed since it was written"
    return None


def device_entries(root: hostroot.HostRoot) -> list[str]:
    """The names in ``sys/bus/pci/devices``, sorted (one listing; compared whole, no hash)."""
    return sorted(root.listdir(sysfs.DEVICES_DIR, []))


def _show(value: Any) -> str:
    """A value from the file for a warning: JSON-quoted, ASCII only (no terminal escapes), short."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 60 else text[:57] + "..."


# -- validating: every field as the sysfs and kernel readers give it -----------------------------

ADDRESS = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]")
_HEX4 = re.compile(r"[0-9a-f]{4}")
_HEX6 = re.compile(r"[0-9a-f]{6}")
_HEX2 = re.compile(r"[0-9a-f]{2}")
_CPULIST = re.compile(r"[0-9]+(?:-[0-9]+)?(?:,[0-9]+(?:-[0-9]+)?)*")
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5,19}")
#: Control characters (C0, DEL, C1) and lone surrogates (undecodable bytes of a file name).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: A name the kernel can give a directory entry (a driver, a module, an IOMMU): no ``/``, no NUL,
#: and here neither white space nor control characters (none of the kernel's own names has them).
_ENTRY_NAME = re.compile(r"[^/\s\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,255}")
#: A network interface name as the kernel's ``dev_valid_name`` accepts it (fewer than IFNAMSIZ
#: bytes, no ``/``, ``:`` or white space), without control characters.
_IFNAME = re.compile(r"[^/:\s\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,15}")
_INT_MAX = (1 << 31) - 1
_U16_MAX = (1 << 16) - 1
_TEXT_MAX = 1024
_DEV_TYPES = frozenset(model.DEV_TYPES)


def _form(pattern: re.Pattern[str], what: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v is None or pattern.fullmatch(v) else f"{_show(v)} is not {what}"
    return check


def _ints(lo: int, hi: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v is None or lo <= v <= hi else f"{v} is not in {lo}..{hi}"
    return check


def _text(v: Any) -> str | None:
    if v is None or (len(v) <= _TEXT_MAX and not _CONTROL.search(v)):
        return None
    return f"{_show(v)} has control characters or is over {_TEXT_MAX} characters"


def _ifnames(v: tuple[str, ...]) -> str | None:
    for name in v:
        if name in (".", "..") or not _IFNAME.fullmatch(name) or len(name.encode("utf-8", "surrogatepass")) > 15:
            return f"{_show(name)} is not an interface name the kernel allows"
    return None if len(set(v)) == len(v) else "an interface is listed twice"


def _entry_name(v: Any) -> str | None:
    if v is None or (v not in (".", "..") and _ENTRY_NAME.fullmatch(v)):
        return None
    return f"{_show(v)} is not a name the kernel allows (no /, white space or control characters)"


_ID = _form(_HEX4, "4 lower-case hex digits")
#: The form of each field, as the sysfs reader gives it; checked while the record is decoded.
_FORMS: dict[Any, dict[str, Callable[[Any], str | None]]] = {
    model.Device: {
        "address": _form(ADDRESS, "a PCI address (dddd:bb:ss.f, lower case)"),
        "vendor_id": lambda v: None if v == "" else _ID(v),  # "" when sysfs had no vendor file
        "product_id": lambda v: None if v == "" else _ID(v),
        "subsystem_vendor_id": _ID,
        "subsystem_id": _ID,
        "class_code": _form(_HEX6, "6 lower-case hex digits"),
        "revision": _form(_HEX2, "2 lower-case hex digits"),
        "name": _text,
        "dev_type": lambda v: None if v in _DEV_TYPES else f"{_show(v)} is not one of {', '.join(model.DEV_TYPES)}",
        "parent_addr": _form(ADDRESS, "a PCI address (dddd:bb:ss.f, lower case)"),
        "vf_index": _ints(0, _U16_MAX),
        "numa_node": _ints(-1, _INT_MAX),
        "driver": _entry_name,
        "driver_override": _entry_name,
        "iommu_group": _ints(0, _INT_MAX),
        "netdevs": _ifnames,
        "sriov_totalvfs": _ints(0, _U16_MAX),
        "sriov_numvfs": _ints(0, _U16_MAX),
        "sriov_vf_device": _ID,
        "local_cpulist": lambda v: None if v == "" or _CPULIST.fullmatch(v) else f"{_show(v)} is not a CPU list",
        "card_serial_number": lambda v: "set, but sysfs discovery never reads VPD",
    },
    sysfs.NetDev: {  # names: the device's netdevs, compared whole in _netdevs
        "mac": _form(_MAC, "a lower-case MAC address"),
        "operstate": _entry_name,
    },
}


def _device_after(kw: dict[str, Any]) -> None:
    """What one field alone cannot tell: a VF names its PF, and only a VF has a PF or an index."""
    where = f" (device {_show(kw['address'])})" if "address" in kw else ""
    is_vf = kw.get("dev_type", model.TYPE_PCI) == model.TYPE_VF
    if is_vf != (kw.get("parent_addr") is not None):
        raise _Bad("parent_addr", "a VF names its PF, and only a VF does" + where)
    if kw.get("vf_index") is not None and not is_vf:
        raise _Bad("vf_index", "set on a device that is not a VF" + where)
    if kw.get("numa_node") == -1:
        kw["numa_node"] = None  # sysfs -1: unknown, as the sysfs reader gives it


_AFTER: dict[Any, Callable[[dict[str, Any]], None]] = {model.Device: _device_after}


def _validate(facts: CachedFacts, entries: list[str]) -> CachedFacts:
    """Check what the decoder's field forms cannot: the records against the host root's entries,
    and the parts of the facts against each other. :class:`_Bad` names what is wrong."""
    found = facts.found
    _device_list(found.devices, entries)
    _netdevs(found)
    groups: dict[int, list[str]] = {}
    for dev in found.devices:
        if dev.iommu_group is not None:
            groups.setdefault(dev.iommu_group, []).append(dev.address)
    if {g: tuple(sorted(m)) for g, m in groups.items()} != dict(found.iommu_groups):
        raise _Bad("sysfs.iommu_groups", "does not agree with the devices' iommu_group fields")
    _numa(facts.topology)
    _kernel(facts.kernel_facts)
    return facts


def _device_list(devices: tuple[model.Device, ...], entries: list[str]) -> None:
    """The records are the entries of sys/bus/pci/devices that are PCI addresses, in order."""
    present = set(entries)
    for i, dev in enumerate(devices):
        if dev.address not in present:
            raise _Bad(f"sysfs.devices[{i}] ({dev.address})",
                       f"not an entry of {sysfs.DEVICES_DIR}: the host has no such device")
    expected = [e for e in entries if ADDRESS.fullmatch(e)]
    addresses = [d.address for d in devices]
    if addresses != expected:
        left_out = sorted(set(expected) - set(addresses))
        why = (f"no record of {left_out[0]}, an entry of {sysfs.DEVICES_DIR}" if left_out
               else "records repeated or out of order")
        raise _Bad("sysfs.devices", why)


def _netdevs(found: sysfs.SysfsScan) -> None:
    names = {d.address: d.netdevs for d in found.devices if d.netdevs}
    if set(found.netdevs) != set(names):
        raise _Bad("sysfs.netdevs", "its devices are not those whose netdevs are listed")
    for address, netdevs in found.netdevs.items():
        if tuple(n.name for n in netdevs) != names[address]:
            raise _Bad(f"sysfs.netdevs[{address!r}]", "the names differ from the device's netdevs")


def _numa(topo: sysnuma.NumaTopology) -> None:
    ids = [c.id for c in topo.cells]
    if ids != sorted(set(ids)):
        raise _Bad("numa.cells", "cell ids repeated or out of order")
    for i, cell in enumerate(topo.cells):
        where = f"numa.cells[{i}]"
        for field, values in (("id", (cell.id,)), ("cpus", cell.cpus), ("sockets", cell.sockets),
                              ("memory_kb", () if cell.memory_kb is None else (cell.memory_kb,))):
            if any(v < 0 for v in values):
                raise _Bad(f"{where}.{field}", "negative")
        for field, values in (("cpus", cell.cpus), ("sockets", cell.sockets)):
            if list(values) != sorted(set(values)):
                raise _Bad(f"{where}.{field}", "repeated or out of order")
        if cell.cpus and cell.cpus[-1] >= cpuset.MAX_CPUS:  # the sysfs reader's own bound
            raise _Bad(f"{where}.cpus", f"a CPU beyond the {cpuset.MAX_CPUS:,} a kernel can have")
    if any(k < 0 or v < 0 for k, v in topo.cpu_sockets.items()):
        raise _Bad("numa.cpu_sockets", "a negative CPU or socket number")
    if any(k >= cpuset.MAX_CPUS for k in topo.cpu_sockets):
        raise _Bad("numa.cpu_sockets", f"a CPU beyond the {cpuset.MAX_CPUS:,} a kernel can have")


_KERNEL_ENUMS: dict[str, tuple[Any, ...]] = {
    "vfio_pci": ("module", "builtin", "absent", None),
    "dmesg_source": ("cmd/dmesg.txt", "dmesg", None),
}


def _kernel(k: kernel.KernelFacts) -> None:
    for field, allowed in _KERNEL_ENUMS.items():
        if getattr(k, field) not in allowed:
            raise _Bad(f"kernel.{field}", f"{_show(getattr(k, field))} is not one of "
                                          f"{', '.join(_show(a) for a in allowed)}")
    if not set(k.acpi_tables) <= {"DMAR", "IVRS"}:
        raise _Bad("kernel.acpi_tables", "only DMAR and IVRS are read")
    if k.iommu_groups < 0 or k.dmesg_group_additions < 0:
        raise _Bad("kernel", "a negative count")
    why = _text(k.release)
    if why is not None:
        raise _Bad("kernel.release", why)
    for field in ("iommu_devices", "modules"):
        for name in getattr(k, field):
            why = _entry_name(name)
            if why is not None:
                raise _Bad(f"kernel.{field}", why)
    if k.cmdline is not None and kernel.parse_cmdline(k.cmdline.raw) != k.cmdline:
        raise _Bad("kernel.cmdline", "its fields are not what its raw text parses to")


# -- writing --------------------------------------------------------------------------------


def save(root: hostroot.HostRoot, found: sysfs.SysfsScan, numa: sysnuma.NumaTopology,
         facts: kernel.KernelFacts) -> str:
    """Write ``facts.json`` into a host-root directory; return its path.

    :raises FactsCacheRefused: for the live host and for bundles (pcipass
        writes nothing to a host, and a ``.tar.gz`` is not rewritten).
    """
    from pcipass import __version__

    check_writable(root.source)
    doc = {"schema": SCHEMA, "version": __version__, "hostname": root.name,
           "device_entries": device_entries(root),
           "sysfs": _encode(found), "numa": _encode(numa), "kernel": _encode(facts)}
    path = os.path.join(root.source, FILE)  # a directory: check_writable refused anything else
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # ASCII: file names that are not UTF-8 (lone surrogates) are written as \u escapes
            json.dump(doc, handle, ensure_ascii=True, separators=(",", ":"))
        os.replace(tmp, path)  # replaces a link named facts.json itself, never its target
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise FactsCacheRefused(file=FILE, root=root.source, reason=exc.strerror or str(exc)) from exc
    return path


def check_writable(path: str) -> None:
    """Refuse, before any scan starts, a ``--save-facts`` target that is the live host or a bundle.

    :raises FactsCacheRefused: with the reason and what to do instead.
    """
    if os.path.realpath(path) == "/":
        raise FactsCacheRefused(file=FILE, root=path,
                                reason="pcipass never writes into the live host's /",
                                hint="collect a host root first, then save its facts there")
    if not os.path.isdir(path):
        raise FactsCacheRefused(file=FILE, root=path, reason="a bundle is not rewritten",
                                hint="unpack it (tar xzf) and scan the directory with --save-facts")


# -- the codec: frozen dataclasses <-> JSON, checked field by field --------------------------------


def _encode(value: Any) -> Any:
    """JSON for a fact; a dataclass field still at its default is left out (a VF has many)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if f.default is dataclasses.MISSING or v != f.default or type(v) is not type(f.default):
                out[f.name] = _encode(v)
        return out
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    return value


_DECODERS: dict[Any, Callable[[Any], Any]] = {}


def _decode(tp: Any, value: Any, where: str) -> Any:
    try:
        return _decoder(tp)(value)
    except _Bad as bad:
        raise bad.inside(where) from None


def _decoder(tp: Any) -> Callable[[Any], Any]:
    """A checking decoder for the type ``tp``, built once per type."""
    dec = _DECODERS.get(tp)
    if dec is None:
        dec = _DECODERS[tp] = _build(tp)
    return dec


def _build(tp: Any) -> Callable[[Any], Any]:
    if dataclasses.is_dataclass(tp):
        return _dataclass_decoder(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {tp}")
        sub = _decoder(inner[0])
        return lambda v: None if v is None else sub(v)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])
            if args[0] in _NAMES:  # a list of scalars: one check over the list
                scalar = args[0]
                return lambda v: (tuple(v) if type(v) is list and all(type(x) is scalar for x in v)
                                  else tuple(_items(v, item)))
            return lambda v: tuple(_items(v, item))
        parts = [_decoder(a) for a in args]
        return lambda v: _fixed_tuple(v, parts)
    if origin in (Mapping, dict):
        key, val = _key_decoder(args[0]), _decoder(args[1])
        return lambda v: _mapping(v, key, val)
    if tp in (str, int, bool):
        return _scalar(tp)
    raise TypeError(f"unsupported type {tp}")


def _scalar(tp: type) -> Callable[[Any], Any]:
    name = _NAMES[tp]

    def check(v: Any) -> Any:
        if type(v) is not tp:  # bool is not an int here
            raise _Bad("", f"expected {name}, found {json.dumps(v)[:40]}")
        return v
    return check


def _items(v: Any, item: Callable[[Any], Any]) -> Any:
    if not isinstance(v, list):
        raise _Bad("", f"expected a list, found {type(v).__name__}")
    return _each(v, itertools.repeat(item))


def _each(v: list[Any], decoders: Iterable[Callable[[Any], Any]]) -> Any:
    """Decode ``v[i]`` with the i-th decoder; a bad item is named by its index."""
    for i, (x, dec) in enumerate(zip(v, decoders)):
        try:
            yield dec(x)
        except _Bad as bad:
            raise bad.inside(f"[{i}]") from None


def _fixed_tuple(v: Any, parts: list[Callable[[Any], Any]]) -> tuple[Any, ...]:
    if not isinstance(v, list) or len(v) != len(parts):
        raise _Bad("", f"expected a list of {len(parts)} items")
    return tuple(_each(v, parts))


def _key_decoder(tp: Any) -> Callable[[str], Any]:
    if tp is str:
        return lambda k: k
    if tp is int:
        def key(k: str) -> int:
            if not k.lstrip("-").isdigit():
                raise _Bad("", "expected an integer key")
            return int(k)
        return key
    raise TypeError(f"unsupported key type {tp}")


def _mapping(v: Any, key: Callable[[str], Any], val: Callable[[Any], Any]) -> dict[Any, Any]:
    if not isinstance(v, dict):
        raise _Bad("", f"expected an object, found {type(v).__name__}")
    out = {}
    for k, x in v.items():
        try:
            out[key(k)] = val(x)
        except _Bad as bad:
            raise bad.inside(f"[{k!r}]") from None
    return out


def _dataclass_decoder(cls: Any) -> Callable[[Any], Any]:
    """One pass over the object's keys; scalar fields (``str``, ``int``, ``bool``, optional or
    not) are checked inline: a host has a thousand devices of twenty-odd fields each. A field
    with a form (:data:`_FORMS`) is checked against it in the same pass, and the record's
    ``address`` named when it is wrong."""
    hints = typing.get_type_hints(cls)
    forms = _FORMS.get(cls, {})
    after = _AFTER.get(cls)
    table: dict[str, tuple[type | None, bool, Callable[[Any], Any] | None,
                           Callable[[Any], str | None] | None, set[Any]]] = {}
    for f in dataclasses.fields(cls):
        tp, nullable = _scalar_type(hints[f.name])
        # ``good``: values the form accepted (IDs and drivers repeat over thousands of VFs);
        # bounded, and cleared when full
        table[f.name] = (tp, nullable, None if tp is not None else _decoder(hints[f.name]),
                         forms.get(f.name), set())
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]

    def decode(v: Any) -> Any:
        if type(v) is not dict:
            raise _Bad("", f"expected an object, found {type(v).__name__}")
        kwargs = {}
        for name, x in v.items():
            entry = table.get(name)
            if entry is None:
                raise _Bad("", f"unknown key {name!r}")
            tp, nullable, dec, form, good = entry
            if dec is None:
                if type(x) is not tp and not (nullable and x is None):  # bool is not an int here
                    raise _Bad(name, f"expected {_NAMES[tp]}, found {json.dumps(x)[:40]}")  # type: ignore[index]
            else:
                try:
                    x = dec(x)
                except _Bad as bad:
                    raise bad.inside(name) from None
            if form is not None and x is not None and x not in good:
                why = form(x)
                if why is not None:
                    raise _Bad(name, why if name == "address" else f"{why} (device {_show(v.get('address'))})")
                if len(good) >= 4096:
                    good.clear()
                good.add(x)
            kwargs[name] = x
        if len(kwargs) < len(table):
            for name in required:
                if name not in kwargs:
                    raise _Bad("", f"missing {name!r}")
        if after is not None:
            after(kwargs)
        return cls(**kwargs)
    return decode


_NAMES = {str: "a string", int: "an integer", bool: "true or false"}


def _scalar_type(tp: Any) -> tuple[type | None, bool]:
    """``(str, False)`` for ``str``, ``(int, True)`` for ``int | None``; ``(None, _)`` otherwise."""
    if tp in _NAMES:
        return tp, False
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and len(args) == 2 and inner[0] in _NAMES:
            return inner[0], True
    return None, False
