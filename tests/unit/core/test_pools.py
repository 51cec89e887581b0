"""core.pools: pool keys, the filter pipeline and its drop records, support/consume, can_fit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pcipass.core import model, pools, spec

PF = "0000:81:00.0"


def nic(vfs: int = 2, node: int | None = 0, pf: str = PF, vf_product: str = "154c",
        netdevs: bool = False) -> list[model.Device]:
    bus = pf.split(":")[1]
    out = [model.Device(pf, "8086", "1572", dev_type=model.TYPE_PF, numa_node=node,
                        sriov_totalvfs=vfs, sriov_vf_device=vf_product,
                        netdevs=("ens1f0",) if netdevs else ())]
    out += [model.Device(f"0000:{bus}:02.{i}", "8086", vf_product, dev_type=model.TYPE_VF,
                         parent_addr=pf, numa_node=node, netdevs=(f"ens1f0v{i}",) if netdevs else ())
            for i in range(vfs)]
    return out


def stats_for(devices: list[model.Device], *entries: dict[str, Any],
              sockets: dict[int, int | None] | None = None) -> pools.PciStats:
    parsed = spec.parse_device_spec_values([json.dumps(list(entries) or [{}])],
                                           model.HostFacts.from_devices(devices))
    assert parsed.valid, parsed.problems
    return pools.build(devices, parsed.specs, sockets)


def req(count: int = 1, policy: str | None = None, alias: str | None = "a", **wanted: str,
        ) -> pools.Request:
    return pools.Request(count, (wanted,), alias, policy, "r", f"alias '{alias}'")


def test_pool_key_has_tags_pf_address_and_remote_managed_default() -> None:
    stats = stats_for(nic(), {"vendor_id": "8086", "physical_network": "physnet1",
                              "resource_class": "CUSTOM_X", "traits": "A"})
    vf_pool = stats.pools[1]
    assert vf_pool.key == {"product_id": "154c", "vendor_id": "8086", "numa_node": 0,
                           "dev_type": model.TYPE_VF, "physical_network": "physnet1",
                           "address": PF, "remote_managed": "false"}
    assert vf_pool.count == 2
    assert [d.address for d in vf_pool.devices] == ["0000:81:02.0", "0000:81:02.1"]


def test_parent_ifname_joins_the_key_only_when_vf_and_pf_have_netdevs() -> None:
    stats = stats_for(nic(netdevs=True))
    assert stats.pools[-1].key["parent_ifname"] == "ens1f0"
    assert "parent_ifname" not in stats_for(nic()).pools[-1].key


def test_pools_are_sorted_by_key_count_and_typo_tags_split_pools() -> None:
    devices = [*nic(), *nic(pf="0000:82:00.0")]
    stats = stats_for(devices, {"address": "0000:82:*.*", "physical_netwrok": "p"}, {})
    assert [len(p.key) for p in stats.pools] == sorted(len(p.key) for p in stats.pools)
    assert stats.pools[-1].key["physical_netwrok"] == "p"


def test_unmatched_devices_are_not_pooled() -> None:
    stats = stats_for(nic(), {"product_id": "154c", "vendor_id": "8086"})
    assert stats.free == 2 and all(p.key["dev_type"] == model.TYPE_VF for p in stats.pools)


def test_spec_match_is_case_insensitive_and_absent_key_is_a_mismatch() -> None:
    stats = stats_for(nic(), {"physical_network": "PhysNet1"})
    assert stats.support([req(physical_network="physnet1")]).ok
    missing = stats.support([req(trusted="true")])
    assert not missing.ok
    assert [(d.stage, d.dropped, d.failed) for d in missing.drops] == [("spec", 3, True)]


def test_unrequested_pf_stage_records_the_dropped_pf() -> None:
    stats = stats_for(nic(vfs=0, vf_product="1572"))
    out = stats.support([req(vendor_id="8086")])
    assert not out.ok
    drop = out.drops[-1]
    assert (drop.stage, drop.dropped, drop.failed) == ("unrequested_pf", 1, True)
    assert drop.pools[0].describe() == "1 PF 8086:1572 on NUMA node 0"
    assert stats.support([req(dev_type=model.TYPE_PF)]).ok


def test_remote_managed_pools_only_for_remote_managed_requests() -> None:
    devices = [dataclasses_replace(d, card_serial_number="MT1") for d in nic()]
    stats = stats_for(devices, {"product_id": "154c", "vendor_id": "8086", "remote_managed": "true"})
    assert not stats.support([req(dev_type=model.TYPE_VF)]).ok
    assert stats.support([req(dev_type=model.TYPE_VF, remote_managed="True")]).ok


def dataclasses_replace(device: model.Device, **changes: Any) -> model.Device:
    import dataclasses

    return dataclasses.replace(device, **changes)


def test_live_migratable_filter_needs_every_spec_to_agree() -> None:
    stats = stats_for(nic(), {"vendor_id": "8086", "live_migratable": "no"})
    assert not stats.support([req(live_migratable="true")]).ok
    assert stats.support([req(live_migratable="false")]).ok


@pytest.mark.parametrize(("policy", "device_node", "expected"), [
    ("required", 0, True), ("required", 1, False), ("required", None, False),
    ("legacy", None, True), ("legacy", 1, False), (None, 1, False),
    ("preferred", 1, True), ("preferred", None, True),
    ("socket", 1, True), ("socket", 2, False), ("socket", None, False),
])
def test_numa_policies(policy: str | None, device_node: int | None, expected: bool) -> None:
    stats = stats_for(nic(node=device_node), sockets={0: 0, 1: 0, 2: 1})
    out = stats.support([req(dev_type=model.TYPE_VF, policy=policy)], [0])
    assert out.ok is expected
    if not expected:
        assert out.drops[-1].stage == "numa" and out.drops[-1].failed


def test_socket_policy_without_socket_info_accepts_nothing_off_node() -> None:
    stats = stats_for(nic(node=1), sockets={0: 0, 1: None})
    out = stats.support([req(dev_type=model.TYPE_VF, policy="socket")], [0])
    assert not out.ok
    assert "no CPU socket for NUMA node(s) 1" in out.drops[-1].detail


def test_no_instance_cells_means_no_numa_filtering() -> None:
    stats = stats_for(nic(node=1))
    assert stats.support([req(dev_type=model.TYPE_VF, policy="required")], None).ok


def test_zero_count_request_fails_when_no_pool_is_left() -> None:
    stats = stats_for(nic())
    out = stats.support([req(0, vendor_id="dead")])
    assert not out.ok and out.drops[-1].stage == "no_pool"
    assert stats.support([req(0, vendor_id="8086")]).ok


def test_consume_pops_from_the_end_and_drops_the_parent_pf() -> None:
    stats = stats_for(nic(vfs=3))
    out = stats.consume([req(2, dev_type=model.TYPE_VF)])
    assert [d.address for _, d in out.devices] == ["0000:81:02.2", "0000:81:02.1"]
    assert stats.free == 1  # the PF left with the first VF
    assert [p.key["dev_type"] for p in stats.pools] == [model.TYPE_VF]


def test_support_ignores_the_pf_vf_dependency_but_can_fit_does_not() -> None:
    stats = stats_for(nic(vfs=1))
    both = [req(1, alias="pf", dev_type=model.TYPE_PF), req(1, alias="vf", dev_type=model.TYPE_VF)]
    assert stats.support(both).ok
    refused = stats.can_fit(both)
    assert not refused.ok and refused.failed_request == 1
    assert stats.free == 2  # neither check consumed anything


def test_vf_then_pf_fits_on_a_two_pf_host() -> None:
    stats = stats_for([*nic(vfs=1), *nic(vfs=1, pf="0000:82:00.0")])
    order = [req(1, alias="vf", dev_type=model.TYPE_VF), req(1, alias="pf", dev_type=model.TYPE_PF)]
    out = stats.can_fit(order)
    assert out.ok
    assert [d.address for _, d in out.devices] == ["0000:81:02.0", "0000:82:00.0"]


def test_failed_consume_gives_back_earlier_devices() -> None:
    stats = stats_for(nic(vfs=2))
    out = stats.consume([req(1, dev_type=model.TYPE_VF), req(5, dev_type=model.TYPE_VF)])
    assert not out.ok and out.failed_request == 1
    assert sorted(d.address for d in stats.free_devices()) == ["0000:81:02.0", "0000:81:02.1"]


def test_scheduler_view_coerces_tags_to_strings() -> None:
    stats = stats_for(nic(), {"vendor_id": "8086", "trusted": True})
    assert stats.pools[-1].key["trusted"] is True
    view = stats.scheduler_view()
    assert view.pools[-1].key["trusted"] == "True" and view.pools[-1].devices == []
    wanted = [req(dev_type=model.TYPE_VF, trusted="true")]
    assert view.support(wanted).ok and not stats.support(wanted).ok


def test_free_per_node_counts_unknown_under_none() -> None:
    stats = stats_for([*nic(node=None), *nic(node=1, pf="0000:82:00.0")])
    assert stats.free_per_node() == {None: 3, 1: 3}


def test_as_request_takes_flavor_requests() -> None:
    from pcipass.core import requests

    flavor = requests.PciRequest("nic", 2, "required", [{"vendor_id": "8086"}], 3)
    out = pools.as_request(flavor)
    assert (out.alias_name, out.count, out.numa_policy, out.label) == ("nic", 2, "required",
                                                                         "alias 'nic'")
    assert out.specs == ({"vendor_id": "8086"},) and not out.is_port


def _one_by_one(devices: list[model.Device], specs: list[spec.SpecEntry]) -> pools.PciStats:
    """Nova's add_device loop, device by device (what build's index must reproduce)."""
    stats = pools.PciStats()
    ifnames = pools.parent_ifnames(devices)
    for dev in devices:
        entry = spec.first_match(specs, dev)
        if entry is not None:
            stats.add(pools.PooledDevice(dev, pools.pool_key(dev, entry.spec.tags,
                                                             ifnames.get(dev.address)), entry.index))
    return stats


@pytest.mark.parametrize("tags", [
    {"physical_network": "p1"},
    {"trusted": True, "n": 1},                  # True == 1: one pool, as Nova's == says
    {"weights": [1, 2], "meta": {"a": [3]}},    # unhashable values
    {"ratio": float("nan")},                    # NaN equals nothing: one pool per device
])
def test_build_groups_devices_exactly_as_adding_them_one_by_one(tags: dict[str, Any]) -> None:
    devices = [*nic(3, node=0), *nic(3, node=1, pf="0000:82:00.0", vf_product="1889")]
    entries = [{"address": "0000:82:*.*", **tags}, {"vendor_id": "8086", **tags}, {}]
    parsed = spec.parse_device_spec_values([json.dumps(entries)], model.HostFacts.from_devices(devices))
    built, reference = pools.build(devices, parsed.specs), _one_by_one(devices, list(parsed.specs))
    got = [(p.key, p.count, [d.address for d in p.devices]) for p in built.pools]
    want = [(p.key, p.count, [d.address for d in p.devices]) for p in reference.pools]
    assert repr(got) == repr(want)  # repr: NaN keys compare unequal even to themselves
    if "ratio" in tags:
        assert all(p.count == 1 for p in built.pools)
    else:
        assert len(built.pools) == 4  # 2 PFs x (PF pool, VF pool)
