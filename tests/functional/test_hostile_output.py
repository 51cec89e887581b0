"""Hostile user strings in every output format (issue 9, points 2 and 7).

Names come from files an attacker may write: ``etc/hostname``, nova.conf
values, file names that are not UTF-8 (a bundle member, a ``--config-dir``
entry), a ``\\udcff`` escape in facts.json. Whatever they hold, pcipass exits
with the command's normal code, stdout is valid UTF-8 (and parses, for the
machine formats), a table shows the user's text as written (rich markup is
never parsed), and no control character reaches a terminal: an ESC shows as
the text ``\\x1b``, the byte 0xff of a file name as the text ``\\xff``.
"""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import REPO, run_cli, validate_schema
from test_doctor_hosts import FLAVOR, healthy

from pcipass.cli import output

HOSTNAME = "\x1b[31mred\x1b[0m\x1b]0;title\x07"
HOSTNAME_SHOWN = "\\x1b[31mred\\x1b[0m\\x1b]0;title\\x07"
BAD_NAME = b"bad\xff.conf"
BAD_NAME_SHOWN = "bad\\xff.conf"
CONTROL_BYTES = [bytes([c]) for c in (*range(0x00, 0x09), *range(0x0b, 0x20), 0x7f)]

CONTROLLER = """\
[pci]
alias = {"name": "[/]", "vendor_id": "8086", "product_id": "10ed", "device_type": "type-VF"}
alias = {"name": "a100", "vendor_id": "10de", "product_id": "20f1", "device_type": "type-PCI"}

[filter_scheduler]
enabled_filters = ComputeFilter,PciPassthroughFilter,NUMATopologyFilter
"""
COMPUTE_EXTRA = ('[pci]\ndevice_spec = {"vendor_id": "8086", "product_id": "1521", '
                 '"physical_network": "[bold]physnet1"}\n')
CONTROLLER_EXTRA = ('[pci]\nalias = {"name": "[bold]physnet1", "vendor_id": "8086", '
                    '"product_id": "1521"}\n')


@dataclass
class World:
    root: Path
    controller: Path
    config_dir: Path
    flavor: Path
    bundle: Path
    cached: Path

    def args(self, command: str) -> list[str]:
        """Arguments of ``command`` over the hostile host and controller config."""
        host = ["--host", str(self.root)]
        conf = ["--nova-conf", str(self.controller)]
        return {
            "scan": ["scan", *host],
            "bundle": ["scan", "--host", str(self.bundle)],
            "facts": ["scan", "--host", str(self.cached)],
            "config": ["config", "check", *conf, "--config-dir", str(self.config_dir)],
            "flavor": ["flavor", "explain", *conf, "--flavor", str(self.flavor)],
            "doctor": ["doctor", *host, *conf, "--flavor", str(self.flavor)],
            "schedule": ["schedule", *host, *conf, "--flavor", str(self.flavor)],
        }[command]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A compute named by ANSI sequences, markup in names, and non-UTF-8 file names."""
    base = tmp_path_factory.mktemp("hostile")
    host = healthy(base)
    host.write("etc/hostname", HOSTNAME + "\n")
    (host.root / "manifest.json").unlink(missing_ok=True)  # so the name comes from etc/hostname
    confd = os.fsencode(host.root / "etc/nova/nova.conf.d")
    os.makedirs(confd)
    Path(os.fsdecode(os.path.join(confd, BAD_NAME))).write_text(COMPUTE_EXTRA)
    host.controller.write_text(CONTROLLER)
    host.flavor.write_text(json.dumps(
        dict(FLAVOR, properties=dict(FLAVOR["properties"],  # type: ignore[arg-type]
                                     **{"pci_passthrough:alias": "[/]:2"}))))
    config_dir = base / "controller.conf.d"
    config_dir.mkdir()
    Path(os.fsdecode(os.path.join(os.fsencode(config_dir), BAD_NAME))).write_text(CONTROLLER_EXTRA)

    # The same host as a bundle: its nova.conf.d member has a non-UTF-8 name.
    bundle = base / "bundle.tar.gz"
    with tarfile.open(bundle, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        tar.add(host.root, arcname="compute-1")

    # Another copy whose facts.json carries a \udcff escape and an ESC in a device name.
    cached = base / "cached" / "compute-2"
    shutil.copytree(host.root, cached, symlinks=True)
    (cached / "etc/hostname").write_text("compute-2\n")
    assert run_cli(["scan", "--host", str(cached), "--save-facts", "-f", "json"]).code == 0
    facts = json.loads((cached / "facts.json").read_text())
    for device in facts["sysfs"]["devices"]:
        device["name"] = "bad\udcff \x1b[31mname"
    (cached / "facts.json").write_text(json.dumps(facts))
    return World(host.root, host.controller, config_dir, host.flavor, bundle, cached)


def _expected_code(world: World, command: str) -> int:
    """The command's normal exit code, from the JSON document it prints in-process."""
    res = run_cli([*world.args(command), "-f", "json"])
    assert res.code in (0, 1, 2), res.err
    return res.code


