"""The scan service: real-kernel captures, configs inside host roots, fake fleets, lspci pastes."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import unpack_trusted, validate_schema

from pcipass import fakehost
from pcipass.adapters import hostroot, lspci, lspcifile, pciids
from pcipass.core import model
from pcipass.services import scan, scanreport
from pcipass.services.jsonview import to_json

PF, VFS = "0000:81:00.0", [f"0000:81:00.{i}" for i in range(1, 5)]
VIRTIO = "0000:41:00.0"
CAPTURES = ("lab-iommu", "lab-noiommu")

# One JSON list value (two items) on line 3, a dict value in nova.conf.d: indexes 0, 1, 2.
HOST_NOVA_CONF = """\
[DEFAULT]
host = compute-7
[pci]
device_spec = [{"vendor_id": "1af4", "product_id": "1041", "address": "0000:41:00.0"}, {"address": "0000:81:00.0", "vendor_id": "1b36", "product_id": "0010", "physical_network": "physnet1", "trusted": "true"}]
"""
HOST_NOVA_CONF_D = """\
[pci]
device_spec = {"vendor_id": "8086", "product_id": "2922"}
"""


def capture_path(shared: Path, name: str) -> Path:
    return shared / "corpus/realkernel" / f"{name}.tar.gz"


def extract(tarball: Path, dest: Path) -> Path:
    """Unpack a bundle (a copy, so the corpus is never touched) and return its root."""
    copy = dest / tarball.name
    shutil.copy(tarball, copy)
    unpack_trusted(copy, dest)
    (root,) = [p for p in dest.iterdir() if p.is_dir()]
    return root


@pytest.fixture(scope="module", params=CAPTURES)
def extracted(request: pytest.FixtureRequest, shared: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real-kernel capture unpacked once per module (unpacking costs about a second)."""
    return extract(capture_path(shared, request.param), tmp_path_factory.mktemp(request.param))


def reset_etc_nova(root: Path) -> None:
    nova = root / "etc/nova"
    if nova.is_symlink():
        nova.unlink()
    elif nova.exists():
        shutil.rmtree(nova)


@pytest.fixture
def configured(extracted: Path) -> Iterator[Path]:
    """The unpacked capture with an etc/nova/ compute config added (removed again afterwards)."""
    reset_etc_nova(extracted)
    (extracted / "etc/nova/nova.conf.d").mkdir(parents=True)
    (extracted / "etc/nova/nova.conf").write_text(HOST_NOVA_CONF)
    (extracted / "etc/nova/nova.conf.d/20-sata.conf").write_text(HOST_NOVA_CONF_D)
    yield extracted
    reset_etc_nova(extracted)


@pytest.fixture(scope="module")
def bundle_scans(shared: Path) -> dict[str, scanreport.ScanReport]:
    """Each capture scanned straight from its .tar.gz, once."""
    return {name: scan.scan_hosts([capture_path(shared, name)]) for name in CAPTURES}


def one_host(report: scanreport.ScanReport) -> scanreport.HostScan:
    validate_schema(to_json(report), "scan")
    (host,) = report.hosts
    return host


def devices(host: scanreport.HostScan) -> dict[str, dict[str, object]]:
    return {d["address"]: d for d in to_json(host)["devices"]}


