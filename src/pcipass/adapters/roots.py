"""Open what a ``--host`` names: the live ``/``, a host-root directory, or a bundle.

The one entry point every command uses (contracts §1, §4). A directory becomes
a :class:`~pcipass.adapters.hostroot.HostRoot`; a ``.tar.gz`` (or any tar
archive) is read into memory as a :class:`~pcipass.adapters.treeroot.TreeRoot`,
never unpacked.
"""

from __future__ import annotations

import os

from pcipass.adapters import boundedread
from pcipass.adapters.hostroot import HostRoot, HostRootInvalid


#: What makes a directory a host root (contracts §1): the kernel's PCI bus in sysfs (saved
#: facts are used only beside the sysfs they were read from).
HOST_MARKS = ("sys/bus/pci",)


def open_root(path: str | os.PathLike[str] = "/") -> HostRoot:
    """Open ``/`` (the live host), a root directory, or a ``.tar.gz`` bundle, whatever it holds
    (:func:`open_host` is what a ``--host`` option opens).

    :raises HostRootInvalid: when the path is missing, or is neither a
        directory nor a readable tar archive (or a bundle over a bound).
    """
    text = os.fspath(path)
    if not os.path.exists(text):
        raise HostRootInvalid(path=text, reason="no such file or directory")
    if os.path.isdir(text):
        return HostRoot(text, source=text, live=os.path.realpath(text) == "/")
    not_regular = boundedread.not_regular(os.stat(text).st_mode)
    if not_regular is not None:  # a FIFO or device: opening it to look for a tar header could block
        raise HostRootInvalid(path=text, reason=f"{not_regular}; expected a directory or a .tar.gz "
                                                "bundle")
    # NOTE: tarfile (~2.5 ms) and treeroot with the bundle reader (~7.3 ms) are for bundles only:
    # a scan of a directory never pays them.
    import tarfile

    if text.endswith((".tar.gz", ".tgz")) or tarfile.is_tarfile(text):
        from pcipass.adapters import treeroot

        return treeroot.open_bundle(text)
    raise HostRootInvalid(path=text, reason="expected a directory or a .tar.gz bundle")


def open_host(path: str | os.PathLike[str] = "/") -> HostRoot:
    """Open what a ``--host`` names, refusing what is not a host root.

    :raises HostRootInvalid: as :func:`open_root`, and when the root has no ``sys/bus/pci``:
        a directory of configs is not a host without an IOMMU, and must not be judged as one
        (contracts §1, §5: invalid input, exit 2).
    """
    root = open_root(path)
    if not any(root.exists(mark) for mark in HOST_MARKS):
        root.close()
        raise HostRootInvalid(path=os.fspath(path), reason=(
            "not a host root: it has no sys/bus/pci; give the root of a host's filesystem, a bundle of one (.tar.gz), or an lspci "
            "paste with --lspci"))
    return root
