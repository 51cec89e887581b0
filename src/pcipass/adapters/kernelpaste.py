"""A saved ``dmesg`` and a kernel command line given as files (``--dmesg FILE``, ``--cmdline FILE``).

Operators send what they have: ``dmesg > dmesg.txt``, ``cat /proc/cmdline``, or the
``GRUB_CMDLINE_LINUX=`` line of ``/etc/default/grub``, often inside a Markdown fence
after a shell prompt. Each is read with a bound and without blocking
(:mod:`~pcipass.adapters.boundedread`), and becomes the kernel facts of a host that
has no sysfs (:func:`paste_facts`) or replaces the command line or dmesg a host root
holds (:func:`overlay`).
"""

from __future__ import annotations

import dataclasses
import re
import shlex

from pcipass.adapters import boundedread, kernel
from pcipass.core import errors

MAX_DMESG_BYTES = 16 << 20
MAX_CMDLINE_BYTES = 1 << 20
MAX_CMDLINE_CHARS = 8192
"""Longest command line read; the kernel's own limit (COMMAND_LINE_SIZE) is 2048 to 4096 on x86."""
_GRUB = re.compile(r"^\s*(?:export\s+)?GRUB_CMDLINE_LINUX(?P<default>_DEFAULT)?=(?P<value>.*)$")
_PROMPT = re.compile(r"^\s*(?:[\w.@:~/\[\]-]*[$#]\s|>\s)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_DMESG_CMDLINE = re.compile(r"(?:Kernel )?[Cc]ommand line: (?P<cmd>.*)$")
_RELEASE = re.compile(r"Linux version (?P<rel>\S+)")
_PARAM = re.compile(r"(?:^|\s)[A-Za-z_][\w.-]*=\S*")


class KernelPasteInvalid(errors.InputError):
    """A ``--dmesg`` or ``--cmdline`` file that cannot be read or holds no such text."""

    msg_fmt = "Invalid %(what)s input %(path)s: %(reason)s"


@dataclasses.dataclass(frozen=True, slots=True)
class Dmesg:
    """What a saved kernel log tells about the IOMMU: its lines, group additions, release, command line."""

    source: str
    lines: tuple[str, ...]
    group_additions: int
    release: str | None
    cmdline: kernel.Cmdline | None


def read_cmdline(path: str) -> kernel.Cmdline:
    """The command line in ``path``: ``/proc/cmdline`` as printed, or ``GRUB_CMDLINE_LINUX[_DEFAULT]=``.

    With GRUB lines, the normal boot entry's line is ``GRUB_CMDLINE_LINUX`` then
    ``GRUB_CMDLINE_LINUX_DEFAULT`` (grub-mkconfig joins them in that order); the last
    assignment of each counts, as the shell reads the file.

    :raises KernelPasteInvalid: unreadable, too large, or no command line in it.
    """
    text = _read(path, "cmdline", MAX_CMDLINE_BYTES)
    found = parse_cmdline_text(text)
    if found is None:
        raise KernelPasteInvalid(what="cmdline", path=path, reason="no kernel command line found",
                                 hint="paste the output of cat /proc/cmdline, or the GRUB_CMDLINE_LINUX= "
                                      "line of /etc/default/grub")
    return found


def parse_cmdline_text(text: str) -> kernel.Cmdline | None:
    """The command line a pasted text holds, or ``None`` (see :func:`read_cmdline`)."""
    grub: dict[bool, str] = {}
    candidates: list[str] = []
    for line in text.splitlines():
        if len(line) > MAX_CMDLINE_CHARS:
            continue
        g = _GRUB.match(line)
        if g:
            value = _unquote(g.group("value"))
            # GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX iommu=pt" appends, as the shell reads it.
            for default, name in ((False, "GRUB_CMDLINE_LINUX"), (True, "GRUB_CMDLINE_LINUX_DEFAULT")):
                for ref in (f"${{{name}}}", f"${name}"):
                    value = _replace_ref(value, ref, grub.get(default, ""))
            grub[bool(g.group("default"))] = value.strip()
            continue
        stripped = line.strip()
        if (not stripped or _FENCE.match(line) or _PROMPT.match(line) or stripped.startswith("#")
                or not _PARAM.search(stripped)):
            continue
        candidates.append(stripped)
    if grub:
        joined = " ".join(v for v in (grub.get(False, ""), grub.get(True, "")) if v)
        return kernel.parse_cmdline(joined)
    boot = [c for c in candidates if c.startswith("BOOT_IMAGE=") or " root=" in f" {c}"]
    pick = boot[0] if boot else candidates[0] if len(candidates) == 1 else None
    return kernel.parse_cmdline(pick) if pick is not None else None


def _replace_ref(value: str, ref: str, previous: str) -> str:
    """``value`` with the shell reference ``ref`` replaced by ``previous``; a longer name that
    starts with the same letters ($GRUB_CMDLINE_LINUX_DEFAULT) is left alone."""
    out: list[str] = []
    pos = 0
    while (at := value.find(ref, pos)) >= 0:
        after = value[at + len(ref):at + len(ref) + 1]
        if ref.endswith("}") or not (after.isalnum() or after == "_"):
            out.append(value[pos:at] + previous)
        else:
            out.append(value[pos:at + len(ref)])
        pos = at + len(ref)
    out.append(value[pos:])
    return "".join(out)


def _unquote(value: str) -> str:
    try:
        words = shlex.split(value, comments=True)
    except ValueError:
        return value.strip().strip("\"'")
    return " ".join(words)


def read_dmesg(path: str) -> Dmesg:
    """The IOMMU lines, group additions, release and command line of a saved kernel log.

    :raises KernelPasteInvalid: unreadable, too large, or not a kernel log at all.
    """
    text = _read(path, "dmesg", MAX_DMESG_BYTES)
    parsed = parse_dmesg_text(text, path)
    if not parsed.lines and not parsed.group_additions and parsed.release is None and parsed.cmdline is None:
        if not re.search(r"^\s*\[\s*\d+\.\d+\]|^\w{3} \w{3} +\d+ ", text, re.M):
            raise KernelPasteInvalid(what="dmesg", path=path, reason="no kernel log lines found",
                                     hint="save the kernel log with dmesg > FILE (or journalctl -k)")
    return parsed


def parse_dmesg_text(text: str, source: str) -> Dmesg:
    """A saved kernel log's IOMMU facts; shell prompt lines (``root@host:~# dmesg | grep ...``) are not log."""
    log = "\n".join(ln for ln in text.splitlines() if not _PROMPT.match(ln) and not _FENCE.match(ln))
    lines, adds = kernel.iommu_lines(log)
    release = cmd = None
    for line in text.splitlines()[:2000]:  # both are printed in the first second of boot
        if release is None and (m := _RELEASE.search(line)):
            release = m.group("rel")
        if cmd is None and len(line) <= MAX_CMDLINE_CHARS and (c := _DMESG_CMDLINE.search(line)):
            cmd = kernel.parse_cmdline(c.group("cmd"))
    return Dmesg(source, lines, adds, release, cmd)


def paste_facts(cmdline: kernel.Cmdline | None, dmesg: Dmesg | None) -> kernel.KernelFacts:
    """Kernel facts of a host known only from pasted text: nothing from sysfs."""
    return kernel.KernelFacts(
        release=dmesg.release if dmesg else None,
        cmdline=cmdline if cmdline is not None else (dmesg.cmdline if dmesg else None),
        iommu_devices=(), iommu_groups=0, acpi_tables=(), modules=(), vfio_pci=None,
        dmesg_source=dmesg.source if dmesg else None, dmesg_iommu_lines=dmesg.lines if dmesg else (),
        dmesg_group_additions=dmesg.group_additions if dmesg else 0, sysfs=False)


def overlay(facts: kernel.KernelFacts, cmdline: kernel.Cmdline | None,
            dmesg: Dmesg | None) -> kernel.KernelFacts:
    """``facts`` with the given command line and/or dmesg in place of the host's own."""
    if dmesg is not None:
        facts = dataclasses.replace(facts, dmesg_source=dmesg.source, dmesg_iommu_lines=dmesg.lines,
                                    dmesg_group_additions=dmesg.group_additions,
                                    release=facts.release or dmesg.release)
        if cmdline is None and facts.cmdline is None:
            facts = dataclasses.replace(facts, cmdline=dmesg.cmdline)
    if cmdline is not None:
        facts = dataclasses.replace(facts, cmdline=cmdline)
    return facts


def _read(path: str, what: str, limit: int) -> str:
    try:
        data = boundedread.read_bounded(path, limit)
    except IsADirectoryError as exc:
        raise KernelPasteInvalid(what=what, path=path, reason="a directory") from exc
    except OSError as exc:  # NotRegularFile and FileTooLarge say why in strerror
        raise KernelPasteInvalid(what=what, path=path, reason=exc.strerror or str(exc)) from exc
    if b"\0" in data[:65536]:
        raise KernelPasteInvalid(what=what, path=path, reason="binary data (NUL bytes)")
    return data.decode("utf-8", "replace")
