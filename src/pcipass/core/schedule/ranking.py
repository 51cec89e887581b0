"""Which fitting host Nova picks: the PCIWeigher, then our tie-breaks.

:func:`rank_hosts` is Nova's PCIWeigher (``100 - min(free, 99)``, normalized
across the hosts that fit, times ``pci_weight_multiplier``), with ties broken
by "fits on one NUMA node" and then the host name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from pcipass.core.schedule import verdicts


@dataclasses.dataclass(frozen=True, slots=True)
class Ranking:
    """Hosts in Nova's order (fitting ones by weight, then the rest by name) and the winner."""

    hosts: tuple[verdicts.HostVerdict, ...]
    chosen: str | None


def normalize(values: Sequence[float]) -> list[float]:
    """Nova's ``weights.normalize``: min-max to [0, 1]; all equal -> all 0."""
    if not values:
        return []
    low, high = float(min(values)), float(max(values))
    if low == high:
        return [0.0] * len(values)
    return [(v - low) / (high - low) for v in values]


def rank_hosts(verdicts: Sequence[verdicts.HostVerdict],
               multiplier: float | Mapping[str, float] = 1.0) -> Ranking:
    """PCIWeigher over the hosts that fit, then "fits on one NUMA node", then the host name.

    Nova weighs only hosts that passed the filters, and a single host is not
    weighed at all (weight 0.0). Hosts that do not fit keep weight 0.0 and come
    last, by name. ``multiplier`` is ``pci_weight_multiplier``, or per host
    (aggregate metadata overrides).
    """
    fitting = [v for v in verdicts if v.fits]
    weights = [0.0] * len(fitting)
    if len(fitting) > 1:
        normalized = normalize([float(v.raw_weight) for v in fitting])
        weights = [_multiplier(multiplier, v.name) * w for v, w in zip(fitting, normalized)]
    weighed = [dataclasses.replace(v, weight=w) for v, w in zip(fitting, weights)]
    weighed.sort(key=lambda v: (-v.weight, not v.one_numa_node, v.name))
    rest = sorted((dataclasses.replace(v, weight=0.0) for v in verdicts if not v.fits),
                  key=lambda v: v.name)
    return Ranking(tuple(weighed + rest), weighed[0].name if weighed else None)


def _multiplier(value: float | Mapping[str, float], name: str) -> float:
    if isinstance(value, Mapping):
        return float(value.get(name, 1.0))
    return float(value)
