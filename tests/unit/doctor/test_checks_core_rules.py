"""Doctor checks ask the core's rules instead of restating them (issue 11 point 2)."""

from __future__ import annotations

import pytest

from pcipass.core import model, numa, pools
from pcipass.doctor.checks import numa as numa_checks


def _vfs(node: int, count: int) -> list[model.Device]:
    return [model.Device(f"0000:5e:{i:02x}.1", "8086", "10ed", dev_type=model.TYPE_VF, numa_node=node)
            for i in range(count)]


@pytest.mark.parametrize(("sockets", "policy", "enough"), [
    ((0, 0, 1), pools.SOCKET, True),  # node 1 shares node 0's socket
    ((0, 1, 1), pools.SOCKET, False),  # it does not
    # a node without socket information: Nova accepts no node beyond the instance's own
    ((0, 0, None), pools.SOCKET, False),
    ((0, 0, 1), pools.REQUIRED, False),
])
def test_the_numa_check_applies_the_pools_socket_rule(sockets: tuple[int | None, ...], policy: str,
                                                       enough: bool) -> None:
    cells = [numa.HostCell(i, socket=s) for i, s in enumerate(sockets)]
    devs = _vfs(1, 2)
    assert numa_checks._enough(devs, 2, cells[:1], cells, policy) is enough
    kept, _ = pools.filter_numa([pools.Pool({"numa_node": 1}, 2)], pools.Request(2, (), numa_policy=policy),
                                [0], {c.id: c.socket for c in cells})
    assert bool(kept) is enough


def test_device_nouns_come_from_one_table() -> None:
    vfs = _vfs(0, 2)
    assert numa_checks._kinds(vfs) == model.device_noun(model.TYPE_VF, 2) == "VFs"
    assert numa_checks._kinds([*vfs, model.Device("0000:5e:00.0", "8086", "10fb", dev_type=model.TYPE_PF)]) \
        == "devices"
    info = pools.PoolInfo((("vendor_id", "8086"), ("product_id", "10ed"), ("dev_type", model.TYPE_VDPA),
                           ("numa_node", None)), 1)
    assert info.describe() == "1 vDPA device 8086:10ed of unknown NUMA node"
    assert model.device_label(model.TYPE_PCI) == "PCI" and model.device_label(None) == "-"
