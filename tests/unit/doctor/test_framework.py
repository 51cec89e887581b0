"""The check framework: registration rules, fact injection, skips, crashes, selection, exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core.layers import Layer
from pcipass.doctor import model, registry, runner


class Source:
    """A fact source from a dict; names mapped to a FactMissing are missing."""

    def __init__(self, host: str | None, facts: dict[str, Any]) -> None:
        self._host = host
        self.facts = facts
        self.asked: list[str] = []

    @property
    def host(self) -> str | None:
        return self._host

    def get(self, name: str) -> Any:
        self.asked.append(name)
        value = self.facts.get(name, model.FactMissing(name, "not in this test"))
        if isinstance(value, model.FactMissing):
            raise value
        return value


def _reg() -> registry.Registry:
    return registry.Registry()


def test_registration_validates_ids_layers_facts_and_docs() -> None:
    reg = _reg()

    def ok(kernel: model.KernelView) -> Iterator[model.Result]:
        """Docs."""
        yield from ()

    reg.check("PCI-K901", "kernel", title="t")(ok)
    assert reg.get("PCI-K901") is not None and reg.get("PCI-K901").facts == ("kernel",)  # type: ignore[union-attr]
    with pytest.raises(registry.CheckDefinitionError, match="ids are PCI-"):
        reg.check("K901", "kernel", title="t")(ok)
    with pytest.raises(registry.CheckDefinitionError, match="takes ids PCI-D"):
        reg.check("PCI-K902", "driver", title="t")(ok)
    with pytest.raises(registry.CheckDefinitionError, match="unknown layer"):
        reg.check("PCI-X902", "bios", title="t")(ok)

    def typo(kernal: Any) -> Iterator[model.Result]:
        """Docs."""
        yield from ()
    with pytest.raises(registry.CheckDefinitionError, match="'kernal' is not a fact"):
        reg.check("PCI-K903", "kernel", title="t")(typo)

    def nodoc(kernel: Any) -> Iterator[model.Result]:
        yield from ()
    with pytest.raises(registry.CheckDefinitionError, match="docstring"):
        reg.check("PCI-K904", "kernel", title="t")(nodoc)

    def other(kernel: Any) -> Iterator[model.Result]:
        """Docs."""
        yield from ()
    with pytest.raises(registry.CheckDefinitionError, match="already used"):
        reg.check("PCI-K901", "kernel", title="t")(other)


def test_builtin_checks_are_valid_and_ordered() -> None:
    checks = registry.load_builtin().all()
    ids = [c.id for c in checks]
    assert len(ids) == len(set(ids)) >= 30
    # contracts.md section 3: the layers bottom-up, and the id letter of each
    letters = {"kernel": "K", "driver": "D", "device_spec": "S", "numa": "N", "placement": "P",
               "flavor": "F", "neutron": "Q", "scheduler": "C"}
    layers = [list(letters).index(c.layer.value) for c in checks]
    assert layers == sorted(layers)
    for c in checks:
        assert registry.ID_PATTERN.match(c.id) and c.id[4] == letters[c.layer.value]
        assert set(c.facts) <= set(model.FACT_TYPES) and c.doc and c.title
        assert not any(model.FACT_TYPES[f].later for f in c.facts), "no check may need a fact nobody gathers"
    # the flavor-wide checks run once, the host checks per host
    assert registry.REGISTRY.get("PCI-F001").scope == model.GLOBAL  # type: ignore[union-attr]
    assert registry.REGISTRY.get("PCI-C003").scope == model.HOST  # type: ignore[union-attr]


def _one(reg: registry.Registry, func: Any, check_id: str = "PCI-D901") -> registry.Check:
    reg.check(check_id, "driver", title="t")(func)
    chk = reg.get(check_id)
    assert chk is not None
    return chk


def test_missing_fact_gives_one_skip_naming_it() -> None:
    def needs(devices: Any, persistence: Any) -> Iterator[model.Result]:
        """Docs."""
        yield model.result(model.FAIL, "x", "never")
    chk = _one(_reg(), needs)
    [f] = runner.run_one(chk, Source("h1", {"devices": 1}))
    assert (f.severity, f.host, f.id, f.layer) == ("skip", "h1", "PCI-D901", "driver")
    assert "needs persistence (not in this test)" in f.message


def test_optional_fact_defaults_instead_of_skipping() -> None:
    seen: list[Any] = []

    def opt(devices: Any, compute_config: Any = None) -> Iterator[model.Result]:
        """Docs."""
        seen.append(compute_config)
        yield model.result(model.INFO, "s", "ran")
    chk = _one(_reg(), opt)
    [f] = runner.run_one(chk, Source("h", {"devices": 1}))
    assert f.severity == "info" and seen == [None]


def test_crash_becomes_a_fail_finding() -> None:
    def boom(devices: Any) -> Iterator[model.Result]:
        """Docs."""
        raise KeyError("oops")
        yield  # pragma: no cover
    chk = _one(_reg(), boom)
    [f] = runner.run_one(chk, Source("h", {"devices": 1}))
    assert f.severity == "fail" and f.message == "check crashed: KeyError: 'oops'" and f.fix


def test_bad_yield_is_a_crash_too() -> None:
    def bad(devices: Any) -> Iterator[Any]:
        """Docs."""
        yield "not a result"
    [f] = runner.run_one(_one(_reg(), bad), Source("h", {"devices": 1}))
    assert f.message.startswith("check crashed: TypeError")


def test_global_checks_run_once_host_checks_per_host() -> None:
    reg = _reg()

    def per_host(devices: Any) -> Iterator[model.Result]:
        """Docs."""
        yield model.result(model.WARN, "d", str(devices))

    def once(flavors: Any) -> Iterator[model.Result]:
        """Docs."""
        yield model.result(model.FAIL, "f", str(len(flavors)))
    reg.check("PCI-D901", "driver", title="t")(per_host)
    reg.check("PCI-F901", "flavor", title="t")(once)
    hosts = [Source("b", {"devices": 2}), Source("a", {"devices": 1})]
    found = runner.run(reg.all(), hosts, Source(None, {"flavors": (1, 2)}))
    assert [(f.id, f.host, f.message) for f in found] == [
        ("PCI-D901", "a", "1"), ("PCI-D901", "b", "2"), ("PCI-F901", None, "2")]
    assert runner.exit_code(found) == 2
    assert runner.summary(found) == {"fail": 1, "warn": 2, "info": 0, "skip": 0}
    assert runner.broken_layers(found) == ["flavor"]


def test_exit_codes_ignore_skip_and_info() -> None:
    def f(sev: str) -> model.Finding:
        return model.Finding("PCI-K001", Layer.KERNEL, model.Severity(sev), "h", "s", "m")
    assert runner.exit_code([]) == 0
    assert runner.exit_code([f("skip"), f("info")]) == 0
    assert runner.exit_code([f("skip"), f("warn")]) == 1
    assert runner.exit_code([f("warn"), f("fail"), f("skip")]) == 2


def test_selection_prefixes() -> None:
    sel = runner.Selection(select=("PCI-D",), ignore=("PCI-D00",))
    assert not sel.wants("PCI-D001") and not sel.wants("PCI-K001")
    assert runner.Selection(select=("PCI-D", "PCI-D002"), ignore=("PCI-D00",)).wants("PCI-D002")
    assert runner.Selection(ignore=("pci-k",)).wants("PCI-S001")
    assert not runner.Selection(ignore=("pci-k",)).wants("PCI-K003")
    assert runner.Selection().wants("PCI-C004")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(["PCI-", "PCI-K", "PCI-K00", "PCI-K001", "PCI-S", "PCI-S01"]), max_size=3),
       st.lists(st.sampled_from(["PCI-", "PCI-K", "PCI-K00", "PCI-K001", "PCI-S", "PCI-S01"]), max_size=3),
       st.sampled_from(["PCI-K001", "PCI-K002", "PCI-S010", "PCI-S001", "PCI-C001"]))
def test_selection_longest_prefix_wins(select: list[str], ignore: list[str], check_id: str) -> None:
    sel_len = max((len(p) for p in select if check_id.startswith(p)), default=-1)
    ign_len = max((len(p) for p in ignore if check_id.startswith(p)), default=-1)
    expected = (not select or sel_len >= 0) and (ign_len < 0 or sel_len > ign_len)
    assert runner.Selection(tuple(select), tuple(ignore)).wants(check_id) == expected


def test_sort_is_layer_then_host_then_id() -> None:
    fs = [model.Finding("PCI-C001", Layer.SCHEDULER, model.FAIL, None, "s", "m"),
          model.Finding("PCI-K002", Layer.KERNEL, model.FAIL, "b", "s", "m"),
          model.Finding("PCI-K001", Layer.KERNEL, model.FAIL, "b", "s", "m"),
          model.Finding("PCI-K003", Layer.KERNEL, model.FAIL, "a", "s", "m")]
    assert [(f.id, f.host) for f in runner.sort_findings(fs)] == [
        ("PCI-K003", "a"), ("PCI-K001", "b"), ("PCI-K002", "b"), ("PCI-C001", None)]
