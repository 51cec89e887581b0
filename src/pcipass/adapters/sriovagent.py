"""Read the Neutron SR-IOV NIC agent's ini (``sriov_agent.ini``) as the agent does.

The three ``[sriov_nic]`` options are oslo.config ListOpts; the agent then
parses their items with neutron's rules, which are mirrored here with the
agent's own error texts (the agent refuses to start on any of them):

* ``physical_device_mappings``: ``physnet:ifname`` items; exactly one colon,
  both sides non-empty after stripping; a physnet may repeat (several
  interfaces), repeated identical items are dropped.
* ``exclude_devices``: ``ifname:addr;addr`` items; split at the first colon;
  each interface at most once, and it must appear in the mappings.
* ``resource_provider_bandwidths``: ``ifname:egress:ingress`` items (kbps,
  empty = not reported; a bare ``ifname`` means both empty); each interface
  at most once, and it must appear in the mappings.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from oslo_config import cfg

from pcipass.adapters import hostconf, interpolation, novaconf, sniff, sriovagentyaml
from pcipass.core import address, config, configbounds, errors

if TYPE_CHECKING:
    from pcipass.adapters import hostroot

GROUP = "sriov_nic"
CODE = "SriovAgentConfigInvalid"
_OPTIONS = ("physical_device_mappings", "exclude_devices", "resource_provider_bandwidths")


#: Where a host root keeps the agent's ini (contracts §1).
HOST_INI = "etc/neutron/plugins/ml2/sriov_agent.ini"


def read_sriov_agent_conf(path: str | Path, *, display: str | None = None) -> config.SriovAgentConfig:
    """Read ``[sriov_nic]`` of one agent ini. Never raises for bad input.

    :param display: the name problems give the file (the path inside a host root).
    """
    name = display or str(path)
    if display is None and sniff.classify_file(path).kind == "yaml":
        return _from_yaml(path)
    loaded, problem = novaconf.load(path, display=display)
    if loaded is None:
        return config.SriovAgentConfig(file=name, problems=[problem] if problem else [])
    over = _over_bound(loaded)
    if over is not None:
        return config.SriovAgentConfig(file=name, problems=[over])
    lists, sources, problems, notes = _oslo_lists(loaded)
    reader = _Reader(name, sources, problems)
    reader.warnings.extend(notes)
    mappings = reader.mappings(lists["physical_device_mappings"])
    ifnames = {m.ifname for m in mappings}
    exclude = reader.exclude(lists["exclude_devices"], ifnames)
    bandwidths = reader.bandwidths(lists["resource_provider_bandwidths"], ifnames)
    if not mappings and not reader.problems:
        reader.warnings.append(errors.Problem(
            "NoDeviceMappings", f"{name} has no [sriov_nic] physical_device_mappings: the "
            "agent binds no SR-IOV port on this host", file=name,
            hint="[sriov_nic] physical_device_mappings = <physnet>:<PF interface>"))
    return config.SriovAgentConfig(file=name, mappings=mappings, exclude_devices=exclude,
                                   bandwidths=bandwidths, problems=reader.problems,
                                   warnings=reader.warnings, sources=sources)


def _from_yaml(path: str | Path) -> config.SriovAgentConfig:
    """A TripleO, OpenStack-Ansible, Kolla or charm YAML (:mod:`sriovagentyaml`), by the agent's rules."""
    name = str(path)
    found, problems = sriovagentyaml.read_yaml_forms(path)
    sources = {opt: ov for opt, (_items, ov) in found.items()}
    reader = _Reader(name, sources, [p for p in problems if p.code != "NoDeviceMappings"])
    reader.warnings.extend(p for p in problems if p.code == "NoDeviceMappings")
    mappings = reader.mappings(found.get("physical_device_mappings", ([], None))[0])
    exclude = reader.exclude(found.get("exclude_devices", ([], None))[0], {m.ifname for m in mappings})
    return config.SriovAgentConfig(file=name, mappings=mappings, exclude_devices=exclude,
                                   problems=reader.problems, warnings=reader.warnings, sources=sources)


