"""services.schedule.Fleet: the fleet index gives the report that evaluating host by host gives.

``pcipass schedule`` answers through :class:`schedule.FleetIndex` (``Fleet.verdicts``);
:func:`schedule_svc.evaluate` is the per-host path it replaced, kept as the reference and
for the doctor. Over generated fleets (rejected hosts, hosts whose nova-compute would not
start, NUMA policies, ports, pinned NUMA nodes), both must give the same JSON, the same
ranking and the same errors.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import errors, model, numa, requests, schedule, spec
from pcipass.services import schedule as schedule_svc
from pcipass.services.jsonview import to_json

CELLS = (numa.HostCell(0, frozenset(range(8)), frozenset(range(8)), 16384, 0),
         numa.HostCell(1, frozenset(range(8, 16)), frozenset(range(8, 16)), 16384, 1))
BROKEN = errors.Problem("PciConfigInvalidSpec", "Invalid [pci]device_spec config: x",
                        "/etc/nova/nova.conf", 3)


def devices(nodes: tuple[int | None, ...], vfs: int, product: str, used: int) -> list[model.Device]:
    """A fresh list per host, as a scan gives it: PFs and their free VFs (the first ``used`` taken)."""
    out = []
    for i, node in enumerate(nodes):
        pf = f"0000:{0x81 + i:02x}:00.0"
        out.append(model.Device(pf, "8086", "1572", dev_type=model.TYPE_PF, numa_node=node,
                                sriov_totalvfs=vfs, sriov_vf_device=product,
                                netdevs=(f"ens{i}f0",)))
        out += [model.Device(f"0000:{0x81 + i:02x}:02.{j}", "8086", product, dev_type=model.TYPE_VF,
                             parent_addr=pf, numa_node=node, netdevs=(f"ens{i}v{j}",))
                for j in range(used, vfs)]
    return out


SPECS = [
    {"vendor_id": "8086", "physical_network": "physnet1"},
    {"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet1", "trusted": True},
    {"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet1", "trusted": "True"},
    {"vendor_id": "8086", "product_id": "1572", "physical_network": "physnet1"},
]


@st.composite
def host_models(draw: st.DrawFn) -> list[schedule_svc.HostModel]:
    profiles = [(tuple(draw(st.lists(st.sampled_from([0, 1, None]), min_size=1, max_size=2))),
                 draw(st.integers(1, 4)), draw(st.sampled_from(["154c", "154c", "10ed"])),
                 draw(st.sampled_from(SPECS)))
                for _ in range(draw(st.integers(1, 4)))]
    out = []
    for i in range(draw(st.integers(1, 10))):
        nodes, vfs, product, wanted = draw(st.sampled_from(profiles))
        devs = devices(nodes, vfs, product, draw(st.sampled_from([0, 0, 1, 3])))
        parsed = spec.parse_device_spec_values([json.dumps(wanted)],
                                               model.HostFacts.from_devices(devs))
        sockets = draw(st.sampled_from([(0, 1), (0, 0), (0, None)]))
        cells = tuple(dataclasses.replace(c, socket=s) for c, s in zip(CELLS, sockets))
        cells = cells[:draw(st.sampled_from([0, 1, 2, 2, 2, 2]))]
        name = f"cmp-{draw(st.integers(0, 6))}"  # repeated names keep their input order
        usable = schedule.HostInput(name, tuple(devs), tuple(parsed.specs), cells)
        broken = BROKEN if draw(st.integers(0, 9)) == 0 else None
        out.append(schedule_svc.HostModel(name, None, usable, broken))  # type: ignore[arg-type]
    return out


def alias(count: int, policy: str | None, **wanted: str) -> requests.PciRequest:
    return requests.PciRequest("nic", count, policy, [dict({"vendor_id": "8086"}, **wanted)])


FLAVOR_REQUESTS = [
    [], [alias(1, None)], [alias(2, "required", product_id="154c")],
    [alias(3, "preferred", product_id="154c", dev_type="type-VF")],
    [alias(1, "socket", trusted="true")], [alias(1, "legacy", dev_type="type-PF")],
    [alias(1, None, dev_type="type-PF"), alias(1, None, dev_type="type-VF")],
    [alias(1, None, parent_ifname="ens0f0")],
]
PORTS = [(), ("vnic_type=direct,physnet=physnet1",),
         ("vnic_type=direct-physical,physnet=physnet1,numa_policy=required",),
         ("vnic_type=direct,physnet=physnet1", "vnic_type=macvtap,physnet=physnet2")]
SHAPES = [numa.InstanceShape(), numa.InstanceShape(4, 2048, numa_nodes=1),
          numa.InstanceShape(4, 2048, numa_nodes=2), numa.InstanceShape(12, 2048, numa_nodes=1),
          numa.InstanceShape(4, 2048, numa_nodes=2, cpu_policy="dedicated")]


def report(verdicts: list[schedule.HostVerdict], multiplier: float) -> dict[str, Any]:
    ranking = schedule.rank_hosts(verdicts, multiplier)
    flavor = schedule_svc.FlavorSchedule("f", None, [], None, ranking)
    return to_json(flavor)


def answers(fn: Any) -> Any:
    try:
        return fn()
    except errors.PcipassError as exc:
        return exc.to_problem()


@settings(max_examples=300, deadline=None)
@given(models=host_models(), flavor=st.sampled_from(FLAVOR_REQUESTS), ports=st.sampled_from(PORTS),
       shape=st.sampled_from(SHAPES), pinned=st.sampled_from([None, None, None, None, [0], [1], [3], [0, 1]]),
       multiplier=st.sampled_from([1.0, 2.0]))
def test_index_and_per_host_paths_give_the_same_report(
        models: list[schedule_svc.HostModel], flavor: list[Any], ports: tuple[str, ...],
        shape: numa.InstanceShape, pinned: list[int] | None, multiplier: float) -> None:
    reqs = schedule.build_requests(flavor, ports)
    per_host = answers(lambda: [schedule_svc.evaluate(m, reqs, shape, pinned) for m in models])
    indexed = answers(lambda: schedule_svc.Fleet(models).verdicts(reqs, shape, pinned))
    if isinstance(per_host, errors.Problem):  # a pinned list the flavor contradicts
        assert indexed == per_host
        return
    assert report(indexed, multiplier) == report(per_host, multiplier)
    assert [(v.nova_fits, v.claim_ok, v.free) for v in indexed] == [
        (v.nova_fits, v.claim_ok, v.free) for v in per_host]


def test_hosts_that_refuse_requests_raise_nothing() -> None:
    """Every host broken: nothing is evaluated, so a contradictory pin raises nothing (as before)."""
    devs = devices((0,), 2, "154c", 0)
    usable = schedule.HostInput("cmp-0", tuple(devs), (), CELLS)
    models = [schedule_svc.HostModel("cmp-0", None, usable, BROKEN)]  # type: ignore[arg-type]
    shape = numa.InstanceShape(4, 2048, numa_nodes=1)
    (verdict,) = schedule_svc.Fleet(models).verdicts([alias(1, None)], shape, [0, 1])
    assert verdict == schedule_svc.evaluate(models[0], [alias(1, None)], shape, [0, 1])
    with pytest.raises(numa.InstanceNumaNodesMismatch):
        schedule_svc.Fleet(models).verdicts([], shape, [0, 1])
