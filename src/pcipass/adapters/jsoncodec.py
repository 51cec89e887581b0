"""Frozen dataclasses to JSON and back, every value checked on the way in.

The facts cache (:mod:`~pcipass.adapters.factscache`) stores the readers' own
records. Reading them back must not trust the file: each value is checked
against the field's declared type (``bool`` is not an ``int``, a missing or
unknown key is an error), and against a *form* where the caller gives one
(an address, a 4-digit id). A wrong value raises :class:`FieldError` naming
its path (``sysfs.devices[3].numa_node``). Decoders are built once per type:
a host has a thousand devices of twenty-odd fields each.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Form = Callable[[Any], "str | None"]
"""A check of one field's value: ``None`` when it is good, else why not."""


class FieldError(Exception):
    """A value of the wrong shape; ``where`` is its path, ``why`` what is wrong."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(where, why)
        self.where, self.why = where, why

    def inside(self, outer: str) -> FieldError:
        sep = "" if self.where.startswith("[") or not self.where else "."
        return FieldError(f"{outer}{sep}{self.where}", self.why)


def show(value: Any) -> str:
    """A value from the file for a message: JSON-quoted, ASCII only (no terminal escapes), short."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 60 else text[:57] + "..."


def encode(value: Any) -> Any:
    """JSON for a fact; a dataclass field still at its default is left out (a VF has many)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if f.default is dataclasses.MISSING or v != f.default or type(v) is not type(f.default):
                out[f.name] = encode(v)
        return out
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    return value


class Decoder:
    """Checking decoders for dataclass types, with per-class field ``forms`` and an ``after``
    hook that sees a record's keyword arguments before it is built (cross-field checks)."""

    def __init__(self, forms: Mapping[Any, Mapping[str, Form]] | None = None,
                 after: Mapping[Any, Callable[[dict[str, Any]], None]] | None = None) -> None:
        self._forms = forms or {}
        self._after = after or {}
        self._cache: dict[Any, Callable[[Any], Any]] = {}

    def decode(self, tp: Any, value: Any, where: str) -> Any:
        try:
            return self._decoder(tp)(value)
        except FieldError as bad:
            raise bad.inside(where) from None

    def _decoder(self, tp: Any) -> Callable[[Any], Any]:
        """A checking decoder for the type ``tp``, built once per type."""
        dec = self._cache.get(tp)
        if dec is None:
            dec = self._cache[tp] = self._build(tp)
        return dec

    def _build(self, tp: Any) -> Callable[[Any], Any]:
        if dataclasses.is_dataclass(tp):
            return self._dataclass_decoder(tp)
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            inner = [a for a in args if a is not type(None)]
            if len(inner) != 1:
                raise TypeError(f"unsupported union {tp}")
            sub = self._decoder(inner[0])
            return lambda v: None if v is None else sub(v)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                item = self._decoder(args[0])
                if args[0] in _NAMES:  # a list of scalars: one check over the list
                    scalar = args[0]
                    return lambda v: (tuple(v) if type(v) is list and all(type(x) is scalar for x in v)
                                      else tuple(_items(v, item)))
                return lambda v: tuple(_items(v, item))
            parts = [self._decoder(a) for a in args]
            return lambda v: _fixed_tuple(v, parts)
        if origin in (Mapping, dict):
            key, val = _key_decoder(args[0]), self._decoder(args[1])
            return lambda v: _mapping(v, key, val)
        if tp in (str, int, bool):
            return _scalar(tp)
        raise TypeError(f"unsupported type {tp}")

    def _dataclass_decoder(self, cls: Any) -> Callable[[Any], Any]:
        """One pass over the object's keys; scalar fields (``str``, ``int``, ``bool``, optional or
        not) are checked inline: a host has a thousand devices of twenty-odd fields each. A field
        with a form (``forms``) is checked against it in the same pass, and the record's
        ``address`` named when it is wrong."""
        hints = typing.get_type_hints(cls)
        forms = self._forms.get(cls, {})
        after = self._after.get(cls)
        table: dict[str, tuple[type | None, bool, Callable[[Any], Any] | None,
                               Callable[[Any], str | None] | None, set[Any]]] = {}
        for f in dataclasses.fields(cls):
            tp, nullable = _scalar_type(hints[f.name])
            # ``good``: values the form accepted (IDs and drivers repeat over thousands of VFs);
            # bounded, and cleared when full
            table[f.name] = (tp, nullable, None if tp is not None else self._decoder(hints[f.name]),
                             forms.get(f.name), set())
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]

        def decode(v: Any) -> Any:
            if type(v) is not dict:
                raise FieldError("", f"expected an object, found {type(v).__name__}")
            kwargs = {}
            for name, x in v.items():
                entry = table.get(name)
                if entry is None:
                    raise FieldError("", f"unknown key {name!r}")
                tp, nullable, dec, form, good = entry
                if dec is None:
                    if type(x) is not tp and not (nullable and x is None):  # bool is not an int here
                        raise FieldError(name, f"expected {_NAMES[tp]}, found {json.dumps(x)[:40]}")  # type: ignore[index]
                else:
                    try:
                        x = dec(x)
                    except FieldError as bad:
                        raise bad.inside(name) from None
                if form is not None and x is not None and x not in good:
                    why = form(x)
                    if why is not None:
                        raise FieldError(name, why if name == "address" else f"{why} (device {show(v.get('address'))})")
                    if len(good) >= 4096:
                        good.clear()
                    good.add(x)
                kwargs[name] = x
            if len(kwargs) < len(table):
                for name in required:
                    if name not in kwargs:
                        raise FieldError("", f"missing {name!r}")
            if after is not None:
                after(kwargs)
            return cls(**kwargs)
        return decode


def _scalar(tp: type) -> Callable[[Any], Any]:
    name = _NAMES[tp]

    def check(v: Any) -> Any:
        if type(v) is not tp:  # bool is not an int here
            raise FieldError("", f"expected {name}, found {json.dumps(v)[:40]}")
        return v
    return check


def _items(v: Any, item: Callable[[Any], Any]) -> Any:
    if not isinstance(v, list):
        raise FieldError("", f"expected a list, found {type(v).__name__}")
    return _each(v, itertools.repeat(item))


def _each(v: list[Any], decoders: Iterable[Callable[[Any], Any]]) -> Any:
    """Decode ``v[i]`` with the i-th decoder; a bad item is named by its index."""
    for i, (x, dec) in enumerate(zip(v, decoders)):
        try:
            yield dec(x)
        except FieldError as bad:
            raise bad.inside(f"[{i}]") from None


def _fixed_tuple(v: Any, parts: list[Callable[[Any], Any]]) -> tuple[Any, ...]:
    if not isinstance(v, list) or len(v) != len(parts):
        raise FieldError("", f"expected a list of {len(parts)} items")
    return tuple(_each(v, parts))


def _key_decoder(tp: Any) -> Callable[[str], Any]:
    if tp is str:
        return lambda k: k
    if tp is int:
        def key(k: str) -> int:
            if not k.lstrip("-").isdigit():
                raise FieldError("", "expected an integer key")
            return int(k)
        return key
    raise TypeError(f"unsupported key type {tp}")


def _mapping(v: Any, key: Callable[[str], Any], val: Callable[[Any], Any]) -> dict[Any, Any]:
    if not isinstance(v, dict):
        raise FieldError("", f"expected an object, found {type(v).__name__}")
    out = {}
    for k, x in v.items():
        try:
            out[key(k)] = val(x)
        except FieldError as bad:
            raise bad.inside(f"[{k!r}]") from None
    return out


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
