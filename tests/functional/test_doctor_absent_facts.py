"""Absent is not negative: a fact the capture did not collect is unknown, never false.

The real capture is the lab's QEMU q35 host with VT-d (shared/corpus/realkernel/lab-iommu.tar.gz).
Its raw data: an ACPI DMAR table in sys/firmware/acpi/tables, 14 "Adding to iommu group" lines and
"DMAR: IOMMU enabled" in cmd/dmesg.txt, and intel_iommu=on on the command line. A capture that
leaves out sys/firmware (or sys/kernel/iommu_groups) says nothing about the firmware; the
kernel checks must judge from what is there or skip with the reason, never fail PCI-K001
("no ACPI DMAR table, disabled in the firmware").
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from support import run_cli


@pytest.fixture()
def lab(shared: Path, tmp_path: Path) -> Path:
    with tarfile.open(shared / "corpus/realkernel/lab-iommu.tar.gz") as tar:
        tar.extractall(tmp_path, filter="tar")
    return tmp_path / "lab-iommu"


def _kernel(root: Path) -> dict[str, tuple[str, str]]:
    doc = run_cli(["doctor", "--host", str(root), "--select", "PCI-K", "-f", "json"]).json()
    return {f["id"]: (f["severity"], f["message"]) for f in doc["findings"]}


def _drop(root: Path, rel: str) -> None:
    for p in (root / rel).rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(root / rel)


def test_without_sys_firmware_the_groups_and_dmesg_decide(lab: Path) -> None:
    _drop(lab, "sys/firmware")
    got = _kernel(lab)
    assert not {k for k, (sev, _) in got.items() if sev == "fail"}, got
    assert "PCI-K001" not in got  # the groups prove an IOMMU: nothing to say


def test_without_firmware_nor_groups_dmesg_naming_the_dmar_table_is_no_firmware_failure(lab: Path) -> None:
    """dmesg still lists "ACPI: DMAR" and "DMAR: DRHD base": the table exists. Without the groups'
    directory and with the "Adding to iommu group" lines cut, whether groups exist is unknown: skip."""
    _drop(lab, "sys/firmware")
    _drop(lab, "sys/kernel/iommu_groups")
    dmesg = lab / "cmd/dmesg.txt"
    dmesg.chmod(0o644)
    dmesg.write_text("".join(ln for ln in dmesg.read_text().splitlines(True) if "iommu group" not in ln))
    got = _kernel(lab)
    assert {k: sev for k, (sev, _) in got.items() if k in ("PCI-K001", "PCI-K002", "PCI-K003")} == \
        {"PCI-K001": "skip", "PCI-K002": "skip", "PCI-K003": "skip"}
    assert "sys/kernel/iommu_groups" in got["PCI-K001"][1] and "not collected" in got["PCI-K001"][1]


def test_only_dmar_iommu_enabled_in_dmesg_and_no_firmware_dir_skips(lab: Path) -> None:
    """"DMAR: IOMMU enabled" echoes the command line: it proves no table, and no table is not proven
    absent either (sys/firmware was not collected). Skip, naming what is missing."""
    _drop(lab, "sys/firmware")
    _drop(lab, "sys/kernel/iommu_groups")
    dmesg = lab / "cmd/dmesg.txt"
    dmesg.chmod(0o644)
    kept = [ln for ln in dmesg.read_text().splitlines(True) if "DMAR" not in ln or "IOMMU enabled" in ln]
    kept = [ln for ln in kept if "iommu group" not in ln]
    assert any("DMAR: IOMMU enabled" in ln for ln in kept)
    dmesg.write_text("".join(kept))
    got = _kernel(lab)
    assert got["PCI-K001"][0] == "skip" and "sys/firmware/acpi/tables" in got["PCI-K001"][1]
    assert not {k for k, (sev, _) in got.items() if sev == "fail"}, got


def test_a_collected_firmware_dir_without_dmar_still_fails(lab: Path) -> None:
    """The judgement stands where the fact was collected: the tables directory is there, empty."""
    _drop(lab, "sys/kernel/iommu_groups")
    for table in (lab / "sys/firmware/acpi/tables").iterdir():
        if table.name in ("DMAR", "IVRS"):
            table.chmod(0o644)
            table.unlink()
    dmesg = lab / "cmd/dmesg.txt"
    dmesg.chmod(0o644)
    dmesg.write_text("".join(ln for ln in dmesg.read_text().splitlines(True)
                             if "DMAR" not in ln and "iommu group" not in ln))
    got = _kernel(lab)
    assert got["PCI-K001"][0] == "fail"
