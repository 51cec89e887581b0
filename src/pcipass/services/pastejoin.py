"""``--dmesg FILE`` and ``--cmdline FILE``: which host each file belongs to (issue 18 point 4).

A file joins hosts by these rules, in order:

1. a host whose name equals the file's stem gets it;
2. otherwise, with exactly one host given, that host gets it;
3. otherwise, with several hosts, the command cannot tell: :class:`PasteJoinAmbiguous`
   (the CLI's usage error, exit 64);
4. with no host at all, the file's stem names a new host, known only from its kernel
   facts (kind ``paste``). A dmesg and a command line with one stem make one such host.

A host root's own ``proc/cmdline`` and ``cmd/dmesg.txt`` are replaced by the files it
gets; an lspci or nodedev paste gains the kernel facts it lacked.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from pcipass.adapters import kernel, kernelpaste
from pcipass.core import errors
from pcipass.services import scanreport

KIND_PASTE = "paste"
FROM_PASTE = "paste"


class PasteJoinAmbiguous(errors.PcipassError):
    """A ``--dmesg``/``--cmdline`` file whose stem names none of several hosts (a usage error)."""

    msg_fmt = ("%(option)s %(path)s: no host is named %(stem)r and %(count)d hosts are given, so "
               "it belongs to none of them; name the file after its host (%(names)s)")


@dataclasses.dataclass
class _Target:
    cmdline: kernel.Cmdline | None = None
    dmesg: kernelpaste.Dmesg | None = None
    files: list[str] = dataclasses.field(default_factory=list)


def check_files(dmesg: Sequence[str | Path], cmdline: Sequence[str | Path]) -> None:
    """Fail before any scan when a named file does not exist."""
    for option, files in (("dmesg", dmesg), ("cmdline", cmdline)):
        for path in files:
            if not os.path.exists(path):
                raise kernelpaste.KernelPasteInvalid(what=option, path=os.fspath(path),
                                                     reason="No such file or directory")


def join(scans: list[scanreport.HostScan], dmesg: Sequence[str | Path],
         cmdline: Sequence[str | Path]) -> list[scanreport.HostScan]:
    """The scans with each file's kernel facts joined to its host, plus hosts the files name.

    :raises PasteJoinAmbiguous: a file's host cannot be told among several.
    :raises kernelpaste.KernelPasteInvalid: a file cannot be read or holds no such text.
    """
    given = len(scans)
    names = [s.name for s in scans]
    targets: dict[str, _Target] = {}  # host name -> what it gets (existing or new)
    for option, files in (("--dmesg", dmesg), ("--cmdline", cmdline)):
        for path in files:
            name = os.fspath(path)
            stem = Path(name).stem or name
            if stem in names or given == 0:
                host = stem
            elif given == 1:
                host = names[0]
            else:
                raise PasteJoinAmbiguous(option=option, path=name, stem=stem, count=given,
                                         names=", ".join(sorted(names)[:8]))
            target = targets.setdefault(host, _Target())
            if option == "--dmesg":
                target.dmesg = kernelpaste.read_dmesg(name)
            else:
                target.cmdline = kernelpaste.read_cmdline(name)
            target.files.append(name)
    out = [_joined(s, targets.pop(s.name)) if s.name in targets else s for s in scans]
    out.extend(_new_host(name, t) for name, t in targets.items())
    return out


def _joined(scan: scanreport.HostScan, t: _Target) -> scanreport.HostScan:
    if scan.kernel is not None:
        facts = kernelpaste.overlay(scan.kernel, t.cmdline, t.dmesg)
    else:
        facts = kernelpaste.paste_facts(t.cmdline, t.dmesg)
    note = f"kernel facts from {', '.join(t.files)}"
    return dataclasses.replace(scan, kernel=facts, warnings=(*scan.warnings, note))


def _new_host(name: str, t: _Target) -> scanreport.HostScan:
    return scanreport.HostScan(
        name=name, root=", ".join(t.files), kind=KIND_PASTE, devices=(), numa=None,
        kernel=kernelpaste.paste_facts(t.cmdline, t.dmesg), config=None, compute_starts=None,
        matches={}, iommu_groups={}, netdevs={}, config_errors=(), config_warnings=(),
        warnings=("a host known only from its pasted kernel log / command line: no devices",),
        facts_from=FROM_PASTE)
