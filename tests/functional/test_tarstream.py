"""The bundle's tar reader (adapters.tarstream): what tarfile writes, it reads the same; what is
cut or corrupt anywhere, it refuses, so a broken bundle never reads as a smaller host."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
from pathlib import Path

import pytest

from pcipass.adapters import bundle, tarstream
from pcipass.adapters.hostroot import HostRootInvalid


def archive(fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A small host-like archive: long names (over 100 bytes, so pax or GNU records), a
    symlink, a hard link, a directory, a FIFO, an empty file, a file of more than one block
    and a UTF-8 name."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        def add(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE,
                link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size = kind, link, len(data)
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
        add("h", kind=tarfile.DIRTYPE)
        add("h/etc/hostname", b"h\n")
        deep = "h/sys/devices/pci0000:80/" + "/".join(["0000:80:01.0"] * 9) + "/vendor"
        add(deep, b"0x8086\n")
        add("h/sys/bus/pci/devices/0000:80:01.0", kind=tarfile.SYMTYPE,
            link="../../../devices/pci0000:80/0000:80:01.0")
        add("h/hard", kind=tarfile.LNKTYPE, link="h/etc/hostname")
        add("h/fifo", kind=tarfile.FIFOTYPE)
        add("h/empty")
        add("h/cmd/dmesg.txt", b"DMAR: IOMMU enabled\n" * 200)
        add("h/\u00e9t\u00e9", b"utf-8 name\n")
    return out.getvalue()


def read_all(data: bytes) -> list[tuple[str, bytes, int, str, bytes]]:
    return [(m.name, m.type, m.size, m.linkname, m.data) for m in tarstream.members(
        io.BytesIO(data), lambda m: m.size, 1 << 30)]


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_every_member_reads_as_tarfile_reads_it(fmt: int) -> None:
    data = archive(fmt)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        want = [(m.name, m.type, m.size if m.isreg() else 0, m.linkname,
                 tar.extractfile(m).read() if m.isreg() else b"")  # type: ignore[union-attr]
                for m in tar.getmembers()]
    got = [(n, t, s if t in tarstream.REGULAR else 0, lk, d) for n, t, s, lk, d in read_all(data)]
    assert got == want
    assert any(len(n) > 100 for n, *_ in got)  # the long name came through pax or GNU L


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress,
                                      lambda b: b], ids=["gzip", "bzip2", "xz", "tar"])
def test_every_cut_point_is_refused(compress: object) -> None:
    """A cut anywhere (tarfile's stream mode takes some of them for the end of the archive)."""
    plain = archive()
    data = compress(plain)  # type: ignore[operator]
    end = len(data)
    if data == plain:  # uncompressed: a cut in the zeros after tar's two end blocks loses nothing
        end = (len(plain.rstrip(b"\0")) + 511) // 512 * 512 + 1024
    step = max(1, end // 97)
    cuts = list(range(1, end, step)) + [end - 1]
    for cut in cuts:
        with pytest.raises(tarstream.TarError):
            read_all(data[:cut])
    assert len(read_all(data)) == 9


def test_concatenated_gzip_members_read_as_one_stream() -> None:
    data = archive()
    half = len(data) // 1024 * 512
    joined = gzip.compress(data[:half]) + gzip.compress(data[half:])
    assert read_all(joined) == read_all(data)


def test_a_corrupt_header_is_refused_not_taken_for_the_end() -> None:
    data = bytearray(archive())
    data[512 + 10] ^= 0x55  # the second member's name: its checksum no longer holds
    with pytest.raises(tarstream.TarError, match="bad checksum"):
        read_all(bytes(data))


def test_data_after_the_end_of_the_archive_is_refused() -> None:
    data = archive() + b"\x01" * 512
    with pytest.raises(tarstream.TarError, match="after the end of the archive"):
        read_all(data)


def test_a_member_keeps_only_what_the_caller_keeps() -> None:
    got = [m for m in tarstream.members(io.BytesIO(archive()), lambda m: 5, 1 << 30)
           if m.name == "h/cmd/dmesg.txt"]
    assert got[0].data == b"DMAR:" and got[0].size == 4000


def test_a_bomb_is_stopped_at_the_bound() -> None:
    info = tarfile.TarInfo("h/zeros")
    info.size = 64 << 20
    data = gzip.compress(info.tobuf() + bytes(info.size) + bytes(1024))
    with pytest.raises(tarstream.TarError, match="bytes decompressed"):
        list(tarstream.members(io.BytesIO(data), lambda m: 0, 1 << 20))


def test_a_truncated_bundle_is_an_invalid_host_root(tmp_path: Path) -> None:
    data = gzip.compress(archive())
    path = tmp_path / "h.tar.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(HostRootInvalid, match="cannot read the bundle .*truncated"):
        bundle.read(str(path))
