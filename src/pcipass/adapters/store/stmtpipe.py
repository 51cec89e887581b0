"""Statements sent to the database together: one round trip for a transaction's writes on
PostgreSQL, one statement after another elsewhere.

A :class:`Batch` collects SQLAlchemy Core statements (templates with bound parameters, each
compiled once per dialect) and runs them in order inside the session's transaction. On
psycopg, the driver's pipeline mode sends them all before reading any answer, so a claim's
writes cost one round trip instead of one each (``bench/bench_claims.py``: 6 statements of a VF
claim, from 8 round trips to 2 with the commit). Elsewhere each runs through the session, as
any statement does. The answers are read after :meth:`Batch.run`: each statement's row count,
and the rows of those that return some.

A statement added with ``expect=N`` (a compare-and-swap) that changes another number of rows
ends the batch: :class:`Mismatch`, the transaction rolled back when the commit went with the
statements (:meth:`Batch.run`), whatever the later statements met (in a pipeline they were
sent already, and may fail because of it: an insert of a claim on a device another writer
holds). A driver error inside the pipeline is raised as SQLAlchemy's own error class for it
(``IntegrityError``, ``OperationalError``...), so callers tell errors apart as for any
statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import Compiled

class Mismatch(Exception):
    """Statements added with ``expect`` changed another number of rows."""

    def __init__(self, indexes: list[int]) -> None:
        super().__init__(f"statements {indexes} changed an unexpected number of rows")
        self.indexes = indexes


#: (template id, dialect name) -> the template compiled; templates live as long as the process.
_COMPILED: dict[tuple[int, str], tuple[Any, Compiled]] = {}


class Batch:
    """Statements run together in ``session``'s transaction (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.connection = session.connection()
        dialect = self.connection.dialect
        #: The database returns the rows an UPDATE changed (PostgreSQL, SQLite; not MariaDB).
        self.update_returning = bool(dialect.update_returning)
        driver = self.connection.connection.driver_connection
        #: The statements go in one psycopg pipeline: every one is sent before any answer.
        self.pipelined = dialect.driver == "psycopg" and hasattr(driver, "pipeline")
        self._items: list[tuple[Any, Mapping[str, Any], bool, int | None]] = []
        self._counts: list[int] = []
        self._rows: list[list[Any]] = []

    def add(self, template: Any, params: Mapping[str, Any] | None = None, *,
            rows: bool = False, expect: int | None = None) -> int:
        """Queue ``template`` with ``params``; its index for :meth:`rowcount` and :meth:`rows`.

        :param rows: the statement returns rows to keep.
        :param expect: the rows it must change, else :meth:`run` raises :class:`Mismatch`.
        """
        self._items.append((template, dict(params or {}), rows, expect))
        return len(self._items) - 1

    def run(self, *, commit: bool = False) -> None:
        """Run every queued statement, in order.

        :param commit: in a pipeline, the commit goes with the statements (one round trip
            for the whole transaction): each statement added with ``expect`` then checks its
            own row count on the server, failing the transaction when it differs, since the
            client sees the counts only after the commit. Elsewhere the caller commits.
        :raises Mismatch: see the module docstring.
        """
        if self.pipelined:
            self._pipelined(self.connection.connection.driver_connection, commit)
            return
        for template, params, keep, expect in self._items:
            result = self.session.execute(template, params)
            self._rows.append(list(result.all()) if keep else [])
            self._counts.append(int(getattr(result, "rowcount", -1)))
            if expect is not None and self._counts[-1] != expect:
                raise Mismatch([len(self._counts) - 1])

    def _mismatched(self) -> list[int]:
        return [i for i, (item, count) in enumerate(zip(self._items, self._counts))
                if item[3] is not None and count != item[3]]

    def rowcount(self, index: int) -> int:
        """Rows statement ``index`` changed."""
        return self._counts[index]

    def rows(self, index: int) -> list[Any]:
        """Rows statement ``index`` returned (empty unless it was added with ``rows=True``)."""
        return self._rows[index]

    def _pipelined(self, driver: Any, commit: bool) -> None:
        import psycopg  # the driver the dialect runs: already imported

        dialect = self.connection.dialect
        cursors = []
        checked = {i for i, item in enumerate(self._items) if commit and item[3] is not None}
        failed: Exception | None = None
        try:
            with driver.pipeline():
                try:
                    for i, (template, given, _keep, expect) in enumerate(self._items):
                        if expect is not None and i in checked:
                            template = _checked(template, expect)
                        compiled = _compile(template, dialect)
                        cursor = driver.cursor()
                        cursor.execute(str(compiled), compiled.construct_params(given))
                        cursors.append(cursor)
                    if commit:
                        driver.cursor().execute("COMMIT")
                except psycopg.Error as exc:
                    # A result read while sending (psycopg reads as it goes): kept, so the
                    # block ends normally rather than unwinding through the pipeline's exit,
                    # which would log the aborted pipeline as a second error.
                    failed = exc
        except psycopg.Error as exc:
            failed = failed or exc
        if failed is not None:
            # The statements answered before the failing one have their counts; a checked
            # statement reports one row when its count held.
            self._counts = [1 if i in checked and c.rowcount == 1 else
                            -1 if i in checked else c.rowcount for i, c in enumerate(cursors)]
            if getattr(failed, "sqlstate", None) == _COUNT_FAILED or self._mismatched():
                raise Mismatch(self._mismatched()[:1]) from failed
            raise sqlalchemy.exc.DBAPIError.instance(
                "(a pipeline of statements)", {}, failed, psycopg.Error) from failed
        for i, (cursor, item) in enumerate(zip(cursors, self._items)):
            expect = item[3]
            self._counts.append(expect if expect is not None and i in checked
                                else cursor.rowcount)
            self._rows.append(list(cursor.fetchall()) if item[2] else [])
            cursor.close()
        if self._mismatched():
            raise Mismatch(self._mismatched())


#: PostgreSQL's division_by_zero: how a checked statement fails (:func:`_checked`).
_COUNT_FAILED = "22012"
#: (template id, expected count) -> the checked statement.
_CHECKED: dict[tuple[int, int], tuple[Any, Any]] = {}


def _checked(template: Any, expect: int) -> Any:
    """``template`` (an UPDATE or DELETE) run in a CTE whose SELECT divides by zero unless it
    changed ``expect`` rows: the statement, and so the transaction, fails on the server.
    (The divisor depends on the count, so PostgreSQL cannot fold it ahead of time.)"""
    key = (id(template), expect)
    found = _CHECKED.get(key)
    if found is None or found[0] is not template:
        changed = template.returning(sqlalchemy.literal_column("1")).cte("changed")
        divisor = sqlalchemy.case((sqlalchemy.func.count() == expect, 1), else_=0)
        found = _CHECKED[key] = (template, sqlalchemy.select(
            sqlalchemy.literal_column("1") / divisor).select_from(changed))
    return found[1]


def _compile(template: Any, dialect: Any) -> Compiled:
    key = (id(template), dialect.name)
    found = _COMPILED.get(key)
    if found is None or found[0] is not template:
        found = _COMPILED[key] = (template, template.compile(dialect=dialect))
    return found[1]
