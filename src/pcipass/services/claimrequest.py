"""What a claim asks for: a flavor (with the controller's aliases), Neutron ports and a NUMA
pinning, read once and named by a fingerprint.

:func:`prepare` reads the flavor file (and image), translates it with the ``[pci] alias``
entries of ``--nova-conf`` exactly as ``schedule --host`` does, appends one request per
``--port``, and gives the :class:`~pcipass.services.storefleet.Question` the scheduler answers.
A port may also carry ``mac=`` and ``vlan=``: they are not part of Nova's PCI request, only of
the guest's ``<interface>`` (``allocation show -f libvirt``).

The request's canonical JSON (:attr:`Prepared.doc`) is stored with the consumer; its SHA-256
(:attr:`Prepared.fingerprint`) tells a repeated claim from a different one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pcipass.adapters import flavorfile
from pcipass.core import claimrules, errors, requests, schedule
from pcipass.services import configcheck, flavorexplain
from pcipass.services import schedule as schedule_svc
from pcipass.services.jsonview import to_json
from pcipass.services.storefleet import Question

#: Keys a ``--port`` value may carry for the guest's interface (not Nova's PCI request).
WIRE_KEYS = ("mac", "vlan")


class ClaimRequestInvalid(errors.InputError):
    """The flavor, image, ports or pinning cannot be turned into a request."""

    msg_fmt = "%(what)s: %(reason)s"


@dataclasses.dataclass(frozen=True, slots=True)
class PortWire:
    """A port's MAC address and VLAN, as given (None: not given)."""

    mac: str | None = None
    vlan: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Prepared:
    """A request ready to claim: the scheduler's question, the ports' MAC and VLAN, its
    canonical document and fingerprint."""

    flavor: str
    question: Question
    ports: tuple[PortWire, ...]
    doc: Mapping[str, Any]
    #: The controller's ``[filter_scheduler] host_subset_size`` (Nova's default: 1).
    host_subset_size: int = 1

    @property
    def fingerprint(self) -> str:
        return self.question.fingerprint


def split_port(value: str) -> tuple[str, PortWire]:
    """``vnic_type=direct,physnet=p,mac=fa:16:3e:00:00:01,vlan=100`` -> the port request text
    and its MAC and VLAN.

    :raises ClaimRequestInvalid: a VLAN that is not 1-4094, a MAC that is not six hex pairs.
    """
    kept: list[str] = []
    wire: dict[str, str] = {}
    for item in value.split(","):
        key, sep, val = item.partition("=")
        if sep and key.strip() in WIRE_KEYS:
            wire[key.strip()] = val.strip()
        else:
            kept.append(item)
    mac = wire.get("mac") or None
    if mac is not None:
        parts = mac.split(":")
        if len(parts) != 6 or not all(len(p) == 2 and _hex(p) for p in parts):
            raise ClaimRequestInvalid(what=f"port {value!r}", reason=f"mac {mac!r} is not "
                                      "six hex pairs", hint="e.g. mac=fa:16:3e:12:34:56")
        mac = mac.lower()
    vlan: int | None = None
    if wire.get("vlan"):
        text = wire["vlan"]
        if not text.isdigit() or not 1 <= int(text) <= 4094:
            raise ClaimRequestInvalid(what=f"port {value!r}",
                                      reason=f"vlan {text!r} is not 1-4094")
        vlan = int(text)
    return ",".join(kept), PortWire(mac, vlan)


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def prepare(flavor: str | Path, *, ports: Sequence[str] = (), nova_conf: Sequence[str | Path] = (),
            image: str | Path | None = None,
            instance_numa_nodes: Sequence[int] | None = None) -> Prepared:
    """Read and translate the request (see the module docstring).

    :raises ClaimRequestInvalid: the flavor or image cannot be read, the controller's aliases
        are invalid, or a port's MAC or VLAN is malformed.
    :raises errors.InputError: Nova's errors for the flavor's extra specs or a port.
    """
    fl = flavorfile.read_flavor(flavor)
    if fl.problems:
        raise ClaimRequestInvalid(what=str(flavor), reason=fl.problems[0].message,
                                  hint=fl.problems[0].hint)
    image_props, image_problem = flavorexplain.load_image(image)
    if image_problem is not None:
        raise ClaimRequestInvalid(what=str(image), reason=image_problem.message)
    controller = configcheck.load_config(nova_conf)
    if fl.extra_specs.get(requests.ALIAS_KEY) and not controller.aliases.valid:
        problem = controller.aliases.nova_error
        raise ClaimRequestInvalid(what="the controller's [pci] alias",
                                  reason=problem.message if problem else "invalid")
    fr = requests.translate_flavor(fl.extra_specs, controller.aliases.aliases, image_props)
    split = [split_port(p) for p in ports]
    reqs = schedule.build_requests(fr.requests, [s for s, _ in split],
                                   flavor_policy=fr.numa_policy)
    shape = schedule_svc.instance_shape(fl.vcpus, fl.ram, fr.numa_nodes, fr.cpu_policy)
    pinned = tuple(instance_numa_nodes) if instance_numa_nodes is not None else None
    multiplier = controller.nova.pci_weight_multiplier
    wires = tuple(w for _, w in split)
    doc = {"flavor": fl.name, "requests": to_json(list(reqs)), "shape": to_json(shape),
           "instance_numa_nodes": list(pinned) if pinned is not None else None,
           "ports": [dataclasses.asdict(w) for w in wires]}
    question = Question(tuple(reqs), shape, pinned,
                        float(multiplier if multiplier is not None else 1.0),
                        claimrules.fingerprint(doc))
    return Prepared(fl.name, question, wires, doc, controller.nova.host_subset_size)
