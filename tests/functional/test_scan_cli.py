"""``pcipass scan``: tables, JSON/YAML against the schema, exit codes, and the live host."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import REPO, skip_unless_ci, unpack_trusted, validate_schema

from pcipass import fakehost
from pcipass.adapters import pciids

PF, VFS = "0000:81:00.0", [f"0000:81:00.{i}" for i in range(1, 5)]
ROW = re.compile(r"^(?:[├└] )?[0-9a-f]{4}:[0-9a-f]{2}:")
# address -> (ids, type, driver, NUMA) for both real-kernel captures.
CAPTURE_ROWS = {
    "0000:00:00.0": ("8086:29c0", "PCI", "unbound", "-"),
    "0000:00:10.0": ("1b36:000b", "PCI", "unbound", "-"),
    "0000:00:11.0": ("1b36:000b", "PCI", "unbound", "-"),
    "0000:00:1f.0": ("8086:2918", "PCI", "unbound", "-"),
    "0000:00:1f.2": ("8086:2922", "PCI", "unbound", "-"),
    "0000:00:1f.3": ("8086:2930", "PCI", "unbound", "-"),
    "0000:40:00.0": ("1b36:000c", "PCI", "pcieport", "0"),
    "0000:41:00.0": ("1af4:1041", "PCI", "virtio-pci", "0"),
    "0000:80:00.0": ("1b36:000c", "PCI", "pcieport", "1"),
    PF: ("1b36:0010", "PF 4/8 VFs", "nvme", "1"),
    VFS[0]: ("1b36:0010", "VF 0", "vfio-pci", "1"),
    VFS[1]: ("1b36:0010", "VF 1", "nvme", "1"),
    VFS[2]: ("1b36:0010", "VF 2", "unbound", "1"),
    VFS[3]: ("1b36:0010", "VF 3", "unbound", "1"),
}
GROUPS = {"0000:00:00.0": "0", "0000:00:10.0": "1", "0000:00:11.0": "2", "0000:00:1f.0": "3",
          "0000:00:1f.2": "3", "0000:00:1f.3": "3", "0000:40:00.0": "6", "0000:41:00.0": "7",
          "0000:80:00.0": "4", PF: "5", VFS[0]: "8", VFS[1]: "9", VFS[2]: "10", VFS[3]: "11"}


def capture(shared: Path, name: str) -> Path:
    return shared / "corpus/realkernel" / f"{name}.tar.gz"


def rows(out: str) -> list[list[str]]:
    """Device rows of a table: cells split on the two-space column gaps."""
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines() if ROW.match(line)]


def scan_json(cli: Any, *args: str) -> dict[str, Any]:
    result = cli(["scan", *args, "-f", "json"])
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    validate_schema(doc, "scan")
    return doc


@pytest.fixture(scope="module")
def lab(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lab-iommu unpacked once; tests add and remove etc/nova/ themselves."""
    dest = tmp_path_factory.mktemp("lab")
    unpack_trusted(capture(shared, "lab-iommu"), dest)
    return dest / "lab-iommu"


@pytest.fixture
def lab_conf(lab: Path) -> Any:
    """Write etc/nova/nova.conf into the unpacked capture for one test."""
    def write(text: str) -> Path:
        (lab / "etc/nova").mkdir(exist_ok=True)
        (lab / "etc/nova/nova.conf").write_text(text)
        return lab
    yield write
    shutil.rmtree(lab / "etc/nova", ignore_errors=True)


# -- tables ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lab-iommu", "lab-noiommu"])
def test_capture_table(cli: Any, shared: Path, name: str) -> None:
    result = cli(["scan", "--host", str(capture(shared, name))])
    assert result.code == 0 and result.err == ""
    lines = result.out.splitlines()
    iommu = name == "lab-iommu"
    assert lines[0] == f"{name}  (bundle {capture(shared, name)})"
    assert lines[1] == ("  kernel 6.1.0-56-cloud-amd64 · " + (
        "IOMMU on (12 groups, passthrough) · cmdline intel_iommu=on iommu=pt" if iommu
        else "IOMMU off (no IOMMU groups) · cmdline has no IOMMU flags") + " · vfio-pci module")
    assert lines[2] == "  NUMA: node0 cpus 0, node1 cpus 1"
    assert lines[3] == "  config: no compute config, so nothing is assignable"
    assert lines[4].split() == [
        "address", "ids", "name", "type", "driver", "NUMA", "IOMMU", "passthrough"]
    table = rows(result.out)
    # Sorted by address, VFs right under their PF with tree marks.
    assert [r[0] for r in table] == [*list(CAPTURE_ROWS)[:10], *(f"├ {a}" for a in VFS[:3]),
                                     f"└ {VFS[3]}"]
    for cells in table:
        addr = cells[0].split()[-1]
        ids, kind, driver, numa = CAPTURE_ROWS[addr]
        if addr == VFS[0] and not iommu:
            driver = "unbound"  # vfio-pci cannot bind without an IOMMU
        assert (cells[1], cells[3], cells[4], cells[5]) == (ids, kind, driver, numa), cells
        assert cells[6] == (GROUPS[addr] if iommu else "-") and cells[7] == "-"
    assert "NoComputeConfig" in result.out


