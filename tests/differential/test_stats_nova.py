"""Differential: pools, support and consume agree with Nova's ``PciDeviceStats``.

Hosts are generated (PFs with VFs, standalone devices, vDPA, unknown NUMA
nodes, sockets), together with device_specs, requests (flavor and port
style, every NUMA policy) and instance NUMA cells. Both sides get the same
host: Nova through ``objects.PciDevice`` and a ``Whitelist`` whose sysfs
probes answer from the same :class:`model.HostFacts`.

Compared: the compute pools (keys, counts, devices in order), the scheduler's
pools (rebuilt from ``PciDevicePool`` objects), ``support_requests`` on both
views, and ``consume_requests``: success, the chosen device addresses in
order, and the pools left behind.

The one deliberate difference (``can_fit``, docs/compat.md) is tested at the end.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from pcipass.core import model, numa, pools, spec, strutils

from support import require_module  # noqa: E402

require_module("nova")  # fails in CI, skips only where the reference extra is absent

pytestmark = pytest.mark.nova

POLICIES = [None, "required", "legacy", "preferred", "socket"]
PF_IDS = [("8086", "1572", "154c"), ("15b3", "1017", "1018"), ("8086", "10fb", "10fb")]
GPU = ("10de", "1db4")


# -- hosts ------------------------------------------------------------------------------------


@st.composite
def hosts(draw: st.DrawFn) -> tuple[list[model.Device], tuple[numa.HostCell, ...]]:
    """Devices (in report order) and host NUMA cells."""
    ncells = draw(st.integers(1, 3))
    sockets = draw(st.lists(st.sampled_from([0, 1, None]), min_size=ncells, max_size=ncells))
    cells = tuple(numa.HostCell(i, frozenset({2 * i, 2 * i + 1}), frozenset({2 * i, 2 * i + 1}),
                                1024, sockets[i]) for i in range(ncells))
    nodes = st.sampled_from([*range(ncells), None])
    devices: list[model.Device] = []
    for bus in range(0x81, 0x81 + draw(st.sampled_from([0, 1, 2, 2, 3]))):
        vendor, pf_product, vf_product = draw(st.sampled_from(PF_IDS))
        node = draw(nodes)
        pf_addr = f"0000:{bus:02x}:{draw(st.sampled_from(['00', '10']))}.0"
        nvfs = draw(st.integers(0, 6))
        pf_netdev = draw(st.booleans())
        pf = model.Device(pf_addr, vendor, pf_product, dev_type=model.TYPE_PF, numa_node=node,
                          sriov_totalvfs=max(nvfs, 1), sriov_vf_device=vf_product,
                          netdevs=(f"ens{bus}f0",) if pf_netdev else ())
        vdpa = draw(st.booleans()) and draw(st.booleans())
        serial = "MT2201X" if draw(st.booleans()) else None
        vfs = [model.Device(f"0000:{bus:02x}:02.{i}", vendor, vf_product,
                            dev_type=model.TYPE_VDPA if vdpa and i == 0 else model.TYPE_VF,
                            parent_addr=pf_addr, numa_node=node, card_serial_number=serial,
                            netdevs=(f"ens{bus}v{i}",) if draw(st.booleans()) else ())
               for i in range(nvfs)]
        group = [pf, *vfs]
        if draw(st.booleans()):
            group.reverse()
        devices.extend(group)
    for slot in range(draw(st.integers(0, 2))):
        devices.append(model.Device(f"0000:3b:{slot:02x}.0", *GPU, dev_type=model.TYPE_PCI,
                                    numa_node=draw(nodes)))
    return devices, cells


TAG_VALUES: dict[str, list[Any]] = {
    "physical_network": ["physnet1", "PhysNet1", "physnet2"],
    "trusted": ["true", True, "false"],
    "remote_managed": ["true", "false", True],
    "live_migratable": ["true", "false"],
    "managed": ["yes", "no"],
    "custom_tag": ["x", 7],
}


@st.composite
def device_specs(draw: st.DrawFn, devices: Sequence[model.Device]) -> list[dict[str, Any]]:
    out = []
    pfs = [d.address for d in devices if d.dev_type == model.TYPE_PF]
    for _ in range(draw(st.integers(1, 3))):
        entry: dict[str, Any] = {}
        ids = draw(st.sampled_from(["any", "vendor", "both", "gpu"]))
        vendor, pf_product, vf_product = draw(st.sampled_from(PF_IDS))
        if ids == "vendor":
            entry["vendor_id"] = vendor
        elif ids == "both":
            entry.update(vendor_id=vendor, product_id=draw(st.sampled_from([pf_product, vf_product])))
        elif ids == "gpu":
            entry.update(vendor_id=GPU[0], product_id=GPU[1])
        if pfs and draw(st.booleans()) and draw(st.booleans()):
            entry["address"] = draw(st.sampled_from(pfs))
        for tag in draw(st.lists(st.sampled_from(sorted(TAG_VALUES)), max_size=2, unique=True)):
            entry[tag] = draw(st.sampled_from(TAG_VALUES[tag]))
        if "address" in entry:
            entry.pop("remote_managed", None)  # Nova crashes there (docs/compat.md S5)
        out.append(entry)
    return out


REQ_TAGS: dict[str, list[str]] = {
    "dev_type": ["type-PF", "type-VF", "type-PCI", "vdpa"],
    "physical_network": ["physnet1", "PHYSNET1", "physnet2"],
    "trusted": ["true", "True"],
    "remote_managed": ["True", "False", "true"],
    "live_migratable": ["true", "false"],
    "custom_tag": ["x", "7"],
}


@st.composite
def request_lists(draw: st.DrawFn, devices: Sequence[model.Device] = ()) -> list[pools.Request]:
    """Requests; half of the specs are made from a device of the host, so many can succeed."""
    out = []
    for position in range(draw(st.sampled_from([1, 1, 1, 2, 2, 3]))):
        specs = []
        for _ in range(draw(st.sampled_from([1, 1, 2]))):
            one: dict[str, str | None] = {}
            if devices and draw(st.booleans()):
                dev = draw(st.sampled_from(list(devices)))
                one.update(vendor_id=dev.vendor_id, product_id=dev.product_id)
                if dev.dev_type == model.TYPE_PF or draw(st.booleans()):
                    one["dev_type"] = str(dev.dev_type)
            elif draw(st.booleans()):
                vendor, pf_product, vf_product = draw(st.sampled_from(PF_IDS))
                one["vendor_id"] = vendor
                if draw(st.booleans()):
                    one["product_id"] = draw(st.sampled_from([pf_product, vf_product]))
            elif draw(st.booleans()):
                one.update(vendor_id=GPU[0], product_id=GPU[1])
            tags = st.lists(st.sampled_from(sorted(REQ_TAGS)), max_size=2, unique=True)
            plain = st.just([])
            choice = st.one_of(plain, plain, plain, tags) if one else st.one_of(st.just(["dev_type"]), tags)
            for tag in draw(choice):
                one.setdefault(tag, draw(st.sampled_from(REQ_TAGS[tag])))
            specs.append(one)
        alias = draw(st.sampled_from(["a", "b", None]))
        count = draw(st.sampled_from([1, 1, 1, 2, 3, 0]))
        out.append(pools.Request(count, tuple(specs), alias,
                                 draw(st.sampled_from(POLICIES)), f"req-{position}"))
    return out


# -- Nova's side ------------------------------------------------------------------------------


def nova_device_dict(dev: model.Device, parent_ifname: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "compute_node_id": 1, "address": dev.address, "vendor_id": dev.vendor_id,
        "product_id": dev.product_id, "dev_type": dev.dev_type, "numa_node": dev.numa_node,
        "parent_addr": dev.parent_addr, "label": f"label_{dev.vendor_id}_{dev.product_id}",
        "dev_id": "pci_" + dev.address.replace(":", "_").replace(".", "_"),
        "capabilities": {"vpd": {"card_serial_number": dev.card_serial_number}},
    }
    if parent_ifname:
        out["parent_ifname"] = parent_ifname
    return out


def nova_topology(cells: Sequence[numa.HostCell]) -> Any:
    from nova import objects

    return objects.NUMATopology(cells=[
        objects.NUMACell(id=c.id, cpuset=set(c.cpus), pcpuset=set(c.pcpus), memory=c.memory_mb,
                         socket=c.socket, cpu_usage=0, memory_usage=0, pinned_cpus=set(),
                         siblings=[{cpu} for cpu in sorted(c.cpus | c.pcpus)], mempages=[],
                         network_metadata=objects.NetworkMetadata(physnets=set(), tunneled=False))
        for c in cells])


def nova_stats(oracle: Any, devices: Sequence[model.Device], values: list[str],
               facts: model.HostFacts, cells: Sequence[numa.HostCell]) -> tuple[Any, Any]:
    """Nova's compute-side stats (devices added as the tracker adds them) and its whitelist."""
    from nova import objects
    from nova.pci import manager, stats, whitelist

    objects.register_all()
    ifnames = pools.parent_ifnames(devices)
    with oracle.probes(facts):
        wl = whitelist.Whitelist(values)
        objs = [objects.PciDevice.create(None, nova_device_dict(d, ifnames.get(d.address)))
                for d in devices]
        tracked = [o for o in objs if wl.get_devspec(o)]
        manager.PciDevTracker._build_device_tree(list(tracked))
        result = stats.PciDeviceStats(nova_topology(cells), dev_filter=wl)
        for o in objs:
            result.add_device(o)
    return result, wl


