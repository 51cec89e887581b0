"""``core.address``: device addresses parse, normalize, order and hash; hostile input is our error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import address, errors


@pytest.mark.parametrize(("text", "fields"), [
    ("0000:0a:00.1", (0, 0x0A, 0, 1)),
    ("0000:0A:1F.7", (0, 0x0A, 0x1F, 7)),
    ("ffff:ff:1f.7", (0xFFFF, 0xFF, 0x1F, 7)),
    ("1:2:3.4", (1, 2, 3, 4)),
    ("  0000:3b:00.0\n", (0, 0x3B, 0, 0)),
], ids=["canonical", "upper", "limits", "short-fields", "whitespace"])
def test_parse(text: str, fields: tuple[int, int, int, int]) -> None:
    parsed = address.PciAddress.parse(text)
    assert (parsed.domain, parsed.bus, parsed.slot, parsed.func) == fields


@pytest.mark.parametrize(("text", "canonical"), [
    ("0000:0A:00.1", "0000:0a:00.1"), ("1:2:3.4", "0001:02:03.4"), ("000A:bc:1f.0", "000a:bc:1f.0"),
])
def test_normalize(text: str, canonical: str) -> None:
    assert address.normalize(text) == canonical
    assert str(address.PciAddress.parse(text)) == canonical


def test_derived_forms() -> None:
    parsed = address.PciAddress.parse("0000:04:10.7")
    assert parsed.fields == ("0000", "04", "10", "7")


def test_domain_less_form_needs_a_default_domain() -> None:
    assert str(address.PciAddress.parse("0a:00.1", default_domain=0)) == "0000:0a:00.1"
    assert str(address.PciAddress.parse("0a:00.1", default_domain=0x10)) == "0010:0a:00.1"
    assert str(address.PciAddress.parse("0001:0a:00.1", default_domain=0)) == "0001:0a:00.1"
    with pytest.raises(errors.InvalidPciAddress, match="the domain is missing"):
        address.PciAddress.parse("0a:00.1")


def test_order_is_numeric_not_textual() -> None:
    texts = ["0000:10:00.0", "0000:0a:00.1", "0001:00:00.0", "0000:0a:00.0", "0000:0a:1f.0", "0000:0a:02.7"]
    ordered = sorted(address.PciAddress.parse(t) for t in texts)
    assert [str(a) for a in ordered] == ["0000:0a:00.0", "0000:0a:00.1", "0000:0a:02.7", "0000:0a:1f.0",
                                         "0000:10:00.0", "0001:00:00.0"]


def test_equal_addresses_hash_alike() -> None:
    a, b = address.PciAddress.parse("0000:0A:00.1"), address.PciAddress.parse("0:a:0.1")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != address.PciAddress.parse("0000:0a:00.2")


@pytest.mark.parametrize(("fields", "name"), [
    ((0x10000, 0, 0, 0), "domain"), ((0, 0x100, 0, 0), "bus"), ((0, 0, 0x20, 0), "slot"),
    ((0, 0, 0, 8), "func"), ((-1, 0, 0, 0), "domain"), ((0, 0, 0, -1), "func"),
], ids=["domain", "bus", "slot", "func", "negative-domain", "negative-func"])
def test_constructor_limits(fields: tuple[int, int, int, int], name: str) -> None:
    with pytest.raises(errors.InvalidPciAddress, match=f"{name} .* is out of range"):
        address.PciAddress(*fields)


@pytest.mark.parametrize(("text", "reason"), [
    ("0000:0a:20.0", "slot 0x20 is above 0x1f"),
    ("0000:0a:00.8", "expected dddd:bb:ss.f"),
    ("00000:0a:00.0", "expected dddd:bb:ss.f"),
    ("0000:0a:00", "expected dddd:bb:ss.f"),
    ("0000:0a:000.0", "expected dddd:bb:ss.f"),
    ("", "expected dddd:bb:ss.f"),
    ("*:0a:00.0", "expected dddd:bb:ss.f"),
    ("0x00:0a:00.0", "expected dddd:bb:ss.f"),
    ("0000:0a:00.1\n0000:0a:00.2", "expected dddd:bb:ss.f"),
    ("0000:0a:00.-1", "expected dddd:bb:ss.f"),
    ("０000:0a:00.0", "expected dddd:bb:ss.f"),
    ("0000-0a-00.0", "expected dddd:bb:ss.f"),
], ids=["slot-range", "func-range", "long-domain", "no-func", "long-slot", "empty", "glob", "0x",
        "two-lines", "negative", "fullwidth-digit", "dashes"])
def test_hostile_text(text: str, reason: str) -> None:
    with pytest.raises(errors.InvalidPciAddress) as info:
        address.PciAddress.parse(text)
    assert info.value.code == "PciDeviceWrongAddressFormat"  # Nova's parse_address code
    assert info.value.message == f"Invalid PCI address {text!r}: {reason}"
    assert address.PciAddress.try_parse(text) is None


@pytest.mark.parametrize("value", [None, 5, b"0000:0a:00.0", ["0000:0a:00.0"]])
def test_non_string_input(value: Any) -> None:
    with pytest.raises(errors.InvalidPciAddress, match="not a string"):
        address.PciAddress.parse(value)
    assert address.PciAddress.try_parse(value) is None


def test_error_becomes_a_problem() -> None:
    with pytest.raises(errors.InvalidPciAddress) as info:
        address.normalize("bogus")
    assert info.value.to_problem(file="f").code == "PciDeviceWrongAddressFormat"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(domain=st.integers(0, 0xFFFF), bus=st.integers(0, 0xFF), slot=st.integers(0, 0x1F),
       func=st.integers(0, 7), upper=st.booleans())
def test_round_trip(domain: int, bus: int, slot: int, func: int, upper: bool) -> None:
    original = address.PciAddress(domain, bus, slot, func)
    text = str(original).upper() if upper else str(original)
    assert address.PciAddress.parse(text) == original
    assert address.normalize(text) == str(original)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=st.text(max_size=16))
def test_arbitrary_text_is_parsed_or_rejected_with_our_error(text: str) -> None:
    parsed = address.PciAddress.try_parse(text)
    if parsed is not None:
        assert address.PciAddress.parse(str(parsed)) == parsed