def test_capture_table_with_host_config(cli: Any, lab_conf: Any) -> None:
    root = lab_conf('[DEFAULT]\nhost = compute-7\n[pci]\n'
                    'device_spec = [{"vendor_id": "1af4", "product_id": "1041"}, '
                    '{"address": "0000:81:00.0", "product_id": "0010", "vendor_id": "1b36", '
                    '"physical_network": "physnet1"}]\n')
    result = cli(["scan", "--host", str(root)])
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"lab-iommu  (directory {root})  Nova host name: compute-7"
    assert lines[3] == "  config: etc/nova/nova.conf: valid, 6 of 14 devices assignable"
    passthrough = {r[0].split()[-1]: r[7] for r in rows(result.out)}
    assert passthrough["0000:41:00.0"] == "spec #0"
    # One line per device: the tags are cut to fit, and listed whole under the table.
    for addr in [PF, *VFS]:
        assert passthrough[addr].startswith("spec #1 phys"), passthrough[addr]
        assert "spec #1 physical_network=physnet1".startswith(passthrough[addr].rstrip("…"))
    assert passthrough["0000:00:1f.2"] == "-"
    assert "  spec #0  etc/nova/nova.conf:4 item 0  -> 1 device" in lines
    assert "  spec #1  etc/nova/nova.conf:4 item 1  physical_network=physnet1  -> 5 devices" in lines


def test_many_vfs_collapse_into_one_row(cli: Any, tmp_path: Path) -> None:
    built = fakehost.build(tmp_path / "h", "1x intel-e810 numa=1 vfs=12 vf-driver=iavf; "
                                           "hostname=e810; cmdline=intel_iommu=on")
    conf = tmp_path / "compute.conf"
    conf.write_text('[pci]\ndevice_spec = {"vendor_id": "8086", "product_id": "1889"}\n')
    pf = next(d for d in built.devices if d.dev_type == "type-PF")
    vfs = [d for d in built.devices if d.parent_addr == pf.address]
    result = cli(["scan", "--host", str(built.root), "--compute-conf", str(conf)])
    assert result.code == 0, result.err
    table = rows(result.out)
    summary = next(r for r in table if r[0].startswith("└"))
    first, last = vfs[0].address, vfs[-1].address
    assert summary[0].startswith(f"└ {first}-") and last.endswith(summary[0].rsplit("-", 1)[1])
    groups = sorted(v.iommu_group for v in vfs if v.iommu_group is not None)
    assert (summary[1], summary[3], summary[4], summary[5], summary[6], summary[7]) == (
        "8086:1889", "12 VFs", "iavf×12", "1", f"{groups[0]}-{groups[-1]}", "spec #0×12")
    assert len(table) == len(built.devices) - 11
    expanded = rows(cli(["scan", "--host", str(built.root), "--all-vfs"]).out)
    assert [r[0] for r in expanded if r[0][0] in "├└"] == (
        [f"├ {v.address}" for v in vfs[:-1]] + [f"└ {vfs[-1].address}"])


# -- JSON and YAML --------------------------------------------------------------------------------


def test_json_and_yaml_are_the_same_document(cli: Any, shared: Path) -> None:
    args = ["scan", "--host", str(capture(shared, "lab-iommu")),
            "--host", str(capture(shared, "lab-noiommu"))]
    doc = scan_json(cli, *args[1:])
    assert [h["name"] for h in doc["hosts"]] == ["lab-iommu", "lab-noiommu"]
    as_yaml = cli([*args, "-f", "yaml"])
    assert as_yaml.code == 0 and yaml.safe_load(as_yaml.out) == doc


