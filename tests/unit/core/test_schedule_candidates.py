"""core.schedule.candidates: Nova's PCI and NUMA filters over Placement's allocation candidates;
and the candidate reader's checks of an answer's shape (adapters.placementcand)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pcipass.adapters import placementapi, placementcand
from pcipass.core import model, numa, placement, pools, poolupkeep, requests, schedule, spec
from pcipass.core.schedule import candidates as cand

CELLS = (numa.HostCell(0, frozenset(range(8)), frozenset(range(8)), 16384, 0),
         numa.HostCell(1, frozenset(range(8, 16)), frozenset(range(8, 16)), 16384, 1))
NIC = {"vendor_id": "8086", "product_id": "154c"}
RP = {"0000:81:00.0": "rp-pf0", "0000:82:00.0": "rp-pf1"}


def host() -> schedule.HostInput:
    devices = []
    for i, node in enumerate((0, 1)):
        pf = f"0000:{0x81 + i:02x}:00.0"
        devices.append(model.Device(pf, "8086", "1572", dev_type=model.TYPE_PF, numa_node=node,
                                    sriov_totalvfs=2, sriov_vf_device="154c"))
        devices += [model.Device(f"0000:{0x81 + i:02x}:02.{j}", "8086", "154c",
                                 dev_type=model.TYPE_VF, parent_addr=pf, numa_node=node)
                    for j in range(2)]
    parsed = spec.parse_device_spec_values([json.dumps(NIC)], model.HostFacts.from_devices(devices))
    return schedule.HostInput("c1", tuple(devices), tuple(parsed.specs), CELLS)


def pools_with_providers(h: schedule.HostInput) -> schedule.HostPools:
    compute = pools.build(h.devices, h.specs, {c.id: c.socket for c in h.cells})
    view = placement.translate("c1", h.devices, h.specs)
    poolupkeep.populate_rp_uuids(compute, {a: RP[p.address] for p in view.providers for a in p.devices})
    return schedule.HostPools(compute, compute.scheduler_view())


def candidate(*rps: str) -> cand.AllocationCandidate:
    return cand.AllocationCandidate("root", {rp: {"CUSTOM_PCI_8086_154C": rps.count(rp)} for rp in rps},
                                    {f"r000-{i}": (rp,) for i, rp in enumerate(rps)})


REQS = cand.named_requests([requests.PciRequest("nic", 2, "required", [dict(NIC)])])
ONE_NODE = numa.InstanceShape(2, 1024, numa_nodes=1)


def test_named_requests_are_never_a_prefix_of_one_another() -> None:
    named = cand.named_requests([requests.PciRequest("a", 1, None, [dict(NIC)])] * 12)
    ids = [r.request_id for r in named]
    assert ids[:2] == ["r000", "r001"] and len(set(ids)) == 12
    assert not any(a != b and f"{b}-0".startswith(a) for a in ids for b in ids)


def test_first_candidate_whose_providers_fit_is_the_verdict() -> None:
    h = host()
    built = pools_with_providers(h)
    # one VF of each PF: the required NUMA policy with one instance node refuses it
    got = cand.evaluate_candidates(h, built, REQS, [candidate("rp-pf0", "rp-pf1"),
                                                    candidate("rp-pf1", "rp-pf1")], ONE_NODE)
    assert got.chosen == 1 and got.passed == 2 and got.verdict.fits
    assert {d.address[:7] for d in got.verdict.devices} == {"0000:82"}
    assert got.verdict.instance_numa_nodes == (1,)


def test_a_candidate_nova_claims_short_does_not_fit() -> None:
    # Nova's filters pass the split candidate (the NUMA stage drops PF 1's pool, PF 0's pool
    # alone holds 2 >= 2) and its claim takes the one VF mapped to PF 0.
    h = host()
    got = cand.evaluate_candidates(h, pools_with_providers(h), REQS,
                                   [candidate("rp-pf0", "rp-pf1")] * 3, ONE_NODE)
    assert got.passed == 3 and got.chosen == 0
    v = got.verdict
    assert v.nova_fits and not v.fits and v.claim_ok is False and len(v.devices) == 1
    assert v.reasons[0].message.startswith("with this allocation candidate Nova's claim gives 1 of "
                                           "the 2 device(s) asked")
    assert v.reasons[0].evidence[0].value == "r000-0 -> rp-pf0, r000-1 -> rp-pf1"
    without_numa = cand.evaluate_candidates(h, pools_with_providers(h), REQS,
                                            [candidate("rp-pf0", "rp-pf1")])
    assert without_numa.verdict.fits and len(without_numa.verdict.devices) == 2


def test_no_candidate_passing_gives_the_first_ones_reasons_after_a_lead() -> None:
    h = host()
    three = numa.InstanceShape(2, 1024, numa_nodes=1)
    reqs = cand.named_requests([requests.PciRequest("nic", 3, "required", [dict(NIC)])])
    got = cand.evaluate_candidates(h, pools_with_providers(h), reqs,
                                   [candidate("rp-pf0", "rp-pf0", "rp-pf1")] * 3, three)
    assert got.passed == 0 and got.chosen == 0 and not got.verdict.fits
    lead, *rest = got.verdict.reasons
    assert lead.message.startswith("Placement offered 3 allocation candidate(s)")
    assert lead.evidence[0].value == "r000-0 -> rp-pf0, r000-1 -> rp-pf0, r000-2 -> rp-pf1"
    assert rest and rest[0].layer == "numa"


def test_providers_the_pools_do_not_carry_fail_the_pci_filter() -> None:
    h = host()
    got = cand.evaluate_candidates(h, pools_with_providers(h), REQS, [candidate("rp-x", "rp-x")])
    assert not got.verdict.nova_fits and got.passed == 0
    with pytest.raises(ValueError):
        cand.evaluate_candidates(h, pools_with_providers(h), REQS, [])


ROOTS = {"rp-pf0": "root", "root": "root", "rp-other": "other"}


@pytest.mark.parametrize(("entry", "words"), [
    ({"mappings": {}}, "no 'allocations' dict"),
    ({"allocations": {"rp-pf0": {"resources": {"X": 1}}}}, "no 'mappings' dict"),
    ({"allocations": {"rp-pf0": {"resources": {"X": 0}}}, "mappings": {}}, "positive integer"),
    ({"allocations": {"rp-pf0": {"resources": {"X": True}}}, "mappings": {}}, "positive integer"),
    ({"allocations": {"rp-pf0": {"resources": {"X": 1}}}, "mappings": {"g": []}}, "not a list"),
    ({"allocations": {"rp-pf0": {"resources": {"X": 1}}, "rp-other": {"resources": {"X": 1}}},
      "mappings": {}}, "not under one root"),
    ({"allocations": {"rp-unknown": {"resources": {"X": 1}}}, "mappings": {}}, "not under one root"),
])
def test_an_answer_of_another_shape_is_refused_naming_it(entry: dict[str, Any], words: str) -> None:
    with pytest.raises(placementapi.PlacementApiError) as caught:
        placementcand._candidate(entry, ROOTS, "P: GET /allocation_candidates", 4)
    assert "allocation request 4" in caught.value.message and words in caught.value.message


def test_a_good_entry_reads_into_a_candidate() -> None:
    got = placementcand._candidate({"allocations": {"rp-pf0": {"resources": {"X": 2}}},
                                    "mappings": {"r000-0": ["rp-pf0"]}}, ROOTS, "P", 0)
    assert got == cand.AllocationCandidate("root", {"rp-pf0": {"X": 2}}, {"r000-0": ("rp-pf0",)})
    assert placementcand.query_text([("resourcesr000-0", "CUSTOM_A:1"), ("group_policy", "none")]) \
        == "resourcesr000-0=CUSTOM_A:1&group_policy=none"
