"""The conventions of every command (issue 20, point 5): listings for scripts, colour, width,
did-you-mean, --debug anywhere, and the README's exit-code table, row by row, command by
command."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pcipass import fakehost
from pcipass.cli import main as climain
from pcipass.cli import output

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "cli"
GOOD, BAD, WARN = (FIXTURES / n for n in ("good.conf", "bad.conf", "warn.conf"))
FLAVOR = FIXTURES / "flavor-vf2.json"


def run(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None,
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pcipass", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, input=stdin, timeout=120)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = fakehost.build(tmp_path_factory.mktemp("h") / "compute-7", fakehost.PROFILES["mixed"])
    conf = built.root / "etc" / "nova" / "nova.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(GOOD.read_text())
    return built.root


def listings(host: Path) -> dict[str, list[str]]:
    return {
        "scan": ["scan", "--host", str(host)],
        "config": ["config", "check", "--nova-conf", str(WARN)],
        "flavor": ["flavor", "explain", "--nova-conf", str(GOOD), "--flavor", str(FLAVOR)],
        "schedule": ["schedule", "--nova-conf", str(GOOD), "--flavor", str(FLAVOR), "--host",
                     str(host)],
        "doctor": ["doctor", "--host", str(host), "--nova-conf", str(GOOD), "--flavor",
                   str(FLAVOR)],
        "checks": ["doctor", "checks"],
    }


#: Per listing: the JSON rows the listing must equal, as (path to the list, fields).
def json_rows(name: str, doc: dict[str, Any]) -> list[list[Any]]:
    if name == "scan":
        return [[h["name"], d["address"], d["vendor_id"]] for h in doc["hosts"]
                for d in h["devices"]]
    if name == "config":
        return [[sev, p["code"], p["line"]] for sev, key in (("error", "errors"),
                                                              ("warning", "warnings"))
                for p in doc[key]]
    if name == "flavor":
        return [[r["flavor"], q["alias_name"], q["count"]] for r in doc["results"]
                for q in r["requests"]]
    if name == "schedule":
        return [[r["flavor"], h["name"], h["fits"]] for r in doc["results"] for h in r["hosts"]]
    if name == "doctor":
        return [[f["id"], f["severity"], f["host"]] for f in doc["findings"]]
    return [[c["id"], c["layer"], c["title"]] for c in doc["checks"]]


COLUMNS = {"scan": ["host", "address", "vendor_id"], "config": ["severity", "code", "line"],
           "flavor": ["flavor", "alias_name", "count"], "schedule": ["flavor", "host", "fits"],
           "doctor": ["id", "severity", "host"], "checks": ["id", "layer", "title"]}


@pytest.mark.parametrize("name", list(COLUMNS))
def test_csv_with_columns_is_the_json_rows(host: Path, name: str) -> None:
    args = listings(host)[name]
    doc = json.loads(run([*args, "-f", "json"]).stdout)
    picked = [a for c in COLUMNS[name] for a in ("-c", c)]
    done = run([*args, "-f", "csv", *picked])
    assert done.returncode in (0, 1, 2) and "Usage" not in done.stderr, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == COLUMNS[name]
    want = [["" if v is None else str(v) for v in r] for r in json_rows(name, doc)]
    assert rows[1:] == want and want  # every listing here has rows


@pytest.mark.parametrize("name", list(COLUMNS))
def test_value_prints_the_rows_without_a_header(host: Path, name: str) -> None:
    args = listings(host)[name]
    doc = json.loads(run([*args, "-f", "json"]).stdout)
    first = COLUMNS[name][0]
    done = run([*args, "-f", "value", "-c", first])
    assert done.stdout.splitlines() == [str(r[0]) for r in json_rows(name, doc)]


def test_a_column_that_does_not_exist_is_a_usage_error_with_the_closest(host: Path) -> None:
    done = run([*listings(host)["scan"], "-f", "value", "-c", "adress"])
    assert done.returncode == 64
    assert "no column 'adress'" in done.stderr and "Did you mean 'address'?" in done.stderr


def test_columns_never_cut_the_json_document(host: Path) -> None:
    done = run([*listings(host)["scan"], "-f", "json", "-c", "address"])
    assert done.returncode == 64 and "printed whole" in done.stderr


def test_columns_pick_the_table_too(host: Path) -> None:
    done = run([*listings(host)["checks"], "-c", "id"])
    lines = done.stdout.split()
    assert lines[0] == "id" and all(re.fullmatch(r"PCI-[A-Z]\d{3}", x) for x in lines[1:])


# -- width and colour ---------------------------------------------------------------------------


def test_at_80_columns_no_address_or_id_is_cut(host: Path) -> None:
    doc = json.loads(run(["scan", "--host", str(host), "-f", "json"]).stdout)
    table = run(["scan", "--host", str(host)], env={"COLUMNS": "80"}).stdout
    rows = [line for line in table.splitlines() if re.search(r"[0-9a-f]{4}:[0-9a-f]{2}:", line)]
    assert len(rows) == len(doc["hosts"][0]["devices"])
    for dev, line in zip(doc["hosts"][0]["devices"], rows):
        assert dev["address"] in line and f"{dev['vendor_id']}:{dev['product_id']}" in line
        assert len(line) <= 80


def on_a_terminal(args: list[str], env: dict[str, str]) -> bytes:
    """The output of pcipass run with stdout on a pseudo-terminal (``env`` on top of this
    process's, without NO_COLOR and FORCE_COLOR)."""
    leader, follower = pty.openpty()
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    proc = subprocess.Popen([sys.executable, "-m", "pcipass", *args], stdout=follower,
                            stderr=subprocess.DEVNULL, env={**base, **env})
    os.close(follower)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=60)
    os.close(leader)
    return out


