"""The nova.conf options pcipass reads, as Nova 34 registers them, and the names around them.

:data:`OPTS` are the options read (Nova's names, groups, deprecated names);
:func:`register` gives them to oslo.config with Nova's types and defaults.
The name tables (every option of the groups pcipass reads, and of
``[DEFAULT]``) let a misspelled, misplaced or removed name be reported, and
tell a ``$reference`` to a real Nova option from one to nothing. Differential
tests keep them equal to Nova's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from oslo_config import cfg

from pcipass.adapters import iniparse
from pcipass.core import config

DEFAULT = iniparse.DEFAULT


@dataclasses.dataclass(frozen=True, slots=True)
class Opt:
    """An option as Nova registers it: name, group, and deprecated (group, name) pairs."""

    field: str
    group: str
    name: str
    deprecated: tuple[tuple[str, str], ...] = ()
    multi: bool = False

    @property
    def names(self) -> list[tuple[str, str]]:
        """(group, key) lookups in oslo's order: current name first, then deprecated ones."""
        return [(iniparse.normalize_group(self.group), self.name),
                *((iniparse.normalize_group(g), n) for g, n in self.deprecated)]

    @property
    def label(self) -> str:
        return f"[{self.group}] {self.name}"


OPTS: tuple[Opt, ...] = (
    Opt("device_spec", "pci", "device_spec",
        (("pci", "passthrough_whitelist"), (DEFAULT, "pci_passthrough_whitelist")), multi=True),
    Opt("alias", "pci", "alias", ((DEFAULT, "pci_alias"),), multi=True),
    Opt("legacy_devices", DEFAULT, "pci_passthrough_devices", multi=True),
    Opt("report_in_placement", "pci", "report_in_placement"),
    Opt("pci_in_placement", "filter_scheduler", "pci_in_placement"),
    Opt("enabled_filters", "filter_scheduler", "enabled_filters"),
    Opt("pci_weight_multiplier", "filter_scheduler", "pci_weight_multiplier"),
    Opt("host_subset_size", "filter_scheduler", "host_subset_size"),
    Opt("available_filters", "filter_scheduler", "available_filters", multi=True),
    Opt("weight_classes", "filter_scheduler", "weight_classes"),
    Opt("cpu_dedicated_set", "compute", "cpu_dedicated_set"),
    Opt("cpu_shared_set", "compute", "cpu_shared_set"),
    Opt("vcpu_pin_set", DEFAULT, "vcpu_pin_set"),
    Opt("host", DEFAULT, "host"),
)

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
HOME = {
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
REMOVED = {
    (DEFAULT, "scheduler_default_filters"): "[filter_scheduler] enabled_filters",
    ("filter_scheduler", "scheduler_default_filters"): "[filter_scheduler] enabled_filters",
    ("scheduler", "enabled_filters"): "[filter_scheduler] enabled_filters",
    (DEFAULT, "pci_weight_multiplier"): "[filter_scheduler] pci_weight_multiplier",
}
PCI_FIELDS = ("device_spec", "alias", "legacy_devices", "report_in_placement",
               "pci_in_placement", "pci_weight_multiplier")


def register(conf: cfg.ConfigOpts) -> None:
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
        cfg.IntOpt("host_subset_size", default=1, min=1),
        cfg.MultiStrOpt("available_filters", default=[config.DEFAULT_AVAILABLE_FILTERS]),
        cfg.ListOpt("weight_classes", default=[config.DEFAULT_WEIGHT_CLASSES]),
    ], group="filter_scheduler")
    conf.register_opts([cfg.StrOpt("cpu_dedicated_set"), cfg.StrOpt("cpu_shared_set")],
                       group="compute")
    conf.register_opts([
        cfg.StrOpt("vcpu_pin_set"),
        # Nova's default is the machine's hostname; None here means "not set".
        cfg.HostDomainOpt("host"),
        cfg.MultiStrOpt("pci_passthrough_devices", default=[]),
    ])


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


def is_nova_option(group: str, name: str) -> bool | None:
    """Whether Nova registers ``[group] name``; ``None`` for groups pcipass has no list of."""
    if group == DEFAULT:
        return name in NOVA_DEFAULT_OPTS
    keys = GROUP_KEYS.get(group)
    return None if keys is None else name in keys


def default_value(opt: Opt) -> Any:
    """The value pcipass reads for ``opt`` when the files give none it can use."""
    defaults = {"device_spec": [], "alias": [], "legacy_devices": [],
                "report_in_placement": False, "pci_in_placement": False,
                "enabled_filters": list(config.DEFAULT_ENABLED_FILTERS),
                "pci_weight_multiplier": config.DEFAULT_PCI_WEIGHT_MULTIPLIER,
                "host_subset_size": 1,
                "available_filters": [], "weight_classes": [config.DEFAULT_WEIGHT_CLASSES]}
    return defaults.get(opt.field)


# What a bad value of an option should be, for its ConfigFileValueError.
VALUE_HINTS = {
    "report_in_placement": "use True or False",
    "pci_in_placement": "use True or False",
    "pci_weight_multiplier": "use a number >= 0.0",
    "host_subset_size": "use a whole number >= 1",
    "host": "use a hostname, FQDN or IP address",
}
