"""Read nova.conf files exactly as Nova does, and say where every value came from.

Values come from **oslo.config** itself (a private ``ConfigOpts`` per call,
with the PCI options registered under Nova's names, types, defaults and
deprecated names), so merging across ``--config-file``/``--config-dir``,
MultiStrOpt accumulation and deprecated-name handling are oslo's own.

oslo.config keeps no line numbers, so each file is parsed a second time by
:func:`parse_ini`, a line-aware copy of oslo's INI grammar (the test suite
checks it against oslo's parser). Its entries are ordered the way oslo orders
values, and every value oslo returns gets its file and line from that parse.

Files oslo would choke on (missing, a directory, not UTF-8, INI syntax
errors) become :class:`~pcipass.core.errors.Problem` objects naming the file
and line, and are left out of the oslo pass so the other files still count.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import glob
import io
import logging
import os
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from oslo_config import cfg

from pcipass.adapters import boundedread
from pcipass.core import config, errors

DEFAULT = "DEFAULT"


# -- the INI grammar, line-aware --------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class IniEntry:
    """One ``key = value`` assignment (continuation lines joined as oslo joins them)."""

    section: str
    key: str
    value: str
    line: int
    end_line: int

    @property
    def group(self) -> str:
        """The section name as oslo looks it up (``DEFAULT`` kept, others lower-cased)."""
        return normalize_group(self.section)


@dataclasses.dataclass(frozen=True, slots=True)
class IniFile:
    entries: tuple[IniEntry, ...]
    sections: tuple[tuple[str, int], ...]

    def find(self, group: str, key: str) -> list[IniEntry]:
        """Entries for ``key`` in every section that normalizes to ``group``, in file order."""
        return [e for e in self.entries if e.group == group and e.key == key]


class IniSyntaxError(ValueError):
    """What oslo's ``iniparser.ParseError`` reports: a message, the line number and text."""

    def __init__(self, msg: str, lineno: int, line: str) -> None:
        super().__init__(f"at line {lineno}, {msg}: {line!r}")
        self.msg = msg
        self.lineno = lineno
        self.line = line


def normalize_group(name: str) -> str:
    """oslo.config's section normalization: ``DEFAULT`` stays, anything else is lower-cased."""
    return name if name == DEFAULT else name.lower()


def split_lines(text: str) -> list[str]:
    """Lines as Python's text-mode ``readlines()`` yields them (universal newlines)."""
    return io.StringIO(text, newline=None).readlines()


def parse_ini(text: str) -> IniFile:
    """Parse INI text with oslo.config's grammar, keeping line numbers.

    Mirrors ``oslo_config.iniparser.BaseParser``: a blank line ends a
    multi-line value; a line starting with a space or tab continues it; ``#``
    and ``;`` start comments only in column 0; ``key = value`` and
    ``key: value`` both assign (the first of ``=``/``:`` wins); one pair of
    matching surrounding quotes is removed from the first line's value.

    :raises IniSyntaxError: where oslo would raise ``ParseError``.
    """
    return _IniParser().parse(split_lines(text))


class _IniParser:
    def __init__(self) -> None:
        self.entries: list[IniEntry] = []
        self.sections: list[tuple[str, int]] = []
        self.section: str | None = None
        self.key: str | None = None
        self.value: list[str] = []
        self.key_line = 0
        self.last_line = 0

    def parse(self, lines: Sequence[str]) -> IniFile:
        for lineno, raw in enumerate(lines, 1):
            self._line(lineno, raw.rstrip())
        self._flush(len(lines))
        return IniFile(tuple(self.entries), tuple(self.sections))

    def _line(self, lineno: int, line: str) -> None:
        if not line:
            self._flush(lineno)
            return
        if line.startswith((" ", "\t")):
            if self.key is None:
                raise IniSyntaxError("Unexpected continuation line", lineno, line)
            self.value.append(line.lstrip())
            self.last_line = lineno
            return
        self._flush(lineno)
        if line.startswith("["):
            if not line.endswith("]"):
                raise IniSyntaxError("Invalid section (must end with ])", lineno, line)
            if len(line) <= 2:
                raise IniSyntaxError("Empty section name", lineno, line)
            self.section = line[1:-1]
            self.sections.append((self.section, lineno))
        elif not line.startswith(("#", ";")):
            self.key, self.value = _split_key_value(line, lineno)
            self.key_line = self.last_line = lineno
            if not self.key:
                raise IniSyntaxError("Key cannot be empty", lineno, line)

    def _flush(self, lineno: int) -> None:
        if self.key is None:
            return
        if self.section is None:
            raise IniSyntaxError("Section must be started before assignment", self.key_line,
                                 f"{self.key} = {self.value[0] if self.value else ''}")
        self.entries.append(IniEntry(self.section, self.key, "\n".join(self.value),
                                     self.key_line, self.last_line))
        self.key, self.value = None, []


def _split_key_value(line: str, lineno: int) -> tuple[str, list[str]]:
    colon, equal = line.find(":"), line.find("=")
    if colon < 0 and equal < 0:
        raise IniSyntaxError("No ':' or '=' found in assignment", lineno, line)
    cut = equal if colon < 0 or (0 <= equal < colon) else colon
    key, value = line[:cut], line[cut + 1:].strip()
    if value and value[0] == value[-1] and value.startswith(('"', "'")):
        value = value[1:-1]
    return key.strip(), [value]


# -- the options we read -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Opt:
    """An option as Nova registers it: name, group, and deprecated (group, name) pairs."""

    field: str
    group: str
    name: str
    deprecated: tuple[tuple[str, str], ...] = ()
    multi: bool = False

    @property
    def names(self) -> list[tuple[str, str]]:
        """(group, key) lookups in oslo's order: current name first, then deprecated ones."""
        return [(normalize_group(self.group), self.name),
                *((normalize_group(g), n) for g, n in self.deprecated)]

    @property
    def label(self) -> str:
        return f"[{self.group}] {self.name}"