def test_no_color_is_honoured_on_a_terminal(host: Path) -> None:
    args = ["doctor", "--host", str(host), "--nova-conf", str(GOOD)]
    coloured = on_a_terminal(args, {"TERM": "xterm-256color"})
    plain = on_a_terminal(args, {"TERM": "xterm-256color", "NO_COLOR": "1"})
    assert colours(coloured)  # the doctor colours severities on a terminal
    assert not colours(plain) and b"PCI-" in plain  # bold and dim may stay: they are no colour


def colours(out: bytes) -> set[int]:
    """The SGR parameters of ``out`` that set a colour (foreground or background)."""
    found = set()
    for params in re.findall(rb"\x1b\[([0-9;]*)m", out):
        for p in params.split(b";"):
            if p and (30 <= int(p) <= 49 or 90 <= int(p) <= 107) and int(p) not in (39, 49):
                found.add(int(p))
    return found


# -- commands and --debug -------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "meant"), [(["sacn"], "scan"), (["doctr"], "doctor"),
                                              (["config", "chek"], "check"),
                                              (["flavor", "explian"], "explain")])
def test_a_mistyped_command_gets_the_closest(typed: list[str], meant: str) -> None:
    done = run(typed)
    assert done.returncode == 64 and f"Did you mean {meant!r}?" in done.stderr


def test_debug_goes_anywhere_on_the_line() -> None:
    before = run(["--debug", "config", "check", "--nova-conf", str(GOOD), "-f", "json"])
    after = run(["config", "check", "--nova-conf", str(GOOD), "-f", "json", "--debug"])
    assert before.returncode == after.returncode == 0
    assert json.loads(before.stdout) == json.loads(after.stdout)


# -- the exit-code table, every row on every command ------------------------------------------------


def test_the_readme_has_the_exit_code_table() -> None:
    text = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| (\d+(?: / \d+)*) \|", text, re.M)
    assert rows == ["0", "1", "2", "64", "130 / 143", "255"]


def commands(host: Path, db: str) -> dict[str, dict[str, Any]]:
    """Each command with: an ok run (0), a run with warnings (1, where the command has them),
    an invalid one (2), and an input option that can wait on standard input."""
    empty = str(FIXTURES / "flavor-plain.json")
    return {
        "config check": {"ok": ["config", "check", "--nova-conf", str(GOOD)],
                         "warn": ["config", "check", "--nova-conf", str(WARN)],
                         "bad": ["config", "check", "--nova-conf", str(BAD)],
                         "wait": ["config", "check", "--nova-conf", "-"]},
        "flavor explain": {"ok": ["flavor", "explain", "--flavor", empty],
                           "bad": ["flavor", "explain", "--flavor", str(BAD)],
                           "wait": ["flavor", "explain", "--flavor", "-"]},
        "scan": {"ok": ["scan", "--host", str(host)],
                 "bad": ["scan", "--host", str(FIXTURES)],
                 "wait": ["scan", "--lspci", "-"]},
        "schedule": {"ok": ["schedule", "--flavor", str(FLAVOR), "--host", str(host)],
                     "bad": ["schedule", "--flavor", str(FLAVOR), "--host", str(FIXTURES)],
                     "wait": ["schedule", "--flavor", "-", "--host", str(host)]},
        "doctor": {"ok": ["doctor", "--host", str(host), "--select", "PCI-K"],
                   "warn": ["doctor", "--host", str(host), "--nova-conf", str(WARN), "--select",
                            "PCI-S009"],
                   "bad": ["doctor", "--host", str(FIXTURES)],
                   "wait": ["doctor", "--host", str(host), "--flavor", "-"]},
        "placement show": {"ok": ["placement", "show", "--host", str(host)],
                           "bad": ["placement", "show", "--host", str(FIXTURES)],
                           "wait": ["placement", "show", "--host", str(host),
                                    "--compute-conf", "-"]},
        "agent": {"ok": ["agent", "--once", "--host", str(host), "--db", db],
                  "bad": ["agent", "--once", "--host", str(FIXTURES), "--db", db],
                  "wait": ["agent", "--once", "--host", str(host), "--db", db,
                           "--compute-conf", "-"]},
        "placement sync": {"bad": ["placement", "sync", "--placement-url", "http://127.0.0.1:9",
                                   "--host", str(FIXTURES)],
                           "wait": ["placement", "sync", "--placement-url", "http://127.0.0.1:9",
                                    "--host", str(host), "--compute-conf", "-"]},
        "devices": {"ok": ["devices", "--db", db],
                    "wait": ["devices", "--db", db, "--alias", "vf", "--nova-conf", "-"]},
    }


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'store.db'}"
    assert run(["db", "upgrade", "--db", url]).returncode == 0
    return url


