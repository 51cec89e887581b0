"""The documented Python API: its names are pinned, and each one works."""

from __future__ import annotations

import dataclasses
import doctest
import inspect
import json
import subprocess
import sys

import pytest

import pcipass
from support import FIXTURES, REPO, run_cli

DOC = REPO / "docs" / "python-api.md"


PUBLIC = {
    # use cases (read files), and their JSON
    "check_config", "explain_flavors", "read_flavor", "read_nova_conf", "to_json",
    # device_spec: parsing and matching
    "DeviceSpec", "Mismatch", "SpecEntry", "SpecParseResult", "first_match", "parse_device_spec",
    "parse_device_spec_values",
    # aliases, flavors and ports
    "Alias", "AliasParseResult", "FlavorRequests", "InvalidPortRequest", "NUMA_POLICIES",
    "PciRequest", "build_requests", "parse_alias_values", "parse_port", "translate_flavor",
    # pools
    "Drop", "Outcome", "PciStats", "PoolRequest", "build_pools",
    # one host
    "HostCell", "HostVerdict", "InstanceShape", "evaluate_host",
    # values and errors
    "Device", "HostFacts", "PciAddress", "PciDeviceWrongAddressFormat", "PcipassError", "Problem",
    "__version__",
    # device states
    "DeviceStatus", "DeviceTree", "DeviceChange", "TrackedDevice", "claim_device", "allocate_device",
    "free_device", "remove_device", "PciDeviceInvalidStatus", "PciDeviceInvalidOwner",
    "PciDeviceVFInvalidStatus", "PciDevicePFInvalidStatus",
    # the tracker
    "DiscoveredDevice", "PoolEvent", "PoolOp", "TrackerChange", "TrackerState", "tracker_free",
    "tracker_free_instance", "tracker_save", "tracker_sync",
    # pools kept by the tracker's events
    "PoolBook", "PciDevicePoolEmpty",
    # PCI in Placement
    "PlacementView", "PlacementProvider", "PlacementInventory", "PlacementExclusion",
    "translate_placement", "PciPlacementRequest", "PlacementRequestGroup", "placement_request_groups",
}

