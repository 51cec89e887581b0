"""core.numa: cpu sets, host cells from discovery, instance cells, cell order and the fit."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import numa


@dataclasses.dataclass(frozen=True)
class Node:
    """Shaped like adapters.sysnuma.NumaCell."""

    id: int
    cpus: tuple[int, ...]
    memory_kb: int | None
    sockets: tuple[int, ...]


NODES = (Node(0, (0, 1, 2, 3), 8 * 1024 * 1024, (0,)), Node(1, (4, 5, 6, 7), 4 * 1024 * 1024, (1,)))


@pytest.mark.parametrize(("text", "expected"), [
    ("0-3", {0, 1, 2, 3}), ("0-7,^3,^5-6", {0, 1, 2, 4, 7}), (" 1 , 4 ,", {1, 4}), ("", set()),
])
def test_parse_cpu_set(text: str, expected: set[int]) -> None:
    assert numa.parse_cpu_set(text) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("3-1", "invalid range expression '3-1'"), ("a", "invalid inclusion expression 'a'"),
    ("^x", "invalid exclusion expression '^x'"), ("0-99999999", "invalid range expression"),
    ("-1", "invalid range expression '-1'"),
])
def test_parse_cpu_set_refuses(text: str, reason: str) -> None:
    with pytest.raises(numa.InvalidCpuSet) as exc:
        numa.parse_cpu_set(text, "[compute] cpu_dedicated_set")
    assert reason in exc.value.message and "[compute] cpu_dedicated_set" in exc.value.message


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.text(max_size=20))
def test_parse_cpu_set_never_crashes(text: str) -> None:
    try:
        numa.parse_cpu_set(text)
    except numa.InvalidCpuSet as exc:
        assert exc.code == "InvalidCpuSet"


def test_host_cells_without_cpu_options_share_every_cpu() -> None:
    cells = numa.host_cells(NODES)
    assert cells[0] == numa.HostCell(0, frozenset({0, 1, 2, 3}), frozenset({0, 1, 2, 3}), 8192, 0)


def test_host_cells_with_dedicated_set_only() -> None:
    cells = numa.host_cells(NODES, cpu_dedicated_set="2-7")
    assert cells[0].cpus == frozenset() and cells[0].pcpus == {2, 3}
    assert cells[1].pcpus == {4, 5, 6, 7}


def test_host_cells_with_shared_set_only_have_no_dedicated_cpus() -> None:
    cells = numa.host_cells(NODES, cpu_shared_set="0-1")
    assert cells[0].cpus == {0, 1} and cells[0].pcpus == frozenset()


def test_vcpu_pin_set_wins_and_keeps_legacy_pinning() -> None:
    cells = numa.host_cells(NODES, cpu_shared_set="0", vcpu_pin_set="4-5")
    assert cells[0].cpus == frozenset() and cells[1].cpus == {4, 5}
    assert cells[1].pcpus == {4, 5}


def test_cell_spanning_two_sockets_has_no_socket() -> None:
    cells = numa.host_cells([Node(0, (0, 1), None, (0, 1))])
    assert cells[0].socket is None and cells[0].memory_mb == 0


def test_instance_without_numa_request_has_no_topology() -> None:
    assert numa.instance_cells(numa.InstanceShape(4, 2048)) is None
    assert numa.instance_cells(numa.InstanceShape(4, 2048, cpu_policy="shared")) is None


def test_dedicated_implies_one_cell_and_nodes_split_evenly() -> None:
    (cell,) = numa.instance_cells(numa.InstanceShape(4, 2048, cpu_policy="dedicated")) or ()
    assert (cell.vcpus, cell.memory_mb, cell.dedicated) == (4, 2048, True)
    two = numa.instance_cells(numa.InstanceShape(4, 2048, numa_nodes=2)) or ()
    assert [(c.index, c.vcpus, c.memory_mb) for c in two] == [(0, 2, 1024), (1, 2, 1024)]


def test_uneven_split_is_nova_asymmetric_error() -> None:
    with pytest.raises(numa.ImageNUMATopologyAsymmetric):
        numa.instance_cells(numa.InstanceShape(3, 2048, numa_nodes=2))


def test_pinned_nodes_must_agree_with_hw_numa_nodes() -> None:
    with pytest.raises(numa.InstanceNumaNodesMismatch) as exc:
        numa.instance_cells(numa.InstanceShape(4, 2048, numa_nodes=1), [0, 1])
    assert exc.value.message == ("the instance is pinned to 2 host NUMA node(s) but the flavor "
                                 "asks for hw:numa_nodes=1")
    assert exc.value.kwargs == {"given": 2, "nodes": 1}
    with pytest.raises(numa.PinnedNodesRepeated) as repeated:
        numa.instance_cells(numa.InstanceShape(4, 2048), [0, 0])
    assert repeated.value.code == "UnsupportedTopology" and repeated.value.kwargs["pinned"] == [0, 0]
    assert len(numa.instance_cells(numa.InstanceShape(4, 2048), [1, 0]) or ()) == 2


def test_mixed_policy_is_refused() -> None:
    with pytest.raises(numa.UnsupportedTopology):
        numa.instance_cells(numa.InstanceShape(4, 2048, cpu_policy="mixed"))


def test_order_puts_pci_rich_cells_first_only_when_pci_is_requested() -> None:
    cells = numa.host_cells(NODES)
    guest = numa.instance_cells(numa.InstanceShape(2, 1024, numa_nodes=1)) or ()
    per_node = {1: 8, None: 2}
    assert [c.id for c in numa.order_cells(cells, guest, per_node, True)] == [1, 0]
    assert [c.id for c in numa.order_cells(cells, guest, per_node, False)] == [0, 1]
    assert [c.id for c in numa.order_cells(cells, guest, None, True)] == [0, 1]  # more memory first


def test_fit_reports_misses_and_pci_rejections() -> None:
    cells = numa.host_cells(NODES, cpu_dedicated_set="0-5")
    guest = numa.instance_cells(numa.InstanceShape(6, 6144, cpu_policy="dedicated")) or ()
    fitted = numa.fit(cells, guest)
    assert fitted.nodes is None and fitted.order == (0, 1)
    assert [str(m) for m in fitted.misses] == [
        "guest cell 0 needs 6 dedicated CPUs but host NUMA node 0 has 4",
        "guest cell 0 needs 6144 MiB of memory but host NUMA node 1 has 4096"]
    small = numa.instance_cells(numa.InstanceShape(2, 1024, cpu_policy="dedicated")) or ()
    refused = numa.fit(cells, small, pci_check=lambda nodes: nodes == (1,), pci_per_node={1: 4})
    assert refused.nodes == (1,) and refused.pci_rejected == ()
    none = numa.fit(cells, small, pci_check=lambda nodes: False, pci_per_node={})
    assert none.nodes is None and set(none.pci_rejected) == {(0,), (1,)}


def test_fit_with_pinned_nodes_tries_only_that_placement() -> None:
    cells = numa.host_cells(NODES)
    guest = numa.instance_cells(numa.InstanceShape(2, 1024), [1]) or ()
    assert numa.fit(cells, guest, pinned=[1]).nodes == (1,)
    missing = numa.fit(cells, guest, pinned=[3])
    assert missing.nodes is None and missing.unknown_nodes == (3,)


def test_fit_needs_enough_host_cells() -> None:
    guest = numa.instance_cells(numa.InstanceShape(3, 3072, numa_nodes=3)) or ()
    assert numa.fit(numa.host_cells(NODES), guest).too_few_cells
    assert numa.fit((), guest).too_few_cells


def test_host_cells_take_the_sysfs_adapters_records() -> None:
    from pcipass.adapters import sysnuma

    nodes = [sysnuma.NumaCell(1, (2, 3), 2 * 1024 * 1024, (1,)), sysnuma.NumaCell(0, (0, 1), None, ())]
    cells = numa.host_cells(nodes, cpu_dedicated_set="1-3")
    assert [(c.id, sorted(c.pcpus), c.memory_mb, c.socket) for c in cells] == [
        (0, [1], 0, None), (1, [2, 3], 2048, 1)]
