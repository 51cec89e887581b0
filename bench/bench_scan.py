#!/usr/bin/env python3
"""Benchmark host discovery: scan a host root with 8 SR-IOV PFs x 128 VFs (1,032 functions,
plus their 8 root ports), in-process and as a whole command, beside ``lspci -nnk`` on the same tree.

Targets (issue 3): in-process under 150 ms with a warm cache; the whole command no slower
than lspci plus Python start-up. "Cold" is the first scan in a process (the page cache is
warm, since the tree was just written; pci.ids parsing is included); "warm" is the best of
the following scans. The in-process rows time the sysfs reader (the target) and the whole
``scan`` service (reader, NUMA, kernel facts, matching, the JSON document).

The whole command is ``pcipass scan --host ROOT -f json``; ``pcipass --version`` beside it
shows how much of that is the CLI's start-up (imports) rather than the scan, and the two
JSON rows show what printing the 850 KB document costs (``indent=2`` makes ``json`` use its
pure-Python encoder; without it the C encoder runs).

Measured on the 2-CPU development VM (shared, so runs vary by +-30 %; best of 9). Session 1 ran
on a slower VM; session 2 re-measured before and after its changes on the same VM:

==========================================  ===========  ===========  ===========
                                            session 1    session 2    session 2
                                                         before       after
==========================================  ===========  ===========  ===========
syscalls, one scan process (strace -c)      40,780       41,516       36,269
in-process, warm                            89-133 ms    67-77 ms     74-86 ms
pcipass --version                           57-82 ms     38 ms        38-43 ms
JSON printing (indent=2 -> one line)        ~20 ms       15 ms        3 ms
whole command, walking sysfs                199-232 ms   152 ms       150-168 ms
whole command, from facts.json              -            -            86-88 ms
lspci -nnk + python start-up (target)       113-153 ms   56-78 ms     (same)
==========================================  ===========  ===========  ===========

The in-process target is met. The whole command is not, walking sysfs (about 2x lspci plus
Python start-up): Python start-up and the imports (click alone is 17 ms) take half of the
budget, and a path syscall from Python costs 1.2-2.5 us on this VM, with 33 per VF (lspci makes
about 50, in C). From a saved facts.json (``pcipass scan --save-facts``, contracts §1) the
command is within 10-15 % of the target: 14 ms for the scan, the rest is start-up and imports.

Run with the project venv: ``.venv/bin/python bench/bench_scan.py [--check] [--root DIR] [-n N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pcipass import fakehost  # noqa: E402
from pcipass.adapters import pciids, roots, sysfs  # noqa: E402
from pcipass.services import scan  # noqa: E402
from pcipass.services.jsonview import to_json  # noqa: E402

TARGET_WARM_MS = 150.0


def scan_once(root_dir: Path, ids: pciids.PciIds | None) -> tuple[float, int]:
    start = time.perf_counter()
    with roots.open_root(root_dir) as root:
        count = len(sysfs.read_devices(root, pci_ids=ids).devices)
    return (time.perf_counter() - start) * 1000, count


def service_once(root_dir: Path, facts_cache: str = scan.CACHE_USE) -> float:
    start = time.perf_counter()
    to_json(scan.scan_hosts([root_dir], facts_cache=facts_cache))
    return (time.perf_counter() - start) * 1000


def json_once(doc: dict[str, object], indent: int | None) -> float:
    start = time.perf_counter()
    json.dumps(doc, indent=indent, ensure_ascii=False, allow_nan=False)
    return (time.perf_counter() - start) * 1000


def best_of(argv: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def _installed_env(cache: str) -> dict[str, str]:
    """Run the command as an installed package runs: with cached bytecode (kept out of the
    repository), whatever PYTHONDONTWRITEBYTECODE says here."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="reuse (or create) the host root here instead of a temp dir")
    parser.add_argument("-n", type=int, default=7, help="repetitions per measurement (best is kept)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    tmp = None
    tmp_cache = tempfile.mkdtemp(prefix="pcipass-pycache-")
    root_dir = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="pcipass-bench-")) / "host"
    if not (root_dir / "sys").is_dir():
        start = time.perf_counter()
        fakehost.build(root_dir, fakehost.PROFILES["bench-8x128"])
        print(f"built {root_dir} in {time.perf_counter() - start:.1f} s")
    if not args.root:
        tmp = root_dir.parent
    try:
        ids = pciids.PciIds.system()
        cold, count = scan_once(root_dir, ids)
        warm = min(scan_once(root_dir, ids)[0] for _ in range(args.n))
        if (root_dir / "facts.json").exists():
            os.unlink(root_dir / "facts.json")  # a kept --root from an interrupted run
        service = min(service_once(root_dir, scan.CACHE_IGNORE) for _ in range(args.n))
        doc = to_json(scan.scan_hosts([root_dir]))
        json_indented = min(json_once(doc, 2) for _ in range(args.n))
        json_compact = min(json_once(doc, None) for _ in range(args.n))
        env = _installed_env(tmp_cache)
        python = best_of([sys.executable, "-c", "pass"], args.n)
        startup = best_of([sys.executable, "-m", "pcipass", "--version"], args.n, env=env)
        command = best_of([sys.executable, "-m", "pcipass", "scan", "--host", str(root_dir),
                           "--no-facts-cache", "-f", "json"], args.n, env=env)
        # the same tree with its facts saved (contracts §1 facts.json), then read back
        subprocess.run([sys.executable, "-m", "pcipass", "scan", "--host", str(root_dir),
                        "--save-facts", "-f", "json"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True, env=env)
        cached_service = min(service_once(root_dir) for _ in range(args.n))
        cached_command = best_of([sys.executable, "-m", "pcipass", "scan", "--host", str(root_dir),
                                  "-f", "json"], args.n, env=env)
        os.unlink(root_dir / "facts.json")
        lspci_bin = shutil.which("lspci")
        lspci = (best_of([lspci_bin, "-nnk", "-O", f"sysfs.path={root_dir}/sys/bus/pci"], args.n)
                 if lspci_bin else None)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(tmp_cache, ignore_errors=True)

    rows = [
        ("functions scanned", f"{count}"),
        ("in-process, cold (first scan)", f"{cold:8.1f} ms"),
        ("in-process, warm (best)", f"{warm:8.1f} ms   target < {TARGET_WARM_MS:.0f} ms"),
        ("in-process scan service, warm (best)", f"{service:8.1f} ms"),
        ("JSON document, indent=2 (as -f json prints)", f"{json_indented:8.1f} ms"),
        ("JSON document, compact (C encoder)", f"{json_compact:8.1f} ms"),
        ("python start-up", f"{python:8.1f} ms"),
        ("pcipass --version (CLI start-up)", f"{startup:8.1f} ms"),
        ("whole command (pcipass scan --host ROOT -f json)", f"{command:8.1f} ms"),
        ("in-process scan service, from facts.json", f"{cached_service:8.1f} ms"),
        ("whole command, from facts.json (--save-facts before)", f"{cached_command:8.1f} ms"),
        ("lspci -nnk -O sysfs.path=...", f"{lspci:8.1f} ms" if lspci is not None else "  (no lspci)"),
    ]
    if lspci is not None:
        rows.append(("lspci + python start-up", f"{lspci + python:8.1f} ms   target for the command"))
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")

    ok = warm < TARGET_WARM_MS and (lspci is None or command <= lspci + python)
    if lspci is not None:
        print(f"whole command / (lspci + python): {command / (lspci + python):.2f} walking sysfs, "
              f"{cached_command / (lspci + python):.2f} from facts.json")
    print("targets met" if ok else "targets MISSED")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
