"""A host root's compute config: ``etc/nova/nova.conf`` and ``etc/nova/nova.conf.d/*.conf``.

Files are read through the root, so that no link can make us read outside it
(a link leaving the root is refused with a warning), and in oslo.config's
order: nova.conf, then the directory's ``*.conf`` sorted. oslo.config reads
paths, so each file is copied to a private temporary directory; problems name
the path inside the root.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pcipass.core import configbounds, errors

if TYPE_CHECKING:
    from pcipass.adapters import hostroot
    from pcipass.core import config

COMPUTE_CONF = "etc/nova/nova.conf"
COMPUTE_CONF_DIR = "etc/nova/nova.conf.d"
MAX_BYTES = 16 << 20


def read_compute_config(root: hostroot.HostRoot, warnings: list[str]) -> config.NovaConfig | None:
    """The root's compute config, or ``None`` when it has none.

    :param warnings: unreadable files and refused links are appended here.
    """
    files = _conf_files(root, warnings)
    if not files:
        return None
    # NOTE: novaconf with oslo.config costs ~65 ms to import and a scan of hosts without a compute
    # config never needs it (test_scan_without_config_does_not_load_oslo_or_jsonschema).
    from pcipass.adapters import novaconf

    loaded: list[novaconf.Loaded] = []
    problems: list[errors.Problem] = []
    with tempfile.TemporaryDirectory(prefix="pcipass-hostconf-") as tmp:
        for i, (rel, data) in enumerate(files):
            text, problem = (None, _too_large(rel)) if len(data) > MAX_BYTES else (
                novaconf.decode_text(rel, data))
            if text is None:
                problems.append(problem)  # type: ignore[arg-type]
                continue
            copy = os.path.join(tmp, f"{i:04d}.conf")
            Path(copy).write_text(text, encoding="utf-8")
            item, problem = novaconf.load(copy, display=rel, before=novaconf.lines_of(loaded))
            if item is not None:
                loaded.append(item)
            elif problem is not None:
                problems.append(problem)
                if problem.code == configbounds.CODE:
                    break  # the whole configuration is refused (novaconf.read_loaded)
        return novaconf.read_loaded(loaded, [rel for rel, _ in files], problems)


def _conf_files(root: hostroot.HostRoot, warnings: list[str]) -> list[tuple[str, bytes]]:
    """(path in the root, bytes) of nova.conf and nova.conf.d/*.conf, in oslo's order."""
    rels = [COMPUTE_CONF]
    rels += [f"{COMPUTE_CONF_DIR}/{n}" for n in root.listdir(COMPUTE_CONF_DIR, warnings)
             if n.endswith(".conf") and not n.startswith(".")]
    out = []
    for rel in rels:
        data = root.read_bytes(rel, warnings, limit=MAX_BYTES + 1)  # regular files only
        if data is not None:
            out.append((rel, data))
    return out


def _too_large(rel: str) -> errors.Problem:
    return errors.Problem("ConfigFileUnreadable",
                          f"cannot read config file {rel}: larger than {MAX_BYTES >> 20} MiB", file=rel)
