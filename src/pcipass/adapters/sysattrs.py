"""The text of one sysfs PCI attribute, as the kernel prints it, turned into a Device field.

``vendor`` is ``0x8086``, ``sriov_vf_device`` is ``154c`` (``%x``), ``numa_node``
is ``-1`` when unknown, ``driver_override`` is ``(null)``-free text. Each parser
returns ``None`` for anything else, and the reader names the file in a warning.
"""

from __future__ import annotations

import re
from typing import Any

from pcipass.core import cpuset

_HEX_ID = re.compile(r"^0x([0-9a-fA-F]{1,4})$")
_HEX_CLASS = re.compile(r"^0x([0-9a-fA-F]{1,6})$")
_HEX_REV = re.compile(r"^0x([0-9a-fA-F]{1,2})$")
_VF_DEVICE = re.compile(r"^(?:0x)?([0-9a-fA-F]{1,4})$")
_PRINTABLE_OR_EMPTY = re.compile(r"[\x21-\x7e]*")


def _hex_id(text: str) -> str | None:
    m = _HEX_ID.match(text)
    return m.group(1).lower().zfill(4) if m else None


def _hex_class(text: str) -> str | None:
    m = _HEX_CLASS.match(text)
    return m.group(1).lower().zfill(6) if m else None


def _hex_rev(text: str) -> str | None:
    m = _HEX_REV.match(text)
    return m.group(1).lower().zfill(2) if m else None


def _vf_device(text: str) -> str | None:
    """``sriov_vf_device`` is printed ``%x`` (no ``0x``, no padding)."""
    m = _VF_DEVICE.match(text)
    return m.group(1).lower().zfill(4) if m else None


def int_value(text: str) -> int | None:
    try:
        return int(text, 10)
    except ValueError:
        return None


def _numa(text: str) -> int | None:
    value = int_value(text)
    return None if value is None or value < -1 else value


def _bool01(text: str) -> bool | None:
    return {"1": True, "0": False}.get(text)


def _cpulist(text: str) -> str | None:
    """A CPU list as the core parses it (:func:`cpuset.parse_kernel_list`), kept as text."""
    return text if cpuset.parse_kernel_list(text) is not None else None


def _override(text: str) -> str | None:
    return text if _PRINTABLE_OR_EMPTY.fullmatch(text) else None


ATTRS: dict[str, tuple[str, Any]] = {
    # attribute: (Device field, parser); parsers return None for garbage
    "vendor": ("vendor_id", _hex_id),
    "device": ("product_id", _hex_id),
    "subsystem_vendor": ("subsystem_vendor_id", _hex_id),
    "subsystem_device": ("subsystem_id", _hex_id),
    "class": ("class_code", _hex_class),
    "revision": ("revision", _hex_rev),
    "numa_node": ("numa_node", _numa),
    "local_cpulist": ("local_cpulist", _cpulist),
    "driver_override": ("driver_override", _override),
    "sriov_totalvfs": ("sriov_totalvfs", int_value),
    "sriov_numvfs": ("sriov_numvfs", int_value),
    "sriov_drivers_autoprobe": ("sriov_drivers_autoprobe", _bool01),
    "sriov_vf_device": ("sriov_vf_device", _vf_device),
}
ATTR_LIST = tuple((attr, field, parse) for attr, (field, parse) in ATTRS.items())
