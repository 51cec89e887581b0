"""The 2013 label-based PCI passthrough design: its compute and flavor keys, parsed.

Before ``device_spec`` and ``alias`` existed, the first PCI passthrough
proposal for Nova (2013, ISP RAS, around blueprint "pci-passthrough-base")
listed assignable devices per compute host and let flavors ask for labels:

* compute: ``[DEFAULT] pci_passthrough_devices`` = a JSON list of
  ``{"label": str (1-200 chars), "address": "dddd:bb:ss.f"}``, optionally
  with ``vendor_id``/``product_id`` (4 hex digits); no other keys; an address
  may appear once per host;
* flavor: ``pci_passthrough:labels`` = a JSON list of labels, one element per
  device, so ``["with_eth", "with_eth"]`` asks for two ``with_eth`` devices
  (the scheduler filter removed one free label per element).

Current Nova does not read either key: such a host offers no PCI device and
such a flavor asks for none. This module parses both (as plain spec dicts in
which the label is a tag, so pcipass can still match and schedule them);
:mod:`~pcipass.core.legacy_modern` writes the modern configuration that does
the same job.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import os_resource_classes

from pcipass.core import address as address_mod
from pcipass.core import errors, jsontext, model
from pcipass.core import requests as requests_mod
from pcipass.core import spec as spec_mod

OPTION = "pci_passthrough_devices"
LABELS_KEY = "pci_passthrough:labels"
MAX_LABEL = 200
KEYS = ("label", "address", "vendor_id", "product_id")
# Keys of the 2013 hypervisor report (libvirt ``pci_passthrough_devices`` resource), not of the option.
REPORT_KEYS = ("dev_id", "dev_type", "phys_function", "numa_node", "parent_addr", "extra_info")
COMPUTE_OPTION = "[pci] report_in_placement = True"
SCHEDULER_OPTION = "[filter_scheduler] pci_in_placement = True"
_ID = re.compile(r"[0-9a-fA-F]{4}\Z")


PciDeviceInvalidConfig = errors.PciDeviceInvalidConfig


class _Located(Protocol):
    """An option value with its location (``config.OptionValue`` fits)."""

    @property
    def value(self) -> str: ...


@dataclasses.dataclass(frozen=True, slots=True)
class LegacyDevice:
    """One device of a host's legacy list."""

    label: str
    address: str
    vendor_id: str | None = None
    product_id: str | None = None
    value_index: int = 0
    item: int = 0

    def spec_dict(self) -> dict[str, str]:
        """The device as a plain device_spec dict whose ``label`` is a tag."""
        spec = {"address": self.address, "label": self.label}
        for key in ("vendor_id", "product_id"):
            value = getattr(self, key)
            if value is not None:
                spec[key] = value
        return spec

    @property
    def resource_class(self) -> str:
        return resource_class_for(self.label)


@dataclasses.dataclass(frozen=True, slots=True)
class LegacyParseResult:
    devices: list[LegacyDevice]
    problems: list[errors.Problem]
    warnings: list[errors.Problem]


def resource_class_for(label: str) -> str:
    """The custom resource class of a label, normalized as os-resource-classes does."""
    return str(os_resource_classes.normalize_name(label))


def alias_name_for(label: str) -> str:
    """An alias name a ``pci_passthrough:alias`` value can name (no ``,``/``:``/edge spaces)."""
    if label == label.strip() and not re.search(r"[,:]", label):
        return label
    return re.sub(r"[,:\s]+", "_", label).strip("_") or "label"


def parse_legacy_devices(values: Sequence[str]) -> LegacyParseResult:
    """Parse ``pci_passthrough_devices`` values (each a JSON list of devices) of one host.

    Every problem is collected; a rejected device is left out. Problems carry
    ``value_index`` and ``entry`` (``"item N"``, 0-based like the list).
    """
    devices: list[LegacyDevice] = []
    problems: list[errors.Problem] = []
    seen: dict[str, LegacyDevice] = {}
    for index, raw in enumerate(values):
        try:
            items = _decode_list(raw)
        except PciDeviceInvalidConfig as exc:
            problems.append(exc.to_problem(value_index=index))
            continue
        for item, obj in enumerate(items):
            try:
                dev = _parse_device(obj, index, item)
                _check_unique(dev, seen)
            except PciDeviceInvalidConfig as exc:
                problems.append(exc.to_problem(value_index=index, entry=f"item {item}"))
                continue
            seen[dev.address] = dev
            devices.append(dev)
    return LegacyParseResult(devices, problems, [])


