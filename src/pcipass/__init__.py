"""pcipass: PCI passthrough and SR-IOV for OpenStack Nova, made to work the first time.

The stable Python API (documented in ``docs/python-api.md``; names listed in
``__all__`` keep their signatures within a major version): Nova's semantics for
device_spec parsing and matching, aliases, flavor and port requests, the
device pools (build, support, apply, consume, with NUMA cells and policies), and
the device state machine (claim, allocate, free, remove), the tracker's rules
(discovery, release, save) and the pools they keep, the PCI inventory
nova-compute reports to Placement and the request groups the scheduler sends; ``to_json`` gives any
record as the JSON the commands print.

>>> import pcipass
>>> view = pcipass.check_config(["/etc/nova/nova.conf"])        # doctest: +SKIP
>>> view.valid, [p.message for p in view.errors]                # doctest: +SKIP
>>> specs = pcipass.parse_device_spec_values(
...     ['{"vendor_id": "8086", "product_id": "154c"}'], pcipass.HostFacts.unknown())
>>> specs.specs[0].spec.match(pcipass.Device("0000:5e:02.0", "8086", "154c"))
True
>>> vfs = [pcipass.Device(f"0000:5e:02.{i}", "8086", "154c", dev_type="type-VF", numa_node=0)
...        for i in range(2)]
>>> stats = pcipass.build_pools(vfs, specs.specs)
>>> stats.support([pcipass.parse_port("vnic_type=direct")], numa_cells=[0]).ok
True

Names are imported on first use, so ``import pcipass`` stays cheap for the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pcipass.core.version import VERSION as __version__

__all__ = [
    "Alias",
    "AliasParseResult",
    "Device",
    "DeviceChange",
    "DeviceSpec",
    "DeviceStatus",
    "DeviceTree",
    "DiscoveredDevice",
    "Drop",
    "FlavorRequests",
    "HostCell",
    "HostFacts",
    "HostVerdict",
    "InstanceShape",
    "InvalidPortRequest",
    "Mismatch",
    "NUMA_POLICIES",
    "Outcome",
    "PciAddress",
    "PciDeviceInvalidOwner",
    "PciDeviceInvalidStatus",
    "PciDevicePFInvalidStatus",
    "PciDevicePoolEmpty",
    "PciDeviceVFInvalidStatus",
    "PciDeviceWrongAddressFormat",
    "PciPlacementRequest",
    "PciRequest",
    "PciStats",
    "PcipassError",
    "PlacementExclusion",
    "PlacementInventory",
    "PlacementProvider",
    "PlacementRequestGroup",
    "PlacementView",
    "PoolBook",
    "PoolEvent",
    "PoolOp",
    "PoolRequest",
    "Problem",
    "SpecEntry",
    "SpecParseResult",
    "TrackedDevice",
    "TrackerChange",
    "TrackerState",
    "__version__",
    "allocate_device",
    "build_pools",
    "build_requests",
    "check_config",
    "claim_device",
    "evaluate_host",
    "explain_flavors",
    "first_match",
    "free_device",
    "parse_alias_values",
    "parse_device_spec",
    "parse_device_spec_values",
    "parse_port",
    "placement_request_groups",
    "read_flavor",
    "read_nova_conf",
    "remove_device",
    "to_json",
    "tracker_free",
    "tracker_free_instance",
    "tracker_save",
    "tracker_sync",
    "translate_flavor",
    "translate_placement",
]

if TYPE_CHECKING:
    from pcipass.adapters.flavorfile import read_flavor
    from pcipass.adapters.novaconf import read_nova_conf
    from pcipass.core.address import PciAddress
    from pcipass.core.alias import NUMA_POLICIES, Alias, AliasParseResult, parse_alias_values
    from pcipass.core.devicestate import Change as DeviceChange
    from pcipass.core.devicestate import (
        DeviceTree,
        PciDeviceInvalidOwner,
        PciDeviceInvalidStatus,
        PciDevicePFInvalidStatus,
        PciDeviceVFInvalidStatus,
        TrackedDevice,
    )
    from pcipass.core.devicestate import Status as DeviceStatus
    from pcipass.core.devicestate import allocate as allocate_device
    from pcipass.core.devicestate import claim as claim_device
    from pcipass.core.devicestate import free as free_device
    from pcipass.core.devicestate import remove as remove_device
    from pcipass.core.errors import PciDeviceWrongAddressFormat, PcipassError, Problem
    from pcipass.core.model import Device, HostFacts
    from pcipass.core.numa import HostCell, InstanceShape
    from pcipass.core.pools import Drop, Outcome, PciStats
    from pcipass.core.pools import Request as PoolRequest
    from pcipass.core.pools import build as build_pools
    from pcipass.core.requests import FlavorRequests, PciRequest, translate_flavor
    from pcipass.core.schedule import (
        HostVerdict,
        InvalidPortRequest,
        build_requests,
        evaluate_host,
        parse_port,
    )
    from pcipass.core.spec import (
        DeviceSpec,
        Mismatch,
        SpecEntry,
        SpecParseResult,
        first_match,
        parse_device_spec_values,
    )
    from pcipass.core.poolupkeep import PciDevicePoolEmpty, PoolBook
    from pcipass.core.placement import Exclusion as PlacementExclusion
    from pcipass.core.placement import Inventory as PlacementInventory
    from pcipass.core.placement import PlacementView
    from pcipass.core.placement import Provider as PlacementProvider
    from pcipass.core.placement import translate as translate_placement
    from pcipass.core.placementreq import PciPlacementRequest
    from pcipass.core.placementreq import RequestGroup as PlacementRequestGroup
    from pcipass.core.placementreq import request_groups as placement_request_groups
    from pcipass.core.spec import parse_spec as parse_device_spec
    from pcipass.core.tracker import (
        DiscoveredDevice,
        PoolEvent,
        PoolOp,
        TrackerChange,
        TrackerState,
    )
    from pcipass.core.tracker import free as tracker_free
    from pcipass.core.tracker import free_instance as tracker_free_instance
    from pcipass.core.tracker import save as tracker_save
    from pcipass.core.tracker import sync as tracker_sync
    from pcipass.services.configcheck import load_config as check_config
    from pcipass.services.flavorexplain import explain_flavors
    from pcipass.services.jsonview import to_json

# Lazy: `import pcipass` stays cheap (the CLI imports only what a command needs); a name's
# module is imported when the name is first used. Public name -> (module, name there).
_LAZY = {
    # use cases (read files)
    "check_config": ("pcipass.services.configcheck", "load_config"),
    "explain_flavors": ("pcipass.services.flavorexplain", "explain_flavors"),
    "read_flavor": ("pcipass.adapters.flavorfile", "read_flavor"),
    "read_nova_conf": ("pcipass.adapters.novaconf", "read_nova_conf"),
    # any record (a report, a Problem, a Device, a verdict) as the contract's JSON
    "to_json": ("pcipass.services.jsonview", "to_json"),
    # values and errors
    "Device": ("pcipass.core.model", "Device"),
    "HostFacts": ("pcipass.core.model", "HostFacts"),
    "PciAddress": ("pcipass.core.address", "PciAddress"),
    "PcipassError": ("pcipass.core.errors", "PcipassError"),
    "PciDeviceWrongAddressFormat": ("pcipass.core.errors", "PciDeviceWrongAddressFormat"),
    "Problem": ("pcipass.core.errors", "Problem"),
    # device_spec: parsing and matching
    "DeviceSpec": ("pcipass.core.spec", "DeviceSpec"),
    "Mismatch": ("pcipass.core.spec", "Mismatch"),
    "SpecEntry": ("pcipass.core.spec", "SpecEntry"),
    "SpecParseResult": ("pcipass.core.spec", "SpecParseResult"),
    "first_match": ("pcipass.core.spec", "first_match"),
    "parse_device_spec": ("pcipass.core.spec", "parse_spec"),
    "parse_device_spec_values": ("pcipass.core.spec", "parse_device_spec_values"),
    # aliases, flavors and ports: PCI requests
    "Alias": ("pcipass.core.alias", "Alias"),
    "AliasParseResult": ("pcipass.core.alias", "AliasParseResult"),
    "NUMA_POLICIES": ("pcipass.core.alias", "NUMA_POLICIES"),
    "parse_alias_values": ("pcipass.core.alias", "parse_alias_values"),
    "FlavorRequests": ("pcipass.core.requests", "FlavorRequests"),
    "PciRequest": ("pcipass.core.requests", "PciRequest"),
    "translate_flavor": ("pcipass.core.requests", "translate_flavor"),
    "InvalidPortRequest": ("pcipass.core.schedule", "InvalidPortRequest"),
    "build_requests": ("pcipass.core.schedule", "build_requests"),
    "parse_port": ("pcipass.core.schedule", "parse_port"),
    # pools: build, support, apply, consume, with NUMA cells and policies
    "Drop": ("pcipass.core.pools", "Drop"),
    "Outcome": ("pcipass.core.pools", "Outcome"),
    "PciStats": ("pcipass.core.pools", "PciStats"),
    "PoolRequest": ("pcipass.core.pools", "Request"),
    "build_pools": ("pcipass.core.pools", "build"),
    # one host: Nova's scheduler filters, then the compute claim
    "HostCell": ("pcipass.core.numa", "HostCell"),
    "HostVerdict": ("pcipass.core.schedule", "HostVerdict"),
    "InstanceShape": ("pcipass.core.numa", "InstanceShape"),
    "evaluate_host": ("pcipass.core.schedule", "evaluate_host"),
    # device states: Nova's PciDevice state machine
    "DeviceStatus": ("pcipass.core.devicestate", "Status"),
    "DeviceTree": ("pcipass.core.devicestate", "DeviceTree"),
    "DeviceChange": ("pcipass.core.devicestate", "Change"),
    "TrackedDevice": ("pcipass.core.devicestate", "TrackedDevice"),
    "claim_device": ("pcipass.core.devicestate", "claim"),
    "allocate_device": ("pcipass.core.devicestate", "allocate"),
    "free_device": ("pcipass.core.devicestate", "free"),
    "remove_device": ("pcipass.core.devicestate", "remove"),
    "PciDeviceInvalidStatus": ("pcipass.core.devicestate", "PciDeviceInvalidStatus"),
    "PciDeviceInvalidOwner": ("pcipass.core.devicestate", "PciDeviceInvalidOwner"),
    "PciDeviceVFInvalidStatus": ("pcipass.core.devicestate", "PciDeviceVFInvalidStatus"),
    "PciDevicePFInvalidStatus": ("pcipass.core.devicestate", "PciDevicePFInvalidStatus"),
    # PCI in Placement: the providers nova-compute reports, the groups the scheduler asks
    "PlacementView": ("pcipass.core.placement", "PlacementView"),
    "PlacementProvider": ("pcipass.core.placement", "Provider"),
    "PlacementInventory": ("pcipass.core.placement", "Inventory"),
    "PlacementExclusion": ("pcipass.core.placement", "Exclusion"),
    "translate_placement": ("pcipass.core.placement", "translate"),
    "PciPlacementRequest": ("pcipass.core.placementreq", "PciPlacementRequest"),
    "PlacementRequestGroup": ("pcipass.core.placementreq", "RequestGroup"),
    "placement_request_groups": ("pcipass.core.placementreq", "request_groups"),
    # the tracker: Nova's PciDevTracker rules (discovery, release, save)
    "TrackerState": ("pcipass.core.tracker", "TrackerState"),
    "TrackerChange": ("pcipass.core.tracker", "TrackerChange"),
    "DiscoveredDevice": ("pcipass.core.tracker", "DiscoveredDevice"),
    "PoolEvent": ("pcipass.core.tracker", "PoolEvent"),
    "PoolOp": ("pcipass.core.tracker", "PoolOp"),
    "tracker_sync": ("pcipass.core.tracker", "sync"),
    "tracker_free": ("pcipass.core.tracker", "free"),
    "tracker_free_instance": ("pcipass.core.tracker", "free_instance"),
    "tracker_save": ("pcipass.core.tracker", "save"),
    # pools kept one device at a time by the tracker's events (Nova's PciDeviceStats upkeep)
    "PoolBook": ("pcipass.core.poolupkeep", "PoolBook"),
    "PciDevicePoolEmpty": ("pcipass.core.poolupkeep", "PciDevicePoolEmpty"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pcipass' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
