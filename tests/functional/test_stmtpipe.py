"""Statements sent together (``adapters/store/stmtpipe.py``), on SQLite, PostgreSQL (one psycopg
pipeline, the commit in it) and MariaDB: a compare-and-swap that matches nothing ends the batch
as a mismatch, and nothing of the batch is kept, even the statements after it; when every swap
holds, everything commits and the rows and counts come back. A failure in the pipeline is
raised once, and psycopg logs nothing about it."""

from __future__ import annotations

import logging
from typing import Any

import claimfleet
import pytest
import sqlalchemy
from storedb import Store, ready, store  # noqa: F401 (fixtures)

from pcipass.adapters.store import hoststate, models, stmtpipe

DEV = models.Device.__table__
AUDIT = models.Audit.__table__
SWAP = sqlalchemy.update(DEV).where(
    DEV.c.id == sqlalchemy.bindparam("b_id"),
    DEV.c.generation == sqlalchemy.bindparam("b_gen")).values(
    generation=sqlalchemy.bindparam("b_new"))
NOTE = sqlalchemy.insert(AUDIT).values(hostname="cmp-000", command="stmtpipe test",
                                       detail=sqlalchemy.bindparam("b_detail"))


def _device(engine: Any) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(sqlalchemy.select(DEV.c.id, DEV.c.generation)
                           .order_by(DEV.c.id)).first()
    return int(row[0]), int(row[1])


def _notes(engine: Any) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sqlalchemy.select(AUDIT.c.detail).where(
            AUDIT.c.command == "stmtpipe test"))]


def test_a_swap_that_matches_nothing_keeps_nothing(ready: Store,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    claimfleet.build(ready.engine, 1, 1, 2)
    dev, gen = _device(ready.engine)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(stmtpipe.Mismatch) as failed:
        with hoststate.transaction(ready.engine, "cmp-000") as session:
            batch = stmtpipe.Batch(session)
            batch.add(NOTE, {"b_detail": "before"})
            batch.add(SWAP, {"b_id": dev, "b_gen": gen + 7, "b_new": gen + 8}, expect=1)
            batch.add(NOTE, {"b_detail": "after"})
            batch.run(commit=True)
    assert failed.value.indexes == [1]
    assert _notes(ready.engine) == [] and _device(ready.engine) == (dev, gen)
    assert not [r for r in caplog.records if r.name.startswith("psycopg")]


def test_swaps_that_hold_commit_with_their_rows_and_counts(ready: Store) -> None:
    claimfleet.build(ready.engine, 1, 1, 2)
    dev, gen = _device(ready.engine)
    with hoststate.transaction(ready.engine, "cmp-000") as session:
        batch = stmtpipe.Batch(session)
        swap = batch.add(SWAP, {"b_id": dev, "b_gen": gen, "b_new": gen + 1}, expect=1)
        note = batch.add(NOTE.returning(AUDIT.c.detail), {"b_detail": "kept"}, rows=True)
        batch.run(commit=True)
        assert batch.rowcount(swap) == 1 and [r[0] for r in batch.rows(note)] == ["kept"]
    assert _notes(ready.engine) == ["kept"] and _device(ready.engine) == (dev, gen + 1)
