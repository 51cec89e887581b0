#!/usr/bin/env python3
"""Benchmark device_spec matching: pcipass's ``core.spec`` against Nova's ``PciDeviceSpec.match``.

Matches 10 specs against 10,000 devices (a host with many SR-IOV PFs and
their VFs), side by side in one run, and prints time, ratio and match counts
(the counts prove both sides agree). Target: pcipass >= 5x Nova's throughput.

Run with the project venv: ``.venv/bin/python bench/bench_match.py [--check]``.
Without Nova installed, only the pcipass column is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pcipass.core import model, spec, spec_address  # noqa: E402

TARGET_RATIO = 5.0
SPEC_VALUES = [
    '{"vendor_id": "1af4"}',
    '{"vendor_id": "8086", "product_id": "154c", "address": "0000:3b:00.0", "physical_network": "a"}',
    '{"devname": "enp94s0f1", "physical_network": "b"}',
    '{"address": {"domain": "0000", "bus": "8[0-9a-f]", "function": "[0-3]"}, "trusted": "true"}',
    '{"vendor_id": "15b3", "product_id": "1018", "address": "*:af:*.*"}',
    '{"address": "0000:12:00.0"}',
    '{"vendor_id": "10de", "product_id": "*"}',
    '{"product_id": "1889", "address": ":d8:"}',
    '{"vendor_id": "8086", "product_id": "1572", "managed": "no"}',
    '{"vendor_id": "15b3", "physical_network": "c"}',
]
PF_IDS = [("8086", "1572", "154c"), ("15b3", "1017", "1018"), ("8086", "158b", "154c")]


def build_host(n_devices: int = 10_000, seed: int = 42) -> tuple[model.HostFacts, list[model.Device]]:
    """A deterministic host: PFs with 64 VFs each, then plain PCI devices up to ``n_devices``."""
    rnd = random.Random(seed)
    devices: list[model.Device] = []
    pfs: dict[str, model.PfInfo] = {}
    netdevs: dict[str, str] = {}
    bus = 0x10
    while len(devices) + 65 <= n_devices - 250:
        vendor, product, vf_product = rnd.choice(PF_IDS)
        for port in range(2):
            pf = f"0000:{bus:02x}:00.{port}"
            pfs[pf] = model.PfInfo(pf, vendor, product, 32, vf_product)
            netdevs[f"enp{bus}s0f{port}"] = pf
            devices.append(model.Device(pf, vendor, product, dev_type=model.TYPE_PF, sriov_totalvfs=32))
            for i in range(32):
                vf = f"0000:{bus:02x}:{2 + port * 4 + i // 8:02x}.{i % 8}"
                devices.append(model.Device(vf, vendor, vf_product, dev_type=model.TYPE_VF,
                                            parent_addr=pf))
        bus += 1
    while len(devices) < n_devices:
        vendor, product = rnd.choice([("10de", "1eb8"), ("1af4", "1000"), ("8086", "0953"),
                                      ("10de", "2230"), ("1b36", "000d")])
        address = (f"{rnd.randrange(1, 4):04x}:{rnd.randrange(256):02x}:"
                   f"{rnd.randrange(32):02x}.{rnd.randrange(8)}")
        devices.append(model.Device(address, vendor, product))
    return model.HostFacts(pfs=pfs, netdevs=netdevs), devices


def best_of(repeats: int, run: Callable[[], int], before: Callable[[], None] = lambda: None,
            ) -> tuple[float, int]:
    """Best wall time of ``repeats`` runs and the match count they returned."""
    best, count = float("inf"), -1
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - start)
    return best, count


def ours(facts: model.HostFacts, devices: list[model.Device]) -> dict[str, Callable[[], int]]:
    result = spec.parse_device_spec_values(SPEC_VALUES, facts)
    assert not result.problems, result.problems
    entries = result.specs
    specs = [e.spec for e in entries]

    def all_pairs() -> int:
        return sum(s.match(d) for d in devices for s in specs)

    def first() -> int:
        return sum(spec.first_match(entries, d) is not None for d in devices)

    return {"all pairs": all_pairs, "first match": first}


@contextlib.contextmanager
def nova_probes(facts: model.HostFacts) -> Iterator[None]:
    """Answer Nova's sysfs probes from ``facts`` (same as tests/differential/conftest.py)."""
    from unittest import mock

    from nova.pci import utils  # type: ignore[import-untyped]

    fakes: dict[str, Any] = {
        "is_physical_function": lambda d, b, s, f: facts.is_pf(f"{d}:{b}:{s}.{f}"),
        "get_function_by_ifname": lambda name: (
            (facts.address_of_netdev(name), facts.is_pf(facts.address_of_netdev(name) or ""))
            if facts.address_of_netdev(name) else (None, False)),
    }
    with contextlib.ExitStack() as stack:
        for name, fake in fakes.items():
            stack.enter_context(mock.patch.object(utils, name, fake))
        yield


