"""A stored fleet of SR-IOV hosts for the claim tests and the claims benchmark, written
straight through the store's tracker transaction (no fake host root to scan), and the
invariants a store must keep after any number of concurrent claims.

Each host has PFs (``8086:1572``, ``type-PF``) with VFs (``8086:154c``, ``type-VF``), both
assignable; the controller's aliases are ``pf`` and ``vf``.
"""

from __future__ import annotations

import collections
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ALIASES = ('{"name": "vf", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF"}',
           '{"name": "pf", "vendor_id": "8086", "product_id": "1572", "device_type": "type-PF"}')
BUSY = ("claimed", "allocated")


def host_devices(pfs: int, vfs: int) -> list[Any]:
    from pcipass.core import tracker

    out = []
    for p in range(pfs):
        bus = 0x81 + p
        pf = f"0000:{bus:02x}:00.0"
        out.append(tracker.DiscoveredDevice(pf, "type-PF", "8086", "1572", None, p % 2,
                                            extra={"mac_address": f"02:00:00:{bus:02x}:00:00"}))
        for v in range(vfs):
            out.append(tracker.DiscoveredDevice(
                f"0000:{bus:02x}:{0x02 + v // 8:02x}.{v % 8}", "type-VF", "8086", "154c", pf,
                p % 2, extra={"parent_ifname": f"enp{bus}s0f0"}))
    return out


def build(engine: Any, hosts: int, pfs: int, vfs: int) -> None:
    """``hosts`` hosts named ``cmp-NNN``, each with ``pfs`` PFs of ``vfs`` VFs, 2 NUMA cells."""
    from pcipass.adapters.store import hoststate, records
    from pcipass.core import tracker

    cells = tuple(records.StoredCell(i, f"{i * 8}-{i * 8 + 7}", 16 << 20, (i,),
                                     f"{i * 8}-{i * 8 + 7}", "", 16384, i) for i in range(2))
    found = host_devices(pfs, vfs)
    tags = {d.address: ({"physical_network": "physnet1"} if d.dev_type == "type-VF" else {})
            for d in found}
    for h in range(hosts):
        name = f"cmp-{h:03d}"
        facts = records.HostFacts(name, name, "synthetic", cells)
        hoststate.apply(engine, name, lambda st: tracker.sync(st, found), command="agent --once",
                        facts=facts, spec_tags=tags)


def write_request_files(dest: Path) -> dict[str, Path]:
    """The controller's nova.conf (aliases) and the flavors: vf1, vf2, pf1."""
    dest.mkdir(parents=True, exist_ok=True)
    conf = dest / "nova.conf"
    conf.write_text("[pci]\n" + "".join(f"alias = {a}\n" for a in ALIASES))
    files = {"nova.conf": conf}
    for name, spec in (("vf1", "vf:1"), ("vf2", "vf:2"), ("pf1", "pf:1")):
        path = dest / f"{name}.json"
        path.write_text(json.dumps({"name": name, "vcpus": 1, "ram": 512,
                                    "extra_specs": {"pci_passthrough:alias": spec}}))
        files[name] = path
    return files


# -- invariants -----------------------------------------------------------------------------------


def snapshot(engine: Any) -> dict[str, Any]:
    """Devices, claims, consumers and the audit trail, as plain rows."""
    import sqlalchemy

    from pcipass.adapters.store import models

    with engine.connect() as conn:
        devices = conn.execute(sqlalchemy.select(
            models.Host.hostname, models.Device.address, models.Device.dev_type,
            models.Device.parent_addr, models.Device.status, models.Device.instance_uuid,
            models.Device.id).join(models.Host, models.Device.host_id == models.Host.id)).all()
        claims = conn.execute(sqlalchemy.select(models.Claim.device_id,
                                                models.Claim.consumer_uuid,
                                                models.Claim.status)).all()
        consumers = conn.execute(sqlalchemy.select(models.Consumer.consumer_uuid,
                                                   models.Consumer.request)).all()
        audit = conn.execute(sqlalchemy.select(
            models.Audit.hostname, models.Audit.address, models.Audit.old_status,
            models.Audit.new_status, models.Audit.owner).order_by(models.Audit.id)).all()
    return {"devices": devices, "claims": claims, "consumers": consumers, "audit": audit}


