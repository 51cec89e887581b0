"""``facts.json``: a host root's parsed facts, saved so the next scan need not walk sysfs again.

contracts.md §1 allows a host root to carry ``facts.json``, "used only if its
schema and version match". pcipass writes it only when asked
(``pcipass scan --host DIR --save-facts``), never into the live ``/`` and
never into a ``.tar.gz``. The file is evidence, not truth: it may have been
copied from another host, edited, or written by an attacker. A scan uses it
when all of these hold, and otherwise reads sysfs as usual, with one warning
that names ``facts.json`` and why:

* it is at most :data:`MAX_BYTES` long and holds at most :data:`MAX_ITEMS`
  JSON values (bounds on the objects parsed, not only on the bytes read),
  nested and with integers within :mod:`~pcipass.core.jsontext`'s bounds: a
  file beyond a bound is not evidence but invalid input, and the scan stops
  with :class:`~pcipass.adapters.hostroot.HostRootInvalid` naming it (exit 2);
* ``schema`` is :data:`SCHEMA` and ``version`` is this pcipass's version;
* ``hostname`` is the root's host name (a file written for another host with
  the same PCI addresses is not this host's);
* the root has ``sys/bus/pci/devices`` (without it there is nothing to check
  the file against), the names in it are the ``device_entries`` the file was
  written from (a device added or removed since makes it stale; one directory
  listing), and the device records are exactly those of these names that are
  PCI addresses, as the sysfs reader would give them: no device the host does
  not have, none left out;
* every value has the type the reader expects, and every field the form the
  sysfs reader gives it: canonical lower-case addresses, 4-digit IDs, 6-digit
  classes, kernel-valid driver and interface names, IOMMU groups that agree
  with the devices, a command line that parses to the fields stored with it
  (a hostile or truncated file is named with the entry that is wrong, and
  nothing of it is used).

What it holds: the sysfs devices (every field, pci.ids names included), their
interfaces and IOMMU groups, the NUMA topology and the kernel facts, with the
warnings each reader gave. The compute config is never cached: it is read
and matched afresh on every scan. Attribute changes that keep the device
list (a driver rebind, a new ``sriov_numvfs`` with the same VFs) are not
seen; ``--no-facts-cache`` reads sysfs regardless, and ``--save-facts``
refreshes the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from pcipass.adapters import factsform, hostroot, jsoncodec, kernel, sysfs, sysnuma
from pcipass.adapters.jsoncodec import FieldError
from pcipass.core import errors, jsontext
from pcipass.core.version import VERSION

SCHEMA = "pcipass-facts/1"
FILE = "facts.json"

#: Measured: ``--save-facts`` on a fake host of 10,100 functions (100 SR-IOV PFs of 100 functions
#: each, four NUMA nodes) writes 5.1 MB holding 264,000 JSON values, about 26 values and 510 bytes
#: per function. The bounds leave room for about four times the values and six times the bytes of
#: such a host (long pci.ids names, many warnings), and keep the parse of a hostile file small: a
#: file of empty lists (``[[],[],...]``) at the item bound decodes to about 60 MB of objects.
MAX_ITEMS = 1_000_000
MAX_BYTES = 32 << 20


class FactsCacheRefused(errors.InputError):
    """``--save-facts`` asked for a root pcipass must not (or cannot) write into."""

    msg_fmt = "Cannot save %(file)s for %(root)s: %(reason)s"


@dataclasses.dataclass(frozen=True, slots=True)
class CachedFacts:
    """What a scan reads from sysfs, as ``facts.json`` gave it back."""

    found: sysfs.SysfsScan
    topology: sysnuma.NumaTopology
    kernel_facts: kernel.KernelFacts


# -- reading --------------------------------------------------------------------------------


def load(root: hostroot.HostRoot, warnings: list[str]) -> CachedFacts | None:
    """The root's cached facts when ``facts.json`` is there and usable, else None.

    A file that is present but unusable adds one warning naming it and why.

    :raises hostroot.HostRootInvalid: the file is over a bound (bytes, values, depth, digits).
    """
    if root.live:
        return None  # the live host's facts are always read fresh
    data = root.read_bytes(FILE, warnings, limit=MAX_BYTES + 1)
    if data is None:
        return None
    try:
        return _read(data, root)
    except FieldError as bad:
        where = f"{bad.where}: " if bad.where else ""
        warnings.append(f"{FILE}: {where}{bad.why}; ignored, sysfs read instead")
        return None


def _read(data: bytes, root: hostroot.HostRoot) -> CachedFacts:
    if len(data) > MAX_BYTES:
        raise _invalid(root, f"larger than {MAX_BYTES >> 20} MiB, the bound for {FILE}")
    try:
        doc = jsontext.loads(data, max_depth=None, max_items=MAX_ITEMS)
    except jsontext.JsonTooComplex as exc:
        raise _invalid(root, f"over the bound for {FILE}: {exc} (a host of 10,000 PCI "
                             "functions needs about 265,000 values)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FieldError("", f"not valid JSON ({exc})") from None
    why = _mismatch(doc, root)
    if why is not None:
        raise FieldError("", why)
    decode = factsform.DECODER.decode
    facts = CachedFacts(decode(sysfs.SysfsScan, doc["sysfs"], "sysfs"),
                        decode(sysnuma.NumaTopology, doc["numa"], "numa"),
                        decode(kernel.KernelFacts, doc["kernel"], "kernel"))
    factsform.validate(facts.found, facts.topology, facts.kernel_facts, doc["device_entries"])
    return facts


def _invalid(root: hostroot.HostRoot, why: str) -> hostroot.HostRootInvalid:
    """A file beyond the bounds (once a crash: deep nesting, huge numbers, a bomb of values)
    is invalid input, not evidence read around (issue 9 point 2, contracts §5: exit 2)."""
    return hostroot.HostRootInvalid(path=root.source, reason=f"{FILE}: {why}",
                                    hint=f"remove {FILE}, or scan with --no-facts-cache; "
                                         "--save-facts writes it afresh")


def _mismatch(doc: Any, root: hostroot.HostRoot) -> str | None:
    if not isinstance(doc, dict):
        return "not a JSON object"
    if doc.get("schema") != SCHEMA:
        return f"schema {doc.get('schema')!r} is not {SCHEMA}"
    if doc.get("version") != VERSION:
        return f"written by pcipass {doc.get('version')!r}, this is {VERSION}"
    missing = [k for k in ("hostname", "device_entries", "sysfs", "numa", "kernel") if k not in doc]
    if missing:
        return f"no {', '.join(missing)}"
    if doc["hostname"] != root.name:
        return f"written for host {jsoncodec.show(doc['hostname'])}, but this host root is {jsoncodec.show(root.name)}"
    if not root.exists(sysfs.DEVICES_DIR):
        return f"the host root has no {sysfs.DEVICES_DIR} to check it against"
    if doc["device_entries"] != device_entries(root):
        return f"stale: the entries of {sysfs.DEVICES_DIR} changed since it was written"
    return None


def device_entries(root: hostroot.HostRoot) -> list[str]:
    """The names in ``sys/bus/pci/devices``, sorted (one listing; compared whole, no hash)."""
    return sorted(root.listdir(sysfs.DEVICES_DIR, []))


# -- writing --------------------------------------------------------------------------------


def save(root: hostroot.HostRoot, found: sysfs.SysfsScan, numa: sysnuma.NumaTopology,
         facts: kernel.KernelFacts) -> str:
    """Write ``facts.json`` into a host-root directory; return its path.

    :raises FactsCacheRefused: for the live host and for bundles (pcipass
        writes nothing to a host, and a ``.tar.gz`` is not rewritten).
    """
    check_writable(root.source)
    doc = {"schema": SCHEMA, "version": VERSION, "hostname": root.name,
           "device_entries": device_entries(root),
           "sysfs": jsoncodec.encode(found), "numa": jsoncodec.encode(numa), "kernel": jsoncodec.encode(facts)}
    path = os.path.join(root.source, FILE)  # a directory: check_writable refused anything else
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # ASCII: file names that are not UTF-8 (lone surrogates) are written as \u escapes
            json.dump(doc, handle, ensure_ascii=True, separators=(",", ":"))
        os.replace(tmp, path)  # replaces a link named facts.json itself, never its target
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise FactsCacheRefused(file=FILE, root=root.source, reason=exc.strerror or str(exc)) from exc
    return path


def check_writable(path: str) -> None:
    """Refuse, before any scan starts, a ``--save-facts`` target that is the live host or a bundle.

    :raises FactsCacheRefused: with the reason and what to do instead.
    """
    if os.path.realpath(path) == "/":
        raise FactsCacheRefused(file=FILE, root=path,
                                reason="pcipass never writes into the live host's /",
                                hint="collect a host root first, then save its facts there")
    if not os.path.isdir(path):
        raise FactsCacheRefused(file=FILE, root=path, reason="a bundle is not rewritten",
                                hint="unpack it (tar xzf) and scan the directory with --save-facts")


