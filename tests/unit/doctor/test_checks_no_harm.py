"""No harmful fix, and no false alarm from a fact a paste did not show (hand-built facts).

The IDs are real ones (pci.ids): 8086:10fb is the 82599 PF and 8086:10ed its VF; 8086:1572 an
X710 PF; 8086:2021 a Xeon memory controller (class 0880); 10de:1e04 a TU102 VGA function (0300)
and 10de:10f7 its HD audio function (0403); 144d:a824 a Samsung PM173X NVMe (0108) whose SR-IOV
VFs report the PF's own product id.
"""

from __future__ import annotations

import dataclasses
import json

from pcipass.core import alias as alias_mod
from pcipass.core import config, model, spec
from pcipass.doctor import mapping
from pcipass.doctor import model as dm
from pcipass.doctor.checks import driver as dchecks
from pcipass.doctor.checks import spec as schecks


def _dev(address: str, ids: str, **kw: object) -> model.Device:
    vendor, product = ids.split(":")
    return model.Device(address=address, vendor_id=vendor, product_id=product, **kw)  # type: ignore[arg-type]


def _config(values: list[str], devices: list[model.Device], *, placement: bool = False) -> dm.ConfigFacts:
    facts = model.HostFacts.from_devices(devices)
    parsed = spec.parse_device_spec_values(values, facts, report_in_placement=placement)
    matches = {d.address: spec.first_match(parsed.specs, d) for d in devices}
    nova = config.NovaConfig(files=["nova.conf"], report_in_placement=placement)
    return dm.ConfigFacts(("nova.conf",), nova, parsed, alias_mod.AliasParseResult({}, [], []), (), (),
                          matches, True, {e.index: ("nova.conf", 5 + e.index, e.item) for e in parsed.specs})


def _row(values: list[str], devs: list[model.Device]) -> mapping.SpecRow:
    [row] = mapping.spec_rows("h", _config(values, devs), dm.DeviceFacts.of(devs, "sysfs"))
    return row


PF = _dev("0000:5e:00.0", "8086:10fb", class_code="020000", dev_type=model.TYPE_PF, driver="ixgbe",
          sriov_totalvfs=63, sriov_numvfs=2, sriov_vf_device="10ed")
VFS = [_dev(f"0000:5e:10.{2 * i}", "8086:10ed", class_code="020000", dev_type=model.TYPE_VF,
            parent_addr=PF.address, driver="ixgbevf") for i in range(2)]
MEMCTL = _dev("0000:00:05.0", "8086:2021", class_code="088000", driver=None)


def test_no_memory_controller_nor_other_nic_family_for_a_nic_entry() -> None:
    """An X710 entry on a host with an 82599 and a memory controller: neither is what was meant."""
    row = _row(['{"vendor_id": "8086", "product_id": "1572", "physical_network": "physnet2"}'], [PF, *VFS, MEMCTL])
    assert row.status == mapping.MISSING and row.near_misses == ()
    assert "no fix is proposed" in row.notes[-1]
    [r] = schecks.spec_matches_nothing(dm.DeviceFacts.of([PF, *VFS, MEMCTL], "sysfs"),
                                       _config(['{"vendor_id": "8086", "product_id": "1572"}'], [PF, *VFS, MEMCTL]),
                                       [row])
    assert r.fix is not None and "device_spec =" not in r.fix and "2021" not in r.fix


def test_a_vf_of_the_pf_the_entry_names_is_proposed() -> None:
    """The PF's id with a VF's address: the VF at that address is what was meant."""
    row = _row(['{"vendor_id": "8086", "product_id": "10fb", "address": "0000:5e:10.0"}'], [PF, *VFS])
    got = [(m.device.address, m.differs[0].field, m.differs[0].got) for m in row.near_misses]
    # the VF at that address (its id), and the PF itself (its address): both could have been meant
    assert got == [("0000:5e:10.0", "product_id", "10ed"), ("0000:5e:00.0", "address", "0000:5e:00.0")]


