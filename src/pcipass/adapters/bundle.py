"""Bundles: a host root packed as ``.tar.gz``, read in one streaming pass into memory.

A bundle is never extracted to disk. Extraction trusts the filesystem to
resolve names, and that is where archive attacks live: a chain of long names
and symlinks whose resolved path passes PATH_MAX let a hard link through it
overwrite any file (CVE-2025-4517, in the ``tarfile`` "data" filter of
CPython before 3.11.13; Debian 12's own 3.11.2 has no filter at all). Here
each member becomes a node of an in-memory tree keyed by its cleaned name:

* names are cleaned lexically; an absolute name or one with ``..`` is skipped;
* a member under a parent that is not a directory in the tree is skipped
  (nothing is ever resolved through a symlink while loading);
* symlinks are kept as link text; absolute targets, and targets that climb
  out of the archive lexically, are dropped with a warning, and every other
  link is resolved later by :class:`pcipass.adapters.treeroot.TreeRoot` with
  the same jail as a directory root;
* a hard link names an earlier member; it shares that member's node. A target
  that is no member at all, or climbs out of the archive, makes the bundle
  invalid (tar itself cannot unpack it); a target that was itself skipped, or
  is a directory, skips the link with a warning;
* device nodes and FIFOs become "not a regular file" entries, never data.

Bounds: the member count, the declared unpacked size (checked from the
headers, before any data is decompressed), the bytes kept of one member, and
one memory budget for all bundles held at once, in this process and in every
worker of a parallel scan (:func:`share_budget`).
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
from typing import Any

from pcipass.adapters import tarstream
from pcipass.adapters.hostroot import HostRootInvalid

MAX_MEMBERS = 500_000
MAX_UNPACKED_BYTES = 2 << 30
"""Sum of the members' declared sizes; a larger bundle is refused from its headers."""

MAX_DECOMPRESSED_BYTES = MAX_UNPACKED_BYTES + MAX_MEMBERS * 3 * 512 + (1 << 20)
"""Every byte the decompressor may produce: the members' data, their headers (a long name
and a pax record each at most), the end-of-archive blocks and padding."""

KEEP_SYS_BYTES = (1 << 16) + 1
"""Bytes kept of a member under ``sys/``: the sysfs readers read at most 64 KiB."""

KEEP_BYTES = (256 << 20) + 1
"""Bytes kept of any other member (facts.json, dmesg, configs): more than any reader asks."""

DEFAULT_MEMORY_BYTES = 1 << 30
MEMORY_ENV = "PCIPASS_BUNDLE_MEMORY"
"""Environment variable: the budget, in bytes, for member data held by all bundles at once."""

ROOT = "/bundle"
"""The virtual path of the archive's root in the tree; host roots are this or a child."""


# -- the tree -----------------------------------------------------------------------------

FILE, DIR, LINK, OTHER = "file", "dir", "link", "other"


@dataclasses.dataclass(eq=False, slots=True)
class Node:
    """One entry of a bundle: a file (``data``), a directory (``children``), a link
    (``target``) or another kind (``reason`` says which, for the warning)."""

    kind: str
    data: bytes = b""
    truncated: bool = False
    target: str = ""
    children: dict[str, None] | None = None
    reason: str = ""
    names: int = 0  # how many paths name this node (hard links share one)


@dataclasses.dataclass(slots=True)
class Tree:
    """A bundle read into memory: ``nodes`` by virtual absolute path, and where the host is."""

    nodes: dict[str, Node]
    root: str
    warnings: list[str]
    held: int
    budget: _Budget | None

    def release(self) -> None:
        """Give the member bytes back to the budget and drop the nodes."""
        if self.budget is not None and self.held:
            self.budget.give(self.held)
        self.held = 0
        self.nodes = {}


# -- the memory budget ----------------------------------------------------------------------


class _Budget:
    """Bytes of member data that may be held at once; shared by processes when ``value`` is."""

    def __init__(self, limit: int, value: Any = None) -> None:
        self.limit = limit
        self._value = value  # a multiprocessing.Value('q') shared with workers, or None
        self._local = 0

    def take(self, n: int) -> bool:
        if self._value is None:
            if self._local + n > self.limit:
                return False
            self._local += n
            return True
        with self._value.get_lock():
            if self._value.value + n > self.limit:
                return False
            self._value.value += n
            return True

    def give(self, n: int) -> None:
        if self._value is None:
            self._local -= n
            return
        with self._value.get_lock():
            self._value.value -= n


