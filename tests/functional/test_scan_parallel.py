"""Parallel host-root scans give exactly the sequential result, in input order."""

from __future__ import annotations

from pathlib import Path

from pcipass import fakehost
from pcipass.services import scan


def test_parallel_scan_equals_sequential(tmp_path: Path) -> None:
    roots = []
    for i, profile in enumerate(["1x intel-x710 numa=1 vfs=2", "1x nvidia-a100 driver=vfio-pci",
                                 "1x intel-e810 vfs=3; cmdline=intel_iommu=on"]):
        built = fakehost.build(tmp_path / f"h{i}", f"{profile}; hostname=host-{i}")
        (built.root / "etc/nova").mkdir(parents=True)
        (built.root / "etc/nova/nova.conf").write_text(
            '[pci]\ndevice_spec = {"vendor_id": "8086"}\n')
        roots.append(str(built.root))
    seq = scan.scan_hosts(roots, jobs=1).to_dict()
    par = scan.scan_hosts(roots, jobs=2).to_dict()
    assert par == seq
    assert [h["name"] for h in par["hosts"]] == ["host-0", "host-1", "host-2"]
    assert any(d["passthrough"] for d in par["hosts"][0]["devices"])
