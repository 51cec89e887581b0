"""The ``address`` of a ``[pci] device_spec`` entry, with Nova's rules.

Nova reads a spec address in one of two ways (nova-pci.md §1.3): a string is a
*glob* (``"*:0a:00.*"``: each field is a hex number or a whole-field ``*``,
missing leading fields are wildcards), a dict is a *regex* per field
(``{"bus": "0[ab]"}``: anchored only at the start, ``re.match``). Both are
compared with the four lower-case fields of a device address, which Nova
normalizes through ``int(x, 16)`` the same way as the glob.

Regex patterns are compiled by a *pattern compiler* the caller hands in: a
callable that turns one pattern into a :class:`FieldMatcher`. The core only
calls it; it never times a match (contracts §6). The default,
:func:`compile_re`, is Nova's own ``re.compile(p).match`` and has no bound; the
services pass a compiler that bounds each match and raises a
:class:`~pcipass.core.errors.PcipassError` when the bound is hit.

The lenient parts are deliberate: Python's ``int(x, 16)`` accepts ``0x``,
``_`` separators, surrounding whitespace and a sign, so ``"-1"`` becomes the
domain ``-001`` that never matches. This module keeps that behaviour, because
an operator's config must mean here what it means to nova-compute.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import string
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pcipass.core import address as address_mod
from pcipass.core import errors

ANY = "*"
REGEX_ANY = ".*"
MAX_DOMAIN = 0xFFFF
MAX_BUS = 0xFF
MAX_SLOT = 0x1F
MAX_FUNC = 0x7

Fields = tuple[str, str, str, str]

_HEXDIGITS = frozenset(string.hexdigits)
_REGEX_KEYS = ("domain", "bus", "slot", "function")


class FieldMatcher(Protocol):
    """One compiled regex address pattern.

    Called with a device's normalized field (``"0000"``, ``"0a"``, ``"1f"``,
    ``"7"``), it returns True when the pattern matches at the start of it, as
    Nova's ``re.match``. It may raise a :class:`~pcipass.core.errors.PcipassError`
    when it cannot decide within the caller's bound.
    """

    def __call__(self, text: str, /) -> bool: ...


#: Compiles one pattern that ``re.compile`` accepts into a :class:`FieldMatcher`; it may
#: raise a :class:`~pcipass.core.errors.PcipassError` for a pattern it refuses to run.
PatternCompiler = Callable[[str], FieldMatcher]


class ReMatcher:
    """Nova's matcher: ``re.compile(pattern).match(text)``, without any bound."""

    __slots__ = ("pattern",)

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)

    def __call__(self, text: str, /) -> bool:
        return self.pattern.match(text) is not None


def compile_re(pattern: str) -> FieldMatcher:
    """The default pattern compiler: Python ``re``, exactly as Nova (unbounded)."""
    return ReMatcher(pattern)


def check_hex_field(prop: str, raw: str, maxval: int, width: int) -> str:
    """Normalize one hex field as Nova does: ``*`` kept, else ``int(raw, 16)`` zero-padded.

    :param prop: the property name used in messages (``vendor_id``, ``domain``, ``func``...).
    :param raw: the field text; Python's ``int`` leniency applies (``0x``, ``_``, spaces, sign).
    :param maxval: the largest accepted value.
    :param width: zero-padded width of the result.
    :raises errors.PciConfigInvalidSpec: non-hex text, or a value above ``maxval``.
    """
    if raw == ANY:
        return raw
    try:
        value = int(raw, 16)
    except ValueError:
        raise errors.PciConfigInvalidSpec(
            reason=f"property {prop} ('{raw}') does not parse as a hex number.",
            hint="use hex digits, or \"*\" alone for any value") from None
    if value > maxval:
        raise errors.PciConfigInvalidSpec(
            reason=f"property {prop} ({raw}) is greater than the maximum allowable value ({maxval:X}).")
    return "%0*x" % (width, value)


def is_hex(text: str) -> bool:
    """True when every character is a hex digit (Nova's single-address test; ``""`` is hex)."""
    return all(c in _HEXDIGITS for c in text)


class _FourFields:
    """What a glob and a regex address share: their four field texts, the address they write
    (``*:0a:00.*``), and the one device address they name when every field is plain hex
    (Nova then probes sysfs for it)."""

    __slots__ = ()
    domain: str
    bus: str
    slot: str
    func: str

    @property
    def fields(self) -> Fields:
        return (self.domain, self.bus, self.slot, self.func)

    @property
    def text(self) -> str:
        return f"{self.domain}:{self.bus}:{self.slot}.{self.func}"

    def single_address(self) -> str | None:
        return self.text if all(map(is_hex, self.fields)) else None