# -- tables: markup shown as written, control characters escaped ----------------------------------


@pytest.mark.parametrize("command", ["scan", "config", "flavor", "doctor", "schedule", "bundle", "facts"])
def test_table_shows_user_strings_as_written(world: World, command: str) -> None:
    res = run_cli([*world.args(command), "-f", "table"])
    assert res.code == _expected_code(world, command), res.err
    assert "MarkupError" not in res.err and "internal error" not in res.err
    unsafe = [c for c in CONTROL_BYTES if c.decode() in res.out]
    assert unsafe == [], f"control characters reached the table: {unsafe}"
    assert "\ufffd" not in res.out and not any(0xD800 <= ord(c) <= 0xDFFF for c in res.out)
    shown = {
        "scan": [HOSTNAME_SHOWN, "physical_network=[bold]physnet1", f"nova.conf.d/{BAD_NAME_SHOWN}"],
        "bundle": [f"nova.conf.d/{BAD_NAME_SHOWN}", "physical_network=[bold]physnet1"],
        "facts": [],
        "config": ["[pci] alias", "[/]", "[bold]physnet1", BAD_NAME_SHOWN],
        "flavor": ["[/]"],
        "doctor": [HOSTNAME_SHOWN, "[/]", "alias -> specs -> devices"],
        "schedule": ["asks 2 × [/]", "([/])"],  # hosts go by their nova.conf [DEFAULT] host
    }[command]
    for text in shown:
        assert text in res.out, f"{text!r} not shown:\n{res.out}"
    if command == "facts":  # the names as escaped text, or the warning that facts.json was refused
        assert "bad\\xff \\x1b[31mname" in res.out or "facts.json:" in res.out, res.out


def test_a_host_named_by_a_closing_tag_is_shown_as_written(tmp_path: Path) -> None:
    """The issue's other MarkupError: a host (etc/hostname) named ``[/]``."""
    host = healthy(tmp_path)
    host.write("etc/hostname", "[/]\n")
    (host.root / "manifest.json").unlink(missing_ok=True)  # so the name comes from etc/hostname
    for args, shown in ((["scan", "--host", str(host.root)], "[/]  (directory "),
                        (["doctor", "--host", str(host.root)], "hosts: [/]")):
        res = run_cli([*args, "-f", "table"])
        assert res.code == run_cli([*args, "-f", "json"]).code, res.err
        assert "internal error" not in res.err
        assert shown in res.out, res.out


def test_config_titles_keep_their_brackets(world: World, tmp_path: Path) -> None:
    res = run_cli(["config", "check", "--nova-conf", str(world.controller), "-f", "table"])
    assert "[pci] device_spec: none" in res.out and "[pci] alias" in res.out
    conf = tmp_path / "compute.conf"
    conf.write_text(COMPUTE_EXTRA)
    res = run_cli(["config", "check", "--nova-conf", str(conf), "-f", "table"])
    assert res.code == 0, res.err
    assert "[pci] device_spec" in res.out and "physical_network=[bold]physnet1" in res.out


