"""core.schedule: host verdicts and reasons, --port requests, PCIWeigher ranking, FleetIndex."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import model, numa, pools, requests, schedule, spec

CELLS = (numa.HostCell(0, frozenset(range(8)), frozenset(range(8)), 16384, 0),
         numa.HostCell(1, frozenset(range(8, 16)), frozenset(range(8, 16)), 16384, 1))
NIC = {"vendor_id": "8086", "product_id": "154c"}


def host(nodes: tuple[int | None, ...] = (0, 1), vfs: int = 4, vf_product: str = "154c",
         ) -> list[model.Device]:
    out = []
    for i, node in enumerate(nodes):
        pf = f"0000:{0x81 + i:02x}:00.0"
        out.append(model.Device(pf, "8086", "1572", dev_type=model.TYPE_PF, numa_node=node,
                                sriov_totalvfs=vfs, sriov_vf_device=vf_product))
        out += [model.Device(f"0000:{0x81 + i:02x}:02.{j}", "8086", vf_product,
                             dev_type=model.TYPE_VF, parent_addr=pf, numa_node=node)
                for j in range(vfs)]
    return out


def specs_for(devices: list[model.Device], *entries: dict[str, Any]) -> list[spec.SpecEntry]:
    parsed = spec.parse_device_spec_values([json.dumps(list(entries))],
                                           model.HostFacts.from_devices(devices))
    assert parsed.valid
    return parsed.specs


def alias_request(count: int, policy: str | None = None, name: str = "intel-nic",
                  **wanted: str) -> requests.PciRequest:
    return requests.PciRequest(name, count, policy, [dict(NIC, **wanted)])


ONE_NODE = numa.InstanceShape(4, 4096, numa_nodes=1)


def test_fitting_host_names_devices_alias_and_numa_node() -> None:
    devices = host()
    verdict = schedule.evaluate_host(devices, specs_for(devices, NIC), [alias_request(2, "required")],
                                     CELLS, ONE_NODE, name="c1")
    assert verdict.fits and verdict.nova_fits and verdict.claim_ok
    assert verdict.instance_numa_nodes == (0,)
    assert [(d.address, d.numa_node, d.alias_name) for d in verdict.devices] == [
        ("0000:81:02.3", 0, "intel-nic"), ("0000:81:02.2", 0, "intel-nic")]
    assert verdict.one_numa_node and verdict.reasons == () and verdict.free == 8
    assert verdict.devices[0] == schedule.ChosenDevice("0000:81:02.3", "type-VF", 0, "intel-nic")


def test_required_policy_reason_names_the_dropped_vfs_and_the_instance_node() -> None:
    devices = host()
    verdict = schedule.evaluate_host(devices, specs_for(devices, NIC), [alias_request(6, "required")],
                                     CELLS, ONE_NODE)
    assert not verdict.fits
    messages = [r.message for r in verdict.reasons if r.dropped]
    assert ("with the instance on NUMA node(s) 0: 4 VFs 8086:154c on NUMA node 1 (PF 0000:82:00.0) "
            "dropped: the instance is on NUMA node(s) 0 and policy is required") in messages
    assert {r.layer for r in verdict.reasons} == {"numa"}
    assert all(r.dropped == 4 for r in verdict.reasons if r.dropped)


def test_no_numa_topology_means_policy_does_not_matter() -> None:
    devices = host()
    verdict = schedule.evaluate_host(devices, specs_for(devices, NIC), [alias_request(6, "required")],
                                     CELLS, numa.InstanceShape(4, 4096))
    assert verdict.fits and verdict.instance_numa_nodes is None and not verdict.one_numa_node


def test_near_miss_says_what_the_alias_wants_and_what_the_host_has() -> None:
    devices = host(vf_product="10ed")
    verdict = schedule.evaluate_host(devices, specs_for(devices, {"vendor_id": "8086"}),
                                     [alias_request(1)], CELLS)
    (reason,) = verdict.reasons
    assert reason.layer == "flavor"
    assert reason.message.startswith("alias 'intel-nic' matches no device: its spec wants "
                                     "8086:154c, this host has ")
    assert "VFs 8086:10ed" in reason.message
    assert any(e.source == "pool" for e in reason.evidence)


def test_devices_no_device_spec_allows_are_a_device_spec_reason() -> None:
    devices = host()
    verdict = schedule.evaluate_host(devices, specs_for(devices, {"vendor_id": "10de"}),
                                     [alias_request(1)], CELLS)
    layers = {r.layer: r for r in verdict.reasons}
    assert "no assignable device" in layers["device_spec"].message or any(
        "no [pci] device_spec entry allows them" in r.message for r in verdict.reasons)
    unlisted = [r for r in verdict.reasons if "allows them" in r.message]
    assert unlisted and unlisted[0].dropped == 8  # the VFs; PFs are never given to this alias


def test_pf_and_vf_of_the_only_pf_nova_says_yes_we_say_no() -> None:
    devices = host(nodes=(0,), vfs=2)
    specs = specs_for(devices, {"vendor_id": "8086"})
    both = [requests.PciRequest("pf", 1, None, [{"dev_type": "type-PF"}]),
            requests.PciRequest("vf", 1, None, [{"dev_type": "type-VF"}])]
    ours = schedule.evaluate_host(devices, specs, both, CELLS)
    assert (ours.fits, ours.nova_fits, ours.claim_ok) == (False, True, False)
    assert ours.reasons[0].layer == "scheduler" and "reschedules" in ours.reasons[0].message
    assert "taking PF 0000:81:00.0 also takes its VFs out of the pools" in ours.reasons[1].message
    nova = schedule.evaluate_host(devices, specs, both, CELLS, nova_compatible=True)
    assert nova.fits and nova.devices == ()


def test_earlier_request_taking_the_devices_is_explained() -> None:
    devices = host(nodes=(0,), vfs=2)
    reqs = [alias_request(2, name="a"), alias_request(1, name="b")]
    verdict = schedule.evaluate_host(devices, specs_for(devices, NIC), reqs, CELLS)
    assert not verdict.fits and not verdict.nova_fits
    assert "alias 'b' alone would fit, but the earlier request(s) alias 'a'" in \
        verdict.reasons[0].message


def test_unrequested_pf_reason_for_a_port() -> None:
    devices = host(nodes=(0,), vfs=0)
    specs = specs_for(devices, {"vendor_id": "8086", "physical_network": "physnet1"})
    port = schedule.parse_port("vnic_type=direct,physnet=physnet1")
    verdict = schedule.evaluate_host(devices, specs, [port], CELLS)
    assert [r.layer for r in verdict.reasons] == ["neutron", "neutron"]
    assert "vnic_type direct-physical" in verdict.reasons[0].message
    physical = schedule.parse_port("vnic_type=direct-physical,physnet=PHYSNET1")
    assert schedule.evaluate_host(devices, specs, [physical], CELLS).fits


def test_cpu_and_memory_misses_are_numa_reasons() -> None:
    devices = host()
    verdict = schedule.evaluate_host(devices, specs_for(devices, NIC), [alias_request(1)], CELLS,
                                     numa.InstanceShape(12, 4096, cpu_policy="dedicated"))
    assert [r.message for r in verdict.reasons] == [
        "guest cell 0 needs 12 dedicated CPUs but host NUMA node 0 has 8",
        "guest cell 0 needs 12 dedicated CPUs but host NUMA node 1 has 8"]


def test_instance_numa_nodes_pin_and_unknown_node() -> None:
    devices = host()
    specs = specs_for(devices, NIC)
    pinned = schedule.evaluate_host(devices, specs, [alias_request(2, "required")], CELLS, ONE_NODE,
                                    instance_numa_nodes=[1])
    assert pinned.instance_numa_nodes == (1,) and {d.numa_node for d in pinned.devices} == {1}
    absent = schedule.evaluate_host(devices, specs, [alias_request(2)], CELLS, ONE_NODE,
                                    instance_numa_nodes=[5])
    (reason,) = absent.reasons
    assert isinstance(reason, schedule.PinnedNodesUnknown)
    assert (reason.message, reason.unknown, reason.host_nodes) == (
        "the instance is pinned to NUMA node(s) 5; this host has NUMA node(s) 0,1", (5,), "0,1")
    with pytest.raises(numa.InstanceNumaNodesMismatch):
        schedule.evaluate_host(devices, specs, [], CELLS, ONE_NODE, instance_numa_nodes=[0, 1])


def test_host_without_numa_topology_cannot_take_a_numa_instance() -> None:
    devices = host()
    verdict = schedule.evaluate_host(devices, specs_for(devices, NIC), [alias_request(1)], (),
                                     ONE_NODE)
    assert verdict.reasons[0].message == ("the instance needs 1 NUMA node(s); this host reports "
                                          "no NUMA topology")


# -- ports ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "wanted"), [
    ("vnic_type=direct,physnet=physnet1",
     {"physical_network": "physnet1", "remote_managed": "False"}),
    ("vnic_type=direct-physical,physnet=p", {"physical_network": "p", "remote_managed": "False",
                                             "dev_type": "type-PF"}),
    ("vnic_type=remote-managed,physnet=p,trusted=yes",
     {"physical_network": "p", "remote_managed": "True", "trusted": "True"}),
    ("vnic_type=macvtap", {"physical_network": None, "remote_managed": "False"}),
])
def test_parse_port_builds_novas_spec(text: str, wanted: dict[str, str | None]) -> None:
    port = schedule.parse_port(text)
    assert port.specs == (wanted,) and port.count == 1 and port.alias_name is None and port.is_port


def test_port_policy_wins_over_the_flavor_policy() -> None:
    assert schedule.parse_port("vnic_type=direct,physnet=p", 0, "legacy").numa_policy == "legacy"
    port = schedule.parse_port("vnic_type=direct,physnet=p,numa_policy=required", 0, "legacy")
    assert port.numa_policy == "required"


@pytest.mark.parametrize(("text", "reason"), [
    ("physnet=p", "vnic_type is missing"),
    ("vnic_type=normal", "vnic_type 'normal': it needs no PCI device"),
    ("vnic_type=direkt", "unknown vnic_type"),
    ("vnic_type=direct,phynet=p", "unknown key 'phynet'"),
    ("vnic_type=direct,trusted=maybe", "trusted: Unrecognized value 'maybe'"),
    ("vnic_type=direct,numa_policy=strict", "numa_policy 'strict' is not a policy"),
    ("vnic_type=direct,vnic_type=macvtap", "vnic_type given twice"),
    ("vnic_type", "'vnic_type' is not key=value"),
])
def test_parse_port_refuses_with_a_precise_error(text: str, reason: str) -> None:
    with pytest.raises(schedule.InvalidPortRequest) as exc:
        schedule.parse_port(text)
    assert reason in exc.value.message and exc.value.code == "InvalidPortRequest"


def test_unknown_port_key_gets_a_suggestion() -> None:
    with pytest.raises(schedule.InvalidPortRequest) as exc:
        schedule.parse_port("vnic_type=direct,phynet=p")
    assert exc.value.hint == "did you mean 'physnet'?"


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.text(max_size=40))
def test_parse_port_never_crashes(text: str) -> None:
    """Any text is a port request of one device, or an InvalidPortRequest quoting it."""
    try:
        got = schedule.parse_port(text)
    except schedule.InvalidPortRequest as exc:
        assert exc.code == "InvalidPortRequest"
        assert exc.message.startswith(f"Invalid port request {text!r}: ")
        return
    assert got.is_port and got.count == 1 and len(got.specs) == 1
    (entry,) = got.specs
    assert entry["remote_managed"] in ("True", "False") and "physical_network" in entry


def test_build_requests_puts_flavor_requests_before_ports() -> None:
    out = schedule.build_requests([alias_request(1)], ["vnic_type=direct,physnet=p"], "socket")
    assert [r.label for r in out] == ["alias 'intel-nic'", "port 1 (direct, physnet p)"]
    assert out[1].numa_policy == "socket"


# -- ranking ----------------------------------------------------------------------------------


def verdict(name: str, free: int, fits: bool = True, node: int | None = 0) -> schedule.HostVerdict:
    devices = (schedule.ChosenDevice("0000:81:02.0", "type-VF", node, "a"),)
    return schedule.HostVerdict(name, fits, fits, fits, devices, (0,), (), free)


def test_pci_weigher_prefers_fewer_free_devices_and_normalizes() -> None:
    ranking = schedule.rank_hosts([verdict("b", 10), verdict("a", 150), verdict("c", 4),
                                   verdict("x", 1, fits=False)], multiplier=2.0)
    assert ranking.chosen == "c"
    assert [(v.name, round(v.weight, 4)) for v in ranking.hosts] == [
        ("c", 2.0), ("b", round(2 * (90 - 1) / (96 - 1), 4)), ("a", 0.0), ("x", 0.0)]


def test_ties_prefer_one_numa_node_then_name() -> None:
    ranking = schedule.rank_hosts([verdict("b", 5), verdict("a", 5), verdict("0", 5, node=1),
                                   dataclasses.replace(verdict("1", 5), instance_numa_nodes=(0, 1))])
    assert [v.name for v in ranking.hosts] == ["a", "b", "0", "1"]
    assert all(v.weight == 0.0 for v in ranking.hosts)


def test_single_fitting_host_is_not_weighed_and_none_fit_means_no_choice() -> None:
    assert schedule.rank_hosts([verdict("a", 3)]).hosts[0].weight == 0.0
    assert schedule.rank_hosts([verdict("a", 3, fits=False)]).chosen is None
    assert schedule.normalize([]) == [] and schedule.normalize([2, 2]) == [0.0, 0.0]


def test_per_host_multiplier() -> None:
    ranking = schedule.rank_hosts([verdict("a", 5), verdict("b", 10), verdict("c", 50)], {"a": 0.5})
    assert ranking.chosen == "b"
    assert [round(v.weight, 3) for v in ranking.hosts] == [0.889, 0.5, 0.0]


# -- fleets -----------------------------------------------------------------------------------


@st.composite
def fleets(draw: st.DrawFn) -> list[schedule.HostInput]:
    out = []
    profiles = []
    for _ in range(draw(st.integers(1, 4))):
        nodes = tuple(draw(st.lists(st.sampled_from([0, 1, None]), min_size=1, max_size=2)))
        devices = host(nodes, draw(st.integers(0, 5)), draw(st.sampled_from(["154c", "10ed"])))
        tagged = draw(st.sampled_from([{}, {"physical_network": "physnet1"}, {"trusted": True},
                                       {"trusted": "True"}]))
        profiles.append((tuple(devices), tuple(specs_for(devices, dict({"vendor_id": "8086"},
                                                                       **tagged)))))
    for i in range(draw(st.integers(1, 12))):
        devices, specs = draw(st.sampled_from(profiles))
        sockets = draw(st.sampled_from([(0, 1), (0, 0), (0, None)]))
        cells = tuple(dataclasses.replace(c, socket=s) for c, s in zip(CELLS, sockets))
        out.append(schedule.HostInput(f"h{i:02d}", devices, specs, cells))
    return out


REQ_CHOICES = [
    [alias_request(1)], [alias_request(3)], [alias_request(2, trusted="true")],
    [requests.PciRequest("pf", 1, None, [{"dev_type": "type-PF"}]),
     requests.PciRequest("vf", 1, None, [{"dev_type": "type-VF"}])],
    [schedule.parse_port("vnic_type=direct,physnet=physnet1")],
    [requests.PciRequest("any", 2, None, [{"vendor_id": "8086"}])],
]


@settings(max_examples=120, deadline=None, derandomize=True)
@given(fleet=fleets(), reqs=st.sampled_from(REQ_CHOICES),
       policy=st.sampled_from([None, "required", "preferred", "socket", "legacy"]),
       shape=st.sampled_from([None, ONE_NODE, numa.InstanceShape(2, 1024, numa_nodes=2)]),
       improved=st.booleans())
def test_fleet_index_answers_like_evaluating_every_host(
        fleet: list[schedule.HostInput], reqs: list[Any], policy: str | None,
        shape: numa.InstanceShape | None, improved: bool) -> None:
    index = schedule.FleetIndex.build(fleet)
    answer = index.query(reqs, shape, policy=policy, improved=improved)
    normalized = [dataclasses.replace(pools.as_request(r, i), numa_policy=policy or r.numa_policy)
                  if policy else pools.as_request(r, i) for i, r in enumerate(reqs)]
    expected = tuple(h.name for h in fleet if schedule.evaluate_host(
        h.devices, h.specs, normalized, h.cells, shape, nova_compatible=not improved).fits)
    assert answer.fits == expected
    assert answer.evaluated <= len(fleet) * 2
    assert index.free == [schedule.evaluate_host(h.devices, h.specs, [], h.cells).free for h in fleet]


def test_fleet_index_evaluates_each_shape_once() -> None:
    devices = tuple(host())
    specs = tuple(specs_for(list(devices), NIC))
    fleet = [schedule.HostInput(f"h{i}", devices, specs, CELLS) for i in range(50)]
    answer = schedule.FleetIndex.build(fleet).query([alias_request(2)], ONE_NODE, policy="required")
    assert len(answer.fits) == 50 and answer.evaluated == 1


def test_json_bool_tag_passes_the_scheduler_but_not_the_claim() -> None:
    """A ``"trusted": true`` (JSON bool) spec tag: the scheduler's pools say "True", the compute's True."""
    devices = tuple(host(nodes=(0,)))
    specs = tuple(specs_for(list(devices), dict(NIC, trusted=True)))
    fleet = [schedule.HostInput("h1", devices, specs, CELLS)]
    wanted = [alias_request(1, trusted="true")]
    verdict = schedule.evaluate_host(devices, specs, wanted, CELLS)
    assert (verdict.fits, verdict.nova_fits, verdict.claim_ok) == (False, True, False)
    index = schedule.FleetIndex.build(fleet)
    assert index.query(wanted, improved=False).fits == ("h1",)
    assert index.query(wanted, improved=True).fits == ()


def test_json_bool_tag_host_is_rechecked_beside_a_string_tag_host() -> None:
    """Both hosts' scheduler pools say "True"; only the string one's claim passes."""
    devices = tuple(host(nodes=(0,)))
    fleet = [schedule.HostInput(name, devices, tuple(specs_for(list(devices), dict(NIC, trusted=v))),
                                CELLS) for name, v in (("str", "True"), ("bool", True))]
    wanted = [alias_request(1, trusted="true")]
    index = schedule.FleetIndex.build(fleet)
    assert index.query(wanted, improved=False).fits == ("str", "bool")
    assert index.query(wanted).fits == ("str",)


def test_fleet_index_evaluates_identical_hosts_once() -> None:
    """Each host with its own device list and its own parsed specs, as a scanned fleet has them."""
    fleet = []
    for i in range(50):
        devices = [dataclasses.replace(d, driver="iavf", iommu_group=i) for d in host()]
        fleet.append(schedule.HostInput(f"h{i}", tuple(devices), tuple(specs_for(devices, NIC)),
                                        CELLS))
    index = schedule.FleetIndex.build(fleet)
    answer = index.query([alias_request(2)], ONE_NODE, policy="required")
    assert len(answer.fits) == 50 and answer.evaluated == 1
    verdicts = index.verdicts([alias_request(9)], ONE_NODE)
    assert [v.name for v in verdicts] == [h.name for h in fleet]
    assert all(dataclasses.replace(v, name="") == dataclasses.replace(verdicts[0], name="") for v in verdicts)
    assert not verdicts[0].fits and verdicts[0].reasons


OTHER_FIELDS = {f.name: f for f in dataclasses.fields(model.Device)
                if f.name not in schedule.fleetindex.DEVICE_FIELDS}


@st.composite
def perturbed(draw: st.DrawFn, devices: list[model.Device]) -> list[model.Device]:
    """The same devices with every field the index does not compare set to something else."""
    values: dict[str, Any] = {
        "subsystem_vendor_id": "1028", "subsystem_id": "1f99", "revision": "02", "name": "X710",
        "vf_index": 3, "driver": "vfio-pci", "driver_override": "vfio-pci", "iommu_group": 42,
        "sriov_totalvfs": 64, "sriov_numvfs": 8, "sriov_vf_device": "154c",
        "sriov_drivers_autoprobe": False, "local_cpulist": "0-7", "warnings": ("w",)}
    assert set(values) == set(OTHER_FIELDS)
    return [dataclasses.replace(d, **{k: v for k, v in values.items() if draw(st.booleans())})
            for d in devices]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.data(), reqs=st.sampled_from(REQ_CHOICES[:-1] + [[alias_request(9)]]),
       nodes=st.sampled_from([(0, 1), (1,), (None,)]))
def test_device_fields_the_index_ignores_change_no_verdict(data: st.DataObject, reqs: list[Any],
                                                           nodes: tuple[int | None, ...]) -> None:
    devices = host(nodes)
    changed = data.draw(perturbed(devices))
    specs = specs_for(devices, {"vendor_id": "8086", "physical_network": "physnet1"})
    for shape in (None, ONE_NODE):
        assert (schedule.evaluate_host(changed, specs, reqs, CELLS, shape)
                == schedule.evaluate_host(devices, specs, reqs, CELLS, shape))