def test_the_pf_id_is_never_proposed_for_an_entry_with_the_vf_id() -> None:
    no_vfs = _dev(PF.address, "8086:10fb", class_code="020000", dev_type=model.TYPE_PF, driver="ixgbe",
                  sriov_totalvfs=63, sriov_numvfs=0, sriov_vf_device="10ed")
    row = _row(['{"vendor_id": "8086", "product_id": "10ed"}'], [no_vfs])
    assert row.near_misses == () and "is the VF ID of the PF" in row.notes[0]


def test_vga_is_not_proposed_for_an_audio_entry_but_the_audio_function_is() -> None:
    vga = _dev("0000:3b:00.0", "10de:1e04", class_code="030000", driver="nouveau")
    audio = _dev("0000:3b:00.1", "10de:10f7", class_code="040300", driver="snd_hda_intel")
    other_audio = _dev("0000:af:00.1", "10de:10f0", class_code="040300", driver="snd_hda_intel")
    devs = [vga, audio, other_audio]
    at_vga = _row(['{"vendor_id": "10de", "product_id": "10f0", "address": "0000:3b:00.0"}'], devs)
    assert [m.device.address for m in at_vga.near_misses] == ["0000:af:00.1"]  # the address fix only
    at_audio = _row(['{"vendor_id": "10de", "product_id": "10f0", "address": "0000:3b:00.1"}'], devs)
    assert {m.device.address for m in at_audio.near_misses} == {"0000:3b:00.1", "0000:af:00.1"}


def test_the_subsystem_id_copied_from_lspci_is_a_plausible_miss() -> None:
    x710 = _dev("0000:18:00.0", "8086:1572", class_code="020000", subsystem_vendor_id="8086",
                subsystem_id="0007", driver="i40e")
    row = _row(['{"vendor_id": "8086", "product_id": "0007"}'], [x710])
    assert [(m.device.address, m.differs[0].got) for m in row.near_misses] == [("0000:18:00.0", "1572")]


def test_vfs_sharing_the_pfs_product_id_get_an_address_fix() -> None:
    """"Add product_id (the VF ID)" would match the PF again: propose the VFs' addresses."""
    nvme = _dev("0000:3b:00.0", "144d:a824", class_code="010802", dev_type=model.TYPE_PF, driver="nvme",
                sriov_totalvfs=32, sriov_numvfs=2, sriov_vf_device="a824")
    vfs = [_dev(f"0000:3c:00.{i}", "144d:a824", class_code="010802", dev_type=model.TYPE_VF,
                parent_addr=nvme.address, driver="vfio-pci") for i in range(2)]
    devs = [nvme, *vfs]
    [r] = schecks.pf_and_vfs(dm.DeviceFacts.of(devs, "sysfs"),
                             _config(['{"vendor_id": "144d", "product_id": "a824"}'], devs, placement=True))
    assert r.severity == dm.FAIL and r.fix is not None
    assert "product_id (the VF ID)" not in r.fix and '"address": "0000:3c:00.*"' in r.fix
    assert "device_type type-VF in the alias" in r.fix


def test_vfs_with_their_own_id_get_the_vf_product_id() -> None:
    devs = [PF, *VFS]
    [r] = schecks.pf_and_vfs(dm.DeviceFacts.of(devs, "sysfs"), _config(['{"vendor_id": "8086"}'], devs))
    assert r.fix is not None and json.loads(r.fix.split(" = ", 1)[1].split(" (")[0])["product_id"] == "10ed"


def _vf_on(drv: str | None, override: str | None) -> list[model.Device]:
    vf = _dev("0000:5e:10.0", "8086:10ed", class_code="020000", dev_type=model.TYPE_VF, parent_addr=PF.address,
              driver=drv, driver_override=override)
    return [PF, vf]


def test_driverctl_unset_override_only_where_an_override_exists() -> None:
    value = '{"vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet2"}'
    for drv, override, wants_driverctl in (("vfio-pci", "vfio-pci", True), ("vfio-pci", None, False),
                                           (None, None, False)):
        devs = _vf_on(drv, override)
        [r] = dchecks.direct_port_vf_driver(dm.DeviceFacts.of(devs, "sysfs"), _config([value], devs))
        assert r.fix is not None and ("driverctl unset-override" in r.fix) == wants_driverctl, (drv, override, r.fix)