# -- real-kernel captures ---------------------------------------------------------------------


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_device_facts(shared: Path, bundle_scans: dict[str, scanreport.ScanReport],
                              name: str) -> None:
    host = one_host(bundle_scans[name])
    devs = devices(host)
    assert (host.name, host.kind, host.root) == (name, "bundle", str(capture_path(shared, name)))
    assert len(devs) == 14 and host.warnings == ()
    pf = devs[PF]
    assert {k: pf[k] for k in ("vendor_id", "product_id", "subsystem_vendor_id", "subsystem_id",
                               "class", "dev_type", "parent_addr", "vf_index", "numa_node",
                               "driver", "sriov_totalvfs", "sriov_numvfs", "netdevs")} == {
        "vendor_id": "1b36", "product_id": "0010", "subsystem_vendor_id": "1af4",
        "subsystem_id": "1100", "class": "010802", "dev_type": "type-PF", "parent_addr": None,
        "vf_index": None, "numa_node": 1, "driver": "nvme", "sriov_totalvfs": 8,
        "sriov_numvfs": 4, "netdevs": []}
    for index, addr in enumerate(VFS):
        vf = devs[addr]
        assert (vf["dev_type"], vf["parent_addr"], vf["vf_index"], vf["numa_node"]) == (
            "type-VF", PF, index, 1)
        assert (vf["sriov_totalvfs"], vf["sriov_numvfs"]) == (None, None)
    iommu = name == "lab-iommu"
    assert [devs[a]["driver"] for a in VFS] == ["vfio-pci" if iommu else None, "nvme", None, None]
    assert devs[VFS[0]]["driver_override"] == "vfio-pci"
    assert [devs[a]["iommu_group"] for a in [PF, *VFS]] == (
        [5, 8, 9, 10, 11] if iommu else [None] * 5)
    assert devs["0000:00:1f.2"]["numa_node"] is None and devs[VIRTIO]["numa_node"] == 0
    assert all(not d["passthrough"] and d["spec_index"] is None and d["tags"] == {}
               for d in devs.values())
    if pciids.PciIds.system() is not None:
        assert pf["name"] == "Red Hat, Inc. QEMU NVM Express Controller"


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_kernel_numa_and_missing_config(bundle_scans: dict[str, scanreport.ScanReport],
                                                name: str) -> None:
    host = one_host(bundle_scans[name])
    doc = to_json(host)
    kernel = doc["kernel"]
    assert kernel["release"] == "6.1.0-56-cloud-amd64"
    assert kernel["iommu_present"] is (name == "lab-iommu")
    assert kernel["iommu_groups"] == (12 if name == "lab-iommu" else 0)
    assert (kernel["cmdline"]["intel_iommu"], kernel["cmdline"]["iommu"]) == (
        ("on", "pt") if name == "lab-iommu" else (None, None))
    assert [(c["id"], c["cpus"], c["sockets"]) for c in doc["numa"]["cells"]] == [
        (0, [0], [0]), (1, [1], [1])]
    assert doc["config"]["valid"] is True and doc["config"]["compute_starts"] is None
    assert [w["code"] for w in doc["config"]["warnings"]] == ["NoComputeConfig"]
    assert host.config is None and host.passthrough_devices() == []


# -- the host's own compute config ------------------------------------------------------------


def test_host_config_matches_pf_and_vfs_by_pf_address(configured: Path) -> None:
    host = one_host(scan.scan_hosts([configured]))
    devs = devices(host)
    assert host.compute_starts is True and host.config_valid
    assert host.nova_host == "compute-7" and host.nova_name == "compute-7"
    assert to_json(host)["config"]["files"] == ["etc/nova/nova.conf",
                                                 "etc/nova/nova.conf.d/20-sata.conf"]
    # A PF address spec matches the PF itself and its VFs (nova-pci.md §1.4); PF and VFs share 0010.
    for addr in [PF, *VFS]:
        d = devs[addr]
        assert (d["passthrough"], d["spec_index"]) == (True, 1), addr
        assert d["spec_source"] == {"file": "etc/nova/nova.conf", "line": 4, "item": 1}
        assert d["tags"] == {"physical_network": "physnet1", "trusted": "true"}
    assert devs[VIRTIO]["spec_index"] == 0
    assert devs[VIRTIO]["spec_source"] == {"file": "etc/nova/nova.conf", "line": 4, "item": 0}
    sata = devs["0000:00:1f.2"]
    assert sata["spec_index"] == 2
    assert sata["spec_source"] == {"file": "etc/nova/nova.conf.d/20-sata.conf", "line": 2, "item": None}
    assert sorted(d.address for d in host.passthrough_devices()) == sorted(
        ["0000:00:1f.2", VIRTIO, PF, *VFS])
    assert not any(devs[a]["passthrough"] for a in ("0000:00:1f.0", "0000:40:00.0"))


