"""A claim and a writer through the tracker's transaction on one host lock rows in one order,
the host's row first, so neither waits for the other in a deadlock (on PostgreSQL a deadlock
costs both ``deadlock_timeout``, 1 s by default, before one of them is refused).

The tracker's transaction (``hoststate.apply``: ``allocate``, ``free``, ``release``, the agent,
the release of expired claims) locks the host's row with ``SELECT ... FOR UPDATE`` and then
writes device rows. Here a transaction does the same by hand, and a claim of a VF of that host
starts while it holds the host's row: the claim waits on the host's row without holding any
device row, so the transaction's write of the VF's PF goes through, and the claim then finds
the PF changed (the next best host), rather than one of the two meeting a deadlock.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import claimfleet
import sqlalchemy
from storedb import Store, server_store  # noqa: F401 (fixture)

from pcipass.adapters.store import claimtx, hoststate, models
from pcipass.core import claimrules


def test_a_claim_waits_on_the_host_row_before_any_device_row(server_store: Store,
                                                             tmp_path: Path) -> None:
    from pcipass.services import claimrequest, claims, storefleet

    server_store.upgrade()
    engine = server_store.engine
    claimfleet.build(engine, 1, 1, 2)
    files = claimfleet.write_request_files(tmp_path)
    prepared = claimrequest.prepare(files["vf1"], nova_conf=[files["nova.conf"]])
    fleet = storefleet.StoreFleet(engine)
    fleet.refresh()
    (verdict,) = fleet.candidates(prepared.question, 1)
    picks = claims._picks(prepared, verdict)
    addresses = [p.address for p in picks]
    pf = "0000:81:00.0"
    assert fleet.family(verdict.name, addresses)[0].device.address == pf  # the VF's PF is read
    outcome: list[Any] = []

    def claim() -> None:
        try:
            outcome.append(claimtx.claim(
                engine, verdict.name, "aaaaaaaa-0000-4000-8000-000000000001",
                prepared.fingerprint, prepared.doc, picks,
                fleet.generations(verdict.name, addresses), lease_seconds=300,
                command="schedule --claim", host=fleet.host_row(verdict.name),
                family=fleet.family(verdict.name, addresses)))
        except Exception as exc:  # noqa: BLE001 - the outcome is asserted below
            outcome.append(exc)

    devices = models.Device.__table__
    hosts = models.Host.__table__
    with engine.connect() as conn:
        with conn.begin():
            conn.execute(sqlalchemy.select(hosts.c.id).where(hosts.c.hostname == verdict.name)
                         .with_for_update())
            racer = threading.Thread(target=claim)
            racer.start()
            time.sleep(0.3)  # the claim is now waiting on a lock
            assert not outcome, outcome
            started = time.monotonic()
            changed = conn.execute(sqlalchemy.update(devices).where(devices.c.address == pf)
                                   .values(generation=devices.c.generation + 1)).rowcount
            waited = time.monotonic() - started
        racer.join(30)
    # The PF's row was free: the claim held no device row while it waited on the host's.
    assert changed == 1 and waited < 0.4, waited
    (result,) = outcome
    assert isinstance(result, claimrules.DevicesTaken), result
    assert not isinstance(result, hoststate.StoreConflict)
    assert claimfleet.check_invariants(engine, 3) == {"available": 3}
