"""Hostile bundles: a ``.tar.gz`` is read into memory and can never write, escape or exhaust.

Each test builds its archive by hand, member by member, as an attacker would.
The expectations come from the archive's own structure: which names are
clean, which links stay inside, which member a hard link names.
"""

from __future__ import annotations

import gzip
import io
import json
import multiprocessing
import os
import stat
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest

from pcipass import fakehost
from pcipass.adapters import bundle, hostroot, roots
from pcipass.services import scan
from pcipass.services.jsonview import to_json
from support import IN_CI, SHARED, run_cli, unpack_trusted


def member(tar: tarfile.TarFile, name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE,
           linkname: str = "", size: int | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 11  # /dev/kmsg
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``directory`` with its size and mtime (links not followed)."""
    out = {}
    for base, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(base, name)
            st = os.lstat(path)
            out[path] = (st.st_size, st.st_mtime_ns)
    return out


# -- CVE-2025-4517: long names and symlinks past PATH_MAX, then a hard link through them ------


def _path_max_attack(tar: tarfile.TarFile, target: str, *, hard_link: bool = True) -> None:
    """The published shape of the attack on tarfile's "data" filter.

    Sixteen directories with 247-character names, each shadowed by a one-letter
    symlink to it; a link whose resolved path passes PATH_MAX, so realpath()
    stops checking; an ``escape`` link through it that climbs to ``target``'s
    directory; then a hard link through ``escape`` (left out with ``hard_link=False``) and a
    file written to it.
    """
    long_name = "d" * 247
    letters = "abcdefghijklmnop"
    path = ""
    for letter in letters:
        member(tar, os.path.join(path, long_name), kind=tarfile.DIRTYPE)
        member(tar, os.path.join(path, letter), kind=tarfile.SYMTYPE, linkname=long_name)
        path = os.path.join(path, long_name)
    deep_link = os.path.join("/".join(letters), "l" * 254)
    member(tar, deep_link, kind=tarfile.SYMTYPE, linkname="../" * len(letters))
    climb = "../" * (len(Path(target).parts) + 8)
    member(tar, "escape", kind=tarfile.SYMTYPE, linkname=f"{deep_link}/{climb}")
    if hard_link:
        member(tar, "flaglink", kind=tarfile.LNKTYPE, linkname=f"escape{target}")
    member(tar, "flaglink", b"overwritten by the bundle\n")
    member(tar, "escape-new", kind=tarfile.SYMTYPE, linkname=f"escape{os.path.dirname(target)}")
    member(tar, "escape-new/created-by-the-bundle", b"new file\n")


def test_path_max_link_chain_writes_nothing_anywhere(tmp_path: Path) -> None:
    victim = tmp_path / "victim" / "important.txt"
    victim.parent.mkdir()
    victim.write_text("keep me\n")
    archive = tmp_path / "attack.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        _path_max_attack(tar, str(victim))
    links_only = tmp_path / "links-only.tar.gz"
    with tarfile.open(links_only, "w:gz") as tar:
        _path_max_attack(tar, str(victim), hard_link=False)
    before = snapshot(tmp_path)
    tmp_before = set(os.listdir(os.environ.get("TMPDIR", "/tmp")))

    # The hard link names a path through a link: it names no earlier member, so the bundle is
    # invalid input, refused whole.
    with pytest.raises(hostroot.HostRootInvalid) as refused:
        roots.open_root(archive)
    assert refused.value.message == (
        f"Invalid host root {archive}: bundle member flaglink: hard link to escape{victim}, "
        "which is not an earlier member")
    with roots.open_root(links_only) as root:
        warnings = "\n".join(root.warnings)
        # The one-letter names are links, so nothing can be placed under them.
        assert "is not a directory in the bundle; skipped" in warnings
        # Through the jail, the escape link leads nowhere outside.
        assert root.read_text(f"escape{victim}", []) is None
        jail: list[str] = []
        assert root.read_text("escape-new/created-by-the-bundle", jail) is None
        assert root.read_text("flaglink") == "overwritten by the bundle"  # only in memory

    assert victim.read_text() == "keep me\n"
    assert snapshot(tmp_path) == before
    assert not (victim.parent / "created-by-the-bundle").exists()
    assert not {n for n in set(os.listdir(os.environ.get("TMPDIR", "/tmp"))) - tmp_before
                if n.startswith("pcipass")}


def test_no_module_extracts_an_archive_to_disk() -> None:
    """The fix does not depend on tarfile's ``filter=`` (Debian 12's own Python 3.11.2 has
    none): nothing in pcipass extracts an archive, so no filter is needed at all."""
    import ast

    src = Path(bundle.__file__).resolve().parents[1]
    calls = []
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("extract", "extractall", "unpack_archive"):
                calls.append(f"{path.relative_to(src)}:{node.lineno} {node.func.attr}")
    assert calls == []
    assert len(list(src.rglob("*.py"))) > 100  # the walk saw the package


@pytest.mark.parametrize("command", ["scan", "doctor"])
def test_path_max_attack_through_the_cli_is_refused_as_invalid(tmp_path: Path, command: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    archive = tmp_path / "attack.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member(tar, "sys/bus/pci/devices", kind=tarfile.DIRTYPE)  # it passes for a host root
        _path_max_attack(tar, str(victim))
    result = run_cli([command, "--host", str(archive), "-f", "json"])
    assert result.code == 2, result.err
    assert result.out == ""
    assert (f"pcipass {command}: Invalid host root {archive}: bundle member flaglink: hard link "
            f"to escape{victim}, which is not an earlier member") in result.err
    assert victim.read_text() == "keep me\n"


def test_the_attack_alone_is_not_a_host_root(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    archive = tmp_path / "attack.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        _path_max_attack(tar, str(victim))
    result = run_cli(["scan", "--host", str(archive), "-f", "json"])
    assert result.code == 2 and "bundle member flaglink: hard link to escape" in result.err
    links_only = tmp_path / "links-only.tar.gz"
    with tarfile.open(links_only, "w:gz") as tar:
        _path_max_attack(tar, str(victim), hard_link=False)
    result = run_cli(["scan", "--host", str(links_only), "-f", "json"])
    assert result.code == 2 and "not a host root: it has no sys/bus/pci" in result.err
    assert victim.read_text() == "keep me\n"


# -- links that climb out, directly or through a chain ----------------------------------------


def test_links_that_climb_out_directly_or_through_a_chain_are_never_followed(tmp_path: Path) -> None:
    archive = tmp_path / "h.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member(tar, "h/etc/hostname", b"h\n")
        member(tar, "h/direct", kind=tarfile.SYMTYPE, linkname="../../../etc/passwd")
        member(tar, "h/absolute", kind=tarfile.SYMTYPE, linkname="/etc/passwd")
        # Each link alone stays inside the archive; followed in turn they leave the host root.
        member(tar, "h/sys/a", kind=tarfile.SYMTYPE, linkname="../b")
        member(tar, "h/b", kind=tarfile.SYMTYPE, linkname="sys/c/..")
        member(tar, "h/sys/c", kind=tarfile.SYMTYPE, linkname="../..")
        member(tar, "h/chain", kind=tarfile.SYMTYPE, linkname="sys/a/etc/passwd")
        member(tar, "h/hard-skipped", kind=tarfile.LNKTYPE, linkname="h/absolute")
        member(tar, "h/hard-dir", kind=tarfile.LNKTYPE, linkname="h/sys")
        member(tar, "h/hard-ok", kind=tarfile.LNKTYPE, linkname="h/etc/hostname")
    with roots.open_root(archive) as root:
        # A symlink out of the bundle is evidence read around (real roots hold absolute
        # links), and so is a hard link whose target was itself skipped, or is a directory.
        assert root.warnings == [
            "bundle member h/direct: symlink to ../../../etc/passwd leads outside the bundle; "
            "skipped",
            "bundle member h/absolute: symlink to /etc/passwd leads outside the bundle; skipped",
            "bundle member h/hard-skipped: hard link to h/absolute, a member skipped above; "
            "skipped",
            "bundle member h/hard-dir: hard link to the directory h/sys; skipped",
        ]
        warnings: list[str] = []
        assert root.read_text("chain", warnings) is None
        # The message names the link in the chain that leaves the root: sys/c -> ../..
        assert warnings == ["chain: symlink to ../.. leads outside the host root; not followed"]
        assert root.read_text("hard-ok") == "h"
        assert root.read_text("hard-skipped", []) is None


@pytest.mark.parametrize(("target", "why"), [
    ("../etc/passwd", "outside the bundle"),
    ("/etc/passwd", "outside the bundle"),
    ("h/../../etc/passwd", "outside the bundle"),
    ("h/missing", "which is not an earlier member"),
])
def test_a_hard_link_out_of_the_bundle_or_to_no_member_makes_it_invalid(tmp_path: Path, target: str,
                                                                        why: str) -> None:
    """tar cannot unpack such a link either (tarfile raised KeyError: exit 255, issue 9 point 2):
    the bundle is invalid input, exit 2 on every command that reads it, naming the member and
    its target; nothing of it is read."""
    archive = tmp_path / "h.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member(tar, "h/sys/bus/pci/devices", kind=tarfile.DIRTYPE)
        member(tar, "h/etc/hostname", b"h\n")
        member(tar, "h/proc/cmdline", kind=tarfile.LNKTYPE, linkname=target)
    expected = (f"Invalid host root {archive}: bundle member h/proc/cmdline: hard link to "
                f"{target}, {why}")
    with pytest.raises(hostroot.HostRootInvalid) as refused:
        roots.open_root(archive)
    assert refused.value.message == expected
    assert refused.value.hint == ("the bundle is corrupt or was packed by hand: pack the host "
                                  "root again with tar czf")
    for command in (["scan"], ["doctor"], ["placement", "show"]):
        result = run_cli([*command, "--host", str(archive), "-f", "json"])
        assert result.code == 2, (command, result.err)
        assert result.out == ""
        assert f"pcipass {' '.join(command)}: {expected}" in result.err


def test_a_hard_link_to_a_missing_member_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """The issue's repro (KeyError in tarfile, exit 255): exit 2 and one line naming it."""
    archive = tmp_path / "h.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member(tar, "h/sys/bus/pci/devices", kind=tarfile.DIRTYPE)
        member(tar, "h/proc/cmdline", kind=tarfile.LNKTYPE, linkname="h/missing")
    result = run_cli(["scan", "--host", str(archive), "-f", "json"])
    assert result.code == 2, result.err
    assert result.err.splitlines() == [
        f"pcipass scan: Invalid host root {archive}: bundle member h/proc/cmdline: hard link to "
        "h/missing, which is not an earlier member",
        "  fix: the bundle is corrupt or was packed by hand: pack the host root again with tar czf"]


