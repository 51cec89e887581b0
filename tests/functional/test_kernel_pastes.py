"""--dmesg and --cmdline files, the IOMMU mode, and how the files join hosts (issue 18 points 4 and 5).

Expected values were read by hand from tests/fixtures/dmesg/ and tests/fixtures/cmdline/ (origins
beside each file) and from the real-kernel capture in ../shared/corpus/realkernel; reasons inline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support import FIXTURES, run_json, unpack_trusted, validate_schema
from pcipass.adapters import kernel, kernelpaste

DMESG, CMDLINE = FIXTURES / "dmesg", FIXTURES / "cmdline"


def test_every_fixture_has_its_origin() -> None:
    for folder in (DMESG, CMDLINE):
        data = [p for p in folder.iterdir() if not p.name.endswith(".source.txt")]
        assert data and all(p.with_name(p.name + ".source.txt").is_file() for p in data)


# -- reading the files --------------------------------------------------------------------------


def test_proc_cmdline_file() -> None:
    c = kernelpaste.read_cmdline(str(CMDLINE / "fuji.txt"))
    # "... ro quiet intel_iommu=on": Intel on, no iommu=, nothing else IOMMU-wise.
    assert (c.intel_iommu, c.amd_iommu, c.iommu, c.iommu_passthrough) == ("on", None, None, None)
    assert c.raw.startswith("BOOT_IMAGE=/boot/vmlinuz-6.5.11-8-pve")


def test_grub_line_file() -> None:
    c = kernelpaste.read_cmdline(str(CMDLINE / "compute1.txt"))
    # GRUB_CMDLINE_LINUX="... nouveau.modeset=0 intel_iommu=on iommu=pt" (quotes removed).
    assert (c.intel_iommu, c.iommu, c.iommu_pt) == ("on", "pt", True)
    assert ("rd.driver.blacklist", "nouveau,nvidia,nvidia_drm") in c.others


def test_cmdline_inside_a_markdown_post() -> None:
    c = kernelpaste.read_cmdline(str(CMDLINE / "threadripper.md"))
    # The fenced line: amd_iommu=on iommu=pt and five vfio-pci.ids.
    assert (c.amd_iommu, c.iommu) == ("on", "pt")
    assert c.vfio_pci_ids == ("1002:66af", "1002:ab20", "144d:a808", "1b73:1100", "1d6a:d107")


def test_dmesg_files() -> None:
    fuji = kernelpaste.read_dmesg(str(DMESG / "fuji.txt"))
    # 15 DMAR lines (13 from the first grep, 2 from the second); no group additions.
    assert len(fuji.lines) == 15 and fuji.group_additions == 0
    assert any("DMAR: IOMMU enabled" in ln for ln in fuji.lines)
    ch = kernelpaste.read_dmesg(str(DMESG / "ch6147.txt"))
    assert (ch.group_additions, ch.lines) == (6, ())  # six "Adding to iommu group" lines


def test_grub_lines_that_append_to_themselves() -> None:
    text = ('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n'
            'GRUB_CMDLINE_LINUX="rhgb"\n'
            'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX intel_iommu=on"\n'
            'GRUB_CMDLINE_LINUX_DEFAULT="${GRUB_CMDLINE_LINUX_DEFAULT} iommu.passthrough=1"\n')
    c = kernelpaste.parse_cmdline_text(text)
    assert c is not None
    # grub-mkconfig joins LINUX then LINUX_DEFAULT: "rhgb intel_iommu=on quiet iommu.passthrough=1".
    assert c.raw == "rhgb intel_iommu=on quiet iommu.passthrough=1"
    assert (c.intel_iommu, c.iommu_passthrough) == ("on", "1")


@pytest.mark.parametrize("text", ["", "hello world\n", "```\n$ cat /proc/cmdline\n```\n",
                                  "GRUB_CMDLINE_LINUX=\"unterminated\n", "x=" + "a" * 20000])
def test_hostile_cmdline_texts(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.txt"
    path.write_text(text)
    try:
        got = kernelpaste.read_cmdline(str(path))
    except kernelpaste.KernelPasteInvalid as exc:
        assert str(path) in exc.message
    else:
        assert got.raw  # only the unterminated GRUB quote still reads (shell-like, leniently)


def test_binary_and_missing_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\0\1\2" * 10)
    with pytest.raises(kernelpaste.KernelPasteInvalid, match="binary"):
        kernelpaste.read_dmesg(str(binary))
    with pytest.raises(kernelpaste.KernelPasteInvalid, match="directory"):
        kernelpaste.read_cmdline(str(tmp_path))
    prose = tmp_path / "p.txt"
    prose.write_text("not a kernel log\n")
    with pytest.raises(kernelpaste.KernelPasteInvalid, match="no kernel log lines"):
        kernelpaste.read_dmesg(str(prose))


# -- the IOMMU mode -------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "mode"), [
    ("iommu=pt", "passthrough"),
    ("iommu.passthrough=1", "passthrough"),
    ("intel_iommu=on iommu.passthrough=0", "translated"),
    ("intel_iommu=on", "translated"),
    ("amd_iommu=off", "off"),
    ("intel_iommu=on,sm_on iommu=off", "off"),
    ("quiet splash", "unknown"),
])
def test_mode_from_the_command_line(line: str, mode: str) -> None:
    facts = kernelpaste.paste_facts(kernel.parse_cmdline(line), None)
    assert kernel.iommu_mode(facts).mode == mode


def test_mode_from_dmesg_wins_over_the_command_line() -> None:
    dmesg = kernelpaste.read_dmesg(str(DMESG / "fwupd5304.txt"))
    facts = kernelpaste.paste_facts(kernel.parse_cmdline("intel_iommu=on"), dmesg)
    got = kernel.iommu_mode(facts)
    # "iommu: Default domain type: Passthrough" is what the kernel did.
    assert (got.mode, got.source) == ("passthrough", str(DMESG / "fwupd5304.txt"))


def test_mode_from_group_types_wins(shared: Path, tmp_path: Path, cli: Any) -> None:
    unpack_trusted(shared / "corpus/realkernel/lab-iommu.tar.gz", tmp_path)
    (root,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    res = cli(["scan", "--host", str(root), "-f", "json"])
    doc = json.loads(res.out)
    validate_schema(doc, "scan")
    k = doc["hosts"][0]["kernel"]
    # The capture booted with "intel_iommu=on iommu=pt"; each of its 12 groups' type file says identity.
    assert k["iommu_group_types"] == {"identity": 12}
    assert (k["iommu_mode"]["mode"], k["iommu_mode"]["source"]) == ("passthrough", "sys/kernel/iommu_groups/*/type")
    assert k["cmdline"]["iommu_passthrough"] is None


# -- joining hosts --------------------------------------------------------------------------------


def test_no_host_the_stems_name_new_hosts(cli: Any) -> None:
    code, doc = run_json(cli, "scan", "--dmesg", str(DMESG / "fuji.txt"), "--cmdline", str(CMDLINE / "fuji.txt"),
                         "--cmdline", str(CMDLINE / "compute1.txt"))
    assert code == 0
    hosts = {h["name"]: h for h in doc["hosts"]}
    assert sorted(hosts) == ["compute1", "fuji"] and {h["kind"] for h in hosts.values()} == {"paste"}
    fuji = hosts["fuji"]["kernel"]
    assert fuji["cmdline"]["intel_iommu"] == "on" and fuji["dmesg_source"].endswith("fuji.txt")
    assert fuji["iommu_groups"] is None and fuji["iommu_mode"]["mode"] == "translated"
    assert hosts["compute1"]["kernel"]["iommu_mode"]["mode"] == "passthrough"  # iommu=pt


def test_one_host_gets_a_file_of_another_name(cli: Any) -> None:
    paste = FIXTURES / "lspci_groups/coopydood_issue213_groups.txt"
    _code, doc = run_json(cli, "scan", "--lspci", str(paste), "--cmdline", str(CMDLINE / "compute1.txt"))
    (host,) = doc["hosts"]
    assert host["name"] == "coopydood_issue213_groups" and host["kernel"]["cmdline"]["iommu"] == "pt"


def test_several_hosts_and_no_matching_stem_is_a_usage_error(cli: Any) -> None:
    res = cli(["scan", "--lspci", str(FIXTURES / "lspci_groups/coopydood_issue213_groups.txt"),
               "--lspci", str(FIXTURES / "lspci_groups/sgpupt_issue28_arch_loop.txt"),
               "--dmesg", str(DMESG / "fuji.txt")])
    assert res.code == 64 and "no host is named 'fuji'" in res.err
    res = cli(["doctor", "--lspci", str(FIXTURES / "lspci_groups/coopydood_issue213_groups.txt"),
               "--lspci", str(FIXTURES / "lspci_groups/sgpupt_issue28_arch_loop.txt"),
               "--cmdline", str(CMDLINE / "fuji.txt")])
    assert res.code == 64


def test_a_host_named_like_the_stem_gets_it(cli: Any, tmp_path: Path) -> None:
    paste = tmp_path / "fuji.txt"  # an lspci paste named after the host
    paste.write_text((FIXTURES / "lspci_groups/sgpupt_issue28_arch_loop.txt").read_text())
    other = FIXTURES / "lspci_groups/coopydood_issue213_groups.txt"
    _code, doc = run_json(cli, "scan", "--lspci", str(paste), "--lspci", str(other),
                          "--cmdline", str(CMDLINE / "fuji.txt"))
    kernels = {h["name"]: h["kernel"]["cmdline"] for h in doc["hosts"]}
    assert kernels["fuji"]["intel_iommu"] == "on" and kernels["coopydood_issue213_groups"] is None


def test_doctor_kernel_layer_from_pastes(cli: Any) -> None:
    _code, doc = run_json(cli, "doctor", "--dmesg", str(DMESG / "ch6147.txt"),
                          "--cmdline", str(CMDLINE / "threadripper.md"))
    by_id = {f["id"]: f for f in doc["findings"] if f["host"] == "ch6147"}
    # Group additions in the dmesg: the IOMMU works, so K001-K003 find nothing to report.
    assert not {"PCI-K001", "PCI-K002", "PCI-K003"} & set(by_id)
    # No command line and no "Default domain type" line with it: the mode is unknown.
    assert by_id["PCI-K006"]["severity"] == "info" and "unknown" in by_id["PCI-K006"]["message"]
    assert by_id["PCI-K004"]["severity"] == "skip"  # no proc/modules or sys/module in a paste
    threadripper = {f["id"]: f for f in doc["findings"] if f["host"] == "threadripper"}
    # A command line alone shows no IOMMU group: the kernel checks cannot tell.
    assert threadripper["PCI-K001"]["severity"] == "skip"
    assert "iommu=pt" in threadripper["PCI-K006"]["message"]


def test_a_dmesg_larger_than_the_bound_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"[    0.000000] x\n" * (kernelpaste.MAX_DMESG_BYTES // 16 + 1024))
    with pytest.raises(kernelpaste.KernelPasteInvalid) as err:
        kernelpaste.read_dmesg(str(big))
    assert str(big) in err.value.message
