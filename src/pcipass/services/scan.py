"""``pcipass scan``: every host's PCI devices, matched against that host's own device_spec.

A host is a host root (``/``, a directory, a ``.tar.gz`` bundle) or an lspci
paste (``--lspci FILE``, named after the file's stem). For each one this reads
the devices, NUMA cells and kernel facts (adapters), reads the host's compute
config (:mod:`pcipass.adapters.hostconf`) and matches every device the way
nova-compute would (:mod:`pcipass.services.hostmatch`). The result is a
:class:`scanreport.ScanReport`.

Start-up matters (``scan -f json`` in scripts, on a fleet): the config reader
(oslo.config) and the config check (jsonschema) are imported only when some
host has a config.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from pcipass.adapters import (factscache, hostconf, hostroot, kernel, lspcifile, nodedev, roots, sysfs,
                              sysnuma)
from pcipass.core import config
from pcipass.services import gcpause, hostmatch, pastejoin, pastetypes, progress, scanreport, workers

KIND_LIVE, KIND_DIRECTORY, KIND_BUNDLE, KIND_LSPCI = "live", "directory", "bundle", "lspci"
KIND_NODEDEV = FROM_NODEDEV = "nodedev"
#: Where a host's device facts came from (``facts_from`` in the JSON document).
FROM_SYSFS, FROM_CACHE, FROM_LSPCI = "sysfs", "facts.json", "lspci"
#: What to do with a host root's facts.json (contracts §1).
CACHE_USE, CACHE_IGNORE, CACHE_SAVE = "use", "ignore", "save"
CACHE_MODES = (CACHE_USE, CACHE_IGNORE, CACHE_SAVE)
#: Below this many host roots a process pool costs more than it saves.
PARALLEL_MIN_HOSTS = 16


def scan_hosts(hosts: Sequence[str | Path], *, lspci: Sequence[str | Path] = (),
               nova_conf: Sequence[str | Path] = (),
               compute_conf: Sequence[str | Path] = (), jobs: int = 1,
               facts_cache: str = CACHE_USE, dmesg: Sequence[str | Path] = (),
               cmdline: Sequence[str | Path] = (),
               nodedevs: Sequence[str | Path] = ()) -> scanreport.ScanReport:
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
    :param dmesg: saved kernel logs; ``cmdline``: kernel command lines. Each joins the host
        named after its stem, else the only host, else names a new host
        (:mod:`~pcipass.services.pastejoin`).
    :param jobs: host roots scanned in this many processes (0: one per CPU when the fleet
        is large enough to gain from it); results keep the input order.
    :raises hostroot.HostRootInvalid: a host path is missing or not a root or bundle.
    :raises lspcifile.LspciInputInvalid: an lspci file is unreadable or lists no device.
    :raises pastejoin.PasteJoinAmbiguous: a dmesg or cmdline file fits none of several hosts.
    """
    for path in hosts:  # fail before the first (maybe long) scan
        if not os.path.exists(path):
            raise hostroot.HostRootInvalid(path=os.fspath(path), reason="no such file or directory")
    for path in lspci:
        if not os.path.exists(path):
            raise lspcifile.LspciInputInvalid(path=os.fspath(path), reason="No such file or directory")
    pastejoin.check_files(dmesg, cmdline)
    for path in nodedevs:
        if not os.path.exists(path):
            raise nodedev.NodedevInputInvalid(path=os.fspath(path), reason="No such file or directory")
    if facts_cache == CACHE_SAVE:
        for path in hosts:
            factscache.check_writable(os.fspath(path))
    controller = _read_files(nova_conf) if nova_conf else None
    override = _read_files(compute_conf) if compute_conf else None
    with gcpause.paused():
        scans = _scan_roots(list(hosts), controller, override, jobs, facts_cache)
        scans.extend(_scan_lspci(p, controller, override) for p in lspci)
        by_stem: dict[str, list[str]] = {}  # a host's tree and XML may come in two files
        for p in nodedevs:
            by_stem.setdefault(Path(p).stem or os.fspath(p), []).append(os.fspath(p))
        scans.extend(_scan_nodedev(name, files, controller, override) for name, files in by_stem.items())
        scans = pastejoin.join(scans, dmesg, cmdline)
        return scanreport.ScanReport(tuple(_flag_duplicate_names(scans)))