def test_pf_address_spec_uses_each_hosts_own_facts(tmp_path: Path, shared: Path) -> None:
    """One --compute-conf over two hosts: the address is a PF on one host only."""
    conf = tmp_path / "compute.conf"
    conf.write_text('[pci]\ndevice_spec = {"address": "0000:81:00.0"}\n')
    x710 = fakehost.build(tmp_path / "x710", "1x intel-x710 numa=1 vfs=4; hostname=x710")
    a100 = fakehost.build(tmp_path / "a100", "1x nvidia-a100 numa=1 driver=vfio-pci; hostname=a100")
    lab = fakehost.build(tmp_path / "lab", "1x qemu-nvme numa=1 vfs=4; hostname=lab")
    report = scan.scan_hosts([x710.root, a100.root, lab.root], compute_conf=[conf])
    validate_schema(to_json(report), "scan")
    matched = {h.name: sorted(d.address for d in h.passthrough_devices()) for h in report.hosts}
    pf = next(d for d in x710.devices if d.dev_type == model.TYPE_PF)
    assert matched["x710"] == sorted([pf.address] + [d.address for d in x710.devices
                                                     if d.parent_addr == pf.address])
    assert len(matched["x710"]) == 5
    a100_dev = next(d for d in a100.devices if d.vendor_id == "10de")
    assert matched["a100"] == ([a100_dev.address] if a100_dev.address == "0000:81:00.0" else [])
    lab_pf = next(d.address for d in lab.devices if d.dev_type == model.TYPE_PF)
    assert matched["lab"] == ([lab_pf, *(d.address for d in lab.devices if d.parent_addr == lab_pf)]
                              if lab_pf == "0000:81:00.0" else [])
    assert all(to_json(h)["config"]["files"] == [str(conf)] for h in report.hosts)


def test_devname_spec_resolves_through_the_hosts_netdevs(tmp_path: Path) -> None:
    built = fakehost.build(tmp_path / "h", "1x intel-x710 numa=0 vfs=2; hostname=h")
    pf = next(d for d in built.devices if d.dev_type == model.TYPE_PF)
    ifname = pf.netdevs[0][0]
    conf = tmp_path / "compute.conf"
    conf.write_text(f'[pci]\ndevice_spec = {{"devname": "{ifname}", "physical_network": "p1"}}\n')
    host = one_host(scan.scan_hosts([built.root], compute_conf=[conf]))
    assert sorted(d.address for d in host.passthrough_devices()) == sorted(
        [pf.address] + [d.address for d in built.devices if d.parent_addr == pf.address])
    assert devices(host)[pf.address]["tags"] == {"physical_network": "p1"}


def test_compute_conf_replaces_the_hosts_own_config(configured: Path, tmp_path: Path) -> None:
    conf = tmp_path / "override.conf"
    conf.write_text('[pci]\ndevice_spec = {"vendor_id": "1af4", "product_id": "1041"}\n')
    host = one_host(scan.scan_hosts([configured], compute_conf=[conf]))
    assert [d.address for d in host.passthrough_devices()] == [VIRTIO]
    assert devices(host)[VIRTIO]["spec_source"] == {"file": str(conf), "line": 2, "item": None}
    assert host.nova_host is None  # [DEFAULT] host of the root's own nova.conf is not read


def test_controller_conf_adds_aliases_but_not_device_specs(configured: Path, tmp_path: Path) -> None:
    controller = tmp_path / "controller.conf"
    controller.write_text('[pci]\n'
                          'alias = {"name": "nvme-vf", "vendor_id": "1b36", "product_id": "0010", '
                          '"device_type": "type-VF"}\n'
                          'device_spec = {"vendor_id": "*", "product_id": "*"}\n'
                          '[filter_scheduler]\npci_in_placement = false\n')
    compute = tmp_path / "compute.conf"
    compute.write_text('[pci]\nalias = {"name": "virtio", "vendor_id": "1af4", "product_id": "1041"}\n'
                       'device_spec = {"vendor_id": "1af4", "product_id": "1041"}\n')
    host = one_host(scan.scan_hosts([configured], compute_conf=[compute], nova_conf=[controller]))
    assert host.config is not None
    assert list(host.config.aliases.aliases) == ["virtio", "nvme-vf"]
    assert [ov.value_index for ov in host.config.nova.alias] == [0, 1]
    assert [(ov.file, ov.line) for ov in host.config.nova.alias] == [(str(compute), 2), (str(controller), 2)]
    assert [d.address for d in host.passthrough_devices()] == [VIRTIO]  # the controller's spec is ignored
    assert host.config.nova.files == [str(compute), str(controller)]


def test_controller_alias_errors_are_config_errors_but_compute_still_starts(
        configured: Path, tmp_path: Path) -> None:
    controller = tmp_path / "controller.conf"
    controller.write_text('[pci]\nalias = {"name": "bad", "device_type": "type-XYZ"}\n')
    host = one_host(scan.scan_hosts([configured], nova_conf=[controller]))
    assert not host.config_valid and host.compute_starts is True
    err = host.config_errors[0]
    assert (err.code, err.file, err.line) == ("PciInvalidAlias", str(controller), 2)
    assert len(host.passthrough_devices()) == 7


