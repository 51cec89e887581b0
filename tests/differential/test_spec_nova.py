"""``[pci] device_spec`` parsing and matching, compared with the real Nova.

Hypothesis generates host facts (PFs with VFs, netdevs), spec dicts (ids in
every lenient and invalid form, glob and regex addresses, devname, tags) and
devices. Nova's sysfs probes answer from the same facts (see conftest). Both
sides must agree on accept/reject, error class and message, the normalized
spec, and the match result on every device.

Deliberate differences are excluded explicitly below; each is listed in
``docs/compat.md`` (device_spec section).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from support import require_module
from hypothesis import event, given, settings
from hypothesis import strategies as st

from pcipass.core import errors, model, spec

require_module("nova")

pytestmark = pytest.mark.nova

SETTINGS = settings(max_examples=400, deadline=None, derandomize=True)

# -- host facts --------------------------------------------------------------------------------

PF_ADDRS = ["0000:0a:00.0", "0000:0a:00.1", "0000:3b:00.0"]
VF_ADDRS = {pf: [f"0000:{pf[5:7]}:0{2 + int(pf[-1])}.{f}" for f in range(3)] for pf in PF_ADDRS}
OTHER_ADDRS = ["0000:00:02.0", "0000:81:00.0"]
NETDEVS = ["eth0", "eth1", "ens1f0", "p1p1"]
VENDORS = ["8086", "15b3"]
PRODUCTS = ["1572", "154c", "10fb", "1017", "1018"]


@st.composite
def host_facts(draw: st.DrawFn) -> model.HostFacts:
    pfs = {}
    for pf in draw(st.lists(st.sampled_from(PF_ADDRS), unique=True)):
        pfs[pf] = model.PfInfo(pf, draw(st.sampled_from(VENDORS)), draw(st.sampled_from(PRODUCTS)),
                               64, draw(st.sampled_from(PRODUCTS + [None])))
    everything = PF_ADDRS + [a for vfs in VF_ADDRS.values() for a in vfs] + OTHER_ADDRS
    netdevs = draw(st.dictionaries(st.sampled_from(NETDEVS), st.sampled_from(everything)))
    return model.HostFacts(pfs=pfs, netdevs=netdevs)


@st.composite
def devices(draw: st.DrawFn, facts: model.HostFacts | None = None) -> model.Device:
    """A device; with ``facts``, PFs and VFs usually carry their PF's real ids."""
    kind = draw(st.sampled_from(["pf", "vf", "vf", "other"]))
    parent = None
    vendor = draw(st.sampled_from(VENDORS + ["ABCD"]))
    product = draw(st.sampled_from(PRODUCTS))
    if kind == "pf":
        address = draw(st.sampled_from(PF_ADDRS))
    elif kind == "vf":
        parent = draw(st.sampled_from(PF_ADDRS))
        address = draw(st.sampled_from(VF_ADDRS[parent]))
    else:
        address = draw(st.sampled_from(OTHER_ADDRS))
    pf = facts.pfs.get(parent or address) if facts is not None else None
    if pf is not None and draw(st.integers(0, 3)) > 0:
        vendor = pf.vendor_id
        product = (pf.vf_product_id or product) if parent else pf.product_id
    if parent and draw(st.integers(0, 4)) == 0:  # a parent_addr that is not really its PF
        parent = draw(st.sampled_from(PF_ADDRS + OTHER_ADDRS))
    if draw(st.integers(0, 9)) == 0:  # Nova normalizes the device side's address case
        address = address.upper()
    return model.Device(
        address=address, vendor_id=vendor, product_id=product, parent_addr=parent,
        card_serial_number=draw(st.sampled_from([None, "", "MT2116X09299"])))


@st.composite
def hosts(draw: st.DrawFn) -> tuple[model.HostFacts, list[model.Device]]:
    facts = draw(host_facts())
    return facts, draw(st.lists(devices(facts), max_size=8))


# -- spec dicts --------------------------------------------------------------------------------

ID_SAMPLES = ["8086", "0x8086", " 8086 ", "8_086", "86", "ABCD", "*", " * ", "", "xyz", "80860",
              "-1", "+1", "0X15b3", "15B3", "1572", "154c", "10fb", "1017", "1018", "0x", "_1"]
ids = st.one_of(st.sampled_from(ID_SAMPLES),
                st.text(alphabet="0123456789abcdefABCDEFx_ *-+", max_size=6))
non_string_ids = st.sampled_from([8086, 0, None, 1.5, True, ["8086"], {"a": 1}])

FIELD_SAMPLES = ["*", "", " ", "0", "00", "0a", "0A", "0x0a", "3b", "1f", "20", "-1", "100", "zz",
                 "0*", "[0-3]", "0000", "ffff", "10000", " 0a "]
