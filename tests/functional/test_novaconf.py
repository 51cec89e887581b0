"""nova.conf reading: oslo.config's merge semantics, exact value locations, precise problems."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oslo_config import cfg, iniparser

from pcipass.adapters import boundedread, iniparse, novaconf, novaopts, novasnippets, sniff
from pcipass.core import config

CONF_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "conf"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def line_text(path: str | None, line: int | None) -> str:
    assert path is not None and line is not None
    return Path(path).read_text(encoding="utf-8").splitlines()[line - 1]


def oslo_values(files: list[Path], group: str, name: str) -> object:
    """What a bare oslo.config with Nova's option definitions returns (the reference)."""
    conf = cfg.ConfigOpts()
    novaopts.register(conf)
    args = [a for f in files for a in ("--config-file", str(f))]
    conf(args=args, default_config_files=[], default_config_dirs=[], use_env=False)
    return getattr(conf if group == "DEFAULT" else getattr(conf, group), name)


# -- the fixture compute config ------------------------------------------------------------


def test_compute_fixture_values_and_locations() -> None:
    path = CONF_DIR / "nova-compute.conf"
    nova = novaconf.read_nova_conf([path])
    assert nova.problems == []
    assert nova.warnings == []
    assert [ov.line for ov in nova.device_spec] == [12, 14]
    assert nova.device_spec[1].end_line == 17
    assert nova.device_spec[1].value.count("\n") == 3
    assert nova.device_spec[1].value.startswith('[{"vendor_id": "10de"')
    assert [ov.value_index for ov in nova.device_spec] == [0, 1]
    assert nova.alias[0].line == 18 and nova.alias[0].option == "alias"
    assert nova.alias[0].value.startswith("{ ") and nova.alias[0].value.endswith(" }")
    assert nova.report_in_placement is True
    assert nova.pci_in_placement is True
    assert nova.enabled_filters == ["ComputeFilter", "PciPassthroughFilter", "NUMATopologyFilter"]
    assert nova.pci_weight_multiplier == 2.5
    assert nova.cpu_dedicated_set == "2-15,18-31"
    assert nova.cpu_shared_set == "0,1,16,17"
    assert nova.host == "compute-0.example.org"
    for name in ("report_in_placement", "pci_in_placement", "host", "enabled_filters"):
        ov = nova.located(name)
        assert ov is not None and line_text(ov.file, ov.line).startswith(name)
    assert nova.located("vcpu_pin_set") is None
    assert [ov.value for ov in nova.device_spec] == oslo_values([path], "pci", "device_spec")


def test_every_value_line_points_at_its_key() -> None:
    path = CONF_DIR / "nova-compute.conf"
    nova = novaconf.read_nova_conf([path])
    for ov in [*nova.device_spec, *nova.alias]:
        assert line_text(ov.file, ov.line).startswith(ov.option)
        assert ov.group == "pci"


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    path = write(tmp_path, "nova.conf", "[DEFAULT]\ndebug = true\n")
    nova = novaconf.read_nova_conf([path])
    assert nova.device_spec == [] and nova.alias == [] and nova.legacy_devices == []
    assert nova.report_in_placement is False and nova.pci_in_placement is False
    assert nova.enabled_filters == list(config.DEFAULT_ENABLED_FILTERS)
    assert nova.enabled_filters == oslo_values([path], "filter_scheduler", "enabled_filters")
    assert nova.pci_weight_multiplier == 1.0
    assert nova.host is None
    assert [w.code for w in nova.warnings] == ["NoPciOptions"]
    assert nova.warnings[0].file == str(path)


# -- merging, as oslo.config merges --------------------------------------------------------


def test_multistr_accumulates_across_files_in_order(tmp_path: Path) -> None:
    a = write(tmp_path, "a.conf", "[pci]\ndevice_spec = A1\ndevice_spec = A2\n")
    b = write(tmp_path, "b.conf", "[PCI]\ndevice_spec = B1\n[pci]\ndevice_spec: B2\n")
    for files in ([a, b], [b, a]):
        nova = novaconf.read_nova_conf(files)
        assert [ov.value for ov in nova.device_spec] == oslo_values(files, "pci", "device_spec")
        for ov in nova.device_spec:
            assert line_text(ov.file, ov.line).endswith(ov.value)
    nova = novaconf.read_nova_conf([a, b])
    assert [(ov.value, Path(str(ov.file)).name, ov.line, ov.group) for ov in nova.device_spec] == [
        ("A1", "a.conf", 2, "pci"), ("A2", "a.conf", 3, "pci"),
        ("B1", "b.conf", 2, "PCI"), ("B2", "b.conf", 4, "pci")]


