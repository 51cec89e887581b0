#!/usr/bin/env python3
"""Benchmark "which hosts fit 2 VFs of alias X?": pcipass in process against a real Placement over HTTP.

The same fleet on both sides: ``--hosts`` compute nodes (1,000 by default), each with 2 PFs
(NUMA nodes 0 and 1) of 64 VFs; every fourth host's VFs are 8086:10ed, the others' 8086:154c
(alias X wants 8086:154c, ``device_type`` type-VF). Each host's device_spec matches its VFs.

* **pcipass**, in process (Python calls, no command, no HTTP): the fleet index ``pcipass
  schedule`` runs (:class:`pcipass.core.schedule.FleetIndex`): ``build`` once, then ``query``
  (which hosts fit) and ``verdicts`` (every host's full answer: devices, reasons). Hosts
  of one profile collapse into one class, so the index evaluates 2 shapes here, whatever the
  fleet size; ``per host`` is the same answer evaluated host by host
  (:func:`pcipass.core.schedule.evaluate_host` on every host, no index) for scale.
* **Placement**, over HTTP (``openstack-placement`` under gunicorn, PostgreSQL by default,
  on this machine): the providers are Nova's translation of each host
  (:func:`pcipass.core.placement.translate`: one provider per PF named
  ``<host>_<PF ADDRESS>``, 64 VFs of ``CUSTOM_PCI_8086_154C`` or ``_10ED``, Nova's traits), under
  a compute node provider with VCPU and MEMORY_MB. The query is Nova's: the unsuffixed group
  ``resources=VCPU:2,MEMORY_MB:2048`` plus one granular group per VF
  (:func:`pcipass.core.placementreq.request_groups`) and ``group_policy=none``, no ``limit``
  (Nova sends ``limit=max_placement_results``, 1000 by default, which would cut the answer;
  ``--limit`` adds it). Timed: the whole ``GET /allocation_candidates`` through pcipass's
  client (HTTP, Placement's work, JSON decoding and reading the candidates).

Then **claims per second**, ``--clients`` (8) processes on each path for ``--claim-seconds``,
one VF per claim, a new consumer each time: Placement as Nova's scheduler uses it (``GET
/allocation_candidates`` with ``limit=1000``, a random candidate, ``PUT /allocations``; a
conflict asks again), over-allocated providers counted from the usages read afterwards; and
pcipass's claims (:func:`pcipass.services.claims.claim`, the code ``schedule --db --claim``
runs) on a store of the same size (``tests/claimfleet.py``: hosts x 2 PFs x 64 VFs, on the
same database server), devices given twice counted.

Both must name the same hosts. The ratio compares an in-process call with an HTTP service
answering the same question: the target (issue 17) is pcipass >= 100x faster. Building the
fleet in Placement goes through the API, 8 threads (a few minutes at 1,000 hosts on
PostgreSQL); ``--placement-url`` uses a running Placement instead (it must be empty, or hold
this fleet from an earlier ``--keep`` run: ``--reuse``).

Measured on the 2-CPU development VM (issue 17's session), Placement on PostgreSQL with 4
gunicorn workers, 1,000 hosts; the VM was shared with other test runs (load 2-6), so the
numbers moved between runs:

=========================================== ========= ========= ========= ========= =========
"which hosts fit 2 VFs of alias X" (medians) run 1     run 2     run 3     run 4     run 5
=========================================== ========= ========= ========= ========= =========
pcipass FleetIndex.query, in process        0.050 ms  0.063 ms  0.066 ms  0.057 ms  0.054 ms
pcipass FleetIndex.verdicts, in process     2.9 ms    2.9 ms    3.0 ms    2.5 ms    2.6 ms
pcipass host by host, no index, in process  492 ms    500 ms    534 ms    469 ms    445 ms
Placement GET /allocation_candidates, HTTP  560 ms    436 ms    673 ms    375 ms    388 ms
ratio, query (target 100x)                  11,264x   6,929x    10,214x   6,571x    7,188x
ratio, verdicts                             194x      151x      227x      152x      152x
=========================================== ========= ========= ========= ========= =========

750 hosts fit on both sides (3,000 candidates). Loading the fleet into Placement took 84 s.

Claims, 8 clients, one VF each, run 4 (20 s): Placement 5.0 claims/s (p50 1.5 s, p99 2.5 s:
each claim's GET /allocation_candidates answers 1,500 candidates), no over-allocated provider
of the 102 touched; pcipass's claims on a PostgreSQL store of the same size 39.6 claims/s (p50
100 ms, p99 860 ms: the 8 clients rank the same hosts and retry after compare-and-swap
conflicts, 8 processes on 2 CPUs), no device given twice. A store client's first ranking
builds every host's pools (6 s at 1,000 hosts) and is done before its clock starts, as a
long-running scheduler's view is warm; counted in (runs 2 and 3) it gave 1.5-7.8 claims/s.
Run 5 (20 s, after the claim engine's lean transaction and parse cache): Placement 6.0
claims/s (p50 1.2 s), none over-allocated of 120 providers touched; pcipass 45.2 claims/s
(p50 142 ms, p99 676 ms), no device given twice.

Run: ``.venv/bin/python bench/bench_placement.py [--hosts 1000] [--repeat 5] [--backend
postgresql|sqlite] [--placement-url URL [--reuse]] [--claim-seconds 10] [--clients 8]``
(``PCIPASS_BENCH_KEEP_LOG=DIR`` keeps the Placement log and config there).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import claimfleet  # noqa: E402
from pcipass.adapters import placementapi, placementcand  # noqa: E402
from pcipass.core import model, placement, placementreq, pools, schedule, spec  # noqa: E402

VFS = 64
TARGET = 100.0
ALIAS = pools.Request(2, ({"vendor_id": "8086", "product_id": "154c", "dev_type": "type-VF"},),
                      "X", None, "r000", "alias 'X'")
COMPUTE_INVENTORY = {"VCPU": {"total": 64}, "MEMORY_MB": {"total": 262144}}
ALIAS_RC = "CUSTOM_PCI_8086_154C"
NOVA_ROOT_GROUP = [("resources", "VCPU:2,MEMORY_MB:2048")]
POSTGRESQL = os.environ.get("PCIPASS_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")


# -- the fleet ---------------------------------------------------------------------------------


def host_input(i: int) -> schedule.HostInput:
    """Host i: 2 PFs x 64 VFs on NUMA nodes 0 and 1; every fourth host's VFs are 8086:10ed."""
    product = "10ed" if i % 4 == 3 else "154c"
    devices = []
    for port in range(2):
        pf = f"0000:81:00.{port}"
        devices.append(model.Device(pf, "8086", "1572", dev_type=model.TYPE_PF, numa_node=port,
                                    sriov_totalvfs=VFS, sriov_vf_device=product))
        devices += [model.Device(f"0000:81:{2 + port * 8 + v // 8:02x}.{v % 8}", "8086", product,
                                 dev_type=model.TYPE_VF, parent_addr=pf, numa_node=port)
                    for v in range(VFS)]
    facts = model.HostFacts.from_devices(devices)
    specs = spec.parse_device_spec_values([json.dumps({"vendor_id": "8086", "product_id": product})],
                                          facts).specs
    return schedule.HostInput(f"compute-{i:05d}", tuple(devices), tuple(specs))


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(best, median) seconds over ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), result


