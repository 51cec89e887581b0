#!/usr/bin/env python3
"""Benchmark claims: claims per second through the code ``schedule --db --claim`` runs.

The store holds 100 hosts, each with 2 PFs of 32 VFs (6,600 devices; ``tests/claimfleet.py``
writes them through the store's tracker transaction). Each client is an OS process that calls
the Python API in a loop (:func:`pcipass.services.claims.claim` with one
:class:`~pcipass.services.storefleet.StoreFleet` kept between calls, as a long-running
scheduler keeps its view): scheduling over the stored fleet, then the compare-and-swap commit,
one VF per claim, a new consumer each time. Runs with 1 and 8 clients, on SQLite and
PostgreSQL, each on a fresh store. Reported per run: claims per second, latency p50 and p99,
and double allocations (a device two consumers were told they hold, counted from what every
client was told); beside it, the floor: a bare conditional-UPDATE transaction
(``UPDATE devices SET status='claimed' ... WHERE id=:id AND generation=:read``) per claim, by
the same number of clients.

Target (issue 14): at least 500 claims/s with 8 clients on PostgreSQL, and zero double
allocations in every run. The clients use Nova's ``host_subset_size`` (``--subset``, default 8):
each picks its host at random among the 8 best, as Nova's schedulers do to avoid racing for one
host (first among those no other writer changed since it read them); ``--subset 1`` packs every
client onto the best host.

Measured on the 2-CPU development VM, 8 s per run, with nothing else running (load average
1-3.5, the benchmark's own), session 5. The VM's speed drifted during the session: the bare
UPDATE floor itself made 1,850-1,975/s with 8 clients at 18:40-18:45 UTC and 1,500-1,680/s at
19:30-19:50, so both windows are given; the claims made about 0.23-0.29 of the floor in both:

==========  =======  ==============  ======  ======  ==================  =============
database    clients  claims/s        p50 ms  p99 ms  double allocations  bare UPDATE/s
==========  =======  ==============  ======  ======  ==================  =============
sqlite      1        506 / 412       2       3-4     0                   1654 / 1514
sqlite      8        384 / 317       3       333-485 0                   1497 / 1243
postgresql  1        430-443 / 351-393  2-3  3-6     0                   983-1018 / 734-811
postgresql  8        526-555 / 346-424  12-16 128-244 0                  1849-1974 / 1496-1683
==========  =======  ==============  ======  ======  ==================  =============

**The 500 claims/s target was met in the first window** (four runs, 526-555/s with 8 clients
on PostgreSQL) **and missed in the second** (346-424/s), the code the same but for the lock
order of 9e33d61 (interleaved runs show no difference from it): on this VM the figure follows
the machine. The issue's machine ran the bare transaction at about 4,700/s, 2.5 to 3 times
this one. There were zero double allocations in every run, and the store's invariants were
checked after each (``claimfleet.check_invariants``). With another session's test suite
running beside it (load average 4-7), the same code made 240-490/s: the 8 clients share 2
CPUs with the server.

Where the time went, and what changed (session 4 made 39-44/s with 8 clients, 96/s with one):

* a claim was 10 round trips; it is now one for the fleet's generations, one for the claim's
  statements with its commit (one psycopg pipeline, the compare-and-swaps checked on the
  server, ``adapters/store/stmtpipe.py``), and one for the host it picked when another writer
  changed it; the claim no longer reads the rows the scheduler read (every row its decision
  depends on is a row it writes with a compare-and-swap); one connection per claim;
* each client re-read and re-pooled every host another client changed; it now re-reads only
  the host it picks, keeps its pools up to date when only claims changed a host
  (``core.storedhost.without``), and applies its own claims to what it read;
* 8 clients raced for the same best hosts (Nova's PCIWeigher packs): about 2 of 3 attempts
  moved to the next host. Drawing first among the subset's hosts no other writer changed
  brought that to 1.07 attempts a claim.

Client CPU per claim, one client on PostgreSQL: 2.8 ms at the start of session 5, 1.6 ms now.
Run with the project venv:
``.venv/bin/python bench/bench_claims.py [--seconds S] [--backends sqlite,postgresql]
[--clients 1,8] [--check]``; ``--check`` exits 1 when a target is missed. PostgreSQL is
``PCIPASS_TEST_POSTGRESQL`` (default ``postgresql://postgres@127.0.0.1:5432/test``), where a
scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import claimfleet  # noqa: E402

HOSTS, PFS, VFS = 100, 2, 32
#: Nova's [filter_scheduler] host_subset_size for the clients (set with --subset).
SUBSET = 1
TARGET = 500.0
POSTGRESQL = os.environ.get("PCIPASS_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")


def _client(url: str, prepared: Any, seconds: float, seed: int, ready: Any, out: Path) -> None:
    from pcipass.adapters.store import engine as engine_mod
    from pcipass.services import claims, storefleet

    engine = engine_mod.connect(url)
    fleet = storefleet.StoreFleet(engine)
    # A long-running scheduler's first read and first evaluation, before the clock starts.
    fleet.refresh()
    fleet.candidates(prepared.question, 8)
    ready.wait()
    started = time.time()
    told: list[tuple[str, str, str]] = []
    latencies: list[float] = []
    retries = [0, 0]
    for consumer in claimfleet.consumers(seed, seconds):
        t0 = time.perf_counter()
        try:
            report = claims.claim(engine, prepared, consumer, fleet=fleet,
                                  host_subset_size=SUBSET)
        except claims.NoHostFits:
            break
        latencies.append(time.perf_counter() - t0)
        retries[0] += len(report.notes)
        retries[1] += report.attempts - 1
        told.extend((consumer, report.hostname, d.address) for d in report.devices)
    out.write_text(json.dumps([latencies, told, retries, fleet.reads, started, time.time()]))


def _floor(url: str, ids: list[int], seconds: float, ready: Any, out: Path) -> None:
    import sqlalchemy

    from pcipass.adapters.store import engine as engine_mod
    from pcipass.adapters.store import models

    engine = engine_mod.connect(url)
    table = models.Device.__table__
    done: list[float] = []
    ready.wait()
    started = time.time()
    stop = time.monotonic() + seconds
    with engine.connect() as conn:
        for device_id in ids:
            if time.monotonic() >= stop:
                break
            t0 = time.perf_counter()
            with conn.begin():
                gen = conn.execute(sqlalchemy.select(table.c.generation).where(
                    table.c.id == device_id)).scalar_one()
                conn.execute(table.update().where(
                    table.c.id == device_id, table.c.generation == gen,
                    table.c.status == "available").values(
                    status="claimed", instance_uuid=str(uuid.uuid4()), generation=gen + 1))
            done.append(time.perf_counter() - t0)
    out.write_text(json.dumps([done, [], [0, 0], 0, started, time.time()]))


def _run(ctx: Any, target: Any, args_of: Any, clients: int) -> tuple[list[float], list[Any], float]:
    outs = [Path(tempfile.mkstemp(suffix=".json")[1]) for _ in range(clients)]
    ready = ctx.Barrier(clients)
    procs = [ctx.Process(target=target, args=(*args_of(i), ready, outs[i]))
             for i in range(clients)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    results = []
    for p, out in zip(procs, outs):
        if p.exitcode != 0:
            raise SystemExit(f"a client failed (exit {p.exitcode})")
        results.append(json.loads(out.read_text()))
        out.unlink()
    elapsed = max(r[5] for r in results) - min(r[4] for r in results)
    lat = [x for r in results for x in r[0]]
    told = [x for r in results for x in r[1]]
    if os.environ.get("BENCH_VERBOSE"):
        print(f"  next-host moves {sum(r[2][0] for r in results)}, extra rounds "
              f"{sum(r[2][1] for r in results)}, hosts re-read {sum(r[3] for r in results)}",
              file=sys.stderr)
    return lat, told, elapsed


class _Store:
    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend, self.admin, self.name = backend, None, None
        if backend == "sqlite":
            self.url = f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        else:
            import sqlalchemy
            from sqlalchemy.engine import make_url

            from pcipass.adapters.store import engine as engine_mod

            self.admin = sqlalchemy.create_engine(engine_mod.parse(POSTGRESQL),
                                                  isolation_level="AUTOCOMMIT")
            self.name = f"pcipass_bench_{uuid.uuid4().hex[:12]}"
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {self.name}")
            self.url = make_url(POSTGRESQL).set(database=self.name).render_as_string(
                hide_password=False)

    def build(self) -> None:
        from pcipass.adapters.store import engine as engine_mod
        from pcipass.adapters.store import migrate

        engine = engine_mod.connect(self.url)
        migrate.upgrade(engine)
        claimfleet.build(engine, HOSTS, PFS, VFS)
        engine.dispose()

    def drop(self) -> None:
        if self.admin is not None:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            self.admin.dispose()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--clients", default="1,8")
    parser.add_argument("--subset", type=int, default=8,
                        help="Nova's host_subset_size for the clients (default 8; 1 packs every "
                             "client onto the best host)")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    global SUBSET
    SUBSET = args.subset
    from pcipass.services import claimrequest

    ctx = multiprocessing.get_context("fork")
    rows = []
    ok = True
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = claimfleet.write_request_files(tmp / "req")
        prepared = claimrequest.prepare(files["vf1"], nova_conf=[files["nova.conf"]])
        for backend in args.backends.split(","):
            for clients in (int(c) for c in args.clients.split(",")):
                store = _Store(backend, tmp)
                try:
                    store.build()
                    lat, told, elapsed = _run(
                        ctx, _client, lambda i: (store.url, prepared, args.seconds, i + 1),
                        clients)
                    owners = collections.defaultdict(set)
                    for consumer, host, address in told:
                        owners[(host, address)].add(consumer)
                    doubles = sum(1 for v in owners.values() if len(v) > 1)
                    from pcipass.adapters.store import engine as engine_mod

                    engine = engine_mod.connect(store.url)
                    claimfleet.check_invariants(engine, HOSTS * PFS * (1 + VFS))
                    import sqlalchemy

                    from pcipass.adapters.store import models

                    with engine.connect() as conn:
                        free = [i for (i,) in conn.execute(
                            sqlalchemy.select(models.Device.id).where(
                                models.Device.status == "available",
                                models.Device.dev_type == "type-VF"))]
                    engine.dispose()
                    share = [free[i::clients] for i in range(clients)]
                    flat, _, felapsed = _run(ctx, _floor,
                                             lambda i: (store.url, share[i], args.seconds),
                                             clients)
                finally:
                    store.drop()
                rate = len(lat) / elapsed if elapsed else 0.0
                floor = len(flat) / felapsed if felapsed else 0.0
                rows.append((backend, clients, len(lat), rate, 1000 * _percentile(lat, 0.5),
                             1000 * _percentile(lat, 0.99), doubles, floor))
                if doubles:
                    ok = False
                if backend == "postgresql" and clients == 8 and rate < TARGET:
                    ok = False
    head = ("database", "clients", "claims", "claims/s", "p50 ms", "p99 ms",
            "double allocations", "bare UPDATE/s")
    print(" | ".join(head))
    print(" | ".join("-" * len(h) for h in head))
    for r in rows:
        print(f"{r[0]} | {r[1]} | {r[2]} | {r[3]:.0f} | {r[4]:.1f} | {r[5]:.1f} | {r[6]} | "
              f"{r[7]:.0f}")
    measured = any(r[0] == "postgresql" and r[1] == 8 for r in rows)
    verdict = ("met" if ok else "MISSED") if measured else (
        "not measured (no run with 8 clients on PostgreSQL)" if ok else "MISSED")
    print(f"target: >= {TARGET:.0f} claims/s with 8 clients on PostgreSQL, no double allocation: "
          + verdict)
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
