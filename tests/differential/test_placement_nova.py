"""Differential: the Placement view equals what Nova's ``pci_placement_translator`` puts in the tree.

Nova's side is the real ``update_provider_tree_for_pci`` on Nova's own ``ProviderTree``
(a compute node root only), with a tracker made in memory: its device filter is a real
``Whitelist`` parsed from the same values (sysfs probes answered from the same host facts)
and its devices are ``PciDevice`` objects of the devices that filter accepts, in the same
order. ``[pci] report_in_placement`` is on; Placement holds no allocation.

Generated hosts: PFs with VFs (a child sometimes a vDPA device, rarely a VF without a
parent), type-PCI devices; generated device_spec values: by ids, by PF address (its VFs
too), by globs and single VF addresses, rarely by devname, with resource_class, traits,
physical_network, live_migratable and one_time_use tags. Both sides must agree on every
provider (name, inventory, traits, which devices get its uuid) or, when Nova raises, on the
error: our first refusal has Nova's class and message (where Nova leaks a bare Python error,
the class we map it to). A test-side counter checks that every rule is reached.
"""

from __future__ import annotations

import collections
import json
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import model, placement, spec
from support import require_module

nova_objects = require_module("nova.objects")
nova_translator = require_module("nova.compute.pci_placement_translator")
nova_tree = require_module("nova.compute.provider_tree")
nova_whitelist = require_module("nova.pci.whitelist")

pytestmark = pytest.mark.nova
nova_objects.register_all()

HOST = "cmp-1"
ROOT_UUID = "00000000-0000-0000-0000-0000000000aa"
CONSUMER = "11111111-1111-1111-1111-111111111111"
EXAMPLES = 1000
MIN_HITS = 20
HITS: collections.Counter[str] = collections.Counter()

# PF address -> (vendor, PF product, VF product, netdev)
PFS = {"0000:0a:00.0": ("8086", "1572", "154c", "ens1f0"),
       "0000:3b:00.0": ("15b3", "1017", "1018", "ens2f0"),
       "0000:81:00.0": ("8086", "1572", "154c", "ens3f0")}
PCIS = {"0000:af:00.0": ("10de", "1db6"), "0000:05:00.0": ("10de", "1db6"),
        "0000:d8:00.0": ("8086", "0b2b")}
RESOURCE_CLASSES = ["pgpu", "VGPU", "a16 16a!", "CUSTOM_GPU", "custom_gpu", "gpu", "", "CUSTOM_A B",
                    "ß", "custom_x.y", "  ", 5, None]
TRAITS = ["a, big", "hw_cpu_x86_avx", "HW_CPU_X86_AVX,CUSTOM_Y", "", "CUSTOM_FAST", " CUSTOM_X",
          "my-awesome-gpu", "x,,y", "custom_a b", ["a"], 0]
PHYSNETS = ["physnet0", "", None, True, 0, []]
BOOLS = ["true", "false", "yes", "0"]


@st.composite
def host(draw: st.DrawFn) -> list[model.Device]:
    devices = []
    for pf, (vendor, pf_product, vf_product, _) in PFS.items():
        if not draw(st.integers(0, 3)):
            continue
        prefix = pf[:-1]
        devices.append(model.Device(pf, vendor, pf_product, dev_type=model.TYPE_PF,
                                    sriov_totalvfs=8, sriov_vf_device=vf_product))
        for fn in range(1, draw(st.integers(0, 4)) + 1):
            kind = draw(st.sampled_from([model.TYPE_VF] * 16 + [model.TYPE_VDPA] * 4 + ["orphan"]))
            if kind == "orphan":
                devices.append(model.Device(f"{prefix}{fn}", vendor, vf_product, dev_type=model.TYPE_VF))
            else:
                devices.append(model.Device(f"{prefix}{fn}", vendor, vf_product, dev_type=kind,
                                            parent_addr=pf))
    for address, (vendor, product) in PCIS.items():
        if draw(st.booleans()):
            devices.append(model.Device(address, vendor, product, dev_type=model.TYPE_PCI))
    return draw(st.permutations(devices))


@st.composite
def spec_value(draw: st.DrawFn, devices: list[model.Device]) -> str:
    form = draw(st.integers(0, 39))
    target = draw(st.sampled_from(devices)) if devices else model.Device("0000:0a:00.0", "8086", "1572")
    obj: dict[str, Any]
    if form == 0:
        obj = {"devname": PFS.get(target.parent_addr or target.address, ("", "", "", "ens9"))[3]}
    elif form < 6:
        obj = {"vendor_id": target.vendor_id, "product_id": target.product_id}
    elif form < 10:
        obj = {"address": target.parent_addr or target.address}
    elif form < 13:
        obj = {"address": target.address[:-1] + "*"}
    elif form < 20:
        obj = {"address": target.address}
    else:
        obj = {"address": target.address[:-1] + draw(st.sampled_from("01234*"))}
    for key, choices, odds in (("resource_class", RESOURCE_CLASSES, 2), ("traits", TRAITS, 2),
                               ("physical_network", PHYSNETS, 6),
                               ("live_migratable", BOOLS, 4), ("one_time_use", BOOLS, 12)):
        if draw(st.integers(0, odds)) == 0:
            obj[key] = draw(st.sampled_from(choices))
    return json.dumps(obj)