def nova(facts: model.HostFacts, devices: list[model.Device]) -> dict[str, Callable[[], int]] | str:
    """Nova's side, or the reason it cannot run."""
    try:
        import nova.conf  # type: ignore[import-untyped]
        from nova.pci import whitelist
    except ImportError as exc:
        return f"nova is not importable ({exc}); Nova column skipped"
    nova.conf.CONF([])
    dicts = [{"vendor_id": d.vendor_id, "product_id": d.product_id, "address": d.address,
              "parent_addr": d.parent_addr} for d in devices]
    with nova_probes(facts):
        wl = whitelist.Whitelist(SPEC_VALUES)

    def all_pairs() -> int:
        with nova_probes(facts):
            return sum(s.match(d) for d in dicts for s in wl.specs)

    def first() -> int:
        with nova_probes(facts):
            return sum(wl.device_assignable(d) is not None for d in dicts)

    return {"all pairs": all_pairs, "first match": first}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 when pcipass is below {TARGET_RATIO}x Nova")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args(argv)

    facts, devices = build_host(args.devices)
    mine = ours(facts, devices)
    theirs = nova(facts, devices)
    clear = spec_address.device_fields.cache_clear
    rows = []
    ok = True
    print(f"{len(SPEC_VALUES)} specs x {len(devices)} devices, best of {args.repeats}")
    print(f"{'case':<12} {'pcipass s':>10} {'nova s':>10} {'ratio':>7} {'pcipass n':>10} {'nova n':>8}")
    for case, run in mine.items():
        t_ours, n_ours = best_of(args.repeats, run, clear)
        row: dict[str, Any] = {"case": case, "pcipass_s": t_ours, "pcipass_matches": n_ours}
        if isinstance(theirs, dict):
            t_nova, n_nova = best_of(args.repeats, theirs[case])
            row.update(nova_s=t_nova, nova_matches=n_nova, ratio=t_nova / t_ours)
            ok &= n_nova == n_ours
            print(f"{case:<12} {t_ours:>10.4f} {t_nova:>10.4f} {t_nova / t_ours:>6.1f}x "
                  f"{n_ours:>10} {n_nova:>8}{'' if n_nova == n_ours else '  MISMATCH'}")
        else:
            print(f"{case:<12} {t_ours:>10.4f} {'-':>10} {'-':>7} {n_ours:>10} {'-':>8}")
        rows.append(row)
    if isinstance(theirs, str):
        print(f"note: {theirs}")
    if args.json:
        print(json.dumps(rows, indent=2))
    if not ok:
        print("FAIL: match counts differ between pcipass and Nova")
        return 1
    slow = [r["case"] for r in rows if r.get("ratio", TARGET_RATIO) < TARGET_RATIO]
    if args.check and slow:
        print(f"FAIL: below {TARGET_RATIO}x Nova: {', '.join(slow)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
