"""Host roots: directories, bundles, hostnames, and reads that never leave the root."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from pcipass.adapters import hostroot, roots, sysallow


def make_tree(base: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


def add_member(tar: tarfile.TarFile, name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE,
               linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


# -- hostnames -------------------------------------------------------------------------------


def test_hostname_prefers_manifest_then_etc_hostname_then_dir_name(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "dir-a", {"manifest.json": json.dumps({"hostname": "from-manifest"}),
                                       "etc/hostname": "from-etc\n"})
    b = make_tree(tmp_path / "dir-b", {"etc/hostname": "compute-7.example  \n"})
    c = make_tree(tmp_path / "dir-c", {"proc/cmdline": "quiet\n"})
    assert roots.open_root(a).name == "from-manifest"
    assert roots.open_root(b).name == "compute-7.example"
    assert roots.open_root(c).name == "dir-c"


def test_malformed_manifest_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    root = roots.open_root(make_tree(tmp_path / "h1", {"manifest.json": "{not json",
                                                             "etc/hostname": "h-etc\n"}))
    assert root.name == "h-etc"
    assert root.manifest is None
    assert len(root.warnings) == 1 and root.warnings[0].startswith("manifest.json: not valid JSON")


def test_manifest_with_a_non_string_hostname_falls_back(tmp_path: Path) -> None:
    root = roots.open_root(make_tree(tmp_path / "h2", {"manifest.json": '{"hostname": 7}'}))
    assert root.name == "h2"
    assert root.warnings == ["manifest.json: hostname is not a non-empty string; ignored"]


def test_missing_path_is_a_host_root_error(tmp_path: Path) -> None:
    with pytest.raises(hostroot.HostRootInvalid) as info:
        roots.open_root(tmp_path / "nope")
    assert info.value.code == "HostRootInvalid"
    assert "no such file or directory" in info.value.message


def test_a_plain_file_is_not_a_host_root(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(hostroot.HostRootInvalid, match="directory or a .tar.gz"):
        roots.open_root(path)


@pytest.mark.parametrize("name", ["fifo", "fifo.tar.gz"])
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path, name: str) -> None:
    # Opening a FIFO for reading waits for a writer: the tar check must never open it.
    os.mkfifo(tmp_path / name)
    with pytest.raises(hostroot.HostRootInvalid) as info:
        roots.open_root(tmp_path / name)
    assert "not a regular file (a FIFO)" in info.value.message


def test_live_root() -> None:
    root = roots.open_root("/")
    assert root.live
    assert root.name  # etc/hostname or the kernel's hostname
    assert root.read_text("proc/cmdline") is not None


# -- reads and links -----------------------------------------------------------------------


def test_reads_strip_and_missing_is_silent(tmp_path: Path) -> None:
    root = roots.open_root(make_tree(tmp_path / "r", {"sys/bus/pci/devices/x/vendor": "0x8086\n"}))
    warnings: list[str] = []
    assert root.read_text("sys/bus/pci/devices/x/vendor", warnings) == "0x8086"
    assert root.read_text("sys/bus/pci/devices/x/device", warnings) is None
    assert warnings == []


def test_links_are_followed_inside_the_root(tmp_path: Path) -> None:
    base = make_tree(tmp_path / "r", {"sys/devices/pci0000:00/0000:00:01.0/vendor": "0x10de\n"})
    (base / "sys/bus/pci/devices").mkdir(parents=True)
    os.symlink("../../../devices/pci0000:00/0000:00:01.0", base / "sys/bus/pci/devices/0000:00:01.0")
    root = roots.open_root(base)
    assert root.read_text("sys/bus/pci/devices/0000:00:01.0/vendor") == "0x10de"
    assert root.resolve("sys/bus/pci/devices/0000:00:01.0") == str(
        (base / "sys/devices/pci0000:00/0000:00:01.0").resolve())


def test_a_link_leading_outside_is_unreadable_and_named(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("do not read\n")
    base = make_tree(tmp_path / "r", {"sys/devices/d/class": "0x020000\n"})
    os.symlink("../../../../secret", base / "sys/devices/d/vendor")  # climbs above the root
    os.symlink(str(secret), base / "sys/devices/d/device")  # absolute
    root = roots.open_root(base)
    warnings: list[str] = []
    assert root.read_text("sys/devices/d/vendor", warnings) is None
    assert root.read_text("sys/devices/d/device", warnings) is None
    assert len(warnings) == 2
    assert warnings[0].startswith("sys/devices/d/vendor: symlink to ../../../../secret leads outside")
    assert warnings[1].startswith(f"sys/devices/d/device: symlink to {secret} leads outside")
    resolve_warnings: list[str] = []
    assert root.resolve("sys/devices/d/vendor", resolve_warnings) is None
    assert resolve_warnings == ["sys/devices/d/vendor: symlink to ../../../../secret leads outside "
                                "the host root; not followed"]


def test_a_link_loop_is_detected(tmp_path: Path) -> None:
    base = make_tree(tmp_path / "r", {"sys/x/keep": "1\n"})
    os.symlink("b", base / "sys/x/a")
    os.symlink("a", base / "sys/x/b")
    root = roots.open_root(base)
    warnings: list[str] = []
    assert root.resolve("sys/x/a", warnings) is None
    assert warnings == ["sys/x/a: symlink loop (too many levels of links); not followed"]
    assert root.read_text("sys/x/a/vendor", warnings) is None
    assert len(warnings) == 2 and "loop" in warnings[1]


def test_readlink_and_link_name_check_the_target_lexically(tmp_path: Path) -> None:
    base = make_tree(tmp_path / "r", {"sys/bus/pci/drivers/vfio-pci/bind": ""})
    dev = base / "sys/devices/pci0000:00/0000:00:02.0"
    dev.mkdir(parents=True)
    os.symlink("../../../bus/pci/drivers/vfio-pci", dev / "driver")
    os.symlink("../../../../../../etc/shadow", dev / "iommu_group")
    root = roots.open_root(base)
    warnings: list[str] = []
    assert root.link_name("sys/devices/pci0000:00/0000:00:02.0/driver", warnings) == "vfio-pci"
    assert root.link_name("sys/devices/pci0000:00/0000:00:02.0/iommu_group", warnings) is None
    assert len(warnings) == 1 and "leads outside the host root" in warnings[0]


@pytest.mark.parametrize("name", ["vpd", "rom", "reset", "remove", "rescan", "resource", "resource0",
                                  "resource2_wc"])
def test_dangerous_sysfs_attributes_are_never_opened(tmp_path: Path, name: str) -> None:
    root = roots.open_root(make_tree(tmp_path / "r", {f"sys/devices/d/{name}": "x"}))
    with pytest.raises(sysallow.AttributeNotAllowed, match=name):
        root.read_text(f"sys/devices/d/{name}")


def test_unlisted_sysfs_attributes_are_refused_but_other_files_are_not(tmp_path: Path) -> None:
    root = roots.open_root(make_tree(tmp_path / "r", {"sys/devices/d/irq": "5",
                                                            "cmd/dmesg.txt": "hello"}))
    with pytest.raises(sysallow.AttributeNotAllowed, match="not an allow-listed"):
        root.read_text("sys/devices/d/irq")
    assert root.read_text("cmd/dmesg.txt") == "hello"


def test_config_is_read_only_to_64_bytes(tmp_path: Path) -> None:
    base = tmp_path / "r"
    (base / "sys/devices/d").mkdir(parents=True)
    (base / "sys/devices/d/config").write_bytes(bytes(range(256)) * 16)
    data = roots.open_root(base).read_bytes("sys/devices/d/config", limit=4096)
    assert data == bytes(range(64))


def test_a_fifo_is_named_and_never_opened(tmp_path: Path) -> None:
    base = make_tree(tmp_path / "r", {"sys/devices/d/class": "0x020000\n"})
    os.mkfifo(base / "sys/devices/d/vendor")
    root = roots.open_root(base)
    warnings: list[str] = []
    assert root.read_text("sys/devices/d/vendor", warnings) is None
    assert warnings == ["sys/devices/d/vendor: not a regular file (a FIFO); not read"]
    with root.opendir("sys/devices/d") as handle:
        assert handle.read_text("vendor") is None
        assert handle.read_text("class") == "0x020000"
    assert root.warnings == ["sys/devices/d/vendor: not a regular file (a FIFO); not read"]


def test_a_fifo_on_the_live_root_is_named_not_read_as_empty(tmp_path: Path) -> None:
    # The live root opens without looking first (sysfs holds regular files); a FIFO without a
    # writer then reads as empty, which must still be told apart from an empty file.
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "empty").write_text("")
    rel = str(tmp_path).lstrip("/")
    root = roots.open_root("/")
    assert root.live
    warnings: list[str] = []
    assert root.read_text(f"{rel}/fifo", warnings) is None
    assert root.read_text(f"{rel}/empty", warnings) == ""
    assert warnings == [f"{rel}/fifo: not a regular file (a FIFO); not read"]
    handle_warnings: list[str] = []
    with root.opendir(rel, handle_warnings) as handle:
        assert handle.read_text("fifo") is None
        assert handle.read_bytes("fifo") is None
        assert handle.read_text("empty") == ""
    assert handle_warnings == [f"{rel}/fifo: not a regular file (a FIFO); not read"] * 2


def test_a_directory_where_a_file_is_expected_is_a_warning(tmp_path: Path) -> None:
    base = make_tree(tmp_path / "r", {"sys/devices/d/vendor/oops": "x"})
    warnings: list[str] = []
    assert roots.open_root(base).read_text("sys/devices/d/vendor", warnings) is None
    assert warnings == ["sys/devices/d/vendor: a directory; not read"]


def test_paths_climbing_out_are_refused(tmp_path: Path) -> None:
    root = roots.open_root(make_tree(tmp_path / "r", {"a": "1"}))
    for rel in ("../etc/passwd", "a/../../etc/passwd", "dev/mapper/../../../../etc/shadow"):
        warnings: list[str] = []
        assert root.read_text(rel, warnings) is None
        assert root.readlink(rel, warnings) is None
        assert root.resolve(rel, warnings) is None
        assert root.listdir(rel, warnings) == []
        with root.opendir(rel, warnings) as handle:
            assert not handle.is_open
        assert warnings == [f"{rel}: path leads outside the host root; not read"] * 5


# -- bundles -----------------------------------------------------------------------------


def test_bundle_extracts_its_one_top_level_directory(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "compute-3", {"etc/hostname": "compute-3\n",
                                              "proc/cmdline": "intel_iommu=on\n"})
    bundle = tmp_path / "compute-3.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        tar.add(tree, arcname="compute-3")
    before = set(os.listdir(tmp_path))
    with roots.open_root(bundle) as root:
        assert root.name == "compute-3"
        assert root.source == str(bundle)
        assert root.read_text("proc/cmdline") == "intel_iommu=on"
        assert root.listdir("etc") == ["hostname"]
        assert root.warnings == []
    assert set(os.listdir(tmp_path)) == before  # read in memory: nothing unpacked


def test_bundle_members_that_escape_are_skipped_with_warnings(tmp_path: Path) -> None:
    bundle = tmp_path / "evil.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        add_member(tar, "evil", kind=tarfile.DIRTYPE)
        add_member(tar, "evil/etc/hostname", b"evil\n")
        add_member(tar, "evil/../../escaped", b"x")
        add_member(tar, "/abs/escaped", b"x")
        add_member(tar, "evil/out", kind=tarfile.SYMTYPE, linkname="../../../../etc/passwd")
        add_member(tar, "evil/abs", kind=tarfile.SYMTYPE, linkname="/etc/passwd")
    with roots.open_root(bundle) as root:
        assert root.name == "evil"
        assert root.warnings == [
            "bundle member evil/../../escaped: absolute or '..' path; skipped",
            "bundle member /abs/escaped: absolute or '..' path; skipped",
            "bundle member evil/out: symlink to ../../../../etc/passwd leads outside the bundle; "
            "skipped",
            "bundle member evil/abs: symlink to /etc/passwd leads outside the bundle; skipped",
        ]
        assert root.listdir("") == ["etc"]
        assert root.read_text("out") is None and root.read_text("abs") is None
    assert sorted(os.listdir(tmp_path)) == ["evil.tar.gz"]


def test_bundle_without_one_top_directory_uses_the_archive_root(tmp_path: Path) -> None:
    bundle = tmp_path / "flat.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        add_member(tar, "etc/hostname", b"flat-host\n")
        add_member(tar, "proc/cmdline", b"quiet\n")
    with roots.open_root(bundle) as root:
        assert root.name == "flat-host"
        assert root.warnings == ["flat.tar.gz: expected one top-level directory named after the host, "
                                 "found 2 entries; using the archive root"]


def test_corrupt_bundle_is_a_host_root_error(tmp_path: Path) -> None:
    bundle = tmp_path / "broken.tar.gz"
    bundle.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(hostroot.HostRootInvalid, match="cannot read the bundle"):
        roots.open_root(bundle)


def test_real_kernel_bundles_open_cleanly(shared: Path) -> None:
    for name in ("lab-iommu", "lab-noiommu"):
        with roots.open_root(shared / "corpus/realkernel" / f"{name}.tar.gz") as root:
            assert root.name == name
            assert root.warnings == []
            assert root.manifest is not None and root.manifest["kernel"] == "6.1.0-56-cloud-amd64"
            assert root.link_name("sys/bus/pci/devices/0000:81:00.1/physfn") == "0000:81:00.0"


# -- directory handles: the scan's fast paths agree with the general ones -----------------------


def _link_zoo(base: Path, outside: Path) -> Path:
    """A bus directory whose entries are every shape of link a hostile capture can hold."""
    root = make_tree(base, {"sys/devices/pci0000:00/0000:00:01.0/uevent": "PCI_ID=8086:1572\n",
                            "sys/devices/pci0000:00/0000:00:02.0/uevent": "PCI_ID=8086:1889\n",
                            "sys/devices/afile": "x"})
    bus = root / "sys/bus/pci/devices"
    bus.mkdir(parents=True)
    (root / "sys/devices/alias").symlink_to("pci0000:00")
    (root / "sys/devices/pci0000:00/0000:00:02.0/self").symlink_to("../0000:00:02.0")
    links = {
        "plain": "../../../devices/pci0000:00/0000:00:01.0",
        "via-link": "../../../devices/alias/0000:00:02.0",
        "last-is-link": "../../../devices/pci0000:00/0000:00:02.0/self",
        "trailing-slash": "../../../devices/pci0000:00/0000:00:01.0/",
        "dotted": "../../../devices/pci0000:00/0000:00:01.0/..",
        "absolute": str(outside),
        "climbs-out": "../../../../../outside",
        "climbs-out-late": "../../../devices/../../../outside",
        "broken": "../../../devices/pci0000:00/0000:00:09.0",
        "to-a-file": "../../../devices/afile",
        "loop-a": "loop-b",
        "loop-b": "loop-a",
    }
    for name, target in links.items():
        (bus / name).symlink_to(target)
    (bus / "real-dir").mkdir()
    (bus / "a-file").write_text("x")
    return root


def test_subdir_of_a_link_matches_opendir_for_every_link_shape(tmp_path: Path) -> None:
    """The bus fast path (readlink from the bus fd, O_NOFOLLOW open of the last component)
    ends where the general resolver ends, and reports the same warnings."""
    outside = tmp_path / "outside"
    outside.mkdir()
    root_dir = _link_zoo(tmp_path / "h", outside)
    names = sorted(os.listdir(root_dir / "sys/bus/pci/devices"))
    assert len(names) == 14
    for name in names:
        fast_root, slow_root = hostroot.HostRoot(str(root_dir)), hostroot.HostRoot(str(root_dir))
        fast_warn: list[str] = []
        slow_warn: list[str] = []
        with fast_root.opendir("sys/bus/pci/devices") as bus:
            with bus.subdir(name, link=True, warnings=fast_warn) as fast, \
                    slow_root.opendir(f"sys/bus/pci/devices/{name}", slow_warn) as slow:
                assert (fast.real, fast.fd is None, fast.missing) == \
                       (slow.real, slow.fd is None, slow.missing), name
                assert fast.rel == slow.rel == f"sys/bus/pci/devices/{name}"
                assert fast_warn == slow_warn, name
                assert fast.read_text("uevent") == slow.read_text("uevent"), name
    # and the shapes do what they say
    root = hostroot.HostRoot(str(root_dir))
    with root.opendir("sys/bus/pci/devices") as bus:
        def opened(name: str) -> tuple[str | None, list[str]]:
            warnings: list[str] = []
            with bus.subdir(name, link=True, warnings=warnings) as handle:
                return handle.read_text("uevent"), warnings
        assert opened("plain") == ("PCI_ID=8086:1572", [])
        assert opened("last-is-link") == ("PCI_ID=8086:1889", [])
        assert opened("broken") == (None, [])
        for name in ("absolute", "climbs-out", "climbs-out-late"):
            text, warnings = opened(name)
            assert text is None and len(warnings) == 1 and "leads outside the host root" in warnings[0]
        assert "symlink loop" in opened("loop-a")[1][0]
        assert opened("to-a-file")[1] == ["sys/bus/pci/devices/to-a-file: expected a directory"]


def test_a_bus_link_walk_is_reused_only_for_the_same_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """VFs of one PF link through the same directories; the walk is cached per (dir, head),
    and plain device links never take the general (slower) resolver."""
    outside = tmp_path / "outside"
    outside.mkdir()
    root = hostroot.HostRoot(str(_link_zoo(tmp_path / "h", outside)))
    with root.opendir("sys/bus/pci/devices") as bus:
        def general(*args: object) -> None:
            raise AssertionError(f"general resolver used for {args}")
        monkeypatch.setattr(root, "opendir", general)
        for _ in range(2):
            with bus.subdir("plain", link=True) as a, bus.subdir("via-link", link=True) as b:
                assert a.real is not None and a.real.endswith("/sys/devices/pci0000:00/0000:00:01.0")
                assert b.real is not None and b.real.endswith("/sys/devices/pci0000:00/0000:00:02.0")
    assert root.warnings == []


@pytest.mark.parametrize("kind", ["fifo", "directory", "link-inside", "link-outside", "missing",
                                  "plain"])
def test_handle_read_text_inline_path_matches_the_root_reader(tmp_path: Path, kind: str) -> None:
    """DirHandle.read_text reads plain attributes inline; odd entries give the root reader's answer."""
    base = make_tree(tmp_path / "h", {"sys/dev/vendor": "0x8086\n", "sys/dev/device": "0x1572\n"})
    target = base / "sys/dev/numa_node"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "link-inside":
        target.symlink_to("vendor")
    elif kind == "link-outside":
        target.symlink_to("../../../etc/passwd")
    elif kind == "plain":
        target.write_text(" 1 \n")
    root = hostroot.HostRoot(str(base))
    root_warnings: list[str] = []
    expected = root.read_text("sys/dev/numa_node", root_warnings)
    handle_warnings: list[str] = []
    with root.opendir("sys/dev", handle_warnings) as handle:
        assert handle.read_text("numa_node") == expected
    assert handle_warnings == root_warnings
    assert expected == {"link-inside": "0x8086", "plain": "1"}.get(kind)
    assert bool(root_warnings) == (kind in ("directory", "link-outside", "fifo"))
    if kind == "fifo":
        assert root_warnings == ["sys/dev/numa_node: not a regular file (a FIFO); not read"]