def read_from_root(root: hostroot.HostRoot, warnings: list[str]) -> config.SriovAgentConfig | None:
    """The agent ini a host root holds (:data:`HOST_INI`), read through the root; None without one.

    oslo.config reads paths, so the file is copied to a private temporary directory first
    (as :mod:`pcipass.adapters.hostconf` does for nova.conf).
    """
    if not root.exists(HOST_INI, warnings):
        return None
    data = root.read_bytes(HOST_INI, warnings, limit=hostconf.MAX_BYTES)
    if data is None:
        return config.SriovAgentConfig(file=HOST_INI, problems=[errors.Problem(
            "ConfigFileUnreadable", f"{HOST_INI} cannot be read in the host root", file=HOST_INI)])
    with tempfile.TemporaryDirectory(prefix="pcipass-sriovagent-") as tmp:
        copy = os.path.join(tmp, "sriov_agent.ini")
        Path(copy).write_bytes(data)
        return read_sriov_agent_conf(copy, display=HOST_INI)


def _over_bound(loaded: novaconf.Loaded) -> errors.Problem | None:
    """A list option of more than :data:`~pcipass.core.configbounds.MAX_ENTRIES` items, found
    before oslo splits it (the agent's rules compare items with each other)."""
    for e in loaded.ini.entries:
        if e.group == GROUP and e.key in _OPTIONS and \
                configbounds.list_items(e.value) > configbounds.MAX_ENTRIES:
            return configbounds.too_many_entries(f"[{GROUP}] {e.key}", "list items", loaded.name,
                                                 loaded.line(e.line))
    return None


def _oslo_lists(loaded: novaconf.Loaded) -> tuple[dict[str, list[str]],
                                                   dict[str, config.OptionValue],
                                                   list[errors.Problem], list[errors.Problem]]:
    """The three ListOpts through oslo.config, with where each was set (and the warnings).

    oslo's ``$name`` interpolation is bounded as for nova.conf; pcipass has no list
    of Neutron's options, so a reference to an option these files do not set is a
    warning (its value unknown), never NoSuchOptError.
    """
    conf = interpolation.BoundedConf([loaded.ini], known=lambda group, name: None,
                                     service="the SR-IOV agent")
    conf.register_opts([cfg.ListOpt(o, default=[]) for o in _OPTIONS], group="SRIOV_NIC")
    lists: dict[str, list[str]] = {o: [] for o in _OPTIONS}
    sources: dict[str, config.OptionValue] = {}
    problems: list[errors.Problem] = []
    notes: list[errors.Problem] = []
    try:
        conf(args=[f"--config-file={loaded.path}"], project="neutron", default_config_files=[],
             default_config_dirs=[], use_env=False)
    except (cfg.Error, OSError, SystemExit) as exc:  # pragma: no cover - parse_ini caught it
        problems.append(errors.Problem("ConfigFileParseError", str(exc), file=loaded.name))
        return lists, sources, problems, notes
    for opt in _OPTIONS:
        found = loaded.ini.find(GROUP, opt)
        where = {"file": loaded.name, "line": found[-1].line if found else None}
        if found:
            e = found[-1]
            sources[opt] = config.OptionValue(e.value, loaded.name, e.line, 0, e.key, e.section,
                                              e.end_line)
        conf.start(GROUP, opt)
        try:
            lists[opt] = list(getattr(conf.SRIOV_NIC, opt))
        except (cfg.Error, ValueError, RecursionError) as exc:
            lists[opt] = []
            problem = conf.problem(exc) or errors.Problem("ConfigFileValueError", str(exc))
            problems.append(problem.located(**where))
        notes.extend(n.located(**where) for n in conf.notes)
    return lists, sources, problems, notes