def test_deprecated_names_merge_as_oslo_orders_them() -> None:
    path = CONF_DIR / "nova-legacy-names.conf"
    nova = novaconf.read_nova_conf([path])
    values = [ov.value for ov in nova.device_spec]
    assert values == oslo_values([path], "pci", "device_spec")
    # oslo: per file, the last deprecated name first, the current name last.
    assert [ov.option for ov in nova.device_spec] == [
        "pci_passthrough_whitelist", "passthrough_whitelist", "device_spec"]
    assert [ov.line for ov in nova.device_spec] == [2, 7, 6]
    assert [ov.value_index for ov in nova.device_spec] == [0, 1, 2]
    assert [ov.option for ov in nova.alias] == ["pci_alias"]
    assert [ov.value for ov in nova.alias] == oslo_values([path], "pci", "alias")


def test_deprecated_names_warn_with_line_and_new_line(tmp_path: Path) -> None:
    nova = novaconf.read_nova_conf([CONF_DIR / "nova-legacy-names.conf"])
    dep = [w for w in nova.warnings if w.code == "DeprecatedOption"]
    assert [(w.line, w.entry) for w in dep] == [
        (2, "[DEFAULT] pci_passthrough_whitelist"), (3, "[DEFAULT] pci_alias"),
        (7, "[pci] passthrough_whitelist")]
    assert dep[0].message == ('Option "pci_passthrough_whitelist" from group "DEFAULT" is '
                              'deprecated. Use option "device_spec" from group "pci".')
    assert dep[0].hint == '[pci] device_spec = {"vendor_id": "8086", "product_id": "10ed"}'
    assert dep[1].hint is not None and dep[1].hint.startswith("[pci] alias = {")
    mixed = [w for w in nova.warnings if w.code == "MixedOptionNames"]
    assert len(mixed) == 1 and "[pci] passthrough_whitelist" in mixed[0].message
    assert nova.problems == []


