"""A host root held in memory: a bundle read by :mod:`pcipass.adapters.bundle`.

:class:`TreeRoot` is a :class:`~pcipass.adapters.hostroot.HostRoot` whose
filesystem is the bundle's tree. It replaces only the primitives (look at an
entry, read a file, list a directory); link resolution, the jail, the
allow-list and the warnings are HostRoot's own, so a bundle reads exactly as
the same tree unpacked into a directory, and no byte of it touches the disk.
"""

from __future__ import annotations

from pcipass.adapters import bundle
from pcipass.adapters.dirhandle import DirHandle
from pcipass.adapters.hostroot import HostRoot
from pcipass.adapters.rootfiles import MAX_TEXT_BYTES, Unreadable
from pcipass.adapters.sysallow import check_allowed

_KINDS = {bundle.FILE: "file", bundle.DIR: "dir", bundle.LINK: "link", bundle.OTHER: "other"}


class TreeRoot(HostRoot):
    """A bundle's host root, read from memory. :meth:`close` gives its memory back."""

    is_bundle = True

    def __init__(self, tree: bundle.Tree, source: str) -> None:
        self.tree = tree
        self._nodes = tree.nodes
        super().__init__(tree.root, source=source, warnings=tree.warnings)

    def _root_path(self, path: str) -> str:
        return path  # already a clean virtual path

    def _default_name(self) -> str:
        """The top-level directory's name, else the bundle's file name without its suffix."""
        if self.path != bundle.ROOT:
            return self.path.rpartition("/")[2]
        name = self.source.rpartition("/")[2]
        for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar"):
            if name.endswith(suffix):
                return name[: -len(suffix)] or name
        return name

    def close(self) -> None:
        self.tree.release()
        self._nodes = {}

    # -- primitives -----------------------------------------------------------------------

    def _probe(self, path: str) -> str | None:
        node = self._nodes.get(path)
        if node is None:
            raise FileNotFoundError(path)
        return node.target if node.kind == bundle.LINK else None

    def _lexists(self, real: str) -> bool:
        return real in self._nodes

    def _read_fast(self, rel: str, limit: int) -> bytes:
        parent, _, name = rel.rpartition("/")
        base = self._resolve(parent, final=False) if parent else self.path
        return self.read_real(base, name, limit)

    def read_real(self, base: str, name: str, limit: int) -> bytes:
        """Read entry ``name`` (``/``-separated) of the real directory ``base``.

        :raises FileNotFoundError: missing.
        :raises Unreadable: a directory, not a regular file, a broken or
            escaping link, or a member larger than was kept.
        """
        head, _, last = name.rpartition("/")
        if head:
            base = self._walk(base, head.split("/"), [0])
        path = f"{base}/{last}"
        node = self._nodes.get(path)
        if node is None:
            raise FileNotFoundError(path)
        if node.kind == bundle.LINK:
            node = self._nodes[self._walk_final(base, last)]
        if node.kind == bundle.DIR:
            raise Unreadable("a directory; not read")
        if node.kind == bundle.OTHER:
            raise Unreadable(f"not a regular file ({node.reason}); not read")
        if node.truncated and limit > len(node.data):
            raise Unreadable(f"larger than the {len(node.data) - 1:,} bytes kept of a bundle "
                              "member; not read")
        return node.data[:limit]

    def entries(self, rel: str, warnings: list[str] | None = None) -> list[tuple[str, str]]:
        real = self.resolve(rel, warnings)
        if real is None:
            return []
        return self.entries_real(real, rel, warnings)

    def entries_real(self, real: str, rel: str,
                     warnings: list[str] | None = None) -> list[tuple[str, str]]:
        node = self._nodes.get(real)
        if node is None:
            return []
        if node.children is None:
            self._warn(warnings, f"{rel}: expected a directory")
            return []
        return [(name, _KINDS[self._nodes[f"{real}/{name}"].kind]) for name in node.children]

    def _handle(self, rel: str, real: str | None, sink: list[str]) -> DirHandle:
        handle = TreeDirHandle(self, rel, real, sink)
        if real is not None and self._nodes[real].children is None:
            sink.append(f"{rel}: expected a directory")
            handle.real = None
        return handle