# -- a Placement of our own ------------------------------------------------------------------


@contextlib.contextmanager
def start_placement(backend: str, workdir: Path, workers: int) -> Iterator[str]:
    """Placement under gunicorn on ``backend`` (its own PostgreSQL database); its URL."""
    import sqlalchemy

    engine = None
    if backend == "postgresql":
        admin_url = sqlalchemy.engine.make_url(POSTGRESQL).set(drivername="postgresql+psycopg")
        name = f"pcipass_bench_{uuid.uuid4().hex[:12]}"
        engine = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        db = admin_url.set(drivername="postgresql+psycopg2", database=name).render_as_string(
            hide_password=False)
    else:
        db, workers = f"sqlite:///{workdir / 'placement.sqlite'}", 1  # SQLite locks with more
    (workdir / "placement.conf").write_text(
        "[DEFAULT]\ndebug = False\n[api]\nauth_strategy = noauth2\n"
        f"[placement_database]\nconnection = {db}\nsync_on_startup = True\n")
    try:
        if workers > 1:  # the schema first, by one worker: several race to create it
            with _gunicorn(workdir, 1):
                pass
        with _gunicorn(workdir, workers) as url:
            yield url
    finally:
        if engine is not None:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            engine.dispose()


@contextlib.contextmanager
def _gunicorn(workdir: Path, workers: int) -> Iterator[str]:
    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (workdir / "placement.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", str(workers),
         "--threads", "1", "--timeout", "600", "placement.wsgi.api:application"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
        env=dict(os.environ, OS_PLACEMENT_CONFIG_DIR=str(workdir)), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"Placement exited: see {workdir / 'placement.log'}")
            try:
                if requests.get(url + "/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("Placement did not answer in 120 s")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


class Api:
    """noauth2 calls at microversion 1.39, one requests session per thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.local = threading.local()

    def __call__(self, method: str, path: str, body: Any = None,
                 ok: tuple[int, ...] = (200, 201, 204)) -> Any:
        import requests

        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        resp = session.request(method, self.url + path, json=body, timeout=600, headers={
            "X-Auth-Token": "admin", "OpenStack-API-Version": "placement 1.39",
            "Accept": "application/json", "Connection": "close"})
        if resp.status_code not in ok:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:500]}")
        return resp.json() if resp.content else None


def load_host(api: Api, host: schedule.HostInput) -> None:
    """One compute node and its PF providers, as Nova's translation has them."""
    view = placement.translate(host.name, host.devices, host.specs)
    assert view.reported and len(view.providers) == 2, view.refusals
    root = str(uuid.uuid4())
    api("POST", "/resource_providers", {"uuid": root, "name": host.name})
    api("PUT", f"/resource_providers/{root}/inventories",
        {"resource_provider_generation": 0, "inventories": COMPUTE_INVENTORY})
    for p in view.providers:
        rp = str(uuid.uuid4())
        api("POST", "/resource_providers", {"uuid": rp, "name": p.name, "parent_provider_uuid": root})
        inv = p.inventory
        api("PUT", f"/resource_providers/{rp}/inventories", {
            "resource_provider_generation": 0,
            "inventories": {inv.resource_class: {"total": inv.total, "max_unit": inv.max_unit}}})
        api("PUT", f"/resource_providers/{rp}/traits",
            {"resource_provider_generation": 1, "traits": list(p.traits)})


def load_fleet(api: Api, hosts: list[schedule.HostInput], threads: int) -> float:
    t0 = time.perf_counter()
    for rc in ("CUSTOM_PCI_8086_154C", "CUSTOM_PCI_8086_10ED"):
        api("PUT", f"/resource_classes/{rc}")
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        done = 0
        for _ in pool.map(lambda h: load_host(api, h), hosts):
            done += 1
            if done % 100 == 0:
                print(f"  loaded {done}/{len(hosts)} hosts ({time.perf_counter() - t0:.0f} s)",
                      file=sys.stderr)
    return time.perf_counter() - t0


# -- claims per second ---------------------------------------------------------------------------


def _placement_client_loop(url: str, params: list[tuple[str, str]], seconds: float, seed: int,
                           out: Any) -> None:
    """What Nova's scheduler does per boot: GET /allocation_candidates, pick one, PUT it for a
    new consumer; a consumer-generation or capacity conflict asks again (10 tries)."""
    import random

    api = Api(url)
    query = placementcand.query_text(params)
    rnd = random.Random(seed)
    told: list[tuple[str, int]] = []
    lat: list[float] = []
    conflicts = 0
    start = time.monotonic()
    for consumer in claimfleet.consumers(seed, seconds):
        t0 = time.perf_counter()
        for _ in range(10):
            try:
                doc = api("GET", f"/allocation_candidates?{query}")
            except Exception:  # noqa: BLE001 - a 500 or a reset: counted, asked again
                conflicts += 1
                continue
            cands = doc["allocation_requests"]
            if not cands:
                break
            pick = rnd.choice(cands)
            try:
                api("PUT", f"/allocations/{consumer}", {
                    "allocations": pick["allocations"], "mappings": pick["mappings"],
                    "project_id": "bench", "user_id": "bench", "consumer_generation": None,
                    "consumer_type": "INSTANCE"}, ok=(204,))
            except RuntimeError:
                conflicts += 1
                continue
            lat.append(time.perf_counter() - t0)
            told.extend((rp, held["resources"].get(ALIAS_RC, 0))
                        for rp, held in pick["allocations"].items() if ALIAS_RC in held["resources"])
            break
    out.put((lat, told, conflicts, time.monotonic() - start))


def _store_client_loop(url: str, prepared: Any, seconds: float, seed: int, out: Any) -> None:
    """What ``schedule --db --claim`` does, through the Python API (one fleet view kept)."""
    from pcipass.adapters.store import engine as engine_mod
    from pcipass.services import claims, storefleet

    engine = engine_mod.connect(url)
    fleet = storefleet.StoreFleet(engine)
    fleet.refresh()
    # a long-running scheduler's warm view: every host's pools built once (the first ranking
    # builds them: 6 s at 1,000 hosts on this VM), before the clock starts
    fleet.ranking(prepared.question)
    told: list[tuple[str, int]] = []
    lat: list[float] = []
    failed = 0
    start = time.monotonic()
    for consumer in claimfleet.consumers(seed, seconds):
        t0 = time.perf_counter()
        try:
            report = claims.claim(engine, prepared, consumer, fleet=fleet)
        except Exception:  # noqa: BLE001 - counted; the run goes on (ClaimContended...)
            failed += 1
            continue
        lat.append(time.perf_counter() - t0)
        told.extend((f"{report.hostname} {d.address}", 1) for d in report.devices)
    engine.dispose()
    out.put((lat, told, failed, time.monotonic() - start))


def _clients(target: Any, args: Callable[[int], tuple[Any, ...]], clients: int,
             ) -> tuple[list[float], list[tuple[str, int]], int, float]:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args(i), out)) for i in range(clients)]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    window = max(r[3] for r in results)  # the claiming loops' time (a store client's first
    # read of the fleet comes before its loop, as a long-running scheduler's does)
    return ([x for r in results for x in r[0]], [x for r in results for x in r[1]],
            sum(r[2] for r in results), window)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def claims_race(url: str, hosts: int, args: argparse.Namespace) -> None:
    """Claims per second with ``--clients`` processes on each path, over-allocations counted."""
    import collections

    import sqlalchemy

    from pcipass.adapters.store import engine as engine_mod
    from pcipass.adapters.store import migrate
    from pcipass.services import claimrequest

    params = sorted(placementreq.request_groups([dataclasses.replace(ALIAS, count=1)]).query()
                    + [("resources", "VCPU:1,MEMORY_MB:512"), ("limit", "1000")])
    lat, told, conflicts, elapsed = _clients(
        _placement_client_loop, lambda i: (url, params, args.claim_seconds, i + 1), args.clients)
    used: dict[str, int] = collections.Counter()
    for rp, n in told:
        used[rp] += n
    api = Api(url)
    over = 0
    for rp in used:
        usage = api("GET", f"/resource_providers/{rp}/usages")["usages"].get(ALIAS_RC, 0)
        over += usage > VFS
    print(f"\nclaims, {args.clients} clients for {args.claim_seconds:g} s, one VF each "
          f"(a new consumer per claim):")
    print(f"  Placement over HTTP (GET /allocation_candidates limit=1000, a random candidate, "
          f"PUT /allocations): {len(lat) / elapsed:.1f} claims/s, p50 {_p(lat, 0.5):.0f} ms, "
          f"p99 {_p(lat, 0.99):.0f} ms; {conflicts} conflicts or errors retried; over-allocated "
          f"providers: {over} of {len(used)} touched")

    admin = None
    with tempfile.TemporaryDirectory(prefix="pcipass-bench-store-") as tmp:
        if args.backend == "postgresql":
            admin = sqlalchemy.create_engine(engine_mod.parse(POSTGRESQL), isolation_level="AUTOCOMMIT")
            name = f"pcipass_bench_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
            store = sqlalchemy.engine.make_url(POSTGRESQL).set(database=name).render_as_string(
                hide_password=False)
        else:
            store = f"sqlite:///{tmp}/store.db"
        try:
            engine = engine_mod.connect(store)
            migrate.upgrade(engine)
            t0 = time.perf_counter()
            claimfleet.build(engine, hosts, 2, VFS)
            engine.dispose()
            print(f"  (the store's fleet: {hosts} hosts x 2 PFs x {VFS} VFs written in "
                  f"{time.perf_counter() - t0:.0f} s)", file=sys.stderr)
            files = claimfleet.write_request_files(Path(tmp) / "req")
            prepared = claimrequest.prepare(files["vf1"], nova_conf=[files["nova.conf"]])
            lat, told, failed, elapsed = _clients(
                _store_client_loop, lambda i: (store, prepared, args.claim_seconds, i + 1),
                args.clients)
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.dispose()
    doubles = sum(1 for n in collections.Counter(d for d, _ in told).values() if n > 1)
    print(f"  pcipass in process (claims.claim on the {args.backend} store: the fleet index, "
          f"then compare-and-swap): {len(lat) / elapsed:.1f} claims/s, p50 {_p(lat, 0.5):.1f} ms, "
          f"p99 {_p(lat, 0.99):.1f} ms; {failed} claims failed (retries ran out); devices given "
          f"twice: {doubles}")


