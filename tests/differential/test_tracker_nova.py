"""Differential: the tracker rules equal Nova's ``PciDevTracker`` on generated sequences.

Nova's tracker is built in memory: ``PciDeviceList.get_by_compute_node`` returns the
generated devices, ``PciDevice.create`` gives a new device the id the database would, and
``PciDevice.save`` does what the database round trip does to the object (a removed device
becomes ``deleted``). Both sides then go through the same sequence: discoveries (devices
vanish, come back, appear, change data or type), saves, claims (as the compute claim takes a
device from the pools), ``allocate_instance``, and the four ways to free (``free_instance``,
its ``_claims`` and ``_allocations`` halves, ``free_device``).

After every step: statuses, owners and data of every device, which devices exist, the PF/VF
links, the remembered sets (``to_be_removed_when_freed``, ``stale``), the warnings
(``nova.pci.manager.LOG.warning``) and the pools. Our pool events are applied to a small model
of Nova's pools (each device with the key it entered under, Nova's lookups by the device's
current key); its content must equal Nova's ``PciDeviceStats``, and where it predicts that
Nova's pools cannot find a device (a key changed in place), Nova must crash there. A
test-side counter, under fixed seeds, checks that every rule is reached at least 20 times.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import itertools
import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import devicestate as ds
from pcipass.core import model, spec
from pcipass.core import poolupkeep as upkeep
from pcipass.core import tracker as tr
from pcipass.core.poolrecords import PoolCorrupted
from support import require_module

nova_objects = require_module("nova.objects")
nova_exception = require_module("nova.exception")
nova_manager = require_module("nova.pci.manager")
nova_context = require_module("nova.context")

pytestmark = pytest.mark.nova
nova_objects.register_all()

NODE = 7
A, B = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
INSTANCES = (A, B)
SPEC = ['{"vendor_id": "8086"}']
HITS: collections.Counter[str] = collections.Counter()
EXAMPLES = 900  # the rarest rule (devices freed with a remembered one) needs the margin
MIN_HITS = 20

PF1, PF2 = "0000:01:00.0", "0000:02:00.0"
#: The host: address -> (dev_type, parent_addr, product_id); a child may change type or parent.
BASE: dict[str, tuple[str, str | None, str]] = {
    PF1: (model.TYPE_PF, None, "1572"),
    "0000:01:00.1": (model.TYPE_VF, PF1, "154c"),
    "0000:01:00.2": (model.TYPE_VF, PF1, "154c"),
    "0000:01:00.3": (ds.TYPE_VDPA, PF1, "154c"),
    PF2: (model.TYPE_PF, None, "1572"),
    "0000:02:00.1": (model.TYPE_VF, PF2, "154c"),
    "0000:02:00.2": (model.TYPE_VF, PF2, "154c"),
    "0000:05:00.0": (model.TYPE_PCI, None, "0b2b"),
    "0000:06:00.0": (model.TYPE_PCI, None, "0b2b"),
}
#: Type changes: a VF becomes a vDPA device and back, a PCI device with no VFs a PF and back.
#: (A PF with children that stops being one is left out: Nova keeps its old children on the
#: object, which only matter if stale data makes it a PF again before the next rebuild; the
#: tree keeps the links of the last rebuild only.)
OTHER_TYPE = {model.TYPE_PCI: model.TYPE_PF, model.TYPE_VF: ds.TYPE_VDPA,
              ds.TYPE_VDPA: model.TYPE_VF}
#: Where our pools predict Nova's fail: no pool for the device's key, or not in that pool.
CRASHES = (upkeep.PciDevicePoolEmpty, PoolCorrupted)
MUTATIONS = ("dev_type", "numa", "product", "ids", "parent_ifname", "capabilities", "tags",
             "parent")


# -- generated discoveries ---------------------------------------------------------------------


@st.composite
def reported(draw: st.DrawFn, address: str, changes: int = 1) -> dict[str, Any]:
    """One device as the hypervisor reports it: its base data, some of it changed."""
    dev_type, parent, product = BASE[address]
    numa = 0 if address < "0000:02" else 1
    dev: dict[str, Any] = {"address": address, "vendor_id": "8086", "product_id": product,
                           "dev_type": dev_type, "numa_node": numa,
                           "dev_id": "pci_" + address.replace(":", "_").replace(".", "_"),
                           "label": f"label_8086_{product}"}
    if parent:
        dev["parent_addr"] = parent
        dev["parent_ifname"] = "ens1f0" if parent == PF1 else "ens2f0"
    if draw(st.booleans()):
        dev["managed"] = "true"
    if dev_type == model.TYPE_VF:
        dev["capabilities"] = {"network": ["rx", "tx"], "sriov": {"vf_num": 1}}
    weights = [3, 1, 1, 3, 1, 3, 3, 1] if changes else [0] * len(MUTATIONS)
    for _ in range(changes):
        what = draw(st.sampled_from([m for m, w in zip(MUTATIONS, weights) for _ in range(w)]))
        if what == "dev_type" and dev_type in OTHER_TYPE:
            dev["dev_type"] = OTHER_TYPE[dev_type]
            if dev["dev_type"] == model.TYPE_PF:
                dev.pop("parent_addr", None)
        elif what == "numa":
            dev["numa_node"] = draw(st.sampled_from([None, 1 - numa]))
        elif what == "product":
            dev["product_id"] = "1889"
        elif what == "ids":
            dev["dev_id"], dev["label"] = "renamed", None
        elif what == "parent_ifname" and parent:
            if draw(st.booleans()):
                del dev["parent_ifname"]
            else:
                dev["parent_ifname"] = "ens9f0"
        elif what == "capabilities":
            dev["capabilities"] = {"vpd": {"card_serial_number": draw(st.sampled_from("XY"))}}
            dev["mac_address"] = "52:54:00:00:00:01"
        elif what == "tags":
            dev.pop("managed", None)
            dev["live_migratable"] = draw(st.sampled_from(["true", "false"]))
        elif what == "parent" and parent:
            dev["parent_addr"] = PF2 if parent == PF1 else PF1
    return dev


@st.composite
def discovery(draw: st.DrawFn, busy: set[str], vanish: float) -> list[dict[str, Any]]:
    out = []
    for address in BASE:
        # busy devices and PFs vanish more often: the rules about them need it
        odd = address in busy or BASE[address][0] == model.TYPE_PF
        gone = draw(st.floats(0, 1)) < (vanish * 2 if odd else vanish)
        if not gone:
            out.append(draw(reported(address, draw(st.sampled_from([0, 0, 0, 1, 1, 2])))))
    return draw(st.permutations(out))


# -- Nova's side ---------------------------------------------------------------------------------


class NovaSide:
    """A real ``PciDevTracker`` with the database calls answered in memory."""

    def __init__(self, initial: list[dict[str, Any]], stack: Any) -> None:
        self.ids = itertools.count(1)
        original = nova_objects.PciDevice.create

        def create(context: Any, dev_dict: dict[str, Any]) -> Any:
            obj = original(context, dev_dict)
            # what the first save reads back from the database
            obj.id, obj.instance_uuid, obj.request_id = next(self.ids), None, None
            return obj

        def save(obj: Any) -> None:
            if obj.status == "removed":
                obj.status = "deleted"
            obj.obj_reset_changes()

        stack.enter_context(mock.patch.object(nova_objects.PciDevice, "create", create))
        stack.enter_context(mock.patch.object(nova_objects.PciDevice, "save", save))
        self.log = stack.enter_context(mock.patch.object(nova_manager, "LOG"))
        loaded = []
        for dev in initial:
            obj = create(None, {**copy.deepcopy(dev), "compute_node_id": NODE})
            obj.obj_reset_changes()
            loaded.append(obj)
        stack.enter_context(mock.patch.object(
            nova_objects.PciDeviceList, "get_by_compute_node",
            return_value=nova_objects.PciDeviceList(objects=loaded)))
        self.context = nova_context.RequestContext()
        node = nova_objects.ComputeNode(id=NODE, numa_topology=None)
        self.tracker = nova_manager.PciDevTracker(self.context, node)
        self.instances = {u: {"uuid": u, "pci_devices": []} for u in INSTANCES}
        self.syncs = 0

    def dev(self, address: str) -> Any:
        """The tracked device at ``address``; a deleted one, only where a pool still holds it."""
        found = [d for d in self.tracker.pci_devs if d.address == address]
        found += [d for p in self.tracker.stats.pools for d in p["devices"]
                  if d.address == address and d.status == "deleted"]
        return found[0]

    def sync(self, found: list[dict[str, Any]]) -> None:
        """The periodic update: every other time from the JSON the virt driver reports, through
        the device_spec filter (which keeps every generated device), else ``_set_hvdevs``."""
        self.syncs += 1
        if self.syncs % 2:
            self.tracker.update_devices_from_hypervisor_resources(json.dumps(found))
        else:
            self.tracker._set_hvdevs(copy.deepcopy(found))

    def warnings(self) -> list[str]:
        out = [c.args[0] % c.args[1] for c in self.log.warning.call_args_list]
        self.log.reset_mock()
        return out

    def claim(self, address: str, uuid: str) -> None:
        """What ``claim_instance`` does to one device: out of its pool, dependents out of theirs
        (``consume_requests``), then the claim."""
        dev = self.dev(address)
        dev.claim(uuid)
        stats = self.tracker.stats
        pool = next(p for p in stats.pools if any(d is dev for d in p["devices"]))
        del pool["devices"][next(i for i, d in enumerate(pool["devices"]) if d is dev)]
        pool["count"] -= 1
        self.tracker.claims[uuid].append(dev)
        stats._handle_device_dependents(dev)

    def state(self) -> dict[str, Any]:
        t = self.tracker
        devices = {d.address: (d.status, d.instance_uuid, d.dev_type, d.parent_addr, d.vendor_id,
                               d.product_id, d.numa_node, d.dev_id, d.label, dict(d.extra_info))
                   for d in t.pci_devs}
        # The links Nova uses: a removed device, or one whose type stopped being a PF (a
        # child), keeps the links of an older tree in Nova, never used again.
        links = {d.address: (d.parent_device.address
                             if d.dev_type in ds.CHILD_TYPES and d.parent_device else None,
                             [c.address for c in d.child_devices]
                             if d.dev_type == model.TYPE_PF else [])
                 for d in t.pci_devs if d.status not in ("removed", "deleted")}
        pools = [({k: v for k, v in p.items() if k not in ("count", "devices")}, p["count"],
                  [d.address for d in p["devices"]]) for p in t.stats.pools]
        stale = {a: tr.DiscoveredDevice.from_dict(v) for a, v in t.stale.items()}
        return {"devices": devices, "links": links, "pools": pools, "stale": stale,
                "remembered": set(t.to_be_removed_when_freed)}


# -- our side ------------------------------------------------------------------------------------


def _specs() -> list[spec.SpecEntry]:
    parsed = spec.parse_device_spec_values(SPEC, model.HostFacts.from_devices([]))
    assert not parsed.problems
    return list(parsed.specs)


class Ours:
    """The pure tracker, and its pools kept by its events (``PoolBook``)."""

    def __init__(self, initial: list[dict[str, Any]]) -> None:
        devices = [tr.updated(ds.TrackedDevice(d["address"], d["dev_type"]),
                              tr.DiscoveredDevice.from_dict(d)) for d in initial]
        self.state = tr.TrackerState(ds.DeviceTree(devices, NODE))
        # Nova's start: the available devices, in the order its database gives them
        self.book = upkeep.PoolBook.rebuilt(devices, _specs(), compute_node_id=NODE)
        self.claims: dict[str, list[str]] = {u: [] for u in INSTANCES}

    def _pooled_type(self, address: str) -> str | None:
        """The pool ``dev_type`` of the first pooled device at ``address`` (update_device's)."""
        for pool in self.book.stats.pools:
            if any(held.address == address for held in pool.devices):
                return str(pool.key["dev_type"])
        return None

    def apply(self, events: tuple[tr.PoolEvent, ...]) -> None:
        for event in events:
            dev = event.device
            if event.op == tr.PoolOp.ENTER:
                if not event.created and self.book.holds(dev):
                    HITS["a device enters a pool it is already in (Nova pools it twice)"] += 1
            elif event.op == tr.PoolOp.LEAVE:
                if self.book.holds(dev):
                    HITS["a device left its pool"] += 1
            else:
                pooled_type = self._pooled_type(dev.address)
                if pooled_type is not None and pooled_type != dev.dev_type:
                    HITS["a changed type moved a pooled device"] += 1
                elif pooled_type is not None:
                    HITS["a pooled device changed in place (kept its pool)"] += 1
            self.book.apply([event])

    def claim(self, address: str, uuid: str) -> None:
        tree = ds.claim(self.state.tree, address, uuid).tree
        self.state = self.state.with_tree(tree)
        self.claims[uuid].append(address)
        self.book.take(tree, address)

    def pooled(self) -> list[str]:
        """What Nova's claim can pick: a pooled device, of those tracked now."""
        tree = self.state.tree
        return sorted(a for a, d in tree.devices.items() if self.book.holds(d))

    def view(self) -> dict[str, Any]:
        tree = self.state.tree
        live = [d for d in tree.devices.values() if d.status != ds.Status.DELETED]
        devices = {d.address: (str(d.status), d.owner, d.dev_type, d.parent_addr, d.vendor_id,
                               d.product_id, d.numa_node, d.dev_id, d.label, dict(d.extra_info))
                   for d in live}
        links = {d.address: (p.address if (p := tree.parent(d.address)) else None,
                             [c.address for c in tree.children(d.address)]
                             if d.dev_type == model.TYPE_PF else [])
                 for d in live if d.status != ds.Status.REMOVED}
        pools = [(dict(p.key), p.count, [d.address for d in p.devices])
                 for p in self.book.stats.pools]
        return {"devices": devices, "links": links, "pools": pools, "stale": dict(self.state.stale),
                "remembered": set(self.state.to_be_removed_when_freed)}


# -- the steps -----------------------------------------------------------------------------------


def step_sync(nova: NovaSide, ours: Ours, found: list[dict[str, Any]]) -> bool:
    before = ours.state
    change = tr.sync(before, [tr.DiscoveredDevice.from_dict(d) for d in found])
    try:
        ours.apply(change.events)
    except CRASHES:
        with pytest.raises((nova_exception.PciDevicePoolEmpty, ValueError)):
            nova.sync(found)
        HITS["Nova's pools crash on a device whose key changed in place"] += 1
        return False
    nova.sync(found)
    ours.state = change.state
    assert change.warnings == tuple(nova.warnings())
    _count_sync(before, change, found)
    return True


def _count_sync(before: tr.TrackerState, change: tr.TrackerChange,
                found: list[dict[str, Any]]) -> None:
    after = change.state
    reported = {d["address"] for d in found}
    for event in change.events:
        if event.op == tr.PoolOp.ENTER:
            HITS["a new device is created available"] += 1
            if event.address in before.tree.devices:
                HITS["a deleted device reported again is created anew"] += 1
        elif event.op == tr.PoolOp.LEAVE:
            HITS["a vanished free device is removed"] += 1
        elif event.op == tr.PoolOp.MOVE:
            HITS["a free device's type change is a move"] += 1
        else:
            HITS["a free device takes new data in place"] += 1
            assert event.previous is not None
            old, new = event.previous.extra_info, event.device.extra_info
            if set(old) - set(new):
                HITS["a spec tag no longer reported leaves extra_info"] += 1
            if any(k not in tr.SPEC_TAGS and k not in found_keys(found, event.address)
                   for k in new):
                HITS["an extra_info key no longer reported stays"] += 1
    for warning in change.warnings:
        if "status 'removed'" in warning:
            HITS["a removed device vanished again before save: warned and remembered"] += 1
        else:
            HITS["a vanished busy device keeps its owner, with the warning"] += 1
    for address in set(after.stale) - set(before.stale):
        HITS["new data for a busy device is kept aside"] += 1
    for address in after.to_be_removed_when_freed & before.to_be_removed_when_freed & reported:
        dev = before.tree.devices.get(address)
        if dev is not None and dev.status in (ds.Status.CLAIMED, ds.Status.ALLOCATED):
            HITS["a remembered device came back while busy (still removed when freed)"] += 1


def found_keys(found: list[dict[str, Any]], address: str) -> set[str]:
    return set(next(d for d in found if d["address"] == address))


def step_free(nova: NovaSide, ours: Ours, how: str, uuid: str, address: str | None) -> bool:
    before = ours.state
    instance = nova.instances[uuid]
    status = {"free_instance": None, "free_claims": ds.Status.CLAIMED,
              "free_allocations": ds.Status.ALLOCATED}.get(how)
    if how == "free_device":
        assert address is not None
        change = tr.free(before, address)
    else:
        change = tr.free_instance(before, uuid, status)
    try:
        ours.apply(change.events)
    except CRASHES:  # pragma: no cover - a busy device is in no pool
        pytest.fail("a freed device was in a pool")
    if how == "free_device":
        nova.tracker.free_device(nova.dev(address), instance)
        ours.claims[uuid] = [a for a in ours.claims[uuid] if a != address]
    elif how == "free_instance":
        nova.tracker.free_instance(nova.context, instance)
        ours.claims[uuid] = []
    elif how == "free_claims":
        nova.tracker.free_instance_claims(nova.context, instance)
        ours.claims[uuid] = []
    else:
        nova.tracker.free_instance_allocations(nova.context, instance)
    ours.state = change.state
    assert change.warnings == tuple(nova.warnings()) == ()
    HITS[f"{how} ok"] += bool(change.events)
    _count_free(before, change)
    return True


def _count_free(before: tr.TrackerState, change: tr.TrackerChange) -> None:
    after = change.state
    freed = [a for a, d in before.tree.devices.items()
             if d.status in (ds.Status.CLAIMED, ds.Status.ALLOCATED)
             and after.tree[a].status != d.status]
    for address in freed:
        if address in before.stale:
            HITS["stale data is applied when the device is freed"] += 1
        if address in before.to_be_removed_when_freed:
            HITS["a remembered device is removed when freed"] += 1
            others = [a for a, d in after.tree.devices.items() if a != address
                      and d.status == ds.Status.AVAILABLE and before.tree[a].status != d.status]
            if others:
                HITS["devices freed with a remembered one enter no pool"] += 1
    if any(e.op == tr.PoolOp.ENTER for e in change.events):
        HITS["freed devices go back to the pools"] += 1


def step_claim(nova: NovaSide, ours: Ours, address: str, uuid: str) -> bool:
    try:
        ours.claim(address, uuid)
    except (ds.PciDeviceInvalidStatus, ds.PciDeviceVFInvalidStatus,
            ds.PciDevicePFInvalidStatus) as exc:
        # A pooled device the state machine refuses (a PF created, so pooled, while one of its
        # VFs was busy; a device pooled twice, then removed): Nova's claim fails the same way.
        with pytest.raises(nova_exception.NovaException) as theirs:
            nova.claim(address, uuid)
        assert (exc.code, exc.message) == (type(theirs.value).__name__, str(theirs.value))
        HITS["a pooled device the state machine refuses"] += 1
        return True
    except CRASHES:
        with pytest.raises((nova_exception.PciDevicePoolEmpty, ValueError)):
            nova.claim(address, uuid)
        HITS["Nova's pools crash on a device whose key changed in place"] += 1
        return False
    nova.claim(address, uuid)
    HITS["claim"] += 1
    return True


def step_allocate(nova: NovaSide, ours: Ours, uuid: str) -> bool:
    tree = ours.state.tree
    for address in ours.claims[uuid]:
        tree = ds.allocate(tree, address, uuid).tree
    ours.state = ours.state.with_tree(tree)
    ours.claims[uuid] = []
    nova.tracker.allocate_instance(nova.instances[uuid])
    HITS["allocate"] += 1
    return True


def step_save(nova: NovaSide, ours: Ours) -> bool:
    if any(d.status == ds.Status.REMOVED for d in ours.state.tree.devices.values()):
        HITS["save deletes the removed devices"] += 1
    ours.state = tr.save(ours.state)
    nova.tracker.save(nova.context)
    return True


def check(nova: NovaSide, ours: Ours, where: str) -> None:
    theirs, mine = nova.state(), ours.view()
    for part in ("devices", "links", "remembered", "stale", "pools"):
        assert mine[part] == theirs[part], (where, part)


@pytest.fixture(scope="module")
def device_spec(nova_oracle: Any) -> Iterator[None]:
    nova_oracle.conf.set_override("device_spec", SPEC, group="pci")
    yield
    nova_oracle.conf.clear_override("device_spec", group="pci")


OPS = ["sync", "sync", "sync", "bounce", "save", "claim", "claim", "claim", "allocate", "allocate",
       "free", "free"]


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(data=st.data())
def test_tracker_equals_novas(device_spec: None, data: st.DataObject) -> None:
    initial = [data.draw(reported(a, data.draw(st.sampled_from([0, 0, 1])))) for a in BASE
               if data.draw(st.integers(0, 5))]
    with contextlib.ExitStack() as stack:
        nova = NovaSide(initial, stack)
        ours = Ours(initial)
        check(nova, ours, "start")
        vanish = data.draw(st.sampled_from([0.1, 0.25]))
        saves = data.draw(st.booleans())  # save after each sync, as the resource tracker does
        for step in range(data.draw(st.integers(4, 20))):
            op = data.draw(st.sampled_from(OPS))
            tree = ours.state.tree
            busy = {a for a, d in tree.devices.items()
                    if d.status in (ds.Status.CLAIMED, ds.Status.ALLOCATED)}
            if op == "sync":
                ok = step_sync(nova, ours, data.draw(discovery(busy, vanish)))
                if ok and saves:
                    ok = step_save(nova, ours)
            elif op == "bounce":
                # The PFs of busy VFs vanish (saved), then come back: created available, in a
                # pool, while a VF of theirs is busy; freeing that VF pools the PF a second time.
                parents = {tree[a].parent_addr for a in busy}
                found = [data.draw(reported(a, 0)) for a in BASE]
                ok = (step_sync(nova, ours, [d for d in found if d["address"] not in parents])
                      and step_save(nova, ours) and step_sync(nova, ours, found))
            elif op == "save":
                ok = step_save(nova, ours)
            elif op == "claim":
                # what Nova's claim can pick: a pooled device, of those tracked now
                pooled = ours.pooled()
                if not pooled:
                    continue
                ok = step_claim(nova, ours, data.draw(st.sampled_from(pooled)),
                                data.draw(st.sampled_from(INSTANCES)))
            elif op == "allocate":
                holders = [u for u in INSTANCES if ours.claims[u]]
                if not holders:
                    continue
                ok = step_allocate(nova, ours, data.draw(st.sampled_from(holders)))
            else:
                held = sorted((a, tree[a].owner) for a in busy)
                if not held:
                    continue
                address, uuid = data.draw(st.sampled_from(held))
                how = data.draw(st.sampled_from(["free_instance", "free_claims", "free_allocations",
                                                 "free_allocations", "free_device"]))
                ok = step_free(nova, ours, how, str(uuid), address)
            if not ok:
                return
            check(nova, ours, f"step {step}: {op}")


def test_every_rule_is_reached(device_spec: None) -> None:
    """Runs after the generated test (same module, fixed seeds): every rule was exercised."""
    if not HITS:
        test_tracker_equals_novas(device_spec)
    wanted = [
        "a new device is created available", "a vanished free device is removed",
        "a device left its pool", "a vanished busy device keeps its owner, with the warning",
        "a remembered device is removed when freed", "new data for a busy device is kept aside",
        "stale data is applied when the device is freed", "a free device takes new data in place",
        "a pooled device changed in place (kept its pool)", "a free device's type change is a move",
        "a changed type moved a pooled device", "freed devices go back to the pools",
        "a spec tag no longer reported leaves extra_info",
        "an extra_info key no longer reported stays", "save deletes the removed devices",
        "a deleted device reported again is created anew",
        "devices freed with a remembered one enter no pool",
        "a remembered device came back while busy (still removed when freed)",
        "a removed device vanished again before save: warned and remembered",
        "Nova's pools crash on a device whose key changed in place",
        "a pooled device the state machine refuses",
        "a device enters a pool it is already in (Nova pools it twice)",
        "claim", "allocate", "free_instance ok", "free_claims ok", "free_allocations ok",
        "free_device ok"]
    short = {k: HITS[k] for k in wanted if HITS[k] < MIN_HITS}
    assert not short, f"rules reached fewer than {MIN_HITS} times: {short} (all: {dict(HITS)})"


def _nova_tracker(stack: contextlib.ExitStack, devices: list[Any]) -> Any:
    stack.enter_context(mock.patch.object(
        nova_objects.PciDeviceList, "get_by_compute_node",
        return_value=nova_objects.PciDeviceList(objects=devices)))
    log = stack.enter_context(mock.patch.object(nova_manager, "LOG"))
    node = nova_objects.ComputeNode(id=NODE, numa_topology=None)
    return nova_manager.PciDevTracker(nova_context.RequestContext(), node), log


def _nova_device(dev: ds.TrackedDevice, ident: int) -> Any:
    return nova_objects.PciDevice(
        id=ident, compute_node_id=NODE, address=dev.address, dev_type=dev.dev_type,
        status=str(dev.status), parent_addr=dev.parent_addr, instance_uuid=dev.owner,
        request_id=None, vendor_id=dev.vendor_id, product_id=dev.product_id,
        numa_node=dev.numa_node, dev_id=dev.dev_id, label=dev.label,
        extra_info=dict(dev.extra_info))


def test_an_owned_device_that_is_not_busy_is_kept_with_the_owner_error(device_spec: None) -> None:
    """A database row with an owner but a free status (an inconsistency Nova guards against):
    when it vanishes, Nova refuses to remove it with PciDeviceInvalidOwner, warns, remembers it."""
    gpu = ds.TrackedDevice("0000:05:00.0", model.TYPE_PCI, ds.Status.UNAVAILABLE, owner=A,
                           vendor_id="8086", product_id="0b2b", numa_node=0)
    with contextlib.ExitStack() as stack:
        nova, log = _nova_tracker(stack, [_nova_device(gpu, 1)])
        nova._set_hvdevs([])
        theirs = [c.args[0] % c.args[1] for c in log.warning.call_args_list]
        remembered = set(nova.to_be_removed_when_freed)
    change = tr.sync(tr.TrackerState(ds.DeviceTree([gpu], NODE)), [])
    assert list(change.warnings) == theirs and len(theirs) == 1
    assert f"because of PCI device {NODE}:0000:05:00.0 is owned by {A} instead of None" in theirs[0]
    assert change.state.to_be_removed_when_freed == remembered == {gpu.address}
    assert change.tree[gpu.address].status == ds.Status.UNAVAILABLE and change.events == ()


def test_nova_cannot_find_a_device_whose_numa_node_changed_in_place(device_spec: None) -> None:
    """Nova's quirk, kept in the events: a free device whose NUMA node changes stays in the pool
    of its old node (UPDATE, not MOVE); when it then vanishes, Nova's pools look it up under the
    new node and the tracker's sync fails with PciDevicePoolEmpty."""
    record = {"address": "0000:05:00.0", "dev_type": model.TYPE_PCI, "vendor_id": "8086",
              "product_id": "0b2b", "numa_node": 0}
    dev = tr.updated(ds.TrackedDevice("0000:05:00.0", model.TYPE_PCI),
                     tr.DiscoveredDevice.from_dict(record))
    moved = tr.sync(tr.TrackerState(ds.DeviceTree([dev], NODE)), [
        tr.DiscoveredDevice.from_dict({**record, "numa_node": 1})])
    (event,) = moved.events
    assert event.op == tr.PoolOp.UPDATE and event.previous is not None
    assert (event.previous.numa_node, event.device.numa_node) == (0, 1)
    gone = tr.sync(moved.state, [])
    assert [e.op for e in gone.events] == [tr.PoolOp.LEAVE] and gone.events[0].device.numa_node == 1
    with contextlib.ExitStack() as stack:
        nova, _ = _nova_tracker(stack, [_nova_device(dev, 1)])
        nova._set_hvdevs([{**record, "numa_node": 1}])
        assert [p["numa_node"] for p in nova.stats.pools] == [0]  # the pool kept its old key
        with pytest.raises(nova_exception.PciDevicePoolEmpty):
            nova._set_hvdevs([])
