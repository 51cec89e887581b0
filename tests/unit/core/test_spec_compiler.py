"""The core's side of bounded regex matching: it takes a pattern compiler and only calls it."""

from __future__ import annotations

import pickle

import pytest

from pcipass.core import errors, model, spec
from pcipass.core import spec_address as addr

HOST = model.HostFacts()
DEV = model.Device("0000:0a:00.5", "8086", "154c")


class Refused(errors.InputError):
    msg_fmt = "refused %(pattern)s"


class Recording:
    """A compiler that records what it compiles and what its matchers are asked."""

    def __init__(self, *, raise_on: str | None = None, refuse: str | None = None) -> None:
        self.compiled: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.raise_on = raise_on
        self.refuse = refuse

    def __call__(self, pattern: str) -> addr.FieldMatcher:
        if pattern == self.refuse:
            raise Refused(pattern=pattern)
        self.compiled.append(pattern)
        inner = addr.compile_re(pattern)

        def match(text: str, /) -> bool:
            self.calls.append((pattern, text))
            if pattern == self.raise_on:
                raise Refused(pattern=pattern)
            return inner(text)
        return match


def test_default_compiler_is_nova_re_match() -> None:
    assert addr.compile_re("0")("0a") is True  # prefix match, as re.match
    assert addr.compile_re("0A")("0a") is False  # case-sensitive
    assert addr.compile_re("a$")("0a") is False  # anchored at the start
    assert pickle.loads(pickle.dumps(addr.compile_re("0[ab]")))("0b") is True


def test_compiler_gets_every_pattern_but_the_match_all() -> None:
    rec = Recording()
    s = spec.parse_spec({"address": {"bus": "0[ab]", "function": "[0-5]", "slot": ".*"}}, HOST,
                        compiler=rec)
    assert rec.compiled == ["0[ab]", "[0-5]"]
    assert s.match(DEV) is True
    assert rec.calls == [("0[ab]", "0a"), ("[0-5]", "5")]


def test_re_rejects_before_the_compiler_sees_the_pattern() -> None:
    rec = Recording()
    with pytest.raises(errors.PciDeviceWrongAddressFormat):
        spec.parse_spec({"address": {"bus": "0a", "slot": "(0a"}}, HOST, compiler=rec)
    assert rec.compiled == []


def test_a_compiler_error_rejects_only_its_entry_and_names_it() -> None:
    rec = Recording(refuse="x+")
    result = spec.parse_device_spec_values(
        ['[{"vendor_id": "8086"}, {"address": {"bus": "x+"}}]', '{"address": {"bus": "0a"}}'],
        HOST, compiler=rec)
    assert [e.index for e in result.specs] == [0, 2]
    assert result.problems == [errors.Problem(code="Refused", message="refused x+", value_index=0,
                                              entry="device_spec value 0, item 1")]


def test_a_matcher_error_propagates_from_every_match_path() -> None:
    rec = Recording(raise_on="0a")
    result = spec.parse_device_spec_values(['{"address": {"bus": "0a"}}'], HOST, compiler=rec)
    (entry,) = result.specs
    with pytest.raises(Refused):
        spec.first_match(result.specs, DEV)
    with pytest.raises(Refused):
        entry.spec.match(DEV)
    with pytest.raises(Refused):
        entry.spec.mismatches(DEV)


def test_field_matchers_are_the_compiled_ones() -> None:
    rec = Recording()
    address = addr.parse_regex({"domain": "0+", "function": "7"}, rec)
    assert [i for i, _m in address.field_matchers] == [0, 3]
    assert [m("0000") for _i, m in address.field_matchers] == [True, False]