@st.composite
def per_vf_specs(draw: st.DrawFn, devices: list[model.Device]) -> list[str]:
    """One spec per VF of one PF, few choices of class and traits: mixed VFs, or one provider."""
    children = [d for d in devices if d.parent_addr]
    if not children:
        return []
    parent = draw(st.sampled_from(children)).parent_addr
    out = []
    for dev in devices:
        if dev.parent_addr != parent:
            continue
        obj: dict[str, Any] = {"address": dev.address}
        for key, choices in (("resource_class", ["CUSTOM_A", "custom_a", None]),
                             ("traits", ["X", "x", "X,Y"]), ("live_migratable", ["true", None])):
            value = draw(st.sampled_from(choices))
            if value is not None:
                obj[key] = value
        out.append(json.dumps(obj))
    return out


def facts_of(devices: list[model.Device]) -> model.HostFacts:
    facts = model.HostFacts.from_devices(devices)
    netdevs = {PFS[d.address][3]: d.address for d in devices if d.address in PFS}
    return model.HostFacts(pfs=facts.pfs, netdevs=netdevs)


def nova_device(dev: model.Device, allocated: set[str]) -> Any:
    busy = dev.address in allocated
    return nova_objects.PciDevice(
        address=dev.address, vendor_id=dev.vendor_id, product_id=dev.product_id,
        dev_type=dev.dev_type, parent_addr=dev.parent_addr, numa_node=0,
        status="allocated" if busy else "available", instance_uuid=CONSUMER if busy else None,
        extra_info={}, compute_node_id=1)


def nova_view(nova_oracle: Any, values: list[str], devices: list[model.Device],
              facts: model.HostFacts, allocated: set[str]) -> tuple[Any, list[Any], list[str]]:
    """Nova's provider tree (or its exception), its devices, and the addresses it tracks."""
    with nova_oracle.probes(facts), nova_oracle.report_in_placement(True):
        wl = nova_whitelist.Whitelist(values)
        tracked = [d for d in devices if wl.device_assignable(nova_oracle.device_dict(d))]
        pci_devs = [nova_device(d, allocated) for d in tracked]
        tracker = mock.Mock(pci_devs=pci_devs, dev_filter=wl)
        tree = nova_tree.ProviderTree()
        tree.new_root(HOST, ROOT_UUID)
        try:
            with mock.patch.object(nova_translator, "LOG"):
                nova_translator.update_provider_tree_for_pci(tree, HOST, tracker, {}, [])
        except Exception as exc:  # noqa: BLE001 - the oracle's error is the result compared
            return exc, pci_devs, [d.address for d in tracked]
        return tree, pci_devs, [d.address for d in tracked]


def tree_providers(tree: Any) -> dict[str, tuple[dict[str, Any], set[str]]]:
    out = {}
    for uuid in tree.get_provider_uuids():
        data = tree.data(uuid)
        if data.name != HOST:
            out[data.name] = (dict(data.inventory), set(data.traits))
    return out


def our_providers(view: placement.PlacementView) -> dict[str, tuple[dict[str, Any], set[str]]]:
    out = {}
    for p in view.providers:
        inv: dict[str, Any] = {"total": p.inventory.total, "max_unit": p.inventory.max_unit}
        if p.inventory.reserved is not None:
            inv["reserved"] = p.inventory.reserved
        out[p.name] = ({p.inventory.resource_class: inv}, set(p.traits))
    return out


#: Where Nova leaks a bare Python error, the code we refuse with.
LEAKED = {"ValueError": "PlacementPciException", "AttributeError": "PlacementPciTagNotText"}