#: The leading parameters of every public function: parameters are only ever added at the end.
PARAMETERS = {
    "check_config": ["nova_conf", "sriov_agent_conf", "config_dirs", "facts"],
    "explain_flavors": ["flavors", "nova_conf", "image"],
    "read_flavor": ["path"],
    "read_nova_conf": ["files", "config_dirs"],
    "to_json": ["value"],
    "parse_device_spec_values": ["values", "facts", "report_in_placement"],
    "parse_device_spec": ["raw", "facts", "report_in_placement"],
    "first_match": ["specs", "device"],
    "parse_alias_values": ["values", "pci_in_placement"],
    "translate_flavor": ["extra_specs", "aliases", "image_props"],
    "parse_port": ["value", "position", "flavor_policy"],
    "build_requests": ["flavor_requests", "ports", "flavor_policy"],
    "build_pools": ["devices", "specs", "sockets"],
    "evaluate_host": ["host_devices", "specs", "requests", "numa_cells", "instance_shape", "name",
                      "instance_numa_nodes", "nova_compatible"],
    "claim_device": ["tree", "address", "instance"],
    "allocate_device": ["tree", "address", "instance"],
    "free_device": ["tree", "address", "instance"],
    "remove_device": ["tree", "address"],
    "tracker_sync": ["state", "discovered"],
    "tracker_free": ["state", "address", "instance"],
    "tracker_free_instance": ["state", "instance", "status"],
    "tracker_save": ["state"],
    "translate_placement": ["hypervisor_hostname", "devices", "specs", "allocated"],
    "placement_request_groups": ["requests", "pci_in_placement", "extra_specs", "request_ids"],
}
#: The leading fields of every public record: records only gain fields, at the end.
FIELDS = {
    "Alias": ["name", "numa_policy", "dev_type", "specs", "sources"],
    "AliasParseResult": ["aliases", "problems", "warnings"],
    "Device": ["address", "vendor_id", "product_id"],
    "DeviceSpec": ["vendor_id", "product_id", "address", "devname"],
    "Drop": ["stage", "request", "label", "before", "dropped", "needed", "pools", "failed", "detail"],
    "FlavorRequests": ["requests", "numa_policy", "numa_nodes", "cpu_policy"],
    "HostCell": ["id", "cpus", "pcpus", "memory_mb", "socket"],
    "HostVerdict": ["name", "fits", "nova_fits", "claim_ok", "devices", "instance_numa_nodes",
                    "reasons", "free"],
    "InstanceShape": ["vcpus", "memory_mb", "numa_nodes", "cpu_policy"],
    "Mismatch": ["field", "wanted", "got"],
    "Outcome": ["ok", "failed_request", "drops", "devices", "crashed"],
    "PciAddress": ["domain", "bus", "slot", "func"],
    "PciRequest": ["alias_name", "count", "numa_policy", "specs", "request_id"],
    "PoolRequest": ["count", "specs", "alias_name", "numa_policy", "request_id", "label", "rp_uuids"],
    "Problem": ["code", "message", "file", "line", "value_index", "entry", "hint"],
    "SpecEntry": ["index", "value_index", "item", "spec"],
    "SpecParseResult": ["specs", "problems", "warnings"],
    "TrackedDevice": ["address", "dev_type", "status", "parent_addr", "owner", "request_id",
                      "vendor_id", "product_id", "numa_node", "dev_id", "label", "extra_info"],
    "TrackerState": ["tree", "to_be_removed_when_freed", "stale"],
    "TrackerChange": ["state", "events", "warnings"],
    "DiscoveredDevice": ["address", "dev_type", "vendor_id", "product_id", "parent_addr",
                         "numa_node", "dev_id", "label", "extra"],
    "PoolEvent": ["op", "device", "previous", "created"],
    "DeviceChange": ["tree", "freed", "warnings"],
    "PlacementView": ["hypervisor_hostname", "providers", "exclusions", "refusals", "warnings"],
    "PlacementProvider": ["name", "parent_provider", "address", "dev_type", "inventory", "traits",
                          "devices", "spec_indexes", "one_time_use"],
    "PlacementInventory": ["resource_class", "total", "max_unit", "reserved"],
    "PlacementExclusion": ["address", "reason", "message", "spec_index"],
    "PciPlacementRequest": ["enabled", "groups", "group_policy", "same_subtree", "refusals",
                            "warnings"],
    "PlacementRequestGroup": ["requester_id", "alias_name", "request_id", "resource_class", "amount",
                              "required_traits", "use_same_provider"],
}
#: PciStats: the Nova operations and their leading parameters.
POOL_METHODS = {"support": ["requests", "numa_cells"], "apply": ["requests", "numa_cells"],
                "consume": ["requests", "numa_cells"], "can_fit": ["requests", "numa_cells"],
                "scheduler_view": [], "free_per_node": [], "snapshot": [], "copy": []}
#: PoolBook: Nova's three pool calls, the tracker's use of them, and its start.
BOOK_METHODS = {"add": ["dev"], "remove": ["dev"], "update": ["dev"], "holds": ["dev"],
                "apply": ["events"], "take": ["tree", "address"],
                "rebuilt": ["devices", "specs", "sockets", "compute_node_id"]}


def test_all_is_pinned() -> None:
    assert pcipass.__all__ == sorted(pcipass.__all__)
    assert set(pcipass.__all__) == PUBLIC
    assert sorted(pcipass.__dir__()) == sorted(PUBLIC)
    for name in pcipass.__all__:
        assert getattr(pcipass, name) is not None


def test_every_name_is_documented() -> None:
    text = DOC.read_text()
    assert [name for name in sorted(PUBLIC - {"__version__"}) if f"`{name}" not in text] == []


def test_signatures_are_stable() -> None:
    functions = {n for n in PUBLIC if inspect.isfunction(getattr(pcipass, n))}
    assert functions == set(PARAMETERS)
    for name, leading in PARAMETERS.items():
        params = list(inspect.signature(getattr(pcipass, name)).parameters)
        assert params[:len(leading)] == leading, name


