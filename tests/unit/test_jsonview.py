"""services.jsonview: one generic function turns records into the contract's JSON, one table of views.

The commands' documents are pinned by their own tests and schemas; these tests pin the
mechanism: the generic rules, the views where a record's JSON is not its fields, and that
no record carries a JSON method of its own.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from pcipass.core import errors, model, pools, requests, schedule, spec
from pcipass.core.evidence import Evidence
from pcipass.core.layers import Layer
from pcipass.doctor import mapping
from pcipass.doctor import model as dm
from pcipass.services import jsonview
from pcipass.services.jsonview import to_json

SRC = Path(jsonview.__file__).resolve().parents[1]
FACTS = model.HostFacts.unknown()


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass(frozen=True)
class Inner:
    name: str
    colour: Colour


@dataclasses.dataclass(frozen=True)
class Outer:
    """Every rule at once: order, nesting, tuples, mappings, enums, private fields, scalars."""

    zeta: int
    alpha: tuple[Inner, ...]
    table: Mapping[Any, Any]
    layer: Layer
    ratio: float
    flag: bool
    missing: None
    _cache: tuple[int, ...] = dataclasses.field(default=(), compare=False)


def test_a_record_prints_its_fields_in_order_and_every_value_by_the_same_rules() -> None:
    value = Outer(zeta=3, alpha=(Inner("a", Colour.RED), Inner("b", Colour.RED)),
                  table=MappingProxyType({1: (2, 3), Colour.RED: [Inner("c", Colour.RED)], "k": None}),
                  layer=Layer.NUMA, ratio=0.5, flag=False, missing=None, _cache=(9,))
    doc = to_json(value)
    assert list(doc) == ["zeta", "alpha", "table", "layer", "ratio", "flag", "missing"]
    assert doc == {"zeta": 3, "alpha": [{"name": "a", "colour": "red"}, {"name": "b", "colour": "red"}],
                   "table": {"1": [2, 3], "red": [{"name": "c", "colour": "red"}], "k": None},
                   "layer": "numa", "ratio": 0.5, "flag": False, "missing": None}
    # plain data only: an enum's value is a str, not the enum; containers are fresh lists and dicts
    assert type(doc["layer"]) is str and type(doc["table"]) is dict and type(doc["alpha"]) is list
    assert json.loads(json.dumps(doc)) == doc


def test_lists_mappings_and_scalars_are_values_too() -> None:
    problem = errors.Problem("PciInvalidAlias", "bad", line=3)
    assert to_json([problem, None]) == [{"code": "PciInvalidAlias", "message": "bad", "file": None, "line": 3,
                                         "value_index": None, "entry": None, "hint": None}, None]
    assert to_json({"x": (problem.code,)}) == {"x": ["PciInvalidAlias"]}
    assert [to_json(v) for v in ("s", 1, 1.5, True, None)] == ["s", 1, 1.5, True, None]


@pytest.mark.parametrize("value", [{1, 2}, object(), len, b"bytes"], ids=["set", "object", "function", "bytes"])
def test_a_value_nobody_gave_a_form_raises(value: Any) -> None:
    with pytest.raises(TypeError, match="has no JSON form"):
        to_json(value)


def test_every_view_names_a_record() -> None:
    for name in jsonview.VIEWS:
        module, _, qualname = name.rpartition(".")
        cls = getattr(importlib.import_module(module), qualname)
        assert dataclasses.is_dataclass(cls) and f"{cls.__module__}.{cls.__qualname__}" == name, name


def test_importing_the_edge_imports_no_record_module() -> None:
    """The table names records; ``pcipass scan -f json`` must not load the scheduler to print."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import sys, pcipass.services.jsonview; "
                          "print(sorted(m for m in sys.modules if m.startswith('pcipass')))"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['pcipass', 'pcipass.core', 'pcipass.core.version', 'pcipass.services', " \
                          "'pcipass.services.jsonview', 'pcipass.services.kernelview']"  # a view, no record


