"""PCI addresses of real devices: parse, validate, normalize, order and hash.

A device address is ``dddd:bb:ss.f`` (domain, bus, slot, function), printed in
lower-case hex with a 4-digit domain, as sysfs and libvirt print it. Parsing
accepts upper case, and with ``default_domain`` also the domain-less ``bb:ss.f``
form lspci prints. Spec-side addresses (globs and regexes) live in
:mod:`pcipass.core.spec`, because their rules are Nova's and differ.
"""

from __future__ import annotations

import dataclasses
import re

from pcipass.core import errors

MAX_DOMAIN = 0xFFFF
MAX_BUS = 0xFF
MAX_SLOT = 0x1F
MAX_FUNC = 0x7

_FULL = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{1,4}):)?(?P<bus>[0-9a-fA-F]{1,2}):"
    r"(?P<slot>[0-9a-fA-F]{1,2})\.(?P<func>[0-7])$"
)

#: A device address exactly as discovery writes it (sysfs, libvirt, the facts cache): lower-case
#: hex, a 4-digit domain, a slot of at most 1f. Readers take such text as it is; any other text
#: goes through :meth:`PciAddress.parse` (or, for a spec, Nova's own parse).
CANONICAL = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]")


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class PciAddress:
    """One PCI function's address. Ordered and hashed by its numeric fields."""

    domain: int
    bus: int
    slot: int
    func: int

    def __post_init__(self) -> None:
        for name, value, limit in (("domain", self.domain, MAX_DOMAIN), ("bus", self.bus, MAX_BUS),
                                   ("slot", self.slot, MAX_SLOT), ("func", self.func, MAX_FUNC)):
            if not 0 <= value <= limit:
                raise errors.InvalidPciAddress(
                    address=f"{self.domain}:{self.bus}:{self.slot}.{self.func}",
                    reason=f"{name} {value:#x} is out of range (0..{limit:#x})")

    @classmethod
    def parse(cls, text: str, *, default_domain: int | None = None) -> PciAddress:
        """Parse ``dddd:bb:ss.f`` (any case).

        :param text: the address text; surrounding whitespace is ignored.
        :param default_domain: when given, ``bb:ss.f`` without a domain is
            accepted and gets this domain (lspci prints no domain by default).
        :raises errors.InvalidPciAddress: on any other form.
        """
        if not isinstance(text, str):
            raise errors.InvalidPciAddress(address=text, reason="not a string")
        m = _FULL.match(text.strip())
        if m is None:
            raise errors.InvalidPciAddress(address=text, reason="expected dddd:bb:ss.f")
        domain = m.group("domain")
        if domain is None:
            if default_domain is None:
                raise errors.InvalidPciAddress(address=text, reason="the domain is missing (dddd:bb:ss.f)")
            dom = default_domain
        else:
            dom = int(domain, 16)
        slot = int(m.group("slot"), 16)
        if slot > MAX_SLOT:
            raise errors.InvalidPciAddress(address=text, reason=f"slot {slot:#x} is above 0x1f")
        return cls(dom, int(m.group("bus"), 16), slot, int(m.group("func"), 16))

    @classmethod
    def try_parse(cls, text: str, *, default_domain: int | None = None) -> PciAddress | None:
        """Like :meth:`parse` but return ``None`` instead of raising."""
        try:
            return cls.parse(text, default_domain=default_domain)
        except errors.InvalidPciAddress:
            return None

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}.{self.func:x}"

    @property
    def fields(self) -> tuple[str, str, str, str]:
        """The four fields as Nova formats them: ``('0000', '0a', '00', '1')``."""
        return (f"{self.domain:04x}", f"{self.bus:02x}", f"{self.slot:02x}", f"{self.func:x}")



def normalize(text: str) -> str:
    """Return the canonical string of a full device address.

    :raises errors.InvalidPciAddress: when ``text`` is not ``dddd:bb:ss.f``.
    """
    return str(PciAddress.parse(text))