def test_records_are_stable() -> None:
    records = {n for n in PUBLIC if dataclasses.is_dataclass(getattr(pcipass, n))}
    assert records - {"HostFacts"} == set(FIELDS)
    for name, leading in FIELDS.items():
        fields = [f.name for f in dataclasses.fields(getattr(pcipass, name))]
        assert fields[:len(leading)] == leading, name


def test_pool_methods_are_stable() -> None:
    for method, leading in POOL_METHODS.items():
        params = list(inspect.signature(getattr(pcipass.PciStats, method)).parameters)[1:]
        assert params[:len(leading)] == leading, method
    assert isinstance(pcipass.PciStats.free, property)


def test_errors_are_pcipass_errors_with_novas_codes() -> None:
    assert issubclass(pcipass.InvalidPortRequest, pcipass.PcipassError)
    assert issubclass(pcipass.PciDeviceWrongAddressFormat, pcipass.PcipassError)
    assert pcipass.NUMA_POLICIES == ("required", "legacy", "preferred", "socket")
    with pytest.raises(pcipass.PciDeviceWrongAddressFormat) as exc:
        pcipass.PciAddress.parse("0000:0a:00.8")
    assert exc.value.code == "PciDeviceWrongAddressFormat"
    assert pcipass.PciAddress.try_parse("0000:0a:00.8") is None
    with pytest.raises(pcipass.InvalidPortRequest) as port:
        pcipass.parse_port("vnic_type=normal")
    assert port.value.code == "InvalidPortRequest"


