"""Neutron's SR-IOV NIC agent against Nova's device_spec and the host: the ``neutron`` layer (PCI-Q).

A port of vnic_type ``direct`` or ``macvtap`` is bound by the agent of the host Nova picks. The
agent only handles the physnets its ``[sriov_nic] physical_device_mappings`` maps to a PF
interface, skips the VFs ``exclude_devices`` lists, and configures a VF through its PF. Nova's
device_spec offers VFs per ``physical_network``; when the two disagree the port binding fails
("Binding failed for port") after Nova has already claimed the VF.
"""

from __future__ import annotations

from collections.abc import Iterator

from pcipass.core import config, model, spec, strutils
from pcipass.doctor import model as dm
from pcipass.doctor.checks import common
from pcipass.doctor.registry import check
from pcipass.core.layers import Layer

OPTION = "[sriov_nic] physical_device_mappings"


def _offered(config_facts: dm.ConfigFacts, devices: dm.DeviceFacts
             ) -> dict[str, list[tuple[model.Device, spec.SpecEntry]]]:
    """physical_network -> the VFs the device_spec offers for it (with the entry)."""
    out: dict[str, list[tuple[model.Device, spec.SpecEntry]]] = {}
    for dev, entry in common.claimed(config_facts, devices):
        physnet = entry.spec.tags.get("physical_network")
        if isinstance(physnet, str) and physnet and dev.is_vf:
            out.setdefault(physnet, []).append((dev, entry))
    return out


def _mapping_evidence(agent: config.SriovAgentConfig) -> dm.Evidence:
    ov = agent.sources.get("physical_device_mappings")
    if ov is None:
        return dm.Evidence(agent.file, f"{OPTION} (unset)")
    return dm.Evidence(ov.file or agent.file, f"physical_device_mappings = {ov.value}", ov.line)


def _pf_ifnames(pf: model.Device) -> tuple[str, ...]:
    return pf.netdevs


@check("PCI-Q001", Layer.NEUTRON, title="every device_spec physnet is mapped to a PF of this host")
def physnet_mapped(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts,
                   sriov_agent: config.SriovAgentConfig) -> Iterator[dm.Result]:
    """Each ``physical_network`` a device_spec entry gives VFs must have a
    ``physical_device_mappings`` entry in the agent, and its interface must be a PF of this host
    (the one whose VFs Nova offers): else the agent binds no port on that physnet, or looks for
    VFs under another NIC. Fails per physnet, naming the PF interface to map."""
    mappings = sriov_agent.device_mappings
    for physnet, pairs in sorted(_offered(compute_config, devices).items()):
        pfs = {d.parent_addr for d, _ in pairs if d.parent_addr}
        pf_devs = [devices.by_address[a] for a in sorted(pfs) if a in devices.by_address]
        want = sorted({n for pf in pf_devs for n in _pf_ifnames(pf)})
        ev = [compute_config.source_of(pairs[0][1]), _mapping_evidence(sriov_agent),
              *(dm.Evidence(common.sysfs(pf.address, "net"), ", ".join(pf.netdevs) or "(no netdev)")
                for pf in pf_devs[:2])]
        fix_ifs = ",".join(f"{physnet}:{n}" for n in want) or f"{physnet}:<PF interface>"
        mapped = mappings.get(physnet)
        if not mapped:
            yield dm.result(dm.FAIL, f"physnet {physnet!r}",
                            f"device_spec offers {len(pairs)} VF(s) for physical_network {physnet!r} but the "
                            f"SR-IOV agent maps no interface to it: ports on {physnet!r} fail to bind here",
                            ev, f"{OPTION} = {fix_ifs} (then restart neutron-sriov-nic-agent)")
            continue
        pf_names = {n for d in devices.devices if d.is_pf for n in d.netdevs}
        for ifname in mapped:
            if ifname in want:
                continue
            where = ("a PF of this host, but not one whose VFs device_spec offers for it"
                     if ifname in pf_names else "not a PF interface of this host")
            yield dm.result(dm.FAIL, f"physnet {physnet!r}",
                            f"the SR-IOV agent maps {physnet!r} to {ifname}, {where}: the agent looks for "
                            f"the port's VF under {ifname}",
                            ev, f"{OPTION} = {fix_ifs}")


