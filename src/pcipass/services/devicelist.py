"""``pcipass devices``: what the store holds, by host, status and alias.

The document is ``pcipass-devices/1`` (``docs/schemas/devices.json``): every stored device with
its host's names, its Nova fields, the tags of the ``device_spec`` entry that made it
assignable, its generation and the server's timestamps.

``alias`` keeps the devices a ``[pci] alias`` of the controller's config would ask for: one of
the alias's specs matches the device's pool key (vendor and product ids, ``dev_type``, NUMA
node and spec tags), as Nova's pool filter matches them (:func:`pcipass.core.poolfilter.spec_matches`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pcipass.adapters.store import queries, records
from pcipass.core import alias as alias_mod
from pcipass.core import devicestate as ds
from pcipass.core import errors, poolfilter

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DEVICES_SCHEMA = "pcipass-devices/1"
STATUSES = tuple(s.value for s in ds.Status)


class AliasUnknown(errors.InputError):
    msg_fmt = "alias %(name)r is not defined in %(files)s"


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceList:
    """The listing; its JSON is its fields (``schema`` first)."""

    schema: str = DEVICES_SCHEMA
    hostname: str | None = None
    status: str | None = None
    alias: str | None = None
    devices: tuple[records.StoredDevice, ...] = ()


def list_devices(engine: Engine, *, hostname: str | None = None, status: str | None = None,
                 alias: str | None = None,
                 nova_conf: Sequence[str | Path] = ()) -> DeviceList:
    """The stored devices, filtered.

    :raises AliasUnknown: ``alias`` is not in the config's ``[pci] alias``.
    :raises ValueError: ``status`` is not one of Nova's statuses.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    found = queries.devices(engine, hostname=hostname, status=status)
    if alias is not None:
        wanted = _alias(alias, nova_conf)
        found = tuple(d for d in found if matches(d, wanted))
    return DeviceList(DEVICES_SCHEMA, hostname, status, alias, found)


def pool_key(dev: records.StoredDevice) -> dict[str, Any]:
    """The key Nova's pools would file the device under."""
    return {"vendor_id": dev.vendor_id, "product_id": dev.product_id, "dev_type": dev.dev_type,
            "numa_node": dev.numa_node, **dev.spec_tags}


def matches(dev: records.StoredDevice, wanted: alias_mod.Alias) -> bool:
    key = pool_key(dev)
    return any(poolfilter.spec_matches(key, spec) for spec in wanted.specs)


def _alias(name: str, nova_conf: Sequence[str | Path]) -> alias_mod.Alias:
    # NOTE: configcheck (oslo.config, jsonschema) costs ~80 ms to import; only --alias needs it.
    from pcipass.services import configcheck

    view = configcheck.load_config(nova_conf)
    found = view.aliases.aliases.get(name.strip())
    if found is None:
        files = ", ".join(str(f) for f in nova_conf) or "no config"
        raise AliasUnknown(name=name, files=files,
                           hint="name an alias of the controller's [pci] alias")
    return found