def count(view: placement.PlacementView, values: list[str], allocated: set[str]) -> None:
    for problem in view.refusals[:1]:
        HITS[f"refused first: {problem.code}"] += 1
    for problem in view.refusals:
        if "one_time_use" in problem.message:
            HITS["one_time_use on a VF refused"] += 1
        if "devname" in problem.message:
            HITS["devname spec refused"] += 1
        if "Missing parent" in problem.message:
            HITS["VF without a parent"] += 1
    for ex in view.exclusions:
        HITS[f"excluded: {ex.reason}"] += 1
    if view.refusals:
        return
    for p in view.providers:
        HITS[f"provider of {p.dev_type}"] += 1
        rc = p.inventory.resource_class
        HITS["rc from vendor/product" if rc.startswith("CUSTOM_PCI_") else
             "standard rc" if rc in placement.STANDARD_RESOURCE_CLASSES else "custom rc"] += 1
        if "HW_PCI_LIVE_MIGRATABLE" in p.traits:
            HITS["live migratable trait"] += 1
        if p.one_time_use:
            HITS["one-time-use reserved" if p.inventory.reserved else "one-time-use free"] += 1
        if any(t.startswith("CUSTOM_") for t in p.traits):
            HITS["custom trait"] += 1
        if len(p.devices) > 1:
            HITS["several VFs on one provider"] += 1
    codes = {w.code for w in view.warnings}
    HITS["a name Placement refuses"] += "PlacementNameInvalid" in codes
    HITS["a trait its writer did not mean"] += "PlacementTraitNotStandard" in codes


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(data=st.data())
def test_placement_view_equals_novas(nova_oracle: Any, data: st.DataObject) -> None:
    devices = data.draw(host())
    mode = data.draw(st.integers(0, 7))
    with_vfs = {d.parent_addr for d in devices}
    parents = [d.address for d in devices
               if d.dev_type in placement.PARENT_TYPES and d.address not in with_vfs]
    if mode < 2:
        values = data.draw(per_vf_specs(devices)) or ['{"vendor_id": "8086"}']
    elif mode == 2 and parents:
        values = [json.dumps({"address": a, "one_time_use": data.draw(st.sampled_from(BOOLS)),
                              "resource_class": data.draw(st.sampled_from(RESOURCE_CLASSES))})
                  for a in data.draw(st.lists(st.sampled_from(parents), min_size=1, max_size=3))]
    else:
        values = data.draw(st.lists(spec_value(devices), min_size=1, max_size=4))
    facts = facts_of(devices)
    parsed = spec.parse_device_spec_values(values, facts, report_in_placement=True)
    if not parsed.valid:  # parsing is test_spec_nova's; Nova refuses these before translating
        return
    addresses = [d.address for d in devices]
    pool = parents if mode == 2 and parents else addresses
    allocated = set(data.draw(st.lists(st.sampled_from(pool), max_size=2))) if pool else set()
    nova_out, nova_devs, nova_tracked = nova_view(nova_oracle, values, devices, facts, allocated)
    tracked = [d for d in devices if spec.first_match(parsed.specs, d) is not None]
    assert [d.address for d in tracked] == nova_tracked
    view = placement.translate(HOST, tracked, parsed.specs,
                               allocated={a: CONSUMER for a in allocated})
    count(view, values, allocated)
    if isinstance(nova_out, Exception):
        name = type(nova_out).__name__
        assert view.refusals, f"Nova raised {name}: {nova_out}; we refused nothing"
        first = view.refusals[0]
        assert first.code == LEAKED.get(name, name), (first, nova_out)
        if name not in LEAKED:
            assert first.message == str(nova_out)
        return
    assert not view.refusals, f"we refused {view.refusals[0]}; Nova reported"
    assert our_providers(view) == tree_providers(nova_out)
    by_uuid = {nova_out.data(u).uuid: nova_out.data(u).name for u in nova_out.get_provider_uuids()}
    nova_members = {d.address: by_uuid[d.extra_info["rp_uuid"]] for d in nova_devs
                    if "rp_uuid" in d.extra_info}
    ours = {a: p.name for p in view.providers for a in p.devices}
    assert ours == nova_members


def test_every_rule_is_reached(nova_oracle: Any) -> None:
    """Runs after the generated test (same module, fixed seeds): every rule was exercised."""
    if not HITS:
        test_placement_view_equals_novas(nova_oracle)
    wanted = [
        "refused first: PlacementPciDependentDeviceException",
        "refused first: PlacementPciMixedResourceClassException",
        "refused first: PlacementPciMixedTraitsException",
        "refused first: PlacementPciException", "refused first: PlacementPciTagNotText",
        "one_time_use on a VF refused", "devname spec refused", "VF without a parent",
        "excluded: physical_network", "excluded: refused",
        "provider of type-PF", "provider of type-VF", "provider of type-PCI", "provider of vdpa",
        "rc from vendor/product", "standard rc", "custom rc", "live migratable trait",
        "one-time-use reserved", "one-time-use free", "custom trait", "several VFs on one provider",
        "a name Placement refuses", "a trait its writer did not mean"]
    short = {k: HITS[k] for k in wanted if HITS[k] < MIN_HITS}
    assert not short, f"rules reached fewer than {MIN_HITS} times: {short} (all: {dict(HITS)})"