# -- device nodes are never read as files ------------------------------------------------------


def test_a_character_device_in_a_bundle_is_named_not_read(tmp_path: Path) -> None:
    archive = tmp_path / "h.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member(tar, "h/sys/bus/pci/devices", kind=tarfile.DIRTYPE)
        member(tar, "h/proc/cmdline", kind=tarfile.CHRTYPE)
        member(tar, "h/proc/modules", kind=tarfile.FIFOTYPE)
    result = run_cli(["scan", "--host", str(archive), "-f", "json"])
    assert result.code == 0, result.err
    host = result.json()["hosts"][0]
    assert "proc/cmdline: not a regular file (a character device); not read" in host["warnings"]
    assert "proc/modules: not a regular file (a FIFO); not read" in host["warnings"]
    assert host["kernel"]["cmdline"] is None


@pytest.mark.skipif(os.geteuid() != 0 and not IN_CI, reason="mknod needs root (CI runs as root)")
def test_a_device_node_in_a_host_root_directory_is_never_opened(tmp_path: Path) -> None:
    root_dir = tmp_path / "h"
    (root_dir / "sys/bus/pci/devices").mkdir(parents=True)
    (root_dir / "proc").mkdir()
    # /dev/kmsg's numbers: opening it would read this machine's kernel log as the host's.
    os.mknod(root_dir / "proc/cmdline", stat.S_IFCHR | 0o444, os.makedev(1, 11))
    result = run_cli(["scan", "--host", str(root_dir), "-f", "json"])
    assert result.code == 0, result.err
    host = result.json()["hosts"][0]
    assert "proc/cmdline: not a regular file (a character device); not read" in host["warnings"]
    assert host["kernel"]["cmdline"] is None


