"""``[pci] device_spec``: parse the config values and match devices, as Nova does.

This is Nova's ``whitelist.py`` and ``devspec.py`` (nova-pci.md §1) as a pure
module. Nova probes ``/sys`` while it parses (is this address an SR-IOV PF?
which device is netdev ``eth3``?); here those answers come in as
:class:`model.HostFacts`, so parsing the same config against the same facts
gives the same specs every time.

Differences from Nova, all deliberate (see ``docs/compat.md``):

* :func:`parse_device_spec_values` collects every problem instead of stopping
  at the first one.
* Where Nova leaks a bare Python error (non-string ``vendor_id``, non-string
  regex pattern, deeply nested JSON), we raise a Nova-named error with a reason.
* A truthy non-string ``devname`` is rejected (Nova would look up ``str(x)``).
* ``remote_managed`` on a PF given by ``address`` gets the check Nova intends;
  Nova itself crashes there (§9.7). The ``PciDeviceInvalidPFRemoteManaged``
  message is the documented text; Nova's is the bare PF address.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pcipass.core import errors, jsontext, model, spec_fields, strutils
from pcipass.core import spec_address as addr

ANY = addr.ANY
MAX_VENDOR_ID = 0xFFFF
MAX_PRODUCT_ID = 0xFFFF

REMOTE_MANAGED = "remote_managed"
STRICT_BOOL_TAGS = ("managed", "live_migratable", "one_time_use")
#: Tags Nova leaves out of pool keys: Placement's, and the RP hook's. Nova's class body binds
#: ``ignored_spec_tags`` and ``ignored_pool_tags`` to one list and extends it with
#: ``rp_uuids`` and then ``rp_uuid``, so all four are ignored in both roles.
POOL_IGNORED_TAGS = frozenset({"resource_class", "traits", "rp_uuids", "rp_uuid"})


@dataclasses.dataclass(frozen=True, slots=True)
class Mismatch:
    """Why a spec does not match a device: one field, what the spec wants, what the device has."""

    field: str
    wanted: str
    got: str | None

    def __str__(self) -> str:
        return f"{self.field} wanted {self.wanted} got {self.got}"


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One parsed ``device_spec`` dict.

    :ivar vendor_id: 4 lower-case hex digits, or ``*``.
    :ivar product_id: 4 lower-case hex digits, or ``*``.
    :ivar address: the address to match, or None when ``devname`` names no
        netdev on this host (such a spec matches nothing, as in Nova).
    :ivar devname: the netdev name, when the spec used ``devname``.
    :ivar physical_function: the address is an SR-IOV PF on this host, so the
        spec also matches devices whose ``parent_addr`` is that PF.
    :ivar remote_managed: the lenient truth of the ``remote_managed`` tag.
    :ivar tags: every key Nova did not consume, JSON types kept, with the
        strict bool tags rewritten to ``"true"``/``"false"``.
    :ivar raw: the dict as given.
    :ivar unchecked: checks Nova would run on the host that could not be run
        because the host facts are unknown.
    """

    vendor_id: str = ANY
    product_id: str = ANY
    address: addr.AddressSpec | None = addr.GlobAddress(ANY, ANY, ANY, ANY)
    devname: str | None = None
    physical_function: bool = False
    remote_managed: bool = False
    tags: dict[str, Any] = dataclasses.field(default_factory=dict)
    raw: dict[str, Any] = dataclasses.field(default_factory=dict)
    unchecked: tuple[str, ...] = ()

    def match(self, device: model.Device) -> bool:
        """Return True when Nova's ``PciDeviceSpec.match`` would accept ``device``.

        The ids are compared first, so a malformed device address only raises
        when they match (Nova parses the address first; discovery never
        produces such addresses).

        :raises errors.PciDeviceWrongAddressFormat: the device address is not ``d:b:s.f``.
        :raises errors.PciConfigInvalidSpec: a device address field out of range.
        """
        if self.vendor_id != ANY and self.vendor_id != device.vendor_id:
            return False
        if self.product_id != ANY and self.product_id != device.product_id:
            return False
        return self._match_rest(device, addr.device_fields(device.address))

    def _match_rest(self, device: model.Device, fields: addr.Fields) -> bool:
        address = self.address
        if address is None:
            return False
        if not address.matches(fields) and not self._parent_matches(device):
            return False
        return not self.remote_managed or bool(device.card_serial_number)

    def _parent_matches(self, device: model.Device) -> bool:
        if not (self.physical_function and device.parent_addr and self.address is not None):
            return False
        return self.address.matches(addr.device_fields(device.parent_addr))

    def mismatches(self, device: model.Device) -> list[Mismatch]:
        """Say why ``device`` does not match; empty exactly when :meth:`match` is True.

        A PF spec that matches neither the device nor its parent yields two
        entries, ``address`` and ``parent_addr``.
        """
        out: list[Mismatch] = []
        for name, wanted, got in (("vendor_id", self.vendor_id, device.vendor_id),
                                  ("product_id", self.product_id, device.product_id)):
            if wanted != ANY and wanted != got:
                out.append(Mismatch(name, wanted, got))
        out.extend(self._address_mismatches(device))
        if self.remote_managed and not device.card_serial_number:
            out.append(Mismatch("card_serial_number", "a VPD card serial number (remote_managed)",
                                device.card_serial_number))
        return out

    def _address_mismatches(self, device: model.Device) -> list[Mismatch]:
        if self.address is None:
            return [Mismatch("devname", f"netdev {self.devname} present on the host", None)]
        if self.address.matches(addr.device_fields(device.address)) or self._parent_matches(device):
            return []
        out = [Mismatch("address", self.address_text(), device.address)]
        if self.physical_function:
            out.append(Mismatch("parent_addr", self.address_text(), device.parent_addr))
        return out

    def address_text(self) -> str:
        """The address as a readable string (glob normalized, regex fields joined)."""
        if self.address is None:
            return f"(netdev {self.devname} not present)"
        if isinstance(self.address, addr.RegexAddress):
            return json.dumps(dict(self.address.raw), sort_keys=True)
        return self.address.text


