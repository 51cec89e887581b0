#!/usr/bin/env python3
"""Benchmark "which hosts fit 2 VFs of alias X?": pcipass's FleetIndex against Nova's loop.

In-memory fleets of hosts, each with 2 PFs x 64 VFs on 2 NUMA nodes. Hosts
differ by hardware profile: where the PFs sit (node 0/1, both on one node,
unknown NUMA node), which VF model (the alias wants 8086:154c; some hosts
have 8086:10ed) and how many VFs of each PF are already in use (left out of
the free devices). The instance has one NUMA node (``hw:numa_nodes=1``) and
the alias asks for 2 VFs with ``hw:pci_numa_affinity_policy`` ``required``
or ``preferred``.

Side by side in one run, at 1,000 and 10,000 hosts: pcipass builds a
:class:`schedule.FleetIndex` (timed separately) and queries it; Nova loops
``PciDeviceStats.support_requests`` over the scheduler's per-host pools
(rebuilt from ``PciDevicePool`` objects as HostState does), trying the host
cells PCI-rich first as ``numa_fit_instance_to_host`` does. Both must name the
same hosts. pcipass alone runs at 100,000 hosts (Nova needs too much memory).

Targets: queries >= 10x faster than Nova's loop and <= 50 ms at 10,000 hosts.

Run: ``.venv/bin/python bench/bench_schedule.py [--sizes 1000,10000,100000] [--check]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pcipass.core import model, numa, pools, schedule, spec  # noqa: E402

NOVA_MAX_HOSTS = 10_000
TARGET_RATIO = 10.0
TARGET_MS_10K = 50.0
POLICIES = ("required", "preferred")
VFS = 64
LAYOUTS = [(0, 1), (0, 0), (1, 1), (None, None), (1, 0)]
PRODUCTS = ["154c", "154c", "154c", "10ed"]
USED = [0, 0, 16, 40, 62, 63, 64]
SPEC_VALUES = ['{"vendor_id": "8086", "physical_network": "physnet1"}']
ALIAS = pools.Request(2, ({"vendor_id": "8086", "product_id": "154c", "dev_type": "type-VF"},),
                      "X", None, "req-x", "alias 'X'")
SHAPE = numa.InstanceShape(vcpus=2, memory_mb=1024, numa_nodes=1)
CELLS = (numa.HostCell(0, frozenset(range(16)), frozenset(range(16)), 65536, 0),
         numa.HostCell(1, frozenset(range(16, 32)), frozenset(range(16, 32)), 65536, 1))


class Profile:
    """One hardware profile: free devices, parsed specs, and (lazily) Nova's pools."""

    def __init__(self, layout: tuple[int | None, ...], product: str, used: tuple[int, int]) -> None:
        self.devices = tuple(_devices(layout, product, used))
        facts = model.HostFacts.from_devices(self.devices)
        self.specs = tuple(spec.parse_device_spec_values(SPEC_VALUES, facts).specs)
        self.facts = facts
        self.nova_pools: Any = None


def _devices(layout: tuple[int | None, ...], product: str, used: tuple[int, int]) -> list[model.Device]:
    out = []
    for port, (node, busy) in enumerate(zip(layout, used)):
        pf = f"0000:81:00.{port}"
        out.append(model.Device(pf, "8086", "1572", dev_type=model.TYPE_PF, numa_node=node,
                                sriov_totalvfs=VFS, sriov_vf_device=product))
        for i in range(busy, VFS):
            out.append(model.Device(f"0000:81:{2 + port * 8 + i // 8:02x}.{i % 8}", "8086", product,
                                    dev_type=model.TYPE_VF, parent_addr=pf, numa_node=node))
    return out


def make_profiles() -> list[Profile]:
    combos = itertools.product(LAYOUTS, sorted(set(PRODUCTS)), USED, USED)
    return [Profile(layout, product, (a, b)) for layout, product, a, b in combos]


def make_fleet(size: int, profiles: list[Profile], seed: int = 7) -> list[tuple[str, Profile]]:
    rnd = random.Random(seed)
    weights = [3 if p.devices[1].product_id == "154c" else 1 for p in profiles]
    return [(f"compute-{i:06d}", p) for i, p in enumerate(rnd.choices(profiles, weights, k=size))]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# -- pcipass ---------------------------------------------------------------------------------


def pcipass_build(fleet: list[tuple[str, Profile]]) -> schedule.FleetIndex:
    return schedule.FleetIndex.build(schedule.HostInput(name, p.devices, p.specs, CELLS)
                                     for name, p in fleet)


def pcipass_query(index: schedule.FleetIndex, policy: str) -> tuple[str, ...]:
    return index.query([ALIAS], SHAPE, policy=policy).fits


# -- Nova ------------------------------------------------------------------------------------


def nova_setup() -> Any:
    try:
        import nova.conf
    except ImportError:
        return None
    nova.conf.CONF([])
    from nova import objects

    objects.register_all()
    return objects


def nova_profile_pools(objects: Any, profile: Profile) -> Any:
    """The PciDevicePoolList a compute with this profile reports (built once per profile)."""
    from nova.pci import manager, stats, whitelist

    tests_dir = Path(__file__).resolve().parents[1] / "tests" / "differential"
    sys.path.insert(0, str(tests_dir))
    from conftest import nova_probes

    with nova_probes(profile.facts):
        wl = whitelist.Whitelist(SPEC_VALUES)
        devs = [objects.PciDevice.create(None, {
            "compute_node_id": 1, "address": d.address, "vendor_id": d.vendor_id,
            "product_id": d.product_id, "dev_type": d.dev_type, "numa_node": d.numa_node,
            "parent_addr": d.parent_addr, "label": "label", "dev_id": d.address})
            for d in profile.devices]
        manager.PciDevTracker._build_device_tree(list(devs))
        compute = stats.PciDeviceStats(None, dev_filter=wl)
        for dev in devs:
            compute.add_device(dev)
    return compute.to_device_pools_obj(), wl


