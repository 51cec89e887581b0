"""A stored host gives the scheduler the pools discovery and the device_spec would give:
:func:`pcipass.core.storedhost.scheduler_view` against :func:`pcipass.core.schedule.host_pools`
on the same devices, with spec entries whose tags differ for the same ids (per address), and
with busy devices."""

from __future__ import annotations

import dataclasses
from typing import Any

from pcipass.core import devicestate as ds
from pcipass.core import model, numa, pools, schedule, spec, storedhost

SPECS = ('{"vendor_id": "8086", "product_id": "154c", "address": "0000:81:*.*", '
         '"physical_network": "p1"}',
         '{"vendor_id": "8086", "product_id": "154c", "physical_network": "p2", "trusted": "true"}',
         '{"vendor_id": "8086", "product_id": "1572"}')
CELLS = (numa.HostCell(0, frozenset({0, 1}), frozenset(), 4096, 0),
         numa.HostCell(1, frozenset({2, 3}), frozenset(), 4096, 1))


def _devices() -> list[model.Device]:
    out = []
    for bus, node in ((0x81, 0), (0x82, 1)):
        pf = f"0000:{bus:02x}:00.0"
        out.append(model.Device(pf, "8086", "1572", dev_type=model.TYPE_PF, numa_node=node))
        out += [model.Device(f"0000:{bus:02x}:02.{f}", "8086", "154c", dev_type=model.TYPE_VF,
                             parent_addr=pf, numa_node=node) for f in range(4)]
    return out


def _stored(devices: list[model.Device], specs: Any,
            busy: dict[str, ds.Status]) -> tuple[ds.DeviceTree, dict[str, Any]]:
    tracked = [ds.TrackedDevice(d.address, d.dev_type or "", busy.get(d.address, ds.Status.AVAILABLE),
                                d.parent_addr, "owner" if busy.get(d.address) in (
                                    ds.Status.CLAIMED, ds.Status.ALLOCATED) else None,
                                vendor_id=d.vendor_id, product_id=d.product_id,
                                numa_node=d.numa_node) for d in devices]
    tags = {}
    for d in devices:
        entry = spec.first_match(specs, d)
        assert entry is not None
        tags[d.address] = dict(entry.spec.tags)
    return ds.DeviceTree(tracked), tags


def _pools(stats: pools.PciStats) -> list[tuple[dict[str, Any], int, list[str]]]:
    return [(dict(p.key), p.count, [d.address for d in p.devices]) for p in stats.pools]


def _specs(devices: list[model.Device]) -> Any:
    parsed = spec.parse_device_spec_values(list(SPECS), model.HostFacts.from_devices(devices))
    assert parsed.valid
    return parsed.specs


def test_free_host_pools_equal_discoverys() -> None:
    devices = _devices()
    specs = _specs(devices)
    tree, tags = _stored(devices, specs, {})
    host, built = storedhost.scheduler_view("h", tree, tags, CELLS)
    reference = schedule.host_pools(devices, specs, CELLS)
    assert _pools(built.compute) == _pools(reference.compute)
    assert _pools(built.view) == _pools(reference.view)
    assert len(built.compute.pools) == 4  # p1 VFs, p2 VFs, and a pool per PF (its address)
    reqs = [pools.Request(2, ({"physical_network": "p2", "trusted": "true"},), None, None, "0")]
    mine = schedule.evaluate_host(host.devices, host.specs, reqs, host.cells, name="h",
                                  prebuilt=built)
    theirs = schedule.evaluate_host(devices, specs, reqs, CELLS, name="h")
    assert mine.fits and [d.address for d in mine.devices] == [d.address for d in theirs.devices]


def test_busy_devices_leave_the_pools_as_in_novas_tracker() -> None:
    devices = _devices()
    specs = _specs(devices)
    busy = {"0000:81:02.1": ds.Status.CLAIMED, "0000:81:00.0": ds.Status.UNCLAIMABLE}
    tree, tags = _stored(devices, specs, busy)
    host, built = storedhost.scheduler_view("h", tree, tags, CELLS)
    free = [d for d in devices if d.address not in busy]
    assert [d.address for d in host.devices] == [d.address for d in free]
    reference = pools.build(free, specs, {c.id: c.socket for c in CELLS})
    assert _pools(built.compute) == _pools(reference)
    # a PF request cannot take the PF whose VF is busy: only the other PF
    reqs = [pools.Request(1, ({"dev_type": "type-PF"},), "pf", None, "0")]
    verdict = schedule.evaluate_host(host.devices, host.specs, reqs, host.cells, name="h",
                                     prebuilt=built)
    assert [d.address for d in verdict.devices] == ["0000:82:00.0"]


def test_one_spec_when_the_tags_agree() -> None:
    devices = _devices()
    tracked = [ds.TrackedDevice(d.address, d.dev_type or "", vendor_id=d.vendor_id,
                                product_id=d.product_id) for d in devices]
    (only,) = storedhost.stored_specs(tracked, {d.address: {"x": "1"} for d in devices})
    assert only.spec.tags == {"x": "1"} and all(only.spec.match(d) for d in devices)
    entries = storedhost.stored_specs(tracked, {d.address: ({"x": "1"} if d.dev_type == "type-PF"
                                                            else {}) for d in devices})
    assert len(entries) == 2  # one per vendor and product id: they agree within each
    assert dataclasses.asdict(entries[0])["index"] == 0