@dataclasses.dataclass(frozen=True, slots=True)
class SpecEntry:
    """A parsed spec and where it came from.

    :ivar index: position in the flattened spec list (contracts.md: every
        value, and every element of a JSON list value, in config order).
        Rejected entries keep their index, so later indexes never shift.
    :ivar value_index: the 0-based config value.
    :ivar item: the 0-based element inside a JSON list value, else None.
    """

    index: int
    value_index: int
    item: int | None
    spec: DeviceSpec


@dataclasses.dataclass(frozen=True, slots=True)
class SpecParseResult:
    """All specs that parsed, plus every problem and warning, in config order."""

    specs: list[SpecEntry] = dataclasses.field(default_factory=list)
    problems: list[errors.Problem] = dataclasses.field(default_factory=list)
    warnings: list[errors.Problem] = dataclasses.field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


# -- value list -> specs (whitelist.py) ------------------------------------------------------


def parse_device_spec_values(values: Sequence[str], facts: model.HostFacts, *,
                             report_in_placement: bool = False,
                             compiler: addr.PatternCompiler | None = None) -> SpecParseResult:
    """Parse every ``[pci] device_spec`` value; never raises, collects problems instead.

    Indexes: a value that is a JSON dict, or that is rejected before it could be
    split (bad JSON, not list/dict), takes one index; a JSON list value takes one
    index per element (rejected or not); ``[]`` takes none. Problems carry
    ``value_index`` and ``entry`` (``"device_spec value 2, item 1"``, 0-based).

    :param values: the raw strings of the option values, in config order.
    :param facts: what the host's sysfs says (PFs, netdevs).
    :param report_in_placement: ``[pci] report_in_placement``.
    :param compiler: compiles regex address patterns (default: Python ``re``, unbounded;
        the services pass a bounded one). An error it raises rejects that entry.
    """
    result = SpecParseResult()
    index = 0
    for value_index, raw in enumerate(values):
        try:
            items = _decode_value(raw)
        except errors.PcipassError as exc:
            result.problems.append(exc.to_problem(value_index=value_index,
                                                  entry=_entry_name(value_index, None)))
            index += 1
            continue
        for item, item_value in items:
            _parse_entry(result, index, value_index, item, item_value, facts, report_in_placement,
                         compiler)
            index += 1
    return result


def _decode_value(raw: str) -> list[tuple[int | None, Any]]:
    """JSON-decode one value into ``(item, element)`` pairs (item None for a dict value)."""
    try:
        if not isinstance(raw, str):
            raise TypeError(f"the value is {type(raw).__name__}, not a string")
        decoded = jsontext.loads(raw)
    except jsontext.JsonTooComplex as exc:
        raise errors.PciConfigInvalidSpec(
            reason=f"Invalid entry: '{errors.clip(raw)}': the JSON is {exc}",
            hint="a device_spec value is one JSON object or a flat list of objects") from None
    except (ValueError, TypeError, RecursionError):
        raise errors.PciConfigInvalidSpec(
            reason=f"Invalid entry: '{errors.clip(str(raw))}'",
            hint="each value must be strict JSON: double quotes, no trailing commas") from None
    if isinstance(decoded, dict):
        return [(None, decoded)]
    if isinstance(decoded, list):
        return list(enumerate(decoded))
    raise errors.PciConfigInvalidSpec(
        reason=f"Invalid entry: '{errors.clip(raw)}'; Expecting list or dict")


def _parse_entry(result: SpecParseResult, index: int, value_index: int, item: int | None,
                 raw: Any, facts: model.HostFacts, report_in_placement: bool,
                 compiler: addr.PatternCompiler | None) -> None:
    where = {"value_index": value_index, "entry": _entry_name(value_index, item)}
    try:
        spec = parse_spec(raw, facts, report_in_placement=report_in_placement, compiler=compiler)
    except errors.PcipassError as exc:
        result.problems.append(exc.to_problem(**where))
        return
    result.specs.append(SpecEntry(index, value_index, item, spec))
    result.warnings.extend(p.located(**where) for p in spec_warnings(spec, facts))