def _decode_list(raw: Any) -> list[Any]:
    if not isinstance(raw, str):
        raise PciDeviceInvalidConfig(reason=f"the value {errors.clip(repr(raw))} is not a string")
    try:
        obj = jsontext.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise PciDeviceInvalidConfig(reason=f"not JSON ({exc})", hint=_LIST_HINT) from None
    if not isinstance(obj, list):
        raise PciDeviceInvalidConfig(reason=f"expected a JSON list of devices, got {_kind(obj)}",
                                     hint=_LIST_HINT)
    return obj


_LIST_HINT = 'write a JSON list: [{"label": "with_eth", "address": "0000:04:10.7"}]'


def _parse_device(obj: Any, index: int, item: int) -> LegacyDevice:
    if not isinstance(obj, dict):
        raise PciDeviceInvalidConfig(reason=f"item {item} is {_kind(obj)}, expected an object",
                                     hint=_LIST_HINT)
    _check_keys(obj, item)
    label = obj.get("label")
    if not isinstance(label, str) or not 1 <= len(label) <= MAX_LABEL:
        raise PciDeviceInvalidConfig(
            reason=f"item {item}: label must be a string of 1 to {MAX_LABEL} characters, got {label!r}",
            hint='every device needs a "label", e.g. "with_eth"')
    return LegacyDevice(label, _address(obj.get("address"), item), _pci_id(obj, "vendor_id", item),
                        _pci_id(obj, "product_id", item), index, item)


def _check_keys(obj: Mapping[str, Any], item: int) -> None:
    for key in obj:
        if key in KEYS:
            continue
        if key in REPORT_KEYS:
            hint = f"{key!r} belongs to the hypervisor's device report, not to this option; remove it"
        else:
            close = difflib.get_close_matches(str(key), KEYS, n=1)
            hint = f'did you mean "{close[0]}"?' if close else "allowed keys: " + ", ".join(KEYS)
        raise PciDeviceInvalidConfig(reason=f"item {item}: unknown key {key!r}", hint=hint)


def _address(value: Any, item: int) -> str:
    if value is None:
        raise PciDeviceInvalidConfig(reason=f"item {item}: address is missing",
                                     hint='add "address": "dddd:bb:ss.f"')
    try:
        if not isinstance(value, str):
            raise errors.InvalidPciAddress(address=value, reason="not a string")
        return str(address_mod.PciAddress.parse(value))
    except errors.InvalidPciAddress as exc:
        raise PciDeviceInvalidConfig(reason=f"item {item}: {exc.message}",
                                     hint="a full address such as 0000:04:10.7") from None


def _pci_id(obj: Mapping[str, Any], key: str, item: int) -> str | None:
    value = obj.get(key)
    if value is None and key not in obj:
        return None
    if not isinstance(value, str) or _ID.match(value) is None:
        raise PciDeviceInvalidConfig(reason=f"item {item}: {key} {value!r} is not 4 hex digits",
                                     hint=f'e.g. "{key}": "8086"')
    return value.lower()


def _check_unique(dev: LegacyDevice, seen: Mapping[str, LegacyDevice]) -> None:
    other = seen.get(dev.address)
    if other is not None:
        raise PciDeviceInvalidConfig(
            reason=f"item {dev.item}: address {dev.address} is listed twice (label {other.label!r} "
                   f"in value {other.value_index}, item {other.item})",
            hint="list each device once")


def _kind(obj: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(obj), "a number")


# -- flavors -----------------------------------------------------------------------------------


def label_counts(value: str) -> list[tuple[str, int]]:
    """Count the labels of a ``pci_passthrough:labels`` value, in first-seen order.

    :raises errors.InvalidExtraSpec: not a JSON list of non-empty strings.
    """
    try:
        obj = jsontext.loads(value)
    except (ValueError, RecursionError, TypeError) as exc:
        raise _bad_labels(value, f"not JSON ({exc})") from None
    if not isinstance(obj, list):
        # NOTE: the 2013 filter iterated whatever came out: a string asked
        # for one device per character. We refuse it.
        raise _bad_labels(value, f"expected a JSON list of labels, got {_kind(obj)}")
    counts: dict[str, int] = {}
    for position, label in enumerate(obj):
        if not isinstance(label, str) or not label:
            raise _bad_labels(value, f"element {position} ({label!r}) is not a label")
        counts[label] = counts.get(label, 0) + 1
    return list(counts.items())


