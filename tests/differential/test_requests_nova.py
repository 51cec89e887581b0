"""Flavor + image -> PCI requests against the real Nova.

Oracle, in the order Nova's API calls it when it builds an instance:
``objects.ImageMeta.from_dict`` (a ValueError there becomes ``InvalidRequest``
"Invalid image metadata. Error: ..."), ``hardware.get_cpu_policy_constraint``,
``hardware._get_numa_node_count_constraint``,
``hardware.get_pci_numa_policy_constraint`` and
``request.get_pci_requests_from_flavor``; plus the API's extra spec
validators (``nova.api.validation.extra_specs.validators.validate``).

Deliberate differences, excluded explicitly below (see docs/compat.md):
* a malformed ``pci_passthrough:alias`` item makes Nova leak a bare
  ``ValueError``; we raise ``InvalidAliasRequest`` (class mapped, message ours);
* request ids are positions, not UUIDs (not compared);
* only the four extra specs we read are checked, not all of ``numa_get_constraints``.
"""

from __future__ import annotations

from typing import Any

import pytest

from support import require_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

require_module("nova")

from pcipass.core import alias, errors, requests  # noqa: E402

pytestmark = pytest.mark.nova

ALIAS_VALUES = [
    '{"name": "gpu", "vendor_id": "10de", "product_id": "1db6", "numa_policy": "required"}',
    '{"name": "nic", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF"}',
    '{"name": "nic", "vendor_id": "8086", "product_id": "10ed", "device_type": "type-VF"}',
    '{"name": "qat", "vendor_id": "8086", "product_id": "0443", "numa_policy": "socket",'
    ' "live_migratable": "Yes"}',
]
NAMES = ["gpu", "nic", "qat", " gpu ", "gpx", "", "GPU"]
COUNTS = ["1", "2", "0", "-1", " 2", "2 ", "x", "", "1_0", "\u0661", "+3", "1.0"]
SEPS = [",", ", ", " ,", ",,"]
FLAVOR_POLICIES = [None, "", "required", "legacy", "preferred", "socket", "bogus", "Required"]
IMAGE_POLICIES = [None, "required", "legacy", "socket", "bogus", ""]
FLAVOR_NODES = [None, "", "1", "2", "0", "-1", " 2", "02", "x"]
IMAGE_NODES = [None, "1", "2", "0", "x", "-1", " 3"]
FLAVOR_CPU = [None, "", "dedicated", "shared", "mixed", "bogus"]
IMAGE_CPU = [None, "dedicated", "shared", "mixed", "bogus"]


@st.composite
def alias_spec(draw: st.DrawFn) -> str:
    items = []
    for _ in range(draw(st.integers(1, 3))):
        form = draw(st.integers(0, 9))
        name, count = draw(st.sampled_from(NAMES)), draw(st.sampled_from(COUNTS))
        if form == 0:
            items.append(name)
        elif form == 1:
            items.append(f"{name}:{count}:1")
        else:
            items.append(f"{name}:{count}")
    sep = draw(st.sampled_from(SEPS))
    return sep.join(items)


@st.composite
def flavor_and_image(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, str]]:
    specs: dict[str, str] = {}
    image: dict[str, str] = {}
    if draw(st.integers(0, 9)):
        specs["pci_passthrough:alias"] = draw(alias_spec())
    for key, choices, target in (
            ("hw:pci_numa_affinity_policy", FLAVOR_POLICIES, specs),
            ("hw_pci_numa_affinity_policy", IMAGE_POLICIES, image),
            ("hw:numa_nodes", FLAVOR_NODES, specs), ("hw_numa_nodes", IMAGE_NODES, image),
            ("hw:cpu_policy", FLAVOR_CPU, specs), ("hw_cpu_policy", IMAGE_CPU, image)):
        value = draw(st.sampled_from(choices)) if draw(st.integers(0, 2)) == 0 else None
        if value is not None:
            target[key] = value
    return specs, image


@pytest.fixture(scope="module")
def oracle() -> Any:
    import nova.conf
    from nova import objects
    from nova.pci import request
    from nova.virt import hardware

    conf = nova.conf.CONF
    conf([])
    objects.register_all()
    conf.set_override("alias", ALIAS_VALUES, group="pci")
    request.get_alias_from_config.cache_clear()

    def run(specs: dict[str, str], image: dict[str, str]) -> tuple[str, Any]:
        flavor = objects.Flavor(extra_specs=dict(specs))
        try:
            meta = objects.ImageMeta.from_dict({"properties": dict(image)})
        except ValueError as exc:
            return "InvalidRequest", f"Invalid image metadata. Error: {exc}"
        try:
            cpu = hardware.get_cpu_policy_constraint(flavor, meta)
            nodes = hardware._get_numa_node_count_constraint(flavor, meta)
            policy = hardware.get_pci_numa_policy_constraint(flavor, meta)
            reqs = request.get_pci_requests_from_flavor(flavor, affinity_policy=policy)
        except Exception as exc:  # compare the class and message
            return type(exc).__name__, str(exc)
        return "ok", (cpu, nodes, policy, [(r.alias_name, r.count, r.numa_policy, r.spec)
                                           for r in reqs.requests])

    yield run
    conf.clear_override("alias", group="pci")
    request.get_alias_from_config.cache_clear()


