"""An open directory of a host root: many small reads relative to one file descriptor.

A scan reads about 15 attributes of each of a thousand functions; opening each
by its full path would resolve the path again every time. A
:class:`DirHandle` opens the directory once and reads entries relative to its
descriptor, with the same allow-list, jail and warnings as
:class:`~pcipass.adapters.hostroot.HostRoot`'s path-based reads (tests pin
that the two agree on every link shape).

Why the hand-tuned paths stay (``bench/bench_scan.py``, 8 x 128 VFs, 1,040
functions): reading relative to a directory fd, the bus-link fast path
(:func:`open_link`) and listing ``net/`` by path took a scan from 41,516 to
36,269 syscalls and the in-process scan from about 90 to 70 ms; a path syscall
costs 1.2-2.5 us on the CI machine, and a scan makes about 35 per function.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from typing import Protocol

from pcipass.adapters.rootfiles import (
    MAX_TEXT_BYTES,
    READ_FLAGS,
    Unreadable,
    read_fd,
    require_regular,
)
from pcipass.adapters.sysallow import ALLOWED_FAST, check_allowed



class RootLike(Protocol):
    """What a directory handle asks of its host root (:class:`~pcipass.adapters.hostroot.HostRoot`):
    a handle is made by a root and falls back on it for links and odd entries."""

    live: bool
    _heads: dict[tuple[str, str], str]

    def read_bytes(self, rel: str, warnings: list[str] | None = None, *,
                   limit: int = MAX_TEXT_BYTES) -> bytes | None: ...

    def opendir(self, rel: str, warnings: list[str] | None = None) -> DirHandle: ...

    def _walk(self, cur: str, components: list[str], hops: list[int]) -> str: ...

    def _link_inside(self, base: str, target: str) -> bool: ...


class DirHandle:
    """An open directory of a host root: names, small reads and links relative to its fd."""

    def __init__(self, root: RootLike, rel: str, real: str | None, warnings: list[str],
                 fd: int | None = None) -> None:
        self.root = root
        self.rel = rel
        self.real = real
        self.warnings = warnings
        self.fd: int | None = fd
        self._names: frozenset[str] | None = None
        self._subdirs: frozenset[str] = frozenset()
        self._verified: set[str] = set()  # "dir/sub" paths proven real (no link) by a listing
        self.missing = real is None
        if real is None or fd is not None:
            return
        try:
            self.fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            self.missing = True
        except NotADirectoryError:
            warnings.append(f"{rel}: expected a directory")
        except OSError as exc:
            warnings.append(f"{rel}: cannot list ({exc.strerror})")

    @property
    def is_open(self) -> bool:
        """False when the directory is missing or could not be opened."""
        return self.fd is not None

    @property
    def names(self) -> frozenset[str]:
        """Entry names (listed on first use)."""
        if self._names is None:
            self._names = frozenset()
            if self.fd is not None:
                try:
                    self._names = frozenset(os.listdir(self.fd))
                except OSError as exc:
                    self.warnings.append(f"{self.rel}: cannot list ({exc.strerror})")
        return self._names

    def real_subdirs(self) -> list[str]:
        """Names of entries that are real directories (not links), from one listing.

        Their files can be read with :meth:`read_text` as ``"<subdir>/<file>"``
        without opening the subdirectory first.
        """
        if self.fd is None:
            return []
        try:
            with os.scandir(self.fd) as it:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        except OSError as exc:
            self.warnings.append(f"{self.rel}: cannot list ({exc.strerror})")
            return []
        self._names = frozenset(name for name, _ in entries)
        subdirs = sorted(name for name, is_dir in entries if is_dir)
        self._subdirs = frozenset(subdirs)
        for name, is_dir in entries:
            if not is_dir:
                self.warnings.append(f"{self.rel}/{name}: expected a directory; ignored")
        return subdirs

    def nested_real_subdirs(self, name: str) -> list[str] | None:
        """Real subdirectories of this directory's real (not linked) subdirectory ``name``.

        Their files can then be read as ``"<name>/<sub>/<file>"``. This costs six
        syscalls where opening ``name`` and listing its fd costs ten, which counts
        for the ``net`` directory of a thousand VFs. Returns ``[]`` when ``name`` is
        missing, and ``None`` when it is a link or odd: the caller then takes the
        general path (:meth:`subdir`), which resolves and reports it.
        """
        if self.fd is None or self.real is None:
            return []
        try:
            os.readlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            return []
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: it exists and is not a link
                return None
        else:
            return None  # a link
        try:
            with os.scandir(f"{self.real}/{name}") as it:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        except OSError:
            return None
        subdirs = sorted(sub for sub, is_dir in entries if is_dir)
        self._verified.update(f"{name}/{sub}" for sub in subdirs)
        for sub, is_dir in entries:
            if not is_dir:
                self.warnings.append(f"{self.rel}/{name}/{sub}: expected a directory; ignored")
        return subdirs

    def subdir(self, name: str, *, link: bool = False, warnings: list[str] | None = None) -> DirHandle:
        """Open the subdirectory ``name`` without following links (a link is resolved by hand).

        :param link: ``name`` is expected to be a symlink (a ``sys/bus/pci/devices``
            entry): resolve it straight away rather than try it as a directory first.
        :param warnings: where the new handle reports (default: this handle's list).
        """
        rel = f"{self.rel}/{name}"
        sink = self.warnings if warnings is None else warnings
        if self.fd is None or self.real is None:
            return DirHandle(self.root, rel, None, sink, fd=None)
        if link:
            return open_link(self.root, self, name, sink)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=self.fd)
        except FileNotFoundError:
            return DirHandle(self.root, rel, None, sink, fd=None)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # a link (or not a dir): resolve by hand
                return open_link(self.root, self, name, sink)
            sink.append(f"{rel}: cannot list ({exc.strerror})")
            return DirHandle(self.root, rel, None, sink, fd=None)
        return DirHandle(self.root, rel, f"{self.real}/{name}", sink, fd=fd)

    def __enter__(self) -> DirHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def read_text(self, name: str, *, limit: int = MAX_TEXT_BYTES) -> str | None:
        """Read entry ``name`` (allow-listed under sys/); ``None`` when missing or unreadable.

        A plain attribute of an unlisted directory is read inline (a scan reads
        thousands); anything else, or any error, goes through :meth:`read_bytes`.
        """
        if self._names is None and self.fd is not None and name in ALLOWED_FAST:
            try:
                fd = self._open_regular(name)
            except FileNotFoundError:
                return None
            except (OSError, Unreadable):
                fd = -1  # a link or an odd entry: read_bytes says why
            if fd >= 0:
                try:
                    return read_fd(fd, limit).decode("utf-8", "replace").strip()
                except Unreadable as exc:
                    self.warnings.append(f"{self.rel}/{name}: {exc.args[0]}")
                    return None
        data = self.read_bytes(name, limit=limit)
        return None if data is None else data.decode("utf-8", "replace").strip()

    def read_bytes(self, name: str, *, limit: int = MAX_TEXT_BYTES) -> bytes | None:
        """Read at most ``limit`` bytes of entry ``name``; the hot path of a scan, so it is
        one open, one read and one close when nothing is odd."""
        if name not in ALLOWED_FAST or self._names is not None:
            limit = check_allowed(f"{self.rel}/{name}", limit)
            verified = "/" in name and name.rpartition("/")[0] in self._verified
            if self.fd is None or (self._names is not None and name not in self._names
                                   and name.partition("/")[0] not in self._subdirs and not verified):
                return None
            if "/" in name and name.partition("/")[0] not in self._subdirs and not verified:
                raise ValueError(f"{self.rel}/{name}: only files of listed real subdirectories "
                                 "can be read by path")
        elif self.fd is None:
            return None
        try:
            fd = self._open_regular(name)
        except FileNotFoundError:
            return None
        except Unreadable as exc:
            self.warnings.append(f"{self.rel}/{name}: {exc.args[0]}")
            return None
        except OSError as exc:
            rel = f"{self.rel}/{name}"
            if exc.errno == errno.ENOTDIR:
                return None
            if exc.errno != errno.ELOOP:
                self.warnings.append(f"{rel}: cannot read ({exc.strerror})")
                return None
            return self.root.read_bytes(rel, self.warnings, limit=limit)  # a link: resolve by hand
        try:
            return read_fd(fd, limit)
        except Unreadable as exc:
            self.warnings.append(f"{self.rel}/{name}: {exc.args[0]}")
            return None

    def _open_regular(self, name: str) -> int:
        """Open entry ``name`` for reading.

        In a host root that is not the live ``/``, the entry is looked at first
        and only a regular file is opened: opening a device node or a FIFO can
        act on a device, and would read this machine's data as the host's. A link
        raises ``OSError(ELOOP)`` so the caller resolves it by hand. The live
        root skips the look (sysfs and procfs hold regular files): it costs a
        syscall per attribute, about 15 per function.
        """
        if not self.root.live:
            mode = os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                raise OSError(errno.ELOOP, "a symlink")
            require_regular(mode)
        return os.open(name, READ_FLAGS, dir_fd=self.fd)

    def readlink(self, name: str) -> str | None:
        """The target text of link ``name``; ``None`` (with a warning) when it leaves the root."""
        if self.fd is None or self.real is None or (self._names is not None and name not in self._names):
            return None
        rel = f"{self.rel}/{name}"
        try:
            target = os.readlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                self.warnings.append(f"{rel}: expected a symlink, found a regular entry")
            else:
                self.warnings.append(f"{rel}: cannot read link ({exc.strerror})")
            return None
        if not self.root._link_inside(self.real, target):
            self.warnings.append(f"{rel}: symlink to {target} leads outside the host root; not followed")
            return None
        return target

    def link_name(self, name: str) -> str | None:
        target = self.readlink(name)
        if target is None:
            return None
        return posixpath.basename(target.rstrip("/")) or None


def open_link(root: RootLike, parent: DirHandle, name: str, warnings: list[str]) -> DirHandle:
    """Open ``parent/name`` when it is a link (a ``sys/bus/pci/devices`` entry), cheaply.

    The link is read relative to the parent's fd and its directories are
    walked by hand as :meth:`HostRoot._walk` does (cached, so usually no syscall);
    only the last component is opened, with ``O_NOFOLLOW``, which proves
    it is a real directory without a ``readlink`` first. Anything else
    (absolute, dotted or odd targets, errors) takes the general path,
    which reports it exactly as :meth:`HostRoot.opendir` always has.
    """
    rel = f"{parent.rel}/{name}"
    assert parent.fd is not None and parent.real is not None
    try:
        target = os.readlink(name, dir_fd=parent.fd)
    except OSError:
        return root.opendir(rel, warnings)
    head, _, last = target.rpartition("/")
    if root.live or not last or last in (".", "..") or target.startswith("/"):
        return root.opendir(rel, warnings)
    try:
        cur = root._heads.get((parent.real, head)) if head else parent.real
        if cur is None:  # every VF of a PF links through the same directories
            cur = root._heads[parent.real, head] = root._walk(parent.real, head.split("/"), [1])
        path = f"{cur}/{last}"
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (OSError, Unreadable):
        return root.opendir(rel, warnings)
    return DirHandle(root, rel, path, warnings, fd=fd)