def _scan_roots(paths: list[str | Path], controller: config.NovaConfig | None,
                override: config.NovaConfig | None, jobs: int,
                facts_cache: str = CACHE_USE) -> list[scanreport.HostScan]:
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
    # NOTE: novaprepare with oslo.config costs ~70 ms to import; only --nova-conf / --compute-conf
    # need it here.
    from pcipass.adapters import novaprepare

    return novaprepare.read_nova_conf(files)  # templates and diffs as the nova.conf they stand for


def _scan_root(path: str | Path, controller: config.NovaConfig | None,
               override: config.NovaConfig | None,
               facts_cache: str = CACHE_USE) -> scanreport.HostScan:
    with roots.open_host(path) as root:
        kind = KIND_LIVE if root.live else KIND_BUNDLE if root.is_bundle else KIND_DIRECTORY
        cache_notes: list[str] = []
        cached = factscache.load(root, cache_notes) if facts_cache == CACHE_USE else None
        if cached is not None:
            found, numa, facts = cached.found, cached.topology, cached.kernel_facts
        else:
            found = sysfs.read_devices(root)
            numa = sysnuma.read_numa(root)
            facts = kernel.read_kernel(root)
            if facts_cache == CACHE_SAVE:
                factscache.save(root, found, numa, facts)
        warnings = [*cache_notes, *found.warnings, *numa.warnings, *facts.warnings]
        if not found.devices and not root.exists(sysfs.DEVICES_DIR):
            warnings.insert(0, f"{sysfs.DEVICES_DIR}: missing, so no PCI device was read; is "
                               f"{os.fspath(path)} a host root (contracts.md §1)?")
        compute = override if override is not None else hostconf.read_compute_config(root, warnings)
        warnings[:0] = root.warnings  # after the reads: the root collects as it goes
        read = hostmatch.HostRead(
            root.name, os.fspath(path), kind, found.devices, numa, facts, found.iommu_groups,
            found.netdevs, warnings,
            no_config=f"no compute config in the host root ({hostconf.COMPUTE_CONF})",
            facts_from=FROM_CACHE if cached is not None else FROM_SYSFS)
        return hostmatch.finish(read, compute, controller)


def _scan_lspci(path: str | Path, controller: config.NovaConfig | None,
                override: config.NovaConfig | None) -> scanreport.HostScan:
    name = os.fspath(path)
    parsed = lspcifile.read_devices(name)
    warnings = [f"{name}:{p.line}: {p.message}" if p.line else f"{name}: {p.message}"
                for p in parsed.problems if p.code != "LspciIdsFromNames"]  # those are on the device
    if untyped := pastetypes.unknown(parsed.devices):
        warnings.append(pastetypes.warning(untyped))
    read = hostmatch.HostRead(Path(name).stem or name, name, KIND_LSPCI, parsed.devices, None, None,
                              {}, {}, warnings, no_config="an lspci paste has no compute config",
                              facts_from=FROM_LSPCI)
    return hostmatch.finish(read, override, controller)


def _scan_nodedev(host: str, files: list[str], controller: config.NovaConfig | None,
                  override: config.NovaConfig | None) -> scanreport.HostScan:
    """A host known from virsh nodedev-dumpxml and nodedev-list --tree output (files of one stem)."""
    parsed = nodedev.read_nodedev(files)
    warnings = [f"{p.file}:{p.line}: {p.message}" if p.line else f"{p.file}: {p.message}"
                for p in parsed.problems]
    read = hostmatch.HostRead(host, ", ".join(files), KIND_NODEDEV, parsed.devices, None, None,
                              parsed.iommu_groups, {}, warnings,
                              no_config="a nodedev paste has no compute config", facts_from=FROM_NODEDEV)
    return hostmatch.finish(read, override, controller)


def _flag_duplicate_names(scans: list[scanreport.HostScan]) -> list[scanreport.HostScan]:
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
