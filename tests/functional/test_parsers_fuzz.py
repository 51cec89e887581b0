"""Hostile input to the file readers not fuzzed elsewhere: never a traceback, always a Problem."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.adapters import flavorfile, sriovagent
from pcipass.core import errors

ini_lines = st.lists(st.one_of(
    st.sampled_from(["[sriov_nic]", "[SRIOV_NIC]", "[agent]", "", "# c", "  continued",
                     "physical_device_mappings = physnet2:eth3,physnet2:eth4",
                     "physical_device_mappings = :eth3,physnet2:",
                     "exclude_devices = eth1:0000:07:00.2;0000:07:00.3,eth2:0000:05:00.1",
                     "exclude_devices = eth1:;,:", "exclude_devices = eth9:zz:zz",
                     "resource_provider_bandwidths = eth3:1000:x", "= novalue", "key"]),
    st.text(max_size=40)), max_size=12)


def _write(data: bytes, suffix: str) -> Path:
    f = tempfile.NamedTemporaryFile(prefix="pcipass-fuzz-", suffix=suffix, delete=False)
    f.write(data)
    f.close()
    return Path(f.name)


@settings(max_examples=150)
@given(lines=ini_lines)
def test_sriov_agent_reader_never_raises(lines: list[str]) -> None:
    path = _write("\n".join(lines).encode("utf-8", "surrogatepass"), ".ini")
    try:
        cfg = sriovagent.read_sriov_agent_conf(path)
    finally:
        path.unlink()
    for p in cfg.problems + cfg.warnings:
        assert isinstance(p, errors.Problem) and p.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "properties", "extra_specs", "flavor", "vcpus", "ram",
                         "pci_passthrough:alias", "hw:numa_nodes", "id", "x"]), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=200)
@given(doc=json_values, cut=st.integers(0, 400), raw=st.booleans())
def test_flavor_and_image_readers_never_raise(doc: object, cut: int, raw: bool) -> None:
    text = json.dumps(doc)
    data = text[:cut].encode() if raw else text.encode()
    path = _write(data, ".json")
    try:
        fl = flavorfile.read_flavor(path)
        img = flavorfile.read_image(path)
    finally:
        path.unlink()
    assert isinstance(fl.name, str) and isinstance(img.name, str)
    assert all(isinstance(v, str) for v in fl.extra_specs.values())
    for p in fl.problems + img.problems:
        assert p.file == str(path) and p.message
