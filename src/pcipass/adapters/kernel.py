"""Kernel facts of a host root: command line, IOMMU presence, vfio-pci, dmesg, release.

The doctor must not trust the command line alone: a kernel can have IOMMU
groups without ``intel_iommu=on`` (distribution defaults), and an
``intel_iommu=on`` on a machine without VT-d gives no groups. So each source
is reported separately and the doctor weighs them.
"""

from __future__ import annotations

import dataclasses
import re
import shlex

from pcipass.adapters import hostroot

DMESG_TIMEOUT_S = 5.0
_IOMMU_LINE = re.compile(r"DMAR|AMD-Vi|IVRS|IOMMU|iommu|VT-d|Directed I/O|vfio|VFIO")
_GROUP_ADD = re.compile(r"Adding to iommu group")
_MODULE_LINE = re.compile(r"^(\S+)\s+\d+\s+\d+")


@dataclasses.dataclass(frozen=True, slots=True)
class Cmdline:
    """``/proc/cmdline`` split as the kernel does (``key=value`` or bare ``key``).

    ``intel_iommu``/``amd_iommu``/``iommu`` hold the last value given (the
    kernel applies them in order); ``vfio_pci_ids`` is ``vfio-pci.ids``
    (or ``vfio_pci.ids``) split on commas; ``others`` keeps every other
    parameter in order.
    """

    raw: str
    intel_iommu: str | None = None
    amd_iommu: str | None = None
    iommu: str | None = None
    vfio_pci_ids: tuple[str, ...] = ()
    others: tuple[tuple[str, str | None], ...] = ()

    @property
    def iommu_pt(self) -> bool:
        return self.iommu == "pt"

    @property
    def iommu_passthrough(self) -> str | None:
        """The last ``iommu.passthrough=`` value (``1`` passthrough, ``0`` translated), if any."""
        found = [v for k, v in self.others if k == "iommu.passthrough"]
        return found[-1] if found else None


@dataclasses.dataclass(frozen=True, slots=True)
class KernelFacts:
    """What the kernel says about IOMMU and vfio on one host.

    :ivar iommu_devices: entries of ``sys/class/iommu`` (``dmar0``, ``ivhd0``).
    :ivar iommu_groups: number of ``sys/kernel/iommu_groups/*``.
    :ivar acpi_tables: which of ``DMAR``/``IVRS`` are in ``sys/firmware/acpi/tables``.
    :ivar vfio_pci: ``"module"`` (loaded module), ``"builtin"``, ``"absent"``
        or ``None`` when the root has neither ``proc/modules`` nor ``sys/module``.
    :ivar dmesg_source: ``"cmd/dmesg.txt"``, ``"dmesg"`` (live) or ``None``.
    :ivar dmesg_iommu_lines: DMAR/AMD-Vi/IOMMU/vfio lines (group additions counted apart).
    """

    release: str | None
    cmdline: Cmdline | None
    iommu_devices: tuple[str, ...]
    iommu_groups: int
    acpi_tables: tuple[str, ...]
    modules: tuple[str, ...]
    vfio_pci: str | None
    dmesg_source: str | None
    dmesg_iommu_lines: tuple[str, ...]
    dmesg_group_additions: int
    warnings: tuple[str, ...] = ()
    iommu_group_types: tuple[tuple[str, int], ...] = ()  # sys/kernel/iommu_groups/*/type: (type, count)
    sysfs: bool = True  # False for a host known only from pasted dmesg / command line
    # False when the root lacks the directory: its facts are unknown, not absent (a partial capture)
    acpi_read: bool = True  # sys/firmware/acpi/tables
    groups_read: bool = True  # sys/kernel/iommu_groups

    @property
    def iommu_present(self) -> bool | None:
        """True when sysfs shows a working IOMMU (devices or groups); None without sysfs."""
        if not self.sysfs:
            return True if self.dmesg_group_additions or self.iommu_group_types else None
        return bool(self.iommu_devices) or self.iommu_groups > 0


@dataclasses.dataclass(frozen=True, slots=True)
class IommuMode:
    """How the IOMMU maps DMA for host drivers: ``passthrough`` (identity), ``translated``
    (DMA / DMA-FQ), ``mixed``, ``off`` or ``unknown``, with what says so."""

    mode: str
    source: str | None
    detail: str


