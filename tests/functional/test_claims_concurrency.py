"""Claims never give a device twice, under real concurrency, on SQLite, PostgreSQL and MariaDB.

On each database (a fresh one per run, ``tests/storedb.py``), a pool of 64 devices: 4 hosts,
each with 2 PFs of 7 VFs (PFs and VFs both assignable):

1. 8 OS processes claim (one VF, two VFs or one PF, at random; half of the claims then
   allocated) until no host fits any of the three requests: the pool is exhausted;
2. half the consumers are freed, and 8 processes claim again with 1 s leases while 50 of them,
   each in the middle of a claim, are killed with SIGKILL (and replaced);
3. the invariants hold (:func:`claimfleet.check_invariants`): one status per device, the
   statuses summing to the total, one owner per busy device (and one claim row), no consumer
   over its ask, the PF/VF rules, the audit trail replaying to the final state;
4. once the leases have ended, claims of one VF get exactly the VFs no live consumer holds
   (nor its PF).

Processes are forked after the request files are read, so a worker starts claiming at once.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import claimfleet
import pytest
from storedb import BACKENDS, fresh

HOSTS, PFS, VFS = 4, 2, 7
TOTAL = HOSTS * PFS * (1 + VFS)
WORKERS = 8
KILLS = 50
FLAVORS = ("vf1", "vf2", "pf1")


def _worker(url: str, prepared: dict[str, Any], slot: int, busy: Any, seed: int, lease: int,
            allocate: bool, until_exhausted: bool) -> None:
    from pcipass.adapters.store import engine as engine_mod
    from pcipass.services import claims, storefleet

    rng = random.Random(seed)
    engine = engine_mod.connect(url)
    fleet = storefleet.StoreFleet(engine)
    misses: set[str] = set()
    while True:
        name = rng.choice([f for f in FLAVORS if f not in misses] or list(FLAVORS))
        consumer = str(uuid.UUID(int=rng.getrandbits(128)))
        busy[slot] = 1
        try:
            claims.claim(engine, prepared[name], consumer, lease_seconds=lease, fleet=fleet)
            misses.clear()
            if allocate and rng.random() < 0.5:
                claims.allocate(engine, consumer)
        except claims.NoHostFits:
            misses.add(name)
        except claims.ClaimContended:
            pass
        finally:
            busy[slot] = 0
        if until_exhausted and len(misses) == len(FLAVORS):
            return
        if misses and not until_exhausted:
            time.sleep(0.005)


def _start(ctx: Any, url: str, prepared: dict[str, Any], slot: int, busy: Any, lease: int,
           allocate: bool, until_exhausted: bool) -> Any:
    proc = ctx.Process(target=_worker, args=(url, prepared, slot, busy, random.getrandbits(32),
                                             lease, allocate, until_exhausted), daemon=True)
    proc.start()
    return proc


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_claims_and_sigkills_never_give_a_device_twice(backend: str,
                                                                   tmp_path: Path) -> None:
    from pcipass.services import claimrequest, claims

    random.seed(14)
    files = claimfleet.write_request_files(tmp_path / "req")
    prepared = {n: claimrequest.prepare(files[n], nova_conf=[files["nova.conf"]])
                for n in FLAVORS}
    for store in fresh(backend, tmp_path):
        store.upgrade()
        claimfleet.build(store.engine, HOSTS, PFS, VFS)
        store.dispose()  # no connection crosses a fork
        ctx = multiprocessing.get_context("fork")
        busy = ctx.Array("i", WORKERS, lock=False)
        started = time.monotonic()
        # 1. claim until the pool is exhausted
        procs = [_start(ctx, store.url, prepared, i, busy, 300, True, True)
                 for i in range(WORKERS)]
        for p in procs:
            p.join(60)
            assert p.exitcode == 0, f"a worker failed (exit {p.exitcode})"
        counts = claimfleet.check_invariants(store.engine, TOTAL)
        assert counts.get("available", 0) == 0, counts
        store.dispose()
        # 2. free half the consumers, then claim with short leases and SIGKILL mid-claim
        snap = claimfleet.snapshot(store.engine)
        store.dispose()
        owners = sorted(c.consumer_uuid for c in snap["consumers"])
        freed = set(random.sample(owners, len(owners) // 2))
        for owner in sorted(freed):
            claims.free(store.engine, owner)
        store.dispose()
        procs = [_start(ctx, store.url, prepared, i, busy, 1, False, False)
                 for i in range(WORKERS)]
        kills = 0
        deadline = time.monotonic() + 60
        while kills < KILLS and time.monotonic() < deadline:
            slot = random.randrange(WORKERS)
            if not busy[slot]:
                time.sleep(0.001)
                continue
            time.sleep(random.uniform(0, 0.004))
            os.kill(procs[slot].pid, signal.SIGKILL)
            procs[slot].join(10)
            busy[slot] = 0
            kills += 1
            procs[slot] = _start(ctx, store.url, prepared, slot, busy, 1, False, False)
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
            p.join(10)
        assert kills == KILLS
        claimfleet.check_invariants(store.engine, TOTAL)
        # 3. the leases end; claims of one VF get every VF no live consumer holds
        time.sleep(2.2)
        snap = claimfleet.snapshot(store.engine)
        live = {c.consumer_uuid for c in snap["consumers"] if c.consumer_uuid not in freed
                and c.consumer_uuid in owners}
        held = {(d.hostname, d.address) for d in snap["devices"] if d.instance_uuid in live}
        expected = {(d.hostname, d.address) for d in snap["devices"]
                    if d.dev_type == "type-VF" and (d.hostname, d.address) not in held
                    and (d.hostname, d.parent_addr) not in held}
        got: set[tuple[str, str]] = set()
        while True:
            try:
                report = claims.claim(store.engine, prepared["vf1"], str(uuid.uuid4()))
            except claims.NoHostFits:
                break
            got.update((report.hostname, d.address) for d in report.devices)
        assert got == expected
        claimfleet.check_invariants(store.engine, TOTAL)
        assert time.monotonic() - started < 90
