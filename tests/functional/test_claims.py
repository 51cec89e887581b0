"""Claims in the device store, on SQLite, PostgreSQL and MariaDB: ``schedule --db --claim``,
``claim allocate|free|release``, ``allocation show`` (-f libvirt validated against libvirt's
schema), leases, idempotency, the next best host, and the retry paths with injected conflicts
and deadlocks."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import claimfleet
import pytest
import sqlalchemy
from storedb import Store, build_host, ready, store  # noqa: F401 (fixtures)
from support import run_cli, validate_schema
from test_libvirtxml_valid import DOMAIN, validate

from pcipass.adapters.store import claimstore, claimtx, leases, models, queries, stmtpipe

A, B, C = ("aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002",
           "cccccccc-0000-4000-8000-000000000003")
ALIAS = '{"name": "x710-vf", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF"}'


def _files(tmp_path: Path) -> dict[str, Path]:
    conf = tmp_path / "controller.conf"
    conf.write_text(f"[pci]\nalias = {ALIAS}\n")
    one = tmp_path / "vf1.json"
    one.write_text('{"name": "vf1", "vcpus": 2, "ram": 1024, '
                   '"extra_specs": {"pci_passthrough:alias": "x710-vf:1"}}')
    two = tmp_path / "vf2.json"
    two.write_text('{"name": "vf2", "vcpus": 2, "ram": 1024, '
                   '"extra_specs": {"pci_passthrough:alias": "x710-vf:2"}}')
    return {"conf": conf, "vf1": one, "vf2": two}


def _stored_host(s: Store, tmp_path: Path) -> dict[str, Path]:
    root = build_host(tmp_path / "h")
    assert run_cli(["agent", "--once", "--host", str(root), "--db", s.url]).code == 0
    return {**_files(tmp_path), "root": root}


def _claim(s: Store, f: dict[str, Path], consumer: str, flavor: str = "vf1",
           *extra: str) -> Any:
    return run_cli(["schedule", "--db", s.url, "--claim", "--consumer", consumer, "--flavor",
                    str(f[flavor]), "--nova-conf", str(f["conf"]), "-f", "json", *extra])


def test_a_claim_a_different_claim_the_guest_xml_and_a_free(ready: Store, tmp_path: Path) -> None:
    f = _stored_host(ready, tmp_path)
    first = _claim(ready, f, A)
    assert first.code == 0, first.err
    validate_schema(first.json(), "claim")
    doc = first.json()
    assert (doc["hostname"], doc["repeated"], doc["lease_seconds"]) == ("compute-7", False, 300)
    (mine,) = doc["devices"]
    assert mine["status"] == "claimed" and mine["lease_expires_at"]
    port = "vnic_type=direct,physnet=physnet2,mac=fa:16:3e:00:00:01,vlan=42"
    second = _claim(ready, f, B, "vf1", "--port", port)
    assert second.code == 0, second.err
    theirs = {d["address"] for d in second.json()["devices"]}
    assert len(theirs) == 2 and mine["address"] not in theirs
    # the guest's XML: a flavor's VF as <hostdev>, the port's VF as <interface type='hostdev'>
    for consumer, hostdevs, interfaces in ((A, 1, 0), (B, 1, 1)):
        xml = run_cli(["allocation", "show", consumer, "--db", ready.url, "-f", "libvirt"])
        assert xml.code == 0, xml.err
        assert xml.out.count("<hostdev ") == hostdevs
        assert xml.out.count('<interface type="hostdev"') == interfaces
        done = validate(DOMAIN.format(devices=xml.out), tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
    assert 'address="fa:16:3e:00:00:01"' in run_cli(
        ["allocation", "show", B, "--db", ready.url, "-f", "libvirt"]).out
    shown = run_cli(["allocation", "show", A, "--db", ready.url, "-f", "json"])
    validate_schema(shown.json(), "allocation")
    assert [d["address"] for d in shown.json()["devices"]] == [mine["address"]]
    freed = run_cli(["claim", "free", A, "--db", ready.url, "-f", "json"])
    assert freed.code == 0, freed.err
    validate_schema(freed.json(), "allocation")
    assert [d["address"] for d in freed.json()["devices"]] == [mine["address"]]
    statuses = {d.address: d.status for d in queries.devices(ready.engine)}
    assert statuses[mine["address"]] == "available"
    gone = run_cli(["allocation", "show", A, "--db", ready.url])
    assert gone.code == 2 and "holds no claim" in gone.err


def test_every_operation_is_idempotent_per_consumer(ready: Store, tmp_path: Path) -> None:
    f = _stored_host(ready, tmp_path)
    first = _claim(ready, f, A)
    again = _claim(ready, f, A)
    assert again.code == 0 and again.json()["repeated"] is True
    assert again.json()["devices"][0]["address"] == first.json()["devices"][0]["address"]
    other = _claim(ready, f, A, "vf2")
    assert other.code == 2 and "for another request" in other.err
    assert len(queries.claims(ready.engine)) == 1
    for _ in range(2):
        allocated = run_cli(["claim", "allocate", A, "--db", ready.url, "-f", "json"])
        assert allocated.code == 0, allocated.err
        assert [d["status"] for d in allocated.json()["devices"]] == ["allocated"]
        assert allocated.json()["devices"][0]["lease_expires_at"] is None
    # A repeated claim of the allocated consumer: the same device, and no lease to speak of.
    repeated = run_cli(["schedule", "--db", ready.url, "--claim", "--consumer", A, "--flavor",
                        str(f["vf1"]), "--nova-conf", str(f["conf"])])
    assert repeated.code == 0 and "already holds 1 device(s)" in repeated.out
    assert "(allocated: no lease)" in repeated.out and "lease 300 s" not in repeated.out
    refused = run_cli(["claim", "release", A, "--db", ready.url])
    assert refused.code == 2 and "release drops only a claim never allocated" in refused.err
    assert run_cli(["claim", "free", A, "--db", ready.url]).code == 0
    again = run_cli(["claim", "free", A, "--db", ready.url, "-f", "json"])
    assert again.code == 0 and again.json()["devices"] == []
    nothing = run_cli(["claim", "allocate", A, "--db", ready.url])
    assert nothing.code == 2 and "holds no claim" in nothing.err
    assert _claim(ready, f, B).code == 0
    released = run_cli(["claim", "release", B, "--db", ready.url, "-f", "json"])
    assert released.code == 0 and len(released.json()["devices"]) == 1
    assert queries.claims(ready.engine) == ()


def test_a_pf_claim_and_its_free_follow_the_state_machine(ready: Store, tmp_path: Path) -> None:
    from pcipass.services import claimrequest, claims

    claimfleet.build(ready.engine, 1, 1, 2)
    files = claimfleet.write_request_files(tmp_path)
    pf = claims.claim(ready.engine, claimrequest.prepare(files["pf1"], nova_conf=[files["nova.conf"]]),
                      A)
    assert [d.dev_type for d in pf.devices] == ["type-PF"]
    statuses = {d.address: d.status for d in queries.devices(ready.engine)}
    assert sorted(statuses.values()) == ["claimed", "unclaimable", "unclaimable"]
    with pytest.raises(claims.NoHostFits):
        claims.claim(ready.engine, claimrequest.prepare(files["vf1"],
                                                        nova_conf=[files["nova.conf"]]), B)
    claims.allocate(ready.engine, A)
    statuses = {d.address: d.status for d in queries.devices(ready.engine)}
    assert sorted(statuses.values()) == ["allocated", "unavailable", "unavailable"]
    claims.free(ready.engine, A)
    assert {d.status for d in queries.devices(ready.engine)} == {"available"}
    vf = claims.claim(ready.engine, claimrequest.prepare(files["vf1"],
                                                         nova_conf=[files["nova.conf"]]), B)
    statuses = {d.address: d.status for d in queries.devices(ready.engine)}
    assert statuses["0000:81:00.0"] == "unclaimable" and vf.devices[0].status == "claimed"
    claims.release(ready.engine, B)
    assert {d.status for d in queries.devices(ready.engine)} == {"available"}
    claimfleet.check_invariants(ready.engine, 3)


def test_an_expired_lease_is_released_by_the_next_writer(ready: Store, tmp_path: Path) -> None:
    f = _stored_host(ready, tmp_path)
    held = _claim(ready, f, A, "vf2", "--lease", "0")
    assert held.code == 0, held.err
    with ready.engine.connect() as conn:
        (lease,) = conn.execute(sqlalchemy.select(models.Claim.lease_expires_at)
                                .limit(1)).one()
        now = conn.execute(sqlalchemy.select(sqlalchemy.func.now())).scalar_one()
    assert lease is not None and now is not None  # the server's clock set it
    time.sleep(1.2)
    # Ended, not yet released: allocation show says so (it only reads).
    shown = run_cli(["allocation", "show", A, "--db", ready.url, "-f", "json"])
    assert shown.code == 0, shown.err
    validate_schema(shown.json(), "allocation")
    assert [d["lease_ended"] for d in shown.json()["devices"]] == [True, True]
    table = run_cli(["allocation", "show", A, "--db", ready.url])
    assert table.out.count("lease ended") == 2, table.out
    fresh = _claim(ready, f, B, "vf1")
    assert fresh.code == 0 and [d["lease_ended"] for d in fresh.json()["devices"]] == [False]
    assert run_cli(["claim", "release", B, "--db", ready.url]).code == 0
    taken = {d["address"] for d in held.json()["devices"]}
    # four VFs: A's two expired ones are free again for a claim of all four... by B and C
    assert _claim(ready, f, B, "vf2").code == 0
    got = _claim(ready, f, C, "vf2")
    assert got.code == 0, got.err
    owners = {c[1]: c[2] for c in queries.claims(ready.engine)}
    assert set(owners.values()) == {B, C} and taken <= set(owners)
    assert any(e.command == claimstore.EXPIRED_COMMAND for e in queries.audit(ready.engine))
    assert run_cli(["allocation", "show", A, "--db", ready.url]).code == 2


def test_schedule_db_fits_as_schedule_host(ready: Store, tmp_path: Path) -> None:
    """The same facts give the same answer: the devices ``schedule --host`` picks, or no host."""
    f = _stored_host(ready, tmp_path)
    answers = []
    for flavor, pinned in (("vf2", ()), ("vf1", ()), ("vf2", ("--instance-numa-nodes", "1"))):
        host = run_cli(["schedule", "--host", str(f["root"]), "--flavor", str(f[flavor]),
                        "--nova-conf", str(f["conf"]), "-f", "json", *pinned])
        assert host.code == 0, host.err
        fitting = [h for h in host.json()["results"][0]["hosts"] if h["fits"]]
        consumer = str(uuid.uuid4())
        claimed = _claim(ready, f, consumer, flavor, *pinned)
        if not fitting:
            assert claimed.code == 2 and "no host in the device store fits" in claimed.err
            answers.append(None)
            continue
        assert claimed.code == 0, claimed.err
        assert sorted(d["address"] for d in claimed.json()["devices"]) == \
            sorted(d["address"] for d in fitting[0]["devices"])
        answers.append(len(claimed.json()["devices"]))
        assert run_cli(["claim", "release", consumer, "--db", ready.url]).code == 0
    assert answers == [2, 1, None]  # node 1's CPUs are all dedicated: a shared guest fits nowhere


def test_devices_another_writer_took_send_the_claim_to_the_next_host(
        ready: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pcipass.services import claimrequest, claims

    claimfleet.build(ready.engine, 2, 1, 3)
    files = claimfleet.write_request_files(tmp_path)
    prepared = claimrequest.prepare(files["vf1"], nova_conf=[files["nova.conf"]])
    real = claimtx.claim
    raced: list[str] = []

    def racing(engine: Any, hostname: str, consumer: str, *args: Any, **kw: Any) -> Any:
        if not raced:  # another writer takes the same devices first
            raced.append(hostname)
            real(engine, hostname, C, *args, **kw)
        return real(engine, hostname, consumer, *args, **kw)

    monkeypatch.setattr(claimtx, "claim", racing)
    report = claims.claim(ready.engine, prepared, A)
    assert report.hostname != raced[0]
    (note,) = report.notes
    assert "taken by another writer meanwhile; trying the next best host" in note
    claimfleet.check_invariants(ready.engine, 8)


def test_the_same_consumer_claimed_meanwhile_is_found_not_claimed_twice(
        ready: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another client claims for the same consumer while this one is in flight: this client's
    devices are taken (the next host), where the consumer's row then exists (a unique key
    conflict). The store answers that by a query, not by the database's message: the claim
    raises ConsumerClaimed, and the next round finds the other client's claim (repeated)."""
    from pcipass.adapters.store import hoststate
    from pcipass.services import claimrequest, claims

    claimfleet.build(ready.engine, 2, 1, 3)
    files = claimfleet.write_request_files(tmp_path)
    prepared = claimrequest.prepare(files["vf1"], nova_conf=[files["nova.conf"]])
    real = claimtx.claim
    other: list[claims.ClaimReport] = []
    raised: list[type[BaseException]] = []
    started: list[bool] = []

    def racing(*args: Any, **kw: Any) -> Any:
        if not started:  # the other client, for the same consumer, first (passes through here)
            started.append(True)
            other.append(claims.claim(ready.engine, prepared, A))
            raised.clear()
        try:
            return real(*args, **kw)
        except hoststate.StoreConflict as exc:
            raised.append(type(exc))
            raise

    monkeypatch.setattr(claimtx, "claim", racing)
    report = claims.claim(ready.engine, prepared, A, sleep=lambda _s: None)
    assert raised == [hoststate.ConsumerClaimed]
    assert report.repeated and report.hostname == other[0].hostname
    assert [d.address for d in report.devices] == [d.address for d in other[0].devices]
    assert len(queries.claims(ready.engine)) == 1
    claimfleet.check_invariants(ready.engine, 8)


