"""``facts.json``: a host root's parsed facts, saved so the next scan need not walk sysfs again.

contracts.md §1 allows a host root to carry ``facts.json``, "used only if its
schema and version match". pcipass writes it only when asked
(``pcipass scan --host DIR --save-facts``), never into the live ``/`` and
never into a ``.tar.gz``. A scan then uses it when all of these hold, and
otherwise reads sysfs as usual, with a warning that says why:

* ``schema`` is :data:`SCHEMA` and ``version`` is this pcipass's version;
* every value has the type the reader expects (a hostile or truncated file
  is named with the entry that is wrong, and nothing of it is used);
* the names in ``sys/bus/pci/devices`` are the ones it was written from
  (a device added or removed since makes it stale; one directory listing).

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
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pcipass.adapters import hostroot, kernel, sysfs
from pcipass.core import errors

SCHEMA = "pcipass-facts/1"
FILE = "facts.json"
MAX_BYTES = 256 << 20


class FactsCacheRefused(errors.InputError):
    """``--save-facts`` asked for a root pcipass must not (or cannot) write into."""

    msg_fmt = "Cannot save %(file)s for %(root)s: %(reason)s"


@dataclasses.dataclass(frozen=True, slots=True)
class CachedFacts:
    """What a scan reads from sysfs, as ``facts.json`` gave it back."""

    found: sysfs.SysfsScan
    topology: sysfs.NumaTopology
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

    A file that is present but unusable adds a warning naming it and why.
    """
    if root.live:
        return None  # the live host's facts are always read fresh
    data = root.read_bytes(FILE, warnings, limit=MAX_BYTES)
    if data is None:
        return None
    if len(data) >= MAX_BYTES:
        warnings.append(f"{FILE}: larger than {MAX_BYTES >> 20} MiB; ignored, sysfs read instead")
        return None
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        warnings.append(f"{FILE}: not valid JSON ({exc}); ignored, sysfs read instead")
        return None
    why = _mismatch(doc, root)
    if why is not None:
        warnings.append(f"{FILE}: {why}; ignored, sysfs read instead")
        return None
    try:
        return CachedFacts(_decode(sysfs.SysfsScan, doc["sysfs"], "sysfs"),
                           _decode(sysfs.NumaTopology, doc["numa"], "numa"),
                           _decode(kernel.KernelFacts, doc["kernel"], "kernel"))
    except _Bad as bad:
        warnings.append(f"{FILE}: {bad.where}: {bad.why}; ignored, sysfs read instead")
        return None


def _mismatch(doc: Any, root: hostroot.HostRoot) -> str | None:
    from pcipass import __version__

    if not isinstance(doc, dict):
        return "not a JSON object"
    if doc.get("schema") != SCHEMA:
        return f"schema {doc.get('schema')!r} is not {SCHEMA}"
    if doc.get("version") != __version__:
        return f"written by pcipass {doc.get('version')!r}, this is {__version__}"
    missing = [k for k in ("device_entries", "sysfs", "numa", "kernel") if k not in doc]
    if missing:
        return f"no {', '.join(missing)}"
    if root.exists(sysfs.DEVICES_DIR) and doc["device_entries"] != device_entries(root):
        return f"stale: the entries of {sysfs.DEVICES_DIR} changed since it was written"
    return None


def device_entries(root: hostroot.HostRoot) -> list[str]:
    """The names in ``sys/bus/pci/devices``, sorted (one listing; compared whole, no hash)."""
    return sorted(root.listdir(sysfs.DEVICES_DIR, []))


# -- writing --------------------------------------------------------------------------------


def save(root: hostroot.HostRoot, found: sysfs.SysfsScan, numa: sysfs.NumaTopology,
         facts: kernel.KernelFacts) -> str:
    """Write ``facts.json`` into a host-root directory; return its path.

    :raises FactsCacheRefused: for the live host and for bundles (pcipass
        writes nothing to a host, and a ``.tar.gz`` is not rewritten).
    """
    from pcipass import __version__

    check_writable(root.source)
    doc = {"schema": SCHEMA, "version": __version__, "device_entries": device_entries(root),
           "sysfs": _encode(found), "numa": _encode(numa), "kernel": _encode(facts)}
    path = os.path.join(root.path, FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, ensure_ascii=False, separators=(",", ":"))
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
    not) are checked inline: a host has a thousand devices of twenty-odd fields each."""
    hints = typing.get_type_hints(cls)
    table: dict[str, tuple[type | None, bool, Callable[[Any], Any] | None]] = {}
    for f in dataclasses.fields(cls):
        tp, nullable = _scalar_type(hints[f.name])
        table[f.name] = (tp, nullable, None if tp is not None else _decoder(hints[f.name]))
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
            tp, nullable, dec = entry
            if dec is None:
                if type(x) is not tp and not (nullable and x is None):  # bool is not an int here
                    raise _Bad(name, f"expected {_NAMES[tp]}, found {json.dumps(x)[:40]}")  # type: ignore[index]
                kwargs[name] = x
            else:
                try:
                    kwargs[name] = dec(x)
                except _Bad as bad:
                    raise bad.inside(name) from None
        if len(kwargs) < len(table):
            for name in required:
                if name not in kwargs:
                    raise _Bad("", f"missing {name!r}")
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