FUNC_SAMPLES = ["", "0", "1", "7", "8", "*", " ", "1.2", "?", "0x1", "-1"]


@st.composite
def glob_addresses(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(alphabet="0123456789abcdef:.* -x", max_size=14))
    if draw(st.booleans()):
        return draw(st.sampled_from(PF_ADDRS + [a.upper() for a in PF_ADDRS] + OTHER_ADDRS
                                    + VF_ADDRS[PF_ADDRS[0]]))
    dbs = ":".join(draw(st.lists(st.sampled_from(FIELD_SAMPLES), min_size=1, max_size=4)))
    if draw(st.booleans()):
        return dbs
    return f"{dbs}.{draw(st.sampled_from(FUNC_SAMPLES))}"


REGEX_SAMPLES = [".*", "0", "0a", "0000", "00", "0[ab]", "0A", "(0a", "*", "a|b", "3b", "[0-2]",
                 "", "0*", "0a$", "1"]
regex_addresses = st.dictionaries(
    st.sampled_from(["domain", "bus", "slot", "function", "unknown"]),
    st.one_of(st.sampled_from(REGEX_SAMPLES), st.sampled_from([None, 0, ["0"]])), max_size=5)
addresses: st.SearchStrategy[Any] = st.one_of(glob_addresses(), regex_addresses,
                      st.sampled_from([None, "", 0, False, [], {}, [1], 5, True, 1.5]))

BOOL_VALUES = ["yes", "no", "true", "FALSE", "1", "0", "on", "off", "y", "n", "t", "f", " yes ",
               True, False, 1, 0, 2, None, "bogus", 1.0, "", "True"]
devnames = st.one_of(st.sampled_from(NETDEVS + ["eth9"]), st.sampled_from(["", None, 0, False, 5]))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5))

spec_dicts = st.fixed_dictionaries({}, optional={
    "vendor_id": st.one_of(ids, non_string_ids),
    "product_id": st.one_of(ids, non_string_ids),
    "address": addresses,
    "devname": devnames,
    "physical_network": st.sampled_from(["physnet1", "", None]),
    "trusted": st.sampled_from(["true", "yes", True]),
    "remote_managed": st.sampled_from(BOOL_VALUES),
    "managed": st.sampled_from(BOOL_VALUES),
    "live_migratable": st.sampled_from(BOOL_VALUES),
    "one_time_use": st.sampled_from(BOOL_VALUES),
    "resource_class": st.sampled_from(["CUSTOM_A", "pgpu"]),
    "traits": st.sampled_from(["A,B", "HW_GPU_API_VULKAN"]),
    "physical_netwrok": st.just("physnet1"),
    "Vendor_ID": st.just("8086"),
}).flatmap(lambda d: st.dictionaries(st.text(max_size=4), json_scalars, max_size=2).map(
    lambda extra: {**extra, **d}))


# -- comparison --------------------------------------------------------------------------------


def nova_view(nova_spec: Any) -> dict[str, Any]:
    """Nova's parsed spec in comparable form (address resolved as at match time)."""
    address_obj = nova_spec._address_obj()
    fields = None
    if address_obj is not None:
        a = address_obj.pci_address_spec
        fields = (a.domain, a.bus, a.slot, a.func)
    return {
        "vendor_id": nova_spec.vendor_id,
        "product_id": nova_spec.product_id,
        "address": fields,
        "physical_function": bool(address_obj and address_obj.is_physical_function),
        "remote_managed": nova_spec._remote_managed,
        "tags": json.dumps(nova_spec.tags, sort_keys=True),
    }


def our_view(ours: spec.DeviceSpec) -> dict[str, Any]:
    return {
        "vendor_id": ours.vendor_id,
        "product_id": ours.product_id,
        "address": ours.address.fields if ours.address is not None else None,
        "physical_function": ours.physical_function,
        "remote_managed": ours.remote_managed,
        "tags": json.dumps(ours.tags, sort_keys=True),
    }


def run_nova(raw: dict[str, Any]) -> Any:
    """Nova's PciDeviceSpec, or the exception it raised."""
    from nova.pci import devspec

    try:
        return devspec.PciDeviceSpec(copy.deepcopy(raw))
    except Exception as exc:  # noqa: BLE001 - the oracle's outcome, whatever it is
        return exc


def run_ours(raw: dict[str, Any], facts: model.HostFacts, rip: bool) -> Any:
    try:
        return spec.parse_spec(raw, facts, report_in_placement=rip)
    except errors.PcipassError as exc:
        return exc


