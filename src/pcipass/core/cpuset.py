"""Nova's CPU set grammar (``parse_cpu_spec``), read as ranges and bounded before expansion.

``[compute] cpu_dedicated_set``, ``cpu_shared_set`` and ``vcpu_pin_set`` take
values such as ``"0-7,^3,12"``. A value of 4,000 ranges (``0-65536,...``) is a
few dozen KiB of config, yet expanding it range by range costs seconds and
gigabytes; so a value is read as merged ranges first, and a CPU at or beyond
:data:`MAX_CPUS` (no kernel has it) is refused before anything is expanded.
This module is the one place the grammar lives: :func:`parse` is what the NUMA
fitting uses, :func:`parse_ranges` what the config checks use. The kernel's own
CPU lists (sysfs ``cpulist`` and ``possible``) have a simpler grammar and are
bounded the same way (:func:`bounded_list`), with the same range arithmetic.

Pure: standard library only.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from pcipass.core import errors

MAX_CPUS = 8192
"""The most CPUs a Linux kernel can have (``NR_CPUS`` is at most 8,192)."""

MAX_CPU_RANGE = 1 << 16
"""Largest CPU range accepted in a cpu set string; Nova has no bound, absurd ones are refused."""

#: The longest value quoted back in a message.
_SHOWN = 60

CpuRanges = tuple[tuple[int, int], ...]
"""Sorted, merged, inclusive CPU ranges: ``((0, 3), (8, 8))``."""


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
    take: list[tuple[int, int]] = []
    drop: list[tuple[int, int]] = []
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
    cpus = subtract(merge(take), merge(drop))
    beyond = tuple((max(lo, max_cpus), hi) for lo, hi in cpus if hi >= max_cpus)
    if beyond:
        raise _invalid(option, value,
                       f"CPUs {format_ranges(beyond)} are beyond the {max_cpus:,} CPUs a kernel "
                       "can have (NR_CPUS); the value would expand past any host")
    return cpus


def canonical(ranges: Sequence[tuple[int, int]]) -> str:
    """``((0, 3), (8, 8))`` -> ``"0-3,8"``: what :func:`parse_ranges` reads back unchanged."""
    return format_ranges(tuple(ranges), most=len(ranges))


def _invalid(option: str, value: str, reason: str) -> InvalidCpuSet:
    shown = value if len(value) <= _SHOWN else f"{value[:_SHOWN]}... ({len(value):,} characters)"
    return InvalidCpuSet(option=option, value=shown, reason=reason,
                         hint="list the host's CPUs, e.g. 2-15,18-31 (sys/devices/system/cpu/online)")


# -- the kernel's CPU lists (sysfs), bounded -------------------------------------------------

_KERNEL_LIST = re.compile(r"^\s*(\d+(-\d+)?)(,\d+(-\d+)?)*\s*$")
#: CPU numbers longer than this are beyond any bound (and ``int()`` refuses 4,300+ digits).
_MAX_CPU_DIGITS = 18


@dataclasses.dataclass(frozen=True, slots=True)
class CpuBound:
    """The CPUs a CPU list may name: sorted, merged inclusive ranges, and where they come from."""

    ranges: CpuRanges
    source: str

    @classmethod
    def fixed(cls) -> CpuBound:
        """The bound without the root's ``possible`` file: CPUs 0 to :data:`MAX_CPUS` - 1."""
        return cls(((0, MAX_CPUS - 1),), f"the {MAX_CPUS:,}-CPU cap")


@dataclasses.dataclass(frozen=True, slots=True)
class CpuList:
    """A parsed CPU list: the CPUs kept inside the bound, and the ranges dropped outside it."""

    cpus: tuple[int, ...]
    dropped: CpuRanges = ()


def parse_kernel_list(text: str) -> CpuRanges | None:
    """The kernel's CPU list format (sysfs ``cpulist``, ``possible``): ``"0-3,8,2-5"`` ->
    ``((0, 5), (8, 8))``, merged and sorted, nothing expanded.

    ``None`` for garbage or a reversed range. Numbers too long to be a CPU are
    kept as a huge value that no bound holds.
    """
    text = text.strip()
    if text == "":
        return ()
    if not _KERNEL_LIST.match(text):
        return None
    ranges = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        first, last = _cpu_number(lo), _cpu_number(hi or lo)
        if last < first:
            return None
        ranges.append((first, last))
    return merge(ranges)


def bounded_list(text: str, *, bound: CpuBound) -> CpuList | None:
    """Parse a kernel CPU list, expanding only the CPUs inside ``bound``.

    A 64 KiB list of ``0-1000000`` ranges costs at most the bound's CPUs, never
    the ranges' sum. ``None`` for garbage.
    """
    ranges = parse_kernel_list(text)
    if ranges is None:
        return None
    kept = intersect(ranges, bound.ranges)
    cpus = tuple(cpu for lo, hi in kept for cpu in range(lo, hi + 1))
    return CpuList(cpus, subtract(ranges, bound.ranges))


def format_ranges(ranges: CpuRanges, *, most: int = 4) -> str:
    """``((0, 3), (8, 8))`` -> ``"0-3,8"``; past ``most`` ranges, ``",... (N ranges)"``."""
    shown = ",".join(f"{lo}-{hi}" if hi != lo else f"{lo}" for lo, hi in ranges[:most])
    return shown if len(ranges) <= most else f"{shown},... ({len(ranges)} ranges)"


def _cpu_number(text: str) -> int:
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_CPU_DIGITS else 10 ** _MAX_CPU_DIGITS


def merge(ranges: Sequence[tuple[int, int]]) -> CpuRanges:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def intersect(a: CpuRanges, b: CpuRanges) -> CpuRanges:
    """Both merged and sorted."""
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def subtract(a: CpuRanges, b: CpuRanges) -> CpuRanges:
    """``a`` minus ``b``, both merged and sorted (one pass over each)."""
    out = []
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
    return tuple(out)
