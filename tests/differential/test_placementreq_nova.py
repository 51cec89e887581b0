"""Differential: the PCI request groups equal Nova's, and so does the query's group policy.

Nova's side: ``request.get_pci_requests_from_flavor`` (the generated alias table in CONF,
``pci_in_placement`` on), a ``RequestSpec`` of that flavor whose
``generate_request_groups_from_pci_requests`` adds the groups, and
``scheduler.utils.resources_from_request_spec``, which merges the flavor's own groups and
decides ``group_policy``. Our side: ``requests.translate_flavor`` then
``placementreq.request_groups`` with Nova's request ids (UUIDs; ours are positions).

Compared: every PCI group (requester id, resources, required traits, same provider), the
group policy, ``same_subtree`` (none), and the PCI parameters of Nova's query string.
"""

from __future__ import annotations

import collections
import json
import urllib.parse
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import alias, placementreq, requests
from support import require_module

nova_objects = require_module("nova.objects")
nova_request = require_module("nova.pci.request")
nova_sched_utils = require_module("nova.scheduler.utils")

pytestmark = pytest.mark.nova
nova_objects.register_all()

HITS: collections.Counter[str] = collections.Counter()
EXAMPLES = 200
MIN_HITS = 20
FLAVOR_GROUPS = [("resources1:VGPU", ["1", "0", "x"]), ("trait2:HW_CPU_X86_AVX", ["required", "bogus"]),
                 ("resources_A:CUSTOM_Y", ["2"]), ("resourcesX:bogus", ["1"]),
                 ("trait1:CUSTOM_Z", ["forbidden"])]


@st.composite
def alias_table(draw: st.DrawFn) -> list[str]:
    out = []
    for name in ("a", "b", "c"):
        obj: dict[str, str] = {"name": name}
        if draw(st.integers(0, 2)):
            obj["vendor_id"], obj["product_id"] = draw(st.sampled_from(
                [("8086", "154c"), ("10de", "1DB6"), ("15b3", "101e")]))
        if draw(st.booleans()) or "vendor_id" not in obj:
            obj["resource_class"] = draw(st.sampled_from(["pgpu", "CUSTOM_X", "gpu x", "custom_y", ""]))
        if draw(st.booleans()):
            obj["traits"] = draw(st.sampled_from(["fast", "HW_CPU_X86_AVX,foo", "", " a", "a,,b"]))
        if draw(st.integers(0, 3)) == 0:
            obj["device_type"] = draw(st.sampled_from(["type-PCI", "type-VF", "type-PF"]))
        out.append(json.dumps(obj))
    return out


@st.composite
def flavor(draw: st.DrawFn) -> dict[str, str]:
    items = [f"{n}:{draw(st.integers(0, 3))}" for n in draw(st.lists(st.sampled_from("abc"),
                                                                       min_size=1, max_size=3,
                                                                       unique=True))]
    specs = {"pci_passthrough:alias": ",".join(items)}
    policy = draw(st.sampled_from([None, None, "none", "isolate", "bogus"]))
    if policy is not None:
        specs["group_policy"] = policy
    for key, values in FLAVOR_GROUPS:
        if draw(st.integers(0, 3)) == 0:
            specs[key] = draw(st.sampled_from(values))
    return specs


@pytest.fixture(scope="module")
def oracle(nova_oracle: Any) -> Any:
    conf = nova_oracle.conf

    def run(aliases: list[str], extra_specs: dict[str, str]) -> tuple[Any, Any]:
        conf.set_override("alias", aliases, group="pci")
        conf.set_override("pci_in_placement", True, group="filter_scheduler")
        nova_request.get_alias_from_config.cache_clear()
        try:
            flv = nova_objects.Flavor(vcpus=1, memory_mb=512, root_gb=1, ephemeral_gb=0, swap=0,
                                      extra_specs=dict(extra_specs))
            pci = nova_request.get_pci_requests_from_flavor(flv)
            spec = nova_objects.RequestSpec(
                flavor=flv, pci_requests=pci, is_bfv=False,
                image=nova_objects.ImageMeta(properties=nova_objects.ImageMetaProps()))
            spec.generate_request_groups_from_pci_requests()
            res_req = nova_sched_utils.resources_from_request_spec(None, spec, None)
            return pci, res_req
        finally:
            conf.clear_override("alias", group="pci")
            conf.clear_override("pci_in_placement", group="filter_scheduler")
            nova_request.get_alias_from_config.cache_clear()

    return run


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(aliases=alias_table(), extra_specs=flavor())
def test_request_groups_equal_novas(oracle: Any, aliases: list[str], extra_specs: dict[str, str]) -> None:
    table = alias.parse_alias_values(aliases, pci_in_placement=True)
    assert table.valid, table.problems
    pci, res_req = oracle(aliases, extra_specs)
    reqs = requests.translate_flavor(extra_specs, table.aliases).requests
    ids = [r.request_id for r in pci.requests]
    assert len(ids) == len(reqs)
    ours = placementreq.request_groups(reqs, extra_specs=extra_specs, request_ids=ids)
    prefixes = tuple(f"{rid}-" for rid in ids)
    nova_groups = [(g.requester_id, dict(g.resources), tuple(sorted(g.required_traits)),
                    g.use_same_provider)
                   for g in res_req._rg_by_id.values()
                   if g.requester_id and g.requester_id.startswith(prefixes)]
    assert [(g.requester_id, {g.resource_class: g.amount}, g.required_traits, g.use_same_provider)
            for g in ours.groups] == nova_groups
    assert ours.group_policy == res_req.group_policy
    assert list(ours.same_subtree) == res_req._same_subtree == []
    nova_query = urllib.parse.parse_qsl(res_req.to_querystring())
    pci_params = [(k, v) for k, v in nova_query if k.startswith(tuple(
        f"{what}{p}" for what in ("resources", "required") for p in prefixes))]
    assert sorted(pci_params) == [p for p in ours.query() if p[0] != "group_policy"]
    HITS["groups"] += bool(ours.groups)
    HITS["count > 1"] += any(r.count > 1 for r in reqs)
    HITS["traits"] += any(g.required_traits for g in ours.groups)
    HITS[f"group_policy {ours.group_policy}"] += 1
    HITS["flavor groups"] += placementreq.flavor_numbered_groups(extra_specs)[0] > 0
    HITS["policy missing"] += any(w.code == "PlacementGroupPolicyMissing" for w in ours.warnings)


def test_every_rule_is_reached(oracle: Any) -> None:
    """Runs after the generated test (fixed seeds): every branch was exercised."""
    if not HITS:
        test_request_groups_equal_novas(oracle)
    wanted = ["groups", "count > 1", "traits", "group_policy none", "group_policy isolate",
              "group_policy None", "flavor groups", "policy missing"]
    short = {k: HITS[k] for k in wanted if HITS[k] < MIN_HITS}
    assert not short, f"rules reached fewer than {MIN_HITS} times: {short} (all: {dict(HITS)})"