OPTS: tuple[_Opt, ...] = (
    _Opt("device_spec", "pci", "device_spec",
         (("pci", "passthrough_whitelist"), (DEFAULT, "pci_passthrough_whitelist")), multi=True),
    _Opt("alias", "pci", "alias", ((DEFAULT, "pci_alias"),), multi=True),
    _Opt("legacy_devices", DEFAULT, "pci_passthrough_devices", multi=True),
    _Opt("report_in_placement", "pci", "report_in_placement"),
    _Opt("pci_in_placement", "filter_scheduler", "pci_in_placement"),
    _Opt("enabled_filters", "filter_scheduler", "enabled_filters"),
    _Opt("pci_weight_multiplier", "filter_scheduler", "pci_weight_multiplier"),
    _Opt("cpu_dedicated_set", "compute", "cpu_dedicated_set"),
    _Opt("cpu_shared_set", "compute", "cpu_shared_set"),
    _Opt("vcpu_pin_set", DEFAULT, "vcpu_pin_set"),
    _Opt("host", DEFAULT, "host"),
)
_BY_FIELD = {o.field: o for o in OPTS}

# Every [pci] option of nova 34.0.0 (nova/conf/pci.py), current and deprecated names.
PCI_GROUP_KEYS = frozenset({"alias", "device_spec", "passthrough_whitelist", "report_in_placement"})
# Every option of the other sections pcipass reads, as Nova 34 registers them (a differential test
# keeps these lists equal to nova.conf's): a misspelled name there is silently ignored by Nova,
# which hurts when it is enabled_filters.
GROUP_KEYS = {
    "filter_scheduler": frozenset({
        "aggregate_image_properties_isolation_namespace",
        "aggregate_image_properties_isolation_separator", "available_filters",
        "build_failure_weight_multiplier", "cpu_weight_multiplier",
        "cross_cell_move_weight_multiplier", "disk_weight_multiplier", "enabled_filters",
        "host_subset_size", "hypervisor_version_weight_multiplier",
        "image_properties_default_architecture", "image_props_weight_multiplier",
        "image_props_weight_setting", "io_ops_weight_multiplier", "isolated_hosts", "isolated_images",
        "max_instances_per_host", "max_io_ops_per_host", "num_instances_weight_multiplier",
        "pci_in_placement", "pci_weight_multiplier", "ram_weight_multiplier",
        "restrict_isolated_hosts_to_isolated_images", "shuffle_best_same_weighed_hosts",
        "soft_affinity_weight_multiplier", "soft_anti_affinity_weight_multiplier",
        "track_instance_changes", "weight_classes"}),
    "compute": frozenset({
        "consecutive_build_service_disable_threshold", "cpu_dedicated_set", "cpu_shared_set",
        "image_type_exclude_list", "live_migration_wait_for_vif_plug", "max_concurrent_disk_ops",
        "max_disk_devices_to_attach", "packing_host_numa_cells_allocation_strategy",
        "provider_config_location", "resource_provider_association_refresh",
        "sharing_providers_max_uuids_per_request", "shutdown_retry_interval",
        "update_resources_max_workers", "vmdk_allowed_types"}),
    "pci": PCI_GROUP_KEYS,
}
# Option names people put in the wrong section: the (section, name) they belong under.
_HOME = {
    "device_spec": ("pci", "device_spec"), "passthrough_whitelist": ("pci", "device_spec"),
    "pci_passthrough_whitelist": ("pci", "device_spec"), "alias": ("pci", "alias"),
    "pci_alias": ("pci", "alias"), "report_in_placement": ("pci", "report_in_placement"),
    "pci_in_placement": ("filter_scheduler", "pci_in_placement"),
    "pci_weight_multiplier": ("filter_scheduler", "pci_weight_multiplier"),
    "enabled_filters": ("filter_scheduler", "enabled_filters"),
    "cpu_dedicated_set": ("compute", "cpu_dedicated_set"),
    "cpu_shared_set": ("compute", "cpu_shared_set"),
    "host": (DEFAULT, "host"), "vcpu_pin_set": (DEFAULT, "vcpu_pin_set"),
    "pci_passthrough_devices": (DEFAULT, "pci_passthrough_devices"),
}
# Names older guides use that nova 34 no longer reads at all.
_REMOVED = {
    (DEFAULT, "scheduler_default_filters"): "[filter_scheduler] enabled_filters",
    ("filter_scheduler", "scheduler_default_filters"): "[filter_scheduler] enabled_filters",
    ("scheduler", "enabled_filters"): "[filter_scheduler] enabled_filters",
    (DEFAULT, "pci_weight_multiplier"): "[filter_scheduler] pci_weight_multiplier",
}
_PCI_FIELDS = ("device_spec", "alias", "legacy_devices", "report_in_placement",
               "pci_in_placement", "pci_weight_multiplier")


def _register(conf: cfg.ConfigOpts) -> None:
    """Register the options with Nova's names, types, defaults and deprecated names."""
    conf.register_opts([
        cfg.MultiStrOpt("device_spec", default=[], deprecated_opts=[
            cfg.DeprecatedOpt("passthrough_whitelist", group="pci"),
            cfg.DeprecatedOpt("pci_passthrough_whitelist", group=DEFAULT)]),
        cfg.MultiStrOpt("alias", default=[], deprecated_name="pci_alias",
                        deprecated_group=DEFAULT),
        cfg.BoolOpt("report_in_placement", default=False),
    ], group="pci")
    conf.register_opts([
        cfg.BoolOpt("pci_in_placement", default=False),
        cfg.ListOpt("enabled_filters", default=list(config.DEFAULT_ENABLED_FILTERS)),
        cfg.FloatOpt("pci_weight_multiplier", default=config.DEFAULT_PCI_WEIGHT_MULTIPLIER,
                     min=0.0),
    ], group="filter_scheduler")
    conf.register_opts([cfg.StrOpt("cpu_dedicated_set"), cfg.StrOpt("cpu_shared_set")],
                       group="compute")
    conf.register_opts([
        cfg.StrOpt("vcpu_pin_set"),
        # Nova's default is the machine's hostname; None here means "not set".
        cfg.HostDomainOpt("host"),
        cfg.MultiStrOpt("pci_passthrough_devices", default=[]),
    ])


