"""Hostile facts.json (issue 9, points 4 and 5): evidence, not truth; and fixes that cannot inject.

Each test starts from a host root whose facts.json pcipass itself saved, then
gives it the minimal hostile change: a file of empty lists, a file written for
another host, a device the host does not have, a host root without a PCI bus
directory, a shell command in an address. Each is refused with one warning
that names facts.json and the reason, and the scan's devices are then those of
a ``--no-facts-cache`` run. A file beyond the bounds (bytes, values, depth, an
integer of thousands of digits) is not evidence but invalid input: exit 2. The doctor's fixes quote every value they carry, so
even a hostile value that reached them from any source stays one shell word.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_doctor_hosts import FLAVOR, PROFILE, Host, healthy

from pcipass import fakehost
from pcipass.adapters import factscache, hostroot, roots, sysfs
from pcipass.core import model
from pcipass.doctor import mapping
from pcipass.doctor import model as dm
from pcipass.doctor.checks import driver, kernel, spec
from pcipass.services import scan
from pcipass.services.jsonview import to_json
from support import run_cli, unpack_trusted

HOSTILE = "0000:01:00.0;touch${IFS}pwned;#"
HOSTILE_FLAVOR = "nfv;touch${IFS}pwned;#"
FAKE = "2x intel-x710 pf numa=1 vfs=2 vf-driver=iavf; 1x nvidia-a100 numa=0 driver=vfio-pci; cmdline=intel_iommu=on"
REFUSED = "; ignored, sysfs read instead"


def _host(root: Path) -> dict[str, Any]:
    doc = to_json(scan.scan_hosts([root]))
    [host] = doc["hosts"]
    return dict(host)


def _fresh(root: Path) -> dict[str, Any]:
    [host] = to_json(scan.scan_hosts([root], facts_cache=scan.CACHE_IGNORE))["hosts"]
    return dict(host)


def assert_refused(root: Path, *reason: str) -> dict[str, Any]:
    """The scan refused facts.json with one warning naming it and ``reason``, and read sysfs:
    the same devices as a --no-facts-cache run."""
    host = _host(root)
    notes = [w for w in host["warnings"] if w.startswith(f"{factscache.FILE}: ")]
    assert len(notes) == 1 and notes[0].endswith(REFUSED), host["warnings"]
    for part in reason:
        assert part in notes[0], notes[0]
    assert host["facts_from"] == scan.FROM_SYSFS
    fresh = _fresh(root)
    assert host["devices"] == fresh["devices"]
    assert [w for w in host["warnings"] if w != notes[0]] == fresh["warnings"]
    return host


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    fakehost.build(root, FAKE + "; hostname=compute-7")
    scan.scan_hosts([root], facts_cache=scan.CACHE_SAVE)
    assert _host(root)["facts_from"] == scan.FROM_CACHE
    return root


def _edit(root: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = root / factscache.FILE
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _devices(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["sysfs"]["devices"])


# -- point 4: memory, bounded; point 2: no crash ------------------------------------------------


HINT = f"remove {factscache.FILE}, or scan with --no-facts-cache; --save-facts writes it afresh"


def assert_invalid(root: Path, why: str) -> None:
    """A facts.json beyond a bound (a crash once, or a memory bomb) is invalid input, not
    evidence read around: every command that reads the root stops with exit 2 and one error
    naming the root, facts.json and the bound; ``--no-facts-cache`` reads sysfs past it."""
    expected = f"Invalid host root {root}: {factscache.FILE}: {why}"
    with pytest.raises(hostroot.HostRootInvalid) as refused:
        scan.scan_hosts([root])
    assert refused.value.message.startswith(expected), refused.value.message
    assert refused.value.hint == HINT
    for command in ("scan", "doctor"):
        result = run_cli([command, "--host", str(root), "-f", "json"])
        assert result.code == 2, result.err
        assert result.out == ""
        assert f"pcipass {command}: {expected}" in result.err
    assert _fresh(root)["facts_from"] == scan.FROM_SYSFS


def test_a_file_of_empty_lists_over_the_value_bound_is_refused_before_it_is_parsed(fake: Path) -> None:
    n = factscache.MAX_ITEMS // 2 + 1  # each "[]," counts twice: a container and a separator
    data = b"[" + b"[]," * (n - 1) + b"[]]"
    assert len(data) < factscache.MAX_BYTES  # the byte cap alone would let it through
    (fake / factscache.FILE).write_bytes(data)
    assert_invalid(fake, f"over the bound for {factscache.FILE}: more than "
                         f"{factscache.MAX_ITEMS:,} values")


def test_deep_nesting_is_refused(fake: Path) -> None:
    (fake / factscache.FILE).write_bytes(b"[" * 100_000)  # a RecursionError once (exit 255)
    assert_invalid(fake, f"over the bound for {factscache.FILE}: nested too deeply")


def test_an_integer_of_thousands_of_digits_is_refused(fake: Path) -> None:
    _edit(fake, lambda doc: doc.update(version="BIG"))  # int() raised ValueError: exit 255 once
    path = fake / factscache.FILE
    path.write_text(path.read_text().replace('"BIG"', "9" * 5000, 1))
    assert_invalid(fake, f"over the bound for {factscache.FILE}: an integer of 5000 digits "
                         "(at most 4300)")


def test_a_file_over_the_byte_cap_is_refused_unread(fake: Path) -> None:
    with open(fake / factscache.FILE, "wb") as handle:
        handle.truncate(factscache.MAX_BYTES + 1)
    assert_invalid(fake, f"larger than {factscache.MAX_BYTES >> 20} MiB, the bound for "
                         f"{factscache.FILE}")


def test_the_bounds_hold_memory_small(fake: Path) -> None:
    """The issue's 250 MB of ``[[],[],...]`` took 6.5 GB; at the bounds, the worst file (empty
    lists up to the value bound) stays a few tens of MB, measured in a fresh process."""
    n = factscache.MAX_ITEMS // 2 - 10  # each "[]," counts twice: a container and a separator
    (fake / factscache.FILE).write_bytes(b"[" + b"[]," * (n - 1) + b"[]]")
    code = ("import resource, sys\n"
            "from pcipass.adapters import factscache, roots\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "notes = []\n"
            "with roots.open_root(sys.argv[1]) as root:\n"
            "    assert factscache.load(root, notes) is None\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, notes[0])\n")
    done = subprocess.run([sys.executable, "-c", code, str(fake)], capture_output=True, text=True,
                          check=True, timeout=120)
    grown_kib, note = done.stdout.split(" ", 1)
    assert note.startswith("facts.json: not a JSON object")  # parsed whole, within the bound
    assert int(grown_kib) < 200 * 1024, f"parsing grew RSS by {int(grown_kib) >> 10} MiB"


def test_a_host_of_10000_functions_fits_the_bounds_with_room() -> None:
    """The bounds against the measured size of a big host (26 values, 510 bytes per function)."""
    assert factscache.MAX_ITEMS >= 3 * 10_000 * 26
    assert factscache.MAX_BYTES >= 5 * 10_000 * 510


# -- point 5: written for this host ------------------------------------------------------------


def test_a_file_written_for_another_host_with_the_same_addresses_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other"
    fakehost.build(other, FAKE.replace("vf-driver=iavf", "vf-driver=vfio-pci") + "; hostname=compute-8")
    scan.scan_hosts([other], facts_cache=scan.CACHE_SAVE)
    this = tmp_path / "this"
    fakehost.build(this, FAKE + "; hostname=compute-7")
    shutil.copy(other / factscache.FILE, this / factscache.FILE)
    assert sorted(os.listdir(this / sysfs.DEVICES_DIR)) == sorted(os.listdir(other / sysfs.DEVICES_DIR))
    host = assert_refused(this, 'written for host "compute-8", but this host root is "compute-7"')
    assert {d["driver"] for d in host["devices"] if d["dev_type"] == "type-VF"} == {"iavf"}


def test_the_saved_file_records_the_hostname(fake: Path) -> None:
    doc = json.loads((fake / factscache.FILE).read_text())
    assert doc["hostname"] == "compute-7" and doc["schema"] == factscache.SCHEMA


def test_a_file_without_a_hostname_is_refused(fake: Path) -> None:
    _edit(fake, lambda d: d.pop("hostname"))
    assert_refused(fake, "facts.json: no hostname")


# -- point 5: the devices are the host's -------------------------------------------------------


def _add_ghost(doc: dict[str, Any]) -> None:
    ghost = dict(_devices(doc)[-1], address="0000:99:00.0")
    ghost.pop("iommu_group", None)
    doc["sysfs"]["devices"].append(ghost)


def test_a_device_the_host_does_not_have_is_refused(fake: Path) -> None:
    _edit(fake, _add_ghost)
    host = assert_refused(fake, "sysfs.devices[", "(0000:99:00.0)",
                          f"not an entry of {sysfs.DEVICES_DIR}: the host has no such device")
    assert "0000:99:00.0" not in {d["address"] for d in host["devices"]}


def test_a_device_listed_in_the_entries_too_is_stale(fake: Path) -> None:
    def both(doc: dict[str, Any]) -> None:
        _add_ghost(doc)
        doc["device_entries"] = sorted([*doc["device_entries"], "0000:99:00.0"])
    _edit(fake, both)
    assert_refused(fake, f"stale: the entries of {sysfs.DEVICES_DIR} changed")


def test_a_device_left_out_is_refused(fake: Path) -> None:
    gone: list[str] = []

    def drop(doc: dict[str, Any]) -> None:
        gone.append(doc["sysfs"]["devices"].pop(0)["address"])
        doc["sysfs"]["iommu_groups"] = {k: v for k, v in doc["sysfs"]["iommu_groups"].items()
                                        if v != gone}
    _edit(fake, drop)
    assert_refused(fake, f"sysfs.devices: no record of {gone[0]}, an entry of {sysfs.DEVICES_DIR}")


def test_without_a_pci_bus_directory_any_file_is_refused(fake: Path) -> None:
    shutil.rmtree(fake / sysfs.DEVICES_DIR)
    host = assert_refused(fake, f"the host root has no {sysfs.DEVICES_DIR} to check it against")
    assert host["devices"] == []


# -- point 5: every field as the sysfs reader gives it ------------------------------------------


def test_a_shell_command_in_an_address_is_refused(fake: Path) -> None:
    """The issue's repro: the address reached the doctor's fix as a shell command. The host root
    carries a directory of that name too, so the device list matches."""
    real = fake / sysfs.DEVICES_DIR / "0000:01:00.0"
    os.symlink(os.readlink(real), fake / sysfs.DEVICES_DIR / HOSTILE)

    def rename(doc: dict[str, Any]) -> None:
        doc["device_entries"] = sorted([*doc["device_entries"], HOSTILE])
        [dev] = [d for d in _devices(doc) if d["address"] == "0000:01:00.0"]
        dev["address"] = HOSTILE
    _edit(fake, rename)
    host = assert_refused(fake, f'.address: "{HOSTILE}" is not a PCI address (dddd:bb:ss.f, lower case)')
    # the sysfs reader ignores such an entry, with a warning
    assert HOSTILE not in {d["address"] for d in host["devices"]}
    assert f"{sysfs.DEVICES_DIR}/{HOSTILE}: not a PCI address (dddd:bb:ss.f); ignored" in host["warnings"]


def _first(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def pick(doc: dict[str, Any]) -> dict[str, Any]:
        return next(d for d in _devices(doc) if d.get("dev_type", "type-PCI") == kind)
    return pick


_PF, _VF = _first("type-PF"), _first("type-VF")


@pytest.mark.parametrize(("pick", "field", "value", "why"), [
    (_PF, "vendor_id", "8086;x", '"8086;x" is not 4 lower-case hex digits'),
    (_PF, "product_id", "1572 ", '"1572 " is not 4 lower-case hex digits'),
    (_PF, "subsystem_id", "00071", '"00071" is not 4 lower-case hex digits'),
    (_PF, "class_code", "0200", '"0200" is not 6 lower-case hex digits'),
    (_PF, "numa_node", -2, "-2 is not in -1..2147483647"),
    (_PF, "iommu_group", -1, "-1 is not in 0..2147483647"),
    (_PF, "driver", "i40e;reboot\n", "is not a name the kernel allows"),
    (_PF, "driver", "../../x", "is not a name the kernel allows"),
    (_PF, "driver_override", "vfio pci", "is not a name the kernel allows"),
    (_PF, "netdevs", ["a-name-of-16-chr"], "is not an interface name the kernel allows"),
    (_PF, "netdevs", ["eth/0"], "is not an interface name the kernel allows"),
    (_PF, "sriov_numvfs", 70_000, "70000 is not in 0..65535"),
    (_PF, "local_cpulist", "0-3;id", '"0-3;id" is not a CPU list'),
    # a reversed range: the CPU list grammar is core.cpuset's, for the sysfs reader and this check
    (_PF, "local_cpulist", "3-0", '"3-0" is not a CPU list'),
    (_PF, "name", "Intel \u001b[31mred", "has control characters"),
    (_PF, "dev_type", "type-XX", '"type-XX" is not one of type-PCI, type-PF, type-VF'),
    (_PF, "card_serial_number", "SN1", "set, but sysfs discovery never reads VPD"),
    (_VF, "parent_addr", HOSTILE, f'"{HOSTILE}" is not a PCI address'),
    (_VF, "parent_addr", None, "a VF names its PF, and only a VF does"),
    (_VF, "vf_index", 65_536, "65536 is not in 0..65535"),
])
def test_a_field_out_of_the_sysfs_readers_form_is_refused_naming_field_and_device(
        fake: Path, pick: Callable[[dict[str, Any]], dict[str, Any]], field: str, value: Any, why: str) -> None:
    address: list[str] = []

    def change(doc: dict[str, Any]) -> None:
        dev = pick(doc)
        address.append(dev["address"])
        dev[field] = value
    _edit(fake, change)
    assert_refused(fake, f".{field}: ", why, f'(device "{address[0]}")')


@pytest.mark.parametrize(("change", "why"), [
    (lambda d: d["sysfs"]["iommu_groups"].update({"999": ["0000:00:01.0"]}),
     "sysfs.iommu_groups: does not agree with the devices' iommu_group fields"),
    (lambda d: d["kernel"].update(vfio_pci="maybe"), 'kernel.vfio_pci: "maybe" is not one of'),
    (lambda d: d["kernel"]["cmdline"].update(intel_iommu="off"),
     "kernel.cmdline: its fields are not what its raw text parses to"),
    (lambda d: d["kernel"].update(modules=["vfio_pci", "x\ny"]), "kernel.modules: "),
    (lambda d: d["numa"]["cells"][0].update(cpus=[3, 1]), "numa.cells[0].cpus: repeated or out of order"),
    (lambda d: d["numa"]["cells"][0].update(cpus=[0, 9000]),
     "numa.cells[0].cpus: a CPU beyond the 8,192 a kernel can have"),
])
def test_parts_that_disagree_are_refused(fake: Path, change: Callable[[dict[str, Any]], None], why: str) -> None:
    _edit(fake, change)
    assert_refused(fake, why)


def test_numa_node_minus_one_is_read_as_unknown_as_sysfs_gives_it(fake: Path) -> None:
    _edit(fake, lambda d: _PF(d).update(numa_node=-1))
    host = _host(fake)
    assert host["facts_from"] == scan.FROM_CACHE
    assert not [w for w in host["warnings"] if w.startswith("facts.json")]
    assert None in {d["numa_node"] for d in host["devices"] if d["dev_type"] == "type-PF"}


def test_names_that_are_not_utf8_survive_save_and_load(fake: Path) -> None:
    """A non-UTF-8 entry name (a lone surrogate once decoded) is written as a JSON escape and read
    back equal, so the device list still matches."""
    odd = os.fsdecode(b"\xff-not-an-address")
    os.mkdir(os.path.join(fake / sysfs.DEVICES_DIR, odd))
    scan.scan_hosts([fake], facts_cache=scan.CACHE_SAVE)
    (fake / factscache.FILE).read_bytes().decode("ascii")
    assert _host(fake)["facts_from"] == scan.FROM_CACHE


def test_saving_writes_what_the_loader_accepts_on_real_captures(shared: Path, tmp_path: Path) -> None:

    for name in ("lab-iommu", "lab-noiommu"):
        unpack_trusted(shared / "corpus/realkernel" / f"{name}.tar.gz", tmp_path / name)
        (root,) = [p for p in (tmp_path / name).iterdir() if p.is_dir()]
        scan.scan_hosts([root], facts_cache=scan.CACHE_SAVE)
        host = _host(root)
        assert host["facts_from"] == scan.FROM_CACHE, [w for w in host["warnings"] if w.startswith("facts")]


def test_cli_scan_refuses_with_the_warning_and_matches_no_facts_cache(cli: Any, fake: Path) -> None:
    _edit(fake, _add_ghost)
    used = cli(["scan", "--host", str(fake), "-f", "json"])
    fresh = cli(["scan", "--host", str(fake), "--no-facts-cache", "-f", "json"])
    assert used.code == fresh.code == 0, used.err
    [host], [ref] = json.loads(used.out)["hosts"], json.loads(fresh.out)["hosts"]
    assert host["facts_from"] == "sysfs" and host["devices"] == ref["devices"]
    assert any(w.startswith("facts.json: sysfs.devices[") and "the host has no such device" in w
               for w in host["warnings"])


# -- defence in depth: every value in a fix's command is one shell word ---------------------------


def words(command: str) -> list[str]:
    """``shlex.split``, with the shell's operators (``;``, ``>``, ``|``, ``&&``) as words of their own."""
    lex = shlex.shlex(command, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    return list(lex)


def _pf(address: str = HOSTILE, **kw: Any) -> model.Device:
    fields: dict[str, Any] = {"dev_type": model.TYPE_PF, "driver": "i40e", "sriov_totalvfs": 8,
                              "sriov_numvfs": 4, "sriov_vf_device": "154c"}
    fields.update(kw)
    return model.Device(address=address, vendor_id="8086", product_id="1572", **fields)


def _facts(*devices: model.Device) -> dm.DeviceFacts:
    return dm.DeviceFacts.of(list(devices), "sysfs")


def _path(address: str, attr: str) -> str:
    return f"/sys/bus/pci/devices/{address}/{attr}"


def test_numvfs_fix_keeps_a_hostile_address_one_word() -> None:
    [r] = driver.numvfs_above_total(_facts(_pf(sriov_numvfs=9)))
    command = r.fix.split(" (and persist it")[0]  # type: ignore[union-attr]
    path = _path(HOSTILE, "sriov_numvfs")
    assert words(command) == ["echo", "0", ">", path, ";", "echo", "8", ">", path]
    assert shlex.split(command.split("; ")[0]) == ["echo", "0", ">", path]


def test_probe_fix_keeps_a_hostile_address_one_word() -> None:
    [r] = driver.pf_unbound(_facts(_pf(driver=None)))
    command = r.fix.split(" (or modprobe")[0]  # type: ignore[union-attr]
    assert shlex.split(command) == ["echo", HOSTILE, ">", "/sys/bus/pci/drivers_probe"]


def test_udev_rule_fix_is_one_quoted_rule() -> None:
    [r] = driver.vfs_persisted(_facts(_pf()), dm.PersistenceFacts(()))
    rule = f'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="{HOSTILE}", ATTR{{sriov_numvfs}}="4"'
    assert words(r.fix or "") == ["echo", rule, ">", "/etc/udev/rules.d/70-sriov.rules"]


def test_driverctl_fix_keeps_a_hostile_address_one_word() -> None:
    dev = model.Device(address=HOSTILE, vendor_id="10de", product_id="20f1", driver="nouveau",
                       driver_override="vfio-pci")
    [r] = driver.vfio_binding_persisted(_facts(dev), dm.PersistenceFacts(()))
    assert shlex.split(r.fix or "") == ["driverctl", "set-override", HOSTILE, "vfio-pci"]


def test_group_fix_keeps_a_hostile_peer_one_word() -> None:
    peer = "0000:3b:00.1;reboot"
    gpu = model.Device(address="0000:3b:00.0", vendor_id="10de", product_id="20b5", class_code="030200",
                       driver="vfio-pci", iommu_group=7)
    audio = model.Device(address=peer, vendor_id="10de", product_id="1aef", class_code="040300",
                         driver="snd_hda_intel", iommu_group=7)
    [r] = kernel.group_viable(_facts(gpu, audio), {7: (gpu.address, peer)})
    fix = r.fix or ""
    first, _, rest = fix.partition(" (or unbind it: ")
    assert shlex.split(first) == ["driverctl", "set-override", peer, "vfio-pci"]
    assert words(rest.removesuffix(")")) == ["echo", peer, ">", _path(peer, "driver/unbind")]


def test_spec_fixes_keep_a_hostile_address_one_word() -> None:
    from pcipass.core import spec as spec_mod

    parsed = spec_mod.parse_device_spec_values(['{"vendor_id": "8086", "product_id": "154c"}'],
                                               model.HostFacts())
    [entry] = parsed.specs
    fix = spec._missing_fix(entry, [], _facts(_pf(sriov_numvfs=0)))
    assert words(fix or "") == ["echo", "8", ">", _path(HOSTILE, "sriov_numvfs")]
    ev = [dm.Evidence("nova.conf", "device_spec")]
    r = spec._vpd_unknown(entry, [mapping.NearMiss(_pf(), ())], ev)
    fix = (r.fix or "").removeprefix("on the host: ")
    virsh, _, rest = fix.partition(" (or ")
    lspci = rest.split("); ")[0]
    virsh_name = "pci_" + HOSTILE.replace(":", "_").replace(".", "_")
    assert words(virsh) == ["virsh", "nodedev-dumpxml", virsh_name, "|", "grep", "serial_number"]
    assert words(lspci) == ["lspci", "-vv", "-s", HOSTILE, "|", "grep", "Serial number"]


def _flavor_host(tmp_path: Path, profile: str, **props: str) -> Host:
    host = healthy(tmp_path, profile)
    doc = dict(FLAVOR, name=HOSTILE_FLAVOR, properties=dict(FLAVOR["properties"], **props))  # type: ignore[arg-type]
    host.flavor.write_text(json.dumps(doc))
    return host


def _relax(fix: str | None) -> list[str]:
    assert fix is not None
    command = fix[fix.index("openstack flavor set"):].split(" (")[0].split(", or")[0]
    return shlex.split(command)


RELAX = ["openstack", "flavor", "set", HOSTILE_FLAVOR, "--property", "hw:pci_numa_affinity_policy=preferred"]


def test_flavor_fixes_keep_a_hostile_flavor_name_one_word(tmp_path: Path) -> None:
    # N002 and C005: the VFs on node 1, the pinned CPUs on node 0 only
    host = _flavor_host(tmp_path / "n2", PROFILE.replace("82599 numa=0", "82599 numa=1"))
    host.replace("etc/nova/nova.conf", "cpu_dedicated_set = 1-3,5-7\n", "cpu_dedicated_set = 1-3\n")
    fixes = {f.id: f.fix for f in host.diagnose().findings if f.severity != "skip"}
    assert _relax(fixes["PCI-N002"]) == RELAX
    assert _relax(fixes["PCI-C005"]) == RELAX
    # N001: the VFs have no NUMA node
    host = _flavor_host(tmp_path / "n1", PROFILE.replace("82599 numa=0", "82599 numa=-1"))
    fixes = {f.id: f.fix for f in host.diagnose().findings if f.severity != "skip"}
    assert _relax(fixes["PCI-N001"]) == RELAX
    # N003: five VFs on one node, four per node
    host = _flavor_host(tmp_path / "n3", PROFILE.replace("2x intel-82599 numa=0 vfs=4",
                                                         "1x intel-82599 numa=0 vfs=4; 1x intel-82599 numa=1 vfs=4"),
                        **{"pci_passthrough:alias": "vf:5"})
    fixes = {f.id: f.fix for f in host.diagnose().findings if f.severity != "skip"}
    assert _relax(fixes["PCI-N003"])[:4] == RELAX[:4]


def test_plain_values_are_left_unquoted() -> None:
    [r] = driver.numvfs_above_total(_facts(_pf("0000:01:00.0", sriov_numvfs=9)))
    assert r.fix == ("echo 0 > /sys/bus/pci/devices/0000:01:00.0/sriov_numvfs; echo 8 > "
                     "/sys/bus/pci/devices/0000:01:00.0/sriov_numvfs (and persist it: see PCI-D006)")


# -- the sysfs reader and entry names -----------------------------------------------------------


def test_the_sysfs_reader_ignores_an_entry_with_a_shell_command_in_its_name(fake: Path) -> None:
    devices = fake / sysfs.DEVICES_DIR
    os.symlink(os.readlink(devices / "0000:01:00.0"), devices / "0000:01:00.0;reboot")
    with roots.open_root(fake) as root:
        found = sysfs.read_devices(root, pci_ids=None)
    assert "0000:01:00.0;reboot" not in {d.address for d in found.devices}
    assert f"{sysfs.DEVICES_DIR}/0000:01:00.0;reboot: not a PCI address (dddd:bb:ss.f); ignored" in found.warnings
