"""Host roots: the live ``/``, a directory that mirrors a host, or a ``.tar.gz`` bundle.

Every reader of host facts goes through :class:`HostRoot`, so that three
promises hold everywhere (``contracts.md`` §1):

* nothing outside the root is ever read: symlinks are resolved by hand, inside
  the root, and a link that leads outside (or loops) is reported as unreadable;
* only allow-listed sysfs attributes are opened: ``vpd``, ``rom``,
  ``resource*``, ``reset``, ``remove`` and ``rescan`` can hang or change a
  device, and ``config`` is never read past its first 64 bytes;
* an odd file is a warning naming the path, never an exception.

Missing files are normal (an unbound device has no ``driver`` link) and return
``None`` without a warning; unreadable ones return ``None`` with a warning.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from typing import Any

from pcipass.core import errors, jsontext

MAX_TEXT_BYTES = 1 << 16
MAX_CONFIG_BYTES = 64
MAX_LINK_HOPS = 40

FORBIDDEN_ATTRS = frozenset({"vpd", "rom", "reset", "remove", "rescan"})

# sysfs attributes discovery reads. Anything else under sys/ is refused.
ALLOWED_SYS_ATTRS = frozenset({
    # PCI device attributes
    "vendor", "device", "subsystem_vendor", "subsystem_device", "class", "revision",
    "numa_node", "local_cpulist", "driver_override", "modalias", "uevent", "config",
    "sriov_totalvfs", "sriov_numvfs", "sriov_drivers_autoprobe", "sriov_vf_device",
    "sriov_offset", "sriov_stride",
    # net/<ifname>/
    "address", "operstate",
    # NUMA nodes and CPUs
    "cpulist", "meminfo", "online", "possible", "has_cpu", "has_memory",
    "physical_package_id", "core_id", "die_id",
    # iommu groups and modules
    "type", "initstate", "refcnt", "ids",
})


_ALLOWED_FAST = ALLOWED_SYS_ATTRS - {"config"}


class HostRootInvalid(errors.InputError):
    """A ``--host`` argument that is not a usable host root or bundle."""

    msg_fmt = "Invalid host root %(path)s: %(reason)s"


class AttributeNotAllowed(ValueError):
    """Raised when code asks for a sysfs attribute outside the allow-list (a bug, not bad input)."""


class _Unreadable(Exception):
    """Internal: a path that exists but cannot be read safely; ``args[0]`` is the reason."""


class _Escapes(_Unreadable):
    """Internal: a link that leads outside the root; ``named`` once the message names the link."""

    def __init__(self, reason: str, *, named: bool = False) -> None:
        super().__init__(reason)
        self.named = named


class HostRoot:
    """A host's filesystem seen from a root directory; all reads stay inside it.

    Paths given to the methods are relative to the root and use ``/``
    (``"sys/bus/pci/devices"``). Use :meth:`open` to build one, and
    :meth:`close` (or ``with``) to remove a bundle's temporary directory.
    """

    def __init__(self, path: str, *, source: str | None = None, live: bool = False,
                 warnings: list[str] | None = None) -> None:
        self.path = self._root_path(path)
        self.source = source if source is not None else path
        self.live = live
        self.warnings: list[str] = list(warnings or [])
        self._dirs: dict[str, str | None] = {"": self.path}
        self._real: set[str] = set()  # real paths known not to be links
        self._heads: dict[tuple[str, str], str] = {}  # (real dir, link text's dirname) -> real path
        self._prefix = self.path.rstrip("/") + "/"
        self.manifest = self._read_manifest()
        self.name = self._hostname()

    # -- construction -------------------------------------------------------------------

    def _root_path(self, path: str) -> str:
        return os.path.realpath(path)

    @classmethod
    def open(cls, path: str | os.PathLike[str] = "/") -> HostRoot:
        """Open ``/`` (the live host), a root directory, or a ``.tar.gz`` bundle.

        :raises HostRootInvalid: when the path is missing or is neither a
            directory nor a readable gzip tarball.
        """
        text = os.fspath(path)
        if not os.path.exists(text):
            raise HostRootInvalid(path=text, reason="no such file or directory")
        if os.path.isdir(text):
            live = os.path.realpath(text) == "/"
            return cls(text, source=text, live=live)
        import tarfile  # bundles only: keep the live/dir start-up light

        if text.endswith((".tar.gz", ".tgz")) or tarfile.is_tarfile(text):
            from pcipass.adapters import treeroot

            return treeroot.open_bundle(text)
        raise HostRootInvalid(path=text, reason="expected a directory or a .tar.gz bundle")

    def close(self) -> None:
        """Release what the root holds (a bundle's memory; nothing for directories)."""

    def __enter__(self) -> HostRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HostRoot({self.source!r}, name={self.name!r})"

    # -- path resolution ----------------------------------------------------------------

    def resolve(self, rel: str, warnings: list[str] | None = None) -> str | None:
        """Return the real path of ``rel`` inside the root, or ``None``.

        ``None`` without a warning means "missing"; a link that leaves the root
        or loops adds a warning naming ``rel``.
        """
        try:
            return self._resolve(_clean(rel), final=True)
        except FileNotFoundError:
            return None
        except _Unreadable as exc:
            self._warn(warnings, f"{rel}: {exc.args[0]}")
            return None

    def _resolve(self, rel: str, *, final: bool) -> str:
        """Resolve ``rel`` component by component; raise FileNotFoundError or _Unreadable."""
        if not final:
            cached = self._dirs.get(rel, "")
            if cached is None:
                raise FileNotFoundError(rel)
            if cached:
                return cached
        parent, _, name = rel.rpartition("/")
        base = self._resolve(parent, final=False) if parent else self.path
        try:
            real = self._walk(base, [name], [0])
        except FileNotFoundError:
            if not final:
                self._dirs[rel] = None
            raise
        if not final:
            self._dirs[rel] = real
        return real

    def _walk(self, cur: str, components: list[str], hops: list[int]) -> str:
        """Walk ``components`` from the real directory ``cur``, following links by hand.

        ``..`` at the root and absolute link targets (outside the live root)
        leave the root: they raise :class:`_Unreadable`, as do loops.
        """
        for comp in components:
            if comp in ("", "."):
                continue
            if comp == "..":
                if cur == self.path:
                    if self.live:
                        continue
                    raise _Escapes("symlink leads outside the host root; not followed")
                cur = posixpath.dirname(cur)
                continue
            nxt = cur + comp if cur.endswith("/") else f"{cur}/{comp}"
            if nxt in self._real:
                cur = nxt
                continue
            target = self._probe(nxt)
            if target is None:  # exists, not a link
                self._real.add(nxt)
                cur = nxt
                continue
            cur = self._follow(cur, target, hops)
        return cur

    def _probe(self, path: str) -> str | None:
        """The link text of the real path ``path``, or ``None`` when it exists and is no link.

        :raises FileNotFoundError: nothing there (or a parent is not a directory).
        :raises _Unreadable: it cannot be looked at.
        """
        try:
            return os.readlink(path)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                return None
            if exc.errno == errno.ENOTDIR:
                raise FileNotFoundError(path) from exc
            raise _Unreadable(f"cannot read ({exc.strerror})") from exc

    def _follow(self, cur: str, target: str, hops: list[int]) -> str:
        """Follow one link found in the real directory ``cur`` whose text is ``target``."""
        hops[0] += 1
        if hops[0] > MAX_LINK_HOPS:
            raise _Unreadable("symlink loop (too many levels of links); not followed")
        if posixpath.isabs(target):
            if not self.live:
                raise _Escapes(f"symlink to {target} leads outside the host root; not followed",
                               named=True)
            return self._walk("/", target.split("/"), hops)
        try:
            return self._walk(cur, target.split("/"), hops)
        except _Escapes as exc:
            if exc.named:
                raise
            raise _Escapes(f"symlink to {target} leads outside the host root; not followed",
                           named=True) from exc

    def _opendir_link(self, parent: DirHandle, name: str, warnings: list[str]) -> DirHandle:
        """Open ``parent/name`` when it is a link (a ``sys/bus/pci/devices`` entry), cheaply.

        The link is read relative to the parent's fd and its directories are
        walked by hand as :meth:`_walk` does (cached, so usually no syscall);
        only the last component is opened, with ``O_NOFOLLOW``, which proves
        it is a real directory without a ``readlink`` first. Anything else
        (absolute, dotted or odd targets, errors) takes the general path,
        which reports it exactly as :meth:`opendir` always has.
        """
        rel = f"{parent.rel}/{name}"
        assert parent.fd is not None and parent.real is not None
        try:
            target = os.readlink(name, dir_fd=parent.fd)
        except OSError:
            return self.opendir(rel, warnings)
        head, _, last = target.rpartition("/")
        if self.live or not last or last in (".", "..") or target.startswith("/"):
            return self.opendir(rel, warnings)
        try:
            cur = self._heads.get((parent.real, head)) if head else parent.real
            if cur is None:  # every VF of a PF links through the same directories
                cur = self._heads[parent.real, head] = self._walk(parent.real, head.split("/"), [1])
            path = f"{cur}/{last}"
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (OSError, _Unreadable):
            return self.opendir(rel, warnings)
        return DirHandle(self, rel, path, warnings, fd=fd)

    # -- reads ----------------------------------------------------------------------------

    def read_text(self, rel: str, warnings: list[str] | None = None, *,
                  limit: int = MAX_TEXT_BYTES) -> str | None:
        """Read a small text file, stripped of surrounding whitespace.

        Returns ``None`` when the file is missing (silently) or unreadable
        (with a warning naming ``rel``). Undecodable bytes are replaced.
        """
        data = self.read_bytes(rel, warnings, limit=limit)
        if data is None:
            return None
        return data.decode("utf-8", "replace").strip()

    def read_bytes(self, rel: str, warnings: list[str] | None = None, *,
                   limit: int = MAX_TEXT_BYTES) -> bytes | None:
        """Read at most ``limit`` bytes of a regular file inside the root."""
        try:
            rel = _clean(rel)
            limit = _check_allowed(rel, limit)
            return self._read_fast(rel, limit)
        except FileNotFoundError:
            return None
        except _Unreadable as exc:
            self._warn(warnings, f"{rel}: {exc.args[0]}")
            return None

    def _read_fast(self, rel: str, limit: int) -> bytes:
        parent, _, name = rel.rpartition("/")
        base = self._resolve(parent, final=False) if parent else self.path
        path = posixpath.join(base, name)
        if not self.live:
            # A host root is untrusted: look before opening, since opening a device
            # node or FIFO can act on a device (a watchdog starts counting).
            if stat.S_ISLNK(_lstat_mode(path)):
                path = self._walk_final(base, name)
                _lstat_mode(path, require_regular=True)
            else:
                _lstat_mode(path, require_regular=True)
        try:
            fd = os.open(path, _READ_FLAGS)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # the file itself is a link (live root): resolve it by hand
                return _read_path(self._walk_final(base, name), limit)
            if exc.errno == errno.ENOTDIR:
                raise FileNotFoundError(rel) from exc
            raise _Unreadable(f"cannot read ({exc.strerror})") from exc
        return _read_fd(fd, limit)

    def _walk_final(self, base: str, name: str) -> str:
        """Resolve the link ``name`` of the real directory ``base``; a dangling one is unreadable."""
        try:
            return self._walk(base, [name], [0])
        except FileNotFoundError:
            raise _Unreadable("broken symlink") from None

    def readlink(self, rel: str, warnings: list[str] | None = None) -> str | None:
        """Return the text of the link ``rel`` (not followed), or ``None``.

        A target that would lead outside the root is reported and ``None``
        is returned, so callers never act on an escaping link.
        """
        try:
            rel = _clean(rel)
            parent, _, name = rel.rpartition("/")
            base = self._resolve(parent, final=False) if parent else self.path
            target = self._probe(posixpath.join(base, name))
        except FileNotFoundError:
            return None
        except _Unreadable as exc:
            self._warn(warnings, f"{rel}: {exc.args[0]}")
            return None
        if target is None:
            self._warn(warnings, f"{rel}: expected a symlink, found a regular entry")
            return None
        if not self._link_inside(base, target):
            self._warn(warnings, f"{rel}: symlink to {target} leads outside the host root; not followed")
            return None
        return target

    def _link_inside(self, base: str, target: str) -> bool:
        """Lexical check that a link target stays in the root (the target is never opened)."""
        if self.live:
            return True
        if target.startswith("/"):
            return False
        ups = 0
        rest = target
        while rest.startswith("../"):
            ups += 1
            rest = rest[3:]
        if "/.." not in rest and not rest.startswith(".."):
            return ups <= base.count("/") - self.path.rstrip("/").count("/")
        joined = posixpath.normpath(posixpath.join(base, target))
        return joined == self.path or joined.startswith(self._prefix)

    def link_name(self, rel: str, warnings: list[str] | None = None) -> str | None:
        """The last component of the link ``rel``'s target (``driver`` -> ``vfio-pci``)."""
        target = self.readlink(rel, warnings)
        if target is None:
            return None
        return posixpath.basename(target.rstrip("/")) or None

    def entries(self, rel: str, warnings: list[str] | None = None) -> list[tuple[str, str]]:
        """``(name, kind)`` of each entry of a directory inside the root, unsorted; ``[]`` when
        missing. ``kind`` is ``"file"``, ``"dir"``, ``"link"`` or ``"other"`` (entries are
        not followed)."""
        real = self.resolve(rel, warnings)
        if real is None:
            return []
        try:
            with os.scandir(real) as it:
                return [(e.name, _entry_kind(e)) for e in it]
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            self._warn(warnings, f"{rel}: expected a directory")
            return []
        except OSError as exc:
            self._warn(warnings, f"{rel}: cannot list ({exc.strerror})")
            return []

    def listdir(self, rel: str, warnings: list[str] | None = None) -> list[str]:
        """Sorted names in a directory inside the root; ``[]`` when missing."""
        return sorted(name for name, _ in self.entries(rel, warnings))

    def exists(self, rel: str, warnings: list[str] | None = None) -> bool:
        """True when ``rel`` resolves inside the root (escaping links count as absent)."""
        real = self.resolve(rel, warnings)
        return real is not None and self._lexists(real)

    def _lexists(self, real: str) -> bool:
        return os.path.lexists(real)

    def iter_files(self, rel: str, warnings: list[str] | None = None) -> Iterator[str]:
        """Relative paths of the regular files directly in ``rel``, sorted."""
        for name, kind in sorted(self.entries(rel, warnings)):
            if kind == "file":
                yield f"{_clean(rel)}/{name}"

    def opendir(self, rel: str, warnings: list[str] | None = None) -> DirHandle:
        """Open a directory once and read many entries of it with few syscalls.

        The handle is empty (no names) when the directory is missing or
        unreadable (the latter with a warning). Close it, or use ``with``.
        """
        sink = self.warnings if warnings is None else warnings
        real = self.resolve(rel, sink)
        return self._handle(_clean(rel) if real is not None else rel, real, sink)

    def _handle(self, rel: str, real: str | None, sink: list[str]) -> DirHandle:
        return DirHandle(self, rel, real, sink)

    # -- host identity --------------------------------------------------------------------

    def _read_manifest(self) -> dict[str, Any] | None:
        text = self.read_text("manifest.json", self.warnings, limit=1 << 20)
        if text is None:
            return None
        try:
            data = jsontext.loads(text)
        except ValueError as exc:  # JSONDecodeError, or JsonTooComplex (deep, huge numbers)
            self.warnings.append(f"manifest.json: not valid JSON ({exc}); ignored")
            return None
        if not isinstance(data, dict):
            self.warnings.append("manifest.json: not a JSON object; ignored")
            return None
        return data

    def _hostname(self) -> str:
        """``manifest.hostname``, else ``etc/hostname``, else the directory name."""
        if self.manifest is not None:
            name = self.manifest.get("hostname")
            if isinstance(name, str) and name.strip():
                return name.strip()
            if "hostname" in self.manifest:
                self.warnings.append("manifest.json: hostname is not a non-empty string; ignored")
        text = self.read_text("etc/hostname", self.warnings)
        if text:
            return text.split()[0]
        if self.live:
            return os.uname().nodename
        return self._default_name()

    def _default_name(self) -> str:
        return posixpath.basename(self.path.rstrip("/")) or self.path

    def _warn(self, warnings: list[str] | None, message: str) -> None:
        (self.warnings if warnings is None else warnings).append(message)


class DirHandle:
    """An open directory of a host root: names, small reads and links relative to its fd."""

    def __init__(self, root: HostRoot, rel: str, real: str | None, warnings: list[str],
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
            return self.root._opendir_link(self, name, sink)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=self.fd)
        except FileNotFoundError:
            return DirHandle(self.root, rel, None, sink, fd=None)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # a link (or not a dir): resolve by hand
                return self.root._opendir_link(self, name, sink)
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
        if self._names is None and self.fd is not None and name in _ALLOWED_FAST:
            try:
                fd = self._open_regular(name)
            except FileNotFoundError:
                return None
            except (OSError, _Unreadable):
                fd = -1  # a link or an odd entry: read_bytes says why
            if fd >= 0:
                try:
                    return os.read(fd, limit).decode("utf-8", "replace").strip()
                except OSError as exc:
                    self.warnings.append(f"{self.rel}/{name}: {_read_error(exc)}")
                    return None
                finally:
                    os.close(fd)
        data = self.read_bytes(name, limit=limit)
        return None if data is None else data.decode("utf-8", "replace").strip()

    def read_bytes(self, name: str, *, limit: int = MAX_TEXT_BYTES) -> bytes | None:
        """Read at most ``limit`` bytes of entry ``name``; the hot path of a scan, so it is
        one open, one read and one close when nothing is odd."""
        if name not in _ALLOWED_FAST or self._names is not None:
            limit = _check_allowed(f"{self.rel}/{name}", limit)
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
        except _Unreadable as exc:
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
            return os.read(fd, limit)
        except OSError as exc:
            self.warnings.append(f"{self.rel}/{name}: {_read_error(exc)}")
            return None
        finally:
            os.close(fd)

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
            _require_regular(mode)
        return os.open(name, _READ_FLAGS, dir_fd=self.fd)

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


_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _clean(rel: str) -> str:
    """Normalize a relative path; a path climbing above the root is unreadable (a path
    built from input, such as a device named in proc/mounts, may climb: never a crash)."""
    norm = posixpath.normpath(rel.strip("/")) if rel.strip("/") else ""
    if norm == ".":
        return ""
    if norm.startswith("../") or norm == ".." or "\0" in norm:
        raise _Escapes("path leads outside the host root; not read")
    return norm


def _check_allowed(rel: str, limit: int) -> int:
    """Apply the sysfs allow-list; return the byte limit to use."""
    if not rel.startswith("sys/"):
        return limit
    name = rel.rpartition("/")[2]
    if name in _ALLOWED_FAST:
        return limit
    if name in FORBIDDEN_ATTRS or name.startswith("resource"):
        raise AttributeNotAllowed(f"refusing to read {rel}: {name} can hang or change the device")
    if name not in ALLOWED_SYS_ATTRS and not rel.startswith("sys/module/"):
        raise AttributeNotAllowed(f"refusing to read {rel}: {name} is not an allow-listed attribute")
    return min(limit, MAX_CONFIG_BYTES) if name == "config" else limit


def _entry_kind(entry: os.DirEntry[str]) -> str:
    """``file``, ``dir``, ``link`` or ``other`` for a listed entry (not followed)."""
    try:
        if entry.is_symlink():
            return "link"
        if entry.is_file(follow_symlinks=False):
            return "file"
        if entry.is_dir(follow_symlinks=False):
            return "dir"
    except OSError:
        pass
    return "other"


_NOT_REGULAR = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def not_regular_reason(mode: int) -> str | None:
    """Why a file of this mode is not read (``None`` for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory; not read"
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
    return f"not a regular file ({kind}); not read"


def _require_regular(mode: int) -> None:
    reason = not_regular_reason(mode)
    if reason is not None:
        raise _Unreadable(reason)


def _lstat_mode(path: str, *, require_regular: bool = False) -> int:
    """``lstat`` of a real path inside the root; raises FileNotFoundError or _Unreadable."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise
    except NotADirectoryError as exc:
        raise FileNotFoundError(path) from exc
    except OSError as exc:
        raise _Unreadable(f"cannot read ({exc.strerror})") from exc
    if require_regular:
        _require_regular(mode)
    return mode


def _read_path(path: str, limit: int) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _Unreadable(f"cannot read ({exc.strerror})") from exc
    return _read_fd(fd, limit)


def _read_fd(fd: int, limit: int) -> bytes:
    """Read up to ``limit`` bytes. The fd is non-blocking, so a FIFO or tty cannot hang us;
    a directory fails with EISDIR. (No fstat: it would cost a syscall per attribute.)"""
    try:
        return os.read(fd, limit)
    except OSError as exc:
        raise _Unreadable(_read_error(exc)) from exc
    finally:
        os.close(fd)


def _read_error(exc: OSError) -> str:
    """Why a read failed, as the warnings say it."""
    if isinstance(exc, BlockingIOError):
        return "not a regular file (would block); not read"
    if isinstance(exc, IsADirectoryError):
        return "a directory; not read"
    return f"cannot read ({exc.strerror})"


def is_escaping(root: HostRoot, rel: str) -> bool:
    """True when ``rel`` exists as a link whose target leaves the root (for tests and doctor)."""
    warnings: list[str] = []
    root.resolve(rel, warnings)
    return any("outside the host root" in w for w in warnings)