# -- the run -----------------------------------------------------------------------------------


def placement_query(limit: int | None, pci_only: bool) -> list[tuple[str, str]]:
    ask = placementreq.request_groups([ALIAS])
    params = ask.query() + ([] if pci_only else NOVA_ROOT_GROUP)
    if limit is not None:
        params.append(("limit", str(limit)))
    return sorted(params)


def run(url: str, hosts: list[schedule.HostInput], args: argparse.Namespace) -> int:
    api = Api(url)
    held = api("GET", "/resource_providers")["resource_providers"]
    if args.reuse:
        print(f"Placement at {url}: reusing {len(held)} providers", file=sys.stderr)
    else:
        if held:
            raise SystemExit(f"{url} holds {len(held)} providers: give an empty Placement, or --reuse")
        print(f"loading {len(hosts)} hosts into Placement at {url} ...", file=sys.stderr)
        took = load_fleet(api, hosts, args.threads)
        print(f"  {len(hosts)} hosts, {3 * len(hosts)} providers in {took:.0f} s", file=sys.stderr)

    t0 = time.perf_counter()
    index = schedule.FleetIndex.build(hosts)
    build_s = time.perf_counter() - t0
    q_best, q_med, answer = timed(lambda: index.query([ALIAS]), args.repeat * 20)
    v_best, v_med, _ = timed(lambda: index.verdicts([ALIAS]), args.repeat)
    h_best, h_med, _ = timed(lambda: [schedule.evaluate_host(h.devices, h.specs, [ALIAS], h.cells)
                                      for h in hosts], 1)
    ours = set(answer.fits)

    client = placementapi.PlacementClient(placementapi.Endpoint(url, timeout=600))
    client.negotiate()
    names = {u: n for u, (n, _root) in placementcand.provider_names(client).items()}
    params = placement_query(args.limit, args.pci_only)
    p_best, p_med, cands = timed(lambda: placementcand.allocation_candidates(client, params),
                                 args.repeat)
    theirs = {names[c.root] for c in cands}

    print(f"\n{len(hosts)} hosts x 2 PFs x {VFS} VFs; 2 VFs of alias X (8086:154c); "
          f"{len(ours)} hosts fit")
    print(f"pcipass, in process (Python calls): FleetIndex.build {build_s * 1000:.0f} ms (once); "
          f"query best {q_best * 1000:.3f} ms, median {q_med * 1000:.3f} ms "
          f"({answer.evaluated} shape(s) evaluated); verdicts (every host's full answer) "
          f"median {v_med * 1000:.1f} ms; host by host without the index {h_med * 1000:.0f} ms")
    print(f"Placement, over HTTP (microversion {client.version}): GET /allocation_candidates?"
          f"{placementcand.query_text(params)}")
    print(f"  best {p_best * 1000:.0f} ms, median {p_med * 1000:.0f} ms; {len(cands)} candidates "
          f"on {len(theirs)} hosts")
    ratio_query = p_med / q_med
    ratio_verdicts = p_med / v_med
    verdict = "meets" if ratio_query >= TARGET else "MISSES"
    print(f"ratio (Placement over HTTP / pcipass in process), medians: query {ratio_query:,.0f}x, "
          f"verdicts {ratio_verdicts:,.0f}x, host by host {p_med / h_med:,.1f}x; target "
          f"{TARGET:.0f}x: the query {verdict} it")
    if ours != theirs:
        print(f"FAIL: the answers differ: pcipass only {sorted(ours - theirs)[:5]}, "
              f"Placement only {sorted(theirs - ours)[:5]}")
        return 1 if args.limit is None else 0
    print("same hosts on both sides")
    if args.claim_seconds > 0:
        claims_race(url, len(hosts), args)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--hosts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (PostgreSQL)")
    parser.add_argument("--threads", type=int, default=8, help="threads loading the fleet")
    parser.add_argument("--placement-url", help="a running Placement (noauth2) instead of our own")
    parser.add_argument("--reuse", action="store_true", help="the Placement holds this fleet")
    parser.add_argument("--limit", type=int, help="add limit=N to the query, as Nova does")
    parser.add_argument("--claim-seconds", type=float, default=10.0,
                        help="seconds of claims per path (0: no claims)")
    parser.add_argument("--clients", type=int, default=8, help="claiming client processes")
    parser.add_argument("--pci-only", action="store_true",
                        help="leave out Nova's unsuffixed VCPU/MEMORY_MB group")
    args = parser.parse_args(argv)
    hosts = [host_input(i) for i in range(args.hosts)]
    if args.placement_url:
        return run(args.placement_url, hosts, args)
    keep = os.environ.get("PCIPASS_BENCH_KEEP_LOG")
    with tempfile.TemporaryDirectory(prefix="pcipass-bench-placement-") as tmp:
        if keep:
            tmp = keep
        with start_placement(args.backend, Path(tmp), args.workers) as url:
            return run(url, hosts, args)


if __name__ == "__main__":
    sys.exit(main())