TABLE = alias.parse_alias_values(ALIAS_VALUES)


def assert_same(specs: dict[str, str], image: dict[str, str], oracle: Any) -> None:
    verdict, payload = oracle(specs, image)
    try:
        ours = requests.translate_flavor(specs, TABLE.aliases, image)
    except errors.PcipassError as exc:
        if verdict == "ValueError":
            # Deliberate difference (docs/compat.md): Nova leaks ValueError.
            assert exc.code == "InvalidAliasRequest", (specs, payload)
            return
        assert (exc.code, exc.message) == (verdict, payload), (specs, image)
        return
    assert verdict == "ok", (specs, image, payload)
    cpu, nodes, policy, reqs = payload
    assert (ours.cpu_policy, ours.numa_nodes, ours.numa_policy) == (cpu, nodes, policy or None)
    assert [(r.alias_name, r.count, r.numa_policy, r.specs) for r in ours.requests] == reqs
    assert [r.request_id for r in ours.requests] == list(range(len(reqs)))


def test_alias_table_is_valid() -> None:
    assert TABLE.valid, TABLE.problems


@given(case=flavor_and_image())
@settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_generated_flavors_match_nova(case: tuple[dict[str, str], dict[str, str]], oracle: Any) -> None:
    assert_same(case[0], case[1], oracle)


CASES = {
    "two_items": ({"pci_passthrough:alias": "gpu:2,nic:1"}, {}),
    "same_alias_twice": ({"pci_passthrough:alias": "gpu:1,gpu:2"}, {}),
    "spaces": ({"pci_passthrough:alias": " gpu : 2 , nic:1"}, {}),
    "count_zero": ({"pci_passthrough:alias": "gpu:0"}, {}),
    "count_negative": ({"pci_passthrough:alias": "gpu:-1"}, {}),
    "undefined": ({"pci_passthrough:alias": "gpx:1"}, {}),
    "undefined_before_malformed": ({"pci_passthrough:alias": "gpx:1,nic"}, {}),
    "malformed_before_undefined": ({"pci_passthrough:alias": "nic,gpx:1"}, {}),
    "empty_value": ({"pci_passthrough:alias": ""}, {}),
    "flavor_policy_overrides_alias": ({"pci_passthrough:alias": "gpu:1",
                                       "hw:pci_numa_affinity_policy": "preferred"}, {}),
    "image_policy": ({"pci_passthrough:alias": "qat:1"}, {"hw_pci_numa_affinity_policy": "legacy"}),
    "policies_agree": ({"pci_passthrough:alias": "gpu:1", "hw:pci_numa_affinity_policy": "socket"},
                       {"hw_pci_numa_affinity_policy": "socket"}),
    "policies_differ": ({"pci_passthrough:alias": "gpu:1", "hw:pci_numa_affinity_policy": "socket"},
                        {"hw_pci_numa_affinity_policy": "required"}),
    "flavor_policy_bogus": ({"hw:pci_numa_affinity_policy": "bogus"}, {}),
    "image_policy_bogus": ({}, {"hw_pci_numa_affinity_policy": "bogus"}),
    "numa_nodes_both": ({"hw:numa_nodes": "2"}, {"hw_numa_nodes": "2"}),
    "numa_nodes_zero": ({"hw:numa_nodes": "0"}, {}),
    "numa_nodes_padded": ({"hw:numa_nodes": " 2"}, {}),
    "image_numa_nodes": ({}, {"hw_numa_nodes": "3"}),
    "cpu_shared_image_dedicated": ({"hw:cpu_policy": "shared"}, {"hw_cpu_policy": "dedicated"}),
    "cpu_image_only": ({}, {"hw_cpu_policy": "mixed"}),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_flavor_cases_match_nova(case: tuple[dict[str, str], dict[str, str]], oracle: Any) -> None:
    assert_same(case[0], case[1], oracle)


@pytest.fixture(scope="module")
def api_validate() -> Any:
    import nova.conf

    nova.conf.CONF([])
    from nova.api.validation.extra_specs import validators

    def run(key: str, value: str) -> str | None:
        try:
            validators.validate(key, value)
        except Exception as exc:  # the oracle's ValidationError
            assert type(exc).__name__ == "ValidationError"
            return str(exc)
        return None

    return run


@given(key=st.sampled_from(["pci_passthrough:alias", "hw:pci_numa_affinity_policy", "hw:numa_nodes",
                            "hw:cpu_policy"]),
       value=st.one_of(alias_spec(), st.sampled_from(FLAVOR_POLICIES[1:] + FLAVOR_NODES[1:] + FLAVOR_CPU[1:]),
                       st.text(alphabet=" a:,1-\u0661", max_size=8)))
@settings(max_examples=400, deadline=None, derandomize=True)
def test_api_validation_matches_nova(key: str, value: str, api_validate: Any) -> None:
    expected = api_validate(key, value)
    try:
        requests.validate_extra_spec(key, value)
    except requests.ValidationError as exc:
        assert exc.message == expected
        return
    assert expected is None
