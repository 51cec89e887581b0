"""What a problem code is: whose name it is, its severity, the input it is about (issue 11).

A problem code is the ``code`` of an Error object (``contracts.md`` §2, a
:class:`pcipass.core.errors.Problem`). :mod:`pcipass.core.codes` registers
every one as a :class:`Code`; :mod:`pcipass.core.codesdoc` prints the table as
``docs/problem-codes.md``.

Pure data, standard library only.
"""

from __future__ import annotations

import dataclasses
import enum

from pcipass.core.layers import Layer


class Origin(enum.StrEnum):
    """Whose name the code is."""

    NOVA = "nova"
    """A class of ``nova.exception`` (Nova 34.0.0), with Nova's message where pcipass can give it."""
    OSLO_CONFIG = "oslo.config"
    """An ``oslo_config.cfg`` exception: what nova-* (or the Neutron agent) stops with."""
    PCIPASS = "pcipass"
    """pcipass's own: Nova has no exception for it (it accepts the input, or crashes otherwise)."""


class Severity(enum.StrEnum):
    """How the code is reported: among the errors (exit 2) or the warnings (exit 1)."""

    ERROR = "error"
    WARNING = "warning"


class Area(enum.Enum):
    """The input a code is about; ``docs/problem-codes.md`` has one section per area, in this order."""

    CONFIG_FILES = ("Config files",
                    "Reading nova.conf (and the agent's ini): files, directories, encoding, INI syntax.")
    OPTIONS = ("Option names, values and $references",
               "What oslo.config does with each option line, and what Nova then ignores.")
    DEVICE_SPEC = ("[pci] device_spec", "Each device_spec entry, as Nova parses and matches it.")
    ALIAS = ("[pci] alias", "Each alias, as nova-api and the scheduler read it.")
    OTHER_OPTIONS = ("Placement and CPU options", "Nova options around PCI that do not work as set.")
    PLACEMENT = ("PCI in Placement", "What nova-compute reports to Placement for its PCI devices "
                 "([pci] report_in_placement) and what the scheduler asks of it "
                 "([filter_scheduler] pci_in_placement).")
    LEGACY = ("The 2013 label design",
              "[DEFAULT] pci_passthrough_devices and the pci_passthrough:labels extra spec.")
    FLAVOR_FILES = ("Flavor and image files", "The JSON files given as flavors and images.")
    FLAVOR = ("Flavor extra specs and image properties",
              "What Nova's API and its PCI request and NUMA code refuse or ignore.")
    SCHEDULE = ("Scheduling", "The scheduler options and requests the schedule command plays.")
    SRIOV_AGENT = ("Neutron SR-IOV agent config", "[sriov_nic] of sriov_agent.ini.")
    HOSTS = ("Hosts", "Host roots, bundles and the compute node's own config.")
    LSPCI = ("lspci pastes", "lspci output read in place of sysfs.")
    FACTS = ("facts.json", "The saved facts of a host root (contracts §1).")
    FAKEHOST = ("Fake-host profiles", "The fake-host builder's profile language (docs/fakehost.md).")
    DEVICE_STATE = ("Device states", "Claim, allocate, free and remove on tracked devices "
                    "(Nova's PciDevice state machine).")
    STORE = ("The device store", "The database of hosts and devices, its schema, and the "
             "agent that keeps it true to each host.")

    @property
    def title(self) -> str:
        return self.value[0]

    @property
    def description(self) -> str:
        return self.value[1]


@dataclasses.dataclass(frozen=True, slots=True)
class Code:
    """One registered problem code.

    ``severity`` is ``None`` where the same code is an error in one place and a
    warning in another (the meaning says when). ``layer`` is ``None`` for codes
    about reading an input rather than about one of the passthrough layers.
    """

    name: str
    meaning: str
    area: Area
    origin: Origin
    severity: Severity | None
    layer: Layer | None = None
