"""One bounded, non-blocking read of a file a user names: what it reads and what it refuses."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from pcipass.adapters import boundedread


def test_regular_file_up_to_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert boundedread.read_bounded(path, 10) == b"x" * 10
    with pytest.raises(boundedread.FileTooLarge, match="larger than 9 bytes"):
        boundedread.read_bounded(path, 9)


@pytest.mark.parametrize(("limit", "said"), [(16 << 20, "16 MiB"), (65536, "65,536 bytes"),
                                             ((1 << 20) + 1, "1,048,577 bytes")])
def test_bounds_are_said_in_mib_or_bytes(limit: int, said: str) -> None:
    assert boundedread.describe_size(limit) == said


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        boundedread.read_bounded(tmp_path, 10)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(boundedread.NotRegularFile) as exc:
        boundedread.read_bounded(fifo, 10)
    assert exc.value.strerror == "not a regular file (a FIFO)"


def test_devices_and_sockets_are_named() -> None:
    with pytest.raises(boundedread.NotRegularFile, match=r"\(a character device\)"):
        boundedread.read_bounded("/dev/zero", 10)
    with socket.socket(socket.AF_UNIX) as sock:
        assert boundedread.not_regular(os.fstat(sock.fileno()).st_mode) == \
            "not a regular file (a socket)"


def test_an_allowed_fifo_waits_for_its_writer_and_keeps_the_bound(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def write(data: bytes) -> threading.Thread:
        def run() -> None:
            with open(fifo, "wb") as f:  # blocks until the reader opens
                f.write(data)
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    thread = write(b"a" * 100_000)  # more than a pipe buffer: read in pieces
    assert boundedread.read_bounded(fifo, 100_000, allow_fifo=True) == b"a" * 100_000
    thread.join()
    thread = write(b"a" * 11)
    with pytest.raises(boundedread.FileTooLarge):
        boundedread.read_bounded(fifo, 10, allow_fifo=True)
    thread.join()


def test_symlinks_are_refused_when_asked_and_paths_may_be_relative(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"t")
    (tmp_path / "link").symlink_to("target")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert boundedread.read_bounded("link", 5, dir_fd=fd) == b"t"
        with pytest.raises(OSError):
            boundedread.read_bounded("link", 5, dir_fd=fd, follow_symlinks=False)
    finally:
        os.close(fd)