_PT_TYPES, _DMA_TYPES = frozenset({"identity"}), frozenset({"DMA", "DMA-FQ"})
_DEFAULT_DOMAIN = re.compile(r"Default domain type: (?P<t>Passthrough|Translated)")


def iommu_mode(k: KernelFacts) -> IommuMode:
    """The IOMMU mode: the groups' ``type`` files first, then dmesg's "Default domain type"
    line, then the command line (``iommu=pt``, ``iommu.passthrough=``, ``*_iommu=``)."""
    if k.iommu_group_types:
        kinds = {t for t, _n in k.iommu_group_types}
        counts = ", ".join(f"{n} {t}" for t, n in k.iommu_group_types)
        mode = ("passthrough" if kinds <= _PT_TYPES else "translated" if kinds <= _DMA_TYPES
                else "mixed" if kinds & _PT_TYPES and kinds & _DMA_TYPES else "unknown")
        return IommuMode(mode, "sys/kernel/iommu_groups/*/type", f"group types: {counts}")
    if k.sysfs and not k.iommu_present:
        # The kernel prints its "Default domain type" even when no IOMMU is active.
        return IommuMode("off", "sys/kernel/iommu_groups", "no IOMMU groups: no IOMMU is active")
    for line in reversed(k.dmesg_iommu_lines):
        m = _DEFAULT_DOMAIN.search(line)
        if m:
            return IommuMode(m.group("t").lower(), k.dmesg_source or "dmesg", line.strip()[:200])
    c = k.cmdline
    if c is None:
        return IommuMode("unknown", None, "no IOMMU group types, dmesg or kernel command line")
    return _cmdline_mode(c)


def _cmdline_mode(c: Cmdline) -> IommuMode:
    src = "cmdline"
    off = [f"{name}={val}" for name, val in (("iommu", c.iommu), ("intel_iommu", c.intel_iommu),
                                             ("amd_iommu", c.amd_iommu))
           if val is not None and "off" in val.split(",")]
    if off:
        return IommuMode("off", src, f"{off[0]} turns the IOMMU off")
    if c.iommu_passthrough in ("1", "0"):
        mode = "passthrough" if c.iommu_passthrough == "1" else "translated"
        return IommuMode(mode, src, f"iommu.passthrough={c.iommu_passthrough}")
    if c.iommu_pt:
        return IommuMode("passthrough", src, "iommu=pt")
    enabled = [f"{n}={v}" for n, v in (("intel_iommu", c.intel_iommu), ("amd_iommu", c.amd_iommu))
               if v is not None and "on" in v.split(",")]
    if enabled:
        return IommuMode("translated", src, f"{enabled[0]} without iommu=pt: the kernel's default "
                         "DMA domain (translated, unless built with CONFIG_IOMMU_DEFAULT_PASSTHROUGH)")
    return IommuMode("unknown", src, "the command line sets no IOMMU mode (the kernel's build default applies)")