def nova_scheduler_stats(compute: Any, wl: Any, cells: Sequence[numa.HostCell]) -> Any:
    from nova.pci import stats

    return stats.PciDeviceStats(nova_topology(cells), stats=compute.to_device_pools_obj(),
                                dev_filter=wl)


def nova_requests(reqs: Sequence[pools.Request]) -> list[Any]:
    from nova import objects

    out = []
    for r in reqs:
        kwargs: dict[str, Any] = {"count": r.count, "spec": [dict(s) for s in r.specs],
                                  "alias_name": r.alias_name, "request_id": _uuid(r.request_id)}
        if r.numa_policy is not None:
            kwargs["numa_policy"] = r.numa_policy
        out.append(objects.InstancePCIRequest(**kwargs))
    return out


def _uuid(text: str) -> str:
    return f"00000000-0000-0000-0000-{abs(hash(text)) % 10**12:012d}"


def nova_cells(ids: Sequence[int] | None) -> Any:
    from nova import objects

    if ids is None:
        return None
    return [objects.InstanceNUMACell(id=i, cpuset=set(), pcpuset=set(), memory=0) for i in ids]


def nova_pools(stats_obj: Any, with_devices: bool) -> list[tuple[dict[str, Any], int, list[str]]]:
    out = []
    for p in stats_obj.pools:
        key = {k: v for k, v in p.items() if k not in ("count", "devices")}
        devs = [d.address for d in p.get("devices", [])] if with_devices else []
        out.append((key, p["count"], devs))
    return out


