"""The doctor's alias mapping and the pools decide with one rule: they cannot drift.

The doctor says which devices an alias (or any request) reaches with
``mapping.reaches``; the scheduling core says which devices survive the pool
filters (``pools.filter_pools`` over ``pools.build``). Both ask
``pools.accepts``; these tests pin that the answers stay equal, over generated
hosts, device_spec tags and requests, and on the two values the doctor once
compared by hand (``PHYSNET2`` against ``physnet2``, a JSON ``true`` tag against
``"true"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import alias as alias_mod
from pcipass.core import config, model, pools, spec, strutils
from pcipass.core import spec_address as addr
from pcipass.doctor import mapping
from pcipass.doctor import model as dm

TYPES = (model.TYPE_PCI, model.TYPE_PF, model.TYPE_VF, model.TYPE_VDPA)
#: Tag values as a device_spec gives them: JSON strings in both cases, JSON bools and numbers.
TAG_VALUES: dict[str, tuple[Any, ...]] = {
    "physical_network": ("physnet2", "PHYSNET2", "physnet1"),
    "trusted": (True, False, "true", "True", "false"),
    "remote_managed": ("true", "false", True, "False"),
    "live_migratable": ("true", "false"),
    "capability_type": ("pci", 1),
    "resource_class": ("CUSTOM_A",),
    "foo": (1, "1", None),
}
#: Request values: what aliases and ports send (strings), in both cases.
REQUEST_VALUES: dict[str, tuple[str | None, ...]] = {
    "vendor_id": ("8086", "15B3", "15b3"),
    "product_id": ("10ed", "10ED", "10fb"),
    "dev_type": TYPES,
    "physical_network": ("physnet2", "PHYSNET2", "physnet1", None),
    "trusted": ("true", "True", "false"),
    "remote_managed": ("true", "True", "false", "False"),
    "live_migratable": ("true", "false"),
    "capability_type": ("pci", "1"),
    "resource_class": ("CUSTOM_B",),
    "traits": ("CUSTOM_T",),
    "numa_node": ("0", "1"),
    "parent_ifname": ("eth0", "ETH0"),
    "foo": ("1",),
}


def _device(i: int, vendor: str, product: str, dev_type: str, numa: int | None, netdev: bool,
            serial: bool, pf: str | None) -> model.Device:
    return model.Device(address=f"0000:5e:{i:02x}.0", vendor_id=vendor, product_id=product,
                        dev_type=dev_type, numa_node=numa, netdevs=(f"eth{i}",) if netdev else (),
                        card_serial_number="SN1" if serial else None,
                        parent_addr=pf if dev_type in (model.TYPE_VF, model.TYPE_VDPA) else None)


@st.composite
def hosts(draw: st.DrawFn) -> list[model.Device]:
    """Up to 7 devices with distinct addresses; VFs and vDPA devices may hang off a PF of the host."""
    out: list[model.Device] = []
    for i in range(draw(st.integers(1, 7))):
        dev_type = draw(st.sampled_from(TYPES))
        pfs = [d.address for d in out if d.dev_type == model.TYPE_PF]
        out.append(_device(i, draw(st.sampled_from(("8086", "15b3"))), draw(st.sampled_from(("10ed", "10fb"))),
                           dev_type, draw(st.sampled_from((None, 0, 1))), draw(st.booleans()),
                           draw(st.booleans()), draw(st.sampled_from((None, *pfs)))))
    return out


tag_sets = st.dictionaries(st.sampled_from(sorted(TAG_VALUES)), st.none(), max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: st.sampled_from(TAG_VALUES[k]) for k in keys}))
request_specs = st.dictionaries(st.sampled_from(sorted(REQUEST_VALUES)), st.none(), max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: st.sampled_from(REQUEST_VALUES[k]) for k in keys}))


def _entries(devices: Sequence[model.Device], tags: Sequence[Mapping[str, Any]]) -> list[spec.SpecEntry]:
    """One device_spec entry per device, by its address, with its tags (as the parser leaves them)."""
    out = []
    for i, (dev, t) in enumerate(zip(devices, tags)):
        glob = addr.GlobAddress(*addr.device_fields(dev.address))
        s = spec.DeviceSpec(address=glob, tags=dict(t), raw={"address": dev.address, **t},
                            remote_managed=strutils.lenient_bool(t.get(spec.REMOTE_MANAGED)))
        out.append(spec.SpecEntry(i, i, None, s))
    return out


def _config(devices: Sequence[model.Device], entries: Sequence[spec.SpecEntry]) -> dm.ConfigFacts:
    matches = {d.address: spec.first_match(entries, d) for d in devices}
    parsed = spec.SpecParseResult(list(entries), [], [])
    return dm.ConfigFacts(("nova.conf",), config.NovaConfig(files=["nova.conf"]), parsed,
                          alias_mod.AliasParseResult({}, [], []), (), (), matches, True, {})


def _doctor(specs: Sequence[Mapping[str, Any]], devices: Sequence[model.Device],
            entries: Sequence[spec.SpecEntry]) -> list[str]:
    facts = dm.DeviceFacts.of(list(devices), "sysfs")
    return [d.address for d, _ in mapping.request_devices(specs, _config(devices, entries), facts)]


def _pools(specs: Sequence[Mapping[str, Any]], devices: Sequence[model.Device],
           entries: Sequence[spec.SpecEntry]) -> list[str]:
    """What the compute's pools give a request for these specs, counts and NUMA aside."""
    stats = pools.build(devices, entries)
    kept = pools.filter_pools(stats.pools, pools.Request(0, tuple(specs)), None, None) or []
    reached = {d.address for p in kept for d in p.devices}
    return [d.address for d in devices if d.address in reached]


