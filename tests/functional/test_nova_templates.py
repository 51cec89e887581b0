"""nova.conf as deployment tools ship it: Jinja templates and unified diffs (issue 18 point 1).

Expected values were read by hand from tests/fixtures/templates/ and tests/fixtures/diffs/ (origins
beside each file); line numbers are the files' own, with the reason inline.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from support import FIXTURES, validate_schema
from pcipass.adapters import novaprepare, sniff, templates, unidiff

TEMPLATES, DIFFS = FIXTURES / "templates", FIXTURES / "diffs"


def test_every_fixture_has_its_origin() -> None:
    for folder in (TEMPLATES, DIFFS):
        data = [p for p in folder.iterdir() if not p.name.endswith(".source.txt")]
        assert data and all(p.with_name(p.name + ".source.txt").is_file() for p in data)


def codes(doc: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(p["code"], p["line"]) for p in doc["errors"] + doc["warnings"]]


def check(cli: Any, path: Path) -> dict[str, Any]:
    res = cli(["config", "check", "--nova-conf", str(path), "-f", "json"])
    assert "Traceback" not in res.err
    doc = json.loads(res.out)
    validate_schema(doc, "config")
    return doc


# -- templates ---------------------------------------------------------------------------------


def test_kolla_template_plain_lines_are_checked(cli: Any) -> None:
    path = TEMPLATES / "kolla_nova_cell.conf.j2"
    assert sniff.classify_file(path).kind == "jinja"
    doc = check(cli, path)
    assert doc["valid"] and "not_nova_conf" not in doc
    # Expressions set [DEFAULT] debug (line 3), host (lines 12 and 18) and [pci]
    # passthrough_whitelist (line 39); every other option line is plain.
    assert codes(doc) == [("TemplateValueNotChecked", 3), ("TemplateValueNotChecked", 12),
                          ("TemplateValueNotChecked", 18), ("TemplateValueNotChecked", 39)]
    assert doc["warnings"][3]["entry"] == "[pci] passthrough_whitelist"
    # The whitelist is templated: no "no PCI options" warning, which would mislead.
    assert "NoPciOptions" not in {c for c, _ in codes(doc)}


def test_kolla_template_mask_keeps_lines_and_blanks_markup() -> None:
    text = (TEMPLATES / "kolla_nova_cell.conf.j2").read_text()
    masked = templates.mask(text)
    lines = masked.text.splitlines()
    assert len(lines) == len(text.splitlines()) == 40
    # Statement lines 11, 17, 20, 22, 24, 27, 35, 37 and 40 are blank; plain ones are kept.
    assert all(lines[n - 1] == "" for n in (11, 17, 20, 22, 24, 27, 35, 37, 40))
    assert lines[22] == "compute_driver = libvirt.LibvirtDriver" and lines[37] == "[pci]"
    assert masked.statements == 9


def test_kayobe_template_inserting_a_block(cli: Any) -> None:
    doc = check(cli, TEMPLATES / "kayobe_nova.conf.j2")
    # Line 1 "# {{ ansible_managed }}" is a comment; line 8 "{{ kolla_extra_nova }}" inserts lines.
    assert codes(doc) == [("TemplateValueNotChecked", 8)]
    assert "inserts" in doc["warnings"][0]["message"] and doc["warnings"][0]["entry"] is None


@pytest.mark.parametrize("text", [
    "{% if a %}\n[pci]\n",  # never closed
    "[pci]\n{# a comment\nthat spans\nlines #}\nalias = {}\n",
    "[pci]\nalias = {{ x\n",  # truncated expression
    "{{" * 20000 + "\n",
    "[{{ section }}]\nkey = 1\n",
])
def test_hostile_templates(text: str) -> None:
    start = time.perf_counter()
    masked = templates.mask(text)
    assert len(masked.text.splitlines()) == len(text.splitlines())
    assert time.perf_counter() - start < 2


def test_multiline_comment_is_blanked() -> None:
    masked = templates.mask("[pci]\n{# a comment\nthat spans\nlines #}\nalias = {}\n")
    assert masked.text.splitlines() == ["[pci]", "", "", "", "alias = {}"]


# -- diffs -----------------------------------------------------------------------------------------


def test_diff_new_side_of_a_plain_block() -> None:
    text = (DIFFS / "kolla_blazar_filters.diff").read_text()
    assert sniff.classify(text).kind == "diff"
    side = unidiff.new_side(text)
    assert side is not None and side.hunks == 1
    lines = side.text.splitlines()
    # Lines 10-13 are the added [filter_scheduler] block; line 7 (transport_url) sits before the
    # hunk's first header in a section the diff does not show ("@@ -52,6 +52,13 @@", no section).
    assert lines[9] == "[filter_scheduler]" and lines[12].startswith("enabled_filters = RetryFilter")
    assert side.unknown_section == ((7, 7),) and lines[6] == ""


def test_diff_values_are_read_as_nova_reads_them() -> None:
    nova = novaprepare.read_nova_conf([DIFFS / "kolla_blazar_filters.diff"])
    # enabled_filters on line 13: nine filters, the last BlazarFilter; no PciPassthroughFilter.
    assert nova.enabled_filters[-1] == "BlazarFilter" and len(nova.enabled_filters) == 9
    assert "PciPassthroughFilter" not in nova.enabled_filters
    assert nova.sources["enabled_filters"].line == 13
    assert nova.files == [str(DIFFS / "kolla_blazar_filters.diff")]


def test_diff_of_a_template(cli: Any) -> None:
    path = DIFFS / "kolla_pci_whitelist.diff"
    prepared = novaprepare.prepare_file(path)
    assert prepared is not None and prepared.kind == "diff of a template"
    doc = check(cli, path)
    # Line 7 (track_instance_changes) has no section in the diff; line 12 is the templated
    # [pci] passthrough_whitelist.
    assert codes(doc) == [("DiffSectionUnknown", 7), ("TemplateValueNotChecked", 12)]


def test_a_removed_device_spec_is_not_checked(tmp_path: Path) -> None:
    diff = tmp_path / "nova.conf.diff"
    diff.write_text("--- a/nova.conf\n+++ b/nova.conf\n@@ -1,3 +1,3 @@\n [pci]\n"
                    "-device_spec = {\"vendor_id\": \"8086\", \"product_id\": \"10ed\"}\n"
                    "+device_spec = {\"vendor_id\": \"8086\", \"product_id\": \"10fb\"}\n"
                    " alias = {\"name\": \"a\", \"vendor_id\": \"8086\", \"product_id\": \"10fb\"}\n")
    nova = novaprepare.read_nova_conf([diff])
    # Only the + line counts (line 6), and the context alias (line 7); the hunk starts at line 1.
    assert [(v.value.endswith('"10fb"}'), v.line) for v in nova.device_spec] == [(True, 6)]
    assert [v.line for v in nova.alias] == [7]


@pytest.mark.parametrize("text", [
    "--- a\n+++ b\n@@ -1 +1 @@\n",  # a hunk with no lines
    "--- a\n+++ b\n@@ -1,99999999999 +1,99999999999 @@\n+[pci]\n",  # counts beyond the text
    "--- a/x.conf\n+++ b/x.conf\n@@ -1,2 +1,2 @@\n-[pci]\ngarbage line\n",  # truncated
    "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n--- a/y.py\n+++ b/y.py\n@@ -1 +1 @@\n+c\n",
])
def test_hostile_diffs(text: str) -> None:
    side = unidiff.new_side(text)
    if side is not None:
        assert len(side.text.splitlines()) == len(text.splitlines())


def test_doctor_reads_a_diff_of_a_template_as_the_controller_config(cli: Any) -> None:
    res = cli(["doctor", "--lspci", str(FIXTURES / "lspci_groups/coopydood_issue213_groups.txt"),
               "--nova-conf", str(DIFFS / "kolla_pci_whitelist.diff"), "-f", "json"])
    doc = json.loads(res.out)
    validate_schema(doc, "doctor")
    s009 = [f["message"] for f in doc["findings"] if f["id"] == "PCI-S009"]
    # The controller config's two warnings, as config check gives them (lines 7 and 12).
    assert [m.split(":")[0] for m in s009] == ["DiffSectionUnknown", "TemplateValueNotChecked"]
    assert not [f for f in doc["findings"] if "NotNovaConf" in f["message"]]
