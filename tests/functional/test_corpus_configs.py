"""Every real config sample in ../shared/corpus/config gets a clear verdict, never a traceback.

A file is either nova.conf INI (its values are read) or "not a nova.conf" of a
named kind. Documents that embed nova.conf fragments (Markdown fences, reST
blocks) have each fragment read on its own; the expected counts below were
found by reading the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pcipass.adapters import novaconf, novasnippets, sniff

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "config"
CONF_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "conf"


@dataclass(frozen=True)
class Expect:
    kind: str
    reason: str
    # one (first_line, device_spec count, alias count) per embedded nova.conf fragment
    snippets: tuple[tuple[int, int, int], ...] = ()
    warnings: dict[int, tuple[str, ...]] = field(default_factory=dict)


EXPECTED = {
    "charm_nova_compute_config_pci_options.yaml": Expect("yaml", "Juju charm options"),
    "kolla_ansible_sriov_snippets.txt": Expect(
        "prose", "reStructuredText",
        # ml2_conf.ini, the scheduler filters, sriov_agent.ini, then [filter_scheduler]+[pci];
        # the nova.conf.j2 [pci] block at line 92 is a Jinja template and is skipped.
        ((25, 0, 0), (38, 0, 0), (53, 0, 0), (66, 1, 1)),
        {0: ("NoPciOptions",), 2: ("NoPciOptions",)}),
    "nova_conf_pci_help_examples.txt": Expect("prose", "reStructuredText"),
    "nova_doc_pci_passthrough_examples.txt": Expect(
        "prose", "reStructuredText",
        ((4, 1, 0), (10, 1, 0), (15, 0, 1), (20, 0, 1), (26, 2, 2), (35, 0, 0), (41, 0, 2),
         (48, 1, 0)),
        # "dev_spec" is not an option name: both lines are ignored by Nova
        {5: ("UnknownOption", "UnknownOption", "NoPciOptions")}),
    "openstack_ansible_os_nova_pci_vars.yml": Expect("yaml", "Ansible variables"),
    "satishdotpatel_hpc_infiniband_sriov_post.md": Expect(
        "markdown", "blog post", ((226, 1, 0), (233, 0, 1), (240, 0, 0)),
        {0: ("DeprecatedOption",)}),
    "satishdotpatel_kolla_gpu_passthrough_post.md": Expect(
        "markdown", "blog post", ((89, 1, 0), (100, 0, 1), (111, 0, 0)),
        {0: ("DeprecatedOption",)}),
    "satishdotpatel_osa_sriov_compute_node_post.md": Expect("markdown", "blog post"),
    "tripleo_NovaPCIPassthrough_param_and_neutron-sriov_env.yaml": Expect(
        "yaml", "TripleO Heat environment"),
    "tripleo_environments_ovs-hw-offload.yaml": Expect("yaml", "TripleO Heat environment"),
}


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.is_file() and not p.name.endswith(".source.txt"))


def test_corpus_is_present_and_fully_covered(shared: Path) -> None:
    names = {p.name for p in corpus_files()}
    assert names, f"no corpus files under {CORPUS}"
    assert set(EXPECTED) <= names


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_corpus_file_gets_a_clear_verdict(path: Path) -> None:
    verdict = sniff.classify_file(path)
    assert verdict.kind in sniff.KINDS and verdict.reason
    nova = novaconf.read_nova_conf([path])  # must not raise, whatever the file is
    if verdict.kind == "ini":
        assert not [p for p in nova.problems if p.code == "ConfigFileParseError"]
    else:
        # oslo.config's grammar refuses these files too; config check says what they are instead
        assert [p.code for p in nova.problems] == ["ConfigFileParseError"]
        assert nova.problems[0].file == str(path) and nova.problems[0].line is not None
    expect = EXPECTED.get(path.name)
    if expect is None:
        return
    assert verdict.kind == expect.kind
    assert expect.reason in verdict.reason


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_embedded_nova_conf_fragments(shared: Path, name: str) -> None:
    expect = EXPECTED[name]
    path = CORPUS / name
    snippets = novasnippets.read_nova_snippets(path)
    got = tuple((s.first_line, len(s.config.device_spec), len(s.config.alias)) for s in snippets)
    assert got == expect.snippets
    text = path.read_text(encoding="utf-8").splitlines()
    for i, snip in enumerate(snippets):
        assert snip.config.problems == []
        assert tuple(w.code for w in snip.config.warnings) == expect.warnings.get(i, ())
        for ov in [*snip.config.device_spec, *snip.config.alias]:
            assert ov.file == str(path)
            assert ov.line is not None and snip.first_line <= ov.line <= snip.last_line
            assert text[ov.line - 1].strip().startswith(ov.option)


def test_blog_post_fragments_carry_the_real_mistakes(shared: Path) -> None:
    hpc = novasnippets.read_nova_snippets(CORPUS / "satishdotpatel_hpc_infiniband_sriov_post.md")
    compute, controller, scheduler = (s.config for s in hpc)
    assert compute.device_spec[0].option == "passthrough_whitelist"
    assert compute.device_spec[0].group == "PCI"  # upper-case section header, still read
    assert compute.device_spec[0].value == '{ "vendor_id": "10de", "product_id": "1df6" }'
    assert '"product_id":"101c"' in controller.alias[0].value
    assert scheduler.enabled_filters == ["PciPassthroughFilter", "NUMATopologyFilter"]
    gpu = novasnippets.read_nova_snippets(CORPUS / "satishdotpatel_kolla_gpu_passthrough_post.md")
    assert gpu[1].config.alias[0].line == 101  # written "alias: {...}", oslo accepts it
    kolla = novasnippets.read_nova_snippets(CORPUS / "kolla_ansible_sriov_snippets.txt")
    assert kolla[1].config.enabled_filters == ["<existing filters>", "PciPassthroughFilter"]


# -- sniffing hand-made inputs ------------------------------------------------------------


@pytest.mark.parametrize("text, kind, reason", [
    ("", "empty", "empty"),
    ("  \n\t\n", "empty", "whitespace"),
    ("# all commented out\n# [pci]\n;device_spec = {}\n", "ini", "only comments"),
    ("[pci]\ndevice_spec = {}\n\n  oops, a bad continuation\n", "ini", "section header"),
    ("# nova.conf.sample style help\n# For example::\n#   alias = {}\n# Other::\n[pci]\nalias = {}\n",
     "ini", "section header"),
    ('{"flavor": {"name": "x"}}', "json", "flavor"),
    ("[1, 2, 3]", "json", "array"),
    ('{"broken": ', "json", "malformed"),
    ("[pci]\n{% if pci %}\ndevice_spec = {{ spec | to_json }}\n{% endif %}\n", "jinja", "Jinja"),
    ("parameter_defaults:\n  NovaPCIPassthrough:\n    - vendor_id: '8086'\n", "yaml", "TripleO"),
    ("nova_pci_alias:\n  - '{ \"name\": \"a\" }'\n", "yaml", "Ansible"),
    ("---\ntitle: post\n---\n# Heading\n\n```\n[pci]\nalias = {}\n```\n", "markdown", "blog post"),
    ("Configure it::\n\n   [pci]\n   alias = {}\n\nAnd then::\n\n   done\n", "prose",
     "reStructuredText"),
    ("Just some words about PCI passthrough\nand nothing else.\n", "prose", "no INI"),
    ("\x01\x02\x03\x04\x05\x06abc\x07\x08\x0e\x0f", "binary", "control"),
])
def test_classify(text: str, kind: str, reason: str) -> None:
    verdict = sniff.classify(text, "input.conf")
    assert (verdict.kind, reason in verdict.reason) == (kind, True), verdict


def test_classify_bytes_and_files(tmp_path: Path) -> None:
    assert sniff.classify_bytes(b"[pci]\x00\n").kind == "binary"
    latin = sniff.classify_bytes("[pci]\n# \xe9\n".encode("latin-1"))
    assert (latin.kind, latin.line) == ("binary", 2)
    assert sniff.classify_file(CONF_DIR / "nova-compute.conf").kind == "ini"
    assert sniff.classify_file(CONF_DIR / "sriov_agent.ini").kind == "ini"
    assert sniff.classify_file(tmp_path / "missing").kind == "unreadable"
    assert sniff.classify_file(tmp_path).kind == "unreadable"
    md = tmp_path / "notes.md"
    md.write_text("Some notes with a [link](https://example.org)\n")
    assert sniff.classify_file(md).kind == "markdown"


def test_ini_snippets_rst_indented_block_with_continuation() -> None:
    text = ("Example::\n\n    [pci]\n    device_spec = {\"a\":\n                   1}\n"
            "    alias = {}\n\nBack to prose.\n")
    (snip,) = sniff.ini_snippets(text)
    assert (snip.first_line, snip.last_line) == (3, 6)
    assert snip.text.splitlines()[0] == "[pci]"
    assert snip.text.splitlines()[2].startswith("               1}")  # still a continuation
