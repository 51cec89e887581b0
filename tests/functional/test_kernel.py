"""Kernel facts: command line, IOMMU presence, vfio-pci state, dmesg and release."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass import fakehost
from pcipass.adapters import kernel, roots
from pcipass.services.jsonview import to_json


def read(path: Path | str) -> kernel.KernelFacts:
    with roots.open_root(path) as root:
        return kernel.read_kernel(root)


def test_cmdline_flags() -> None:
    cmd = kernel.parse_cmdline(
        'BOOT_IMAGE=/vmlinuz root=UUID=1 ro intel_iommu=on iommu=pt vfio-pci.ids=10DE:1DB4,10de:10f2 '
        'amd_iommu=off quiet console="ttyS0,115200 n8"')
    assert (cmd.intel_iommu, cmd.amd_iommu, cmd.iommu, cmd.iommu_pt) == ("on", "off", "pt", True)
    assert cmd.vfio_pci_ids == ("10de:1db4", "10de:10f2")
    assert ("quiet", None) in cmd.others and ("console", "ttyS0,115200 n8") in cmd.others
    assert ("BOOT_IMAGE", "/vmlinuz") == cmd.others[0]


def test_cmdline_last_value_wins_and_init_args_are_ignored() -> None:
    cmd = kernel.parse_cmdline("intel_iommu=off intel_iommu=on vfio_pci.ids=8086:154c -- iommu=pt")
    assert cmd.intel_iommu == "on" and cmd.iommu is None
    assert cmd.vfio_pci_ids == ("8086:154c",)


def test_cmdline_with_an_unbalanced_quote_is_still_parsed() -> None:
    cmd = kernel.parse_cmdline('intel_iommu=on foo="bar')
    assert cmd.intel_iommu == "on"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_cmdline_never_raises(text: str) -> None:
    assert kernel.parse_cmdline(text).raw == text.strip()


def test_iommu_capture(shared: Path) -> None:
    facts = read(shared / "corpus/realkernel/lab-iommu.tar.gz")
    assert facts.release == "6.1.0-56-cloud-amd64"
    assert facts.cmdline is not None
    assert (facts.cmdline.intel_iommu, facts.cmdline.iommu_pt) == ("on", True)
    assert facts.iommu_devices == ("dmar0",) and facts.iommu_groups == 12
    assert facts.acpi_tables == ("DMAR",) and facts.iommu_present
    assert facts.vfio_pci == "module" and "vfio_iommu_type1" in facts.modules
    assert facts.dmesg_source == "cmd/dmesg.txt"
    lines = [line.split("] ", 1)[1] for line in facts.dmesg_iommu_lines]
    assert "DMAR: IOMMU enabled" in lines
    assert "DMAR-IR: Enabled IRQ remapping in xapic mode" in lines
    assert "DMAR: Intel(R) Virtualization Technology for Directed I/O" in lines
    assert facts.dmesg_group_additions == 14  # one line per device: group 3 has three
    assert facts.warnings == ()


def test_noiommu_capture(shared: Path) -> None:
    facts = read(shared / "corpus/realkernel/lab-noiommu.tar.gz")
    assert facts.cmdline is not None and facts.cmdline.intel_iommu is None
    assert not facts.cmdline.iommu_pt
    assert facts.iommu_devices == () and facts.iommu_groups == 0 and not facts.iommu_present
    assert facts.acpi_tables == ()
    assert facts.vfio_pci == "module"
    lines = [line.split("] ", 1)[1] for line in facts.dmesg_iommu_lines]
    assert "vfio-pci: probe of 0000:81:00.1 failed with error -22" in lines
    assert not any(line.startswith("DMAR:") for line in lines)
    assert facts.dmesg_group_additions == 0


@pytest.mark.parametrize(("vfio", "state", "in_modules"), [
    ("module", "module", True), ("builtin", "builtin", False), ("none", "absent", False)])
def test_vfio_pci_module_builtin_or_absent(tmp_path: Path, vfio: str, state: str, in_modules: bool) -> None:
    built = fakehost.build(tmp_path / "h", f"1x nvidia-t4 numa=0; vfio={vfio}; cmdline=intel_iommu=on")
    facts = read(built.root)
    assert facts.vfio_pci == state
    assert ("vfio_pci" in facts.modules) is in_modules


def test_amd_platform_fake_host(tmp_path: Path) -> None:
    built = fakehost.build(tmp_path / "h", fakehost.PROFILES["amd-epyc"])
    facts = read(built.root)
    assert facts.acpi_tables == ("IVRS",) and facts.iommu_devices == ("ivhd0",)
    assert any("AMD-Vi: Interrupt remapping enabled" in line for line in facts.dmesg_iommu_lines)
    assert facts.cmdline is not None and facts.cmdline.amd_iommu is None


def test_intel_without_iommu_flag_has_dmar_table_but_no_groups(tmp_path: Path) -> None:
    built = fakehost.build(tmp_path / "h", fakehost.PROFILES["no-iommu"])
    facts = read(built.root)
    assert facts.acpi_tables == ("DMAR",)
    assert not facts.iommu_present and facts.iommu_groups == 0
    assert any("vfio-pci: probe of" in line for line in facts.dmesg_iommu_lines)


def test_a_bare_root_gives_empty_facts_without_crashing(tmp_path: Path) -> None:
    (tmp_path / "bare").mkdir()
    facts = read(tmp_path / "bare")
    assert facts.cmdline is None and facts.release is None and facts.vfio_pci is None
    assert facts.dmesg_source is None and facts.modules == ()


def test_release_falls_back_to_osrelease_then_manifest(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text("5.14.0-362.el9.x86_64\n")
    assert read(root).release == "5.14.0-362.el9.x86_64"
    other = tmp_path / "m"
    other.mkdir()
    (other / "manifest.json").write_text('{"kernel": "6.8.0-49-generic"}')
    assert read(other).release == "6.8.0-49-generic"


def test_live_dmesg_only_for_the_live_root(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    assert read(tmp_path / "r").dmesg_source is None
    live = read("/")
    # either readable (dmesg) or reported as not readable, never an exception
    assert live.dmesg_source == "dmesg" or any(w.startswith("dmesg:") for w in live.warnings)


def test_iommu_lines_count_group_additions_apart() -> None:
    lines, adds = kernel.iommu_lines("[0.1] DMAR: IOMMU enabled\n[0.2] pci 0000:00:00.0: Adding to "
                                     "iommu group 0\n[0.3] usb 1-1: new device\n")
    assert lines == ("[0.1] DMAR: IOMMU enabled",) and adds == 1


def test_json_is_ready(shared: Path) -> None:
    import json
    doc = to_json(read(shared / "corpus/realkernel/lab-iommu.tar.gz"))
    assert json.loads(json.dumps(doc))["cmdline"]["intel_iommu"] == "on"
    assert doc["iommu_present"] is True
