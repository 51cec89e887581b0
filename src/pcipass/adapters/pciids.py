"""Device names from a pci.ids database (the file lspci reads).

The file is 1.3 MB; parsing it all costs tens of milliseconds, so this module
only indexes vendor lines up front and parses a vendor's block on first use.
Loaded databases are cached by path, size and mtime, so repeated scans in one
process pay once.

Reverse lookups (name -> ID) exist for lspci pastes without ``-nn``: they
only answer when the name is unambiguous.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from pcipass.adapters import boundedread

if TYPE_CHECKING:
    from pcipass.adapters import hostroot

SYSTEM_PATHS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids")
ROOT_PATHS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids")
MAX_BYTES = 16 << 20

_VENDOR = re.compile(r"^([0-9a-f]{4})  (.*)$", re.M)
_DEVICE = re.compile(r"^\t([0-9a-f]{4})  (.*)$")

_CACHE: dict[tuple[str, int, int], PciIds] = {}


class PciIds:
    """One pci.ids database. Build with :meth:`load`, :meth:`system` or :meth:`find`."""

    def __init__(self, text: str, *, source: str | None = None) -> None:
        self.source = source
        cut = text.find("\nC ")  # the class section follows all vendors
        self._text = text if cut < 0 else text[:cut + 1]
        self._class_text = "" if cut < 0 else text[cut + 1:]
        self._vendors: dict[str, tuple[str, int, int]] | None = None
        self._found: dict[str, tuple[str, int, int] | None] = {}
        self._names: dict[tuple[str, str], str | None] = {}
        self._devices: dict[str, dict[str, str]] = {}
        self._classes: dict[str, str] | None = None
        self._by_vendor_name: dict[str, list[str]] | None = None

    # -- construction -------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PciIds:
        """Load (or reuse from the cache) the database at ``path``.

        :raises OSError: when the file cannot be read, is not a regular file or is larger than
            :data:`MAX_BYTES`.
        """
        text_path = os.fspath(path)
        st = os.stat(text_path)
        key = (text_path, st.st_size, st.st_mtime_ns)
        cached = _CACHE.get(key)
        if cached is None:
            data = boundedread.read_bounded(text_path, MAX_BYTES)
            cached = cls(data.decode("utf-8", "replace"), source=text_path)
            _CACHE[key] = cached
        return cached

    @classmethod
    def system(cls) -> PciIds | None:
        """This machine's pci.ids, or ``None`` when none is installed."""
        for path in SYSTEM_PATHS:
            try:
                return cls.load(path)
            except OSError:
                continue
        return None

    @classmethod
    def find(cls, root: hostroot.HostRoot | None = None) -> PciIds | None:
        """The root's own pci.ids when it carries one, else this machine's."""
        if root is not None and not root.live:
            for rel in ROOT_PATHS:
                data = root.read_bytes(rel, [], limit=MAX_BYTES)  # regular files only
                if data is not None:
                    return cls(data.decode("utf-8", "replace"), source=f"{root.source}:{rel}")
        return cls.system()

    # -- lookups ----------------------------------------------------------------------------

    def vendor_name(self, vendor_id: str) -> str | None:
        entry = self._vendor_entry(vendor_id.lower())
        return entry[0] if entry else None

    def device_name(self, vendor_id: str, device_id: str) -> str | None:
        key = (vendor_id.lower(), device_id.lower())
        if key not in self._names:
            self._names[key] = self._find_device(*key)
        return self._names[key]

    def _find_device(self, vendor_id: str, device_id: str) -> str | None:
        """One device's name, found by searching the vendor's block (no full parse)."""
        if vendor_id in self._devices:
            return self._devices[vendor_id].get(device_id)
        block = self._vendor_entry(vendor_id)
        if block is None:
            return None
        at = self._text.find(f"\n\t{device_id}  ", block[1], block[2])
        if at < 0:
            return None
        end = self._text.find("\n", at + 1)
        return self._text[at + 8:end if end >= 0 else None].strip()

    def describe(self, vendor_id: str, device_id: str) -> str | None:
        """``"<vendor> <device>"`` as lspci prints it, or ``None`` when the device is unknown."""
        device = self.device_name(vendor_id, device_id)
        if device is None:
            return None
        vendor = self.vendor_name(vendor_id)
        return f"{vendor} {device}" if vendor else device

    def class_name(self, class_code: str) -> str | None:
        """Name of a 4-digit (class+subclass) or 6-digit class code; falls back to the class."""
        classes = self._class_index()
        code = class_code.lower()
        return classes.get(code[:4]) or classes.get(code[:2])

    # -- reverse lookups (lspci without -nn) --------------------------------------------------

    def vendor_ids(self, name: str) -> list[str]:
        """Vendor IDs whose pci.ids name is exactly ``name``."""
        if self._by_vendor_name is None:
            index: dict[str, list[str]] = {}
            for vid, (vname, _, _) in self._vendor_index().items():
                index.setdefault(vname, []).append(vid)
            self._by_vendor_name = index
        return list(self._by_vendor_name.get(name, []))

    def split_vendor(self, text: str) -> tuple[str, str] | None:
        """Split ``"<vendor name> <rest>"`` at the longest known vendor name.

        Returns ``(vendor_id, rest)`` when exactly one vendor has that name.
        """
        words = text.split(" ")
        for cut in range(len(words), 0, -1):
            ids = self.vendor_ids(" ".join(words[:cut]))
            if len(ids) == 1:
                return ids[0], " ".join(words[cut:])
            if ids:
                return None
        return None

    def device_ids(self, vendor_id: str, name: str) -> list[str]:
        """Device IDs of ``vendor_id`` whose pci.ids name is exactly ``name``."""
        return [did for did, dname in self._vendor_devices(vendor_id.lower()).items() if dname == name]

    def class_id(self, name: str) -> str | None:
        """The 4-digit class+subclass whose name is ``name`` (``"Ethernet controller"`` -> 0200)."""
        matches = [code for code, cname in self._class_index().items()
                   if len(code) == 4 and cname == name]
        return matches[0] if len(matches) == 1 else None

    # -- lazy indexes ------------------------------------------------------------------------

    def _vendor_index(self) -> dict[str, tuple[str, int, int]]:
        if self._vendors is None:
            index: dict[str, tuple[str, int, int]] = {}
            previous: tuple[str, str, int] | None = None
            for match in _VENDOR.finditer(self._text):
                if previous is not None:
                    index.setdefault(previous[0], (previous[1], previous[2], match.start()))
                previous = (match.group(1), match.group(2).strip(), match.end())
            if previous is not None:
                index.setdefault(previous[0], (previous[1], previous[2], len(self._text)))
            self._vendors = index
        return self._vendors

    def _vendor_entry(self, vendor_id: str) -> tuple[str, int, int] | None:
        """(name, block start, block end) of one vendor, found without indexing them all."""
        if self._vendors is not None:
            return self._vendors.get(vendor_id)
        if vendor_id in self._found:
            return self._found[vendor_id]
        self._found[vendor_id] = entry = self._find_vendor(vendor_id)
        return entry

    def _find_vendor(self, vendor_id: str) -> tuple[str, int, int] | None:
        text = self._text
        at = 0 if text.startswith(f"{vendor_id}  ") else text.find(f"\n{vendor_id}  ") + 1
        if at <= 0 and not text.startswith(f"{vendor_id}  "):
            return None
        line_end = text.find("\n", at)
        line_end = len(text) if line_end < 0 else line_end
        following = _VENDOR.search(text, line_end)
        return (text[at + 6:line_end].strip(), line_end, following.start() if following else len(text))

    def _vendor_devices(self, vendor_id: str) -> dict[str, str]:
        """The vendor's devices: id -> name (the first line of an id wins)."""
        devices = self._devices.get(vendor_id)
        if devices is not None:
            return devices
        devices = {}
        entry = self._vendor_entry(vendor_id)
        if entry is not None:
            for line in self._text[entry[1]:entry[2]].splitlines():
                dev = _DEVICE.match(line)
                if dev:
                    devices.setdefault(dev.group(1), dev.group(2).strip())
        self._devices[vendor_id] = devices
        return devices

    def _class_index(self) -> dict[str, str]:
        if self._classes is None:
            classes: dict[str, str] = {}
            current = ""
            for line in self._class_text.splitlines():
                if line.startswith("C "):
                    current = line[2:4].lower()
                    classes[current] = line[6:].strip()
                elif line.startswith("\t") and not line.startswith("\t\t") and current:
                    code, _, name = line[1:].partition("  ")
                    classes[current + code.strip().lower()] = name.strip()
            self._classes = classes
        return self._classes
