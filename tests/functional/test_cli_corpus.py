"""`pcipass config check` on every real config file of ../shared/corpus/config: a clear verdict each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support import SHARED, validate_schema

CORPUS = SHARED / "corpus" / "config"
FILES = sorted(p for p in CORPUS.glob("*") if p.is_file() and not p.name.endswith(".source.txt")) \
    if CORPUS.is_dir() else []


def test_corpus_present(shared: Path) -> None:
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_corpus_file_gets_a_verdict(cli: Any, path: Path) -> None:
    r = cli(["config", "check", "--nova-conf", str(path), "-f", "json"])
    assert r.code in (0, 1, 2), r.err
    assert "Traceback" not in r.err
    doc = r.json()
    validate_schema(doc, "config")
    if doc.get("not_nova_conf"):
        verdict = doc["not_nova_conf"][0]
        assert verdict["kind"] in {"yaml", "jinja", "markdown", "prose", "json"}
        assert doc["errors"][0]["code"] == "NotNovaConf"
        for frag in verdict["fragments"]:
            for p in frag["errors"] + frag["warnings"]:
                assert p["file"] == str(path)
                assert p["line"] is None or frag["lines"][0] <= p["line"] <= frag["lines"][1]
    # the table view of the same file renders without error
    assert cli(["config", "check", "--nova-conf", str(path)]).code == r.code


def _doc(cli: Any, name: str) -> dict[str, Any]:
    return cli(["config", "check", "--nova-conf", str(CORPUS / name), "-f", "json"]).json()


def test_nova_docs_fragments_are_checked_one_by_one(cli: Any, shared: Path) -> None:
    doc = _doc(cli, "nova_doc_pci_passthrough_examples.txt")
    frags = doc["not_nova_conf"][0]["fragments"]
    assert len(frags) == 8
    # The A16 example defines resource_class-only aliases: Nova rejects them unless
    # [filter_scheduler] pci_in_placement is True, which that fragment does not set.
    a16 = next(f for f in frags if f["aliases"] == 2)
    assert [e["code"] for e in a16["errors"]] == ["PciInvalidAlias"]
    assert "does not have vendor_id and product_id fields set" in a16["errors"][0]["message"]
    # The live_migratable example uses Python-style single quotes: not JSON.
    assert any("double quotes" in e["message"] for f in frags for e in f["errors"])


def test_yaml_deployment_files_are_named_as_such(cli: Any, shared: Path) -> None:
    doc = _doc(cli, "tripleo_environments_ovs-hw-offload.yaml")
    assert doc["not_nova_conf"][0]["kind"] == "yaml"
    assert "not a nova.conf" in doc["errors"][0]["message"]