def asked(request_text: str) -> int:
    request = json.loads(request_text)
    return sum(int(r["count"]) for r in request["requests"])


def check_invariants(engine: Any, total: int) -> dict[str, int]:
    """Assert every invariant of the issue; the status counts."""
    snap = snapshot(engine)
    devices = snap["devices"]
    statuses = collections.Counter(d.status for d in devices)
    valid = {"available", "claimed", "allocated", "unclaimable", "unavailable"}
    # every device in exactly one status, and the statuses sum to the total
    assert set(statuses) <= valid, statuses
    assert sum(statuses.values()) == len(devices) == total, (statuses, total)
    keys = [(d.hostname, d.address) for d in devices]
    assert len(set(keys)) == len(keys)
    # every busy device has exactly one owner, and exactly one claim row saying so
    by_id = {d.id: d for d in devices}
    claim_of = collections.Counter(c.device_id for c in snap["claims"])
    assert all(n == 1 for n in claim_of.values()), "a device with two claim rows"
    for c in snap["claims"]:
        d = by_id[c.device_id]
        assert d.status == c.status and d.instance_uuid == c.consumer_uuid, (d, c)
    for d in devices:
        if d.status in BUSY:
            assert d.instance_uuid and claim_of[d.id] == 1, d
        else:
            assert d.instance_uuid is None and claim_of[d.id] == 0, d
    # no consumer holds more than it asked for (and every holder is a known consumer)
    held = collections.Counter(d.instance_uuid for d in devices if d.status in BUSY)
    asks = {c.consumer_uuid: asked(c.request) for c in snap["consumers"]}
    for owner, count in held.items():
        assert owner in asks, f"{owner} holds devices without a consumer row"
        assert count <= asks[owner], (owner, count, asks[owner])
    hosts = {(d.hostname, d.address): d for d in devices}
    # PF and VF statuses obey the state machine's rules
    children: dict[tuple[str, str], list[Any]] = collections.defaultdict(list)
    for d in devices:
        if d.parent_addr:
            children[(d.hostname, d.parent_addr)].append(d)
    for key, kids in children.items():
        pf = hosts[key]
        busy_kids = [k for k in kids if k.status in BUSY]
        if pf.status in BUSY:
            want = "unclaimable" if pf.status == "claimed" else "unavailable"
            assert all(k.status == want for k in kids), (pf, kids)
        elif busy_kids:
            assert pf.status in ("unclaimable", "unavailable"), (pf, busy_kids)
            if any(k.status == "allocated" for k in busy_kids):
                assert pf.status == "unavailable", (pf, busy_kids)
            assert all(k.status in (*BUSY, "available") for k in kids), kids
        else:
            assert pf.status == "available", (pf, kids)
            assert all(k.status == "available" for k in kids), kids
    # the audit trail replays to the final state
    state: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for a in snap["audit"]:
        key = (a.hostname, a.address)
        before = state.get(key, (None, None))[0]
        assert before == a.old_status, f"audit of {key}: {a.old_status} after {before}"
        owner = a.owner if a.new_status in BUSY else None
        state[key] = (a.new_status, owner)
    final = {k: v for k, v in state.items() if v[0] not in (None, "deleted")}
    now = {(d.hostname, d.address): (d.status, d.instance_uuid if d.status in BUSY else None)
           for d in devices}
    assert final == now
    return dict(statuses)


def consumers(seed: int, seconds: float) -> Iterator[str]:
    """A benchmark client's new consumer UUIDs (distinct per ``seed``), until ``seconds`` have
    passed."""
    stop = time.monotonic() + seconds
    n = 0
    while time.monotonic() < stop:
        yield str(uuid.UUID(int=(seed << 64) | n))
        n += 1
