"""Gather the doctor's facts: lazily, at most once, and every failure as a missing fact.

The heavy lifting is the scan service (devices, kernel, NUMA, compute config
and matches per host). On top of it the fact sources here read, lazily and
at most once per host, what only the doctor needs
(:mod:`~pcipass.services.doctor.hostfiles`) and the run-wide facts: the
controller's config and the flavors. Facts that cannot be had raise
:class:`model.FactMissing` with the reason, which the runner turns into
``skip`` findings. A host file that is invalid input (``proc/mounts`` with a
device that climbs) raises :class:`hostroot.HostRootInvalid` through the runner:
the doctor stops with exit 2, as for any invalid host root.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from pcipass.adapters import hostroot, roots, sriovagent
from pcipass.core import config, errors
from pcipass.doctor import mapping, model
from pcipass.services import configcheck, pastetypes, scan, scanreport
from pcipass.services import schedule as schedule_svc
from pcipass.services.doctor import flavors, hostfiles, placementfacts, scanfacts

LATER = {"neutron": "the Neutron layer's network and port facts"}


def _later(name: str) -> model.FactMissing:
    return model.FactMissing(name, f"not gathered yet: {LATER.get(name, name)} arrives in a later release")


@dataclasses.dataclass
class Inputs:
    """What the front end was given."""

    hosts: Sequence[str] = ()
    lspci: Sequence[str] = ()
    nova_conf: Sequence[str] = ()
    compute_conf: Sequence[str] = ()
    flavors: Sequence[str] = ()
    image: str | None = None
    nodedev: Sequence[str] = ()  # virsh nodedev-dumpxml / nodedev-list --tree pastes, a host each
    dmesg: Sequence[str] = ()  # saved kernel logs, joined to hosts (services.pastejoin)
    cmdline: Sequence[str] = ()  # kernel command lines, joined the same way
    jobs: int = 1  # host roots scanned in parallel processes when > 1 (0: one per CPU for 16+ roots)
    facts_cache: str = scan.CACHE_USE  # a host root's facts.json: use / ignore (scan.CACHE_*)
    placement_url: str | None = None  # the Placement API (or placement_cloud, a clouds.yaml cloud)
    placement_cloud: str | None = None
    placement_file: str | None = None  # a placement export instead of the API
    placement_token: str | None = None
    placement_timeout: float = 30.0
    sriov_agent_conf: Sequence[str] = ()  # the Neutron SR-IOV agent's ini: one for every host, or one per host


def _raiser(missing: model.FactMissing) -> Callable[[], Any]:
    def raise_missing() -> Any:
        raise missing
    return raise_missing


def _memoized(cache: dict[str, Any], name: str, getter: Callable[[], Any],
              internal_errors: list[str], prefix: str) -> Any:
    """Gather a fact once: a value, or a FactMissing that is raised again on every ask.

    An unexpected exception becomes a FactMissing too, and is recorded as an
    internal error (the doctor then exits 255). Invalid host input
    (:class:`hostroot.HostRootInvalid`) is raised as it is: the run stops, exit 2.
    """
    if name in cache:
        value = cache[name]
        if isinstance(value, model.FactMissing):
            raise value
        return value
    try:
        value = getter()
    except model.FactMissing as exc:
        cache[name] = exc
        raise
    except hostroot.HostRootInvalid:
        raise
    except Exception as exc:  # noqa: BLE001 - reported as an internal error (exit 255)
        internal_errors.append(f"{prefix}gathering {name}: {type(exc).__name__}: {exc}")
        missing = model.FactMissing(name, f"internal error: {type(exc).__name__}: {exc}")
        cache[name] = missing
        raise missing from exc
    cache[name] = value
    return value


class RunSource:
    """Global facts: the controller's config and the flavors, gathered once."""

    host: str | None = None

    def __init__(self, inputs: Inputs, scans: Sequence[scanreport.HostScan]) -> None:
        self.inputs = inputs
        self.scans = scans
        self._cache: dict[str, Any] = {}
        self.internal_errors: list[str] = []
        self.hosts: list[HostSource] = []  # set by gather(): fleet-wide facts read every host

    def get(self, name: str) -> Any:
        getter: Callable[[], Any] | None = {"controller_config": self._controller,
                                            "flavors": self._flavors,
                                            "fleet_fit": self._fleet_fit,
                                            "placement_view": self._placement_view}.get(name)
        if getter is None:
            getter = _raiser(_later(name) if name in LATER
                             else model.FactMissing(name, "not a run-wide fact"))
        return _memoized(self._cache, name, getter, self.internal_errors, "")

    def peek(self, name: str) -> Any:
        """The fact, or None when it is missing (for the mapping table)."""
        try:
            return self.get(name)
        except model.FactMissing:
            return None

    def _controller(self) -> model.ControllerFacts:
        if self.inputs.nova_conf:
            return scanfacts.controller_facts(configcheck.load_config(list(self.inputs.nova_conf)),
                                              "--nova-conf", only_controller_problems=False)
        with_config = [s for s in self.scans if s.config is not None and s.compute_starts is not None]
        if len(with_config) == 1 and (own := with_config[0].config) is not None:
            return scanfacts.controller_facts(
                own, f"{with_config[0].name}'s own nova.conf (no --nova-conf given)",
                only_controller_problems=True)
        why = ("no --nova-conf given and no host has a nova.conf" if not with_config else
               f"no --nova-conf given and {len(with_config)} hosts have their own nova.conf")
        raise model.FactMissing("controller_config", why + "; pass the controller's nova.conf with --nova-conf")

    def _fleet_fit(self) -> tuple[model.HostFit, ...]:
        fits = tuple(f for h in self.hosts if (f := h.peek("host_fit")) is not None)
        if not fits:
            reasons = sorted({str(exc.reason) for h in self.hosts
                              if isinstance(exc := h._cache.get("host_fit"), model.FactMissing)})
            raise model.FactMissing("fleet_fit", "no host could be evaluated" +
                                    (f" ({'; '.join(reasons)})" if reasons else ""))
        return fits

    def _placement_view(self) -> Any:
        i = self.inputs
        return placementfacts.read_view(url=i.placement_url, cloud=i.placement_cloud,
                                        file=i.placement_file, token=i.placement_token,
                                        timeout=i.placement_timeout)

    def _flavors(self) -> tuple[model.FlavorFacts, ...]:
        if not self.inputs.flavors:
            raise model.FactMissing("flavors", "no --flavor given")
        controller = self.peek("controller_config")
        return flavors.read_flavors(self.inputs.flavors, self.inputs.image, controller)