def test_emoji_codes_and_closing_tags_are_text(tmp_path: Path) -> None:
    conf = tmp_path / "nova.conf"
    conf.write_text('[pci]\nalias = {"name": ":smile: [/bold] [link=file:///x]y", '
                    '"vendor_id": "8086", "product_id": "154c"}\n')
    res = run_cli(["config", "check", "--nova-conf", str(conf), "-f", "table"])
    assert res.code == 1, res.err  # warns: Nova splits pci_passthrough:alias on ':'
    assert ":smile: [/bold] [link=file:///x]y" in res.out and "\U0001f604" not in res.out


def test_json_and_yaml_keep_the_exact_value(world: World) -> None:
    res = run_cli([*world.args("scan"), "-f", "json"])
    doc = res.json()
    validate_schema(doc, "scan")
    assert doc["hosts"][0]["name"] == HOSTNAME
    assert "\x1b" not in res.out  # JSON escapes it as \u001b
    res = run_cli([*world.args("scan"), "-f", "yaml"])
    assert yaml.safe_load(res.out)["hosts"][0]["name"] == HOSTNAME


def test_usage_errors_do_not_echo_control_characters() -> None:
    res = run_cli(["config", "check", "--nova-conf", "\x1b]0;pwned\x07x"])
    assert res.code == 64
    assert "\x1b" not in res.err and "\x07" not in res.err and "pwned" in res.err


# -- encodings: a real stdout, strict UTF-8 ----------------------------------------------------------

CASES = [("scan", f) for f in ("json", "yaml", "table")] + \
        [("bundle", f) for f in ("json", "table")] + \
        [("facts", f) for f in ("json", "yaml", "table")] + \
        [("config", f) for f in ("json", "yaml", "table")] + \
        [("doctor", f) for f in ("json", "yaml", "table", "sarif", "junit")] + \
        [("schedule", f) for f in ("json", "table")]


def _run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PCIPASS_JSON_INDENT"}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run([sys.executable, "-m", "pcipass", *args], capture_output=True, env=env,
                          timeout=120, check=False)


@pytest.mark.parametrize(("command", "fmt"), CASES, ids=[f"{c}-{f}" for c, f in CASES])
def test_stdout_is_valid_utf8_with_the_normal_exit_code(world: World, command: str, fmt: str) -> None:
    proc = _run([*world.args(command), "-f", fmt])
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == _expected_code(world, command), stderr
    text = proc.stdout.decode("utf-8")  # strict: raises on anything but UTF-8
    assert "internal error" not in stderr
    if fmt in ("json", "sarif"):
        doc = json.loads(text)
    elif fmt == "yaml":
        doc = yaml.safe_load(text)
    elif fmt == "junit":
        ET.fromstring(proc.stdout)  # XML 1.0 refuses raw control characters
        doc = None
    else:
        assert b"\x1b" not in proc.stdout and b"\x07" not in proc.stdout
        doc = None
    if command in ("scan", "bundle", "config") and fmt != "table":
        files = doc["files"] if command == "config" else doc["hosts"][0]["config"]["files"]
        assert any(f.endswith(BAD_NAME_SHOWN) for f in files), files
    if command == "facts" and fmt != "table":
        names = {d["name"] for d in doc["hosts"][0]["devices"]}
        assert names <= {"bad\\xff \x1b[31mname"} or doc["hosts"][0]["facts_from"] != "facts.json"
    if command == "scan" and fmt == "table":
        assert HOSTNAME_SHOWN in text and f"nova.conf.d/{BAD_NAME_SHOWN}" in text


