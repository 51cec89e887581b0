"""The store's schema revision: ``pcipass db upgrade``, ``pcipass db status``, and the check every
command that uses the store makes first.

Alembic runs in process: its environment is this package's ``migrations/env.py``, handed a live
connection, so no ``alembic.ini`` is needed. A database on an older revision is never migrated
silently (:func:`require_head` refuses it with "run pcipass db upgrade"); only a database that
holds nothing at all may be created at head on first use, when the caller allows it (the
default SQLite file).
"""

from __future__ import annotations

import dataclasses
import os

import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine

from pcipass.adapters.store import engine as engine_mod
from pcipass.core import errors

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
UPGRADE_HINT = "run pcipass db upgrade"


class StoreNotAtHead(errors.InputError):
    """The database's schema is not the one this pcipass needs."""

    msg_fmt = "the device store %(url)s is at revision %(current)s, this pcipass needs %(head)s"


@dataclasses.dataclass(frozen=True, slots=True)
class Revision:
    """One migration: its id and what it does (the first line of its docstring)."""

    revision: str
    doc: str


@dataclasses.dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a database stands: ``current`` is None for a database Alembic never touched;
    ``pending`` are the revisions an upgrade would run, oldest first; ``empty`` when it holds no
    table at all."""

    url: str
    current: str | None
    head: str
    pending: tuple[Revision, ...]
    empty: bool

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this pcipass knows."""
    heads = _script().get_heads()
    if len(heads) != 1:  # pragma: no cover - a packaging mistake
        raise RuntimeError(f"the store's migrations have {len(heads)} heads: {heads}")
    return heads[0]


def status(engine: Engine) -> SchemaStatus:
    """The database's revision, the head, and what an upgrade would run.

    :raises engine_mod.StoreUnavailable: the database cannot be reached.
    """
    script = _script()
    with _connected(engine) as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        empty = not sqlalchemy.inspect(conn).get_table_names()
    top = head()
    if current is not None and not _known(script, current):
        raise StoreNotAtHead(url=engine_mod.shown(engine.url), current=current, head=top,
                             hint="this database was written by a newer pcipass; use that one")
    pending = [Revision(s.revision, (s.doc or "").strip().splitlines()[0] if s.doc else "")
               for s in script.iterate_revisions(top, current or "base")]
    return SchemaStatus(engine_mod.shown(engine.url), current, top, tuple(reversed(pending)),
                        empty)


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:  # alembic: "Can't locate revision identified by ..."
        return False


def upgrade(engine: Engine, target: str = "head") -> SchemaStatus:
    """Run every pending migration up to ``target`` (each revision in its own transaction where
    the database allows DDL in one), and say where the database now stands."""
    with _connected(engine) as conn:
        command.upgrade(_config(conn), target)
        conn.commit()
    return status(engine)


def require_head(engine: Engine, *, create_if_empty: bool = False) -> None:
    """Refuse a database that is not at head; create an empty one at head when allowed.

    :raises StoreNotAtHead: a database on an older revision, or an empty one that may not be
        created here ("run pcipass db upgrade").
    """
    now = status(engine)
    if now.at_head:
        return
    if now.current is None and now.empty and create_if_empty:
        upgrade(engine)
        return
    current = now.current or ("none (an empty database)" if now.empty
                              else "none (tables but no revision)")
    raise StoreNotAtHead(url=now.url, current=current, head=now.head, hint=UPGRADE_HINT)


class _connected:
    """A connection, with a failure to reach the database as :class:`StoreUnavailable`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None

    def __enter__(self) -> Connection:
        try:
            self.conn = self.engine.connect()
        except sqlalchemy.exc.DBAPIError as exc:
            raise engine_mod.StoreUnavailable(url=engine_mod.shown(self.engine.url),
                                              reason=f"cannot connect ({_first_line(exc)})") from exc
        return self.conn

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 _tb: object) -> None:
        if self.conn is not None:
            self.conn.close()
        if isinstance(exc, sqlalchemy.exc.DBAPIError):
            raise engine_mod.StoreUnavailable(url=engine_mod.shown(self.engine.url),
                                              reason=_first_line(exc)) from exc


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
