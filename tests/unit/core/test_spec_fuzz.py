"""Hostile input for ``core.spec``: arbitrary JSON and text never escape as anything but problems."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import model, spec
from pcipass.services.jsonview import to_json

PF = "0000:0a:00.0"
FACTS = model.HostFacts(pfs={PF: model.PfInfo(PF, "8086", "1572", 8, "154c")},
                        netdevs={"eth0": PF, "eth1": "0000:0a:02.0"})
KEYS = ["vendor_id", "product_id", "address", "devname", "remote_managed", "managed",
        "live_migratable", "one_time_use", "domain", "bus", "slot", "function", "x"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["eth0", PF, "*", "0a:00.", "yes", "154c", "(", ".*"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(KEYS), children, max_size=5),
    max_leaves=12)
texts = st.one_of(st.text(max_size=20), st.sampled_from(["[" * 5000, "{" * 3000, "1" * 5000, "NaN"]))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(values=st.lists(st.one_of(json_values.map(json.dumps), texts), max_size=4),
       facts=st.sampled_from([FACTS, model.HostFacts(), model.HostFacts.unknown()]), rip=st.booleans())
def test_parse_values_never_raises(values: list[str], facts: model.HostFacts, rip: bool) -> None:
    result = spec.parse_device_spec_values(values, facts, report_in_placement=rip)
    for problem in result.problems + result.warnings:
        assert problem.value_index is not None and 0 <= problem.value_index < len(values)
        assert problem.entry is not None and problem.entry.startswith("device_spec value ")
        assert problem.message
    indexes = [e.index for e in result.specs]
    assert indexes == sorted(set(indexes))
    for entry in result.specs:
        json.dumps(to_json(entry.spec), allow_nan=True)


devices = st.builds(
    model.Device,
    address=st.sampled_from([PF, "0000:0a:02.0", "0000:0a:02.1", "0000:81:00.0", "0000:0A:02.0"]),
    vendor_id=st.sampled_from(["8086", "15b3", "ABCD"]),
    product_id=st.sampled_from(["1572", "154c", "10fb"]),
    parent_addr=st.sampled_from([None, PF, "0000:3b:00.0"]),
    card_serial_number=st.sampled_from([None, "", "SN"]),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(raw=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5),
       devs=st.lists(devices, max_size=6))
def test_mismatches_are_empty_exactly_when_the_spec_matches(raw: dict[str, object],
                                                           devs: list[model.Device]) -> None:
    result = spec.parse_device_spec_values([json.dumps(raw)], FACTS)
    for entry in result.specs:
        for device in devs:
            assert (entry.spec.mismatches(device) == []) is entry.spec.match(device)
            assert (spec.first_match([entry], device) is entry) is entry.spec.match(device)