def memory_limit() -> int:
    """The budget in bytes: ``$PCIPASS_BUNDLE_MEMORY`` when it is a positive integer."""
    text = os.environ.get(MEMORY_ENV, "").strip()
    if text.isdigit() and 0 < len(text) < 20 and int(text) > 0:
        return int(text)
    return DEFAULT_MEMORY_BYTES


_budget: _Budget | None = None


def budget() -> _Budget:
    """This process's budget (created on first use)."""
    global _budget
    if _budget is None:
        _budget = _Budget(memory_limit())
    return _budget


def share_budget(context: Any) -> Any:
    """Make this process's budget one that workers started from ``context`` share.

    Returns the shared value: pass it to each worker's initializer,
    :func:`use_shared_budget`. Bytes already held here stay counted.
    """
    global _budget
    current = budget()
    if current._value is not None:
        return current._value
    value = context.Value("q", current._local)
    _budget = _Budget(current.limit, value)
    return value


def use_shared_budget(value: Any) -> None:
    """Worker initializer: count this worker's bundles in the parent's budget."""
    global _budget
    _budget = _Budget(memory_limit(), value)


# -- reading ------------------------------------------------------------------------------


def read(path: str) -> Tree:
    """Read the bundle at ``path`` into memory in one pass.

    :raises HostRootInvalid: not a readable tar archive (gzip, bzip2, xz or
        plain), or over a bound.
    """
    loader = _Loader(path)
    try:
        with open(path, "rb") as raw:
            stream = tarstream.members(raw, loader.keep, MAX_DECOMPRESSED_BYTES)
            for count, member in enumerate(stream, 1):
                if count > MAX_MEMBERS:
                    raise HostRootInvalid(path=path, reason=f"more than {MAX_MEMBERS:,} members")
                loader.add(member)
    except HostRootInvalid:
        loader.tree.release()
        raise
    except (tarstream.TarError, OSError, ValueError) as exc:
        loader.tree.release()
        raise HostRootInvalid(path=path, reason=f"cannot read the bundle ({exc})") from exc
    except BaseException:  # anything else (Ctrl-C included): free the memory, then let it go on
        loader.tree.release()
        raise
    loader.finish()
    return loader.tree


_OTHER_KINDS = {tarstream.CHR: "a character device", tarstream.BLK: "a block device",
                tarstream.FIFO: "a FIFO"}


