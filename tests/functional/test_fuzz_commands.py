"""A bounded mutation run over every parser, through the real command (issue 9 point 10).

Seeds are real data: nova.conf files and documents from the corpus, flavor and
image JSON, lspci pastes, a facts.json and a bundle of a fake host. Each seed
is mutated with fixed seeds (byte flips, hostile tokens such as deep brackets,
long digit runs, long whitespace, ``$`` references, BOMs, control and
non-UTF-8 bytes, truncation, and for JSON and bundles, structure-aware edits),
and each mutant runs as its own ``pcipass`` process under ``strace``. Every
run must:

* end with 0, 1 or 2: never 255 (an internal error) nor a signal;
* finish inside the 60 s hang guard (a guard, not a speed test: runs take
  about 0.3 s);
* stay under 1 GiB of resident memory;
* print valid UTF-8;
* write nothing outside its own temporary directory (strace sees every
  open for writing, mkdir, rename, unlink, link and chmod the process and its
  children make; only the run's directory and /dev/null are allowed).

A failure names the target, the mutation and the file it kept for a re-run.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pcipass import fakehost
from support import FIXTURES, SHARED, skip_unless_ci

GUARD_S = 60
MAX_RSS_BYTES = 1 << 30
PARALLEL = 2

HOSTILE_TOKENS = [
    b"[" * 5000, b"{\"a\":" * 2000, b"9" * 5000, b"-" + b"9" * 4400, b" " * 20000, b"\t" * 5000,
    b"\xef\xbb\xbf", b"\xff\xfe\xfd", b"\x1b[31m\x1b]0;x\x07", b"[/]", b"[bold]", b"$nonexistent",
    b"${a}$b", b"\x00", b"\r\r\n", "[рci]".encode(), b"(?:(?:(?:0*)*)*)*1", b"\"" * 3000,
    b"0000:01:00.0;touch${IFS}pwned;#", b"../../../../etc/passwd", b"1e999999", b"NaN",
    b"\\u0000\\udcff", b"%(x)s" * 50, b"\n" * 3000, b"=" * 4000, b"a" * 70000,
]


# -- mutations (fixed seeds) --------------------------------------------------------------------


def _flip(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    buf = bytearray(data or b"\0")
    for _ in range(rng.randint(1, 8)):
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf), "byte flips"


def _insert(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    token = rng.choice(HOSTILE_TOKENS)
    at = rng.randint(0, len(data))
    return data[:at] + token + data[at:], f"token {token[:20]!r}... at {at}"


def _delete(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    if not data:
        return data, "empty"
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randint(1, 200))
    return data[:a] + data[b:], f"delete {a}:{b}"


def _duplicate(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    if not data:
        return data, "empty"
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randint(1, 400))
    times = rng.choice([2, 10, 200])
    return data[:b] + data[a:b] * times + data[b:], f"repeat {a}:{b} x{times}"


def _truncate(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    at = rng.randint(0, len(data))
    return data[:at], f"truncate at {at}"


def _numbers(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    big = rng.choice([b"9" * 5000, b"-1", b"4294967296", b"1" * 300, b"0x" + b"f" * 100])
    return re.sub(rb"\d+", lambda m: big if rng.random() < 0.3 else m.group(), data), "numbers"


def _lines(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    lines = data.split(b"\n")
    rng.shuffle(lines)
    return b"\n".join(lines), "shuffled lines"


BYTE_MUTATORS = [_flip, _insert, _insert, _delete, _duplicate, _truncate, _numbers, _lines]


def _hostile_value(rng: random.Random) -> Any:
    nested: Any = []
    for _ in range(rng.choice([50, 150, 5000])):
        nested = [nested]
    return rng.choice([
        nested, 10 ** 4400, -1, 2 ** 64, "9" * 5000, "x" * 100000, None, True, {}, [],
        {"unknown": [1, 2, 3]}, "[/]", "\x1b[2J", "\udcff", "0000:01:00.0;reboot", 1.5e308,
        "a" + " " * 3000 + "b", "k=a" + " " * 2400 + "b",
    ])


def _mutate_json(rng: random.Random, doc: Any) -> tuple[Any, str]:
    """Replace, drop or add one value somewhere in ``doc``."""
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in list(node):
                paths.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for i in range(len(node)):
                paths.append((node, i))
                walk(node[i])

    walk(doc)
    if not paths:
        return _hostile_value(rng), "whole document replaced"
    parent, key = rng.choice(paths)
    action = rng.choice(["replace", "replace", "drop", "add"])
    if action == "drop":
        del parent[key]
    elif action == "add" and isinstance(parent, dict):
        parent[rng.choice(["extra", "__proto__", "", "\x00"])] = _hostile_value(rng)
    else:
        parent[key] = _hostile_value(rng)
    return doc, f"json {action} at {key!r}"


def _dumps(doc: Any) -> bytes:
    sys.set_int_max_str_digits(0)  # the mutant may hold a 4,400-digit integer on purpose
    try:
        return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogateescape")
    except RecursionError:
        return b"[" * 5000
    finally:
        sys.set_int_max_str_digits(4300)


def mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    out, what = rng.choice(BYTE_MUTATORS)(rng, data)
    if rng.random() < 0.3:
        out, more = rng.choice(BYTE_MUTATORS)(rng, out)
        what += f", {more}"
    return out, what


def mutate_json_text(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    if rng.random() < 0.4:
        return mutate_bytes(rng, data)
    doc, what = _mutate_json(rng, json.loads(data))
    return _dumps(doc), what


# -- one run ------------------------------------------------------------------------------------


WRITE_SYSCALLS = ("open", "openat", "creat", "mkdir", "mkdirat", "rename", "renameat",
                  "renameat2", "unlink", "unlinkat", "rmdir", "symlink", "symlinkat", "link",
                  "linkat", "truncate", "chmod", "fchmodat", "chown", "fchownat", "utimensat")
_CALL = re.compile(r"^(?:\[pid\s+\d+\] )?(?:\d+\s+)?(\w+)\((.*)\)\s+= (-?\d+)")  # strace pads short pids
_ARG_PATH = re.compile(r'(?:(AT_FDCWD|\d+<[^>]*>),\s*)?"((?:[^"\\]|\\.)*)"')


@dataclasses.dataclass
class Outcome:
    code: int
    seconds: float
    rss: int
    out: bytes
    err: bytes
    writes: list[str]


def _written_paths(log: str, cwd: str) -> list[str]:
    """Paths the traced processes opened for writing or changed, from strace -y output."""
    out = []
    for line in log.splitlines():
        m = _CALL.match(line)
        if not m or m.group(1) not in WRITE_SYSCALLS or m.group(3).startswith("-"):
            continue
        name, args = m.group(1), m.group(2)
        if name in ("open", "openat") and not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", args):
            continue
        if name == "utimensat" and "NULL" in args.split(",")[1:2]:
            continue
        for dirfd, path in _ARG_PATH.findall(args):
            path = path.encode().decode("unicode_escape", "replace")
            if dirfd and dirfd != "AT_FDCWD":
                base = dirfd.split("<", 1)[1].rstrip(">")
                path = os.path.join(base, path)
            out.append(os.path.normpath(os.path.join(cwd, path)))
    return out


def run_pcipass(args: list[str], workdir: Path) -> Outcome:
    tmp = workdir / "tmp"
    home = workdir / "home"
    tmp.mkdir(exist_ok=True)
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PCIPASS")}
    env.update(TMPDIR=str(tmp), HOME=str(home), PYTHONDONTWRITEBYTECODE="1",
               PYTHONIOENCODING="utf-8", LC_ALL="C.UTF-8")
    log = workdir / "strace.log"
    cmd = ["strace", "-f", "-qq", "-y", "--seccomp-bpf", "-e", "trace=" + ",".join(WRITE_SYSCALLS),
           "-o", str(log), sys.executable, "-m", "pcipass", *args]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    streams: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda n=n, f=f: streams.__setitem__(n, f.read()))
               for n, f in (("out", proc.stdout), ("err", proc.stderr))]
    for reader in readers:
        reader.start()
    guard = threading.Timer(GUARD_S, proc.kill)
    guard.start()
    # wait4 gives this run's own peak RSS (strace's, and its reaped tracees').
    _, status, usage = os.wait4(proc.pid, 0)
    hung = not guard.is_alive()
    guard.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    out, err = streams.get("out", b""), streams.get("err", b"")
    if hung:
        return Outcome(-999, GUARD_S, 0, out, err, [])
    seconds = time.monotonic() - start
    rss = usage.ru_maxrss * 1024
    writes = _written_paths(log.read_text(errors="replace"), str(workdir))
    log.unlink()
    return Outcome(proc.returncode, seconds, rss, out, err, writes)


def _allowed(path: str, workdir: Path) -> bool:
    return path == "/dev/null" or path == str(workdir) or path.startswith(f"{workdir}/")


@dataclasses.dataclass
class Case:
    target: str
    index: int
    what: str
    args: list[str]
    workdir: Path


def check(case: Case) -> str | None:
    outcome = run_pcipass(case.args, case.workdir)
    problems = []
    if outcome.code == -999:
        problems.append(f"hit the {GUARD_S} s hang guard")
    elif outcome.code not in (0, 1, 2):
        problems.append(f"exit {outcome.code}: {outcome.err.decode(errors='replace')[-300:]}")
    if outcome.rss > MAX_RSS_BYTES:
        problems.append(f"peak RSS {outcome.rss >> 20} MiB")
    try:
        outcome.out.decode("utf-8")
        outcome.err.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"output is not UTF-8 ({exc})")
    outside = sorted({p for p in outcome.writes if not _allowed(p, case.workdir)})
    if outside:
        problems.append(f"wrote outside its directory: {outside[:5]}")
    if not problems:
        shutil.rmtree(case.workdir, ignore_errors=True)
        return None
    return f"{case.target} #{case.index} ({case.what}; kept in {case.workdir}): " + "; ".join(problems)


# -- targets ------------------------------------------------------------------------------------


def _cases_from_files(base: Path, target: str, seeds: list[Path], count: int, name: str,
                      mutate: Callable[[random.Random, bytes], tuple[bytes, str]],
                      args: Callable[[Path], list[str]]) -> list[Case]:
    cases = []
    for i in range(count):
        rng = random.Random(f"{target}-{i}")
        seed = seeds[i % len(seeds)]
        data, what = mutate(rng, seed.read_bytes())
        workdir = base / f"{target}-{i}"
        workdir.mkdir()
        path = workdir / name
        path.write_bytes(data)
        cases.append(Case(target, i, f"{seed.name}: {what}", args(path), workdir))
    return cases


def _config_cases(base: Path) -> list[Case]:
    seeds = [FIXTURES / "conf/nova-compute.conf", FIXTURES / "cli/good.conf",
             FIXTURES / "cli/legacy.conf", FIXTURES / "conf/nova-legacy-names.conf",
             SHARED / "corpus/config/nova_conf_pci_help_examples.txt",
             SHARED / "corpus/config/kolla_ansible_sriov_snippets.txt"]
    return _cases_from_files(base, "nova.conf", seeds, 30, "nova.conf", mutate_bytes,
                             lambda p: ["config", "check", "--nova-conf", str(p), "-f", "json"])


def _flavor_cases(base: Path) -> list[Case]:
    seeds = [FIXTURES / "cli/flavor-vf2.json", FIXTURES / "cli/flavor-labels.json",
             FIXTURES / "flavors/flavor-api.json", FIXTURES / "flavors/flavor-show-properties-dict.json",
             FIXTURES / "flavors/flavor-show-properties-string.json"]
    conf = str(FIXTURES / "cli/good.conf")
    return _cases_from_files(base, "flavor", seeds, 30, "flavor.json", mutate_json_text,
                             lambda p: ["flavor", "explain", "--nova-conf", conf, "--flavor",
                                        str(p), "-f", "json"])


def _image_cases(base: Path) -> list[Case]:
    seeds = [FIXTURES / "flavors/image-show.json", FIXTURES / "cli/image-preferred.json"]
    flavor = str(FIXTURES / "cli/flavor-vf2.json")
    conf = str(FIXTURES / "cli/good.conf")
    return _cases_from_files(base, "image", seeds, 12, "image.json", mutate_json_text,
                             lambda p: ["flavor", "explain", "--nova-conf", conf, "--flavor",
                                        flavor, "--image", str(p), "-f", "json"])


def _lspci_cases(base: Path) -> list[Case]:
    seeds = sorted(p for p in (SHARED / "corpus/lspci").iterdir() if not p.name.endswith(".txt")
                   or not p.name.endswith(".source.txt"))
    seeds = [p for p in seeds if not p.name.endswith(".source.txt")]
    return _cases_from_files(base, "lspci", seeds, 26, "host.txt", mutate_bytes,
                             lambda p: ["scan", "--lspci", str(p), "-f", "json"])


def _facts_cases(base: Path) -> list[Case]:
    built = fakehost.build(base / "seed-host" / "h", fakehost.PROFILES["x710-sriov"])
    subprocess.run([sys.executable, "-m", "pcipass", "scan", "--host", str(built.root),
                    "--save-facts", "-f", "json"], check=True, stdout=subprocess.DEVNULL)
    seed = built.root / "facts.json"
    assert seed.is_file()
    cases = []
    for i in range(30):
        rng = random.Random(f"facts-{i}")
        data, what = mutate_json_text(rng, seed.read_bytes())
        workdir = base / f"facts-{i}"
        shutil.copytree(built.root, workdir / "h", symlinks=True)
        (workdir / "h" / "facts.json").write_bytes(data)
        cases.append(Case("facts.json", i, what,
                          ["scan", "--host", str(workdir / "h"), "-f", "json"], workdir))
    return cases


_MEMBER_TYPES = [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE,
                 tarfile.DIRTYPE, tarfile.REGTYPE]


def _mutate_bundle(rng: random.Random, members: list[tuple[tarfile.TarInfo, bytes]]
                   ) -> tuple[list[tuple[tarfile.TarInfo, bytes]], str]:
    out = [(tarfile.TarInfo.frombuf(info.tobuf(tarfile.GNU_FORMAT), "utf-8", "surrogateescape"),
            data) for info, data in members]
    i = rng.randrange(len(out))
    info, data = out[i]
    action = rng.choice(["content", "content", "type", "name", "duplicate", "link-target"])
    if action == "content" and info.isreg():
        data, what = mutate_bytes(rng, data)
        info.size = len(data)
        out[i] = (info, data)
        return out, f"member {info.name}: {what}"
    if action == "type" or action == "content":
        info.type = rng.choice(_MEMBER_TYPES)
        info.linkname = rng.choice([members[rng.randrange(len(members))][0].name, "missing",
                                    "../../../../etc/passwd", "/etc/shadow", ""])
        info.size = len(data) if info.type == tarfile.REGTYPE else 0
        out[i] = (info, data if info.type == tarfile.REGTYPE else b"")
        return out, f"member {info.name}: type {info.type!r} -> {info.linkname}"
    if action == "name":
        info.name = rng.choice(["/abs/x", "h/../../x", "h/\udcffbad", "h/" + "n" * 300,
                                info.name + "/sub", "h//./" + info.name.split("/", 1)[-1]])
        return out, f"member renamed {info.name[:60]}"
    if action == "duplicate":
        twin = tarfile.TarInfo(info.name)
        twin.type = tarfile.DIRTYPE if info.isreg() else tarfile.REGTYPE
        out.insert(i + 1, (twin, b""))
        return out, f"member {info.name} twice, as {twin.type!r}"
    info.type = tarfile.SYMTYPE
    info.linkname = "/".join([".."] * rng.randint(1, 12)) + rng.choice(["", "/etc", "/sys/bus"])
    info.size = 0
    out[i] = (info, b"")
    return out, f"member {info.name}: symlink to {info.linkname}"


def _bundle_cases(base: Path) -> list[Case]:
    built = fakehost.build(base / "seed-bundle" / "h", fakehost.PROFILES["82599-sriov"])
    packed = fakehost.pack(built, base / "seed-bundle" / "h.tar.gz")
    with tarfile.open(packed) as tar:
        members = [(m, tar.extractfile(m).read() if m.isreg() else b"")  # type: ignore[union-attr]
                   for m in tar.getmembers()]
    cases = []
    for i in range(30):
        rng = random.Random(f"bundle-{i}")
        workdir = base / f"bundle-{i}"
        workdir.mkdir()
        path = workdir / "h.tar.gz"
        if i % 6 == 5:  # the compressed stream itself, damaged
            data, what = mutate_bytes(rng, packed.read_bytes())
            path.write_bytes(data)
        else:
            mutated, what = _mutate_bundle(rng, members)
            with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT, encoding="utf-8",
                              errors="surrogateescape") as tar:
                for info, data in mutated:
                    tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
        command = "doctor" if i % 3 == 0 else "scan"
        cases.append(Case("bundle", i, f"{command}: {what}",
                          [command, "--host", str(path), "-f", "json"], workdir))
    return cases


TARGETS: dict[str, Callable[[Path], list[Case]]] = {
    "nova.conf": _config_cases, "flavor": _flavor_cases, "image": _image_cases,
    "lspci": _lspci_cases, "facts.json": _facts_cases, "bundle": _bundle_cases,
}


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_mutants_never_crash_hang_exhaust_or_write_outside(target: str, tmp_path: Path) -> None:
    if shutil.which("strace") is None:
        skip_unless_ci("strace (make test installs the Debian package strace)")
    cases = TARGETS[target](tmp_path)
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        failures = [f for f in pool.map(check, cases) if f is not None]
    assert not failures, "\n".join(failures)
    assert len(cases) >= 12


def test_the_write_audit_sees_what_a_run_writes(tmp_path: Path) -> None:
    """The audit is not vacuous: ``--save-facts`` writes facts.json, and strace reports it."""
    if shutil.which("strace") is None:
        skip_unless_ci("strace (make test installs the Debian package strace)")
    built = fakehost.build(tmp_path / "h", fakehost.PROFILES["x710-sriov"])
    outcome = run_pcipass(["scan", "--host", str(built.root), "--save-facts", "-f", "json"],
                          tmp_path)
    assert outcome.code == 0
    assert str(built.root / "facts.json") in outcome.writes
    assert all(_allowed(p, tmp_path) for p in outcome.writes)
    assert not _allowed("/etc/passwd", tmp_path) and not _allowed(f"{tmp_path}-x/a", tmp_path)
