"""NUMA: device locality against what the flavors' PCI NUMA policies demand.

The full fit (host cells x guest cells x pools) is the scheduling core's; the
checks here need only the devices' NUMA nodes and the policies in effect.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pcipass.core import model, requests
from pcipass.doctor import mapping
from pcipass.doctor import model as dm
from pcipass.doctor.checks import common
from pcipass.doctor.registry import check

STRICT = ("required", "socket")


def _request_devices(req: requests.PciRequest, config: dm.ConfigFacts,
                     devices: dm.DeviceFacts) -> list[model.Device]:
    return [d for d, e in common.claimed(config, devices)
            if any(mapping.alias_spec_matches(s, d, e) for s in req.specs)]


@check("PCI-N001", "numa", title="devices have a NUMA node where the policy requires one")
def unknown_numa(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts,
                 flavors: Sequence[dm.FlavorFacts]) -> Iterator[dm.Result]:
    """Firmware without PCI locality information makes sysfs report ``numa_node`` -1. Under the
    ``required`` and ``socket`` policies such devices are unusable for guests with a NUMA topology
    ("Dropped N device(s) as they are on the wrong NUMA node(s)"). Fails when every device a request
    could use has an unknown node; warns when some have."""
    for fl in flavors:
        if not fl.uses_numa:
            continue
        for req in fl.requests:
            if req.numa_policy not in STRICT:
                continue
            usable = _request_devices(req, compute_config, devices)
            unknown = [d for d in usable if d.numa_node is None]
            if not unknown:
                continue
            severity = dm.FAIL if len(unknown) == len(usable) else dm.WARN
            yield dm.result(
                severity, f"flavor {fl.name!r}",
                f"{len(unknown)} of the {len(usable)} device(s) for alias {req.alias_name!r} have no NUMA "
                f"node (numa_node -1) and policy {req.numa_policy!r} excludes them",
                [*(dm.Evidence(common.sysfs(d.address, "numa_node"), "-1") for d in unknown[:4])],
                f"openstack flavor set {fl.name} --property hw:pci_numa_affinity_policy=preferred "
                "(or legacy), or fix the firmware's ACPI _PXM/SRAT information")


@check("PCI-N003", "numa", title="one NUMA node can serve a required request")
def count_per_node(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts,
                   flavors: Sequence[dm.FlavorFacts]) -> Iterator[dm.Result]:
    """A guest with one NUMA node and policy ``required`` takes all its devices from that node. When
    the host has enough devices in total but no single node holds the count the flavor asks for, no
    NUMA placement fits. Fails, with the count per node."""
    for fl in flavors:
        if not fl.uses_numa or (fl.numa_nodes or 1) != 1:
            continue
        for req in fl.requests:
            if req.numa_policy != "required":
                continue
            usable = _request_devices(req, compute_config, devices)
            per_node: dict[int, int] = {}
            for d in usable:
                if d.numa_node is not None:
                    per_node[d.numa_node] = per_node.get(d.numa_node, 0) + 1
            best = max(per_node.values(), default=0)
            if best >= req.count or sum(per_node.values()) < req.count:  # unknown nodes: PCI-N001
                continue
            counts = ", ".join(f"node {n}: {c}" for n, c in sorted(per_node.items()))
            yield dm.result(
                dm.FAIL, f"flavor {fl.name!r}",
                f"alias {req.alias_name!r} asks {req.count} device(s) on the guest's one NUMA node under "
                f"'required', but no node has that many ({counts})",
                [fl.evidence(requests.ALIAS_KEY), fl.evidence(requests.POLICY_KEY)],
                f"openstack flavor set {fl.name} --property hw:numa_nodes=2, or --property "
                "hw:pci_numa_affinity_policy=preferred")
