"""Differential: pools kept one device at a time equal Nova's ``PciDeviceStats``.

Both sides start empty under the same ``device_spec`` (Nova's ``Whitelist`` of the same JSON
strings), then take the same generated calls on PF, VF, vDPA and type-PCI devices:
``add_device``, ``remove_device`` and ``update_device`` after the device's data changed (its
type, NUMA node, product, ``parent_ifname`` or VPD serial). Nova's device is one
``PciDevice`` object, changed in place as its tracker changes it; ours is a new
``TrackedDevice`` each time. After every call the pools must be equal: order, keys, counts
and the devices in each, in order. Where Nova raises (``PciDevicePoolEmpty``, or a bare
``ValueError`` for a device not in the pool its key names), ours must raise the matching error,
and both sides go on unchanged.
A test-side counter, under fixed seeds, checks that every branch is reached at least 20 times.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import devicestate as ds
from pcipass.core import model, spec
from pcipass.core import poolupkeep as upkeep
from pcipass.core.poolrecords import PoolCorrupted
from support import require_module

nova_objects = require_module("nova.objects")
nova_exception = require_module("nova.exception")
nova_stats = require_module("nova.pci.stats")
nova_whitelist = require_module("nova.pci.whitelist")

pytestmark = pytest.mark.nova
nova_objects.register_all()

NODE = 3
EXAMPLES = 300
MIN_HITS = 20
HITS: collections.Counter[str] = collections.Counter()

#: device_spec lists: tags (kept in pool keys), Placement tags (ignored), a PF address spec,
#: remote_managed (needs a VPD serial), a spec matching nothing.
SPEC_SETS = [
    [{"vendor_id": "8086"}, {"vendor_id": "15b3"}],
    [{"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet1",
      "trusted": "true"},
     {"vendor_id": "8086", "resource_class": "CUSTOM_NIC", "traits": "CUSTOM_FAST"},
     {"vendor_id": "15b3", "managed": "no"}],
    [{"address": "0000:01:00.0", "physical_network": "physnet2"},
     {"vendor_id": "15b3", "remote_managed": "true"}, {"product_id": "0b2b"}],
    [{"address": {"domain": ".*", "bus": "02", "slot": "00", "function": "[1-7]"},
      "live_migratable": "yes"}, {"vendor_id": "8086", "product_id": "1572"},
     {"vendor_id": "10de"}],
]

PF1, PF2 = "0000:01:00.0", "0000:02:00.0"
BASE: dict[str, tuple[str, str | None, str, str]] = {  # dev_type, parent, vendor, product
    PF1: (model.TYPE_PF, None, "8086", "1572"),
    "0000:01:00.1": (model.TYPE_VF, PF1, "8086", "154c"),
    "0000:01:00.2": (model.TYPE_VF, PF1, "8086", "154c"),
    "0000:01:00.3": (ds.TYPE_VDPA, PF1, "8086", "154c"),
    PF2: (model.TYPE_PF, None, "15b3", "101d"),
    "0000:02:00.1": (model.TYPE_VF, PF2, "15b3", "101e"),
    "0000:02:00.2": (model.TYPE_VF, PF2, "15b3", "101e"),
    "0000:05:00.0": (model.TYPE_PCI, None, "8086", "0b2b"),
    "0000:06:00.0": (model.TYPE_PCI, None, "10de", "1db4"),
}
OTHER_TYPE = {model.TYPE_PCI: model.TYPE_PF, model.TYPE_PF: model.TYPE_PCI,
              model.TYPE_VF: ds.TYPE_VDPA, ds.TYPE_VDPA: model.TYPE_VF}


@st.composite
def device(draw: st.DrawFn, address: str) -> ds.TrackedDevice:
    dev_type, parent, vendor, product = BASE[address]
    extra: dict[str, str] = {}
    if parent and draw(st.integers(0, 3)):
        extra["parent_ifname"] = "ens1f0" if parent == PF1 else "ens2f0"
    if draw(st.integers(0, 3)) == 0:
        extra["capabilities"] = json.dumps({"vpd": {"card_serial_number": "MT2113X00001"}})
    return ds.TrackedDevice(address, dev_type, parent_addr=parent, vendor_id=vendor,
                            product_id=product, numa_node=draw(st.sampled_from([0, 0, 0, 1, None])),
                            dev_id="pci_" + address.replace(":", "_").replace(".", "_"),
                            extra_info=extra)


@st.composite
def changed(draw: st.DrawFn, dev: ds.TrackedDevice) -> ds.TrackedDevice:
    what = draw(st.sampled_from(["dev_type", "dev_type", "numa", "product", "ifname", "vpd"]))
    if what == "dev_type":
        return dataclasses.replace(dev, dev_type=OTHER_TYPE[dev.dev_type])
    if what == "numa":
        return dataclasses.replace(dev, numa_node=1 if dev.numa_node == 0 else 0)
    if what == "product":
        return dataclasses.replace(dev, product_id="1889")
    extra = dict(dev.extra_info)
    if what == "ifname":
        if extra.pop("parent_ifname", None) is None:
            extra["parent_ifname"] = "ens9f0"
    elif extra.pop("capabilities", None) is None:
        extra["capabilities"] = json.dumps({"vpd": {"card_serial_number": "MT2113X00002"}})
    return dataclasses.replace(dev, extra_info=extra)


def nova_device(dev: ds.TrackedDevice, ident: int) -> Any:
    return nova_objects.PciDevice(
        id=ident, compute_node_id=NODE, address=dev.address, dev_type=dev.dev_type,
        status="available", parent_addr=dev.parent_addr, instance_uuid=None, request_id=None,
        vendor_id=dev.vendor_id, product_id=dev.product_id, numa_node=dev.numa_node,
        dev_id=dev.dev_id, label="label", extra_info=dict(dev.extra_info))


def set_data(obj: Any, dev: ds.TrackedDevice) -> None:
    """What the tracker's ``update_device`` does to Nova's object: the data changes in place."""
    obj.dev_type, obj.product_id, obj.numa_node = dev.dev_type, dev.product_id, dev.numa_node
    obj.extra_info = dict(dev.extra_info)


def nova_view(stats: Any) -> list[Any]:
    return [({k: v for k, v in p.items() if k not in ("count", "devices")}, p["count"],
             [d.address for d in p["devices"]]) for p in stats.pools]


def our_view(book: upkeep.PoolBook) -> list[Any]:
    return [(dict(p.key), p.count, [d.address for d in p.devices]) for p in book.stats.pools]


def specs_of(raw: list[dict[str, Any]]) -> list[spec.SpecEntry]:
    parsed = spec.parse_device_spec_values([json.dumps(raw)], model.HostFacts.from_devices([]))
    assert not parsed.problems, parsed.problems
    return list(parsed.specs)


def count(book: upkeep.PoolBook, op: str, dev: ds.TrackedDevice) -> None:
    item = upkeep.pooled(dev, book.specs)
    if item is None:
        HITS[f"{op}: no spec matches (nothing happens)"] += 1
        return
    if op == "add":
        HITS["add: joins a pool" if book.stats.find(item.key) else "add: a new pool"] += 1
        if "parent_ifname" in item.key:
            HITS["add: keyed by parent_ifname"] += 1
        if item.key.get("remote_managed") == "false" and dev.dev_type != model.TYPE_PCI:
            HITS["add: remote_managed false added"] += 1
        if set(item.key) & {"physical_network", "trusted", "managed", "live_migratable"}:
            HITS["add: spec tags in the key"] += 1


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(data=st.data())
def test_pools_kept_one_device_at_a_time_equal_novas(nova_oracle: Any,
                                                     data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(SPEC_SETS))
    book = upkeep.PoolBook(specs_of(raw), compute_node_id=NODE)
    stats = nova_stats.PciDeviceStats(
        None, dev_filter=nova_whitelist.Whitelist([json.dumps(raw)]))
    ours: dict[str, ds.TrackedDevice] = {}
    theirs: dict[str, Any] = {}
    last: str | None = None
    for step in range(data.draw(st.integers(3, 25))):
        op = data.draw(st.sampled_from(["add", "add", "remove", "remove", "update", "update",
                                        "again"]))
        address = ""
        if op == "again":  # the last device removed, removed again
            if last is None:
                continue
            op, address = "remove", last
            if data.draw(st.booleans()):
                # or a sibling never added, with the data of one in the pool: its key has a pool
                twins = [(a, held) for p in book.stats.pools for held in p.devices
                         for a in BASE if BASE[a] == BASE[held.address]
                         and a not in {d.address for q in book.stats.pools for d in q.devices}]
                if twins:
                    address, held = data.draw(st.sampled_from(twins))
                    ours[address] = dataclasses.replace(ours[held.address], address=address)
                    theirs[address] = nova_device(ours[address], len(theirs) + 1)
        # updates mostly on pooled devices; removals of any (a device never added whose key
        # has a pool is Nova's ValueError)
        held = sorted({d.address for p in book.stats.pools for d in p.devices})
        address = address or data.draw(st.sampled_from(
            held if held and op == "update" and data.draw(st.booleans()) else sorted(BASE)))
        if address not in ours:
            ours[address] = data.draw(device(address))
            theirs[address] = nova_device(ours[address], len(theirs) + 1)
        if op == "update":
            ours[address] = new = data.draw(changed(ours[address]))
            set_data(theirs[address], new)
            pooled_type = next((p.key.get("dev_type") for p in book.stats.pools
                                for d in p.devices if d.address == address), None)
            book.update(new)
            stats.update_device(theirs[address])
            if pooled_type is None:
                HITS["update: not pooled (nothing happens)"] += 1
            elif pooled_type != new.dev_type:
                HITS["update: a type change moves the device"] += 1
            else:
                HITS["update: other data changes in place (old key kept)"] += 1
        elif op == "add":
            count(book, "add", ours[address])
            book.add(ours[address])
            stats.add_device(theirs[address])
        else:
            try:
                count(book, "remove", ours[address])
                book.remove(ours[address])
            except upkeep.PciDevicePoolEmpty as exc:
                with pytest.raises(nova_exception.PciDevicePoolEmpty) as nova_error:
                    stats.remove_device(theirs[address])
                assert exc.message == str(nova_error.value)
                HITS["remove: PciDevicePoolEmpty"] += 1
            except PoolCorrupted:
                with pytest.raises(ValueError):
                    stats.remove_device(theirs[address])
                HITS["remove: not in the pool its key names (ValueError)"] += 1
            else:
                stats.remove_device(theirs[address])
                HITS["remove: leaves its pool"] += 1
                last = address
        assert our_view(book) == nova_view(stats), (step, op, address)


def test_every_branch_is_reached(nova_oracle: Any) -> None:
    """Runs after the generated test (same module, fixed seeds)."""
    if not HITS:
        test_pools_kept_one_device_at_a_time_equal_novas(nova_oracle)
    wanted = ["add: a new pool", "add: joins a pool", "add: keyed by parent_ifname",
              "add: remote_managed false added", "add: spec tags in the key",
              "add: no spec matches (nothing happens)", "remove: leaves its pool",
              "remove: PciDevicePoolEmpty", "remove: not in the pool its key names (ValueError)",
              "remove: no spec matches (nothing happens)", "update: not pooled (nothing happens)",
              "update: a type change moves the device",
              "update: other data changes in place (old key kept)"]
    short = {k: HITS[k] for k in wanted if HITS[k] < MIN_HITS}
    assert not short, f"branches reached fewer than {MIN_HITS} times: {short} (all: {dict(HITS)})"