def parse_cmdline(text: str) -> Cmdline:
    """Parse a kernel command line; quoted values are kept whole, ``--`` ends kernel parameters."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    fields: dict[str, str | None] = {"intel_iommu": None, "amd_iommu": None, "iommu": None}
    ids: list[str] = []
    others: list[tuple[str, str | None]] = []
    for word in words:
        if word == "--":
            break
        key, sep, value = word.partition("=")
        val = value if sep else None
        norm = key.replace("-", "_")
        if norm in fields:
            fields[norm] = val
        elif norm == "vfio_pci.ids":
            ids.extend(i.strip().lower() for i in (val or "").split(",") if i.strip())
        else:
            others.append((key, val))
    return Cmdline(raw=text.strip(), intel_iommu=fields["intel_iommu"], amd_iommu=fields["amd_iommu"],
                   iommu=fields["iommu"], vfio_pci_ids=tuple(ids), others=tuple(others))


def parse_modules(text: str) -> tuple[str, ...]:
    """Module names from ``/proc/modules``, in file order."""
    names = []
    for line in text.splitlines():
        m = _MODULE_LINE.match(line)
        if m:
            names.append(m.group(1))
    return tuple(names)


def iommu_lines(text: str) -> tuple[tuple[str, ...], int]:
    """The IOMMU/vfio lines of a dmesg, and how many "Adding to iommu group" lines it has."""
    lines: list[str] = []
    adds = 0
    for line in text.splitlines():
        if _GROUP_ADD.search(line):
            adds += 1
        elif _IOMMU_LINE.search(line):
            lines.append(line.rstrip())
    return tuple(lines), adds


def read_kernel(root: hostroot.HostRoot, *, live_dmesg: bool = True) -> KernelFacts:
    """Read the kernel facts of ``root``; live ``dmesg`` is run only for the live root."""
    warnings: list[str] = []
    cmd_text = root.read_text("proc/cmdline", warnings)
    modules_text = root.read_text("proc/modules", warnings, limit=1 << 20)
    modules = parse_modules(modules_text) if modules_text is not None else ()
    dmesg_source, dmesg = _read_dmesg(root, warnings, live_dmesg)
    groups = [n for n in root.listdir("sys/kernel/iommu_groups", warnings) if n.isdigit()]
    lines, adds = iommu_lines(dmesg) if dmesg is not None else ((), 0)
    return KernelFacts(
        release=_release(root, warnings),
        cmdline=parse_cmdline(cmd_text) if cmd_text is not None else None,
        iommu_devices=tuple(root.listdir("sys/class/iommu", warnings)),
        iommu_groups=len(groups),
        iommu_group_types=_group_types(root, groups, warnings),
        acpi_tables=tuple(t for t in ("DMAR", "IVRS")
                          if root.exists(f"sys/firmware/acpi/tables/{t}", warnings)),
        modules=modules,
        vfio_pci=_vfio_state(root, modules_text is not None, modules, warnings),
        dmesg_source=dmesg_source,
        dmesg_iommu_lines=lines,
        dmesg_group_additions=adds,
        warnings=tuple(warnings),
        acpi_read=root.exists("sys/firmware/acpi/tables", warnings),
        groups_read=root.exists("sys/kernel/iommu_groups", warnings),
    )


MAX_GROUP_TYPES = 4096
"""Groups whose ``type`` is read; a host has a few hundred at most."""


def _group_types(root: hostroot.HostRoot, groups: list[str],
                 warnings: list[str]) -> tuple[tuple[str, int], ...]:
    """How many IOMMU groups have each default-domain ``type`` (identity, DMA, DMA-FQ...)."""
    counts: dict[str, int] = {}
    for n in sorted(groups, key=int)[:MAX_GROUP_TYPES]:
        text = root.read_text(f"sys/kernel/iommu_groups/{n}/type", warnings, limit=64)
        kind = text.strip() if text else ""
        if kind and re.fullmatch(r"[A-Za-z][A-Za-z-]{0,15}", kind):
            counts[kind] = counts.get(kind, 0) + 1
    return tuple(sorted(counts.items()))


def _release(root: hostroot.HostRoot, warnings: list[str]) -> str | None:
    for rel in ("cmd/uname-r.txt", "proc/sys/kernel/osrelease"):
        text = root.read_text(rel, warnings)
        if text:
            return text.split()[0]
    kernel = (root.manifest or {}).get("kernel")
    return kernel if isinstance(kernel, str) and kernel else None


def _vfio_state(root: hostroot.HostRoot, have_modules: bool, modules: tuple[str, ...],
                warnings: list[str]) -> str | None:
    """``module`` when loaded as a module, ``builtin`` when compiled in, else ``absent``.

    ``sys/module/vfio_pci`` exists in both cases; only a loadable module has
    ``initstate`` (and a line in ``/proc/modules``).
    """
    if "vfio_pci" in modules:
        return "module"
    sys_module = root.exists("sys/module/vfio_pci", warnings)
    if sys_module:
        return "module" if root.exists("sys/module/vfio_pci/initstate", warnings) else "builtin"
    if not have_modules and not root.exists("sys/module", warnings):
        return None
    return "absent"


def _read_dmesg(root: hostroot.HostRoot, warnings: list[str],
                live_dmesg: bool) -> tuple[str | None, str | None]:
    text = root.read_text("cmd/dmesg.txt", warnings, limit=16 << 20)
    if text is not None:
        return "cmd/dmesg.txt", text
    if not (root.live and live_dmesg):
        return None, None
    # NOTE: subprocess costs ~2.7 ms to import and a scan of a host root or bundle never runs
    # dmesg: only the live host does.
    import subprocess

    try:
        done = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=DMESG_TIMEOUT_S,
                              check=False, errors="replace")
    except (OSError, subprocess.SubprocessError) as exc:
        warnings.append(f"dmesg: cannot run ({exc})")
        return None, None
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        warnings.append(f"dmesg: not readable ({reason})")
        return None, None
    return "dmesg", done.stdout