def test_invalid_device_spec_still_lists_devices(configured: Path) -> None:
    conf = configured / "etc/nova/nova.conf"
    conf.write_text(HOST_NOVA_CONF + 'device_spec = {"vendor_id": "1b36", "product_id": "0010",}\n')
    host = one_host(scan.scan_hosts([configured]))
    doc = to_json(host)
    assert len(doc["devices"]) == 14
    assert doc["config"]["valid"] is False and doc["config"]["compute_starts"] is False
    (err,) = doc["config"]["errors"]
    assert (err["code"], err["file"], err["line"]) == ("PciConfigInvalidSpec", "etc/nova/nova.conf", 5)
    assert not any(d["passthrough"] for d in doc["devices"])
    assert any("nova-compute refuses to start" in w for w in doc["warnings"])
    # What the valid entries would match is kept for the doctor.
    assert host.matches[PF] is not None and host.matches[PF].index == 1
    assert host.assigned_spec(PF) is None


@pytest.mark.parametrize("content, code, line", [
    (b"[pci]\ndevice_spec = {}\n  continued\n\n oops\n", "ConfigFileParseError", 5),
    (b"[pci]\n# caf\xe9\n", "ConfigFileDecodeError", 2),
])
def test_unusable_host_config_file_is_a_located_error(configured: Path, content: bytes, code: str,
                                                      line: int) -> None:
    (configured / "etc/nova/nova.conf").write_bytes(content)
    host = one_host(scan.scan_hosts([configured]))
    err = host.config_errors[0]
    assert (err.code, err.file, err.line) == (code, "etc/nova/nova.conf", line)
    assert host.compute_starts is False and host.passthrough_devices() == []
    assert len(host.devices) == 14


# -- hostile roots -------------------------------------------------------------------------------


