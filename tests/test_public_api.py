"""The documented Python API: its names are pinned, and each one works."""

from __future__ import annotations

import doctest
import inspect

import pcipass
from support import FIXTURES


def test_all_is_pinned() -> None:
    assert pcipass.__all__ == sorted(pcipass.__all__)
    assert set(pcipass.__all__) == {
        "Device", "HostFacts", "PciAddress", "PcipassError", "Problem", "__version__",
        "check_config", "explain_flavors", "parse_alias_values", "parse_device_spec_values",
        "read_flavor", "read_nova_conf", "translate_flavor"}
    for name in pcipass.__all__:
        assert getattr(pcipass, name) is not None


def test_signatures_are_stable() -> None:
    sig = inspect.signature(pcipass.check_config)
    assert list(sig.parameters) == ["nova_conf", "sriov_agent_conf", "config_dirs", "facts"]
    sig = inspect.signature(pcipass.explain_flavors)
    assert list(sig.parameters) == ["flavors", "nova_conf", "image"]
    sig = inspect.signature(pcipass.parse_device_spec_values)
    assert list(sig.parameters)[:2] == ["values", "facts"]


def test_module_doctest() -> None:
    result = doctest.testmod(pcipass, verbose=False)
    assert result.attempted >= 2 and result.failed == 0


def test_check_config_and_explain_end_to_end() -> None:
    conf = str(FIXTURES / "cli" / "good.conf")
    view = pcipass.check_config([conf])
    assert view.valid and len(view.specs.specs) == 2
    report = pcipass.explain_flavors([str(FIXTURES / "cli" / "flavor-vf2.json")], nova_conf=[conf])
    (res,) = report.results
    assert res.error is None and res.requests[0].count == 2
    assert report.to_dict()["schema"] == "pcipass-flavor/1"


def test_unknown_attribute() -> None:
    try:
        pcipass.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
