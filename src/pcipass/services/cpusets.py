"""Nova's CPU set options (``[compute] cpu_dedicated_set``, ``cpu_shared_set``, ``vcpu_pin_set``), bounded.

A value such as ``0-65536,0-65536,...`` (4,000 ranges) is a few dozen KiB of
config, yet expanding it range by range costs seconds and gigabytes. Here a
value is read as ranges first, with the grammar and messages of
:func:`pcipass.core.numa.parse_cpu_set` (Nova's ``parse_cpu_spec``), and
checked against a bound before anything is expanded: a CPU at or beyond
:data:`~pcipass.adapters.sysfs.MAX_CPUS` (no kernel has it) is an error
naming the option, its file and line. What passes is handed to the core in a
canonical form (``"0-3,8"``) that expands to at most the bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from pcipass.adapters.sysfs import MAX_CPUS
from pcipass.core import config, errors, numa

#: (NovaConfig attribute, the option's name in messages)
CPU_OPTIONS = (("cpu_dedicated_set", "[compute] cpu_dedicated_set"),
               ("cpu_shared_set", "[compute] cpu_shared_set"),
               ("vcpu_pin_set", "vcpu_pin_set"))
#: The longest value quoted back in a message.
_SHOWN = 60

Ranges = list[tuple[int, int]]


def parse_bounded(value: str, option: str, *, max_cpus: int) -> tuple[tuple[int, int], ...]:
    """The CPUs of ``value`` as merged ranges, never expanded; each CPU below ``max_cpus``.

    Same grammar, order of checks and messages as ``numa.parse_cpu_set``.

    :raises numa.InvalidCpuSet: a malformed element, a reversed or too long range, or a CPU
        at or beyond ``max_cpus``.
    """
    take: Ranges = []
    drop: Ranges = []
    for raw in value.split(","):
        rule = raw.strip()
        if not rule:
            continue
        target = take
        if rule.startswith("^"):
            target, rule = drop, rule[1:]
        first, sep, last = rule.partition("-")
        try:
            lo = int(first.strip())
            hi = int(last.strip()) if sep else lo
        except ValueError:
            kind = "range" if sep else ("exclusion" if target is drop else "inclusion")
            raise _invalid(option, value, f"invalid {kind} expression {raw.strip()!r}") from None
        if hi < lo or hi - lo > numa.MAX_CPU_RANGE:
            raise _invalid(option, value, f"invalid range expression {raw.strip()!r}")
        target.append((lo, hi))
    cpus = _subtract(_merge(take), _merge(drop))
    beyond = [(max(lo, max_cpus), hi) for lo, hi in cpus if hi >= max_cpus]
    if beyond:
        shown = ",".join(f"{lo}-{hi}" if hi != lo else str(lo) for lo, hi in beyond[:4])
        more = f",... ({len(beyond)} ranges)" if len(beyond) > 4 else ""
        raise _invalid(option, value,
                       f"CPUs {shown}{more} are beyond the {max_cpus:,} CPUs a kernel can have "
                       "(NR_CPUS); the value would expand past any host")
    return tuple(cpus)


def canonical(ranges: Sequence[tuple[int, int]]) -> str:
    """``((0, 3), (8, 8))`` -> ``"0-3,8"``: what ``numa.parse_cpu_set`` reads back unchanged."""
    return ",".join(f"{lo}-{hi}" if hi != lo else str(lo) for lo, hi in ranges)


def bounded_options(nova: config.NovaConfig, *, max_cpus: int = MAX_CPUS,
                    ) -> tuple[dict[str, str | None], list[errors.Problem]]:
    """Each CPU option of ``nova`` in canonical form, and a located error per refused value.

    A refused option maps to None.
    """
    values: dict[str, str | None] = {}
    problems: list[errors.Problem] = []
    for attr, option in CPU_OPTIONS:
        value = getattr(nova, attr)
        if not value:
            values[attr] = value
            continue
        try:
            values[attr] = canonical(parse_bounded(value, option, max_cpus=max_cpus))
        except numa.InvalidCpuSet as exc:
            values[attr] = None
            where = nova.located(attr)
            problems.append(exc.to_problem(file=where.file if where else None,
                                           line=where.line if where else None, entry=option))
    return values, problems


def _invalid(option: str, value: str, reason: str) -> numa.InvalidCpuSet:
    shown = value if len(value) <= _SHOWN else f"{value[:_SHOWN]}... ({len(value):,} characters)"
    return numa.InvalidCpuSet(option=option, value=shown, reason=reason,
                              hint="list the host's CPUs, e.g. 2-15,18-31 "
                                   "(sys/devices/system/cpu/online)")


def _merge(ranges: Ranges) -> Ranges:
    out: Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _subtract(a: Ranges, b: Ranges) -> Ranges:
    """``a`` minus ``b``, both merged and sorted."""
    out: Ranges = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] < lo:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= hi and lo <= hi:
            if b[k][0] > lo:
                out.append((lo, b[k][0] - 1))
            lo = max(lo, b[k][1] + 1)
            k += 1
        if lo <= hi:
            out.append((lo, hi))
    return out
