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
The allow-list is :mod:`~pcipass.adapters.sysallow`, the low-level reads
:mod:`~pcipass.adapters.rootfiles`, per-directory reads
:mod:`~pcipass.adapters.dirhandle`, and bundles :mod:`~pcipass.adapters.treeroot`.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from typing import Any

from pcipass.adapters.dirhandle import DirHandle
from pcipass.adapters.rootfiles import (MAX_TEXT_BYTES, READ_FLAGS, Escapes, Unreadable, clean,
                                        entry_kind, lstat_mode, read_fd, read_path)
from pcipass.adapters.sysallow import check_allowed
from pcipass.core import errors, jsontext

__all__ = ["MAX_TEXT_BYTES", "DirHandle", "HostRoot", "HostRootInvalid"]

MAX_LINK_HOPS = 40

class HostRootInvalid(errors.InputError):
    """A ``--host`` argument that is not a usable host root or bundle."""

    msg_fmt = "Invalid host root %(path)s: %(reason)s"


class HostRoot:
    """A host's filesystem seen from a root directory; all reads stay inside it.

    Paths given to the methods are relative to the root and use ``/``
    (``"sys/bus/pci/devices"``). Use :func:`pcipass.adapters.roots.open_root` to build one, and
    :meth:`close` (or ``with``) to remove a bundle's temporary directory.

    :ivar live: the running host's own ``/``.
    :ivar is_bundle: a bundle read into memory (:class:`~pcipass.adapters.treeroot.TreeRoot`).
    """

    is_bundle = False

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
            return self._resolve(clean(rel), final=True)
        except FileNotFoundError:
            return None
        except Unreadable as exc:
            self._warn(warnings, f"{rel}: {exc.args[0]}")
            return None

    def _resolve(self, rel: str, *, final: bool) -> str:
        """Resolve ``rel`` component by component; raise FileNotFoundError or Unreadable."""
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
        leave the root: they raise :class:`Unreadable`, as do loops.
        """
        for comp in components:
            if comp in ("", "."):
                continue
            if comp == "..":
                if cur == self.path:
                    if self.live:
                        continue
                    raise Escapes("symlink leads outside the host root; not followed")
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
        :raises Unreadable: it cannot be looked at.
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
            raise Unreadable(f"cannot read ({exc.strerror})") from exc

    def _follow(self, cur: str, target: str, hops: list[int]) -> str:
        """Follow one link found in the real directory ``cur`` whose text is ``target``."""
        hops[0] += 1
        if hops[0] > MAX_LINK_HOPS:
            raise Unreadable("symlink loop (too many levels of links); not followed")
        if posixpath.isabs(target):
            if not self.live:
                raise Escapes(f"symlink to {target} leads outside the host root; not followed",
                               named=True)
            return self._walk("/", target.split("/"), hops)
        try:
            return self._walk(cur, target.split("/"), hops)
        except Escapes as exc:
            if exc.named:
                raise
            raise Escapes(f"symlink to {target} leads outside the host root; not followed",
                           named=True) from exc

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
            rel = clean(rel)
            limit = check_allowed(rel, limit)
            return self._read_fast(rel, limit)
        except FileNotFoundError:
            return None
        except Unreadable as exc:
            self._warn(warnings, f"{rel}: {exc.args[0]}")
            return None

    def _read_fast(self, rel: str, limit: int) -> bytes:
        parent, _, name = rel.rpartition("/")
        base = self._resolve(parent, final=False) if parent else self.path
        path = posixpath.join(base, name)
        if not self.live:
            # A host root is untrusted: look before opening, since opening a device
            # node or FIFO can act on a device (a watchdog starts counting).
            if stat.S_ISLNK(lstat_mode(path)):
                path = self._walk_final(base, name)
                lstat_mode(path, regular=True)
            else:
                lstat_mode(path, regular=True)
        try:
            fd = os.open(path, READ_FLAGS)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # the file itself is a link (live root): resolve it by hand
                return read_path(self._walk_final(base, name), limit)
            if exc.errno == errno.ENOTDIR:
                raise FileNotFoundError(rel) from exc
            raise Unreadable(f"cannot read ({exc.strerror})") from exc
        return read_fd(fd, limit)

    def _walk_final(self, base: str, name: str) -> str:
        """Resolve the link ``name`` of the real directory ``base``; a dangling one is unreadable."""
        try:
            return self._walk(base, [name], [0])
        except FileNotFoundError:
            raise Unreadable("broken symlink") from None

    def readlink(self, rel: str, warnings: list[str] | None = None) -> str | None:
        """Return the text of the link ``rel`` (not followed), or ``None``.

        A target that would lead outside the root is reported and ``None``
        is returned, so callers never act on an escaping link.
        """
        try:
            rel = clean(rel)
            parent, _, name = rel.rpartition("/")
            base = self._resolve(parent, final=False) if parent else self.path
            target = self._probe(posixpath.join(base, name))
        except FileNotFoundError:
            return None
        except Unreadable as exc:
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
                return [(e.name, entry_kind(e)) for e in it]
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
                yield f"{clean(rel)}/{name}"

    def opendir(self, rel: str, warnings: list[str] | None = None) -> DirHandle:
        """Open a directory once and read many entries of it with few syscalls.

        The handle is empty (no names) when the directory is missing or
        unreadable (the latter with a warning). Close it, or use ``with``.
        """
        sink = self.warnings if warnings is None else warnings
        real = self.resolve(rel, sink)
        return self._handle(clean(rel) if real is not None else rel, real, sink)

    def _handle(self, rel: str, real: str | None, sink: list[str]) -> DirHandle:
        return DirHandle(self, rel, real, sink)

    # -- host identity --------------------------------------------------------------------

    def _read_manifest(self) -> dict[str, Any] | None:
        text = self.read_text("manifest.json", self.warnings, limit=1 << 20)
        if text is None:
            return None
        try:
            data = jsontext.loads(text)
        except jsontext.JsonTooComplex as exc:  # deep, huge numbers: a crash once, now invalid
            raise HostRootInvalid(path=self.source, reason=f"manifest.json: {exc}") from None
        except ValueError as exc:  # JSONDecodeError: malformed evidence, read around
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