NAME = "\u0442\u0435\u0441\u0442 \u00e9 \U0001f600 \u202e"  # Cyrillic, Latin-1, beyond the BMP, a bidi override


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_an_output_encoding_without_the_names_letters_escapes_them(tmp_path: Path,
                                                                   encoding: str) -> None:
    """An alias named in letters stdout's encoding lacks (PYTHONIOENCODING=ascii, a Latin-1
    locale) used to exit 255 on a UnicodeEncodeError. The letters the encoding lacks print as
    \\uXXXX escapes: the JSON document reads back the exact name, tables print and exit 0."""
    conf = tmp_path / "nova.conf"
    conf.write_text('[pci]\nalias = {"name": "%s", "vendor_id": "8086", "product_id": "1572"}\n'
                    % NAME, encoding="utf-8")
    config_dir = tmp_path / "conf.d"
    config_dir.mkdir()
    Path(os.fsdecode(os.path.join(os.fsencode(config_dir), BAD_NAME))).write_text("[pci]\n")
    for fmt in ("json", "yaml", "table"):
        env = {k: v for k, v in os.environ.items() if k != "PCIPASS_JSON_INDENT"}
        env["PYTHONIOENCODING"] = encoding
        proc = subprocess.run([sys.executable, "-m", "pcipass", "config", "check", "--nova-conf",
                               str(conf), "--config-dir", str(config_dir), "-f", fmt],
                              capture_output=True, env=env, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        text = proc.stdout.decode(encoding)  # strict: only what the encoding holds
        if fmt == "json":
            doc = json.loads(text)
            assert [a["name"] for a in doc["aliases"]] == [NAME]
            assert any(f.endswith(BAD_NAME_SHOWN) for f in doc["files"])
        elif fmt == "table":
            assert "\\u202e" in text and "\\ud83d\\ude00" in text
            assert BAD_NAME_SHOWN in text


def test_sarif_uri_keeps_the_bytes_of_a_file_name() -> None:
    from pcipass.cli import doctor_formats

    assert doctor_formats._uri(os.fsdecode(b"etc/nova/bad\xff name.conf")) == "etc/nova/bad%FF%20name.conf"


# -- the output helpers ------------------------------------------------------------------------------


def test_escape_convention() -> None:
    bad = os.fsdecode(b"bad\xff\x80.conf")
    assert output.utf8_text(bad) == "bad\\xff\\x80.conf"
    assert output.utf8_text("a\ud800b\x1b") == "a\\ud800b\x1b"  # control characters are kept here
    assert output.terminal_text(bad + "\x1b[31m\x9b\r\x00\x7f") == \
        "bad\\xff\\x80.conf\\x1b[31m\\x9b\\x0d\\x00\\x7f"
    assert output.terminal_text("tab\tnew\nline é ü 中 [/]") == "tab\tnew\nline é ü 中 [/]"
    assert output.terminal_text("\u202eevil") == "\\u202eevil"
    doc = {"k\udcff": ["v\udcff", {"n": 1, "x": None, "f": 1.5}], "e": "\x1b"}
    assert output.utf8_doc(doc) == {"k\\xff": ["v\\xff", {"n": 1, "x": None, "f": 1.5}], "e": "\x1b"}
    assert output.terminal_doc(doc)["e"] == "\\x1b"


def test_json_dump_escapes_surrogates_in_keys_and_values() -> None:
    doc = {"files": [os.fsdecode(b"a\xff")], os.fsdecode(b"k\xfe"): "\x1b", "nan": float("nan")}
    for indent in (None, 2):
        text = output.dump_json(doc, indent)
        text.encode("utf-8")
        assert json.loads(text) == {"files": ["a\\xff"], "k\\xfe": "\x1b", "nan": "nan"}


def test_the_console_never_parses_markup() -> None:
    import rich.table
    import rich.text

    buf = io.StringIO()
    con = output.make_console(buf)
    con.print("[/] [bold]x[/bold] :smile: \x1b[2J")
    table = rich.table.Table(title="[pci] device_spec")
    table.add_column("[name]")
    table.add_row("[/] a cell wider than the title")
    con.print(table)
    con.print(rich.text.Text("[/] kept"))
    out = buf.getvalue()
    assert "[/] [bold]x[/bold] :smile: \\x1b[2J" in out
    assert "[pci] device_spec" in out and "[name]" in out and "[/] kept" in out
    assert "\x1b" not in out


def test_cli_renders_only_through_the_safe_console() -> None:
    """No command builds its own console or parses markup: output.make_console is the one way."""
    forbidden = {"from_markup", "render_markup", "Console"}
    for path in sorted((REPO / "src/pcipass/cli").glob("*.py")):
        if path.name == "output.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert name not in forbidden, f"{path.name}:{node.lineno} calls rich's {name}"
            if isinstance(node, ast.keyword) and node.arg == "markup":
                assert isinstance(node.value, ast.Constant) and node.value.value is False, (
                    f"{path.name}:{node.lineno} turns markup on")