def _entry_name(value_index: int, item: int | None) -> str:
    name = f"device_spec value {value_index}"
    return name if item is None else f"{name}, item {item}"


# -- one dict -> DeviceSpec (devspec.py) ------------------------------------------------------


def parse_spec(raw: Mapping[str, Any], facts: model.HostFacts, *,
               report_in_placement: bool = False,
               compiler: addr.PatternCompiler | None = None) -> DeviceSpec:
    """Parse one spec dict, checking in Nova's order so the first error is Nova's.

    ``raw`` is not modified. ``compiler`` compiles regex address patterns
    (default: Python ``re``, as Nova).

    :raises errors.PciConfigInvalidSpec: bad ids, bad glob fields, bad bool tags,
        ``one_time_use`` without Placement reporting, remote_managed VF ids.
    :raises errors.PciDeviceWrongAddressFormat: bad address shape or regex.
    :raises errors.PciDeviceInvalidDeviceName: both ``devname`` and ``address``.
    :raises errors.PciDeviceRemoteManagedNotPresent: remote_managed netdev absent.
    :raises errors.PciDeviceInvalidPFRemoteManaged: remote_managed on the PF itself.
    :raises errors.PciDeviceNotFoundById: remote_managed PF without a VF device id.
    """
    if not isinstance(raw, dict):
        raise errors.PciConfigInvalidSpec(reason=f"Invalid entry: '{raw}'; Expecting dict")
    tags = dict(raw)
    vendor = spec_fields.parse_id("vendor_id", tags.pop("vendor_id", ANY), MAX_VENDOR_ID, strip=True)
    product = spec_fields.parse_id("product_id", tags.pop("product_id", ANY), MAX_PRODUCT_ID, strip=False)
    devname_raw = tags.pop("devname", None)
    address_raw = tags.pop("address", None)
    if address_raw and devname_raw:
        raise errors.PciDeviceInvalidDeviceName(hint="keep either devname or address")
    devname = spec_fields.check_devname(devname_raw)
    address, pf_addr = spec_fields.resolve_address(address_raw, devname, facts, compiler)
    remote_managed = strutils.lenient_bool(tags.get(REMOTE_MANAGED))
    for tag in STRICT_BOOL_TAGS:
        spec_fields.normalize_bool_tag(tags, tag)
    if tags.get("one_time_use") == "true" and not report_in_placement:
        raise errors.PciConfigInvalidSpec(
            reason="one_time_use=true requires pci.report_in_placement to be enabled",
            hint="set [pci] report_in_placement = True, or drop one_time_use")
    unchecked: tuple[str, ...] = ()
    if remote_managed:
        unchecked = spec_fields.check_remote_managed(vendor, product, address, pf_addr, devname,
                                                     facts)
    return DeviceSpec(vendor, product, address, devname, pf_addr is not None, remote_managed,
                      tags, dict(raw), unchecked)


# -- matching ----------------------------------------------------------------------------------


def first_match(specs: Sequence[SpecEntry], device: model.Device) -> SpecEntry | None:
    """Return the first entry whose spec matches ``device`` (its tags win), else None.

    The device address is split once, and only when some spec's ids match.

    :raises errors.PciDeviceWrongAddressFormat: the device address is not ``d:b:s.f``.
    """
    vendor, product = device.vendor_id, device.product_id
    fields: addr.Fields | None = None
    for entry in specs:
        s = entry.spec
        if s.vendor_id != ANY and s.vendor_id != vendor:
            continue
        if s.product_id != ANY and s.product_id != product:
            continue
        if fields is None:
            fields = addr.device_fields(device.address)
        if s._match_rest(device, fields):
            return entry
    return None


# -- explanations for the doctor ------------------------------------------------------------


def spec_warnings(spec: DeviceSpec, facts: model.HostFacts) -> list[errors.Problem]:
    """Things Nova accepts silently that an operator wants to know about.

    Typo-looking tags are left to :func:`suspicious_tags`.
    """
    out = [errors.Problem(code="SpecNotChecked", message=reason,
                          hint="check it against the compute host itself (its host root, or on the host)")
           for reason in spec.unchecked]
    if spec.devname is not None and spec.address is None and facts.known:
        out.append(errors.Problem(
            code="DevnameNotPresent",
            message=f"devname {spec.devname!r} is not a netdev on this host: the spec matches nothing",
            hint="use the PCI address instead; netdev names change when drivers rebind"))
    never = [f"{name} {value}" for name, value in _fixed_values(spec) if value.startswith("-")]
    if never:
        out.append(errors.Problem(
            code="SpecNeverMatches",
            message=f"negative {', '.join(never)} is accepted by Nova but can never match a device",
            hint="PCI ids and address fields are non-negative hex numbers"))
    return out


def _fixed_values(spec: DeviceSpec) -> list[tuple[str, str]]:
    values = [("vendor_id", spec.vendor_id), ("product_id", spec.product_id)]
    if isinstance(spec.address, addr.GlobAddress):
        values += zip(("domain", "bus", "slot", "func"), spec.address.fields)
    return values


