"""The test helpers that decide between skip and fail: a missing oracle never skips in CI."""

from __future__ import annotations

import pytest

import support


def test_a_missing_module_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(support, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="must be installed in CI"):
        support.require_module("pcipass_no_such_module")


def test_a_missing_module_skips_the_whole_module_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(support, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception) as exc:
        support.require_module("pcipass_no_such_module")
    assert exc.value.allow_module_level


def test_a_present_module_is_returned() -> None:
    assert support.require_module("json").dumps([1]) == "[1]"