# -- bounds ------------------------------------------------------------------------------------


def _raw_tar_gz(path: Path, headers: list[tarfile.TarInfo], payload: bytes = b"") -> None:
    """A gzip stream of tar headers (and ``payload`` after the first), written by hand so a
    header can declare more data than follows."""
    blob = b"".join(h.tobuf(tarfile.GNU_FORMAT) for h in headers[:1]) + payload
    blob += b"".join(h.tobuf(tarfile.GNU_FORMAT) for h in headers[1:])
    path.write_bytes(gzip.compress(blob + b"\0" * 1024))


def test_a_declared_size_over_the_bound_is_refused_from_the_header(tmp_path: Path) -> None:
    info = tarfile.TarInfo("h/proc/cmdline")
    info.size = bundle.MAX_UNPACKED_BYTES + 1
    archive = tmp_path / "bomb.tar.gz"
    _raw_tar_gz(archive, [info])
    with pytest.raises(hostroot.HostRootInvalid, match="more than 2,147,483,648 bytes unpacked"):
        roots.open_root(archive)


def test_a_gzip_bomb_member_keeps_only_what_readers_read(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member(tar, "h/sys/devices/d/vendor", b"0" * (64 << 20))  # 64 MiB of zeros, 65 KB packed
        member(tar, "h/etc/hostname", b"h\n")
    assert archive.stat().st_size < 1 << 20
    with roots.open_root(archive) as root:
        assert isinstance(root, hostroot.HostRoot) and root.name == "h"
        tree = root.tree  # type: ignore[attr-defined]
        assert tree.held <= bundle.KEEP_SYS_BYTES + 8
        assert root.read_text("sys/devices/d/vendor") == "0" * (1 << 16)
        warnings: list[str] = []
        assert root.read_bytes("sys/devices/d/vendor", warnings, limit=1 << 20) is None
        assert warnings == ["sys/devices/d/vendor: larger than the 65,536 bytes kept of a bundle "
                            "member; not read"]


def test_the_memory_budget_refuses_a_bundle_that_does_not_fit(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "h.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member(tar, "h/cmd/dmesg.txt", b"x" * 5000)
    monkeypatch.setattr(bundle, "_budget", bundle._Budget(4096))
    with pytest.raises(hostroot.HostRootInvalid, match="would hold more than 4,096 bytes"):
        roots.open_root(archive)
    assert bundle.budget()._local == 0  # what the refused bundle had taken is given back
    monkeypatch.setattr(bundle, "_budget", bundle._Budget(8192))
    with roots.open_root(archive) as root:
        assert bundle.budget()._local == 5000
        assert root.read_text("cmd/dmesg.txt", limit=1 << 20) == "x" * 5000
    assert bundle.budget()._local == 0  # closing gives it back


def _take_in_child(value: object, n: int, out: object) -> None:
    bundle.use_shared_budget(value)
    out.value = bundle.budget().take(n)  # type: ignore[attr-defined]


def test_the_budget_is_one_bound_across_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bundle.MEMORY_ENV, "1000")
    monkeypatch.setattr(bundle, "_budget", None)
    ctx = multiprocessing.get_context("fork")
    shared = bundle.share_budget(ctx)
    assert bundle.budget().take(600)
    results = []
    for n in (300, 300):  # the second no longer fits: 600 + 300 + 300 > 1000
        ok = ctx.Value("b", 0)
        child = ctx.Process(target=_take_in_child, args=(shared, n, ok))
        child.start()
        child.join(30)
        results.append(bool(ok.value))
    assert results == [True, False]
    assert shared.value == 900
    monkeypatch.setattr(bundle, "_budget", None)


def _slow_bundle(kept: int, tail: int) -> bytes:
    """A host bundle whose ``cmd/dmesg.txt`` holds ``kept`` bytes (all kept in memory), then a
    ``sys/`` member of ``tail`` zeros (64 KiB kept, but decompressed whole, so the bundle holds
    its memory while it is read), packed by hand: a few MB."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing
    parts = []
    for name, size in (("h/cmd/dmesg.txt", kept), ("h/sys/devices/zeros", tail)):
        info = tarfile.TarInfo(name)
        info.size = size
        parts.append(packer.compress(info.tobuf(tarfile.GNU_FORMAT)))
        parts += [packer.compress(bytes(1 << 20)) for _ in range(size >> 20)]
    info = tarfile.TarInfo("h/sys/bus/pci/devices")
    info.type = tarfile.DIRTYPE
    parts += [packer.compress(info.tobuf(tarfile.GNU_FORMAT) + bytes(1024)), packer.flush()]
    return b"".join(parts)


def test_scan_j4_holds_one_memory_budget_across_its_workers(tmp_path: Path) -> None:
    """The issue's repro: four bombs with ``-j 4``. Each bundle holds 40 MiB while it is read;
    the budget is 100 MiB, which each bundle alone fits, and two at once. Four workers read
    at once, so a per-worker budget would let all four through (160 MiB held); the one
    shared budget refuses the bundle that would pass 100 MiB. With a 200 MiB budget the same
    run scans all four: the refusal is the sum across workers."""
    data = _slow_bundle(40 << 20, 300 << 20)
    args = [sys.executable, "-m", "pcipass", "scan", "-j", "4", "-f", "json"]
    for i in range(4):
        (tmp_path / f"h{i}.tar.gz").write_bytes(data)
        args += ["--host", str(tmp_path / f"h{i}.tar.gz")]

    def run(budget: int) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, bundle.MEMORY_ENV: str(budget)}
        return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120,
                              check=False)

    refused = run(100 << 20)
    assert refused.returncode == 2, refused.stderr
    assert ("bundles read at once would hold more than 104,857,600 bytes (set "
            "PCIPASS_BUNDLE_MEMORY to raise the bound, or read fewer at once)") in refused.stderr
    fits = run(200 << 20)
    assert fits.returncode == 0, fits.stderr
    assert len(json.loads(fits.stdout)["hosts"]) == 4


def test_too_many_members_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle, "MAX_MEMBERS", 10)
    archive = tmp_path / "many.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(11):
            member(tar, f"h/f{i}", b"x")
    with pytest.raises(hostroot.HostRootInvalid, match="more than 10 members"):
        roots.open_root(archive)


@pytest.mark.parametrize("data", [b"", b"\x1f\x8b", b"\x1f\x8b\x08\x00" + b"\xff" * 64,
                                  gzip.compress(b"\0" * 100), gzip.compress(b"x" * 600)])
def test_truncated_or_corrupt_archives_are_host_root_errors(tmp_path: Path, data: bytes) -> None:
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(data)
    try:
        root = roots.open_root(archive)
    except hostroot.HostRootInvalid as exc:
        assert str(archive) in str(exc)
    else:  # an empty archive is a valid (empty) bundle
        with root:
            assert root.listdir("") == []


def test_a_truncated_real_bundle_is_a_host_root_error(tmp_path: Path) -> None:
    data = (SHARED / "corpus/realkernel/lab-iommu.tar.gz").read_bytes()
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(hostroot.HostRootInvalid, match="cannot read the bundle"):
        roots.open_root(archive)


# -- the same answers as the unpacked tree ----------------------------------------------------


def _without_root(doc: dict[str, object]) -> dict[str, object]:
    host = dict(doc["hosts"][0])  # type: ignore[index]
    host.pop("root")
    host.pop("kind")
    return host


@pytest.mark.parametrize("profile", sorted(set(fakehost.PROFILES) - {"bench-8x128"}))
def test_a_bundle_scans_exactly_as_its_unpacked_tree(tmp_path: Path, profile: str) -> None:
    built = fakehost.build(tmp_path / "tree" / "h", fakehost.PROFILES[profile])
    archive = fakehost.pack(built, tmp_path / "h.tar.gz")
    from_dir = to_json(scan.scan_hosts([built.root]))
    from_bundle = to_json(scan.scan_hosts([archive]))
    assert _without_root(from_bundle) == _without_root(from_dir)


@pytest.mark.parametrize("name", ["lab-iommu", "lab-noiommu"])
def test_real_kernel_bundles_scan_as_their_unpacked_trees(tmp_path: Path, name: str) -> None:
    archive = SHARED / "corpus/realkernel" / f"{name}.tar.gz"
    unpack_trusted(archive, tmp_path)  # the test unpacks; pcipass never does
    from_dir = to_json(scan.scan_hosts([tmp_path / name]))
    from_bundle = to_json(scan.scan_hosts([archive]))
    assert _without_root(from_bundle) == _without_root(from_dir)
    assert len(from_bundle["hosts"][0]["devices"]) > 5


def test_non_utf8_member_names_are_kept_as_escapes(tmp_path: Path) -> None:
    archive = tmp_path / "h.tar.gz"
    with tarfile.open(archive, "w:gz", encoding="utf-8", errors="surrogateescape") as tar:
        member(tar, "h/etc/nova/nova.conf.d/bad\udcff.conf", b"[pci]\n")
        member(tar, "h/etc/hostname", b"h\n")
    with roots.open_root(archive) as root:
        assert root.listdir("etc/nova/nova.conf.d") == ["bad\udcff.conf"]
        assert root.read_text("etc/nova/nova.conf.d/bad\udcff.conf") == "[pci]"


@pytest.mark.parametrize(("text", "why"), [
    ("[" * 100_000, "nested 100000 levels deep (at most 200)"),
    ('{"hostname": ' + "9" * 5000 + "}", "an integer of 5000 digits (at most 4300)"),
])
def test_a_hostile_manifest_is_an_error(tmp_path: Path, text: str, why: str) -> None:
    """Beyond the JSON bounds (a RecursionError or ValueError once: exit 255, issue 9 point 2),
    manifest.json makes the bundle invalid: exit 2 naming the file and the bound. (Malformed
    JSON is only a warning: test_hostroot.test_malformed_manifest_is_a_warning_not_a_crash.)"""
    archive = tmp_path / "h.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member(tar, "h/sys/bus/pci/devices", kind=tarfile.DIRTYPE)
        member(tar, "h/manifest.json", text.encode())
    expected = f"Invalid host root {archive}: manifest.json: {why}"
    held = bundle.budget()._local
    with pytest.raises(hostroot.HostRootInvalid) as refused:
        roots.open_root(archive)
    assert refused.value.message == expected
    assert bundle.budget()._local == held  # the refused bundle's memory is given back
    for command in ("scan", "doctor"):
        result = run_cli([command, "--host", str(archive), "-f", "json"])
        assert result.code == 2, result.err
        assert f"pcipass {command}: {expected}" in result.err
    unpack_trusted(archive, tmp_path)  # the same file in a host-root directory
    result = run_cli(["scan", "--host", str(tmp_path / "h"), "-f", "json"])
    assert result.code == 2
    assert f"pcipass scan: Invalid host root {tmp_path / 'h'}: manifest.json: {why}" in result.err
