"""An lspci paste given as a file (``--lspci FILE``): read it safely, parse it into devices.

The file is read with a bound and without blocking
(:mod:`pcipass.adapters.boundedread`: a FIFO or a device node given by mistake
must not hang the scan), then parsed by :mod:`pcipass.adapters.lspci` with
this machine's pci.ids.
"""

from __future__ import annotations

from pcipass.adapters import boundedread, lspci, pciids
from pcipass.core import errors

MAX_BYTES = boundedread.MAX_INPUT_BYTES


class LspciInputInvalid(errors.InputError):
    """An ``--lspci`` file that cannot be read or holds no device."""

    msg_fmt = "Invalid lspci input %(path)s: %(reason)s"


def read_devices(path: str) -> lspci.LspciParse:
    """The devices of the paste at ``path``, with the parser's problems.

    Pastes without ``-nn`` carry names only: IDs guessed from unambiguous
    pci.ids names are flagged on the device, which beats dropping the device.

    :raises LspciInputInvalid: the file is missing, unreadable, not a regular
        file, larger than :data:`MAX_BYTES`, lists no device, or holds a problem of
        :data:`lspci.ERRORS` (a field number of thousands of digits), named by its line.
    """
    parsed = lspci.parse(read_text(path), source=path, pci_ids=pciids.PciIds.system(),
                         guess_ids=True)
    for problem in parsed.problems:
        if problem.code in lspci.ERRORS:
            raise LspciInputInvalid(path=path, reason=f"line {problem.line}: {problem.message}")
    if not parsed.devices:
        first = parsed.problems[0].message if parsed.problems else "no lspci device records"
        raise LspciInputInvalid(path=path, reason=f"no device found ({first})",
                                hint="paste the output of lspci -nnk (or lspci -vmmnnkD)")
    return parsed


def read_text(path: str) -> str:
    """Read a paste without blocking on FIFOs or reading unbounded data.

    :raises LspciInputInvalid: the file cannot be read, is not a regular file or is too large.
    """
    try:
        data = boundedread.read_bounded(path, MAX_BYTES)
    except IsADirectoryError as exc:
        raise LspciInputInvalid(path=path, reason="a directory") from exc
    except OSError as exc:  # NotRegularFile and FileTooLarge say why in strerror
        raise LspciInputInvalid(path=path, reason=exc.strerror or str(exc)) from exc
    return data.decode("utf-8", "replace")
