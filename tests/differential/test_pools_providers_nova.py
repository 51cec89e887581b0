"""Differential: pools that carry Placement providers behave as Nova's (issue 15, point 3).

Four behaviours of Nova's ``PciDeviceStats`` once PCI is in Placement:

* a device merges into a pool whatever ``rp_uuid`` the pool carries (``_find_pool`` ignores
  ``rp_uuid``, ``resource_class`` and ``traits``), and the pools get their provider from their
  devices (``populate_pools_metadata_from_assigned_devices``);
* a claim of a VF whose PF is tracked, with providers set, gives Nova's device and drops the
  PF from the pools;
* when a request's allocation names a provider shared by two of the pools left for it, Nova
  refuses the request (``PciDeviceRequestFailed``), in the claim and in the scheduler;
* the allocation mapping becomes each request's providers; a Neutron port request gets none.
"""

from __future__ import annotations

import collections
import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import devicestate as ds
from pcipass.core import model, pools, spec
from pcipass.core import poolupkeep as upkeep
from pcipass.core.poolrecords import with_allocation
from support import require_module

require_module("nova")  # fails in CI, skips only where the reference extra is absent

from test_pools_branches_nova import (  # noqa: E402
    ONE_PF,
    build_both,
    cells_of,
    gpus,
    nova_requests_with_rps,
    pf_with_vfs,
    req,
    scenario,
)
from test_stats_nova import nova_consume, nova_pools, our_consume, our_pools  # noqa: E402

pytestmark = pytest.mark.nova
HITS: collections.Counter[str] = collections.Counter()
MIN_HITS = 20

# -- a pool's provider, and devices that merge into it ------------------------------------------

SPECS = [
    [{"vendor_id": "8086"}],
    [{"vendor_id": "8086", "resource_class": "CUSTOM_NIC", "traits": "CUSTOM_A,CUSTOM_B"}],
    [{"vendor_id": "8086", "product_id": "154c", "traits": "CUSTOM_FAST"},
     {"vendor_id": "10de", "resource_class": "PGPU"}],
]


def tracked(address: str, dev_type: str, parent: str | None, product: str, vendor: str = "8086",
            rp: str | None = None) -> ds.TrackedDevice:
    extra = {"rp_uuid": rp} if rp else {}
    return ds.TrackedDevice(address, dev_type, parent_addr=parent, vendor_id=vendor,
                            product_id=product, numa_node=0, extra_info=extra)


def nova_object(dev: ds.TrackedDevice, ident: int) -> Any:
    from nova import objects

    return objects.PciDevice(
        id=ident, compute_node_id=1, address=dev.address, dev_type=dev.dev_type,
        status="available", parent_addr=dev.parent_addr, instance_uuid=None, request_id=None,
        vendor_id=dev.vendor_id, product_id=dev.product_id, numa_node=dev.numa_node,
        dev_id=None, label="l", extra_info=dict(dev.extra_info))


@settings(max_examples=120, deadline=None, derandomize=True)
@given(data=st.data())
def test_devices_merge_into_pools_whatever_their_provider(nova_oracle: Any,
                                                          data: st.DataObject) -> None:
    """Devices enter, the pools get providers from their devices, more devices enter (some
    with a provider, some without): pools, keys and providers equal Nova's."""
    from nova import objects
    from nova.pci import stats, whitelist

    objects.register_all()
    raw = data.draw(st.sampled_from(SPECS))
    parsed = spec.parse_device_spec_values([json.dumps(raw)], model.HostFacts.from_devices([]))
    book = upkeep.PoolBook(list(parsed.specs))
    theirs = stats.PciDeviceStats(None, dev_filter=whitelist.Whitelist([json.dumps(raw)]))
    pfs = data.draw(st.integers(1, 2))
    devices = []
    for bus in range(pfs):
        pf = f"0000:8{bus}:00.0"
        rp = f"rp-{bus}" if data.draw(st.integers(0, 3)) else None
        devices.append(tracked(pf, model.TYPE_PF, None, "1572", rp=rp))
        devices += [tracked(f"0000:8{bus}:02.{i}", model.TYPE_VF, pf, "154c", rp=rp)
                    for i in range(data.draw(st.integers(1, 3)))]
    devices.append(tracked("0000:3b:00.0", model.TYPE_PCI, None, "1db4", "10de",
                           rp="rp-gpu" if data.draw(st.booleans()) else None))
    first = data.draw(st.integers(1, len(devices)))
    objs = [nova_object(d, i) for i, d in enumerate(devices)]
    for dev, obj in zip(devices[:first], objs[:first]):
        book.add(dev)
        theirs.add_device(obj)
    book.populate_rp_uuids(devices[:first])
    theirs.populate_pools_metadata_from_assigned_devices()
    assert our_pools(book.stats, True) == nova_pools(theirs, True)
    for dev, obj in zip(devices[first:], objs[first:]):
        pooled = upkeep.pooled(dev, book.specs)
        if pooled is not None:
            pool = book.stats.find(pooled.key)
            if pool is not None and "rp_uuid" in pool.key:
                HITS["a device merged into a pool that has a provider"] += 1
        book.add(dev)
        theirs.add_device(obj)
    assert our_pools(book.stats, True) == nova_pools(theirs, True)
    if any(set(e) & {"resource_class", "traits"} for e in raw):
        HITS["Placement tags of the spec left out of the keys"] += 1


