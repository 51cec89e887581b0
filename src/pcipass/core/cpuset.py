"""Nova's CPU set grammar (``parse_cpu_spec``), read as ranges and bounded before expansion.

``[compute] cpu_dedicated_set``, ``cpu_shared_set`` and ``vcpu_pin_set`` take
values such as ``"0-7,^3,12"``. A value of 4,000 ranges (``0-65536,...``) is a
few dozen KiB of config, yet expanding it range by range costs seconds and
gigabytes; so a value is read as merged ranges first, and a CPU at or beyond
:data:`MAX_CPUS` (no kernel has it) is refused before anything is expanded.
This module is the one place the grammar lives: :func:`parse` is what the NUMA
fitting uses, :func:`parse_ranges` what the config checks use.

Pure: standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence

from pcipass.core import errors

MAX_CPUS = 8192
"""The most CPUs a Linux kernel can have (``NR_CPUS`` is at most 8,192)."""

MAX_CPU_RANGE = 1 << 16
"""Largest CPU range accepted in a cpu set string; Nova has no bound, absurd ones are refused."""

#: The longest value quoted back in a message.
_SHOWN = 60

Ranges = list[tuple[int, int]]


class InvalidCpuSet(errors.InputError):
    """A ``cpu_dedicated_set``-style value Nova's ``parse_cpu_spec`` refuses (``nova.exception.Invalid``)."""

    msg_fmt = "Invalid %(option)s value %(value)r: %(reason)s"


def parse(value: str, option: str = "cpu set", *, max_cpus: int = MAX_CPUS) -> frozenset[int]:
    """Nova's ``parse_cpu_spec``: ``"0-7,^3,12"`` -> CPU ids, each below ``max_cpus``.

    :raises InvalidCpuSet: a malformed element, a reversed or too long range, or a CPU at
        or beyond ``max_cpus``.
    """
    return frozenset(cpu for lo, hi in parse_ranges(value, option, max_cpus=max_cpus)
                     for cpu in range(lo, hi + 1))


def parse_ranges(value: str, option: str = "cpu set", *,
                 max_cpus: int = MAX_CPUS) -> tuple[tuple[int, int], ...]:
    """The CPUs of ``value`` as merged ranges, never expanded; each CPU below ``max_cpus``.

    :raises InvalidCpuSet: a malformed element, a reversed or too long range, or a CPU
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
        if hi < lo or hi - lo > MAX_CPU_RANGE:
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
    """``((0, 3), (8, 8))`` -> ``"0-3,8"``: what :func:`parse_ranges` reads back unchanged."""
    return ",".join(f"{lo}-{hi}" if hi != lo else str(lo) for lo, hi in ranges)


def _invalid(option: str, value: str, reason: str) -> InvalidCpuSet:
    shown = value if len(value) <= _SHOWN else f"{value[:_SHOWN]}... ({len(value):,} characters)"
    return InvalidCpuSet(option=option, value=shown, reason=reason,
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