class _Loader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.declared = 0
        self.tree = Tree({ROOT: Node(DIR, children={})}, ROOT, [], 0, budget())
        self._rel_of: str | None = None
        self._rel: str | None = None
        self._skipped: set[str | None] = set()  # names of members skipped with a warning

    def warn(self, name: str, why: str) -> None:
        self.tree.warnings.append(f"bundle member {name}: {why}; skipped")
        self._skipped.add(_clean(name))

    def invalid(self, name: str, why: str) -> HostRootInvalid:
        return HostRootInvalid(path=self.path, reason=f"bundle member {name}: {why}",
                               hint="the bundle is corrupt or was packed by hand: pack the "
                                    "host root again with tar czf")

    def keep(self, member: tarstream.Member) -> int:
        """How many bytes of a regular member's data to keep (asked before any is read):
        the declared size is counted against its bound, and the kept bytes against the
        memory budget."""
        self.declared += max(member.size, 0)
        if self.declared > MAX_UNPACKED_BYTES:
            raise HostRootInvalid(path=self.path,
                                reason=f"more than {MAX_UNPACKED_BYTES:,} bytes unpacked")
        rel = _clean(member.name)
        self._rel_of, self._rel = member.name, rel  # add() asks the same name next
        if not rel:
            return 0
        keep = min(member.size, KEEP_SYS_BYTES if rel.startswith("sys/") or "/sys/" in rel
                   else KEEP_BYTES)
        if not self._take(keep):
            raise HostRootInvalid(
                path=self.path,
                reason=f"bundles read at once would hold more than {self.tree.budget.limit:,}"
                       f" bytes (set {MEMORY_ENV} to raise the bound, or read fewer at once)"
                if self.tree.budget else "over the memory bound")
        return keep

    def add(self, member: tarstream.Member) -> None:
        rel = self._rel if member.name == self._rel_of else _clean(member.name)
        if rel is None:
            self.warn(member.name, "absolute or '..' path")
            return
        if not rel:
            return  # the archive's own "./"
        node = self._node(member, rel)
        if node is not None:
            self._place(member.name, rel, node)

    def _node(self, member: tarstream.Member, rel: str) -> Node | None:
        if member.isreg():
            return Node(FILE, data=member.data, truncated=member.size > len(member.data))
        if member.isdir():
            return Node(DIR, children={})
        if member.issym():
            target = member.linkname
            if not target or "\0" in target:
                self.warn(member.name, "symlink with an empty target")
                return None
            if target.startswith("/") or _climbs(posixpath.dirname(rel), target):
                self.warn(member.name, f"symlink to {target} leads outside the bundle")
                return None
            return Node(LINK, target=target)
        if member.islnk():
            source = _clean(member.linkname)
            if not source:
                raise self.invalid(member.name, f"hard link to {member.linkname}, outside the "
                                                "bundle")
            found = self.tree.nodes.get(f"{ROOT}/{source}")
            if found is None and source in self._skipped:
                self.warn(member.name, f"hard link to {member.linkname}, a member skipped above")
                return None
            if found is None:
                raise self.invalid(member.name, f"hard link to {member.linkname}, which is not "
                                                "an earlier member")
            if found.kind == DIR:
                self.warn(member.name, f"hard link to the directory {member.linkname}")
                return None
            return found  # shared: its bytes are held once
        if member.type in _OTHER_KINDS:
            return Node(OTHER, reason=_OTHER_KINDS[member.type])
        self.warn(member.name, f"unsupported member type {member.type!r}")
        return None

    def _take(self, n: int) -> bool:
        assert self.tree.budget is not None
        if not self.tree.budget.take(n):
            return False
        self.tree.held += n
        return True

    def _place(self, name: str, rel: str, node: Node) -> None:
        nodes = self.tree.nodes
        parent = ROOT
        head, _, last = rel.rpartition("/")
        known = f"{ROOT}/{head}" if head else ROOT
        found_dir = nodes.get(known)
        if found_dir is not None and found_dir.kind == DIR:
            # the common case: the parent exists (tar lists a directory before its entries)
            self._put(name, known, last, node)
            return
        parts = rel.split("/")
        for part in parts[:-1]:
            here = f"{parent}/{part}"
            found = nodes.get(here)
            if found is None:
                found = nodes[here] = Node(DIR, children={})
                assert (up := nodes[parent].children) is not None
                up[part] = None
            elif found.kind != DIR:
                self.warn(name, f"{here[len(ROOT) + 1:]} is not a directory in the bundle")
                self._drop(node)
                return
            parent = here
        self._put(name, parent, parts[-1], node)

    def _put(self, name: str, parent: str, last: str, node: Node) -> None:
        """``node`` as ``last`` in the directory ``parent`` (a DIR node that exists)."""
        nodes = self.tree.nodes
        path = f"{parent}/{last}"
        old = nodes.get(path)
        if old is not None and (old.kind == DIR) != (node.kind == DIR):
            self.warn(name, "a directory and a file of the same name")
            self._drop(node)
            return
        if old is not None and old.kind == DIR:
            return  # the same directory again
        if old is not None and old is not node:
            old.names -= 1
            self._drop(old)
        if old is not node:
            node.names += 1
        nodes[path] = node
        children = nodes[parent].children
        assert children is not None
        children[last] = None

    def _drop(self, node: Node) -> None:
        """Give back a file's bytes unless another name (a hard link) still holds the node."""
        if node.kind != FILE or node.names > 0:
            return
        size = len(node.data)
        if self.tree.budget is not None and size:
            self.tree.budget.give(size)
        self.tree.held -= size

    def finish(self) -> None:
        top = self.tree.nodes[ROOT].children or {}
        if len(top) == 1:
            name = next(iter(top))
            if self.tree.nodes[f"{ROOT}/{name}"].kind == DIR:
                self.tree.root = f"{ROOT}/{name}"
                return
        self.tree.warnings.append(
            f"{os.path.basename(self.path)}: expected one top-level directory named after the "
            f"host, found {len(top)} entries; using the archive root")


def _clean(name: str) -> str | None:
    """A member name as a clean relative path; ``None`` when absolute or climbing."""
    if not name.startswith((".", "/")) and "/." not in name and "//" not in name \
            and "\0" not in name:
        return name.rstrip("/")  # the common case: already clean
    if name.startswith("/") or "\0" in name:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    return "/".join(parts)


def _climbs(base: str, target: str) -> bool:
    """True when ``target``, read from the archive directory ``base``, climbs out of the archive."""
    joined = posixpath.normpath(posixpath.join(ROOT, base, target))
    return not (joined == ROOT or joined.startswith(ROOT + "/"))