def test_oslo_deprecation_log_lines_are_not_printed(capsys: pytest.CaptureFixture[str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        novaconf.read_nova_conf([CONF_DIR / "nova-legacy-names.conf"])
    assert "Deprecated" not in capsys.readouterr().err
    assert not [r for r in caplog.records if r.name.startswith("oslo_config")]


def test_scalar_newest_file_wins_and_current_name_first(tmp_path: Path) -> None:
    a = write(tmp_path, "a.conf", "[pci]\nreport_in_placement = true\n")
    b = write(tmp_path, "b.conf", "[pci]\nreport_in_placement = false\nreport_in_placement = true\n"
                                  "[filter_scheduler]\npci_weight_multiplier = 0\n")
    nova = novaconf.read_nova_conf([a, b])
    assert nova.report_in_placement is oslo_values([a, b], "pci", "report_in_placement") is True
    ov = nova.located("report_in_placement")
    assert ov is not None and (Path(str(ov.file)).name, ov.line) == ("b.conf", 3)
    assert nova.pci_weight_multiplier == 0.0
    repeated = [w for w in nova.warnings if w.code == "RepeatedOption"]
    assert len(repeated) == 1 and repeated[0].line == 3 and "lines 2, 3" in repeated[0].message
    nova = novaconf.read_nova_conf([b, a])
    ov = nova.located("report_in_placement")
    assert ov is not None and Path(str(ov.file)).name == "a.conf"


def test_config_dir_read_sorted_after_files_and_only_conf(tmp_path: Path) -> None:
    main = write(tmp_path, "nova.conf", "[pci]\ndevice_spec = {\"address\": \"main\"}\n"
                                        "report_in_placement = true\n")
    confd = CONF_DIR / "nova.conf.d"
    nova = novaconf.read_nova_conf([main], config_dirs=[confd])
    assert [Path(str(ov.file)).name for ov in nova.device_spec] == ["nova.conf", "10-pci.conf"]
    assert nova.files == [str(main), str(confd / "10-pci.conf"), str(confd / "20-alias.conf")]
    assert [ov.value for ov in nova.alias] == [line_text(str(confd / "20-alias.conf"), 2)[8:]]
    assert nova.report_in_placement is False  # 20-alias.conf is read last
    assert all("never read" not in ov.value for ov in nova.device_spec)
    # oslo's own --config-dir gives the same values
    conf = cfg.ConfigOpts()
    novaopts.register(conf)
    conf(args=["--config-file", str(main), "--config-dir", str(confd)], default_config_files=[],
         default_config_dirs=[], use_env=False)
    assert [ov.value for ov in nova.device_spec] == conf.pci.device_spec
    assert nova.report_in_placement is conf.pci.report_in_placement


def test_missing_config_dir_is_a_problem(tmp_path: Path) -> None:
    nova = novaconf.read_nova_conf([], config_dirs=[tmp_path / "nope"])
    assert [p.code for p in nova.problems] == ["ConfigDirNotFoundError"]
    assert nova.problems[0].file == str(tmp_path / "nope")


def test_legacy_devices_and_vcpu_pin_set(tmp_path: Path) -> None:
    path = write(tmp_path, "havana.conf",
                 "[DEFAULT]\nvcpu_pin_set = 4-7\n"
                 'pci_passthrough_devices = [{"label": "label_8086_10ed", "address": "0000:04:10.7"}]\n'
                 'pci_passthrough_devices = [{"label": "gpu"}]\n')
    nova = novaconf.read_nova_conf([path])
    assert [ov.line for ov in nova.legacy_devices] == [3, 4]
    assert nova.legacy_devices[1].value == '[{"label": "gpu"}]'
    assert nova.vcpu_pin_set == "4-7"
    assert not [w for w in nova.warnings if w.code == "NoPciOptions"]


# -- INI details oslo accepts ----------------------------------------------------------------


def test_quotes_colon_form_and_continuations(tmp_path: Path) -> None:
    path = write(tmp_path, "q.conf",
                 "[pci]\nalias = 'single'\nalias: \"double\"\nalias = 'unbalanced\"\n"
                 "alias = {\"a\":\n    1}\n    # indented: part of the value\n\nalias=\n")
    nova = novaconf.read_nova_conf([path])
    values = [ov.value for ov in nova.alias]
    assert values == oslo_values([path], "pci", "alias")
    assert values[:3] == ["single", "double", "'unbalanced\""]
    assert values[3] == '{"a":\n1}\n# indented: part of the value'
    assert (nova.alias[3].line, nova.alias[3].end_line) == (5, 7)
    assert values[4] == "" and nova.alias[4].line == 9


def test_crlf_and_cr_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path, "crlf.conf", "[pci]\r\ndevice_spec = A\r\n\r\ndevice_spec = B\rdevice_spec = C")
    nova = novaconf.read_nova_conf([path])
    assert [(ov.value, ov.line) for ov in nova.device_spec] == [("A", 2), ("B", 4), ("C", 5)]
    assert [ov.value for ov in nova.device_spec] == oslo_values([path], "pci", "device_spec")


# -- problems: never a traceback ------------------------------------------------------------


@pytest.mark.parametrize("text, line, fragment, hint", [
    ("[pci]\ndevice_spec = {}\n\n  continued\n", 4, "Unexpected continuation line", "indentation"),
    ("device_spec = {}\n[pci]\n", 1, "Section must be started before assignment", "section header"),
    ("[pci]\njust some words\n", 2, "No ':' or '=' found in assignment", "key = value"),
    ("[pci\ndevice_spec = {}\n", 1, "Invalid section (must end with ])", "close"),
    ("[]\n", 1, "Empty section name", "name the section"),
    ("[pci]\n= value\n", 2, "Key cannot be empty", "key = value"),
    ("\ufeff[pci]\ndevice_spec = {}\n", 1, "No ':' or '='", "byte-order mark"),
])
def test_ini_syntax_errors_name_file_and_line(tmp_path: Path, text: str, line: int,
                                              fragment: str, hint: str) -> None:
    path = write(tmp_path, "bad.conf", text)
    nova = novaconf.read_nova_conf([path])
    assert len(nova.problems) == 1
    p = nova.problems[0]
    assert (p.code, p.file, p.line) == ("ConfigFileParseError", str(path), line)
    assert fragment in p.message and p.hint is not None and hint in p.hint
    with pytest.raises(cfg.ConfigFileParseError):  # oslo refuses the same file
        oslo_values([path], "pci", "device_spec")


def test_a_broken_file_does_not_hide_the_others(tmp_path: Path) -> None:
    good = write(tmp_path, "good.conf", "[pci]\ndevice_spec = {\"address\": \"0000:01:00.0\"}\n")
    bad = write(tmp_path, "bad.conf", "[pci]\n\n  oops\n")
    nova = novaconf.read_nova_conf([good, bad])
    assert [ov.value for ov in nova.device_spec] == ['{"address": "0000:01:00.0"}']
    assert [(p.file, p.line) for p in nova.problems] == [(str(bad), 3)]
    assert nova.files == [str(good), str(bad)]


def test_missing_directory_and_undecodable_files(tmp_path: Path) -> None:
    latin1 = write(tmp_path, "latin1.conf", "[pci]\n# caf\xe9\n".encode("latin-1"))
    (tmp_path / "adir").mkdir()
    nova = novaconf.read_nova_conf([tmp_path / "missing.conf", tmp_path / "adir", latin1])
    got = [(p.code, p.file, p.line) for p in nova.problems]
    assert got == [("ConfigFilesNotFoundError", str(tmp_path / "missing.conf"), None),
                   ("ConfigFileIsDirectory", str(tmp_path / "adir"), None),
                   ("ConfigFileDecodeError", str(latin1), 2)]
    assert "0xe9" in nova.problems[2].message


def test_binary_garbage_and_truncated_files(tmp_path: Path) -> None:
    garbage = write(tmp_path, "garbage.conf", bytes(range(256)) * 4)
    truncated = write(tmp_path, "trunc.conf", (CONF_DIR / "nova-compute.conf").read_text()[:700])
    nova = novaconf.read_nova_conf([garbage, truncated])
    assert nova.problems[0].code == "ConfigFileDecodeError" and nova.problems[0].file == str(garbage)
    # The cut lands inside the JSON list value: still INI-valid, so the value is read as is.
    assert len(nova.device_spec) == 2 and not nova.device_spec[1].value.endswith("}]")


def _codes_as_unprivileged(path: Path) -> list[str]:
    """Read ``path`` in a forked child that dropped root (root reads files regardless of mode)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(rfd)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            codes = [p.code for p in novaconf.read_nova_conf([path]).problems]
            os.write(wfd, ",".join(codes).encode())
        finally:
            os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd) as r:
        out = r.read()
    os.waitpid(pid, 0)
    return out.split(",") if out else []


def test_unreadable_file(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    path = write(tmp_path, "secret.conf", "[pci]\n")
    path.chmod(0)
    if os.geteuid() == 0:
        codes = _codes_as_unprivileged(path)
    else:
        codes = [p.code for p in novaconf.read_nova_conf([path]).problems]
    assert codes == ["ConfigFilesPermissionDeniedError"]


@pytest.mark.parametrize("option, text, line, needle", [
    ("report_in_placement", "[pci]\nreport_in_placement = maybe\n", 2, "maybe"),
    ("pci_in_placement", "[filter_scheduler]\npci_in_placement = 2\n", 2, "2"),
    ("pci_weight_multiplier", "[filter_scheduler]\npci_weight_multiplier = -1\n", 2, "-1"),
    ("pci_weight_multiplier", "[filter_scheduler]\npci_weight_multiplier = heavy\n", 2, "heavy"),
    ("host", "[DEFAULT]\nhost = not a host!\n", 2, "not a host!"),
    ("host_subset_size", "[filter_scheduler]\nhost_subset_size = 0\n", 2, "0"),
    ("host_subset_size", "[filter_scheduler]\nhost_subset_size = 2.5\n", 2, "2.5"),
])
def test_value_type_errors_are_problems_at_the_line(tmp_path: Path, option: str, text: str,
                                                    line: int, needle: str) -> None:
    path = write(tmp_path, "typed.conf", text)
    [opt] = [o for o in novaopts.OPTS if o.field == option]
    with pytest.raises(ValueError):  # oslo itself rejects the value
        oslo_values([path], opt.group, option)
    nova = novaconf.read_nova_conf([path])
    assert len(nova.problems) == 1
    p = nova.problems[0]
    assert (p.code, p.file, p.line) == ("ConfigFileValueError", str(path), line)
    assert option in p.message and needle in p.message
    assert getattr(nova, option) == novaopts.default_value(opt)


# -- names Nova ignores ----------------------------------------------------------------------


@pytest.mark.parametrize("text, code, line, hint", [
    ("[pci]\ndev_spec = {}\n", "UnknownOption", 2, "did you mean device_spec? device_spec = {}"),
    ("[filter_scheduler]\nenabled_filter = PciPassthroughFilter\n", "UnknownOption", 2,
     "did you mean enabled_filters? enabled_filters = PciPassthroughFilter"),
    ("[compute]\ncpu_dedicatd_set = 2-7\n", "UnknownOption", 2,
     "did you mean cpu_dedicated_set? cpu_dedicated_set = 2-7"),
    ("[DEFAULT]\ndevice_spec = {}\n", "MisplacedOption", 2, "[pci] device_spec = {}"),
    ("[pci]\npci_alias = {}\n", "MisplacedOption", 2, "[pci] alias = {}"),
    ("[pci]\npci_in_placement = true\n", "MisplacedOption", 2,
     "[filter_scheduler] pci_in_placement = true"),
    ("[default]\npci_passthrough_whitelist = {}\n", "MisplacedOption", 2, "[DEFAULT]"),
    ("[DEFAULT]\nscheduler_default_filters = PciPassthroughFilter\n", "RemovedOption", 2,
     "[filter_scheduler] enabled_filters = PciPassthroughFilter"),
])
def test_ignored_option_names_warn(tmp_path: Path, text: str, code: str, line: int,
                                   hint: str) -> None:
    path = write(tmp_path, "names.conf", text)
    nova = novaconf.read_nova_conf([path])
    assert nova.device_spec == [] and nova.alias == []
    assert oslo_values([path], "pci", "device_spec") == []  # oslo ignores them too
    found = [w for w in nova.warnings if w.code == code]
    assert len(found) == 1
    assert (found[0].file, found[0].line) == (str(path), line)
    assert found[0].hint is not None and hint in found[0].hint


# -- the INI grammar is oslo's --------------------------------------------------------------

_FRAGMENTS = ["[pci]", "[PCI]", "[DEFAULT]", "[default]", "[", "[]", "[x]]", "device_spec = {}",
              "alias: a", "alias = 'q'", 'k = "v"', "key=v=w", "a:b=c", "  cont", "\tcont",
              "# comment", "; comment", "", "   ", "=x", ":x", "novalue", "k = '", "\ufeffk = v",
              "  # indented comment", "k=\xe9\u2028"]
_NEWLINES = st.sampled_from(["\n", "\r\n", "\r"])


def _lines() -> st.SearchStrategy[list[str]]:
    piece = st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=12))
    return st.lists(piece, max_size=14)


def _oslo_sections(path: Path) -> dict[str, dict[str, list[str]]] | tuple[str, int]:
    sections: dict[str, dict[str, list[str]]] = {}
    try:
        cfg.ConfigParser(str(path), sections).parse()
    except iniparser.ParseError as exc:
        return (exc.msg, exc.lineno)
    return sections


def _our_sections(text: str) -> dict[str, dict[str, list[str]]] | tuple[str, int]:
    try:
        ini = iniparse.parse_ini(text)
    except iniparse.IniSyntaxError as exc:
        return (exc.msg, exc.lineno)
    sections: dict[str, dict[str, list[str]]] = {name: {} for name, _line in ini.sections}
    for e in ini.entries:
        sections[e.section].setdefault(e.key, []).append(e.value)
    return sections


@settings(max_examples=300, deadline=None, derandomize=True)
@given(lines=_lines(), newline=_NEWLINES)
def test_parse_ini_matches_oslo_parser(tmp_path_factory: pytest.TempPathFactory,
                                       lines: list[str], newline: str) -> None:
    text = newline.join(lines)
    path = tmp_path_factory.mktemp("ini") / "f.conf"
    path.write_text(text, encoding="utf-8", newline="")
    ours, theirs = _our_sections(text), _oslo_sections(path)
    if isinstance(theirs, tuple) and theirs[0] == "Section must be started before assignment":
        # oslo reports the line where the value ended; we report the key's line.
        assert isinstance(ours, tuple) and ours[0] == theirs[0] and ours[1] <= theirs[1]
    else:
        assert ours == theirs


@settings(max_examples=150, deadline=None, derandomize=True)
@given(lines=_lines(), newline=_NEWLINES, junk=st.binary(max_size=40))
def test_reader_never_raises_and_locates_every_value(tmp_path_factory: pytest.TempPathFactory,
                                                      lines: list[str], newline: str,
                                                      junk: bytes) -> None:
    d = tmp_path_factory.mktemp("fuzz")
    text_file = d / "a.conf"
    text_file.write_text("[pci]" + newline + newline.join(lines), encoding="utf-8", newline="")
    junk_file = d / "b.conf"
    junk_file.write_bytes(junk)
    nova = novaconf.read_nova_conf([text_file, junk_file])
    assert isinstance(nova, config.NovaConfig)
    for ov in [*nova.device_spec, *nova.alias]:
        assert ov.line is not None  # paired with oslo's values, not the fallback
    assert sniff.classify_file(junk_file).kind in sniff.KINDS


# -- snippets in documents -------------------------------------------------------------------


def test_snippets_in_markdown_keep_document_lines(tmp_path: Path) -> None:
    doc = write(tmp_path, "post.md", "---\ntitle: x\n---\n# Setup\n\nOn the compute:\n\n```\n"
                "[PCI]\npassthrough_whitelist = { \"vendor_id\": \"10de\" }\n```\n\nThen:\n\n"
                "```ini\n[pci]\nalias = {\"name\": \"a\"}\nalias = {\"name\": \"b\"}\n```\n")
    snippets = novasnippets.read_nova_snippets(doc)
    assert [(s.first_line, s.last_line) for s in snippets] == [(9, 10), (16, 18)]
    first = snippets[0].config
    assert [(ov.line, ov.file) for ov in first.device_spec] == [(10, str(doc))]
    assert [w.line for w in first.warnings if w.code == "DeprecatedOption"] == [10]
    assert [ov.line for ov in snippets[1].config.alias] == [17, 18]


def test_snippet_with_syntax_error_reports_document_line(tmp_path: Path) -> None:
    doc = write(tmp_path, "guide.rst", "Intro::\n\n   [pci]\n   device_spec = {}\n\n     oops\n")
    snippets = novasnippets.read_nova_snippets(doc)
    assert len(snippets) == 1
    assert [(p.code, p.line, p.file) for p in snippets[0].config.problems] == [
        ("ConfigFileParseError", 6, str(doc))]


def test_shutil_copy_keeps_fixture_semantics(tmp_path: Path) -> None:
    # The reader reports the path it was given, so a copied file reports the copy.
    copy = tmp_path / "nova.conf"
    shutil.copy(CONF_DIR / "nova-compute.conf", copy)
    nova = novaconf.read_nova_conf([str(copy)])
    assert {ov.file for ov in nova.device_spec} == {str(copy)}


def test_relative_path_starting_with_dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "-pci.conf", "[pci]\nalias = {}\n")
    nova = novaconf.read_nova_conf(["-pci.conf"])
    assert nova.problems == []
    assert [(ov.value, ov.file, ov.line) for ov in nova.alias] == [("{}", "-pci.conf", 2)]


def test_ini_values_ending_in_double_colon_are_not_rest(tmp_path: Path) -> None:
    text = "[DEFAULT]\nmy_ip = fe80::\nmy_block_storage_ip = fd00::\n[pci]\nalias = {}\n"
    assert sniff.classify(text, "nova.conf").kind == "ini"


def test_fifo_device_and_huge_files_are_refused_without_blocking(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = tmp_path / "fifo.conf"
    os.mkfifo(fifo)
    big = write(tmp_path, "big.conf", "[pci]\n" + "# padding\n" * 20)
    monkeypatch.setattr(boundedread, "MAX_INPUT_BYTES", 64)
    nova = novaconf.read_nova_conf([fifo, "/dev/zero", big])
    assert [(p.code, p.file) for p in nova.problems] == [
        ("ConfigFileUnreadable", str(fifo)), ("ConfigFileUnreadable", "/dev/zero"),
        ("ConfigFileUnreadable", str(big))]
    assert "FIFO" in nova.problems[0].message and "larger than 64 bytes" in nova.problems[2].message
    assert sniff.classify_file(fifo).kind == "unreadable"


def test_permission_denied_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root reads any file, so simulate the kernel's answer for an unreadable one.
    path = write(tmp_path, "secret.conf", "[pci]\n")

    def deny(p: str | Path, flags: int, *args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied", str(p))

    monkeypatch.setattr(boundedread.os, "open", deny)
    nova = novaconf.read_nova_conf([path])
    assert [(p.code, p.file) for p in nova.problems] == [
        ("ConfigFilesPermissionDeniedError", str(path))]


def test_host_subset_size_reads_as_nova_reads_it(tmp_path: Path) -> None:
    """Nova's [filter_scheduler] host_subset_size: an integer >= 1, default 1."""
    path = write(tmp_path, "sched.conf", "[filter_scheduler]\nhost_subset_size = 4\n")
    assert novaconf.read_nova_conf([path]).host_subset_size == 4
    assert oslo_values([path], "filter_scheduler", "host_subset_size") == 4
    empty = write(tmp_path, "empty.conf", "[filter_scheduler]\n")
    assert novaconf.read_nova_conf([empty]).host_subset_size == 1
    assert oslo_values([empty], "filter_scheduler", "host_subset_size") == 1