def test_nan_in_a_tag_still_gives_strict_json(cli: Any, lab_conf: Any) -> None:
    root = lab_conf('[pci]\ndevice_spec = {"vendor_id": "1af4", "product_id": "1041", "x": NaN}\n')
    result = cli(["scan", "--host", str(root), "-f", "json"])
    assert result.code == 0

    def refuse(const: str) -> None:
        raise AssertionError(f"non-standard JSON constant {const}")

    doc = json.loads(result.out, parse_constant=refuse)
    validate_schema(doc, "scan")
    virtio = next(d for d in doc["hosts"][0]["devices"] if d["address"] == "0000:41:00.0")
    assert virtio["passthrough"] and virtio["tags"] == {"x": "nan"}


def test_live_root(cli: Any) -> None:
    result = cli(["scan"])  # default: the live host
    assert result.code == 0, result.err
    assert "(live /)" in result.out.splitlines()[0]
    doc = scan_json(cli)
    (host,) = doc["hosts"]
    assert (host["root"], host["kind"]) == ("/", "live")
    if os.path.isdir("/sys/bus/pci/devices"):
        assert sorted(d["address"] for d in host["devices"]) == sorted(os.listdir("/sys/bus/pci/devices"))
    assert host["name"] and host["kernel"]["release"] == os.uname().release


# -- exit codes -------------------------------------------------------------------------------------


def test_invalid_config_exits_2_and_still_lists_devices(cli: Any, lab_conf: Any) -> None:
    root = lab_conf('[pci]\ndevice_spec = {"vendor_id": "1b36", "product_id": "0010",}\n')
    result = cli(["scan", "--host", str(root)])
    assert result.code == 2
    assert len(rows(result.out)) == 14
    assert ("  config: etc/nova/nova.conf: INVALID (1 error): nova-compute would not start, "
            "so nothing is assignable") in result.out.splitlines()
    assert "PciConfigInvalidSpec etc/nova/nova.conf:2:" in result.out
    doc = json.loads(cli(["scan", "--host", str(root), "-f", "json"]).out)
    validate_schema(doc, "scan")
    assert doc["hosts"][0]["config"]["valid"] is False and len(doc["hosts"][0]["devices"]) == 14


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing", "Invalid host root {path}: no such file or directory"),
    (lambda tmp: tmp / "garbage.tar.gz", "Invalid host root {path}: cannot read the bundle"),
])
def test_bad_host_exits_2_without_traceback(cli: Any, tmp_path: Path, make: Any, message: str) -> None:
    path = make(tmp_path)
    if path.name.endswith(".gz"):
        path.write_bytes(b"\x1f\x8b not really gzip")
    result = cli(["scan", "--host", str(path)])
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("pcipass scan: " + message.format(path=path))
    assert "Traceback" not in result.err


def test_bad_lspci_exits_2(cli: Any, tmp_path: Path) -> None:
    paste = tmp_path / "paste.txt"
    paste.write_text("nothing to see\n")
    result = cli(["scan", "--lspci", str(paste)])
    assert result.code == 2 and "Invalid lspci input" in result.err and "fix: paste the output" in result.err


@pytest.mark.parametrize("args", [["--bogus"], ["-f", "xml"], ["--compute-conf", "/nonexistent.conf"],
                                  ["--nova-conf", "/"]])
def test_usage_errors_exit_64(cli: Any, args: list[str]) -> None:
    assert cli(["scan", *args]).code == 64


# -- lspci, overrides, hostile roots --------------------------------------------------------------


def test_every_corpus_lspci_paste(cli: Any, shared: Path) -> None:
    for path in sorted((shared / "corpus/lspci").iterdir()):
        if path.name.endswith(".source.txt"):
            continue
        result = cli(["scan", "--lspci", str(path), "-f", "json"])
        if result.code == 2:
            assert result.err.startswith(f"pcipass scan: Invalid lspci input {path}: no device found")
            continue
        assert result.code == 0, (path, result.err)
        doc = json.loads(result.out)
        validate_schema(doc, "scan")
        assert doc["hosts"][0]["name"] == path.stem and doc["hosts"][0]["devices"]
        table = cli(["scan", "--lspci", str(path)])
        assert table.code == 0 and "  kernel: unknown (lspci paste)" in table.out.splitlines()
        assert len(rows(table.out)) == len(doc["hosts"][0]["devices"])