class HostSource:
    """One host's facts, built from its scan and, lazily, from its root."""

    def __init__(self, hs: scanreport.HostScan, run: RunSource,
                 root: hostroot.HostRoot | None = None) -> None:
        self.scan = hs
        self.run = run
        self._cache: dict[str, Any] = {}
        self._root = root
        self._getters: dict[str, Callable[[], Any]] = {
            "host": self._host, "kernel": self._kernel, "devices": self._devices,
            "iommu_groups": self._groups, "numa": self._numa, "compute_config": self._config,
            "default_route": partial(self._from_root, "default_route"),
            "root_disk": partial(self._from_root, "root_disk"),
            "persistence": partial(self._from_root, "persistence"), "spec_map": self._spec_map,
            "host_fit": self._host_fit,
            "placement": lambda: placementfacts.host_facts(self.scan, self.run.get("placement_view")),
            "sriov_agent": self._sriov_agent,
        }

    @property
    def host(self) -> str:
        return self.scan.name

    def get(self, name: str) -> Any:
        if model.FACT_TYPES.get(name, model.FactType("", model.HOST, "")).scope == model.GLOBAL:
            return self.run.get(name)
        getter = self._getters.get(name) or _raiser(_later(name))
        return _memoized(self._cache, name, getter, self.run.internal_errors, f"{self.host}: ")

    def peek(self, name: str) -> Any:
        try:
            return self.get(name)
        except model.FactMissing:
            return None

    def close(self) -> None:
        if self._root is not None:
            self._root.close()
            self._root = None

    # -- facts from the scan ------------------------------------------------------------

    def _host(self) -> model.HostInfo:
        s = self.scan
        return model.HostInfo(s.name, s.root, s.kind, s.nova_name, tuple(s.warnings), s.facts_from)

    def _kernel(self) -> model.KernelView:
        if self.scan.kernel is None:
            raise model.FactMissing("kernel", f"a {self.scan.kind} paste has no kernel facts; use a host "
                                    "root, or add its dmesg (--dmesg FILE) or command line (--cmdline FILE)")
        return scanfacts.kernel_view(self.scan.kernel)

    def _devices(self) -> model.DeviceFacts:
        devices, assumed = pastetypes.assume(self.scan.devices)
        source = "sysfs" if self.scan.facts_from in (scan.FROM_SYSFS, scan.FROM_CACHE) else self.scan.facts_from
        return model.DeviceFacts.of(devices, source, assumed)

    def _groups(self) -> dict[int, tuple[str, ...]]:
        if self.scan.iommu_groups or self.scan.facts_from in (scan.FROM_SYSFS, scan.FROM_CACHE):
            return dict(self.scan.iommu_groups)
        groups: dict[int, list[str]] = {}  # a paste's group numbers: its devices, by group
        for dev in self.scan.devices:
            if dev.iommu_group is not None:
                groups.setdefault(dev.iommu_group, []).append(dev.address)
        if not groups:
            raise model.FactMissing("iommu_groups", f"this {self.scan.facts_from} paste shows no "
                                    "IOMMU group numbers (lspci -vmmnnkD or an IOMMU group listing does)")
        return {g: tuple(sorted(members)) for g, members in groups.items()}

    def _numa(self) -> model.NumaFacts:
        if self.scan.numa is None:
            raise model.FactMissing("numa", "an lspci paste has no NUMA cells")
        return model.NumaFacts({c.id: c.cpus for c in self.scan.numa.cells})

    def _config(self) -> model.ConfigFacts:
        s = self.scan
        if s.config is None or s.compute_starts is None:
            raise model.FactMissing("compute_config", "no compute config (etc/nova/nova.conf in the host "
                                    "root); pass --compute-conf FILE")
        controller = self.run.peek("controller_config")
        return scanfacts.config_facts(s, controller)

    def _spec_map(self) -> list[mapping.SpecRow]:
        return mapping.spec_rows(self.host, self.get("compute_config"), self.get("devices"))

    def _host_fit(self) -> model.HostFit:
        flavor_facts: tuple[model.FlavorFacts, ...] = self.run.get("flavors")
        if self.scan.numa is None:
            raise model.FactMissing("host_fit", f"a {self.scan.kind} paste has no NUMA cells or CPUs to "
                                    "fit an instance on")
        self.get("compute_config")
        try:
            hm = schedule_svc.host_model(self.scan)
        except errors.PcipassError as exc:
            raise model.FactMissing("host_fit", f"host NUMA cells: {exc.message}") from exc
        controller: model.ControllerFacts | None = self.run.peek("controller_config")
        mult = controller.nova.pci_weight_multiplier if controller is not None else None
        fits = {fl.name: flavors.flavor_fit(hm, fl) for fl in flavor_facts if fl.error is None}
        return model.HostFit(self.host, hm.usable, hm.broken, fits, 1.0 if mult is None else float(mult))

    # -- facts only the doctor reads ------------------------------------------------------

    def _from_root(self, fact: str) -> Any:
        """A fact read from the host's own files. The three such facts are read in one
        opening of the root, which is then closed: a bundle is read into memory once more
        here, and released, so a fleet's bundles are never all held at once."""
        results: dict[str, tuple[bool, Any]] | None = self._cache.get("_root_files")
        if results is None:
            results = {}
            try:
                for name, read in (("default_route", self._route), ("root_disk", self._root_disk),
                                   ("persistence", self._persistence)):
                    try:
                        results[name] = (True, read())
                    except Exception as exc:  # noqa: BLE001 - re-raised below, for this fact only
                        results[name] = (False, exc)
            finally:
                self.close()
            self._cache["_root_files"] = results
        ok, value = results[fact]
        if not ok:
            raise value
        return value

    def _open(self, fact: str) -> hostroot.HostRoot:
        if self.scan.facts_from not in (scan.FROM_SYSFS, scan.FROM_CACHE):
            raise model.FactMissing(fact, f"a {self.scan.kind} paste has no host files")
        if self._root is None:
            try:
                self._root = roots.open_host(self.scan.root)
            except hostroot.HostRootInvalid as exc:
                raise model.FactMissing(fact, f"the host root cannot be read again ({exc})") from exc
        return self._root

    def _sriov_agent(self) -> config.SriovAgentConfig:
        """--sriov-agent-conf (one for every host, or one per host in order), else the root's own ini."""
        given = list(self.run.inputs.sriov_agent_conf)
        if given:
            index = self.run.hosts.index(self) if len(given) > 1 else 0
            if index >= len(given):
                raise model.FactMissing("sriov_agent", f"{len(given)} --sriov-agent-conf file(s) for "
                                        f"{len(self.run.hosts)} hosts: give one, or one per host")
            return sriovagent.read_sriov_agent_conf(given[index])
        found = sriovagent.read_from_root(self._open("sriov_agent"), []) if self.scan.facts_from in (
            scan.FROM_SYSFS, scan.FROM_CACHE) else None
        if found is None:
            raise model.FactMissing("sriov_agent", f"no Neutron SR-IOV agent config ({sriovagent.HOST_INI} "
                                    "in the host root); pass --sriov-agent-conf FILE")
        return found

    def _route(self) -> model.RouteFacts:
        return hostfiles.read_route(self._open("default_route"))

    def _root_disk(self) -> model.RootDiskFacts:
        return hostfiles.read_root_disk(self._open("root_disk"))

    def _persistence(self) -> model.PersistenceFacts:
        root = self._open("persistence")
        k = self.scan.kernel
        return hostfiles.read_persistence(root, k.cmdline.vfio_pci_ids if k and k.cmdline else ())


