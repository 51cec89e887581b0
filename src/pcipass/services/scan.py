"""``pcipass scan``: every host's PCI devices, matched against that host's own device_spec.

A host is a host root (``/``, a directory, a ``.tar.gz`` bundle) or an lspci
paste (``--lspci FILE``, named after the file's stem). For each one this reads
the devices, NUMA cells and kernel facts, reads the host's compute config and
matches every device the way nova-compute would.

Which config governs a host (``contracts.md`` §4):

* the compute config is the root's ``etc/nova/nova.conf`` followed by
  ``etc/nova/nova.conf.d/*.conf`` (sorted), read through the root so that no
  link can make us read outside it; file names in problems are those paths
  inside the root. ``--compute-conf`` replaces it on every host (an lspci
  paste has none otherwise).
* ``--nova-conf`` is the controller's view. It is merged after the compute
  config, the way oslo.config merges later ``--config-file`` values, but only
  for what the controller owns: ``[pci] alias`` values are appended and the
  ``[filter_scheduler]`` options it sets win. ``device_spec``,
  ``report_in_placement`` and ``[DEFAULT] host`` stay the compute node's.
* Host facts for the device_spec parse (is this address a PF? which device
  is netdev X?) come from the host's own devices, as nova-compute probes its
  own sysfs.

An invalid ``device_spec`` (or a compute config oslo.config cannot read)
stops nova-compute, so such a host has no assignable device:
``passthrough`` is false everywhere. :attr:`HostScan.matches` still says what
the valid entries would match, for the doctor.

Start-up matters (``scan -f json`` in scripts, on a fleet): the config
reader (oslo.config), the alias parser (jsonschema), the spec matcher and the
lspci parser are imported only when some config or paste is read.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pcipass.adapters import hostroot, kernel, pciids, sysfs
from pcipass.core import errors, model
from pcipass.services import gcpause, progress

if TYPE_CHECKING:
    from pathlib import Path

    from pcipass.core import config, spec
    from pcipass.services import configcheck

SCAN_SCHEMA = "pcipass-scan/1"
COMPUTE_CONF = "etc/nova/nova.conf"
COMPUTE_CONF_DIR = "etc/nova/nova.conf.d"
MAX_CONF_BYTES = 16 << 20
MAX_LSPCI_BYTES = 16 << 20
#: The [filter_scheduler] options a controller config overrides.
CONTROLLER_OPTIONS = ("pci_in_placement", "enabled_filters", "pci_weight_multiplier")

KIND_LIVE, KIND_DIRECTORY, KIND_BUNDLE, KIND_LSPCI = "live", "directory", "bundle", "lspci"
#: Where a host's device facts came from (``facts_from`` in the JSON document).
FROM_SYSFS, FROM_CACHE, FROM_LSPCI = "sysfs", "facts.json", "lspci"
#: What to do with a host root's facts.json (contracts §1).
CACHE_USE, CACHE_IGNORE, CACHE_SAVE = "use", "ignore", "save"
CACHE_MODES = (CACHE_USE, CACHE_IGNORE, CACHE_SAVE)


class LspciInputInvalid(errors.InputError):
    """An ``--lspci`` file that cannot be read or holds no device."""

    msg_fmt = "Invalid lspci input %(path)s: %(reason)s"


@dataclasses.dataclass(frozen=True)
class HostScan:
    """One scanned host, as the doctor and the scheduler reuse it.

    :ivar name: the host name (``manifest.hostname``, ``etc/hostname``, the
        directory name; an lspci file's stem).
    :ivar root: what was given: the ``--host`` path or the ``--lspci`` file.
    :ivar kind: ``live``, ``directory``, ``bundle`` or ``lspci``.
    :ivar nova_host: ``[DEFAULT] host`` of the compute config when set: the
        name Nova and Placement use for this host.
    :ivar numa: NUMA cells and sockets; ``None`` for an lspci paste.
    :ivar kernel: kernel facts; ``None`` for an lspci paste.
    :ivar config: the parsed compute (+ controller) config; ``None`` when the
        host has no compute config and no ``--nova-conf`` was given.
    :ivar compute_starts: False when nova-compute would refuse this config
        (invalid device_spec, unreadable file): then nothing is assignable;
        ``None`` when there is no compute config at all.
    :ivar matches: address -> the first device_spec entry that matches it,
        ``None`` when none does (over the entries that parsed).
    :ivar iommu_groups: group -> member addresses (sysfs only).
    :ivar netdevs: address -> interfaces with MAC and operstate (sysfs only).
    :ivar config_errors: the ``config.errors`` of the JSON document.
    :ivar config_warnings: the ``config.warnings`` of the JSON document.
    :ivar warnings: unreadable or odd host files, each naming the path.
    :ivar facts_from: ``sysfs``, ``facts.json`` (the root's saved facts) or ``lspci``.
    """

    name: str
    root: str
    kind: str
    devices: tuple[model.Device, ...]
    numa: sysfs.NumaTopology | None
    kernel: kernel.KernelFacts | None
    config: configcheck.ConfigView | None
    compute_starts: bool | None
    matches: Mapping[str, spec.SpecEntry | None]
    iommu_groups: Mapping[int, tuple[str, ...]]
    netdevs: Mapping[str, tuple[sysfs.NetDev, ...]]
    config_errors: tuple[errors.Problem, ...]
    config_warnings: tuple[errors.Problem, ...]
    warnings: tuple[str, ...]
    nova_host: str | None = None
    facts_from: str = "sysfs"

    @property
    def nova_name(self) -> str:
        """The name Nova reports this host under (``[DEFAULT] host`` wins)."""
        return self.nova_host or self.name

    @property
    def config_valid(self) -> bool:
        return not self.config_errors

    def assigned_spec(self, address: str) -> spec.SpecEntry | None:
        """The spec entry that makes ``address`` assignable, as nova-compute decides."""
        return self.matches.get(address) if self.compute_starts is True else None

    def passthrough_devices(self) -> list[model.Device]:
        return [d for d in self.devices if self.assigned_spec(d.address) is not None]

    def device_dict(self, dev: model.Device) -> dict[str, Any]:
        """The contract's Device object (plus ``revision`` and ``driver_override``)."""
        out = dev.to_dict()
        warnings = out.pop("warnings")
        entry = self.assigned_spec(dev.address)
        out["passthrough"] = entry is not None
        out["spec_index"] = entry.index if entry is not None else None
        out["spec_source"] = _spec_source(self.config, entry)
        out["tags"] = dict(entry.spec.tags) if entry is not None else {}
        out["revision"] = dev.revision
        out["driver_override"] = dev.driver_override
        out["warnings"] = warnings
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "root": self.root,
            "kind": self.kind,
            "nova_host": self.nova_host,
            "facts_from": self.facts_from,
            "kernel": self.kernel.to_dict() if self.kernel is not None else unknown_kernel(),
            "numa": self.numa.to_dict() if self.numa is not None else None,
            "config": {
                "valid": self.config_valid,
                "files": list(self.config.nova.files) if self.config is not None else [],
                "compute_starts": self.compute_starts,
                "errors": [p.to_dict() for p in self.config_errors],
                "warnings": [p.to_dict() for p in self.config_warnings],
            },
            "devices": [self.device_dict(d) for d in self.devices],
            "warnings": list(self.warnings),
        }


@dataclasses.dataclass(frozen=True)
class ScanReport:
    """All scanned hosts, in the order given (``--host`` first, then ``--lspci``)."""

    hosts: tuple[HostScan, ...]

    @property
    def valid(self) -> bool:
        """True when every host's config is valid."""
        return all(h.config_valid for h in self.hosts)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCAN_SCHEMA, "hosts": [h.to_dict() for h in self.hosts]}


