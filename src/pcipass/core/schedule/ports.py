"""Neutron SR-IOV ports as PCI requests: ``vnic_type=direct,physnet=NAME`` to Nova's request.

The text form is ``vnic_type=...[,physnet=...][,trusted=...][,numa_policy=...]``;
errors are typed (:class:`InvalidPortRequest` with the value and the reason),
and a front end words them with the name of its own option.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from pcipass.core import alias as alias_mod
from pcipass.core import errors, model, pools, strutils

VNIC_DEV_TYPE = {"direct-physical": model.TYPE_PF, "vdpa": model.TYPE_VDPA}
SRIOV_VNIC_TYPES = ("direct", "macvtap", "direct-physical", "virtio-forwarder", "vdpa",
                    "remote-managed")
NON_PCI_VNIC_TYPES = ("normal", "baremetal", "smart-nic", "accelerator-direct",
                      "accelerator-direct-physical")
PORT_KEYS = ("vnic_type", "physnet", "trusted", "numa_policy")
#: A complete port, for hints.
EXAMPLE = "vnic_type=direct,physnet=physnet1"


class InvalidPortRequest(errors.InputError):
    """A port value pcipass cannot turn into a Neutron port request.

    ``kwargs``: ``value`` (as given), ``reason``, and ``example`` when the hint
    is a complete port to copy.
    """

    msg_fmt = "Invalid port request %(value)r: %(reason)s"


def parse_port(value: str, position: int = 0, flavor_policy: str | None = None) -> pools.Request:
    """Turn ``vnic_type=direct,physnet=NAME[,trusted=true][,numa_policy=...]`` into Nova's port request.

    As nova/network/neutron.py ``create_resource_requests`` does: one device;
    spec ``physical_network`` (None when ``physnet`` is omitted, i.e. a
    tunnelled network), ``remote_managed`` ``"True"``/``"False"`` from the vnic
    type, ``dev_type`` ``type-PF`` for ``direct-physical`` (``vdpa`` for
    ``vdpa``), ``trusted`` as ``str(bool)`` when given; no alias name; the
    port's NUMA policy wins over the flavor/image one.

    :raises InvalidPortRequest: unknown or repeated key, missing or non-SR-IOV
        vnic_type, a trusted value oslo cannot read, an unknown NUMA policy.
    """
    fields = _port_fields(value)
    vnic = fields.get("vnic_type")
    if vnic is None:
        raise InvalidPortRequest(value=value, reason="vnic_type is missing", example=EXAMPLE,
                                 hint=f"e.g. {EXAMPLE}")
    if vnic not in SRIOV_VNIC_TYPES:
        why = "it needs no PCI device" if vnic in NON_PCI_VNIC_TYPES else "unknown vnic_type"
        raise InvalidPortRequest(value=value, reason=f"vnic_type {vnic!r}: {why}",
                                 hint="SR-IOV vnic types: " + ", ".join(SRIOV_VNIC_TYPES))
    physnet = fields.get("physnet") or None
    entry: dict[str, str | None] = {"physical_network": physnet,
                                    "remote_managed": str(vnic == "remote-managed")}
    if vnic in VNIC_DEV_TYPE:
        entry["dev_type"] = VNIC_DEV_TYPE[vnic]
    if "trusted" in fields:
        entry["trusted"] = str(_port_bool(value, fields["trusted"]))
    policy = fields.get("numa_policy") or None
    if policy is not None and policy not in alias_mod.NUMA_POLICIES:
        raise InvalidPortRequest(value=value, reason=f"numa_policy {policy!r} is not a policy",
                                 hint="one of " + ", ".join(alias_mod.NUMA_POLICIES))
    label = f"port {position + 1} ({vnic}, physnet {physnet})" if physnet else \
        f"port {position + 1} ({vnic}, no physnet)"
    return pools.Request(1, (entry,), None, policy or flavor_policy, f"port-{position}", label)


def _port_fields(value: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep:
            raise InvalidPortRequest(value=value, reason=f"{item.strip()!r} is not key=value",
                                     hint="keys: " + ", ".join(PORT_KEYS))
        if key not in PORT_KEYS:
            close = difflib.get_close_matches(key, PORT_KEYS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "keys: " + ", ".join(PORT_KEYS)
            raise InvalidPortRequest(value=value, reason=f"unknown key {key!r}", hint=hint)
        if key in fields:
            raise InvalidPortRequest(value=value, reason=f"{key} given twice")
        fields[key] = val.strip()
    return fields


def _port_bool(value: str, text: str) -> bool:
    try:
        return strutils.strict_bool(text)
    except ValueError as exc:
        raise InvalidPortRequest(value=value, reason=f"trusted: {exc}") from None


def build_requests(flavor_requests: Iterable[Any], ports: Sequence[str] = (),
                   flavor_policy: str | None = None) -> list[pools.Request]:
    """Flavor requests first, then one request per port, in Nova's order."""
    out = [pools.as_request(r, i) for i, r in enumerate(flavor_requests)]
    out.extend(parse_port(p, i, flavor_policy) for i, p in enumerate(ports))
    return out