# -- look-alike characters in names ------------------------------------------------------

# Letters of other scripts drawn like ASCII ones (the Latin look-alikes of Unicode's
# confusables.txt that reach configs through copy-paste and keyboard layouts), and characters
# drawn as nothing. oslo.config compares names exactly, so "[рci]" with a Cyrillic "р" is
# another section, and Nova silently ignores every option under it.
_LOOKALIKES = {
    # Cyrillic
    "\u0430": "a", "\u0441": "c", "\u0501": "d", "\u0435": "e", "\u04bb": "h", "\u0456": "i",
    "\u0458": "j", "\u04cf": "l", "\u043e": "o", "\u0440": "p", "\u051b": "q", "\u0455": "s",
    "\u051d": "w", "\u0445": "x", "\u0443": "y", "\u04af": "y",
    "\u0410": "A", "\u0412": "B", "\u0421": "C", "\u0415": "E", "\u041d": "H", "\u0406": "I",
    "\u0408": "J", "\u041a": "K", "\u041c": "M", "\u041e": "O", "\u0420": "P", "\u051a": "Q",
    "\u0405": "S", "\u0422": "T", "\u051c": "W", "\u0425": "X", "\u0423": "Y", "\u04ae": "Y",
    "\u04c0": "I",
    # Greek
    "\u03b1": "a", "\u03b9": "i", "\u03ba": "k", "\u03bd": "v", "\u03bf": "o", "\u03c1": "p",
    "\u03c5": "u",
    "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I",
    "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O", "\u03a1": "P", "\u03a4": "T",
    "\u03a5": "Y", "\u03a7": "X",
    # Armenian, and Latin letters outside ASCII
    "\u0585": "o", "\u057d": "u", "\u0570": "h", "\u0131": "i", "\u0251": "a", "\u0261": "g",
    # drawn as nothing
    "\u00ad": "", "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "",
}


def lookalike(ch: str) -> str | None:
    """The ASCII text ``ch`` is drawn like (``""`` for an invisible one), or ``None``."""
    if ch.isascii():
        return None
    if ch in _LOOKALIKES:
        return _LOOKALIKES[ch]
    folded = unicodedata.normalize("NFKC", ch)  # fullwidth "ｐ", mathematical "𝐩", ligatures
    return folded if folded != ch and folded.isascii() and folded.isprintable() else None


def lookalike_problem(kind: str, name: str, raw_line: str, line: int,
                      section: str | None = None) -> errors.Problem | None:
    """A ConfusableCharacter error for a section or key ``name`` holding look-alike characters.

    It names each character (column in the line, code point, Unicode name) and the
    ASCII name the whole name is drawn like.
    """
    found = [(i, ch, ascii_) for i, ch in enumerate(name) if (ascii_ := lookalike(ch)) is not None]
    if not found:
        return None
    start = max(raw_line.find(name), 0)
    drawn = "".join(ascii_ if (ascii_ := lookalike(ch)) is not None else ch for ch in name)
    chars = "; ".join(
        f"column {start + i + 1}: {ch!r} U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')}, "
        + (f"drawn like {ascii_!r}" if ascii_ else "drawn as nothing")
        for i, ch, ascii_ in found[:8])
    shown = f"[{name}]" if kind == "section" else name
    want = f"[{drawn}]" if kind == "section" else drawn
    effect = ("oslo.config reads it as another section, so Nova ignores every option in it"
              if kind == "section" else "oslo.config reads it as another option, which Nova ignores")
    return errors.Problem(
        "ConfusableCharacter",
        f"{kind} {shown} is not {want}: {chars}; {effect}",
        line=line, entry=shown if section is None else f"[{section}] {shown}",
        hint=f"retype the name in ASCII: {want}")


# -- oslo.config's "$name" interpolation, bounded -----------------------------------------

# oslo.config substitutes "$name" and "${group.name}" in every string value with the value of
# that option, recursively. Nova fails to start when a reference names no option
# (NoSuchOptError) or when references loop (a RecursionError that oslo reports as
# NoSuchOptError); a chain of references can also multiply a value's size at every level.
MAX_INTERPOLATION_DEPTH = 8
"""References followed inside one another; Nova's own (``$state_path``, ``$my_ip``) nest 1-2 deep."""
MAX_INTERPOLATIONS = 1000
"""References substituted while reading one option."""
MAX_INTERPOLATED_CHARS = 1 << 20
"""Characters the references put into one option's value."""