@dataclasses.dataclass(frozen=True, slots=True)
class GlobAddress(_FourFields):
    """A string address: four normalized fields, each hex text or ``*``."""

    domain: str
    bus: str
    slot: str
    func: str
    _fixed: tuple[tuple[int, str], ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fixed = tuple((i, v) for i, v in enumerate(self.fields) if v != ANY)
        object.__setattr__(self, "_fixed", fixed)

    def matches(self, fields: Fields) -> bool:
        """True when every non-wildcard field equals the device's field."""
        for i, value in self._fixed:
            if fields[i] != value:
                return False
        return True


@dataclasses.dataclass(frozen=True, slots=True)
class RegexAddress(_FourFields):
    """A dict address: one ``re.match`` pattern per field, ``.*`` when absent.

    ``compiler`` turns each pattern into its matcher (default :func:`compile_re`).
    """

    raw: Mapping[str, Any]
    domain: str = REGEX_ANY
    bus: str = REGEX_ANY
    slot: str = REGEX_ANY
    func: str = REGEX_ANY
    compiler: dataclasses.InitVar[PatternCompiler | None] = None
    _compiled: tuple[tuple[int, FieldMatcher], ...] = dataclasses.field(
        init=False, repr=False, compare=False)

    def __post_init__(self, compiler: PatternCompiler | None) -> None:
        make = compiler if compiler is not None else compile_re
        # ".*" matches every string, so it is skipped at match time.
        compiled = tuple((i, make(p)) for i, p in enumerate(self.fields) if p != REGEX_ANY)
        object.__setattr__(self, "_compiled", compiled)

    @property
    def field_matchers(self) -> tuple[tuple[int, FieldMatcher], ...]:
        """``(field index, matcher)`` for every pattern other than ``.*``."""
        return self._compiled

    def matches(self, fields: Fields) -> bool:
        """True when each pattern matches the start of the device's field (``re.match``).

        :raises errors.PcipassError: whatever the compiled matcher raises when it
            hits its bound.
        """
        for i, matcher in self._compiled:
            if not matcher(fields[i]):
                return False
        return True


AddressSpec = GlobAddress | RegexAddress


def parse_glob(text: str) -> GlobAddress:
    """Parse a glob address string exactly as Nova's ``PciAddressGlobSpec``.

    The function (after the first ``.``) is checked first, then the
    ``domain:bus:slot`` part, whose fields are right-aligned.

    :raises errors.PciDeviceWrongAddressFormat: more than three ``:`` fields.
    :raises errors.PciConfigInvalidSpec: a field that is not hex, or out of range.
    """
    dbs, _sep, func_raw = text.partition(".")
    func = ANY
    if func_raw:
        func = check_hex_field("func", func_raw.strip(), MAX_FUNC, 1)
    domain = bus = slot = ANY
    if dbs:
        parts = dbs.split(":")
        if len(parts) > 3:
            raise errors.PciDeviceWrongAddressFormat(
                address=text, hint="a glob address is [[domain:]bus:]slot[.function]")
        parts = [ANY] * (3 - len(parts)) + parts
        d, b, s = (p.strip() or ANY for p in parts)
        domain = check_hex_field("domain", d, MAX_DOMAIN, 4)
        bus = check_hex_field("bus", b, MAX_BUS, 2)
        slot = check_hex_field("slot", s, MAX_SLOT, 2)
    return GlobAddress(domain, bus, slot, func)


def parse_regex(value: Mapping[str, Any], compiler: PatternCompiler | None = None) -> RegexAddress:
    """Parse a regex address dict as Nova's ``PciAddressRegexSpec``; unknown keys are ignored.

    Every pattern must first compile with Python ``re`` (Nova's acceptance
    test); only then is it handed to ``compiler``.

    :param compiler: turns each accepted pattern into its matcher (default :func:`compile_re`).
    :raises errors.PciDeviceWrongAddressFormat: a pattern that does not compile.
        Nova leaks a bare ``TypeError`` for a non-string pattern; we report it
        with this error too (a documented difference).
    :raises errors.PcipassError: whatever ``compiler`` raises for a pattern it refuses.
    """
    patterns = [value.get(key, REGEX_ANY) for key in _REGEX_KEYS]
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise errors.PciDeviceWrongAddressFormat(
                address=value, hint=f"regex address patterns must be JSON strings, got {pattern!r}")
    try:
        for pattern in patterns:
            re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise errors.PciDeviceWrongAddressFormat(
            address=value, hint=f"regular expression error: {exc}") from None
    domain, bus, slot, func = patterns
    return RegexAddress(dict(value), domain, bus, slot, func, compiler=compiler)


def parse_address(value: Any, compiler: PatternCompiler | None = None) -> AddressSpec:
    """Parse a spec's ``address`` value: a string is a glob, a dict a regex.

    :param compiler: compiles regex patterns (default :func:`compile_re`).
    :raises errors.PciDeviceWrongAddressFormat: any other JSON type.
    """
    if isinstance(value, str):
        return parse_glob(value)
    if isinstance(value, dict):
        return parse_regex(value, compiler)
    raise errors.PciDeviceWrongAddressFormat(
        address=value, hint="address must be a string (glob) or an object (regex per field)")


@functools.lru_cache(maxsize=1 << 16)
def device_fields(address: str) -> Fields:
    """Split a device address into Nova's normalized fields, once per address.

    Matching compares these with the spec; the cache makes every spec after
    the first cost nothing for this device. A canonical address (what
    discovery produces) is sliced; anything else goes through Nova's parse.

    :raises errors.PciDeviceWrongAddressFormat: not ``d:b:s.f`` (Nova raises the same).
    :raises errors.PciConfigInvalidSpec: a field that is not hex or out of range.
    """
    if address_mod.CANONICAL.fullmatch(address):
        return (address[:4], address[5:7], address[8:10], address[11])
    return _parse_device_fields(address)


def _parse_device_fields(address: str) -> Fields:
    """Nova's ``PhysicalPciAddress`` parse: exactly ``d:b:s.f``, each field through ``int(x, 16)``."""
    dbs, _sep, func = address.partition(".")
    parts = dbs.split(":")
    if len(parts) != 3:
        raise errors.PciDeviceWrongAddressFormat(address=address)
    func = check_hex_field("func", func, MAX_FUNC, 1)
    return (check_hex_field("domain", parts[0], MAX_DOMAIN, 4),
            check_hex_field("bus", parts[1], MAX_BUS, 2),
            check_hex_field("slot", parts[2], MAX_SLOT, 2),
            func)