def our_pools(stats_obj: pools.PciStats, with_devices: bool) -> list[tuple[dict[str, Any], int, list[str]]]:
    return [(dict(p.key), p.count, [d.address for d in p.devices] if with_devices else [])
            for p in stats_obj.pools]


def nova_consume(stats_obj: Any, reqs: list[Any], cells: Any) -> tuple[str, list[str]]:
    from nova import exception

    try:
        got = stats_obj.consume_requests(reqs, cells)
    except exception.PciDeviceRequestFailed:
        return "failed", []
    except (IndexError, ValueError, exception.PciDevicePoolEmpty):
        return "crashed", []
    return "ok", [d.address for d in got or []]


def our_consume(stats_obj: pools.PciStats, reqs: Sequence[pools.Request],
                cells: Sequence[int] | None) -> tuple[str, list[str]]:
    out = stats_obj.consume(reqs, cells)
    if out.crashed:
        return "crashed", []
    if not out.ok:
        return "failed", []
    return "ok", [d.address for _, d in out.devices]


# -- the comparison ---------------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    devices, cells = draw(hosts())
    specs = draw(st.one_of(st.just([{}]), device_specs(devices)))
    reqs = draw(request_lists(devices))
    ids = [c.id for c in cells]
    inst = draw(st.one_of(st.none(), st.lists(st.sampled_from(ids), min_size=1, max_size=2,
                                              unique=True), st.just([7])))
    return {"devices": devices, "cells": cells, "specs": specs, "requests": reqs, "numa": inst}


def _ours(sc: dict[str, Any], generated: bool = True,
          ) -> tuple[pools.PciStats, list[str], model.HostFacts]:
    facts = model.HostFacts.from_devices(sc["devices"])
    values = [json.dumps(sc["specs"])]
    parsed = spec.parse_device_spec_values(values, facts)
    if generated:
        assume(parsed.valid)
    assert parsed.valid, parsed.problems
    sockets = {c.id: c.socket for c in sc["cells"]}
    return pools.build(sc["devices"], parsed.specs, sockets), values, facts