def nova_build(objects: Any, fleet: list[tuple[str, Profile]]) -> list[tuple[str, Any]]:
    from nova.pci import stats

    topology = objects.NUMATopology(cells=[
        objects.NUMACell(id=c.id, cpuset=set(c.cpus), pcpuset=set(c.pcpus), memory=c.memory_mb,
                         socket=c.socket, cpu_usage=0, memory_usage=0, pinned_cpus=set(),
                         siblings=[{x} for x in sorted(c.cpus)], mempages=[],
                         network_metadata=objects.NetworkMetadata(physnets=set(), tunneled=False))
        for c in CELLS])
    out = []
    for name, profile in fleet:
        if profile.nova_pools is None:
            profile.nova_pools = nova_profile_pools(objects, profile)
        pool_list, wl = profile.nova_pools
        out.append((name, stats.PciDeviceStats(topology, stats=pool_list, dev_filter=wl)))
    return out


def nova_query(objects: Any, hosts: list[tuple[str, Any]], policy: str) -> tuple[str, ...]:
    """support_requests per host, host cells PCI-rich first (numa_fit_instance_to_host's order)."""
    request = objects.InstancePCIRequest(count=ALIAS.count, spec=[dict(ALIAS.specs[0])],
                                         alias_name="X", request_id=ALIAS.request_id.ljust(36, "0"),
                                         numa_policy=policy)
    cells = {c.id: [objects.InstanceNUMACell(id=c.id, cpuset=set(), pcpuset=set(), memory=0)]
             for c in CELLS}
    fits = []
    for name, st in hosts:
        per_node: dict[Any, int] = {}
        for pool in st.pools:
            per_node[pool["numa_node"]] = per_node.get(pool["numa_node"], 0) + pool["count"]
        order = sorted(cells, key=lambda c: per_node.get(c, 0), reverse=True)
        if any(st.support_requests([request], None, cells[c]) for c in order):
            fits.append(name)
    return tuple(fits)


# -- run -------------------------------------------------------------------------------------


def run(sizes: list[int], check: bool) -> int:
    profiles = make_profiles()
    objects = nova_setup()
    rows = []
    failures = []
    for size in sizes:
        fleet = make_fleet(size, profiles)
        build_s, index = timed(lambda: pcipass_build(fleet))
        row: dict[str, Any] = {"hosts": size, "build_s": build_s}
        nova_hosts = None
        if objects is not None and size <= NOVA_MAX_HOSTS:
            row["nova_build_s"], nova_hosts = timed(lambda: nova_build(objects, fleet))
        for policy in POLICIES:
            pcipass_query(index, policy)  # warm-up, as a long-running service would be
            query_s, ours = timed(lambda: pcipass_query(index, policy))
            row[f"{policy}_s"], row[f"{policy}_fit"] = query_s, len(ours)
            if nova_hosts is not None:
                nova_s, theirs = timed(lambda: nova_query(objects, nova_hosts, policy))
                row[f"{policy}_nova_s"] = nova_s
                if theirs != ours:
                    failures.append(f"{size} hosts, {policy}: pcipass and Nova disagree "
                                    f"({len(ours)} vs {len(theirs)} hosts)")
                if query_s * TARGET_RATIO > nova_s:
                    failures.append(f"{size} hosts, {policy}: only {nova_s / query_s:.1f}x Nova")
            if size == 10_000 and query_s * 1000 > TARGET_MS_10K:
                failures.append(f"10,000 hosts, {policy}: {query_s * 1000:.1f} ms > {TARGET_MS_10K} ms")
        rows.append(row)
        print_row(row)
    for failure in failures:
        print("FAIL:", failure)
    return 1 if check and failures else 0


HEADER = (f"{'hosts':>8} | {'build':>9} | {'policy':>9} | {'pcipass':>10} | {'Nova loop':>10} | "
          f"{'ratio':>8} | {'fit':>7}")


def print_row(row: dict[str, Any]) -> None:
    if row["hosts"] == sizes_printed[0]:
        print(f"profiles: {len(LAYOUTS) * len(set(PRODUCTS)) * len(USED) ** 2}; request: 2 VFs of "
              f"alias X (8086:154c), instance hw:numa_nodes=1")
        print(HEADER)
        print("-" * len(HEADER))
    nova_build_s = row.get("nova_build_s")
    build = f"{row['build_s']:.2f} s"
    for policy in POLICIES:
        ours = row[f"{policy}_s"] * 1000
        nova = row.get(f"{policy}_nova_s")
        nova_text = f"{nova * 1000:.0f} ms" if nova is not None else "-"
        ratio = f"{nova * 1000 / ours:.0f}x" if nova is not None else "-"
        print(f"{row['hosts']:>8} | {build:>9} | {policy:>9} | {ours:>7.2f} ms | {nova_text:>10} | "
              f"{ratio:>8} | {row[f'{policy}_fit']:>7}")
        build = ""
    if nova_build_s is not None:
        print(f"{'':>8}   Nova per-host pools built in {nova_build_s:.2f} s (not in the loop time)")


sizes_printed = [0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="comma-separated fleet sizes (Nova runs only up to 10,000)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    sizes_printed[0] = sizes[0]
    return run(sizes, args.check)


if __name__ == "__main__":
    sys.exit(main())