def test_no_record_carries_a_json_method() -> None:
    """One mechanism: no ``to_dict`` (or ``to_json``, ``as_dict``) method anywhere in src/."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                found += [f"{path.relative_to(SRC)}: {node.name}.{f.name}" for f in node.body
                          if isinstance(f, ast.FunctionDef) and f.name in ("to_dict", "to_json", "as_dict")]
    assert found == []


# -- the views -----------------------------------------------------------------------------------


def test_device_prints_the_contracts_discovery_fields() -> None:
    dev = model.Device("0000:81:00.0", "8086", "1572", class_code="020000", revision="02",
                       driver_override="vfio-pci", netdevs=("ens1f0",), card_serial_number="SN1",
                       warnings=("w",))
    doc = to_json(dev)
    assert list(doc) == ["address", "vendor_id", "product_id", "subsystem_vendor_id", "subsystem_id", "class",
                         "name", "dev_type", "parent_addr", "vf_index", "numa_node", "driver", "iommu_group",
                         "netdevs", "sriov_totalvfs", "sriov_numvfs", "warnings"]
    assert (doc["class"], doc["netdevs"], doc["warnings"]) == ("020000", ["ens1f0"], ["w"])


def test_device_spec_prints_its_address_as_written() -> None:
    glob = spec.parse_spec({"vendor_id": "0x8086", "address": ":0a:00.", "physical_network": "p",
                            "managed": "no"}, FACTS)
    assert to_json(glob) == {"vendor_id": "8086", "product_id": "*", "address": "*:0a:00.*", "devname": None,
                             "tags": {"physical_network": "p", "managed": "false"}, "physical_function": False}
    regex = {"domain": ".*", "bus": "0a", "slot": "0[0-3]", "function": "[0-7]"}
    assert to_json(spec.parse_spec({"address": regex}, FACTS))["address"] == regex
    pf = model.Device("0000:81:00.0", "8086", "1572", sriov_totalvfs=8, netdevs=("ens1f0",))
    by_name = to_json(spec.parse_spec({"devname": "ens1f0"}, model.HostFacts.from_devices([pf])))
    assert (by_name["address"], by_name["devname"], by_name["physical_function"]) == (None, "ens1f0", True)


def test_requests_print_what_they_ask_for() -> None:
    flavor = requests.PciRequest("gpu", 2, "required", [{"vendor_id": "10de"}], request_id=1)
    port = pools.Request(1, ({"physical_network": None},), numa_policy="socket", request_id="r", label="port 1")
    assert to_json(flavor) == {"alias_name": "gpu", "count": 2, "numa_policy": "required",
                               "specs": [{"vendor_id": "10de"}]}
    assert to_json(port) == {"alias_name": None, "count": 1, "numa_policy": "socket",
                             "specs": [{"physical_network": None}]}


def test_a_reason_prints_its_evidence_without_lines_and_a_subclass_as_its_base() -> None:
    evidence = (Evidence("nova.conf", "alias = x", 7),)
    pinned = schedule.PinnedNodesUnknown(Layer.NUMA, "no node 3", 0, evidence, unknown=(3,), host_nodes="0,1")
    assert jsonview.view_of(type(pinned)) is jsonview.VIEWS["pcipass.core.schedule.verdicts.Reason"]
    assert to_json(pinned) == {"layer": "numa", "severity": "fail", "message": "no node 3", "dropped": 0,
                               "evidence": [{"source": "nova.conf", "value": "alias = x"}]}
    finding = dm.Finding("PCI-N001", Layer.NUMA, dm.FAIL, "h", "s", "m", evidence)
    assert to_json(finding)["evidence"] == [{"source": "nova.conf", "value": "alias = x", "line": 7}]


def test_host_verdict_leaves_out_the_bookkeeping() -> None:
    verdict = schedule.HostVerdict("h", True, True, True, (schedule.ChosenDevice("0000:81:02.3", "type-VF", 0, "nic"),),
                                   (0,), free=8, weight=1.0)
    assert to_json(verdict) == {"name": "h", "fits": True, "instance_numa_nodes": [0],
                                "devices": [{"address": "0000:81:02.3", "dev_type": "type-VF", "numa_node": 0,
                                             "alias_name": "nic"}], "reasons": [], "weight": 1.0}


def test_mapping_rows_list_devices_by_the_tables_columns() -> None:
    pf = model.Device("0000:5e:00.0", "8086", "10fb", dev_type=model.TYPE_PF, driver="ixgbe", numa_node=0)
    entry = spec.SpecEntry(0, 0, None, spec.parse_spec({"vendor_id": "8086", "product_id": "10ed"}, FACTS))
    miss = mapping.NearMiss(pf, (spec.Mismatch("product_id", "10ed", "10fb"),))
    row = mapping.SpecRow("h", entry, ("nova.conf", 4, None), mapping.MISSING, near_misses=(miss,), notes=("n",))
    doc = to_json(row)
    assert doc["near_misses"] == [{"address": "0000:5e:00.0", "vendor_id": "8086", "product_id": "10fb",
                                   "dev_type": "type-PF", "driver": "ixgbe", "numa_node": 0, "iommu_group": None,
                                   "differs": [{"field": "product_id", "wanted": "10ed", "got": "10fb"}]}]
    assert (doc["source"], doc["status"], doc["devices"], doc["notes"]) == (
        {"file": "nova.conf", "line": 4, "item": None}, "MISSING", [], ["n"])
    alias = mapping.AliasRow("nic", "type-VF", None, ({"vendor_id": "8086"},),
                             (mapping.AliasHost("h", (0,), (pf,)),))
    assert to_json(alias)["hosts"] == [{"host": "h", "device_specs": [0], "devices": [
        {"address": "0000:5e:00.0", "vendor_id": "8086", "product_id": "10fb", "dev_type": "type-PF",
         "driver": "ixgbe", "numa_node": 0, "iommu_group": None}]}]
