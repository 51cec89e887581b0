"""Raw configuration records, as the config-file adapters read them.

These are values only: the adapters fill them from nova.conf, the Neutron
SR-IOV agent ini and flavor/image JSON, and the core interprets them. Option
values stay *raw strings* here (a ``[pci] device_spec`` value is JSON text,
not a parsed dict) so that every later error can still point at the exact
file and line the value came from.
"""

from __future__ import annotations

import dataclasses

from pcipass.core import errors

# Nova 34.0.0 nova/conf/scheduler.py, [filter_scheduler] enabled_filters default.
DEFAULT_ENABLED_FILTERS: tuple[str, ...] = (
    "ComputeFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
)
DEFAULT_PCI_WEIGHT_MULTIPLIER = 1.0
# The same file's available_filters and weight_classes defaults: every filter and weigher of Nova.
DEFAULT_AVAILABLE_FILTERS = "nova.scheduler.filters.all_filters"
DEFAULT_WEIGHT_CLASSES = "nova.scheduler.weights.all_weighers"


@dataclasses.dataclass(frozen=True, slots=True)
class OptionValue:
    """One value of an option, with where it was written.

    :ivar value: the string oslo.config returns (continuation lines joined
        with newlines, surrounding quotes removed as oslo removes them).
    :ivar file: the file as it was given to the reader.
    :ivar line: 1-based line of the ``key = value`` line; ``None`` if unknown.
    :ivar value_index: position in the merged list oslo.config returns for
        the option (for a scalar option: 0).
    :ivar option: the key as written (``passthrough_whitelist`` for a value
        given under the deprecated name).
    :ivar group: the section as written (``PCI``, ``DEFAULT``).
    :ivar end_line: last line of a value continued over several lines.
    """

    value: str
    file: str | None
    line: int | None
    value_index: int
    option: str
    group: str
    end_line: int | None = None

    @property
    def where(self) -> str:
        """``file:line`` for messages."""
        if self.file is None:
            return "<unknown>"
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclasses.dataclass(frozen=True)
class NovaConfig:
    """The PCI-relevant part of a merged set of nova.conf files.

    ``problems`` are errors (a file Nova could not read, a value of the wrong
    type); ``warnings`` are things Nova accepts but that are probably not
    what the operator meant (deprecated or unknown option names, ...).
    ``sources`` maps each scalar option name to the value that took effect.
    """

    files: list[str]
    device_spec: list[OptionValue] = dataclasses.field(default_factory=list)
    alias: list[OptionValue] = dataclasses.field(default_factory=list)
    legacy_devices: list[OptionValue] = dataclasses.field(default_factory=list)
    report_in_placement: bool = False
    pci_in_placement: bool = False
    enabled_filters: list[str] = dataclasses.field(
        default_factory=lambda: list(DEFAULT_ENABLED_FILTERS))
    pci_weight_multiplier: float = DEFAULT_PCI_WEIGHT_MULTIPLIER
    # [filter_scheduler] host_subset_size: the host is picked at random among this many best.
    host_subset_size: int = 1
    # Each value where it was written; none: Nova's default (DEFAULT_AVAILABLE_FILTERS).
    available_filters: list[OptionValue] = dataclasses.field(default_factory=list)
    weight_classes: list[str] = dataclasses.field(default_factory=lambda: [DEFAULT_WEIGHT_CLASSES])
    cpu_dedicated_set: str | None = None
    cpu_shared_set: str | None = None
    vcpu_pin_set: str | None = None
    host: str | None = None
    problems: list[errors.Problem] = dataclasses.field(default_factory=list)
    warnings: list[errors.Problem] = dataclasses.field(default_factory=list)
    sources: dict[str, OptionValue] = dataclasses.field(default_factory=dict)

    def located(self, option_name: str) -> OptionValue | None:
        """Where the effective value of a scalar option was set (None: default).

        For the multi-valued options (``device_spec``, ``alias``,
        ``legacy_devices``) this returns the first value.
        """
        if option_name in self.sources:
            return self.sources[option_name]
        multi = {"device_spec": self.device_spec, "alias": self.alias,
                 "legacy_devices": self.legacy_devices,
                 "pci_passthrough_devices": self.legacy_devices}
        values = multi.get(option_name)
        return values[0] if values else None

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclasses.dataclass(frozen=True)
class NovaSnippet:
    """A nova.conf fragment found inside a document (blog post, docs page).

    ``config`` is the fragment read on its own, as if it were a whole
    nova.conf; its lines are lines of the document.
    """

    file: str
    first_line: int
    last_line: int
    config: NovaConfig


# -- Neutron SR-IOV NIC agent ------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceMapping:
    """One ``physnet:ifname`` item of ``[sriov_nic] physical_device_mappings``."""

    physnet: str
    ifname: str
    line: int | None
    item: int


@dataclasses.dataclass(frozen=True, slots=True)
class Bandwidth:
    """One ``ifname:egress:ingress`` item of ``resource_provider_bandwidths`` (kbps)."""

    ifname: str
    egress: int | None
    ingress: int | None
    line: int | None
    item: int


@dataclasses.dataclass(frozen=True)
class SriovAgentConfig:
    """The Neutron SR-IOV NIC agent's device options, as the agent parses them."""

    file: str
    mappings: list[DeviceMapping] = dataclasses.field(default_factory=list)
    exclude_devices: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    bandwidths: list[Bandwidth] = dataclasses.field(default_factory=list)
    problems: list[errors.Problem] = dataclasses.field(default_factory=list)
    warnings: list[errors.Problem] = dataclasses.field(default_factory=list)
    sources: dict[str, OptionValue] = dataclasses.field(default_factory=dict)

    @property
    def device_mappings(self) -> dict[str, list[str]]:
        """physnet -> interfaces, duplicates dropped (Neutron's ``parse_mappings``)."""
        out: dict[str, list[str]] = {}
        for m in self.mappings:
            ifnames = out.setdefault(m.physnet, [])
            if m.ifname not in ifnames:
                ifnames.append(m.ifname)
        return out


# -- flavors and images ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Flavor:
    """A Nova flavor as read from ``openstack flavor show -f json`` or the API."""

    name: str
    file: str | None = None
    id: str | None = None
    vcpus: int | None = None
    ram: int | None = None
    disk: int | None = None
    extra_specs: dict[str, str] = dataclasses.field(default_factory=dict)
    problems: list[errors.Problem] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Image:
    """A Glance image's properties (``hw_pci_numa_affinity_policy`` and friends)."""

    name: str
    file: str | None = None
    properties: dict[str, str] = dataclasses.field(default_factory=dict)
    problems: list[errors.Problem] = dataclasses.field(default_factory=list)