def _sqlite_busy() -> Exception:
    """A real SQLITE_BUSY: a second connection asks for a lock the first one holds."""
    import sqlite3
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "busy.db")
        holder = sqlite3.connect(path, timeout=0, isolation_level=None)
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            with pytest.raises(sqlite3.OperationalError) as busy:
                other.execute("BEGIN EXCLUSIVE")
        finally:
            other.close()
            holder.close()
    assert busy.value.sqlite_errorcode == sqlite3.SQLITE_BUSY
    return busy.value


def _deadlock(kind: str) -> BaseException:
    if kind == "mysql":
        import pymysql

        orig: Exception = pymysql.err.OperationalError(
            1213, "Deadlock found when trying to get lock; try restarting transaction")
    elif kind == "postgresql":
        import psycopg

        orig = psycopg.errors.SerializationFailure("could not serialize access")
    elif kind == "sqlite":
        orig = _sqlite_busy()
    else:
        return sqlalchemy.orm.exc.StaleDataError(
            "UPDATE statement on table 'devices' expected to update 1 row(s); 0 were matched.")
    return sqlalchemy.exc.OperationalError("UPDATE devices ...", {}, orig)


@pytest.mark.parametrize("kind", ["mysql", "postgresql", "sqlite", "compare-and-swap"])
def test_conflicts_and_deadlocks_are_retried(ready: Store, tmp_path: Path, kind: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from pcipass.services import claimrequest, claims

    claimfleet.build(ready.engine, 1, 1, 3)
    files = claimfleet.write_request_files(tmp_path)
    prepared = claimrequest.prepare(files["vf1"], nova_conf=[files["nova.conf"]])
    real = stmtpipe.Batch.run
    failures = [_deadlock(kind), _deadlock(kind)]

    def flaky(self: stmtpipe.Batch, *, commit: bool = False) -> None:
        if not failures:
            return real(self, commit=commit)
        real(self)  # the writes, without the commit a pipeline would send with them
        raise failures.pop()  # after the writes: the transaction must roll them back

    monkeypatch.setattr(stmtpipe.Batch, "run", flaky)
    report = claims.claim(ready.engine, prepared, A, sleep=lambda _s: None)
    assert report.attempts == 3 and len(report.devices) == 1
    assert len(queries.claims(ready.engine)) == 1
    claimfleet.check_invariants(ready.engine, 4)
    failures[:] = [_deadlock(kind)] * claims.MAX_ATTEMPTS
    with pytest.raises(claims.ClaimContended):
        claims.claim(ready.engine, prepared, B, sleep=lambda _s: None)
    assert len(queries.claims(ready.engine)) == 1


def test_only_transient_database_errors_are_retryable() -> None:
    import pymysql

    assert leases.retryable(_deadlock("mysql")) and leases.retryable(_deadlock("postgresql"))
    assert leases.retryable(_deadlock("sqlite"))
    gone = sqlalchemy.exc.OperationalError("SELECT 1", {}, pymysql.err.OperationalError(
        2003, "Can't connect to MySQL server"))
    assert not leases.retryable(gone) and not leases.retryable(ValueError("x"))
    # the message alone decides nothing: a locked-sounding error without SQLite's code is not one
    import sqlite3

    worded = sqlalchemy.exc.OperationalError("UPDATE devices ...", {}, sqlite3.OperationalError(
        "database is locked (deadlock)"))
    assert not leases.retryable(worded)
    with pytest.raises(ValueError):
        leases.until(-1)


@pytest.mark.parametrize("args", [
    ["--db", "sqlite:///x.db", "--flavor", "f.json"],
    ["--db", "sqlite:///x.db", "--claim", "--flavor", "f.json"],
    ["--db", "sqlite:///x.db", "--claim", "--consumer", "not-a-uuid", "--flavor", "f.json"],
    ["--db", "sqlite:///x.db", "--claim", "--consumer", A, "--host", "/", "--flavor", "f.json"],
])
def test_usage_errors(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.json").write_text('{"name": "f", "extra_specs": {}}')
    result = run_cli(["schedule", *args])
    assert result.code == 64, (result.code, result.err)


def test_the_candidates_are_in_the_rankings_order(ready: Store, tmp_path: Path) -> None:
    """The claim tries hosts in rank_hosts' order (PCIWeigher, one NUMA node, name), taken
    without weighing every host."""
    from pcipass.services import claimrequest, claims, storefleet

    claimfleet.build(ready.engine, 5, 2, 3)
    files = claimfleet.write_request_files(tmp_path)
    prepared = {n: claimrequest.prepare(files[n], nova_conf=[files["nova.conf"]])
                for n in ("vf1", "vf2", "pf1")}
    for i, name in enumerate(("vf2", "vf1", "pf1", "vf1")):  # hosts with different free counts
        claims.claim(ready.engine, prepared[name], str(uuid.UUID(int=i + 1)))
    fleet = storefleet.StoreFleet(ready.engine)
    fleet.refresh()
    for name, question in ((n, p.question) for n, p in prepared.items()):
        ranked = [v.name for v in fleet.ranking(question).hosts if v.fits]
        assert [v.name for v in fleet.candidates(question, 99)] == ranked, name
        assert len(ranked) >= 2


def test_the_controllers_host_subset_size_spreads_claims_over_that_many_best_hosts(
        ready: Store, tmp_path: Path) -> None:
    """``[filter_scheduler] host_subset_size = 3`` in ``--nova-conf``: each claim lands on one
    of the 3 best hosts at random (Nova's _get_sorted_hosts), never outside them; without it,
    Nova's default 1 always takes the best. Six equal hosts rank by name, each claim is freed
    before the next, so the best three are always cmp-000..002."""
    from pcipass.services import claimrequest, claims

    claimfleet.build(ready.engine, 6, 1, 3)
    files = claimfleet.write_request_files(tmp_path)
    spread = tmp_path / "spread.conf"
    spread.write_text(files["nova.conf"].read_text()
                      + "[filter_scheduler]\nhost_subset_size = 3\n")
    landed: dict[int, set[str]] = {}
    for size, conf in ((3, spread), (1, files["nova.conf"])):
        prepared = claimrequest.prepare(files["vf1"], nova_conf=[conf])
        assert prepared.host_subset_size == size
        landed[size] = set()
        for n in range(24):
            consumer = str(uuid.UUID(int=size * 1000 + n + 1))
            landed[size].add(claims.claim(ready.engine, prepared, consumer).hostname)
            claims.free(ready.engine, consumer)
    # 24 draws among three hosts all land on one with probability 3 * 3**-24.
    assert len(landed[3]) >= 2 and landed[3] <= {"cmp-000", "cmp-001", "cmp-002"}
    assert landed[1] == {"cmp-000"}
    claimfleet.check_invariants(ready.engine, 6 * 4)


def test_the_subset_draws_first_among_hosts_no_other_writer_changed() -> None:
    """Within host_subset_size, hosts another writer changed since the last read come after
    the others (each group in random order), and the hosts past the subset keep their rank:
    whatever is drawn, it is a host Nova's draw could have given."""
    from pcipass.core import schedule
    from pcipass.services import claims

    class Fleet:
        def is_stale(self, name: str) -> bool:
            return name in {"h0", "h2"}

    ranked = [schedule.HostVerdict(f"h{i}", True, True, None) for i in range(6)]
    seen_first = set()
    for _ in range(40):
        order = [v.name for v in claims._subset_first(Fleet(), ranked, 4)]  # type: ignore[arg-type]
        assert set(order[:2]) == {"h1", "h3"} and set(order[2:4]) == {"h0", "h2"}
        assert order[4:] == ["h4", "h5"]
        seen_first.add(order[0])
    assert seen_first == {"h1", "h3"}  # both drawn first in 40 tries (2**-39 otherwise)


def test_a_host_the_state_machine_refuses_sends_the_claim_to_the_next_host(
        ready: Store, tmp_path: Path) -> None:
    """A VF the agent re-reports under a claimed PF is stored available, as Nova's tracker
    stores it; a claim of it is refused by the state machine (Nova's PciDevicePFInvalidStatus,
    and Nova reschedules): the claim moves to the next host, saying so, instead of failing."""
    from pcipass.adapters.store import hoststate
    from pcipass.core import tracker
    from pcipass.services import claimrequest, claims

    claimfleet.build(ready.engine, 2, 1, 2)
    files = claimfleet.write_request_files(tmp_path)
    pf1 = claimrequest.prepare(files["pf1"], nova_conf=[files["nova.conf"]])
    vf1 = claimrequest.prepare(files["vf1"], nova_conf=[files["nova.conf"]])
    held = claims.claim(ready.engine, pf1, A)
    found = claimfleet.host_devices(1, 2)
    pf_only = [d for d in found if d.dev_type == "type-PF"]
    for seen in (pf_only, found):  # the VFs vanish, then come back while the PF is claimed
        hoststate.apply(ready.engine, held.hostname, lambda st, s=seen: tracker.sync(st, s),
                        command="agent --once")
    got = claims.claim(ready.engine, vf1, B)
    assert got.hostname != held.hostname and len(got.devices) == 1
    (note,) = got.notes
    assert held.hostname in note and "trying the next best host" in note
