"""The keys of one ``[pci] device_spec`` dict, each checked as Nova's ``devspec.py`` checks it.

:func:`pcipass.core.spec.parse_spec` takes a spec dict apart and hands each
key here: the ids (``int(x, 16)`` leniency), ``devname``, the address (a PF
on this host also matches its VFs), the strict bool tags and Nova's
``remote_managed`` rules (nova-pci.md §1.5). Every other key is a tag, kept
as given; :func:`suspicious_tags` flags those that look like a known key
misspelt. Each check raises Nova's error with Nova's text, plus a hint.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from typing import Any

from pcipass.core import errors, model, strutils
from pcipass.core import spec_address as addr

ANY = addr.ANY
#: Tags Nova or Placement give a meaning to (``label`` is the 2013 design's, see core.legacy).
KNOWN_TAGS = frozenset({
    "physical_network", "trusted", "remote_managed", "resource_class", "traits",
    "managed", "live_migratable", "one_time_use", "label",
})
#: Spec keys that are not tags; a near-miss of one becomes a tag silently.
SPEC_KEYS = frozenset({"vendor_id", "product_id", "address", "devname"})


def parse_id(prop: str, value: Any, maxval: int, *, strip: bool) -> str:
    """Normalize a vendor/product id with Nova's ``int(x, 16)`` leniency."""
    if not isinstance(value, str):
        # Nova leaks AttributeError/TypeError here; we say what is wrong instead.
        raise errors.PciConfigInvalidSpec(
            reason=f"property {prop} ({json.dumps(value)}) must be a JSON string",
            hint=f'quote the id, e.g. "{prop}": "8086"')
    return addr.check_hex_field(prop, value.strip() if strip else value, maxval, 4)


def check_devname(value: Any) -> str | None:
    """An empty/false devname counts as absent (as in Nova); other non-strings are rejected."""
    if not value:
        return None
    if not isinstance(value, str):
        raise errors.PciConfigInvalidSpec(
            reason=f"property devname ({json.dumps(value)}) must be a JSON string")
    return value


def resolve_address(value: Any, devname: str | None, facts: model.HostFacts,
                    compiler: addr.PatternCompiler | None = None,
                    ) -> tuple[addr.AddressSpec | None, str | None]:
    """Return the address to match and, when it is an SR-IOV PF on this host, the PF address.

    Nova probes sysfs only for an address that names exactly one device.
    """
    if devname is not None:
        found = facts.address_of_netdev(devname)
        if found is None:
            return None, None
        return addr.parse_glob(found), found if facts.is_pf(found) else None
    address = addr.parse_address(value or "*:*:*.*", compiler)
    single = address.single_address()
    return address, single if single is not None and facts.is_pf(single) else None


def normalize_bool_tag(tags: dict[str, Any], tag: str) -> None:
    """Rewrite a strict bool tag to ``"true"``/``"false"`` in place, as Nova stores it."""
    if tags.get(tag) is None:
        return
    try:
        tags[tag] = "true" if strutils.strict_bool(tags[tag]) else "false"
    except ValueError as exc:
        raise errors.PciConfigInvalidSpec(reason=f"Cannot parse tag '{tag}': {exc}") from None


def check_remote_managed(vendor: str, product: str, address: addr.AddressSpec | None,
                         pf_addr: str | None, devname: str | None,
                         facts: model.HostFacts) -> tuple[str, ...]:
    """Nova's remote_managed rules (§1.5), with the PF check Nova intends for addresses too.

    :returns: reasons for checks that need host facts we do not have.
    """
    if address is None:
        if not facts.known:
            return (f"remote_managed: netdev {devname} cannot be resolved without the host",)
        raise errors.PciDeviceRemoteManagedNotPresent(
            hint=f"netdev {devname!r} does not exist on this host")
    if pf_addr is None:
        if not facts.known and address.single_address() is not None:
            return ("remote_managed: whether the address is a PF needs the host",)
        return ()
    _check_remote_managed_pf(vendor, product, pf_addr, facts.pfs[pf_addr])
    return ()


def _check_remote_managed_pf(vendor: str, product: str, pf_addr: str, pf: model.PfInfo) -> None:
    if not pf.vf_product_id:
        raise errors.PciDeviceNotFoundById(
            id=pf_addr, hint="the PF reports no sriov_vf_device (kernel >= 4.15 needed)")
    vendor_ok = vendor in (pf.vendor_id, ANY)
    if product == pf.vf_product_id and vendor_ok:
        return
    if product in (pf.product_id, ANY) and vendor_ok:
        raise errors.PciDeviceInvalidPFRemoteManaged(
            address=pf_addr, hint=f'set "product_id": "{pf.vf_product_id}" to select its VFs')
    raise errors.PciConfigInvalidSpec(
        reason=(f"the specified VF vendor ID {vendor} and product ID {product} do not match the "
                f"expected VF IDs based on the corresponding PF identified by PCI address "
                f"{pf_addr}"),
        hint=f"the VFs of {pf_addr} are {pf.vendor_id}:{pf.vf_product_id}")


def suspicious_tags(tags: Iterable[str]) -> list[tuple[str, str]]:
    """Return ``(tag, suggestion)`` for unknown tags that look like a known tag or key misspelt.

    Nova keeps any unknown key as a tag, and tags become pool keys, so a typo
    like ``physical_netwrok`` puts the devices in a pool no request matches.
    """
    candidates = sorted(KNOWN_TAGS | SPEC_KEYS)
    out: list[tuple[str, str]] = []
    for tag in tags:
        if tag in KNOWN_TAGS:
            continue
        folded = tag.strip().lower().replace("-", "_").replace(" ", "_")
        close = [folded] if folded in candidates else difflib.get_close_matches(
            folded, candidates, n=1, cutoff=0.75)
        if close:
            out.append((tag, close[0]))
    return out