@settings(max_examples=300)
@given(devices=hosts(), data=st.data(),
       specs=st.lists(request_specs, min_size=1, max_size=2))
def test_the_doctor_reaches_exactly_the_devices_the_pools_keep(
        devices: list[model.Device], data: st.DataObject, specs: list[dict[str, str | None]]) -> None:
    tags = data.draw(st.lists(tag_sets, min_size=len(devices), max_size=len(devices)))
    entries = _entries(devices, tags)
    assert _doctor(specs, devices, entries) == _pools(specs, devices, entries)


@settings(max_examples=200)
@given(devices=hosts(), data=st.data(), specs=st.lists(request_specs, min_size=1, max_size=2))
def test_what_the_claim_takes_the_scheduler_counts(
        devices: list[model.Device], data: st.DataObject, specs: list[dict[str, str | None]]) -> None:
    """String requests: a pool the compute's view keeps, the scheduler's view keeps too (the
    reverse fails for JSON tags, which is why the doctor asks the compute's view)."""
    tags = data.draw(st.lists(tag_sets, min_size=len(devices), max_size=len(devices)))
    request = pools.Request(0, tuple(specs))
    for pool in pools.build(devices, _entries(devices, tags)).pools:
        if pools.accepts(pool.key, request):
            assert pools.accepts(pools.scheduler_key(pool.key), request)


def _one_vf(tags: Mapping[str, Any]) -> tuple[list[model.Device], list[spec.SpecEntry]]:
    devices = [_device(0, "8086", "10fb", model.TYPE_PF, 0, True, False, None),
               _device(1, "8086", "10ed", model.TYPE_VF, 0, True, False, "0000:5e:00.0")]
    return devices, _entries(devices, [{}, tags])


def test_a_physnet_in_another_case_is_the_same_physnet() -> None:
    devices, entries = _one_vf({"physical_network": "physnet2"})
    specs = [{"vendor_id": "8086", "product_id": "10ed", "physical_network": "PHYSNET2"}]
    assert _doctor(specs, devices, entries) == _pools(specs, devices, entries) == ["0000:5e:01.0"]


def test_a_json_true_tag_is_not_the_string_true_at_the_claim() -> None:
    devices, entries = _one_vf({"trusted": True})
    specs = [{"vendor_id": "8086", "trusted": "true"}]
    assert _doctor(specs, devices, entries) == _pools(specs, devices, entries) == []
    # the scheduler's view coerces the tag to "True" and counts the VF: Nova reschedules
    key = pools.pool_key(devices[1], entries[1].spec.tags)
    assert pools.accepts(pools.scheduler_key(key), pools.Request(1, tuple(specs)))


def test_the_doctor_leaves_out_what_the_pools_never_give_an_alias() -> None:
    """Remote-managed and vDPA devices go only to ports that name them; PFs only to type-PF."""
    devices = [_device(0, "8086", "10fb", model.TYPE_PF, 0, False, True, None),
               _device(1, "8086", "10ed", model.TYPE_VF, 0, False, True, "0000:5e:00.0"),
               _device(2, "8086", "10ed", model.TYPE_VF, 0, False, True, "0000:5e:00.0"),
               _device(3, "8086", "10ed", model.TYPE_VDPA, 0, False, True, "0000:5e:00.0")]
    entries = _entries(devices, [{}, {"remote_managed": "true"}, {}, {}])
    specs = [{"vendor_id": "8086"}]
    assert _doctor(specs, devices, entries) == _pools(specs, devices, entries) == ["0000:5e:02.0"]