def is_documented_difference(raw: dict[str, Any], nova_out: Any, ours: Any) -> bool:
    """Cases where we differ from Nova on purpose (docs/compat.md, device_spec)."""
    from nova import exception

    if isinstance(nova_out, (AttributeError, TypeError)):
        # compat.md: Nova leaks bare errors for non-string ids / regex patterns; we raise
        # a Nova-named error with a reason.
        assert isinstance(ours, (errors.PciConfigInvalidSpec, errors.PciDeviceWrongAddressFormat))
        return True
    devname = raw.get("devname")
    if devname and not isinstance(devname, str):
        # compat.md: a non-string devname is rejected (Nova looks up str(devname)).
        return True
    if isinstance(nova_out, exception.PciDeviceNotFoundById) and "object at 0x" in str(nova_out):
        # compat.md / nova-pci.md §9.7: remote_managed PF by address crashes in Nova;
        # we run the intended check instead.
        return True
    if isinstance(nova_out, exception.PciDeviceInvalidPFRemoteManaged):
        # compat.md: Nova's message is the bare PF address; ours is the documented text.
        assert type(ours).__name__ == "PciDeviceInvalidPFRemoteManaged", ours
        return True
    return False


def assert_same_spec(oracle: Any, raw: dict[str, Any], facts: model.HostFacts, rip: bool,
                     devs: list[model.Device]) -> None:
    from nova import exception

    with oracle.probes(facts), oracle.report_in_placement(rip):
        nova_out = run_nova(raw)
        ours = run_ours(raw, facts, rip)
        if is_documented_difference(raw, nova_out, ours):
            event(f"documented difference: {type(nova_out).__name__}")
            return
        event(f"nova: {type(nova_out).__name__}")
        if isinstance(nova_out, Exception):
            assert isinstance(nova_out, exception.NovaException), repr(nova_out)
            assert isinstance(ours, errors.PcipassError), (raw, nova_out, ours)
            assert (ours.code, ours.message) == (type(nova_out).__name__, str(nova_out))
            return
        assert isinstance(ours, spec.DeviceSpec), (raw, ours)
        assert our_view(ours) == nova_view(nova_out)
        event(f"physical_function {ours.physical_function}")
        for dev in devs:
            matched = ours.match(dev)
            event(f"match {matched}")
            assert matched == nova_out.match(oracle.device_dict(dev)), (raw, dev)
            assert (not ours.mismatches(dev)) == ours.match(dev)


@SETTINGS
@given(raw=spec_dicts, host=hosts(), rip=st.booleans())
def test_spec_matches_nova(nova_oracle: Any, raw: dict[str, Any],
                           host: tuple[model.HostFacts, list[model.Device]], rip: bool) -> None:
    facts, devs = host
    assert_same_spec(nova_oracle, raw, facts, rip, devs)


@st.composite
def pf_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Specs naming one device exactly (glob, regex or devname): Nova's PF parent rule applies."""
    target = draw(st.sampled_from(PF_ADDRS + VF_ADDRS[PF_ADDRS[0]]))
    d, b, rest = target.split(":")
    sl, fn = rest.split(".")
    form = draw(st.sampled_from(["glob", "short", "regex", "devname"]))
    forms: dict[str, dict[str, Any]] = {
        "glob": {"address": target},
        "short": {"address": f"{b}:{sl}.{fn}" if draw(st.booleans()) else f"{int(d, 16)}:{b}:{sl}"},
        "regex": {"address": {"domain": d, "bus": b, "slot": sl, "function": fn}},
        "devname": {"devname": draw(st.sampled_from(NETDEVS))},
    }
    raw = forms[form]
    for key, pool in (("vendor_id", VENDORS + ["*"]), ("product_id", PRODUCTS + ["*"]),
                      ("remote_managed", ["true", "false"])):
        if draw(st.booleans()):
            raw[key] = draw(st.sampled_from(pool))
    return raw


@settings(max_examples=250, deadline=None, derandomize=True)
@given(raw=pf_specs(), host=hosts())
def test_pf_address_specs_match_nova(nova_oracle: Any, raw: dict[str, Any],
                                     host: tuple[model.HostFacts, list[model.Device]]) -> None:
    facts, devs = host
    assert_same_spec(nova_oracle, raw, facts, False, devs)


@st.composite
def remote_managed_pf_specs(draw: st.DrawFn) -> tuple[dict[str, Any], model.HostFacts]:
    """remote_managed specs naming a PF by devname: the only form Nova checks as intended."""
    pf = draw(st.sampled_from(PF_ADDRS))
    info = model.PfInfo(pf, draw(st.sampled_from(VENDORS)), draw(st.sampled_from(PRODUCTS)),
                        8, draw(st.sampled_from(PRODUCTS + [None])))
    facts = model.HostFacts(pfs={pf: info}, netdevs={"eth0": pf})
    raw: dict[str, Any] = {"devname": "eth0", "remote_managed": "true"}
    if draw(st.booleans()):
        raw["vendor_id"] = draw(st.sampled_from([info.vendor_id, info.vendor_id, "*", *VENDORS]))
    if draw(st.integers(0, 4)) > 0:
        raw["product_id"] = draw(st.sampled_from(
            [p for p in (info.vf_product_id,) * 3 if p] + [info.product_id, "*", *PRODUCTS]))
    return raw, facts


