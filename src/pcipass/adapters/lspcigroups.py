"""Line forms around lspci records in pastes: IOMMU-group listings and sysfs SR-IOV links.

Operators list IOMMU groups with a shell loop over ``/sys/kernel/iommu_groups/*``
that prints lspci lines under a group number. The common forms are:

* a header line ``IOMMU Group 35:`` (or ``IOMMU group 35``) with the group's
  ``lspci -nns`` lines below it, usually indented;
* a prefix on every line: ``IOMMU Group 35: 0000:01:00.0 ...`` (ls-iommu, where
  the class has no colon after its ``[0c03]``) or ``IOMMU group 35 01:00.0 ...``;
* the ``lspci -mm`` form ``Group 35:\\t[10de:21c4] [R] 09:00.0  VGA compatible
  controller   TU116 [...]``, later members of the group on lines of their own.

A paste may also show SR-IOV links (``ls -l`` or ``readlink`` of a device's
``physfn`` / ``virtfnN``): ``.../0000:03:10.0/physfn -> ../0000:03:00.0``. They
say which functions are VFs and which are their PFs.

Every pattern here runs on hostile lines, so none may backtrack over a run of
characters more than once (see :mod:`~pcipass.adapters.lspci`).
"""

from __future__ import annotations

import dataclasses
import re

_ADDR = r"(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]"
_FULL_ADDR = r"[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]"
#: ``IOMMU Group 35:`` alone on its line: the group of the lines below it.
GROUP_HEADER = re.compile(r"^\s*(?:IOMMU )?[Gg]roup\s+(?P<group>\d+)\s*:?$", re.IGNORECASE)
#: ``Group 35:\t[10de:21c4] [R] 09:00.0  VGA compatible controller   TU116 [...]`` and its
#: continuation lines (no ``Group N:``). The class is words joined by single spaces, so
#: it cannot trade characters with the run of spaces after it.
MM_LINE = re.compile(
    r"^\s*(?:(?:IOMMU )?[Gg]roup\s+(?P<group>\d+):\s*)?"
    r"\[(?P<v>[0-9a-fA-F]{4}):(?P<d>[0-9a-fA-F]{4})\]\s+(?:\[R\]\s+)?"
    rf"(?P<addr>{_ADDR})\s+(?P<class>\S+(?: \S+)*)\s\s+(?P<name>\S.*)$")
# "../" steps, then path segments that do not start with a dot: no run is matched two ways.
_UP = r"(?:\.\./)+(?:[^\s/.][^\s/]*/)*"
_PHYSFN = re.compile(rf"(?P<vf>{_FULL_ADDR})/physfn\s*->\s*{_UP}(?P<pf>{_FULL_ADDR})")
_VIRTFN = re.compile(rf"(?P<pf>{_FULL_ADDR})/virtfn(?P<n>\d+)\s*->\s*{_UP}(?P<vf>{_FULL_ADDR})")


@dataclasses.dataclass(frozen=True, slots=True)
class Link:
    """A VF and its PF, from a ``physfn`` or ``virtfnN`` link (``vf_index`` from the latter)."""

    vf: str
    pf: str
    vf_index: int | None


def group_header(line: str) -> int | None:
    """The group number of an ``IOMMU Group N:`` line alone, else ``None``."""
    if len(line) > 64:
        return None
    m = GROUP_HEADER.match(line)
    return int(m.group("group")) if m and len(m.group("group")) <= 10 else None


def sriov_link(line: str) -> Link | None:
    """The VF -> PF link a ``physfn`` or ``virtfnN`` line shows, else ``None``."""
    if "physfn" in line:
        m = _PHYSFN.search(line)
        if m:
            return Link(m.group("vf").lower(), m.group("pf").lower(), None)
    if "virtfn" in line:
        v = _VIRTFN.search(line)
        if v and len(v.group("n")) <= 6:
            return Link(v.group("vf").lower(), v.group("pf").lower(), int(v.group("n")))
    return None