def parse_labels(value: str) -> list[requests_mod.PciRequest]:
    """Turn ``pci_passthrough:labels`` into requests that match devices by their ``label`` tag.

    Repeated labels become one request with a count; ``numa_policy`` is None
    because the 2013 design had no NUMA affinity.
    """
    return [requests_mod.PciRequest(label, count, None, [{"label": label}], position)
            for position, (label, count) in enumerate(label_counts(value))]


def _bad_labels(value: str, reason: str) -> errors.InvalidExtraSpec:
    return errors.InvalidExtraSpec(value=errors.clip(value), key=LABELS_KEY, reason=reason, entry=LABELS_KEY,
                                   hint='write a JSON list of labels, e.g. ["with_eth", "with_eth"]')


# -- the deprecation ---------------------------------------------------------------------------


def deprecation_warning(host: str | None = None) -> errors.Problem:
    """The warning every legacy configuration gets."""
    where = f" on {host}" if host else ""
    return errors.Problem(
        code="DeprecatedLegacyPciConfig", entry=OPTION,
        message=(f"[DEFAULT] {OPTION}{where} is the 2013 label-based PCI passthrough design; "
                 "current Nova ignores it, so these devices are not available for passthrough"),
        hint=(f"replace it with [pci] device_spec entries carrying a resource_class per label, "
              f"[pci] alias entries naming that resource_class, {COMPUTE_OPTION} and "
              f"{SCHEDULER_OPTION} (see the modern equivalent)"))


# -- one host's config -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ValueSource:
    """Where one value of the option was written (None: not known)."""

    file: str | None
    line: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class LegacyConfig:
    """The legacy option as found in one host's nova.conf files; ``sources`` by value index."""

    host: str
    devices: list[LegacyDevice]
    problems: list[errors.Problem]
    warnings: list[errors.Problem]
    has_legacy: bool
    sources: list[ValueSource] = dataclasses.field(default_factory=list)


def parse_legacy_config(values: Sequence[str | _Located], *, host: str | None = None) -> LegacyConfig:
    """Parse one host's ``pci_passthrough_devices`` values (strings or located option values).

    Problems get the value's ``file``/``line`` when the values carry them.
    Any value at all earns the :func:`deprecation_warning`.
    """
    raw = [v if isinstance(v, str) else v.value for v in values]
    sources = [ValueSource(getattr(v, "file", None), getattr(v, "line", None)) for v in values]
    parsed = parse_legacy_devices(raw)
    problems = [_locate(p, sources) for p in parsed.problems]
    warnings = [deprecation_warning(host)] if values else []
    if values:
        src = sources[0]
        warnings = [warnings[0].located(file=src.file, line=src.line, value_index=0)]
    return LegacyConfig(host or "this host", parsed.devices, problems, warnings, bool(values), sources)


def _locate(problem: errors.Problem, sources: Sequence[ValueSource]) -> errors.Problem:
    idx = problem.value_index
    if idx is None or not 0 <= idx < len(sources):
        return problem
    return problem.located(file=sources[idx].file, line=sources[idx].line)


def spec_entries(devices: Sequence[LegacyDevice], facts: model.HostFacts, *,
                 start: int) -> list[spec_mod.SpecEntry]:
    """The 2013 devices as device_spec entries, the label kept as a tag.

    pcipass's own model supports the original design: a device listed with a
    label is assignable, and a ``pci_passthrough:labels`` request matches it
    through the ``label`` tag (see :func:`parse_labels`). The entries are
    numbered from ``start`` (after the host's modern specs); their
    ``value_index``/``item`` point into ``[DEFAULT] pci_passthrough_devices``.
    Devices whose dict the spec parser rejects were already reported by
    :func:`parse_legacy_devices` and are left out.
    """
    out = []
    for n, dev in enumerate(devices):
        try:
            parsed = spec_mod.parse_spec(dev.spec_dict(), facts)
        except errors.PcipassError:
            continue
        out.append(spec_mod.SpecEntry(start + n, dev.value_index, dev.item, parsed))
    return out