def _scan(paths: list[str], inputs: Inputs) -> list[scanreport.HostScan]:
    """The scan service over every host; host roots in ``inputs.jobs`` processes when asked."""
    return list(scan.scan_hosts(paths, lspci=list(inputs.lspci), nova_conf=list(inputs.nova_conf),
                                compute_conf=list(inputs.compute_conf), jobs=inputs.jobs,
                                facts_cache=inputs.facts_cache, dmesg=list(inputs.dmesg),
                                cmdline=list(inputs.cmdline), nodedevs=list(inputs.nodedev)).hosts)


# -- the whole gathering ---------------------------------------------------------------------------


@dataclasses.dataclass
class Gathered:
    """Every host's facts and the run-wide ones; close it to release any host root still open."""

    hosts: list[HostSource]
    run: RunSource

    def close(self) -> None:
        for h in self.hosts:
            h.close()

    def __enter__(self) -> Gathered:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def gather(inputs: Inputs) -> Gathered:
    """Scan every host (the live host ``/`` when none is given) and set up lazy fact sources.

    The doctor's own reads (route, mounts, boot files) open a host's root
    again only when a check asks for them; a bundle is then read once more
    (bundles are held in memory, so a fleet's are not all held at once).

    :raises hostroot.HostRootInvalid, lspcifile.LspciInputInvalid: unusable inputs.
    """
    pastes = (*inputs.lspci, *inputs.nodedev, *inputs.dmesg, *inputs.cmdline)
    hosts = [str(Path(h)) for h in inputs.hosts] or ([] if pastes else ["/"])
    scans = _scan(hosts, inputs)
    run = RunSource(inputs, scans)
    run.hosts = [HostSource(s, run) for s in scans]
    return Gathered(run.hosts, run)