def unknown_kernel() -> dict[str, Any]:
    """The ``kernel`` object of a host known only from lspci: the same keys, nothing known."""
    return {"release": None, "cmdline": None, "iommu_present": None, "iommu_devices": [],
            "iommu_groups": None, "acpi_tables": [], "modules": [], "vfio_pci": None,
            "dmesg_source": None, "dmesg_iommu_lines": [], "dmesg_group_additions": None,
            "warnings": []}


def _spec_source(view: configcheck.ConfigView | None,
                 entry: spec.SpecEntry | None) -> dict[str, Any] | None:
    if view is None or entry is None:
        return None
    return view.spec_source(entry)


# -- the use case ---------------------------------------------------------------------------


def scan_hosts(hosts: Sequence[str | Path], *, lspci: Sequence[str | Path] = (),
               nova_conf: Sequence[str | Path] = (),
               compute_conf: Sequence[str | Path] = (), jobs: int = 1,
               facts_cache: str = CACHE_USE) -> ScanReport:
    """Scan host roots and lspci pastes; match each against its own compute config.

    Hosts are scanned one at a time (or one per worker) and a bundle's memory
    is released before the next one is read, so a fleet costs little more
    memory than its devices.

    :param hosts: ``/``, host root directories or ``.tar.gz`` bundles.
    :param lspci: lspci pastes, each a host named after the file's stem.
    :param nova_conf: the controller's nova.conf files (aliases, scheduler options).
    :param compute_conf: nova.conf files replacing every host's compute config.
    :param facts_cache: a host root's ``facts.json`` (contracts §1): ``use`` it when it is
        valid, ``ignore`` it, or ``save`` it afresh from sysfs (directories only).
    :param jobs: host roots scanned in this many processes (0: one per CPU when the fleet
        is large enough to gain from it); results keep the input order.
    :raises hostroot.HostRootInvalid: a host path is missing or not a root or bundle.
    :raises LspciInputInvalid: an lspci file is unreadable or lists no device.
    """
    for path in hosts:  # fail before the first (maybe long) scan
        if not os.path.exists(path):
            raise hostroot.HostRootInvalid(path=os.fspath(path), reason="no such file or directory")
    for path in lspci:
        if not os.path.exists(path):
            raise LspciInputInvalid(path=os.fspath(path), reason="No such file or directory")
    if facts_cache == CACHE_SAVE:
        from pcipass.adapters import factscache

        for path in hosts:
            factscache.check_writable(os.fspath(path))
    controller = _read_files(nova_conf) if nova_conf else None
    override = _read_files(compute_conf) if compute_conf else None
    with gcpause.paused():
        scans = _scan_roots(list(hosts), controller, override, jobs, facts_cache)
        scans.extend(_scan_lspci(p, controller, override) for p in lspci)
        return ScanReport(tuple(_flag_duplicate_names(scans)))