def test_a_pool_of_two_providers_is_refused_as_nova_refuses_it(nova_oracle: Any) -> None:
    """Pool keys hold the PF address, so only the VFs of one PF share a pool; mapped to two
    providers (which the translation never does), Nova rejects the pool."""
    from nova import objects
    from nova.pci import stats, whitelist

    objects.register_all()
    raw = [{"vendor_id": "8086"}]
    gpus_ = [tracked("0000:81:02.0", model.TYPE_VF, "0000:81:00.0", "154c", rp="rp-a"),
             tracked("0000:81:02.1", model.TYPE_VF, "0000:81:00.0", "154c", rp="rp-b")]
    parsed = spec.parse_device_spec_values([json.dumps(raw)], model.HostFacts.from_devices([]))
    book = upkeep.PoolBook(list(parsed.specs))
    theirs = stats.PciDeviceStats(None, dev_filter=whitelist.Whitelist([json.dumps(raw)]))
    for i, dev in enumerate(gpus_):
        book.add(dev)
        theirs.add_device(nova_object(dev, i))
    with pytest.raises(ValueError, match="more than one RPs"):
        theirs.populate_pools_metadata_from_assigned_devices()
    with pytest.raises(upkeep.PoolCorrupted, match="rp-a, rp-b"):
        book.populate_rp_uuids(gpus_)


# -- claims with providers -------------------------------------------------------------------


@pytest.mark.parametrize("nvfs", [1, 2, 3])
def test_a_vf_claimed_with_providers_gives_novas_device_and_drops_its_pf(nova_oracle: Any,
                                                                         nvfs: int) -> None:
    sc = scenario(pf_with_vfs(0x81, ONE_PF, 0, nvfs), cells_of([0]), [{"vendor_id": "8086"}],
                  [req(1, {"dev_type": "type-VF"}, rp_uuids=("rp-1",))],
                  rps={0: "rp-0", 1: "rp-1"})
    ours, compute, _ = build_both(nova_oracle, sc, compare=False)
    mine = our_consume(ours, sc["requests"], None)
    theirs = nova_consume(compute, nova_requests_with_rps(sc["requests"]), None)
    assert mine == theirs and mine[0] == "ok"
    assert mine[1] == [f"0000:81:02.{nvfs - 1}"]  # Nova pops the last VF of the pool
    assert our_pools(ours, True) == nova_pools(compute, True)
    assert "0000:81:00.0" not in [d.address for p in ours.pools for d in p.devices]


