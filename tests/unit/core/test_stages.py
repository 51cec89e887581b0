"""The pool filter's stages are declared once: name, count check, filter, explanation, layer."""

from __future__ import annotations

from pcipass.core import model, pools
from pcipass.core.layers import Layer


def test_the_pipeline_is_novas_order() -> None:
    assert [s.name for s in pools.PIPELINE] == [
        "spec", "numa", "unrequested_pf", "unrequested_vdpa", "unrequested_remote_managed",
        "placement", "live_migratable"]
    # Nova checks the count after these stages only
    assert [s.name for s in pools.PIPELINE if s.counted] == ["spec", "numa", "unrequested_pf", "live_migratable"]
    # and two refusals that are not filters: no pool left, a provider split across pools
    assert set(pools.STAGES) == {s.name for s in pools.PIPELINE} | {"no_pool", "split_rp"}


def test_every_stage_filters_and_explains() -> None:
    for stage in pools.PIPELINE:
        assert (stage.rule is None) != (stage.select is None), stage.name
        assert stage.why
    assert {s.name: s.layer for s in pools.PIPELINE if s.layer} == {"numa": Layer.NUMA,
                                                                     "placement": Layer.PLACEMENT}


def test_a_drop_names_its_stage_and_the_stage_explains_it() -> None:
    pf = model.Device("0000:5e:00.0", "8086", "1572", dev_type=model.TYPE_PF, numa_node=0)
    stats = pools.PciStats([pools.Pool(pools.pool_key(pf, {}), 1)])
    port = pools.Request(1, ({"vendor_id": "8086"},), label="port 1")
    flavor = pools.Request(1, ({"vendor_id": "8086"},), alias_name="nic", label="alias 'nic'")
    [drop] = stats.support([port]).drops
    assert drop.stage == "unrequested_pf" and pools.STAGES[drop.stage] is pools.UNREQUESTED_PF
    assert drop.why == "they are PFs which we have not requested"
    assert pools.STAGES[drop.stage].explanation(drop, port, drop.pools[0]) == (
        "Nova hands out a PF only to a request that names it (vnic_type direct-physical)")
    assert pools.STAGES[drop.stage].explanation(drop, flavor, drop.pools[0]).endswith(
        "(an alias with device_type type-PF)")


def test_accepts_is_the_pool_level_stages() -> None:
    vf = model.Device("0000:5e:10.0", "8086", "10ed", dev_type=model.TYPE_VF, parent_addr="0000:5e:00.0")
    key = pools.pool_key(vf, {"physical_network": "physnet2", "remote_managed": "true"})
    assert not pools.accepts(key, pools.Request(1, ({"physical_network": "PHYSNET2"},)))
    assert pools.accepts(key, pools.Request(1, ({"physical_network": "PHYSNET2", "remote_managed": "True"},)))
    # Placement's keys are not the pools' business
    assert pools.spec_matches(key, {"resource_class": "CUSTOM_X", "traits": "T", "dev_type": "TYPE-VF"})


def test_the_policies_that_exclude_unknown_nodes_are_filter_numas() -> None:
    unknown = pools.Pool({"numa_node": None}, 4)
    for policy in (pools.REQUIRED, pools.LEGACY, pools.PREFERRED, pools.SOCKET):
        for count in (1, 4):
            kept, _ = pools.filter_numa([pools.Pool({"numa_node": 1}, 0), unknown],
                                        pools.Request(count, (), numa_policy=policy), [0], {0: 0, 1: 0})
            assert (unknown in kept) is (policy not in pools.UNKNOWN_NODE_EXCLUDED), (policy, count)