#: Below this many host roots a process pool costs more than it saves.
PARALLEL_MIN_HOSTS = 16


def _scan_roots(paths: list[str | Path], controller: config.NovaConfig | None,
                override: config.NovaConfig | None, jobs: int,
                facts_cache: str = CACHE_USE) -> list[HostScan]:
    if facts_cache not in CACHE_MODES:
        raise ValueError(f"facts_cache must be one of {CACHE_MODES}, not {facts_cache!r}")
    if jobs == 0:
        jobs = (os.cpu_count() or 1) if len(paths) >= PARALLEL_MIN_HOSTS else 1
    jobs = min(jobs, len(paths))
    progress.start("host roots scanned", len(paths))
    if jobs <= 1:
        scans = []
        for p in paths:
            scans.append(_scan_root(p, controller, override, facts_cache))
            progress.advance()
        return scans
    from pcipass.services import workers

    chunk = max(1, len(paths) // (4 * jobs))
    results = workers.map_ordered(_scan_root, [(p, controller, override, facts_cache)
                                               for p in paths], jobs, chunk)
    try:
        scans = []
        for found in results:
            scans.append(found)
            progress.advance()
        return scans
    finally:
        results.close()  # a stop while this frame runs still terminates the workers


def _read_files(files: Sequence[str | Path]) -> config.NovaConfig:
    from pcipass.adapters import novaconf

    return novaconf.read_nova_conf(files)


def _scan_root(path: str | Path, controller: config.NovaConfig | None,
               override: config.NovaConfig | None, facts_cache: str = CACHE_USE) -> HostScan:
    from pcipass.adapters import factscache

    with hostroot.HostRoot.open(path) as root:
        kind = KIND_LIVE if root.live else KIND_DIRECTORY if os.path.isdir(path) else KIND_BUNDLE
        cache_notes: list[str] = []
        cached = factscache.load(root, cache_notes) if facts_cache == CACHE_USE else None
        if cached is not None:
            found, numa, facts = cached.found, cached.topology, cached.kernel_facts
        else:
            found = sysfs.read_devices(root)
            numa = sysfs.read_numa(root)
            facts = kernel.read_kernel(root)
            if facts_cache == CACHE_SAVE:
                factscache.save(root, found, numa, facts)
        warnings = [*cache_notes, *found.warnings, *numa.warnings, *facts.warnings]
        if not found.devices and not root.exists(sysfs.DEVICES_DIR):
            warnings.insert(0, f"{sysfs.DEVICES_DIR}: missing, so no PCI device was read; is "
                               f"{os.fspath(path)} a host root (contracts.md §1)?")
        compute = override if override is not None else _read_host_config(root, warnings)
        warnings[:0] = root.warnings  # after the reads: the root collects as it goes
        return _finish(_Partial(root.name, os.fspath(path), kind, found.devices, numa, facts,
                                found.iommu_groups, found.netdevs, warnings,
                                no_config=f"no compute config in the host root ({COMPUTE_CONF})",
                                facts_from=FROM_CACHE if cached is not None else FROM_SYSFS),
                       compute, controller)


def _scan_lspci(path: str | Path, controller: config.NovaConfig | None,
                override: config.NovaConfig | None) -> HostScan:
    from pathlib import Path

    from pcipass.adapters import lspci

    name = os.fspath(path)
    # NOTE: pastes without -nn carry names only; IDs guessed from unambiguous pci.ids
    # names are flagged on the device, which beats dropping the device.
    parsed = lspci.parse(_read_lspci(name), source=name, pci_ids=pciids.PciIds.system(),
                         guess_ids=True)
    if not parsed.devices:
        first = parsed.problems[0].message if parsed.problems else "no lspci device records"
        raise LspciInputInvalid(path=name, reason=f"no device found ({first})",
                                hint="paste the output of lspci -nnk (or lspci -vmmnnkD)")
    warnings = [f"{name}:{p.line}: {p.message}" if p.line else f"{name}: {p.message}"
                for p in parsed.problems if p.code != "LspciIdsFromNames"]  # those are on the device
    return _finish(_Partial(Path(name).stem or name, name, KIND_LSPCI, parsed.devices, None, None,
                            {}, {}, warnings,
                            no_config="an lspci paste has no compute config", facts_from=FROM_LSPCI),
                   override, controller)


def _read_lspci(path: str) -> str:
    """Read a paste without blocking on FIFOs or reading unbounded data."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise LspciInputInvalid(path=path, reason=exc.strerror or str(exc)) from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise LspciInputInvalid(path=path, reason=kind)
        data = os.read(fd, MAX_LSPCI_BYTES + 1)
    except OSError as exc:
        raise LspciInputInvalid(path=path, reason=exc.strerror or str(exc)) from exc
    finally:
        os.close(fd)
    if len(data) > MAX_LSPCI_BYTES:
        raise LspciInputInvalid(path=path, reason=f"larger than {MAX_LSPCI_BYTES >> 20} MiB")
    return data.decode("utf-8", "replace")


# -- config per host --------------------------------------------------------------------------


def _read_host_config(root: hostroot.HostRoot, warnings: list[str]) -> config.NovaConfig | None:
    """The root's compute config, or ``None`` when it has none.

    Files are read through the root (links leaving it are refused with a
    warning) and copied to a private temporary directory for oslo.config.
    """
    files = _host_conf_files(root, warnings)
    if not files:
        return None
    import tempfile  # only hosts with a compute config need it (scan start-up matters)
    from pathlib import Path

    from pcipass.adapters import novaconf

    loaded: list[novaconf.Loaded] = []
    problems: list[errors.Problem] = []
    with tempfile.TemporaryDirectory(prefix="pcipass-hostconf-") as tmp:
        for i, (rel, data) in enumerate(files):
            text, problem = _decode_conf(rel, data)
            if text is None:
                problems.append(problem)  # type: ignore[arg-type]
                continue
            copy = os.path.join(tmp, f"{i:04d}.conf")
            Path(copy).write_text(text, encoding="utf-8")
            item, problem = novaconf.load(copy, display=rel)
            if item is not None:
                loaded.append(item)
            elif problem is not None:
                problems.append(problem)
        return novaconf.read_loaded(loaded, [rel for rel, _ in files], problems)


def _host_conf_files(root: hostroot.HostRoot, warnings: list[str]) -> list[tuple[str, bytes]]:
    """(path in the root, bytes) of nova.conf and nova.conf.d/*.conf, in oslo's order."""
    rels = [COMPUTE_CONF]
    rels += [f"{COMPUTE_CONF_DIR}/{n}" for n in root.listdir(COMPUTE_CONF_DIR, warnings)
             if n.endswith(".conf") and not n.startswith(".")]
    out = []
    for rel in rels:
        data = root.read_bytes(rel, warnings, limit=MAX_CONF_BYTES + 1)  # regular files only
        if data is not None:
            out.append((rel, data))
    return out


def _decode_conf(rel: str, data: bytes) -> tuple[str | None, errors.Problem | None]:
    if len(data) > MAX_CONF_BYTES:
        return None, errors.Problem("ConfigFileUnreadable",
                                    f"cannot read config file {rel}: larger than "
                                    f"{MAX_CONF_BYTES >> 20} MiB", file=rel)
    from pcipass.adapters import novaconf

    return novaconf.decode_text(rel, data)


def with_controller(compute: config.NovaConfig, controller: config.NovaConfig) -> config.NovaConfig:
    """Merge the controller's config after the compute config, for what the controller owns.

    Aliases accumulate as oslo.config accumulates a MultiStrOpt over
    ``--config-file`` (compute values first); a ``[filter_scheduler]`` option
    the controller sets wins.
    """
    offset = len(compute.alias)
    aliases = [*compute.alias,
               *(dataclasses.replace(ov, value_index=offset + i) for i, ov in enumerate(controller.alias))]
    owned = [f for f in CONTROLLER_OPTIONS if f in controller.sources]
    return dataclasses.replace(
        compute, files=[*compute.files, *controller.files], alias=aliases,
        problems=[*compute.problems, *controller.problems],
        warnings=[*compute.warnings, *controller.warnings],
        sources={**compute.sources, **{f: controller.sources[f] for f in owned}},
        **{f: getattr(controller, f) for f in owned})


# -- matching ---------------------------------------------------------------------------------


@dataclasses.dataclass
class _Partial:
    """What was read of a host before its config is applied."""

    name: str
    root: str
    kind: str
    devices: tuple[model.Device, ...]
    numa: sysfs.NumaTopology | None
    kernel: kernel.KernelFacts | None
    iommu_groups: Mapping[int, tuple[str, ...]]
    netdevs: Mapping[str, tuple[sysfs.NetDev, ...]]
    warnings: list[str]
    no_config: str
    facts_from: str


def _finish(part: _Partial, compute: config.NovaConfig | None,
            controller: config.NovaConfig | None) -> HostScan:
    """Parse the host's config against its own facts and match every device."""
    view = None
    extra: list[errors.Problem] = []
    if compute is None:
        extra.append(errors.Problem(
            "NoComputeConfig", f"{part.no_config}: no device is assignable",
            hint="pass the compute node's nova.conf with --compute-conf FILE"))
    if compute is not None or controller is not None:
        from pcipass.core import config as config_mod
        from pcipass.services import configcheck

        merged = compute if compute is not None else config_mod.NovaConfig(files=[])
        if controller is not None:
            merged = with_controller(merged, controller)
        view = configcheck.analyze(merged, model.HostFacts.from_devices(part.devices),
                                   devices=part.devices)  # regex addresses run bounded once
    starts = None if compute is None else (not compute.problems and view is not None
                                           and view.specs.valid)
    matches = _match(part.devices, view, part.warnings)
    if starts is False:
        part.warnings.append("the compute config is invalid: nova-compute refuses to start with "
                             "it, so no device is assignable until config.errors are fixed")
    return HostScan(
        name=part.name, root=part.root, kind=part.kind, devices=part.devices, numa=part.numa,
        kernel=part.kernel, config=view, compute_starts=starts, matches=matches,
        iommu_groups=part.iommu_groups, netdevs=part.netdevs,
        config_errors=tuple(view.errors) if view is not None else (),
        config_warnings=(*extra, *(view.warnings if view is not None else ())),
        warnings=tuple(part.warnings),
        nova_host=compute.host if compute is not None else None, facts_from=part.facts_from)


def _match(devices: Sequence[model.Device], view: configcheck.ConfigView | None,
           warnings: list[str]) -> dict[str, spec.SpecEntry | None]:
    entries = view.specs.specs if view is not None else []
    out: dict[str, spec.SpecEntry | None] = {}
    if not entries:
        return dict.fromkeys((d.address for d in devices), None)
    from pcipass.core import spec

    for dev in devices:
        try:
            out[dev.address] = spec.first_match(entries, dev)
        except errors.PcipassError as exc:
            warnings.append(f"{dev.address}: cannot be matched: {exc.message}")
            out[dev.address] = None
    return out


def _flag_duplicate_names(scans: list[HostScan]) -> list[HostScan]:
    """Two inputs with one host name are ambiguous for the scheduler: say so on both."""
    by_name: dict[str, list[int]] = {}
    for i, h in enumerate(scans):
        by_name.setdefault(h.nova_name, []).append(i)
    for name, idx in by_name.items():
        if len(idx) < 2:
            continue
        for i in idx:
            others = ", ".join(scans[j].root for j in idx if j != i)
            note = f"host name {name!r} is also the name of {others}"
            scans[i] = dataclasses.replace(scans[i], warnings=(*scans[i].warnings, note))
    return scans
