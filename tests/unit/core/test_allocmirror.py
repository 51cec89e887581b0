"""core.allocmirror: a store claim as the allocations Placement must hold."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pcipass.core import allocmirror


@dataclasses.dataclass(frozen=True)
class Held:
    address: str
    dev_type: str
    parent_addr: str | None = None
    vendor_id: str = "8086"
    product_id: str = "154c"
    spec_tags: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def test_vfs_count_on_their_pf_and_a_gpu_on_its_own_provider_in_the_specs_class() -> None:
    devices = [Held("0000:81:02.0", "type-VF", "0000:81:00.0"),
               Held("0000:81:02.1", "type-VF", "0000:81:00.0"),
               Held("0000:3b:00.0", "type-PCI", None, "10de", "20f1", {"resource_class": "pgpu"}),
               Held("0000:82:02.0", "type-VF", "0000:82:00.0", spec_tags={"physical_network": "p"})]
    assert allocmirror.wanted("c7", devices) == {
        "c7_0000:81:00.0": {"CUSTOM_PCI_8086_154C": 2}, "c7_0000:3B:00.0": {"PGPU": 1}}
    assert allocmirror.provider_of("c7", Held("0000:5e:00.0", "type-PF")) == "c7_0000:5E:00.0"


def test_merged_keeps_the_consumers_other_allocations_and_without_removes_ours() -> None:
    held = {"root": {"VCPU": 2}, "pf": {"CUSTOM_X": 1}}
    assert allocmirror.merged(held, {"pf": {"CUSTOM_X": 2}}) == {"root": {"VCPU": 2},
                                                                 "pf": {"CUSTOM_X": 2}}
    assert allocmirror.without(held, ["pf"]) == {"root": {"VCPU": 2}}


def test_over_allocated_reads_reserved_and_the_allocation_ratio() -> None:
    inv = {"CUSTOM_X": {"total": 8, "reserved": 2, "allocation_ratio": 1.0},
           "CUSTOM_Y": {"total": 4, "allocation_ratio": 2.0}}
    assert allocmirror.capacity(inv["CUSTOM_X"]) == 6 and allocmirror.capacity(None) == 0
    assert allocmirror.over_allocated("pf", inv, {"CUSTOM_X": 6, "CUSTOM_Y": 8}) == []
    assert allocmirror.over_allocated("pf", inv, {"CUSTOM_X": 7, "CUSTOM_Z": 1}) == [
        allocmirror.Overuse("pf", "CUSTOM_X", 7, 6), allocmirror.Overuse("pf", "CUSTOM_Z", 1, 0)]