# The options Nova 34 registers in [DEFAULT] (nova.conf, oslo.log, oslo.messaging and
# oslo.service's namespaces, and oslo.config's own): the names "$name" can refer to there. A
# differential test keeps the list equal to Nova's.
NOVA_DEFAULT_OPTS = frozenset({
    "allow_resize_to_same_host", "arq_binding_timeout", "backdoor_port", "backdoor_socket",
    "block_device_allocate_retries", "block_device_allocate_retries_interval",
    "cell_worker_thread_pool_size", "cert", "compute_driver", "compute_monitors",
    "concurrency_backend", "config_dir", "config_drive_format", "config_file", "config_source",
    "console_host", "control_exchange", "cpu_allocation_ratio", "daemon", "debug",
    "default_access_ip_network_name", "default_availability_zone", "default_ephemeral_format",
    "default_green_pool_size", "default_log_levels", "default_schedule_zone",
    "default_thread_pool_size", "disk_allocation_ratio", "enable_new_services",
    "executor_thread_pool_size", "fatal_deprecations", "flat_injected", "force_config_drive",
    "force_raw_images", "graceful_shutdown_timeout", "heal_instance_info_cache_interval",
    "host", "initial_cpu_allocation_ratio", "initial_disk_allocation_ratio",
    "initial_ram_allocation_ratio", "injected_network_template", "instance_build_timeout",
    "instance_delete_interval", "instance_format", "instance_name_template",
    "instance_usage_audit", "instance_usage_audit_period", "instance_uuid_format",
    "instances_path", "internal_service_availability_zone", "key", "live_migration_retry_count",
    "log_color", "log_config_append", "log_date_format", "log_dir", "log_file", "log_options",
    "log_rotate_interval", "log_rotate_interval_type", "log_rotation_type",
    "logging_context_format_string", "logging_debug_format_suffix",
    "logging_default_format_string", "logging_exception_prefix", "logging_user_identity_format",
    "long_rpc_timeout", "manager_shutdown_timeout", "max_concurrent_builds",
    "max_concurrent_live_migrations", "max_concurrent_snapshots", "max_local_block_devices",
    "max_logfile_count", "max_logfile_size_mb", "maximum_instance_delete_attempts",
    "migrate_max_retries", "mkisofs_cmd", "my_block_storage_ip", "my_ip",
    "my_shared_fs_storage_ip", "network_allocate_retries", "non_inheritable_image_properties",
    "osapi_compute_unique_server_name_scope", "password_length", "periodic_enable",
    "periodic_fuzzy_delay", "pointer_model", "preallocate_images", "publish_errors",
    "pybasedir", "ram_allocation_ratio", "rate_limit_burst", "rate_limit_except_level",
    "rate_limit_interval", "reboot_timeout", "reclaim_instance_interval", "record",
    "reimage_timeout_per_gb", "report_interval", "rescue_timeout", "reserved_host_cpus",
    "reserved_host_disk_mb", "reserved_host_memory_mb", "reserved_huge_pages",
    "resize_confirm_window", "resize_fs_using_block_device", "resume_guests_state_on_host_boot",
    "rootwrap_config", "rpc_ping_enabled", "rpc_response_timeout",
    "run_external_periodic_tasks", "running_deleted_instance_action",
    "running_deleted_instance_poll_interval", "running_deleted_instance_timeout",
    "scheduler_instance_sync_interval", "service_down_time", "servicegroup_driver",
    "shell_completion", "shelved_offload_time", "shelved_poll_interval", "shutdown_timeout",
    "source_is_ipv6", "ssl_only", "stale_share_access_reconcile_interval", "state_path",
    "sync_power_state_interval", "sync_power_state_pool_size", "syslog_log_facility", "tempdir",
    "thread_pool_statistic_period", "timeout_nbd", "transport_url", "update_resources_interval",
    "use_cow_images", "use_journal", "use_json", "use_rootwrap_daemon", "use_stderr",
    "use_syslog", "vcpu_pin_set", "vif_plugging_is_fatal", "vif_plugging_timeout", "virt_mkfs",
    "volume_usage_poll_interval", "web"
})


class _InterpolationFailed(cfg.Error):
    """A reference Nova cannot substitute either; the Problem is on the :class:`BoundedConf`."""


def _group_name(group: Any) -> str:
    if group is None:
        return DEFAULT
    return normalize_group(group.name if isinstance(group, cfg.OptGroup) else str(group))


