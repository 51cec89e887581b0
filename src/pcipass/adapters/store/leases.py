"""Leases timed by the database server's clock, and which database errors are worth a retry.

A claim's lease ends at the server's ``now()`` plus its seconds (:func:`until`); a claim whose
lease ended before the server's ``now()`` is expired (:func:`expired`). The client's clock is
never read, so clients on hosts whose clocks disagree still agree on which claims expired.

:func:`retryable` tells the errors a transaction may meet when another writer raced it and that
a new attempt can clear: a deadlock, a serialization failure, a lock wait timeout, a busy SQLite
file (and, through the callers, a compare-and-swap that found a row changed). MariaDB Galera
reports a certification failure (another node committed a conflicting write set) as a deadlock,
error 1213, so it is retried the same way.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import DateTime

from pcipass.adapters.store import models
from pcipass.core import devicestate as ds

#: The lease a claim gets when none is given (seconds).
DEFAULT_SECONDS = 300
#: The longest lease a claim may ask for: a week.
MAX_SECONDS = 7 * 24 * 3600
#: PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected, lock_not_available.
_PG_RETRY = frozenset({"40001", "40P01", "55P03"})
#: MySQL/MariaDB errors: lock wait timeout, deadlock (Galera's certification failure too),
#: "record has changed since last read" (MariaDB's snapshot isolation).
_MYSQL_RETRY = frozenset({1205, 1213, 1020})
#: SQLite result codes: the file is busy (another connection writes), or a table is locked.
#: Extended codes (SQLITE_BUSY_SNAPSHOT, ...) carry the primary code in their low byte.
_SQLITE_RETRY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class _Until(ColumnElement[Any]):
    """The server's now() plus a number of seconds."""

    inherit_cache = True
    type = DateTime(timezone=True)

    def __init__(self, seconds: int) -> None:
        self.seconds = int(seconds)


@compiles(_Until)
def _until_default(element: _Until, compiler: Any, **kw: Any) -> str:  # PostgreSQL
    return f"(now() + interval '{element.seconds} seconds')"


@compiles(_Until, "mysql")
def _until_mysql(element: _Until, compiler: Any, **kw: Any) -> str:
    return f"DATE_ADD(NOW(), INTERVAL {element.seconds} SECOND)"


@compiles(_Until, "sqlite")
def _until_sqlite(element: _Until, compiler: Any, **kw: Any) -> str:
    # The text form CURRENT_TIMESTAMP has, so the two compare as text.
    return f"datetime('now', '+{element.seconds} seconds')"


def until(seconds: int) -> ColumnElement[Any]:
    """The end of a lease of ``seconds`` from now, by the server's clock (an int, never a
    parameter the client's clock gave)."""
    if not 0 <= seconds <= MAX_SECONDS:
        raise ValueError(f"a lease of {seconds} s is not between 0 and {MAX_SECONDS} s")
    return _Until(seconds)


def expired() -> ColumnElement[bool]:
    """A claim whose lease has ended by the server's clock."""
    return sqlalchemy.and_(models.Claim.status == str(ds.Status.CLAIMED),
                           models.Claim.lease_expires_at.is_not(None),
                           models.Claim.lease_expires_at < sqlalchemy.func.now())


def retryable(exc: BaseException) -> bool:
    """A database error another attempt may clear (see the module docstring)."""
    if not isinstance(exc, sqlalchemy.exc.DBAPIError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in _PG_RETRY:
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_RETRY:
        return True
    code = getattr(orig, "sqlite_errorcode", None)  # by its result code, never its message
    return isinstance(code, int) and code & 0xFF in _SQLITE_RETRY
