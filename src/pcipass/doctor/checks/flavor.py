"""Flavor extra specs: what Nova refuses before it even looks for a host."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pcipass.core import requests
from pcipass.doctor import model as dm
from pcipass.core.layers import Layer
from pcipass.doctor.registry import check

UNDEFINED = frozenset({"PciRequestAliasNotDefined"})
MALFORMED = frozenset({"InvalidAliasRequest", "ValidationError", "InvalidExtraSpec"})
IMAGE = frozenset({"ImagePCINUMAPolicyForbidden", "ImageNUMATopologyForbidden", "ImageCPUPinningForbidden",
                   "InvalidRequest"})
#: The extra spec each refusal is about, by code (other codes: the alias spec).
REFUSED_KEY = {"InvalidPCINUMAAffinity": requests.POLICY_KEY,
               "InvalidNUMANodesNumber": requests.NUMA_NODES_KEY,
               "ImageNUMATopologyAsymmetric": requests.NUMA_NODES_KEY,
               "InvalidCPUAllocationPolicy": requests.CPU_POLICY_KEY,
               "UnsupportedTopology": requests.CPU_POLICY_KEY}


def _refusal(fl: dm.FlavorFacts, key: str) -> dm.Result:
    p = fl.error
    assert p is not None
    return dm.result(dm.FAIL, f"flavor {fl.name!r}", f"{p.code}: {p.message}",
                     [fl.evidence(key), dm.problem_evidence(p)], p.hint)


@check("PCI-F001", Layer.FLAVOR, title="flavors name defined aliases")
def undefined_alias(flavors: Sequence[dm.FlavorFacts]) -> Iterator[dm.Result]:
    """``pci_passthrough:alias`` names aliases of the controller's ``[pci] alias`` table. Nova's API
    checks only the syntax; an unknown name fails at boot with "PCI alias X is not defined". Fails,
    with the closest defined name."""
    for fl in flavors:
        if not fl.aliases_known and fl.extra_specs.get(requests.ALIAS_KEY):
            yield dm.result(dm.SKIP, f"flavor {fl.name!r}", "alias names not checked: no controller "
                            "config (--nova-conf) with the [pci] alias table")
        elif fl.error is not None and fl.error.code in UNDEFINED:
            yield _refusal(fl, requests.ALIAS_KEY)


@check("PCI-F002", Layer.FLAVOR, title="pci_passthrough:alias is well formed")
def malformed_alias(flavors: Sequence[dm.FlavorFacts]) -> Iterator[dm.Result]:
    """The value is ``<alias>:<count>[,<alias>:<count>...]``. Malformed items make the boot fail (Nova
    leaks a bare ValueError); values Nova's API (microversion 2.86+) would reject, and counts below 1,
    are warnings."""
    for fl in flavors:
        if fl.error is not None and fl.error.code in MALFORMED:
            yield _refusal(fl, requests.ALIAS_KEY)
        for w in fl.warnings:
            yield dm.result(dm.WARN, f"flavor {fl.name!r}", f"{w.code}: {w.message}",
                            [fl.evidence(w.entry if w.entry and w.entry in fl.extra_specs else requests.ALIAS_KEY)], w.hint)


@check("PCI-F003", Layer.FLAVOR, title="the image agrees with the flavor")
def image_conflict(flavors: Sequence[dm.FlavorFacts]) -> Iterator[dm.Result]:
    """Image properties may not override the flavor: ``hw_pci_numa_affinity_policy`` differing from
    ``hw:pci_numa_affinity_policy``, ``hw_numa_nodes`` with ``hw:numa_nodes``, ``hw_cpu_policy``
    asking more pinning than the flavor. Nova refuses the boot. Fails (needs ``--image``)."""
    for fl in flavors:
        if fl.error is not None and fl.error.code in IMAGE:
            yield _refusal(fl, requests.POLICY_KEY)


@check("PCI-F004", Layer.FLAVOR, title="flavor values are valid")
def other_refusals(flavors: Sequence[dm.FlavorFacts]) -> Iterator[dm.Result]:
    """Everything else that makes Nova refuse a flavor before scheduling: an unreadable flavor file, an
    unknown PCI NUMA policy or CPU policy, a bad ``hw:numa_nodes``, an invalid alias table. Fails."""
    for fl in flavors:
        if fl.error is not None and fl.error.code not in UNDEFINED | MALFORMED | IMAGE:
            yield _refusal(fl, REFUSED_KEY.get(fl.error.code, requests.ALIAS_KEY))