class _Reader:
    def __init__(self, file: str, sources: dict[str, config.OptionValue],
                 problems: list[errors.Problem]) -> None:
        self.file = file
        self.sources = sources
        self.problems = problems
        self.warnings: list[errors.Problem] = []

    def _line(self, opt: str, item: str) -> int | None:
        ov = self.sources.get(opt)
        if ov is None or ov.line is None:
            return None
        for offset, text in enumerate(ov.value.split("\n")):
            if item.strip() and item.strip() in text:
                return ov.line + offset
        return ov.line

    def _bad(self, opt: str, index: int, item: str, message: str, hint: str | None = None) -> None:
        self.problems.append(errors.Problem(
            CODE, message, file=self.file, line=self._line(opt, item),
            entry=f"[{GROUP}] {opt} item {index}", hint=hint))

    def mappings(self, items: list[str]) -> list[config.DeviceMapping]:
        opt = "physical_device_mappings"
        out: list[config.DeviceMapping] = []
        for i, raw in enumerate(items):
            item = raw.strip()
            if not item:
                continue
            parts = item.split(":")
            if len(parts) != 2:
                self._bad(opt, i, item, f"Invalid mapping: '{item}'",
                          "write <physnet>:<interface>, e.g. physnet2:ens785f0")
                continue
            physnet, ifname = parts[0].strip(), parts[1].strip()
            if not physnet:
                self._bad(opt, i, item, f"Missing key in mapping: '{item}'")
            elif not ifname:
                self._bad(opt, i, item, f"Missing value in mapping: '{item}'")
            else:
                out.append(config.DeviceMapping(physnet, ifname, self._line(opt, item), i))
        return out

    def exclude(self, items: list[str], ifnames: set[str]) -> dict[str, list[str]]:
        opt = "exclude_devices"
        out: dict[str, list[str]] = {}
        for i, item in enumerate(items):
            if ":" not in item:
                self._bad(opt, i, item, f"Invalid mapping: '{item}'",
                          "write <interface>:<VF address>;<VF address>")
                continue
            dev, devices = item.split(":", 1)
            dev = dev.strip()
            if not dev:
                self._bad(opt, i, item, f"Missing key in mapping: '{item}'")
            elif dev in out:
                self._bad(opt, i, item, f"Device {dev} in mapping: {item} not unique",
                          "list every excluded VF of an interface in one item, separated by ';'")
            elif dev not in ifnames:
                self._bad(opt, i, item, "Invalid exclude_devices: Device name "
                          f"{dev} is missing from physical_device_mappings",
                          f"add <physnet>:{dev} to physical_device_mappings, or fix the name")
            else:
                out[dev] = self._addresses(i, item, devices)
        return out

    def _addresses(self, index: int, item: str, devices: str) -> list[str]:
        out: list[str] = []
        for dev in (d.strip() for d in devices.split(";")):
            if not dev or dev in out:
                continue
            if address.PciAddress.try_parse(dev) is None:
                self.warnings.append(errors.Problem(
                    "ExcludedDeviceNotAnAddress",
                    f"excluded device {dev!r} is not a full PCI address (dddd:bb:ss.f): the agent "
                    "compares it with VF addresses as text, so it excludes nothing",
                    file=self.file, line=self._line("exclude_devices", item),
                    entry=f"[{GROUP}] exclude_devices item {index}"))
            out.append(dev)
        return out

    def bandwidths(self, items: list[str], ifnames: set[str]) -> list[config.Bandwidth]:
        opt = "resource_provider_bandwidths"
        out: list[config.Bandwidth] = []
        for i, raw in enumerate(items):
            item = raw if ":" in raw else raw + "::"
            parts = item.split(":")
            prefix = "Cannot parse resource_provider_bandwidths. "
            if len(parts) != 3:
                self._bad(opt, i, raw, f"{prefix}Expected a tuple with 3 values, got: {raw}",
                          "write <interface>:<egress kbps>:<ingress kbps>")
                continue
            name = parts[0]
            if any(b.ifname == name for b in out):
                self._bad(opt, i, raw, f'{prefix}Same resource name listed multiple times: "{name}"')
                continue
            try:
                egress, ingress = _rate(parts[1]), _rate(parts[2])
            except ValueError as exc:
                self._bad(opt, i, raw, f"{prefix}{exc}", "use a non-negative integer (kbps)")
                continue
            if name not in ifnames:
                self._bad(opt, i, raw, "Invalid resource_provider_bandwidths: Device name "
                          f"{name} is missing from device mappings")
                continue
            out.append(config.Bandwidth(name, egress, ingress, self._line(opt, raw), i))
        return out


def _rate(text: str) -> int | None:
    """Neutron's rate parsing: empty means not reported, else a non-negative integer."""
    if not text:
        return None
    try:
        rate = int(text)
    except ValueError:
        rate = -1
    if rate < 0:
        raise ValueError("Cannot parse string value to an integer. Expected: non-negative "
                         f"integer value, got: {text}")
    return rate
