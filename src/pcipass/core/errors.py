"""Domain errors and the contract's Error object.

Every rejected input becomes a :class:`Problem` (the ``Error`` object of
``contracts.md`` §2). Core code raises :class:`PcipassError` subclasses; the
adapter that read the input attaches the file, line, value index and entry,
and the front end prints it (its fields, in order, are the JSON object).

Every code (these class names, and the codes of ``Problem(code, ...)``
constructions) is registered with its meaning in :mod:`pcipass.core.codes`
(``tests/unit/test_problem_codes.py`` checks every subclass).

Exception tree::

    PcipassError                      base; ``code`` is the class name
    +-- InputError                    the input is invalid (exit code 2)
    |   +-- PciConfigInvalidSpec      Nova's class names, same messages
    |   +-- PciDeviceWrongAddressFormat
    |   +-- PciDeviceInvalidDeviceName
    |   +-- PciDeviceRemoteManagedNotPresent
    |   +-- PciDeviceInvalidPFRemoteManaged
    |   +-- PciDeviceNotFoundById
    |   +-- PciInvalidAlias
    |   +-- PciRequestAliasNotDefined
    |   +-- InvalidPCINUMAAffinity
    |   +-- ImagePCINUMAPolicyForbidden
    |   +-- InvalidAliasRequest        pcipass: malformed pci_passthrough:alias
    |   +-- InvalidExtraSpec           pcipass: other bad flavor/image values
    |   +-- InvalidPciAddress          a device address that is not dddd:bb:ss.f (code: Nova's
    |   |                              PciDeviceWrongAddressFormat, with the reason)
    |   +-- PciDeviceNotFoundById      a device Nova probes while parsing is missing
    |   +-- ValidationError            Nova API extra spec validation
    |   +-- InvalidRequest             Nova API: image property of the wrong type
    |   +-- InvalidNUMANodesNumber, ImageNUMATopologyForbidden,
    |   |   InvalidCPUAllocationPolicy, ImageCPUPinningForbidden   (nova.virt.hardware)
    |   +-- PciDeviceInvalidConfig     the 2013 pci_passthrough_devices format
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """The contract's Error object: one rejected (or suspicious) input.

    ``code`` is Nova's exception class name where Nova has one, otherwise a
    pcipass CamelCase code. ``line`` is 1-based. ``value_index`` is the index
    of the option value (repeated key) and ``entry`` names the entry inside it
    (``"device_spec[2]"``, ``"alias 'a1'"``, ``"item 1"``).
    """

    code: str
    message: str
    file: str | None = None
    line: int | None = None
    value_index: int | None = None
    entry: str | None = None
    hint: str | None = None

    def located(self, **where: Any) -> Problem:
        """Return a copy with location fields filled in (only those still unset)."""
        updates = {k: v for k, v in where.items() if v is not None and getattr(self, k) is None}
        return dataclasses.replace(self, **updates) if updates else self


CLIP = 120
"""Characters of a user's value quoted in a message; a longer value is cut and its length given."""


def clip(text: str, limit: int = CLIP) -> str:
    """``text``, or its first ``limit`` characters and its length when it is longer.

    Messages quote the user's value; a hostile value (100,000 brackets, a
    5,000-digit number) must not turn one error into a 100 KB line.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


class PcipassError(Exception):
    """Base of all pcipass errors. ``code`` defaults to the class name."""

    msg_fmt: ClassVar[str] = "%(message)s"
    code: ClassVar[str] = "PcipassError"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = cls.__name__

    def __init__(self, message: str | None = None, *, hint: str | None = None,
                 entry: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if message is None:
            message = self.msg_fmt % kwargs
        self.message = message
        self.hint = hint
        self.entry = entry
        super().__init__(message)

    def to_problem(self, **where: Any) -> Problem:
        """Return this error as a :class:`Problem`, with optional location."""
        problem = Problem(code=self.code, message=self.message, hint=self.hint, entry=self.entry)
        return problem.located(**where)


class InputError(PcipassError):
    """The input is invalid."""


class PciConfigInvalidSpec(InputError):
    msg_fmt = "Invalid [pci]device_spec config: %(reason)s"


class PciDeviceWrongAddressFormat(InputError):
    msg_fmt = "The PCI address %(address)s has an incorrect format."


class PciDeviceInvalidDeviceName(InputError):
    msg_fmt = ("Invalid PCI Whitelist: The PCI whitelist can specify devname or "
               "address, but not both")


class PciDeviceRemoteManagedNotPresent(InputError):
    msg_fmt = ('Invalid PCI Whitelist: A device specified as "remote_managed" '
               'is not actually present on the host')


class PciDeviceInvalidPFRemoteManaged(InputError):
    # NOTE: Nova's text lacks the space before "tag"; kept for compatibility.
    msg_fmt = ('Invalid PCI Whitelist: PFs must not have the "remote_managed"'
               'tag, device address: %(address)s')


class PciDeviceNotFoundById(InputError):
    """A device Nova looks up in sysfs while parsing the config is missing."""

    msg_fmt = "PCI device %(id)s not found"


class PciInvalidAlias(InputError):
    msg_fmt = "Invalid PCI alias definition: %(reason)s"


class PciRequestAliasNotDefined(InputError):
    msg_fmt = "PCI alias %(alias)s is not defined"


class InvalidPCINUMAAffinity(InputError):
    msg_fmt = "Invalid PCI NUMA affinity configured: %(policy)s"


class ImagePCINUMAPolicyForbidden(InputError):
    msg_fmt = ("Image property 'hw_pci_numa_affinity_policy' is not permitted to "
               "override the 'hw:pci_numa_affinity_policy' flavor extra spec.")


class InvalidAliasRequest(InputError):
    """A ``pci_passthrough:alias`` value Nova would crash on or reject."""

    msg_fmt = "Invalid pci_passthrough:alias value %(value)r: %(reason)s"


class InvalidExtraSpec(InputError):
    """A flavor extra spec or image property with an invalid value."""

    msg_fmt = "Invalid value %(value)r for %(key)s: %(reason)s"


class InvalidPciAddress(PciDeviceWrongAddressFormat):
    """A device address that is not a full ``dddd:bb:ss.f`` address.

    Its code is Nova's (``parse_address`` raises ``PciDeviceWrongAddressFormat``);
    the message says what is wrong with it.
    """

    code = "PciDeviceWrongAddressFormat"
    msg_fmt = "Invalid PCI address %(address)r: %(reason)s"


class ValidationError(InputError):
    """Nova API's extra spec validation failure (``nova.exception.ValidationError``)."""


class InvalidRequest(InputError):
    """Nova API's ``InvalidRequest``: here, an image property of the wrong type."""


class InvalidNUMANodesNumber(InputError):
    msg_fmt = "The property 'numa_nodes' cannot be '%(nodes)s'. It must be a number greater than 0"


class ImageNUMATopologyForbidden(InputError):
    msg_fmt = ("Image property '%(name)s' is not permitted to override NUMA configuration set "
               "against the flavor")


class InvalidCPUAllocationPolicy(InputError):
    msg_fmt = ("CPU policy requested from '%(source)s' is invalid, given: '%(requested)s', "
               "available: '%(available)s'.")


class ImageCPUPinningForbidden(InputError):
    msg_fmt = ("Image property 'hw_cpu_policy' is not permitted to override CPU pinning policy "
               "set against the flavor")


class PciDeviceInvalidConfig(InputError):
    """A bad ``pci_passthrough_devices`` value (the 2013 design's exception name)."""

    msg_fmt = "Invalid [DEFAULT] pci_passthrough_devices config: %(reason)s"

