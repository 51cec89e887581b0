"""Gather the doctor's facts: the only part of the doctor that reads hosts and files.

The heavy lifting is the scan service (devices, kernel, NUMA, compute config
and matches per host). On top of it this module reads, lazily and at most
once per host, what only the doctor needs: the default route, the root
disk's controller, and the boot-time files that persist VFs and driver
bindings. Facts that cannot be had raise :class:`model.FactMissing` with the
reason, which the runner turns into ``skip`` findings.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from pcipass.adapters import flavorfile, hostroot, kernel
from pcipass.core import alias as alias_mod
from pcipass.core import errors, requests
from pcipass.doctor import mapping, model
from pcipass.core import schedule
from pcipass.services import configcheck, scan
from pcipass.services import schedule as schedule_svc

PERSISTENCE_DIRS = ("etc/udev/rules.d", "etc/modprobe.d", "etc/driverctl.d", "etc/systemd/system",
                    "etc/sysfs.d", "etc/modules-load.d")
PERSISTENCE_FILES = ("etc/sysfs.conf", "etc/rc.local")
PERSISTENCE_WORDS = re.compile(r"sriov_numvfs|vfio|driver_override|driverctl|pcipass|sriov")
MAX_PERSISTENCE_FILES = 500
_PCI_IN_PATH = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")
#: Problems the controller checks report (once), not every host.
CONTROLLER_CODES = frozenset({"PciInvalidAlias", "AliasNameUnusable", "AliasNeverMatches",
                              "AliasPlacementFieldsIgnored"})
LATER = {"placement": "the Placement layer", "sriov_agent": "the Neutron layer",
         "neutron": "the Neutron layer"}


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
    jobs: int = 1  # host roots scanned in parallel processes when > 1 (0: one per CPU for 16+ roots)
    facts_cache: str = "use"  # a host root's facts.json: use / ignore (scan.CACHE_*)


def _raiser(missing: model.FactMissing) -> Callable[[], Any]:
    def raise_missing() -> Any:
        raise missing
    return raise_missing


def _memoized(cache: dict[str, Any], name: str, getter: Callable[[], Any],
              internal_errors: list[str], prefix: str) -> Any:
    """Gather a fact once: a value, or a FactMissing that is raised again on every ask.

    An unexpected exception becomes a FactMissing too, and is recorded as an
    internal error (the doctor then exits 255).
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

    def __init__(self, inputs: Inputs, scans: Sequence[scan.HostScan]) -> None:
        self.inputs = inputs
        self.scans = scans
        self._cache: dict[str, Any] = {}
        self.internal_errors: list[str] = []
        self.hosts: list[HostSource] = []  # set by gather(): fleet-wide facts read every host

    def get(self, name: str) -> Any:
        getter: Callable[[], Any] | None = {"controller_config": self._controller,
                                            "flavors": self._flavors,
                                            "fleet_fit": self._fleet_fit}.get(name)
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
            return _controller_facts(configcheck.load_config(list(self.inputs.nova_conf)), "--nova-conf",
                                     only_controller_problems=False)
        with_config = [s for s in self.scans if s.config is not None and s.compute_starts is not None]
        if len(with_config) == 1 and (own := with_config[0].config) is not None:
            return _controller_facts(own, f"{with_config[0].name}'s own nova.conf (no --nova-conf given)",
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

    def _flavors(self) -> tuple[model.FlavorFacts, ...]:
        if not self.inputs.flavors:
            raise model.FactMissing("flavors", "no --flavor given")
        controller = self.peek("controller_config")
        image_props, image_problem = _image(self.inputs.image)
        return tuple(_flavor(path, controller, image_props, image_problem) for path in self.inputs.flavors)


def _controller_facts(view: configcheck.ConfigView, origin: str, *,
                      only_controller_problems: bool) -> model.ControllerFacts:
    def keep(p: errors.Problem) -> bool:
        if p.code == "PciInPlacementWithoutReporting":
            return False  # a per-host scheduler check reports it
        return not only_controller_problems or is_controller_problem(p)
    return model.ControllerFacts(
        files=tuple(view.nova.files), nova=view.nova, aliases=view.aliases,
        problems=tuple(p for p in view.errors if keep(p)),
        warnings=tuple(p for p in view.warnings if keep(p)), origin=origin)


def is_controller_problem(p: errors.Problem) -> bool:
    """Alias and [filter_scheduler] problems: the controller's to report."""
    entry = (p.entry or "").lower()
    return p.code in CONTROLLER_CODES or "alias" in entry or "filter_scheduler" in entry


def _image(path: str | None) -> tuple[dict[str, str] | None, errors.Problem | None]:
    if path is None:
        return None, None
    img = flavorfile.read_image(path)
    return dict(img.properties), (img.problems[0] if img.problems else None)


def _flavor(path: str, controller: model.ControllerFacts | None, image_props: dict[str, str] | None,
            image_problem: errors.Problem | None) -> model.FlavorFacts:
    fl = flavorfile.read_flavor(path)
    aliases = controller.aliases if controller is not None else alias_mod.AliasParseResult({}, [], [])
    known = controller is not None

    def refused(problem: errors.Problem) -> model.FlavorFacts:
        return model.FlavorFacts(fl.name, fl.file, dict(fl.extra_specs), (), None, None, None,
                                 problem, (), known, vcpus=fl.vcpus, ram=fl.ram)
    if fl.problems:
        return refused(fl.problems[0])
    if image_problem is not None:
        return refused(image_problem)
    if fl.extra_specs.get(requests.ALIAS_KEY) and not aliases.valid and aliases.nova_error is not None:
        return refused(aliases.nova_error)  # Nova refuses every PCI flavor while the table is bad
    try:
        fr = requests.translate_flavor(fl.extra_specs, aliases.aliases, image_props)
    except errors.PcipassError as exc:
        return refused(exc.to_problem(file=fl.file, entry=f"flavor {fl.name!r}"))
    return model.FlavorFacts(fl.name, fl.file, dict(fl.extra_specs), tuple(fr.requests), fr.numa_nodes,
                             fr.numa_policy, fr.cpu_policy, None,
                             tuple(w.located(file=fl.file) for w in fr.warnings), known,
                             vcpus=fl.vcpus, ram=fl.ram)


class HostSource:
    """One host's facts, built from its scan and, lazily, from its root."""

    def __init__(self, hs: scan.HostScan, run: RunSource, root: hostroot.HostRoot | None = None) -> None:
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
            raise model.FactMissing("kernel", "an lspci paste has no kernel facts; use a host root")
        return kernel_view(self.scan.kernel)

    def _devices(self) -> model.DeviceFacts:
        return model.DeviceFacts.of(self.scan.devices, "lspci" if self.scan.kind == scan.KIND_LSPCI else "sysfs")

    def _groups(self) -> dict[int, tuple[str, ...]]:
        if self.scan.kind == scan.KIND_LSPCI:
            raise model.FactMissing("iommu_groups", "an lspci paste has no IOMMU groups")
        return dict(self.scan.iommu_groups)

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
        return config_facts(s, controller)

    def _spec_map(self) -> list[dict[str, Any]]:
        return mapping.spec_rows(self.host, self.get("compute_config"), self.get("devices"))

    def _host_fit(self) -> model.HostFit:
        flavors: tuple[model.FlavorFacts, ...] = self.run.get("flavors")
        if self.scan.kind == scan.KIND_LSPCI:
            raise model.FactMissing("host_fit", "an lspci paste has no NUMA cells or CPUs to fit an instance on")
        self.get("compute_config")
        try:
            hm = schedule_svc.host_model(self.scan)
        except errors.PcipassError as exc:
            raise model.FactMissing("host_fit", f"host NUMA cells: {exc.message}") from exc
        controller: model.ControllerFacts | None = self.run.peek("controller_config")
        mult = controller.nova.pci_weight_multiplier if controller is not None else None
        fits = {fl.name: flavor_fit(hm, fl) for fl in flavors if fl.error is None}
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
        if self.scan.kind == scan.KIND_LSPCI:
            raise model.FactMissing(fact, "an lspci paste has no host files")
        if self._root is None:
            try:
                self._root = hostroot.HostRoot.open(self.scan.root)
            except hostroot.HostRootInvalid as exc:
                raise model.FactMissing(fact, f"the host root cannot be read again ({exc})") from exc
        return self._root

    def _lines(self, fact: str, rel: str) -> list[str]:
        root = self._open(fact)
        data = root.read_bytes(rel, [], limit=1 << 20)
        if data is None:
            raise model.FactMissing(fact, f"{rel} is not in the host root")
        return data.decode("utf-8", "replace").splitlines()

    def _route(self) -> model.RouteFacts:
        lines = self._lines("default_route", "proc/net/route")
        return model.RouteFacts("proc/net/route", parse_route(lines))

    def _root_disk(self) -> model.RootDiskFacts:
        lines = self._lines("root_disk", "proc/mounts")
        found = root_mount(lines)
        if found is None:
            raise model.FactMissing("root_disk", "proc/mounts has no / mount")
        line_no, device = found
        if {".", ".."} & set(device.split("/")[1:]):
            # The kernel prints canonical paths; a device that climbs ("/dev/mapper/../../etc")
            # would lead the reads below out of /dev, and out of the root.
            raise model.FactMissing("root_disk", f"proc/mounts line {line_no}: the device "
                                    f"{device!r} climbs with '.' or '..'; not followed")
        block, path, address = self._block_address(device)
        return model.RootDiskFacts("proc/mounts", line_no, lines[line_no - 1], block, path, address)

    def _block_address(self, device: str) -> tuple[str, str, str | None]:
        root = self._open("root_disk")
        name = device.rsplit("/", 1)[-1]
        if device.startswith("/dev/mapper/") or device.startswith("/dev/disk/"):
            target = root.readlink(device.lstrip("/"), [])
            name = target.rsplit("/", 1)[-1] if target else name
        if name in ("", ".", ".."):
            raise model.FactMissing("root_disk", f"{device} names no block device")
        rel = f"sys/class/block/{name}"
        for _ in range(4):  # dm/md: follow the first slave down to a disk
            slaves = root.listdir(f"{rel}/slaves", [])
            if not slaves:
                break
            rel = f"sys/class/block/{sorted(slaves)[0]}"
        real = root.resolve(rel, [])
        if real is None:
            return name, rel, None
        inside = real[len(root.path):]
        found = _PCI_IN_PATH.findall(inside)
        return name, "sys" + inside.split("/sys", 1)[-1] if "/sys" in inside else inside, (
            found[-1] if found else None)

    def _persistence(self) -> model.PersistenceFacts:
        root = self._open("persistence")
        collector = str((root.manifest or {}).get("collector", "")).split(" ")[0]
        dirs = [d for d in PERSISTENCE_DIRS if root.exists(d, [])]
        files = [f for f in PERSISTENCE_FILES if root.exists(f, [])]
        if not (root.live or collector in ("pcipass", "pcipass-sh") or dirs or files):
            raise model.FactMissing("persistence", "the host root has no collected etc/ boot files "
                                    "(udev, modprobe.d, driverctl.d, systemd)")
        out: list[tuple[str, str]] = []
        for rel in [*files, *(p for d in dirs for p in root.iter_files(d, []))][:MAX_PERSISTENCE_FILES]:
            data = root.read_bytes(rel, [], limit=1 << 16)
            text = data.decode("utf-8", "replace") if data is not None else ""
            if PERSISTENCE_WORDS.search(text):
                out.append((rel, text))
        ids = self.scan.kernel.cmdline.vfio_pci_ids if self.scan.kernel and self.scan.kernel.cmdline else ()
        return model.PersistenceFacts(tuple(out), tuple(ids))


# -- conversions (pure) ---------------------------------------------------------------------------


def flavor_fit(hm: schedule_svc.HostModel, fl: model.FlavorFacts) -> model.FlavorFit:
    """The scheduling core's verdict for ``fl`` on ``hm`` (all matched devices free)."""
    reqs = tuple(schedule.build_requests(fl.requests))
    shape = schedule_svc.instance_shape(fl.vcpus, fl.ram, fl.numa_nodes, fl.cpu_policy)
    try:
        verdict = schedule_svc.evaluate(hm, reqs, shape)
    except errors.PcipassError as exc:
        return model.FlavorFit(fl.name, reqs, shape, None, exc.to_problem(file=fl.file, entry=f"flavor {fl.name!r}"))
    return model.FlavorFit(fl.name, reqs, shape, verdict)


def kernel_view(k: kernel.KernelFacts) -> model.KernelView:
    c = k.cmdline
    lines = k.dmesg_iommu_lines
    platform = ("amd" if "IVRS" in k.acpi_tables or any("AMD-Vi" in ln for ln in lines) else
                "intel" if "DMAR" in k.acpi_tables or any("DMAR" in ln for ln in lines) else None)
    return model.KernelView(
        release=k.release, cmdline=c.raw if c else None, intel_iommu=c.intel_iommu if c else None,
        amd_iommu=c.amd_iommu if c else None, iommu=c.iommu if c else None,
        vfio_pci_ids=c.vfio_pci_ids if c else (), iommu_devices=k.iommu_devices,
        iommu_groups=k.iommu_groups, acpi_tables=k.acpi_tables, vfio_pci=k.vfio_pci,
        modules=k.modules, dmesg_source=k.dmesg_source, dmesg_lines=lines, platform=platform)


def config_facts(s: scan.HostScan, controller: model.ControllerFacts | None) -> model.ConfigFacts:
    """The host's view, minus the problems the controller checks already report."""
    view = s.config
    assert view is not None
    same = controller is not None and controller.origin.startswith(f"{s.name}'s own")
    reported = {_key(p) for p in (*controller.problems, *controller.warnings)} if controller else set()

    def mine(p: errors.Problem) -> bool:
        if p.code == "PciInPlacementWithoutReporting":
            return False
        if same:
            return not is_controller_problem(p)
        return _key(p) not in reported
    sources = {}
    for entry in view.specs.specs:
        src = view.spec_source(entry)
        sources[entry.index] = (src["file"], src["line"], src["item"])
    return model.ConfigFacts(
        files=tuple(view.nova.files), nova=view.nova, specs=view.specs, aliases=view.aliases,
        problems=tuple(p for p in s.config_errors if mine(p)),
        warnings=tuple(p for p in s.config_warnings if mine(p) and p.code != "NoComputeConfig"),
        matches=dict(s.matches), starts=s.compute_starts, spec_sources=sources)


def _key(p: errors.Problem) -> tuple[Any, ...]:
    return (p.code, p.message, p.file, p.line)


def parse_route(lines: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """Interfaces of default routes (destination and mask 0) with their 1-based line."""
    out = []
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if n == 1 or len(parts) < 8:
            continue
        if parts[1] == "00000000" and parts[7] == "00000000" and parts[0] not in ("lo", "*"):
            out.append((parts[0], n))
    return tuple(out)


def root_mount(lines: Sequence[str]) -> tuple[int, str] | None:
    """The last ``/`` mount of a block device: (1-based line, device)."""
    found = None
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "/" and parts[0].startswith("/dev/"):
            found = (n, parts[0])
    return found


def _scan(paths: list[str], inputs: Inputs) -> list[scan.HostScan]:
    """The scan service over every host; host roots in ``inputs.jobs`` processes when asked."""
    return list(scan.scan_hosts(paths, lspci=list(inputs.lspci), nova_conf=list(inputs.nova_conf),
                                compute_conf=list(inputs.compute_conf), jobs=inputs.jobs,
                                facts_cache=inputs.facts_cache).hosts)


# -- the whole gathering --------------------------------------------------------------------------


@dataclasses.dataclass
class Gathered:
    """Every host's facts and the run-wide ones; close it to remove bundle extractions."""

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

    :raises hostroot.HostRootInvalid, scan.LspciInputInvalid: unusable inputs.
    """
    hosts = [str(Path(h)) for h in inputs.hosts] or ([] if inputs.lspci else ["/"])
    scans = _scan(hosts, inputs)
    run = RunSource(inputs, scans)
    run.hosts = [HostSource(s, run) for s in scans]
    return Gathered(run.hosts, run)
