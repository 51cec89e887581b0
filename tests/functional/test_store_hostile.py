"""A broken read must never look like a hot-unplug: ``agent --once`` on a broken host root, a
truncated bundle, a config error or a corrupt row changes nothing in the store and says why,
with exit code 2 (issue 13), on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from storedb import VFS, Store, build_host, ready, store  # noqa: F401 - fixtures
from support import run_cli

from pcipass.adapters.store import models, queries

DEVICES = "sys/bus/pci/devices"


def _snapshot(s: Store) -> tuple[Any, ...]:
    return (queries.devices(s.engine), queries.audit(s.engine), queries.hosts(s.engine),
            queries.claims(s.engine))


def _stored(s: Store, tmp_path: Path) -> tuple[Any, ...]:
    result = run_cli(["agent", "--once", "--host", str(build_host(tmp_path / "good")),
                      "--db", s.url])
    assert result.code == 0, result.err
    snap = _snapshot(s)
    assert [d.address for d in snap[0]] == list(VFS)
    return snap


def _no_devices_dir(root: Path) -> None:
    shutil.rmtree(root / DEVICES)


def _broken_link(root: Path) -> None:
    link = root / DEVICES / VFS[3]
    link.unlink()
    link.symlink_to("../../../devices/pci0000:80/nowhere")


def _link_outside(root: Path) -> None:
    link = root / DEVICES / VFS[3]
    target = os.readlink(link)
    link.unlink()
    link.symlink_to("../../../../../../../../.." + str((root / DEVICES).resolve() / target))


def _garbled_attribute(root: Path) -> None:
    # read as it is, the VF's NUMA node would be unknown: a change the store must not take
    ((root / DEVICES / VFS[2]).resolve() / "numa_node").write_text("\x00\x00garbage\n")


BROKEN_ROOTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "no sys/bus/pci/devices": (_no_devices_dir, "sys/bus/pci/devices"),
    "a device's broken link": (_broken_link, VFS[3]),
    "a device's link out of the root": (_link_outside, "leads outside the host root"),
    "a garbled attribute": (_garbled_attribute, f"{VFS[2]}/numa_node: unexpected content"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_ROOTS))
def test_a_broken_host_root_changes_nothing(ready: Store, tmp_path: Path, case: str) -> None:
    before = _stored(ready, tmp_path)
    breaks, named = BROKEN_ROOTS[case]
    root = build_host(tmp_path / "broken")
    breaks(root)
    result = run_cli(["agent", "--once", "--host", str(root), "--db", ready.url])
    assert result.code == 2, (result.out, result.err)
    assert "the discovery is not clean, so the device store was left untouched" in result.err
    assert named in result.err
    assert "Traceback" not in result.err
    assert _snapshot(ready) == before


def test_a_truncated_bundle_changes_nothing(ready: Store, tmp_path: Path) -> None:
    before = _stored(ready, tmp_path)
    root = build_host(tmp_path / "two", vfs=2)  # read whole, it would remove two VFs
    bundle = tmp_path / "compute-7.tar.gz"
    data = gzip.compress(_tar_bytes(root), mtime=0)
    bundle.write_bytes(data[: len(data) // 2])
    result = run_cli(["agent", "--once", "--host", str(bundle), "--db", ready.url])
    assert result.code == 2
    assert str(bundle) in result.err
    assert "cannot read the bundle" in result.err or "truncated" in result.err
    assert _snapshot(ready) == before


def _tar_bytes(root: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(root, arcname="compute-7")
    return out.getvalue()


def test_a_bundle_cut_at_a_member_boundary_changes_nothing(ready: Store, tmp_path: Path) -> None:
    """A collector that died mid-archive: every member before the cut is whole and the gzip
    stream is whole; read as it is, the host would lose its last VFs. Only the missing
    end-of-archive blocks tell."""
    before = _stored(ready, tmp_path)
    data = _tar_bytes(build_host(tmp_path / "four"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        cut = next(m.offset for m in tar.getmembers() if VFS[2] in m.name)
    bundle = tmp_path / "compute-7.tar.gz"
    bundle.write_bytes(gzip.compress(data[:cut]))
    result = run_cli(["agent", "--once", "--host", str(bundle), "--db", ready.url])
    assert result.code == 2, (result.out, result.err)
    assert "cannot read the bundle" in result.err and "truncated" in result.err
    assert _snapshot(ready) == before


def test_a_bundle_cut_anywhere_changes_nothing(ready: Store, tmp_path: Path) -> None:
    """tarfile's stream mode took about one cut point in ten of a .tar.gz for the end of the
    archive; cut at any of these points, the bundle must never look like a smaller host."""
    before = _stored(ready, tmp_path)
    data = gzip.compress(_tar_bytes(build_host(tmp_path / "four")), mtime=0)
    bundle = tmp_path / "compute-7.tar.gz"
    for cut in range(len(data) // 2, len(data) - 8, max(1, len(data) // 24)):
        bundle.write_bytes(data[:cut])
        result = run_cli(["agent", "--once", "--host", str(bundle), "--db", ready.url])
        assert result.code == 2, (cut, result.out, result.err)
        assert "cannot read the bundle" in result.err
    assert _snapshot(ready) == before


def test_a_whole_bundle_is_stored_as_its_tree(ready: Store, tmp_path: Path) -> None:
    before = _stored(ready, tmp_path)
    bundle = tmp_path / "compute-7.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        tar.add(tmp_path / "good", arcname="compute-7")
    result = run_cli(["agent", "--once", "--host", str(bundle), "--db", ready.url, "-f", "json"])
    assert result.code == 0, result.err
    assert result.json()["applied"]["changes"] == []
    assert queries.devices(ready.engine) == before[0]


@pytest.mark.parametrize(("conf", "named"), [
    ('[pci]\ndevice_spec = {"vendor_id": "8086", "product_id": \n', "config error"),
    ('[pci]\ndevice_spec = {"vendor_id": "8086", "product_id": "154c", "address": "0000:81:02.0", '
     '"devname": "eth0"}\n', "PciDeviceInvalidDeviceName"),
    ("[pci\ndevice_spec = x\n", "config error"),
    (None, "no compute config"),
])
def test_a_config_error_changes_nothing(ready: Store, tmp_path: Path, conf: str | None,
                                        named: str) -> None:
    before = _stored(ready, tmp_path)
    root = build_host(tmp_path / "conf")
    path = root / "etc/nova/nova.conf"
    if conf is None:
        path.unlink()
    else:
        path.write_text(conf)
    result = run_cli(["agent", "--once", "--host", str(root), "--db", ready.url])
    assert result.code == 2, (result.out, result.err)
    assert "left untouched" in result.err and named in result.err
    assert _snapshot(ready) == before


def _link_out(conf_d: Path) -> None:
    (conf_d / "10-pci.conf").symlink_to("/etc/passwd")


def _fifo(conf_d: Path) -> None:
    os.mkfifo(conf_d / "10-pci.conf")


@pytest.mark.parametrize(("make", "named"), [(_link_out, "leads outside the host root"),
                                             (_fifo, "not a regular file")])
def test_a_compute_config_file_not_read_changes_nothing(ready: Store, tmp_path: Path,
                                                        make: Callable[[Path], None],
                                                        named: str) -> None:
    """nova.conf.d/10-pci.conf left unread: its device_spec entries would be missing, and every
    device they match would look unplugged."""
    before = _stored(ready, tmp_path)
    root = build_host(tmp_path / "conf")
    (root / "etc/nova/nova.conf.d").mkdir()
    make(root / "etc/nova/nova.conf.d")
    result = run_cli(["agent", "--once", "--host", str(root), "--db", ready.url])
    assert result.code == 2, (result.out, result.err)
    assert "etc/nova/nova.conf.d/10-pci.conf" in result.err and named in result.err
    assert _snapshot(ready) == before


def test_a_broken_manifest_changes_nothing(ready: Store, tmp_path: Path) -> None:
    """The host's name would fall back to the directory's: its devices stored under another
    host."""
    before = _stored(ready, tmp_path)
    root = build_host(tmp_path / "named")
    (root / "manifest.json").write_text('{"schema": "pcipass-bundle/1", "hostname": ')
    result = run_cli(["agent", "--once", "--host", str(root), "--db", ready.url])
    assert result.code == 2 and "manifest.json: not valid JSON" in result.err
    assert _snapshot(ready) == before


def test_a_host_name_too_long_for_the_store_is_refused(ready: Store, tmp_path: Path) -> None:
    root = build_host(tmp_path / "long")
    (root / "manifest.json").write_text(json.dumps({"schema": "pcipass-bundle/1",
                                                    "hostname": "x" * 300}))
    result = run_cli(["agent", "--once", "--host", str(root), "--db", ready.url])
    assert result.code == 2
    assert "the host name is 300 characters long; the store keeps names of up to 255" in result.err
    assert queries.hosts(ready.engine) == ()


def test_a_host_name_that_is_not_text_is_refused(ready: Store, tmp_path: Path) -> None:
    root = build_host(tmp_path / "odd")
    (root / "manifest.json").write_text(json.dumps({"schema": "pcipass-bundle/1",
                                                    "hostname": "a\x00b"}))
    result = run_cli(["agent", "--once", "--host", str(root), "--db", ready.url])
    assert result.code == 2, (result.out, result.err)
    assert "holds a NUL or bytes that are not UTF-8" in result.err
    assert queries.hosts(ready.engine) == ()


def test_a_host_path_that_is_not_utf8_is_stored_readably(ready: Store, tmp_path: Path) -> None:
    root = build_host(tmp_path / "plain")
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/odd-\xff"))
    root.rename(odd)
    result = run_cli(["agent", "--once", "--host", str(odd), "--db", ready.url])
    assert result.code == 0, result.err
    (host,) = queries.hosts(ready.engine)
    assert host.source is not None and host.source.endswith("odd-\\xff")


def test_a_missing_host_root_changes_nothing(ready: Store, tmp_path: Path) -> None:
    before = _stored(ready, tmp_path)
    result = run_cli(["agent", "--once", "--host", str(tmp_path / "nope"), "--db", ready.url])
    assert result.code == 2 and "no such file or directory" in result.err
    assert _snapshot(ready) == before


def test_a_corrupt_row_stops_the_run_before_anything_is_written(ready: Store,
                                                                tmp_path: Path) -> None:
    _stored(ready, tmp_path)
    with ready.engine.begin() as conn:
        conn.execute(update(models.Device).where(models.Device.address == VFS[0])
                     .values(extra_info="[not an object"))
    audit = queries.audit(ready.engine)
    result = run_cli(["agent", "--once", "--host", str(build_host(tmp_path / "two", vfs=2)),
                      "--db", ready.url])
    assert result.code == 2
    assert f"compute-7 {VFS[0]} extra_info: not a JSON object" in result.err
    assert queries.audit(ready.engine) == audit
    listing = run_cli(["devices", "--db", ready.url])
    assert listing.code == 2 and "unreadable value" in listing.err
