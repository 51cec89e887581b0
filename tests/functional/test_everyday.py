"""Everyday use (issue 20): inputs that are not what they claim, stdin and pipes, and the
README's own examples, each run as a user would run it."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pcipass import fakehost
from support import skip_unless_ci

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "cli"


def run(args: list[str], stdin: bytes | None = None, cwd: Path | None = None,
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pcipass", *args], input=(
        stdin.decode() if stdin is not None else None), capture_output=True, text=True,
        cwd=cwd, timeout=120)


def bash(script: str, cwd: Path, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def host(path: Path, profile: str = "x710-sriov") -> Path:
    built = fakehost.build(path, fakehost.PROFILES[profile])
    conf = built.root / "etc" / "nova" / "nova.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text((FIXTURES / "good.conf").read_text())
    return built.root


# -- a directory that is not a host --------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["scan"], ["doctor"], ["schedule", "--flavor", str(FIXTURES / "flavor-vf2.json")],
    ["placement", "show"]])
def test_a_directory_without_sys_bus_pci_is_not_a_host(tmp_path: Path, command: list[str]) -> None:
    """A directory of configs was diagnosed as a host without an IOMMU; it is invalid input."""
    configs = tmp_path / "configs"
    (configs / "etc" / "nova").mkdir(parents=True)
    (configs / "etc" / "nova" / "nova.conf").write_text((FIXTURES / "good.conf").read_text())
    done = run([*command, "--host", str(configs)])
    assert done.returncode == 2, done.stderr
    assert "not a host root: it has no sys/bus/pci" in done.stderr
    assert "IOMMU" not in done.stdout + done.stderr


def test_the_agent_refuses_a_directory_that_is_not_a_host(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    db = f"sqlite:///{tmp_path / 'store.db'}"
    assert run(["db", "upgrade", "--db", db]).returncode == 0
    done = run(["agent", "--once", "--host", str(configs), "--db", db])
    assert done.returncode == 2, done.stderr
    assert "not a host root" in done.stderr


# -- JSON that is not a flavor, and keys one edit away -------------------------------------------


@pytest.mark.parametrize(("text", "said"), [
    ('{"foo": 1}', "it has none of name, id, vcpus, ram, properties or extra_specs (it has foo)"),
    ('{"items": [{"name": "a"}]}', "a list under 'items' is not read"),
    ("[1, 2]", "is JSON but not a flavor object"),
])
def test_json_that_is_not_a_flavor_is_refused(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "f.json"
    path.write_text(text)
    done = run(["flavor", "explain", "--flavor", str(path), "-f", "json"])
    assert done.returncode == 2
    [result] = json.loads(done.stdout)["results"]
    error = result["error"]
    assert error["code"] == "InvalidFlavorFile" and said in error["message"] + error["hint"]


def test_the_compute_apis_flavor_list_is_read(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"flavors": [{"name": "a", "extra_specs": {}},
                                            {"name": "b", "extra_specs": {}}]}))
    done = run(["flavor", "explain", "--flavor", str(path), "-f", "json"])
    assert done.returncode == 2  # two flavors in a file given for one: refused, named
    assert "holds 2 flavors; expected one" in done.stdout


@pytest.mark.parametrize(("key", "meant"), [
    ("hw:cpu_polcy", "hw:cpu_policy"),                      # one letter left out
    ("pci_passthrough:aliases", "pci_passthrough:alias"),   # the plural, two edits on a long key
    ("hw:pci_numa_afinity_policy", "hw:pci_numa_affinity_policy"),
    ("hw:numa_ndoes", "hw:numa_nodes"),                     # two letters swapped
])
def test_a_key_one_edit_from_a_known_one_is_a_warning_naming_it(tmp_path: Path, key: str,
                                                                  meant: str) -> None:
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"name": "f", "properties": {key: "1"}}))
    done = run(["flavor", "explain", "--flavor", str(path), "-f", "json"])
    [result] = json.loads(done.stdout)["results"]
    [warning] = result["warnings"]
    assert warning["code"] == "FlavorExtraSpecTypo" and warning["entry"] == key
    assert f"did you mean {meant!r}" in warning["message"]


def test_known_and_free_form_keys_are_not_typos(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"name": "f", "properties": {
        "hw:numa_cpus.0": "0-3", "hw:numa_mem.1": "1024", "capabilities:cpu_info:vendor": "x",
        "aggregate_instance_extra_specs:ssd": "true", "resources:PGPU": "1",
        "trait:CUSTOM_X": "required", "hw:cpu_policy": "dedicated"}}))
    done = run(["flavor", "explain", "--flavor", str(path), "-f", "json"])
    assert json.loads(done.stdout)["results"][0]["warnings"] == []


def test_dev_spec_gets_did_you_mean_device_spec(tmp_path: Path) -> None:
    conf = tmp_path / "nova.conf"
    conf.write_text('[pci]\ndev_spec = {"vendor_id": "8086"}\n')
    done = run(["config", "check", "--nova-conf", str(conf), "-f", "json"])
    [unknown] = [w for w in json.loads(done.stdout)["warnings"] if w["code"] == "UnknownOption"]
    assert unknown["line"] == 2 and "did you mean device_spec" in unknown["hint"]


# -- stdin and pipes -----------------------------------------------------------------------------


def test_flavor_from_stdin_is_named_stdin() -> None:
    done = run(["flavor", "explain", "--nova-conf", str(FIXTURES / "good.conf"), "--flavor", "-",
                "-f", "json"], stdin=(FIXTURES / "flavor-vf2.json").read_bytes())
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["results"]
    assert result["file"] == "<stdin>" and result["flavor"] == "sriov.vf2"
    assert [(r["alias_name"], r["count"]) for r in result["requests"]] == [("vf", 2)]


def test_nova_conf_from_stdin_is_located_by_line() -> None:
    done = run(["config", "check", "--nova-conf", "-", "-f", "json"],
               stdin=b'[pci]\ndevice_spec = {"vendor_id": "8086", "product_id": 154c}\n')
    doc = json.loads(done.stdout)
    assert done.returncode == 2 and doc["files"] == ["<stdin>"]
    assert [(e["file"], e["line"]) for e in doc["errors"]] == [("<stdin>", 2)]


def test_process_substitution_reads_a_pipe_and_names_it(tmp_path: Path) -> None:
    flavor = FIXTURES / "flavor-vf2.json"
    done = bash(f"{sys.executable} -m pcipass flavor explain --nova-conf "
                f"<(cat {FIXTURES / 'good.conf'}) --flavor <(cat {flavor}) -f json", tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    [result] = doc["results"]
    assert result["file"].startswith("/dev/fd/") and result["requests"][0]["count"] == 2
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("pcipass-input-*/" +
                                                                 result["file"][8:]))


def test_an_lspci_paste_from_stdin_is_a_host_named_stdin() -> None:
    # a real `lspci -nnk` paste from the shared corpus (origin beside it)
    sample = REPO.parent / "shared" / "corpus" / "lspci" / "asokolsky_duo_lspci_nnk.md"
    done = run(["scan", "--lspci", "-", "-f", "json"], stdin=sample.read_bytes())
    assert done.returncode == 0, done.stderr
    [h] = json.loads(done.stdout)["hosts"]
    assert h["name"] == "stdin" and h["devices"]


def test_stdin_given_twice_is_a_usage_error() -> None:
    done = run(["flavor", "explain", "--flavor", "-", "--image", "-"], stdin=b"{}")
    assert done.returncode == 64
    assert "standard input (-) can be given to one option only" in done.stderr


def test_a_pipe_over_the_bound_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = bash(f"head -c 17000000 /dev/zero | {sys.executable} -m pcipass flavor explain "
                "--flavor -", tmp_path, env)
    assert done.returncode == 64 and "cannot read <stdin>: larger than 16 MiB" in done.stderr
    assert not list(tmp_path.glob("pcipass-input-*"))


def test_the_copies_of_pipes_are_removed(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = bash(f"{sys.executable} -m pcipass flavor explain --flavor <(cat "
                f"{FIXTURES / 'flavor-plain.json'}) -f json", tmp_path, env)
    assert done.returncode in (0, 1), done.stderr
    assert list(tmp_path.iterdir()) == []


# -- the README's examples -----------------------------------------------------------------------


def readme_examples() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("Examples:\n\n```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_has_its_examples() -> None:
    assert len(readme_examples()) >= 6


@pytest.fixture(scope="module")
def readme_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The files and commands the examples name: nova.conf and its directory, a flavor, a
    bundle, host roots, and an ``openstack`` that prints the flavor."""
    world = tmp_path_factory.mktemp("readme")
    good = (FIXTURES / "good.conf").read_text()
    (world / "etc" / "nova" / "nova.conf.d").mkdir(parents=True)
    (world / "etc" / "nova" / "nova.conf").write_text(good)
    (world / "nova.conf").write_text((FIXTURES / "bad.conf").read_text())  # errors for jq
    (world / "controller.conf").write_text(good)
    (world / "nfv.json").write_text((FIXTURES / "flavor-vf2.json").read_text())
    for name in ("cmp-a", "cmp-b", "srv/bundles/compute-13", "compute-12"):
        host(world / name)
    subprocess.run(["tar", "czf", "compute-12.tar.gz", "compute-12"], cwd=world, check=True)
    shims = world / "bin"
    shims.mkdir()
    openstack = shims / "openstack"
    openstack.write_text(f"#!/bin/sh\ncat {FIXTURES / 'flavor-vf2.json'}\n")
    openstack.chmod(openstack.stat().st_mode | stat.S_IXUSR)
    pcipass = shims / "pcipass"
    pcipass.write_text(f'#!/bin/sh\nexec {sys.executable} -m pcipass "$@"\n')
    pcipass.chmod(pcipass.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}"}
    return world, env