def test_import_is_lazy() -> None:
    """``import pcipass`` loads no core, service or adapter module (the CLI's start-up)."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys, pcipass; "
                               "print(sorted(m for m in sys.modules if m.startswith('pcipass')))"],
        capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['pcipass', 'pcipass.core', 'pcipass.core.version']"


def test_worked_example_runs_as_documented() -> None:
    """The ``>>>`` lines of docs/python-api.md, run with doctest."""
    result = doctest.testfile(str(DOC), module_relative=False, verbose=False)
    assert result.attempted >= 15 and result.failed == 0


def test_pools_with_numa_cells_and_policies() -> None:
    """support / apply / consume / can_fit through the facade, each NUMA policy."""
    gpus = [pcipass.Device(f"0000:3b:0{i}.0", "10de", "1db4", numa_node=i) for i in range(2)]
    specs = pcipass.parse_device_spec_values(['{"vendor_id": "10de"}'],
                                             pcipass.HostFacts.from_devices(gpus)).specs
    stats = pcipass.build_pools(gpus, specs, sockets={0: 0, 1: 0, 2: 1})

    def two(policy: str | None) -> list[pcipass.PoolRequest]:
        return [pcipass.PoolRequest(2, ({"vendor_id": "10de"},), "gpu", policy, "r0", "gpu")]

    # the instance on node 0: both GPUs only where the policy lets node 1 in
    fits = {p: stats.support(two(p), numa_cells=[0]).ok for p in (*pcipass.NUMA_POLICIES, None)}
    assert fits == {"required": False, "legacy": False, "preferred": True, "socket": True,
                    None: False}
    refused = stats.support(two("required"), numa_cells=[0])
    assert [(d.stage, d.dropped, d.failed) for d in refused.drops] == [("numa", 1, True)]
    assert stats.support(two("required"), numa_cells=[0, 1]).ok
    assert stats.support(two(None)).ok  # no NUMA cells: no NUMA filtering

    view = stats.scheduler_view()
    assert view.apply(two("socket"), numa_cells=[0]).ok and view.free == 0
    assert stats.can_fit(two("socket"), numa_cells=[0]).ok and stats.free == 2
    claimed = stats.consume(two("socket"), numa_cells=[0])
    assert [d.address for _, d in claimed.devices] == ["0000:3b:00.0", "0000:3b:01.0"]
    assert stats.free == 0 and not stats.support(two(None)).ok


def test_spec_and_alias_through_the_facade() -> None:
    facts = pcipass.HostFacts.unknown()
    spec = pcipass.parse_device_spec({"vendor_id": "8086", "physical_network": "p1"}, facts)
    assert isinstance(spec, pcipass.DeviceSpec) and spec.tags == {"physical_network": "p1"}
    nic = pcipass.Device("0000:5e:02.0", "15b3", "1018")
    assert spec.mismatches(nic) == [pcipass.Mismatch("vendor_id", "8086", "15b3")]
    with pytest.raises(pcipass.PcipassError) as exc:
        pcipass.parse_device_spec({"vendor_id": "80866"}, facts)
    assert exc.value.code == "PciConfigInvalidSpec"
    table = pcipass.parse_alias_values(['{"name": "nic", "vendor_id": "15b3", "product_id": "1018",'
                                        ' "device_type": "type-VF", "numa_policy": "socket"}'])
    assert table.valid and isinstance(table.aliases["nic"], pcipass.Alias)
    flavor = pcipass.translate_flavor({"pci_passthrough:alias": "nic:2"}, table.aliases)
    assert isinstance(flavor, pcipass.FlavorRequests)
    (request,) = flavor.requests
    assert isinstance(request, pcipass.PciRequest) and (request.count, request.numa_policy) == (
        2, "socket")
    (pool_request,) = pcipass.build_requests(flavor.requests)
    assert isinstance(pool_request, pcipass.PoolRequest) and pool_request.label == "alias 'nic'"


def test_evaluate_host_through_the_facade() -> None:
    pf = pcipass.Device("0000:81:00.0", "8086", "1572", dev_type="type-PF", numa_node=0,
                        sriov_totalvfs=1, sriov_vf_device="154c")
    vf = pcipass.Device("0000:81:02.0", "8086", "154c", dev_type="type-VF",
                        parent_addr=pf.address, numa_node=0)
    specs = pcipass.parse_device_spec_values(['{"vendor_id": "8086"}'],
                                             pcipass.HostFacts.from_devices([pf, vf])).specs
    cells = (pcipass.HostCell(0, frozenset({0, 1}), frozenset(), 4096, 0),)
    reqs = [pcipass.PoolRequest(1, ({"dev_type": "type-PF"},), "pf", None, "r0", "pf"),
            pcipass.PoolRequest(1, ({"dev_type": "type-VF"},), "vf", None, "r1", "vf")]
    verdict = pcipass.evaluate_host([pf, vf], specs, reqs, cells, pcipass.InstanceShape(2, 1024))
    assert isinstance(verdict, pcipass.HostVerdict)
    # Nova's scheduler says yes; the claim cannot take a PF and its own VF
    assert (verdict.nova_fits, verdict.claim_ok, verdict.fits) == (True, False, False)
    assert verdict.reasons


def test_module_doctest() -> None:
    result = doctest.testmod(pcipass, verbose=False)
    assert result.attempted >= 4 and result.failed == 0


def test_check_config_and_explain_end_to_end() -> None:
    conf = str(FIXTURES / "cli" / "good.conf")
    view = pcipass.check_config([conf])
    assert view.valid and len(view.specs.specs) == 2
    report = pcipass.explain_flavors([str(FIXTURES / "cli" / "flavor-vf2.json")], nova_conf=[conf])
    (res,) = report.results
    assert res.error is None and res.requests[0].count == 2
    assert pcipass.to_json(report)["schema"] == "pcipass-flavor/1"


def test_to_json_is_what_the_commands_print() -> None:
    """``pcipass.to_json`` of a use case's report is its command's ``-f json`` document."""
    conf = str(FIXTURES / "cli" / "good.conf")
    flavor = str(FIXTURES / "cli" / "flavor-vf2.json")
    printed = run_cli(["config", "check", "--nova-conf", conf, "-f", "json"])
    assert json.loads(printed.out) == pcipass.to_json(pcipass.check_config([conf]))
    printed = run_cli(["flavor", "explain", "--nova-conf", conf, "--flavor", flavor, "-f", "json"])
    assert json.loads(printed.out) == pcipass.to_json(pcipass.explain_flavors([flavor], nova_conf=[conf]))


def test_tracker_through_the_facade() -> None:
    """A VF vanishes while allocated: kept with Nova's warning, removed when its instance frees it."""
    pf = pcipass.DiscoveredDevice("0000:81:00.0", "type-PF", "8086", "1572")
    vf = pcipass.DiscoveredDevice.from_dict({"address": "0000:81:00.1", "dev_type": "type-VF",
                                             "vendor_id": "8086", "product_id": "154c",
                                             "parent_addr": "0000:81:00.0", "managed": "true"})
    state = pcipass.tracker_sync(pcipass.TrackerState(pcipass.DeviceTree([])), [pf, vf]).state
    assert state.tree["0000:81:00.1"].extra_info == {"managed": "true"}
    state = state.with_tree(pcipass.allocate_device(state.tree, vf.address, "vm").tree)
    gone = pcipass.tracker_sync(state, [pf])
    assert isinstance(gone, pcipass.TrackerChange) and gone.state.to_be_removed_when_freed == {
        vf.address} and "Unable to remove device with status 'allocated'" in gone.warnings[0]
    freed = pcipass.tracker_free_instance(gone.state, "vm")
    assert [(e.op, e.address) for e in freed.events] == [(pcipass.PoolOp.LEAVE, vf.address)]
    assert isinstance(freed.events[0], pcipass.PoolEvent)
    saved = pcipass.tracker_save(freed.state)
    assert str(saved.tree[vf.address].status) == "deleted"
    assert pcipass.tracker_free(state, vf.address, "vm").state.to_be_removed_when_freed == set()