@settings(max_examples=250, deadline=None, derandomize=True)
@given(sc=scenarios())
def test_pools_support_and_consume_agree_with_nova(nova_oracle: Any, sc: dict[str, Any]) -> None:
    ours, values, facts = _ours(sc)
    compute, wl = nova_stats(nova_oracle, sc["devices"], values, facts, sc["cells"])
    assert our_pools(ours, True) == nova_pools(compute, True)
    scheduler = nova_scheduler_stats(compute, wl, sc["cells"])
    assert our_pools(ours.scheduler_view(), False) == nova_pools(scheduler, False)

    reqs, nreqs, cells = sc["requests"], nova_requests(sc["requests"]), sc["numa"]
    expected = scheduler.support_requests(nreqs, None, nova_cells(cells))
    supported = ours.scheduler_view().support(reqs, cells)
    assert supported.ok == expected
    event(f"failed at {[d.stage for d in supported.drops if d.failed][:1]}")
    assert ours.support(reqs, cells).ok == compute.support_requests(nreqs, None, nova_cells(cells))

    consumed = our_consume(ours, reqs, cells)
    assert consumed == nova_consume(compute, nreqs, nova_cells(cells))
    assert our_pools(ours, True) == nova_pools(compute, True)
    event(f"support={expected} consume={consumed[0]}")
    event(f"chosen {min(len(consumed[1]), 3)} device(s)")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(sc=scenarios(), policy=st.sampled_from(POLICIES), cells=st.lists(st.integers(0, 2), min_size=1,
                                                                      max_size=2, unique=True))
def test_numa_policies_agree_with_nova(nova_oracle: Any, sc: dict[str, Any], policy: str | None,
                                       cells: list[int]) -> None:
    """One request with NUMA cells and each policy: the §4.4 rules, unknown nodes and sockets."""
    first = sc["requests"][0]
    reqs = [dataclasses.replace(first, numa_policy=policy, specs=first.specs[:1])]
    ours, values, facts = _ours(sc)
    compute, wl = nova_stats(nova_oracle, sc["devices"], values, facts, sc["cells"])
    scheduler = nova_scheduler_stats(compute, wl, sc["cells"])
    supported = ours.scheduler_view().support(reqs, cells)
    assert supported.ok == scheduler.support_requests(nova_requests(reqs), None, nova_cells(cells))
    event(f"{policy}: ok={supported.ok} numa-dropped={any(d.stage == 'numa' for d in supported.drops)}")
    assert our_consume(ours, reqs, cells) == nova_consume(compute, nova_requests(reqs), nova_cells(cells))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(sc=scenarios(), second=request_lists())
def test_consecutive_claims_agree_with_nova(nova_oracle: Any, sc: dict[str, Any],
                                            second: list[pools.Request]) -> None:
    """Two instances claimed one after the other: the second sees what the first left."""
    ours, values, facts = _ours(sc)
    compute, _ = nova_stats(nova_oracle, sc["devices"], values, facts, sc["cells"])
    for reqs in (sc["requests"], second):
        got = our_consume(ours, reqs, sc["numa"])
        assert got == nova_consume(compute, nova_requests(reqs), nova_cells(sc["numa"]))
        assert our_pools(ours, True) == nova_pools(compute, True)


# -- the deliberate difference ----------------------------------------------------------------


def test_can_fit_refuses_pf_plus_vf_of_the_only_pf(nova_oracle: Any) -> None:
    """§9.8: Nova's scheduler says yes, its claim says no; ``can_fit`` says no up front."""
    pf = model.Device("0000:81:00.0", "8086", "1572", dev_type=model.TYPE_PF, numa_node=0,
                      sriov_totalvfs=2, sriov_vf_device="154c")
    vfs = [model.Device(f"0000:81:02.{i}", "8086", "154c", dev_type=model.TYPE_VF,
                        parent_addr=pf.address, numa_node=0) for i in range(2)]
    sc = {"devices": [pf, *vfs], "cells": (numa.HostCell(0, memory_mb=1024, socket=0),),
          "specs": [{"vendor_id": "8086"}]}
    reqs = [pools.Request(1, ({"dev_type": "type-PF"},), "pf", None, "r1"),
            pools.Request(1, ({"dev_type": "type-VF"},), "vf", None, "r2")]
    ours, values, facts = _ours(sc, generated=False)
    compute, wl = nova_stats(nova_oracle, sc["devices"], values, facts, sc["cells"])
    scheduler = nova_scheduler_stats(compute, wl, sc["cells"])

    assert scheduler.support_requests(nova_requests(reqs), None) is True
    assert ours.scheduler_view().support(reqs).ok is True
    assert nova_consume(compute, nova_requests(reqs), None) == ("failed", [])
    verdict = ours.can_fit(reqs)
    assert verdict.ok is False and verdict.failed_request == 1
    assert [d.stage for d in verdict.drops if d.failed] == ["spec"]
    assert ours.free == 3  # can_fit works on a copy