@settings(max_examples=150, deadline=None, derandomize=True)
@given(case=remote_managed_pf_specs(), data=st.data())
def test_remote_managed_pf_by_devname_matches_nova(
        nova_oracle: Any, case: tuple[dict[str, Any], model.HostFacts], data: st.DataObject) -> None:
    raw, facts = case
    pf = next(iter(facts.pfs.values()))
    vfs = [model.Device(a, pf.vendor_id, pf.vf_product_id or "154c", parent_addr=pf.address,
                        card_serial_number=serial)
           for a, serial in zip(VF_ADDRS[pf.address], [None, "", "MT2116X09299"])]
    devs = vfs + data.draw(st.lists(devices(facts), max_size=4))
    assert_same_spec(nova_oracle, raw, facts, False, devs)


# -- value list (whitelist.Whitelist) ----------------------------------------------------------

JUNK_VALUES = ["{", "{'a': 1}", "1", '"x"', "null", "[1]", "[{}, 2]", "[]", '{"a": 1,}',
               '{"a": 1}{"b": 2}', "", " ", "[[]]", '[{"vendor_id": "8086"}, "x"]', "true",
               '{"address": "0000:0a:00.0"}', "NaN", "[" * 3000 + "]" * 3000]


@st.composite
def config_values(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.sampled_from(JUNK_VALUES))
    if choice == 1:
        return json.dumps(draw(st.lists(spec_dicts, max_size=3)))
    return json.dumps(draw(spec_dicts))


@SETTINGS
@given(values=st.lists(config_values(), max_size=4), host=hosts(), rip=st.booleans())
def test_value_list_matches_nova_whitelist(nova_oracle: Any, values: list[str],
                                           host: tuple[model.HostFacts, list[model.Device]],
                                           rip: bool) -> None:
    from nova.pci import whitelist

    facts, devs = host

    with nova_oracle.probes(facts), nova_oracle.report_in_placement(rip):
        try:
            nova_out: Any = whitelist.Whitelist(values)
        except (Exception, RecursionError) as exc:  # noqa: BLE001 - the oracle's outcome
            nova_out = exc
        ours = spec.parse_device_spec_values(values, facts, report_in_placement=rip)
        if _any_item_documented(values, facts, rip):
            event("value list holds a documented difference")
            return
        if isinstance(nova_out, Exception):
            event(f"whitelist: {type(nova_out).__name__}")
            first = ours.problems[0]
            if _first_failure_is_documented(values, facts, rip, nova_out):
                return
            assert (first.code, first.message) == (type(nova_out).__name__, str(nova_out))
            return
        event(f"whitelist ok, {len(ours.specs)} specs")
        assert ours.problems == []
        assert [our_view(e.spec) for e in ours.specs] == [nova_view(s) for s in nova_out.specs]
        assert [e.index for e in ours.specs] == list(range(len(ours.specs)))
        for dev in devs:  # first match wins, on both sides
            winner = nova_out.device_assignable(nova_oracle.device_dict(dev))
            nova_index = None if winner is None else nova_out.specs.index(winner)
            entry = spec.first_match(ours.specs, dev)
            assert (None if entry is None else entry.index) == nova_index, (values, dev)


def _decoded_items(values: list[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for value in values:
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            continue
        for item in [decoded] if isinstance(decoded, dict) else (
                decoded if isinstance(decoded, list) else []):
            if isinstance(item, dict):
                items.append(item)
    return items


def _any_item_documented(values: list[str], facts: model.HostFacts, rip: bool) -> bool:
    """True when some entry is one where we differ from Nova on purpose (either side rejects)."""
    for item in _decoded_items(values):
        ours, nova_item = run_ours(item, facts, rip), run_nova(item)
        if isinstance(ours, Exception) or isinstance(nova_item, Exception):
            if is_documented_difference(item, nova_item, ours):
                return True
    return False


def _first_failure_is_documented(values: list[str], facts: model.HostFacts, rip: bool,
                                 nova_out: Exception) -> bool:
    """True when Nova's failure is a documented difference (bare Python error, §9.7 crash...)."""
    if isinstance(nova_out, RecursionError):
        return True  # compat.md: Nova leaks RecursionError on deeply nested JSON
    for value in values:
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            return False
        items = [decoded] if isinstance(decoded, dict) else decoded
        if not isinstance(items, list):
            return False
        for item in items:
            if not isinstance(item, dict):
                return False
            nova_item = run_nova(item)
            if isinstance(nova_item, Exception):
                return is_documented_difference(item, nova_item, run_ours(item, facts, rip))
    return False