class BoundedConf(cfg.ConfigOpts):
    """oslo.config's ``ConfigOpts`` with its ``$name`` interpolation bounded and explained.

    Every reference still goes through oslo (same lookup, same types, same
    escapes: ``$$`` and ``\\$`` are a literal ``$``). pcipass registers only the
    options it reads, so a reference to another option of the service is
    answered from the files, and one to an option the service lacks (per
    ``known``) is its NoSuchOptError, as a Problem. Loops, depth and size are
    bounded. Read one option at a time: :meth:`start`, read it, then look at
    :attr:`notes` (warnings) and, when the read raised, :meth:`problem`.

    :param loaded: the files oslo reads, for references to unregistered options.
    :param known: whether the service registers ``(group, name)``; ``None`` when
        unknown. Nova's lists by default.
    :param service: who reads the files, for the messages.
    """

    def __init__(self, loaded: Sequence[Loaded] = (),
                 known: Callable[[str, str], bool | None] | None = None,
                 service: str = "Nova") -> None:
        super().__init__()
        self._loaded = list(loaded)
        self._values: dict[tuple[str, str], str] | None = None
        self._known = known or _known_option
        self.service = service
        self.start(DEFAULT, "")

    def start(self, group: str, name: str) -> None:
        """Begin reading ``[group] name``: reset the bounds, the notes and the failure."""
        self.label = f"[{group}] {name}"
        self.chain: list[tuple[str, str]] = [(normalize_group(group), name)] if name else []
        self.shown: list[str] = [self.label] if name else []
        self.substitutions = 0
        self.substituted_chars = 0
        self.failure: errors.Problem | None = None
        self.notes: list[errors.Problem] = []

    def problem(self, exc: BaseException) -> errors.Problem | None:
        """The Problem for an exception the read raised; ``None`` for a plain bad value.

        Interpolation failures give their own Problem; oslo's other errors (``$pci``
        names a group, not a value) give one with oslo's text. A value oslo's type
        refuses (``ConfigFileValueError``) is left to the caller, which knows its hint.
        """
        if self.failure is not None:
            return self.failure
        while isinstance(exc, cfg.NoSuchOptError) and isinstance(exc.__context__, (cfg.Error,
                                                                                  RecursionError)):
            exc = exc.__context__  # ConfigOpts.__getattr__ hides every error as NoSuchOptError
        if isinstance(exc, (cfg.ConfigFileValueError, ValueError)):
            return None
        code = "TemplateSubstitutionError" if isinstance(exc, RecursionError) else type(exc).__name__
        return errors.Problem(code, f"{self.label}: {errors.clip(str(exc))}", entry=self.label,
                              hint="write $$ for a literal $")

    class StrSubWrapper(cfg.ConfigOpts.StrSubWrapper):
        def __getitem__(self, key: str) -> Any:
            conf = self.conf
            if not isinstance(conf, BoundedConf):
                return cfg.ConfigOpts.StrSubWrapper.__getitem__(self, key)
            return conf.reference(key, self.group,
                                  lambda: cfg.ConfigOpts.StrSubWrapper.__getitem__(self, key))

    def reference(self, key: str, group: Any, lookup: Callable[[], Any]) -> Any:
        """The value oslo substitutes for ``$key`` in a value of ``group``."""
        here = _group_name(group)
        ident = self._ident(key, here)
        step = f"${key}" if "." not in key else f"${{{key}}}"
        if ident in self.chain:
            self._fail("TemplateSubstitutionError",
                       f"{self._path(step)}: the references loop, so oslo.config recurses "
                       f"until {self.service} stops with NoSuchOptError",
                       "break the loop: give one of these options a plain value")
        if len(self.chain) > MAX_INTERPOLATION_DEPTH:
            self._fail("TemplateSubstitutionError",
                       f"{self._path(step)}: references nested more than "
                       f"{MAX_INTERPOLATION_DEPTH} deep", "write the value itself")
        self.substitutions += 1
        if self.substitutions > MAX_INTERPOLATIONS:
            self._fail("TemplateSubstitutionError",
                       f"{self._path(step)}: more than {MAX_INTERPOLATIONS} references "
                       "substituted in one value", "write the value itself")
        self.chain.append(ident)
        self.shown.append(step)
        try:
            try:
                value = lookup()
            except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
                value = self._unregistered(key, here)
            if ident == (DEFAULT, "host") and value == "":
                self._note(f"{self._path()}: [DEFAULT] host is not set in these files, so "
                           f"{self.service} substitutes the machine's hostname, which pcipass "
                           "does not know; read as empty")
        finally:
            self.chain.pop()
            self.shown.pop()
        self.substituted_chars += len(str(value))
        if self.substituted_chars > MAX_INTERPOLATED_CHARS:
            self._fail("TemplateSubstitutionError",
                       f"{self._path(step)}: the references expand to more than "
                       f"{MAX_INTERPOLATED_CHARS:,} characters", "write the value itself")
        return value

    def _unregistered(self, key: str, here: str) -> Any:
        """A reference to an option pcipass does not register: its value from the files."""
        if "." in key:
            group, name = key.split(".", 1)
            candidates = [(normalize_group(group), name)]
        else:
            candidates = ([(here, key)] if here != DEFAULT else []) + [(DEFAULT, key)]
        maybe: list[bool | None] = []
        for group, name in candidates:
            known = self._known(group, name)
            if known is False:
                continue
            raw = self._raw(group, name)
            if raw is not None:
                return self._substitute(raw, group=None if group == DEFAULT else group)
            maybe.append(known)
        where = " or ".join(f"[{g}]" for g, _n in candidates)
        if True in maybe:
            self._note(f"{self._path()}: the option is not set in these files, so {self.service} "
                       "substitutes its default, which pcipass does not know; read as empty")
            return ""
        if maybe:
            self._note(f"{self._path()}: not set in these files, and pcipass has no list of "
                       f"{self.service}'s options in {where}: its default if {self.service} has "
                       "such an option, else NoSuchOptError at start; read as empty")
            return ""
        name = candidates[-1][1]
        self._fail("NoSuchOptError",
                   f"{self._path()}: {self.service} has no option {name!r} in {where}, so "
                   f"oslo.config cannot substitute ${key} and {self.service} stops with "
                   "NoSuchOptError",
                   "write $$ for a literal $, or refer to an existing option such as $my_ip")
        raise AssertionError("unreachable")

    def _raw(self, group: str, name: str) -> str | None:
        """The value the files give ``[group] name`` (the last one wins, as in oslo)."""
        if self._values is None:  # one pass over the files, not one per reference
            self._values = {(e.group, e.key): e.value for item in self._loaded
                            for e in item.ini.entries}
        return self._values.get((group, name))

    def _ident(self, key: str, here: str) -> tuple[str, str]:
        if "." in key:
            group, name = key.split(".", 1)
            return normalize_group(group), name
        if here != DEFAULT and (self._registered(here, key) or self._raw(here, key) is not None):
            return here, key
        return DEFAULT, key

    def _registered(self, group: str, name: str) -> bool:
        return name in (self._opts if group == DEFAULT else
                        self._groups[group]._opts if group in self._groups else {})

    def _path(self, last: str | None = None) -> str:
        """The references followed so far, as written: ``[DEFAULT] host -> $my_ip -> ...``."""
        return " -> ".join([*self.shown, *([last] if last is not None else [])])

    def _note(self, message: str) -> None:
        self.notes.append(errors.Problem("UnresolvedInterpolation", message, entry=self.label,
                                         hint="write the value itself instead of a $reference"))

    def _fail(self, code: str, message: str, hint: str) -> None:
        if self.failure is None:
            self.failure = errors.Problem(code, message, entry=self.label, hint=hint)
        raise _InterpolationFailed(message)


def _known_option(group: str, name: str) -> bool | None:
    """Whether Nova registers ``[group] name``; ``None`` for groups pcipass has no list of."""
    if group == DEFAULT:
        return name in NOVA_DEFAULT_OPTS
    keys = GROUP_KEYS.get(group)
    return None if keys is None else name in keys