TWO_NICS = pf_with_vfs(0x81, ONE_PF, 0, 2) + pf_with_vfs(0x82, ONE_PF, 1, 2)
#: (devices, specs, request, pools given the same provider, whether the claim refuses too).
#: Pools in build order: one per GPU; or PF 81, its VFs, PF 82, its VFs.
SHARED = [
    (gpus([0, 0, 1]), [{"vendor_id": "10de"}], req(1, {"vendor_id": "10de"}, rp_uuids=("rp",)),
     {0: "rp", 1: "rp"}, True),
    (TWO_NICS, [{"vendor_id": "8086"}], req(2, {"dev_type": "type-VF"}, rp_uuids=("rp", "rp")),
     {1: "rp", 3: "rp"}, True),
    (TWO_NICS, [{"vendor_id": "8086"}], req(1, {"dev_type": "type-VF"}, rp_uuids=("rp",)),
     {1: "rp", 3: "rp"}, True),
    # a PF's pool and the other NIC's VF pool: the scheduler (every pool) refuses, the claim
    # (the pools left for the VF request) does not
    (TWO_NICS, [{"vendor_id": "8086"}], req(1, {"dev_type": "type-VF"}, rp_uuids=("rp",)),
     {0: "rp", 3: "rp"}, False),
]


@pytest.mark.parametrize("case", range(len(SHARED)))
def test_pools_sharing_the_named_provider_are_refused(nova_oracle: Any, case: int) -> None:
    devices, specs, request, rps, claim_refuses = SHARED[case]
    sc = scenario(devices, cells_of([0, 1]), specs, [request], rps=rps)
    ours, compute, _ = build_both(nova_oracle, sc, compare=False)
    shared = [p for p in ours.pools if p.key.get("rp_uuid") == "rp"]
    assert len(shared) == 2
    theirs_support = compute.support_requests(nova_requests_with_rps([request]), None, None)
    supported = ours.support([request])
    assert supported.ok == theirs_support is False
    assert supported.drops[-1].stage == pools.SPLIT_RP.name
    consumed = ours.copy().consume([request])
    assert not consumed.crashed and consumed.ok is not claim_refuses
    if claim_refuses:
        assert consumed.drops[-1].stage == pools.SPLIT_RP.name
    assert our_consume(ours, [request], None) == nova_consume(
        compute, nova_requests_with_rps([request]), None)
    assert our_pools(ours, True) == nova_pools(compute, True)


# -- the allocation mapping --------------------------------------------------------------------

IDS = [str(uuid.UUID(int=i * 0x1111)) for i in range(1, 4)]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=st.data())
def test_the_allocation_mapping_gives_novas_providers(nova_oracle: Any,
                                                      data: st.DataObject) -> None:
    from nova import objects
    from nova.pci import stats

    objects.register_all()
    request_id = data.draw(st.sampled_from(IDS))
    alias = data.draw(st.sampled_from(["a", "a", None]))
    specs: dict[str, str] = {"vendor_id": "8086"}
    if data.draw(st.booleans()):
        specs["rp_uuids"] = ",".join(data.draw(st.lists(st.sampled_from(["r1", "r2"]),
                                                        min_size=1, max_size=3)))
    mapping: dict[str, list[str]] | None = None
    if data.draw(st.booleans()):
        mapping = {f"{data.draw(st.sampled_from(IDS))}-{i}":
                   data.draw(st.lists(st.sampled_from(["r1", "r2", "r3"]), min_size=1, max_size=2))
                   for i in range(data.draw(st.integers(0, 4)))}
    ours = with_allocation(pools.Request(1, (specs,), alias, request_id=request_id), mapping)
    theirs = stats.PciDeviceStats(None)._get_rp_uuids_for_request(
        mapping, objects.InstancePCIRequest(count=1, spec=[dict(specs)], alias_name=alias,
                                            request_id=request_id))
    assert list(ours.rp_uuids) == theirs
    if alias is None:
        HITS["a port request gets no provider"] += 1
    elif mapping:
        HITS["providers from the scheduler's mapping"] += bool(theirs)
    else:
        HITS["providers stored in the request's spec"] += bool(theirs)


def test_every_behaviour_is_reached(nova_oracle: Any) -> None:
    """Runs after the generated tests (same module, fixed seeds)."""
    if not HITS:
        test_devices_merge_into_pools_whatever_their_provider(nova_oracle)
        test_the_allocation_mapping_gives_novas_providers(nova_oracle)
    wanted = ["a device merged into a pool that has a provider",
              "Placement tags of the spec left out of the keys", "a port request gets no provider",
              "providers from the scheduler's mapping", "providers stored in the request's spec"]
    short = {k: HITS[k] for k in wanted if HITS[k] < MIN_HITS}
    assert not short, f"reached fewer than {MIN_HITS} times: {short} (all: {dict(HITS)})"