NAMES = ["config check", "flavor explain", "scan", "schedule", "doctor", "placement show",
         "placement sync", "agent", "devices"]


@pytest.mark.parametrize("name", NAMES)
def test_exit_codes_0_1_2_and_64(host: Path, db: str, name: str) -> None:
    cases = commands(host, db)[name]
    for kind, code in (("ok", 0), ("warn", 1), ("bad", 2)):
        if kind in cases:
            done = run(cases[kind])
            assert done.returncode == code, (name, kind, done.stdout[-500:], done.stderr)
    done = run([*name.split(), "--no-such-option"])
    assert done.returncode == 64 and "No such option" in done.stderr


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_while_waiting_for_input_exits_with_its_code(host: Path, db: str, name: str,
                                                            sig: signal.Signals,
                                                            code: int) -> None:
    """Each command waits on standard input (an input option given ``-``); the signal ends
    it with its code and one line."""
    proc = subprocess.Popen([sys.executable, "-m", "pcipass", *commands(host, db)[name]["wait"]],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # imports done, blocked on stdin
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert out == "" and err.count("\n") == 1 and err.startswith(f"pcipass: stopped by {sig.name}")


@pytest.mark.parametrize("name", [n for n in NAMES if n != "placement sync"])  # needs a Placement
def test_an_internal_error_exits_255_without_a_traceback(host: Path, db: str, name: str,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(output, "emit", broken)
    args = commands(host, db)[name].get("ok") or commands(host, db)[name]["warn"]
    assert climain.main(args) == 255
    err = capsys.readouterr().err
    assert "pcipass: internal error: RuntimeError: a bug (run with --debug" in err
    assert "Traceback" not in err
    assert climain.main([*args, "--debug"]) == 255
    assert "Traceback" in capsys.readouterr().err


# -- progress ---------------------------------------------------------------------------------------


def test_progress_over_many_hosts_shows_on_a_terminal_only(host: Path) -> None:
    """stderr on a terminal: rich's bar (what, done of total, time left); stdout stays the JSON.
    stderr in a pipe: nothing."""
    args = [sys.executable, "-m", "pcipass", "scan", "--host", str(host), "--host", str(host),
            "--host", str(host), "-f", "json"]
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    assert proc.stdout is not None
    with proc.stdout:
        doc = json.loads(proc.stdout.read())
    proc.wait(timeout=60)
    os.close(leader)
    assert len(doc["hosts"]) == 3
    plain = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", shown)
    assert b"host roots scanned" in plain and re.search(rb"[0-3]/3", plain)
    piped = run(["scan", "--host", str(host), "--host", str(host), "-f", "json"])
    assert piped.returncode == 0 and piped.stderr == ""


def test_the_store_and_placement_listings_are_their_json_rows(host: Path, db: str,
                                                             tmp_path: Path) -> None:
    assert run(["agent", "--once", "--host", str(host), "--db", db]).returncode in (0, 1)
    devices = json.loads(run(["devices", "--db", db, "-f", "json"]).stdout)["devices"]
    rows = list(csv.reader(io.StringIO(run(["devices", "--db", db, "-f", "csv", "-c", "address",
                                            "-c", "status"]).stdout)))
    assert rows == [["address", "status"], *([d["address"], d["status"]] for d in devices)]
    assert devices
    status = run(["db", "status", "--db", db, "-f", "value", "-c", "current", "-c", "at_head"])
    assert status.stdout.split() == [json.loads(run(["db", "status", "--db", db, "-f", "json"])
                                                .stdout)["current"], "True"]
    conf = tmp_path / "gpu.conf"
    conf.write_text('[pci]\ndevice_spec = {"vendor_id": "10de"}\nreport_in_placement = True\n')
    show = ["placement", "show", "--host", str(host), "--compute-conf", str(conf)]
    shown = json.loads(run([*show, "-f", "json"]).stdout)
    providers = [p["name"] for h in shown["hosts"] for p in h["providers"]]
    listed = run([*show, "-f", "value", "-c", "provider"])
    assert listed.stdout.split() == providers and providers  # the mixed host's GPU is one