def test_compute_conf_applies_to_lspci_and_hosts(cli: Any, shared: Path, tmp_path: Path) -> None:
    conf = tmp_path / "compute.conf"
    conf.write_text('[pci]\ndevice_spec = {"vendor_id": "8086", "product_id": "2922"}\n')
    paste = shared / "corpus/lspci/asokolsky_duo_lspci_nnk.md"
    doc = scan_json(cli, "--host", str(capture(shared, "lab-noiommu")), "--lspci", str(paste),
                    "--compute-conf", str(conf))
    lab, duo = doc["hosts"]
    assert [d["address"] for d in lab["devices"] if d["passthrough"]] == ["0000:00:1f.2"]
    assert lab["config"]["files"] == [str(conf)] == duo["config"]["files"]
    assert all(d["spec_source"] == {"file": str(conf), "line": 2, "item": None}
               for h in (lab, duo) for d in h["devices"] if d["passthrough"])


def test_hostile_etc_nova_link_is_a_warning(cli: Any, lab: Path, tmp_path: Path) -> None:
    outside = tmp_path / "nova.conf"
    outside.write_text('[pci]\ndevice_spec = {"vendor_id": "*", "product_id": "*"}\n')
    (lab / "etc/nova").mkdir()
    try:
        (lab / "etc/nova/nova.conf").symlink_to(outside)
        result = cli(["scan", "--host", str(lab)])
    finally:
        shutil.rmtree(lab / "etc/nova")
    assert result.code == 0
    assert f"    etc/nova/nova.conf: symlink to {outside} leads outside the host root; not followed" in (
        result.out.splitlines())
    assert all(r[7] == "-" for r in rows(result.out))


# -- start-up ----------------------------------------------------------------------------------


def test_scan_without_config_does_not_load_oslo_or_jsonschema(tmp_path: Path) -> None:
    built = fakehost.build(tmp_path / "h", "1x nvidia-t4 numa=0; hostname=t4")
    code = ("import sys; from pcipass.services import scan; r = scan.scan_hosts([sys.argv[1]]); "
            "assert len(r.hosts[0].devices) == 2; "
            "print(sorted(m for m in ('oslo_config', 'jsonschema', 'rich', 'yaml') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, str(built.root)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")}, check=True, timeout=60)
    assert proc.stdout.strip() == "[]"


# -- agreement with pciutils ----------------------------------------------------------------------


def triples(devices: list[dict[str, Any]]) -> dict[str, tuple[str, str, str | None]]:
    return {d["address"]: (d["vendor_id"], d["product_id"], d["driver"]) for d in devices}


def test_scan_agrees_with_lspci_on_the_same_trees(cli: Any, lab: Path, tmp_path: Path) -> None:
    """`pcipass scan` and Debian's lspci read the same tree: same addresses, IDs and drivers."""
    binary = shutil.which("lspci")
    if binary is None:
        skip_unless_ci("lspci (pciutils) is not installed; make test installs it")
    fake = fakehost.build(tmp_path / "h", fakehost.PROFILES["mixed"]).root
    for root in (lab, fake):
        paste = tmp_path / f"{root.name}-lspci.txt"
        paste.write_text(subprocess.run([binary, "-nnk", "-O", f"sysfs.path={root}/sys/bus/pci"],
                                        capture_output=True, text=True, check=True, timeout=60).stdout)
        doc = scan_json(cli, "--host", str(root), "--lspci", str(paste))
        ours, theirs = doc["hosts"]
        # -nnk shows no device type: the one warning says so (issue 18 point 6).
        assert theirs["name"] == paste.stem
        assert [w for w in theirs["warnings"] if "show no type in this paste" not in w] == []
        assert triples(theirs["devices"]) == triples(ours["devices"]) and ours["devices"]


def test_scan_agrees_with_the_lspci_the_lab_vm_printed(cli: Any, lab: Path) -> None:
    doc = scan_json(cli, "--host", str(lab), "--lspci", str(lab / "cmd/lspci-nnk.txt"))
    ours, printed = doc["hosts"]
    assert triples(printed["devices"]) == triples(ours["devices"])
    if pciids.PciIds.system() is not None:  # both name devices from this machine's pci.ids
        assert [d["name"] for d in printed["devices"]] == [d["name"] for d in ours["devices"]]