# -- loading files -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Loaded:
    """A file that could be read and parsed: its display name, real path and INI entries."""

    name: str
    path: str
    text: str
    ini: IniFile
    line_offset: int = 0

    def line(self, n: int) -> int:
        return n + self.line_offset


def read_text(path: str | Path, *, what: str = "config file") -> tuple[str | None, errors.Problem | None]:
    """Read a file as UTF-8 text, or say precisely why not (never raises)."""
    name = str(path)
    try:
        data = boundedread.read_bounded(path, boundedread.MAX_INPUT_BYTES)
    except FileNotFoundError:
        return None, errors.Problem("ConfigFilesNotFoundError", f"{what} {name} does not exist",
                                    file=name, hint="check the path")
    except IsADirectoryError:
        return None, errors.Problem("ConfigFileIsDirectory", f"{name} is a directory, not a {what}",
                                    file=name, hint="pass the file itself (directories of *.conf "
                                    "fragments go to --config-dir)")
    except PermissionError:
        return None, errors.Problem("ConfigFilesPermissionDeniedError",
                                    f"no permission to read {what} {name}", file=name,
                                    hint="run as a user that can read it, or copy it")
    except (boundedread.NotRegularFile, boundedread.FileTooLarge) as exc:
        return None, errors.Problem("ConfigFileUnreadable", f"cannot read {what} {name}: "
                                    f"{exc.strerror}", file=name, hint="pass a regular file")
    except OSError as exc:
        return None, errors.Problem("ConfigFileUnreadable",
                                    f"cannot read {what} {name}: {exc.strerror or exc}", file=name)
    return decode_text(name, data)


def decode_text(name: str, data: bytes) -> tuple[str | None, errors.Problem | None]:
    """Decode a config file's bytes as oslo.config does (UTF-8), naming the bad byte's line."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return None, errors.Problem(
            "ConfigFileDecodeError",
            f"{name} is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line} "
            f"(offset {exc.start}) cannot be decoded", file=name, line=line,
            hint="oslo.config reads config files as UTF-8 text; is this the right file?")


_PARSE_HINTS = {
    "Unexpected continuation line": ("a line starting with a space or tab continues the previous "
                                     "value; remove the indentation (or the blank line above it)"),
    "Section must be started before assignment": "put a section header such as [pci] above it",
    "No ':' or '=' found in assignment": "write options as 'key = value'",
    "Invalid section (must end with ])": "close the section header with ]",
    "Empty section name": "name the section, e.g. [pci]",
    "Key cannot be empty": "write options as 'key = value'",
}


def parse_problem(name: str, err: IniSyntaxError, offset: int = 0) -> errors.Problem:
    """oslo's ``ConfigFileParseError`` as a Problem at the failing line."""
    hint = _PARSE_HINTS.get(err.msg)
    if err.lineno == 1 and err.line.startswith("\ufeff"):
        hint = "the file starts with a UTF-8 byte-order mark, which oslo.config cannot parse; save it without BOM"
    line = err.lineno + offset
    return errors.Problem("ConfigFileParseError",
                          f"Failed to parse {name}: at line {line}, {err.msg}: {err.line!r}",
                          file=name, line=line, hint=hint)


def load(path: str | Path, *, display: str | None = None,
         line_offset: int = 0) -> tuple[Loaded | None, errors.Problem | None]:
    """Read and INI-parse one file; a Problem instead when oslo could not use it."""
    name = display or str(path)
    text, problem = read_text(path)
    if text is None:
        return None, problem
    try:
        ini = parse_ini(text)
    except IniSyntaxError as err:
        return None, parse_problem(name, err, line_offset)
    return Loaded(name, str(path), text, ini, line_offset), None


def _dir_files(directory: str | Path) -> tuple[list[str], errors.Problem | None]:
    """``*.conf`` in a config dir, in the order oslo.config reads them."""
    d = str(directory)
    if not os.path.isdir(os.path.expanduser(d)):
        return [], errors.Problem("ConfigDirNotFoundError",
                                  f"config dir {d} does not exist or is not a directory", file=d)
    return sorted(glob.glob(os.path.join(os.path.expanduser(d), "*.conf"))), None


# -- reading -----------------------------------------------------------------------------


def read_nova_conf(files: Sequence[str | Path], *,
                   config_dirs: Sequence[str | Path] = ()) -> config.NovaConfig:
    """Read nova.conf files merged in order, as ``--config-file`` and ``--config-dir`` do.

    Files in ``config_dirs`` (``*.conf``, sorted) are read after ``files``.
    Never raises for bad input: every failure is in ``problems``.
    """
    loaded: list[Loaded] = []
    problems: list[errors.Problem] = []
    paths: list[str | Path] = list(files)
    for d in config_dirs:
        found, problem = _dir_files(d)
        paths.extend(found)
        if problem is not None:
            problems.append(problem)
    for p in paths:
        item, problem = load(p)
        if item is not None:
            loaded.append(item)
        elif problem is not None:
            problems.append(problem)
    return read_loaded(loaded, [str(p) for p in paths], problems)


def read_loaded(loaded: Sequence[Loaded], names: Sequence[str],
                problems: Sequence[errors.Problem] = ()) -> config.NovaConfig:
    """Merge already parsed files through oslo.config and locate every value."""
    conf, oslo_problem = _oslo(loaded)
    state = _Reader(list(loaded), list(problems), [])
    if oslo_problem is not None:
        state.problems.append(oslo_problem)
    values: dict[str, Any] = {}
    for opt in OPTS:
        values[opt.field] = state.read(conf, opt)
    state.warn_names()
    if loaded and not _has_pci(values, state.sources):
        state.warnings.append(errors.Problem(
            "NoPciOptions",
            "no PCI options found: no [pci] device_spec/alias, no [filter_scheduler] "
            "pci_in_placement or pci_weight_multiplier",
            file=loaded[0].name if len(loaded) == 1 else None,
            hint="PCI passthrough needs [pci] device_spec on computes and [pci] alias on the API/"
                 "scheduler nodes"))
    return config.NovaConfig(files=list(names), problems=state.problems, warnings=state.warnings,
                             sources=state.sources, **values)


