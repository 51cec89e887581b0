"""pcipass: PCI passthrough and SR-IOV for OpenStack Nova, made to work the first time.

The stable Python API (documented in ``docs/python-api.md``; names listed in
``__all__`` keep their signatures within a major version):

>>> import pcipass
>>> view = pcipass.check_config(["/etc/nova/nova.conf"])        # doctest: +SKIP
>>> view.valid, [p.message for p in view.errors]                # doctest: +SKIP
>>> specs = pcipass.parse_device_spec_values(
...     ['{"vendor_id": "8086", "product_id": "154c"}'], pcipass.HostFacts.unknown())
>>> specs.specs[0].spec.match(pcipass.Device("0000:5e:02.0", "8086", "154c"))
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pcipass.core.version import VERSION as __version__

__all__ = [
    "Device",
    "HostFacts",
    "PciAddress",
    "PcipassError",
    "Problem",
    "__version__",
    "check_config",
    "explain_flavors",
    "parse_alias_values",
    "parse_device_spec_values",
    "read_flavor",
    "read_nova_conf",
    "translate_flavor",
]

if TYPE_CHECKING:
    from pcipass.adapters.flavorfile import read_flavor
    from pcipass.adapters.novaconf import read_nova_conf
    from pcipass.core.address import PciAddress
    from pcipass.core.alias import parse_alias_values
    from pcipass.core.errors import PcipassError, Problem
    from pcipass.core.model import Device, HostFacts
    from pcipass.core.requests import translate_flavor
    from pcipass.core.spec import parse_device_spec_values
    from pcipass.services.configcheck import load_config as check_config
    from pcipass.services.flavorexplain import explain_flavors

# Lazy: `import pcipass` stays cheap (the CLI imports only what a command needs).
_LAZY = {
    "Device": ("pcipass.core.model", "Device"),
    "HostFacts": ("pcipass.core.model", "HostFacts"),
    "PciAddress": ("pcipass.core.address", "PciAddress"),
    "PcipassError": ("pcipass.core.errors", "PcipassError"),
    "Problem": ("pcipass.core.errors", "Problem"),
    "check_config": ("pcipass.services.configcheck", "load_config"),
    "explain_flavors": ("pcipass.services.flavorexplain", "explain_flavors"),
    "parse_alias_values": ("pcipass.core.alias", "parse_alias_values"),
    "parse_device_spec_values": ("pcipass.core.spec", "parse_device_spec_values"),
    "read_flavor": ("pcipass.adapters.flavorfile", "read_flavor"),
    "read_nova_conf": ("pcipass.adapters.novaconf", "read_nova_conf"),
    "translate_flavor": ("pcipass.core.requests", "translate_flavor"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pcipass' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
