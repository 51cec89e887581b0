"""The SR-IOV agent's mappings as deployment tools write them: TripleO, OpenStack-Ansible, Kolla, charms.

:mod:`pcipass.adapters.sniff` already tells these YAML files from an ini; this reads the agent's
two device options out of them and hands them to the agent's own rules
(:mod:`pcipass.adapters.sriovagent`), so the doctor's neutron layer takes either form:

* TripleO Heat environments: ``NeutronPhysicalDevMappings`` and ``NeutronExcludeDevices``
  (under ``parameter_defaults`` or a role's ``<Role>Parameters``), a comma list or a YAML list;
* OpenStack-Ansible: ``neutron_sriov_nic_agent_ini_overrides: {sriov_nic:
  {physical_device_mappings, exclude_devices}}``;
* Kolla-Ansible: ``neutron_sriov_physnet_mappings: {physnet: interface}``;
* Juju charms (neutron-sriov, and a bundle's options): ``sriov-device-mappings`` and
  ``sriov-exclude-devices`` (legacy name ``exclude-devices``), space-delimited.

The keys are found at any depth. Values keep their line in the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from pcipass.adapters import boundedread
from pcipass.core import config, configbounds, errors

MAPPINGS, EXCLUDE = "physical_device_mappings", "exclude_devices"
#: key -> (the agent option it holds, the deployment tool).
KEYS = {
    "NeutronPhysicalDevMappings": (MAPPINGS, "TripleO"),
    "NeutronExcludeDevices": (EXCLUDE, "TripleO"),
    "sriov-device-mappings": (MAPPINGS, "charm"),
    "sriov-exclude-devices": (EXCLUDE, "charm"),
    "exclude-devices": (EXCLUDE, "charm"),
    "neutron_sriov_physnet_mappings": (MAPPINGS, "Kolla-Ansible"),
}
OSA_KEY = "neutron_sriov_nic_agent_ini_overrides"


def read_yaml_forms(path: str | Path) -> tuple[dict[str, tuple[list[str], config.OptionValue]], list[errors.Problem]]:
    """The agent options a deployment YAML sets: option -> (items, where), and its problems.

    Never raises for bad input: a file that is no YAML, or sets none of the keys, gives a problem.
    """
    name = str(path)
    try:
        data = boundedread.read_bounded(path, boundedread.MAX_INPUT_BYTES)
        if len(data) > configbounds.MAX_YAML_BYTES:
            return {}, [configbounds.too_large_yaml(name, len(data))]
        root = yaml.compose(data.decode("utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return {}, [errors.Problem("SriovAgentConfigInvalid", f"{name} is no readable YAML: "
                                   f"{errors.clip(str(exc), 200)}", file=name)]
    found: dict[str, tuple[list[str], config.OptionValue]] = {}
    for option, tool, key, node in _walk(root):
        items = _items(node, joined=key == "neutron_sriov_physnet_mappings", spaces=tool == "charm")
        if items is None:
            continue
        line = node.start_mark.line + 1
        if len(items) > configbounds.MAX_ENTRIES:  # the agent's rules compare items with each other
            return {}, [configbounds.too_many_entries(f"{key} ({tool})", "list items", name, line)]
        value = ",".join(items)
        found.setdefault(option, (items, config.OptionValue(value, name, line, 0, f"{key} ({tool})", "yaml")))
    if MAPPINGS not in found:
        return found, [errors.Problem(
            "NoDeviceMappings", f"{name} sets no SR-IOV agent mappings (NeutronPhysicalDevMappings, "
            f"{OSA_KEY}, neutron_sriov_physnet_mappings or sriov-device-mappings)", file=name,
            hint="pass the agent's sriov_agent.ini, or the deployment file that sets its mappings")]
    return found, []


def _walk(node: Any, depth: int = 0) -> Iterator[tuple[str, str, str, yaml.Node]]:
    if depth > 16 or not isinstance(node, yaml.MappingNode):
        if isinstance(node, yaml.SequenceNode) and depth <= 16:
            for item in node.value:
                yield from _walk(item, depth + 1)
        return
    for key, value in node.value:
        k = key.value if isinstance(key, yaml.ScalarNode) else None
        if k in KEYS:
            option, tool = KEYS[k]
            yield option, tool, k, value
        elif k == OSA_KEY and isinstance(value, yaml.MappingNode):
            for sk, sv in value.value:
                if isinstance(sk, yaml.ScalarNode) and sk.value == "sriov_nic" and isinstance(sv, yaml.MappingNode):
                    for ok, ov in sv.value:
                        if isinstance(ok, yaml.ScalarNode) and ok.value in (MAPPINGS, EXCLUDE):
                            yield ok.value, "OpenStack-Ansible", f"{OSA_KEY}.sriov_nic.{ok.value}", ov
        else:
            yield from _walk(value, depth + 1)


def _items(node: yaml.Node, *, joined: bool, spaces: bool = False) -> list[str] | None:
    """A comma list (charms: space-delimited), a YAML list, or (Kolla's) a {physnet: interface}
    mapping, as agent items."""
    if joined and isinstance(node, yaml.MappingNode):
        return [f"{k.value}:{v.value}" for k, v in node.value
                if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode)]
    if isinstance(node, yaml.ScalarNode):
        text = str(node.value)
        return [p.strip() for p in (text.replace(",", " ").split() if spaces else text.split(",")) if p.strip()]
    if isinstance(node, yaml.SequenceNode):
        return [str(i.value).strip() for i in node.value if isinstance(i, yaml.ScalarNode) and str(i.value).strip()]
    return None