def _has_pci(values: dict[str, Any], sources: dict[str, config.OptionValue]) -> bool:
    if any(values[f] for f in ("device_spec", "alias", "legacy_devices")):
        return True
    if "PciPassthroughFilter" in values["enabled_filters"]:
        return True
    return any(f in sources for f in _PCI_FIELDS)


@contextlib.contextmanager
def _quiet_oslo() -> Iterator[None]:
    """Keep oslo's deprecation log lines off stderr: we report them as Problems."""
    logger = logging.getLogger("oslo_config.cfg")
    drop = logging.Filter("\0")  # matches no logger name: every record is dropped
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _oslo(loaded: Sequence[Loaded]) -> tuple[BoundedConf, errors.Problem | None]:
    conf = BoundedConf(loaded)
    _register(conf)
    args: list[str] = []
    for item in loaded:
        args.append(f"--config-file={item.path}")  # '=' form: a path may start with '-'
    try:
        with _quiet_oslo():
            conf(args=args, project="nova", default_config_files=[], default_config_dirs=[],
                 use_env=False)
    except (cfg.Error, OSError, ValueError, SystemExit) as exc:
        # Our own pre-parse should have caught everything oslo rejects.
        conf = BoundedConf()
        _register(conf)
        conf(args=[], project="nova", default_config_files=[], default_config_dirs=[],
             use_env=False)
        return conf, errors.Problem("ConfigFileParseError", f"oslo.config refused the files: {exc}")
    return conf, None


class _Reader:
    """Reads one option from oslo and pairs its values with located INI entries."""

    def __init__(self, loaded: list[Loaded], problems: list[errors.Problem],
                 warnings: list[errors.Problem]) -> None:
        self.loaded = loaded
        self.problems = problems
        self.warnings = warnings
        self.sources: dict[str, config.OptionValue] = {}

    def read(self, conf: BoundedConf, opt: _Opt) -> Any:
        group = conf if opt.group == DEFAULT else getattr(conf, opt.group)
        located = self.locate_multi(opt) if opt.multi else self.locate_scalar(opt)
        conf.start(opt.group, opt.name)
        problem = None
        try:
            with _quiet_oslo():
                value = getattr(group, opt.name)
        except (cfg.Error, ValueError, RecursionError) as exc:
            problem = self._read_problem(conf, opt, exc, located)
        where = _with_reference(located)
        self.warnings.extend(n.located(file=where.file if where else None,
                                       line=where.line if where else None) for n in conf.notes)
        if problem is not None:
            # A value built from a default pcipass does not know (an UnresolvedInterpolation
            # warning) is unknown, not wrong: its type check proves nothing.
            if conf.failure is not None or not conf.notes:
                self.problems.append(problem)
            return _default(opt)
        if opt.multi:
            return self._pair(opt, list(value), located)
        if located:
            self.sources[opt.field] = located[-1]
        return list(value) if isinstance(value, list) else value

    @staticmethod
    def _read_problem(conf: BoundedConf, opt: _Opt, exc: BaseException,
                      located: list[config.OptionValue]) -> errors.Problem:
        """The Problem for an option oslo could not give a value for."""
        failure = conf.problem(exc)
        if failure is None:
            return _value_problem(opt, exc if isinstance(exc, Exception) else ValueError(exc),
                                  located[-1] if located else None)
        where = _with_reference(located)
        return failure.located(file=where.file if where else None,
                               line=where.line if where else None)

    def locate_multi(self, opt: _Opt) -> list[config.OptionValue]:
        """Values in oslo's order: per file, deprecated names (last first), then the current one."""
        out: list[config.OptionValue] = []
        for item in self.loaded:
            part: list[config.OptionValue] = []
            for group, key in opt.names:
                part = [self._ov(item, e, 0) for e in item.ini.find(group, key)] + part
            out.extend(part)
        return [dataclasses.replace(ov, value_index=i) for i, ov in enumerate(out)]

    def locate_scalar(self, opt: _Opt) -> list[config.OptionValue]:
        """The entry oslo takes: newest file that sets any name, current name first, last wins."""
        for item in reversed(self.loaded):
            for group, key in opt.names:
                found = item.ini.find(group, key)
                if found:
                    self._warn_repeated(opt, item, found)
                    return [self._ov(item, found[-1], 0)]
        return []

    def _pair(self, opt: _Opt, values: list[str],
              located: list[config.OptionValue]) -> list[config.OptionValue]:
        if [ov.value for ov in located] == values:
            return located
        # Should not happen (the INI grammar is oslo's); keep oslo's values, lines unknown.
        return [config.OptionValue(v, None, None, i, opt.name, opt.group)
                for i, v in enumerate(values)]

    @staticmethod
    def _ov(item: Loaded, e: IniEntry, index: int) -> config.OptionValue:
        return config.OptionValue(e.value, item.name, item.line(e.line), index, e.key,
                                  e.section, item.line(e.end_line))

    def _warn_repeated(self, opt: _Opt, item: Loaded, found: list[IniEntry]) -> None:
        if len(found) < 2:
            return
        lines = ", ".join(str(item.line(e.line)) for e in found)
        self.warnings.append(errors.Problem(
            "RepeatedOption",
            f"{opt.label} is set {len(found)} times in {item.name} (lines {lines}); "
            f"only the last one counts", file=item.name, line=item.line(found[-1].line),
            hint="keep one line"))

    def warn_names(self) -> None:
        for item in self.loaded:
            lines = split_lines(item.text)
            odd = set()
            for section, n in item.ini.sections:
                problem = lookalike_problem("section", section, lines[n - 1], item.line(n))
                if problem is not None:
                    odd.add(section)
                    self.problems.append(problem.located(file=item.name))
            for e in item.ini.entries:
                problem = lookalike_problem("option", e.key, lines[e.line - 1], item.line(e.line),
                                            e.section)
                if problem is not None:
                    self.problems.append(problem.located(file=item.name))
                    continue
                if e.section in odd:  # its ConfusableCharacter error says it all
                    continue
                problem = _name_warning(e)
                if problem is not None:
                    self.warnings.append(problem.located(file=item.name, line=item.line(e.line)))
        self._warn_mixed()

    def _warn_mixed(self) -> None:
        for opt in OPTS:
            if not opt.deprecated:
                continue
            used = {(e.section, e.key) for item in self.loaded for g, k in opt.names
                    for e in item.ini.find(g, k)}
            keys = {k for _s, k in used}
            if opt.name in keys and len(keys) > 1:
                others = ", ".join(sorted(f"[{s}] {k}" for s, k in used if k != opt.name))
                self.warnings.append(errors.Problem(
                    "MixedOptionNames",
                    f"{opt.label} is also set under deprecated names ({others}); oslo.config "
                    f"merges all of them, deprecated names first in each file",
                    hint=f"move every value to {opt.label}"))