def test_a_paste_without_drivers_is_no_unbound_pf() -> None:
    """lspci without -k shows no driver: the PF's driver is unknown, not missing (skip, with why)."""
    pf = _dev(PF.address, "8086:10fb", dev_type=model.TYPE_PF, sriov_totalvfs=63, sriov_numvfs=2,
              sriov_vf_device="10ed")
    vfs = [_dev(v.address, "8086:10ed", dev_type=model.TYPE_VF, parent_addr=pf.address) for v in VFS]
    pasted = dm.DeviceFacts.of([pf, *vfs], "lspci")
    [r] = dchecks.pf_unbound(pasted)
    assert r.severity == dm.SKIP and "lspci without -k" in r.message
    [r] = dchecks.pf_unbound(dm.DeviceFacts.of([pf, *vfs], "sysfs"))  # sysfs shows every driver link
    assert r.severity == dm.FAIL


def test_a_paste_without_numa_nodes_is_no_unknown_node_failure() -> None:
    """lspci -nn shows no NUMA node: unknown, not the firmware's -1 (skip); sysfs's -1 still fails."""
    from pcipass.core import requests
    from pcipass.doctor.checks import numa as nchecks

    value = '{"vendor_id": "8086", "product_id": "10ed"}'
    req = requests.PciRequest("vf", 1, "required", [{"vendor_id": "8086", "product_id": "10ed", "dev_type": "type-VF"}])
    flavor = dm.FlavorFacts("nfv", None, {}, (req,), 1, "required", "dedicated", None, ())
    devs = [PF, *(dataclasses.replace(v, numa_node=None) for v in VFS)]
    [r] = nchecks.unknown_numa(dm.DeviceFacts.of(devs, "lspci"), _config([value], devs), [flavor])
    assert r.severity == dm.SKIP and "unknown, not -1" in r.message
    [r] = nchecks.unknown_numa(dm.DeviceFacts.of(devs, "sysfs"), _config([value], devs), [flavor])
    assert r.severity == dm.FAIL


def test_a_paste_without_drivers_skips_the_vfio_and_vf_driver_checks() -> None:
    vf = _dev("0000:5e:10.0", "8086:10ed", dev_type=model.TYPE_VF, parent_addr=PF.address)
    pf = dataclasses.replace(PF, driver=None)
    pasted = dm.DeviceFacts.of([pf, vf], "lspci")
    managed = _config(['{"vendor_id": "8086", "product_id": "10ed", "managed": "no"}'], [pf, vf])
    [r] = dchecks.managed_no_on_vfio(pasted, managed)
    assert r.severity == dm.SKIP and "cannot tell whether it is on vfio-pci" in r.message
    port = _config(['{"vendor_id": "8086", "product_id": "10ed", "physical_network": "p"}'], [pf, vf])
    [r] = dchecks.direct_port_vf_driver(pasted, port)
    assert r.severity == dm.SKIP and "lspci without -k" in r.message


def test_vf_counts_are_unknown_where_no_place_that_persists_them_was_collected() -> None:
    """A capture with etc/modprobe.d only says nothing about udev rules or units: skip, not warn."""
    devs = [PF, *VFS]
    facts = dm.DeviceFacts.of(devs, "sysfs")
    partial = dm.PersistenceFacts((), (), ("etc/modprobe.d",))
    [r] = dchecks.vfs_persisted(facts, partial)
    assert r.severity == dm.SKIP and "not collected" in r.message
    with_udev = dm.PersistenceFacts((), (), ("etc/modprobe.d", "etc/udev/rules.d"))
    [r] = dchecks.vfs_persisted(facts, with_udev)
    assert r.severity == dm.WARN
    [r] = dchecks.vfs_persisted(facts, dm.PersistenceFacts((), ()))  # a live host: everything is there
    assert r.severity == dm.WARN