@check("PCI-Q002", Layer.NEUTRON, title="exclude_devices spares the VFs device_spec offers")
def excluded_offered(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts,
                     sriov_agent: config.SriovAgentConfig) -> Iterator[dm.Result]:
    """``[sriov_nic] exclude_devices`` hides VFs from the agent; Nova does not know, and still hands
    such a VF to a port on that physnet, whose binding then fails. Fails per excluded VF that a
    device_spec entry offers for a physnet."""
    excluded = {a for addrs in sriov_agent.exclude_devices.values() for a in addrs}
    ov = sriov_agent.sources.get("exclude_devices")
    for physnet, pairs in sorted(_offered(compute_config, devices).items()):
        hit = [(d, e) for d, e in pairs if d.address in excluded]
        if not hit:
            continue
        names = ", ".join(d.address for d, _ in hit[:4]) + (" ..." if len(hit) > 4 else "")
        yield dm.result(
            dm.FAIL, f"physnet {physnet!r}",
            f"{len(hit)} VF(s) device_spec offers for {physnet!r} are in the agent's exclude_devices "
            f"({names}): Nova may give one to a port, whose binding then fails",
            [compute_config.source_of(hit[0][1]),
             dm.Evidence(ov.file or sriov_agent.file, f"exclude_devices = {ov.value}", ov.line) if ov else
             dm.Evidence(sriov_agent.file, "exclude_devices")],
            "keep them out of device_spec too (an \"address\" that leaves them out), or drop them from "
            "exclude_devices")


@check("PCI-Q003", Layer.NEUTRON, title="VFs for the agent's ports keep their netdev driver")
def vf_driver_for_ports(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts,
                        sriov_agent: config.SriovAgentConfig) -> Iterator[dm.Result]:
    """A ``direct`` or ``macvtap`` port on a physnet the agent maps needs the VF on its netdev
    driver (iavf, ixgbevf, mlx5_core...): the agent and libvirt find the VF through it, and
    libvirt's managed hostdev moves it to vfio-pci itself at boot. A VF pre-bound to vfio-pci (by
    hand or a ``driver_override``) hides it. Fails for VFs on vfio-pci that a mapped physnet offers
    (``managed: "no"`` entries, meant for vfio, are left alone)."""
    mapped = set(sriov_agent.device_mappings)
    unknown = common.drivers_unknown(devices)
    for physnet, pairs in sorted(_offered(compute_config, devices).items()):
        if physnet not in mapped or unknown is not None:
            continue
        on_vfio = [(d, e) for d, e in pairs if d.driver == common.VFIO and not common.managed_no(e)]
        if not on_vfio:
            continue
        dev = on_vfio[0][0]
        override = [d.address for d, _ in on_vfio if d.driver_override]
        fix = (f"driverctl unset-override {common.sh(override[0])} (each VF with a driver_override), then "
               "echo the VF's address to /sys/bus/pci/drivers_probe" if override else
               f"echo {common.sh(dev.address)} > {common.sysfs_path(dev.address, 'driver/unbind')}; echo "
               f"{common.sh(dev.address)} > /sys/bus/pci/drivers_probe (each VF)")
        yield dm.result(
            dm.FAIL, f"physnet {physnet!r}",
            f"{len(on_vfio)} VF(s) for {physnet!r}, which the SR-IOV agent serves, sit on vfio-pci: direct "
            "and macvtap ports need the VF's netdev driver",
            [compute_config.source_of(on_vfio[0][1]), common.driver_evidence(dev), _mapping_evidence(sriov_agent)],
            fix)


@check("PCI-Q004", Layer.NEUTRON, title="trusted and remote_managed agree with the agent")
def trusted_remote_managed(devices: dm.DeviceFacts, compute_config: dm.ConfigFacts,
                           sriov_agent: config.SriovAgentConfig) -> Iterator[dm.Result]:
    """``remote_managed`` VFs belong to an off-path SmartNIC/DPU whose ports OVN binds, not the SR-IOV
    NIC agent: a physnet both offered as remote_managed and mapped in the agent is a mix-up. The
    ``trusted`` tag must agree across the entries offering VFs for one physnet: a port with
    ``binding:profile trusted=true`` only lands on a trusted VF, and VFs of one physnet split
    between trusted and untrusted make it depend on the pool. Warns."""
    mapped = set(sriov_agent.device_mappings)
    for physnet, pairs in sorted(_offered(compute_config, devices).items()):
        entries = {e.index: e for _, e in pairs}
        remote = [e for e in entries.values() if e.spec.remote_managed]
        if remote and physnet in mapped:
            yield dm.result(
                dm.WARN, f"physnet {physnet!r}",
                f"device_spec entry {remote[0].index} offers remote_managed VFs for {physnet!r}, which the "
                "SR-IOV NIC agent maps: remote-managed ports are bound by OVN on the DPU, not by this agent",
                [compute_config.source_of(remote[0]), _mapping_evidence(sriov_agent)],
                f"drop {physnet!r} from {OPTION}, or \"remote_managed\" from the entry")
        trusted = {e.index: strutils.lenient_bool(e.spec.tags.get("trusted", "false"))
                   for e in entries.values()}
        if len(set(trusted.values())) > 1:
            yes = [i for i, t in trusted.items() if t]
            no = [i for i, t in trusted.items() if not t]
            yield dm.result(
                dm.WARN, f"physnet {physnet!r}",
                f"the VFs for {physnet!r} are trusted in device_spec entries {yes} and not in {no}: a port "
                "asking trusted=true lands only on the first, one without it on either",
                [compute_config.source_of(entries[yes[0]]), compute_config.source_of(entries[no[0]])],
                "give every entry of the physnet the same \"trusted\" value")