def _with_reference(located: Sequence[config.OptionValue]) -> config.OptionValue | None:
    """The value that holds a ``$`` reference (else the one oslo took), to locate a problem."""
    return next((ov for ov in located if "$" in ov.value), located[-1] if located else None)


def _default(opt: _Opt) -> Any:
    defaults = {"device_spec": [], "alias": [], "legacy_devices": [],
                "report_in_placement": False, "pci_in_placement": False,
                "enabled_filters": list(config.DEFAULT_ENABLED_FILTERS),
                "pci_weight_multiplier": config.DEFAULT_PCI_WEIGHT_MULTIPLIER}
    return defaults.get(opt.field)


def _value_problem(opt: _Opt, exc: Exception,
                   where: config.OptionValue | None) -> errors.Problem:
    detail = str(exc)
    detail = re.sub(r"^Value for option \S+ from LocationInfo\(.*?\) is not valid: ", "", detail)
    detail = re.sub(r"^Value for option \S+ is not valid: ", "", detail)
    value = where.value if where else None
    if value is not None and repr(value) not in detail and value not in detail:
        detail += f" (got {errors.clip(repr(value))})"
    return errors.Problem(
        "ConfigFileValueError",
        f"Value for option {opt.label} is not valid: {errors.clip(detail, 300)}",
        file=where.file if where else None, line=where.line if where else None,
        entry=opt.label, hint=_VALUE_HINTS.get(opt.field, f"fix the value {errors.clip(repr(value))}"))


_VALUE_HINTS = {
    "report_in_placement": "use True or False",
    "pci_in_placement": "use True or False",
    "pci_weight_multiplier": "use a number >= 0.0",
    "host": "use a hostname, FQDN or IP address",
}


def _name_warning(e: IniEntry) -> errors.Problem | None:
    """Deprecated, misplaced, removed or misspelled option names (oslo ignores the last three)."""
    key, group = e.key, e.group
    for opt in OPTS:
        for dgroup, dname in opt.deprecated:
            if (normalize_group(dgroup), dname) == (group, key):
                return _deprecated(e, opt)
    if (group, key) in _REMOVED:
        new = _REMOVED[(group, key)]
        return errors.Problem("RemovedOption",
                              f"[{e.section}] {key} is not read by Nova any more: it is ignored",
                              entry=f"[{e.section}] {key}", hint=f"use {new} = {e.value}")
    home = _HOME.get(key)
    if home is not None and _valid_groups(key) and group not in _valid_groups(key):
        if group == "default" and DEFAULT in _valid_groups(key):
            return errors.Problem(
                "MisplacedOption", f"[{e.section}] is not [DEFAULT]: oslo.config matches the "
                f"DEFAULT section name case-sensitively, so {key} is ignored",
                entry=f"[{e.section}] {key}", hint="rename the section header to [DEFAULT]")
        return errors.Problem(
            "MisplacedOption", f"{key} is not an option of [{e.section}]: Nova ignores it there",
            entry=f"[{e.section}] {key}", hint=f"[{home[0]}] {home[1]} = {_first(e.value)}")
    known = GROUP_KEYS.get(group)
    if known is not None and key not in known:
        guess = difflib.get_close_matches(key, sorted(known - {"passthrough_whitelist"}),
                                          n=1, cutoff=0.6)
        hint = f"did you mean {guess[0]}? {guess[0]} = {_first(e.value)}" if guess else None
        return errors.Problem("UnknownOption",
                              f"[{e.section}] {key} is not a Nova option: Nova ignores it",
                              entry=f"[{e.section}] {key}", hint=hint)
    return None


def _valid_groups(key: str) -> set[str]:
    """Sections where ``key`` is read, under its current or a deprecated name."""
    return {g for opt in OPTS for g, k in opt.names if k == key}


def _first(value: str) -> str:
    return value.split("\n", 1)[0] + (" ..." if "\n" in value else "")


def _deprecated(e: IniEntry, opt: _Opt) -> errors.Problem:
    new_line = f"[{opt.group}] {opt.name} = {_first(e.value)}"
    return errors.Problem(
        "DeprecatedOption",
        f'Option "{e.key}" from group "{e.section}" is deprecated. '
        f'Use option "{opt.name}" from group "{opt.group}".',
        entry=f"[{e.section}] {e.key}", hint=new_line)
