"""Stopping a long run: SIGINT, SIGTERM and SIGHUP end it cleanly (contracts §5).

A real ``pcipass scan`` process reads bundles slow enough to be caught in the
middle (each holds a 600 MiB member of zeros, 2.7 MB packed, which the reader
must decompress to reach the end of the archive). The test then signals it as
a terminal (Ctrl-C to the process group), a service manager (SIGTERM to the
parent only) or a closed terminal (SIGHUP) would, and checks the exit code, the
one line on stderr, that the parent and every worker are gone within a second, and
that nothing was left in the temporary directory. The scan reads its compute config
from standard input (``--compute-conf -``), which pcipass keeps in a private
temporary copy for the whole run: the test sees that copy before the signal, so
"nothing left behind" is checked against a file that really existed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
import zlib
from pathlib import Path

import pytest

BUNDLES = 6
ZEROS = 600 << 20
#: The issue's bound: the parent exits and its workers are gone within a second of the signal
#: (about 0.1-0.35 s measured on the 2-CPU test VM with other tests running).
STOP_S = 1.0
COMPUTE_CONF = b'[pci]\ndevice_spec = {"vendor_id": "8086"}\n'


@pytest.fixture(scope="module")
def slow_bundles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("slow")
    info = tarfile.TarInfo("h/cmd/dmesg.txt")
    info.size = ZEROS
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing
    parts = [packer.compress(info.tobuf(tarfile.GNU_FORMAT))]
    block = b"\0" * (1 << 20)
    parts += [packer.compress(block) for _ in range(ZEROS >> 20)]
    parts += [packer.compress(b"\0" * 1024), packer.flush()]
    data = b"".join(parts)
    paths = []
    for i in range(BUNDLES):
        path = base / f"h{i}.tar.gz"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(("sig", "to_group", "jobs", "code"), [
    (signal.SIGINT, True, 2, 130),     # Ctrl-C: the terminal signals the whole group
    (signal.SIGTERM, False, 2, 143),   # a service manager signals the parent only
    (signal.SIGHUP, False, 2, 143),    # a closed terminal: a termination, as SIGTERM
    (signal.SIGINT, True, 1, 130),
    (signal.SIGTERM, False, 1, 143),
])
def test_a_stop_ends_the_run_its_workers_and_its_files(
        slow_bundles: list[Path], tmp_path: Path, sig: signal.Signals, to_group: bool, jobs: int,
        code: int) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    args = [sys.executable, "-m", "pcipass", "scan", "-j", str(jobs), "-f", "json",
            "--compute-conf", "-"]
    for path in slow_bundles:
        args += ["--host", str(path)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    assert proc.stdin is not None
    proc.stdin.write(COMPUTE_CONF)
    proc.stdin.close()
    proc.stdin = None  # written and closed: communicate() only reads
    try:
        deadline = time.monotonic() + 30
        while jobs > 1 and len(_children(proc.pid)) < jobs and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "the scan ended before it could be stopped"
        workers = _children(proc.pid)
        assert len(workers) >= (jobs if jobs > 1 else 0)
        held = [p.name for p in tmpdir.iterdir()]
        assert [n for n in held if n.startswith("pcipass-input-")], held  # the stdin copy
        stopped_at = time.monotonic()
        if to_group:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        while (proc.poll() is None or any(_alive(w) for w in workers)) and \
                time.monotonic() - stopped_at < 60:  # a hang guard; the bound is asserted below
            time.sleep(0.01)
        took = time.monotonic() - stopped_at
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == code, err
    assert out == b""
    lines = err.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"pcipass: stopped by {sig.name} (")
    assert "host roots scanned" in lines[0] and "nothing was left behind" in lines[0]
    assert not [w for w in workers if _alive(w)]
    assert took < STOP_S, f"the parent and its workers took {took:.2f} s to stop"
    assert list(tmpdir.iterdir()) == []


def test_workers_die_with_a_parent_killed_outright(slow_bundles: list[Path]) -> None:
    """SIGKILL cannot be handled: the kernel's parent-death signal stops the workers."""
    args = [sys.executable, "-m", "pcipass", "scan", "-j", "2", "-f", "json"]
    for path in slow_bundles:
        args += ["--host", str(path)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = _children(proc.pid)
        assert len(workers) == 2
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_worker_orphaned_before_it_asked_exits_under_a_subreaper() -> None:
    """The parent can die between the fork and PR_SET_PDEATHSIG.

    The orphan is adopted by a subreaper (here this test process, marked with
    PR_SET_CHILD_SUBREAPER, as a container's init or a CI runner would be), so
    its new parent is not pid 1; the worker must still see it was orphaned.
    """
    import ctypes

    from pcipass.services import workers

    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    try:
        read_end, write_end = os.pipe()
        middle = os.fork()
        if middle == 0:  # the "parent" of the worker: forks it, then dies at once
            os.close(read_end)
            grandparent = os.getpid()
            worker = os.fork()
            if worker == 0:
                os.close(write_end)
                while os.getppid() == grandparent:  # wait to be orphaned
                    time.sleep(0.01)
                try:
                    workers._die_with_parent(grandparent)
                except SystemExit as stop:
                    os._exit(int(stop.code or 0))
                os._exit(0)
            os.write(write_end, str(worker).encode())
            os._exit(0)
        os.close(write_end)
        worker_pid = int(os.read(read_end, 32))
        os.close(read_end)
        os.waitpid(middle, 0)
        _, status = os.waitpid(worker_pid, 0)  # adopted by this process, the subreaper
        assert os.waitstatus_to_exitcode(status) == 143
    finally:
        libc.prctl(36, 0, 0, 0, 0)