@pytest.mark.parametrize("sockets", [(0, 0), (0, 1), (0, None), (None, 0), (None, None)])
@pytest.mark.parametrize("device_node", [0, 1, None])
@pytest.mark.parametrize("policy", POLICIES)
def test_policy_table_agrees_with_nova(nova_oracle: Any, sockets: tuple[int | None, int | None],
                                       device_node: int | None, policy: str | None) -> None:
    """Every policy x device node x socket layout, instance on node 0 (the §3.3 table)."""
    gpu = model.Device("0000:3b:00.0", *GPU, numa_node=device_node)
    cells = tuple(numa.HostCell(i, memory_mb=1024, socket=s) for i, s in enumerate(sockets))
    sc = {"devices": [gpu], "cells": cells, "specs": [{}]}
    reqs = [pools.Request(1, ({"vendor_id": GPU[0]},), "gpu", policy, "r1")]
    ours, values, facts = _ours(sc, generated=False)
    compute, wl = nova_stats(nova_oracle, sc["devices"], values, facts, cells)
    scheduler = nova_scheduler_stats(compute, wl, cells)
    expected = scheduler.support_requests(nova_requests(reqs), None, nova_cells([0]))
    assert ours.scheduler_view().support(reqs, [0]).ok == expected
    assert our_consume(ours, reqs, [0]) == nova_consume(compute, nova_requests(reqs), nova_cells([0]))


# -- Neutron port requests --------------------------------------------------------------------

PORT_VNICS = ["direct", "macvtap", "direct-physical", "virtio-forwarder", "vdpa", "remote-managed"]
PORT_PHYSNETS = [None, "physnet1"]
PORT_TRUSTED = [None, "true", "no", "1"]
PORT_POLICIES = [None, "required", "socket"]
PORT_FLAVOR_POLICIES = [None, "preferred"]
#: Every ``--port`` combination: vnic type x physnet x trusted x port policy x flavor policy.
PORT_MATRIX = list(itertools.product(PORT_VNICS, PORT_PHYSNETS, PORT_TRUSTED, PORT_POLICIES,
                                     PORT_FLAVOR_POLICIES))


def test_port_matrix_is_complete() -> None:
    assert len(PORT_MATRIX) == len(set(PORT_MATRIX)) == 288


@pytest.fixture(scope="module")
def nova_port_request(nova_oracle: Any) -> Any:
    """Nova's neutron API building the InstancePCIRequest of one port (Neutron mocked out)."""
    from unittest import mock

    from nova import context, objects
    from nova.network import neutron

    objects.register_all()
    ctx = context.get_admin_context()
    port_id = "7f6c5a3e-1b2c-4d5e-8f90-0123456789ab"

    def run(vnic: str, physnet: str | None, trusted: bool | None, port_policy: str | None,
            flavor_policy: str | None) -> Any:
        api = neutron.API()
        nets = objects.NetworkRequestList(objects=[objects.NetworkRequest(port_id=port_id)])
        pci = objects.InstancePCIRequests(requests=[])
        with mock.patch.object(neutron, "get_client"), \
                mock.patch.object(api, "has_extended_resource_request_extension",
                                  return_value=False), \
                mock.patch.object(api, "_get_port_vnic_info",
                                  return_value=(vnic, trusted, "net", None, port_policy, None)), \
                mock.patch.object(api, "_get_physnet_tunneled_info", return_value=(physnet, False)):
            api.create_resource_requests(ctx, nets, pci, flavor_policy)
        (theirs,) = pci.requests
        return theirs

    return run


@pytest.mark.parametrize(("vnic", "physnet", "trusted", "port_policy", "flavor_policy"), PORT_MATRIX)
def test_port_requests_match_novas_create_resource_requests(
        nova_port_request: Any, vnic: str, physnet: str | None, trusted: str | None,
        port_policy: str | None, flavor_policy: str | None) -> None:
    """``parse_port`` builds the InstancePCIRequest Nova's neutron API builds for such a port:
    all 288 combinations, enumerated."""
    from pcipass.core import schedule

    text = ",".join(f"{k}={v}" for k, v in (("vnic_type", vnic), ("physnet", physnet),
                                            ("trusted", trusted), ("numa_policy", port_policy))
                    if v is not None)
    ours = schedule.parse_port(text, 0, flavor_policy)
    trusted_bool = None if trusted is None else strutils.strict_bool(trusted)
    theirs = nova_port_request(vnic, physnet, trusted_bool, port_policy, flavor_policy)
    assert [dict(s) for s in ours.specs] == theirs.spec
    assert (ours.count, ours.alias_name) == (theirs.count, theirs.alias_name)
    assert ours.numa_policy == (theirs.numa_policy if "numa_policy" in theirs else None)
    assert ours.is_port and theirs.source == theirs.NEUTRON_PORT