class TreeDirHandle(DirHandle):
    """An open directory of a :class:`TreeRoot`: the same answers and warnings as a
    :class:`DirHandle` on the unpacked tree."""

    root: TreeRoot

    def __init__(self, root: TreeRoot, rel: str, real: str | None, warnings: list[str]) -> None:
        self.root = root
        self.rel = rel
        self.real = real
        self.warnings = warnings
        self.fd = None
        self._names = None

    @property
    def is_open(self) -> bool:
        return self.real is not None

    @property
    def missing(self) -> bool:  # type: ignore[override]
        return self.real is None

    @property
    def names(self) -> frozenset[str]:
        if self.real is None:
            return frozenset()
        return frozenset(self.root._nodes[self.real].children or ())

    def _listing(self, real: str, rel: str) -> list[str]:
        """Names of real subdirectories of ``real``; other entries are named in warnings."""
        subdirs = []
        for name, kind in sorted(self.root.entries_real(real, rel, self.warnings)):
            if kind == "dir":
                subdirs.append(name)
            else:
                self.warnings.append(f"{rel}/{name}: expected a directory; ignored")
        return subdirs

    def real_subdirs(self) -> list[str]:
        if self.real is None:
            return []
        return self._listing(self.real, self.rel)

    def nested_real_subdirs(self, name: str) -> list[str] | None:
        if self.real is None:
            return []
        node = self.root._nodes.get(f"{self.real}/{name}")
        if node is None:
            return []
        if node.kind != bundle.DIR:
            return None  # a link or odd entry: the general path resolves and reports it
        return self._listing(f"{self.real}/{name}", f"{self.rel}/{name}")

    def subdir(self, name: str, *, link: bool = False,
               warnings: list[str] | None = None) -> DirHandle:
        rel = f"{self.rel}/{name}"
        sink = self.warnings if warnings is None else warnings
        if self.real is None:
            return TreeDirHandle(self.root, rel, None, sink)
        try:
            real = self.root._walk(self.real, [name], [0])
        except FileNotFoundError:
            return TreeDirHandle(self.root, rel, None, sink)
        except Unreadable as exc:
            sink.append(f"{rel}: {exc.args[0]}")
            return TreeDirHandle(self.root, rel, None, sink)
        return self.root._handle(rel, real, sink)

    def close(self) -> None:
        pass

    def read_text(self, name: str, *, limit: int = MAX_TEXT_BYTES) -> str | None:
        data = self.read_bytes(name, limit=limit)
        return None if data is None else data.decode("utf-8", "replace").strip()

    def read_bytes(self, name: str, *, limit: int = MAX_TEXT_BYTES) -> bytes | None:
        limit = check_allowed(f"{self.rel}/{name}", limit)
        if self.real is None:
            return None
        try:
            return self.root.read_real(self.real, name, limit)
        except FileNotFoundError:
            return None
        except Unreadable as exc:
            self.warnings.append(f"{self.rel}/{name}: {exc.args[0]}")
            return None

    def readlink(self, name: str) -> str | None:
        if self.real is None:
            return None
        node = self.root._nodes.get(f"{self.real}/{name}")
        if node is None:
            return None
        rel = f"{self.rel}/{name}"
        if node.kind != bundle.LINK:
            self.warnings.append(f"{rel}: expected a symlink, found a regular entry")
            return None
        if not self.root._link_inside(self.real, node.target):
            self.warnings.append(f"{rel}: symlink to {node.target} leads outside the host root; "
                                 "not followed")
            return None
        return node.target


def open_bundle(path: str) -> TreeRoot:
    """Read the bundle at ``path`` into memory and open its host root.

    :raises HostRootInvalid: unreadable, over a bound, or a ``manifest.json`` over the JSON
        bounds.
    """
    tree = bundle.read(path)
    try:
        return TreeRoot(tree, path)
    except BaseException:
        tree.release()
        raise