def test_links_out_of_the_root_in_etc_nova_are_not_followed(configured: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.conf"
    outside.write_text('[pci]\ndevice_spec = {"vendor_id": "*", "product_id": "*"}\n')
    nova = configured / "etc/nova"
    (nova / "nova.conf").unlink()
    (nova / "nova.conf").symlink_to(outside)  # absolute
    escape = os.path.relpath(outside, nova / "nova.conf.d")
    assert escape.startswith("../")
    (nova / "nova.conf.d/30-escape.conf").symlink_to(escape)  # relative
    (nova / "nova.conf.d/40-loop.conf").symlink_to("40-loop.conf")
    host = one_host(scan.scan_hosts([configured]))
    warned = "\n".join(host.warnings)
    assert "etc/nova/nova.conf: symlink to" in warned and "outside the host root" in warned
    assert "etc/nova/nova.conf.d/30-escape.conf: symlink to" in warned
    assert "etc/nova/nova.conf.d/40-loop.conf" in warned
    # Only the in-root fragment was read: the outside wildcard spec matches nothing here.
    assert to_json(host)["config"]["files"] == ["etc/nova/nova.conf.d/20-sata.conf"]
    assert [d.address for d in host.passthrough_devices()] == ["0000:00:1f.2"]


def test_etc_nova_directory_link_out_of_the_root(configured: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "nova").mkdir(parents=True)
    (elsewhere / "nova/nova.conf").write_text('[pci]\ndevice_spec = {"vendor_id": "*"}\n')
    shutil.rmtree(configured / "etc/nova")
    (configured / "etc/nova").symlink_to(elsewhere / "nova")
    host = one_host(scan.scan_hosts([configured]))
    assert host.config is None and host.passthrough_devices() == []
    assert any(w.startswith("etc/nova") and "outside the host root" in w for w in host.warnings)


def test_fifo_and_directory_as_config_do_not_block(configured: Path) -> None:
    conf_d = configured / "etc/nova/nova.conf.d"
    os.mkfifo(conf_d / "50-fifo.conf")
    (conf_d / "60-dir.conf").mkdir()
    host = one_host(scan.scan_hosts([configured]))
    warned = "\n".join(host.warnings)
    assert "etc/nova/nova.conf.d/50-fifo.conf: not a regular file" in warned
    assert "etc/nova/nova.conf.d/60-dir.conf: a directory" in warned
    assert host.compute_starts is True and len(host.passthrough_devices()) == 7


def test_a_directory_without_sys_bus_pci_is_not_a_host_root(tmp_path: Path) -> None:
    """A directory of configs (or a typo) is refused, never judged as a host without an IOMMU."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("typo-host\n")
    with pytest.raises(hostroot.HostRootInvalid, match="not a host root: it has no sys/bus/pci"):
        scan.scan_hosts([tmp_path])


def test_sys_bus_pci_without_devices_is_scanned_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("bare-host\n")
    (tmp_path / "sys/bus/pci").mkdir(parents=True)
    host = one_host(scan.scan_hosts([tmp_path]))
    assert (host.name, host.devices) == ("bare-host", ())
    assert host.warnings[0].startswith("sys/bus/pci/devices: missing, so no PCI device was read")


def test_missing_and_invalid_host_paths(tmp_path: Path) -> None:
    with pytest.raises(hostroot.HostRootInvalid, match="no such file"):
        scan.scan_hosts([tmp_path / "nope"])
    text = tmp_path / "notes.txt"
    text.write_text("not a host\n")
    with pytest.raises(hostroot.HostRootInvalid, match="expected a directory or a .tar.gz"):
        scan.scan_hosts([text])
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(hostroot.HostRootInvalid, match="cannot read the bundle"):
        scan.scan_hosts([broken])


# -- fake hosts, bundles and fleets ---------------------------------------------------------------


@pytest.mark.parametrize("profile", ["x710-sriov", "a100-vfio", "no-iommu", "amd-epyc", "qat-sriov"])
def test_fake_hosts_scan_to_the_built_facts(tmp_path: Path, profile: str) -> None:
    built = fakehost.build(tmp_path / "h", fakehost.PROFILES[profile])
    host = one_host(scan.scan_hosts([built.root]))
    got = devices(host)
    assert sorted(got) == sorted(d.address for d in built.devices)
    for want in built.devices:
        d = got[want.address]
        assert (d["vendor_id"], d["product_id"], d["class"], d["dev_type"], d["parent_addr"],
                d["vf_index"], d["numa_node"], d["driver"], d["iommu_group"],
                d["sriov_totalvfs"], d["sriov_numvfs"]) == (
            want.vendor_id, want.product_id, want.class_code, want.dev_type, want.parent_addr,
            want.vf_index, want.numa_node, want.driver, want.iommu_group,
            want.sriov_totalvfs, want.sriov_numvfs), want.address
        assert d["netdevs"] == [name for name, _mac in want.netdevs]
    assert to_json(host)["kernel"]["iommu_present"] is built.profile.iommu_on
    assert host.name == built.hostname and host.warnings == ()


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Send the scan's temporary directories somewhere we can inspect."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    yield tmp


def test_bundle_scans_like_its_directory_and_is_cleaned_up(tmp_path: Path, private_tmp: Path) -> None:
    built = fakehost.build(tmp_path / "h", fakehost.PROFILES["cx5-sriov"] + "; hostname=cx5")
    (built.root / "etc/nova").mkdir()
    (built.root / "etc/nova/nova.conf").write_text(
        '[pci]\ndevice_spec = {"vendor_id": "15b3", "product_id": "1018"}\n')
    tarball = fakehost.pack(built, tmp_path / "cx5.tar.gz")
    as_dir, as_bundle = scan.scan_hosts([built.root, tarball]).hosts
    assert as_bundle.kind == "bundle" and as_dir.kind == "directory"
    assert as_bundle.devices == as_dir.devices
    assert [d.address for d in as_bundle.passthrough_devices()] == [
        d.address for d in as_dir.passthrough_devices()]
    assert len(as_dir.passthrough_devices()) == 8  # 2 PFs x 4 VFs of 15b3:1018
    assert list(private_tmp.iterdir()) == []  # the extraction and the config copies are gone


def test_fleet_of_twenty_hosts_in_one_run(tmp_path: Path, private_tmp: Path) -> None:
    profiles = ["1x intel-x710 numa=1 vfs=2 vf-driver=iavf; cmdline=intel_iommu=on",
                "1x mlx-cx6 numa=0 vfs=2; cmdline=intel_iommu=on",
                "1x nvidia-t4 numa=0 driver=vfio-pci; cmdline=intel_iommu=on",
                "1x intel-e810 numa=0 vfs=2"]
    paths: list[Path] = []
    for i in range(20):
        built = fakehost.build(tmp_path / f"node{i:02d}", f"{profiles[i % 4]}; hostname=node{i:02d}")
        if i % 3 == 0:
            (built.root / "etc/nova").mkdir()
            (built.root / "etc/nova/nova.conf").write_text(
                '[pci]\ndevice_spec = {"vendor_id": "8086", "product_id": "154c"}\n')
        paths.append(fakehost.pack(built, tmp_path / f"node{i:02d}.tar.gz") if i % 5 == 0
                     else built.root)
    report = scan.scan_hosts(paths)
    validate_schema(to_json(report), "scan")
    assert [h.name for h in report.hosts] == [f"node{i:02d}" for i in range(20)]
    assert [h.kind for h in report.hosts].count("bundle") == 4
    assert all(not any("also the name" in w for w in h.warnings) for h in report.hosts)
    matched = {i: len(h.passthrough_devices()) for i, h in enumerate(report.hosts)}
    # X710 VFs (8086:154c) on hosts 0, 4, 8, ...; a config on hosts 0, 3, 6, ...: both on 0 and 12.
    assert {i: n for i, n in matched.items() if n} == {0: 2, 12: 2}
    assert [i for i, h in enumerate(report.hosts) if h.compute_starts is None] == [
        i for i in range(20) if i % 3]
    assert list(private_tmp.iterdir()) == []


def test_duplicate_host_names_are_flagged(tmp_path: Path) -> None:
    a = fakehost.build(tmp_path / "a", "1x nvidia-t4 numa=0; hostname=same")
    b = fakehost.build(tmp_path / "b", "1x nvidia-t4 numa=0; hostname=same")
    first, second = scan.scan_hosts([a.root, b.root]).hosts
    assert f"host name 'same' is also the name of {b.root}" in first.warnings
    assert f"host name 'same' is also the name of {a.root}" in second.warnings


# -- lspci pastes ----------------------------------------------------------------------------------


def lspci_files(shared: Path) -> list[Path]:
    return sorted(p for p in (shared / "corpus/lspci").iterdir() if not p.name.endswith(".source.txt"))


def test_every_corpus_lspci_paste_is_a_host_or_a_clear_error(shared: Path) -> None:
    ids = pciids.PciIds.system()
    hosts, refused = 0, 0
    for path in lspci_files(shared):
        parsed = lspci.parse(path.read_text(errors="replace"), source=str(path), pci_ids=ids,
                             guess_ids=True)
        if not parsed.devices:
            with pytest.raises(lspcifile.LspciInputInvalid, match="no device found"):
                scan.scan_hosts([], lspci=[path])
            refused += 1
            continue
        host = one_host(scan.scan_hosts([], lspci=[path]))
        assert (host.name, host.kind, host.kernel, host.numa) == (path.stem, "lspci", None, None)
        assert host.devices == parsed.devices
        assert to_json(host)["kernel"]["iommu_present"] is None
        hosts += 1
    assert hosts >= 10 and refused <= 2


def test_lspci_paste_with_compute_conf(shared: Path, tmp_path: Path) -> None:
    conf = tmp_path / "compute.conf"
    conf.write_text('[pci]\ndevice_spec = {"vendor_id": "1b36", "product_id": "0010"}\n')
    paste = tmp_path / "lspci-nnk.txt"
    with tarfile.open(capture_path(shared, "lab-iommu")) as tar:  # the capture's own lspci -nnk
        member = tar.extractfile("lab-iommu/cmd/lspci-nnk.txt")
        assert member is not None
        paste.write_bytes(member.read())
    host = one_host(scan.scan_hosts([], lspci=[paste], compute_conf=[conf]))
    assert host.name == "lspci-nnk"
    assert [d.address for d in host.passthrough_devices()] == [PF, *VFS]
    assert all(d.dev_type is None for d in host.devices)  # lspci -nnk cannot tell PF from VF


def test_unreadable_or_empty_lspci_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("$ lspci -nnk\nbash: lspci: command not found\n")
    with pytest.raises(lspcifile.LspciInputInvalid, match="no device found"):
        scan.scan_hosts([], lspci=[empty])
    with pytest.raises(lspcifile.LspciInputInvalid, match="No such file"):
        scan.scan_hosts([], lspci=[tmp_path / "missing.txt"])
    with pytest.raises(lspcifile.LspciInputInvalid, match="a directory"):
        scan.scan_hosts([], lspci=[tmp_path])