@pytest.mark.parametrize("index", range(6))
def test_every_readme_example_runs(readme_world: tuple[Path, dict[str, str]], index: int) -> None:
    """Each example, with its absolute paths moved into a scratch directory, runs: no usage
    error, no internal error, and it prints what it promises."""
    world, env = readme_world
    line = readme_examples()[index]
    if "| jq" in line and shutil.which("jq") is None:
        skip_unless_ci("jq (make test installs the Debian package jq)")
    script = line.replace("/etc/nova/", f"{world}/etc/nova/").replace(
        "/srv/bundles/", f"{world}/srv/bundles/")
    done = bash(f"set -o pipefail; {script}", world, env)
    assert done.returncode in (0, 1, 2), (line, done.returncode, done.stderr)
    assert "Usage:" not in done.stderr and "internal error" not in done.stderr, done.stderr
    if "> pcipass.sarif" in line:
        sarif = json.loads((world / "pcipass.sarif").read_text())
        assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"] is not None
    else:
        assert done.stdout.strip(), (line, done.stderr)


def test_a_kernel_command_line_from_stdin_joins_the_only_host(tmp_path: Path) -> None:
    root = host(tmp_path / "compute-7")
    done = run(["scan", "--host", str(root), "--cmdline", "-", "-f", "json"],
               stdin=b"BOOT_IMAGE=/vmlinuz-6.1 root=/dev/sda1 intel_iommu=on iommu=pt\n")
    assert done.returncode == 0, done.stderr
    [h] = json.loads(done.stdout)["hosts"]
    assert h["kernel"]["cmdline"]["intel_iommu"] == "on" and h["kernel"]["cmdline"]["iommu_pt"]