def test_unknown_attribute() -> None:
    try:
        pcipass.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_pool_book_methods_are_stable() -> None:
    for name, leading in BOOK_METHODS.items():
        params = [p for p in inspect.signature(getattr(pcipass.PoolBook, name)).parameters
                  if p not in ("self", "cls")]
        assert params[:len(leading)] == leading, name


def test_placement_view_and_request_groups_through_the_facade() -> None:
    """A PF's VFs on one provider named after the PF; a flavor's two VFs as two RC:1 groups."""
    pf = pcipass.Device("0000:0a:00.0", "8086", "1572", dev_type="type-PF", sriov_totalvfs=8)
    vfs = [pcipass.Device(f"0000:0a:00.{i}", "8086", "154c", dev_type="type-VF",
                          parent_addr=pf.address) for i in (1, 2)]
    specs = pcipass.parse_device_spec_values(['{"product_id": "154c", "traits": "fast"}'],
                                             pcipass.HostFacts.from_devices([pf, *vfs]),
                                             report_in_placement=True).specs
    view = pcipass.translate_placement("cn1", vfs, specs)
    assert isinstance(view, pcipass.PlacementView) and view.reported
    (provider,) = view.providers
    assert isinstance(provider, pcipass.PlacementProvider)
    assert provider.name == "cn1_0000:0A:00.0"
    assert provider.inventory == pcipass.PlacementInventory("CUSTOM_PCI_8086_154C", 2, 2, None)
    assert provider.traits == ("COMPUTE_MANAGED_PCI_DEVICE", "CUSTOM_FAST", "OWNER_NOVA")
    every = pcipass.parse_device_spec_values(['{"vendor_id": "8086"}'],
                                             pcipass.HostFacts.from_devices([pf, *vfs])).specs
    both = pcipass.translate_placement("cn1", [pf, *vfs], every)
    assert [p.code for p in both.refusals] == ["PlacementPciDependentDeviceException"] * 2
    assert all(isinstance(e, pcipass.PlacementExclusion) for e in both.exclusions)
    table = pcipass.parse_alias_values(
        ['{"name": "nic", "vendor_id": "8086", "product_id": "154c", "traits": "fast"}'],
        pci_in_placement=True)
    reqs = pcipass.translate_flavor({"pci_passthrough:alias": "nic:2"}, table.aliases).requests
    out = pcipass.placement_request_groups(reqs)
    assert isinstance(out, pcipass.PciPlacementRequest) and out.group_policy == "none"
    assert [(g.requester_id, g.resource_class, g.amount, g.required_traits) for g in out.groups] == [
        ("0-0", "CUSTOM_PCI_8086_154C", 1, ("CUSTOM_FAST",)),
        ("0-1", "CUSTOM_PCI_8086_154C", 1, ("CUSTOM_FAST",))]
    assert all(isinstance(g, pcipass.PlacementRequestGroup) for g in out.groups)
    assert pcipass.to_json(provider)["inventory"]["reserved"] is None
