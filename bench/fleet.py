"""Fleets of host-root directories for the benchmarks: one fake host, hard-linked copies.

Writing a thousand sysfs trees takes minutes; ``cp -al`` copies one in a fraction of a second.
Each copy then gets files of its own (compute config, manifest hostname), and a stale
``facts.json`` from an earlier run is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path


def hardlinked_fleet(root: Path, hosts: int, width: int, build_base: Callable[[Path], None],
                     compute_conf: Callable[[int], str]) -> list[Path]:
    """``root/host-<i>`` for i < ``hosts``: the base built once, the rest hard-linked copies
    (reused when already there); host i is named ``compute-<i>`` with ``compute_conf(i)``."""
    base = root / f"host-{0:0{width}d}"
    if not base.exists():
        build_base(base)
    paths = [base]
    for i in range(1, hosts):
        dest = root / f"host-{i:0{width}d}"
        if not dest.exists():
            subprocess.run(["cp", "-al", str(base), str(dest)], check=True)
        paths.append(dest)
    for i, path in enumerate(paths):
        own_file(path / "etc/nova/nova.conf", compute_conf(i))
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["hostname"] = f"compute-{i:0{width}d}"
        own_file(path / "manifest.json", json.dumps(manifest))
        facts = path / "facts.json"
        if facts.exists():
            facts.unlink()
    return paths


def own_file(path: Path, text: str) -> None:
    """Replace a (possibly hard-linked) file by a file of its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    path.write_text(text)


def fleet_arguments(parser: argparse.ArgumentParser, hosts: int) -> None:
    """``--root DIR`` (keep the fleet), ``-n HOSTS`` and ``-j JOBS``, the same in every fleet benchmark."""
    parser.add_argument("--root", type=Path, help="keep the fleet here (reused by later runs)")
    parser.add_argument("-n", "--hosts", type=int, default=hosts)
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)


def fleet_root(root: Path | None, prefix: str) -> tuple[Path, str | None]:
    """The fleet's directory and, when none was given, the temporary one to remove afterwards."""
    tmp = None
    if root is None:
        tmp = tempfile.mkdtemp(prefix=prefix)
        root = Path(tmp)
    root.mkdir(parents=True, exist_ok=True)
    return root, tmp
