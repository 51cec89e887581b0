"""Parallel host-root scans give exactly the sequential result, in input order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from support import run_cli

from pcipass import fakehost
from pcipass.services import scan
from pcipass.services.jsonview import to_json


def test_parallel_scan_equals_sequential(tmp_path: Path) -> None:
    roots = []
    for i, profile in enumerate(["1x intel-x710 numa=1 vfs=2", "1x nvidia-a100 driver=vfio-pci",
                                 "1x intel-e810 vfs=3; cmdline=intel_iommu=on"]):
        built = fakehost.build(tmp_path / f"h{i}", f"{profile}; hostname=host-{i}")
        (built.root / "etc/nova").mkdir(parents=True)
        (built.root / "etc/nova/nova.conf").write_text(
            '[pci]\ndevice_spec = {"vendor_id": "8086"}\n')
        roots.append(str(built.root))
    seq = to_json(scan.scan_hosts(roots, jobs=1))
    par = to_json(scan.scan_hosts(roots, jobs=2))
    assert par == seq
    assert [h["name"] for h in par["hosts"]] == ["host-0", "host-1", "host-2"]
    assert any(d["passthrough"] for d in par["hosts"][0]["devices"])



def test_doctor_default_parallel_run_equals_one_process(tmp_path: Path) -> None:
    """``pcipass doctor`` scans 16+ roots in one process per CPU by default (``-j 0``)."""
    base = fakehost.build(tmp_path / "base", "1x intel-x710 numa=0 vfs=2; cmdline=intel_iommu=on")
    (base.root / "etc/nova").mkdir(parents=True)
    roots = []
    for i in range(scan.PARALLEL_MIN_HOSTS):
        root = tmp_path / f"h{i:02d}"
        shutil.copytree(base.root, root, symlinks=True)
        manifest = json.loads((root / "manifest.json").read_text())
        manifest["hostname"] = f"host-{i:02d}"
        (root / "manifest.json").write_text(json.dumps(manifest))
        product = "154c" if i % 2 else "10ed"  # every other host: a spec matching nothing
        (root / "etc/nova/nova.conf").write_text(
            f'[pci]\ndevice_spec = {{"vendor_id": "8086", "product_id": "{product}"}}\n')
        roots += ["--host", str(root)]
    auto = run_cli(["doctor", *roots, "-f", "json"])
    one = run_cli(["doctor", *roots, "-j", "1", "-f", "json"])
    assert (auto.code, auto.json()) == (one.code, one.json())
    assert [h["name"] for h in auto.json()["hosts"]] == [f"host-{i:02d}" for i in range(16)]
    failed = {f["host"] for f in auto.json()["findings"] if f["id"] == "PCI-S002" and f["severity"] == "fail"}
    assert failed == {f"host-{i:02d}" for i in range(0, 16, 2)}
