"""Which database, and a connection to it: URLs, drivers, the SQLite default and its pragmas.

* No URL: the embedded default, one SQLite file in the user's data directory
  (:func:`default_url`, from platformdirs).
* ``postgresql://``, ``mysql://`` / ``mariadb://``: the server's driver is chosen here
  (psycopg 3, PyMySQL) unless the URL names one (``postgresql+psycopg2://``); a missing driver
  is a :class:`StoreUnavailable` naming the package to install, never an ImportError.
* SQLite connections run with WAL, foreign keys on, a busy timeout, and ``BEGIN IMMEDIATE``:
  a transaction holds the write lock from its start, so two agents never interleave.

A URL's password never appears in a message (:func:`shown`).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import platformdirs
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

from pcipass.core import errors

#: The default file's name in the user's data directory.
DEFAULT_FILE = "pcipass.db"
#: Driver module -> the package that provides it, for the message when it is missing.
DRIVERS = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "pymysql": "PyMySQL",
           "mysqldb": "mysqlclient", "pysqlite": None}
_DEFAULT_DRIVER = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql",
                   "sqlite": "pysqlite"}
_MODULE = {"psycopg": "psycopg", "psycopg2": "psycopg2", "pymysql": "pymysql",
           "mysqldb": "MySQLdb", "pysqlite": "sqlite3"}
SQLITE_BUSY_SECONDS = 30


class StoreUnavailable(errors.InputError):
    """The database cannot be reached or used as it is."""

    msg_fmt = "the device store %(url)s: %(reason)s"


def default_url() -> str:
    """The embedded default: ``sqlite:///<user data dir>/pcipass.db``."""
    return "sqlite:///" + os.path.join(platformdirs.user_data_dir("pcipass", appauthor=False),
                                       DEFAULT_FILE)


def shown(url: str | URL) -> str:
    """The URL for a message: its password hidden."""
    try:
        parsed = make_url(url)
        return parsed.set(drivername=parsed.get_backend_name()).render_as_string(
            hide_password=True)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return "<an unreadable URL>"


def parse(url: str) -> URL:
    """The URL with its driver chosen.

    :raises StoreUnavailable: not a database URL, a database pcipass does not support, or a
        driver that is not installed.
    """
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError) as exc:
        raise StoreUnavailable(url=repr(url[:200]), reason=f"not a database URL ({exc})",
                               hint="sqlite:///PATH, postgresql://USER@HOST/DB or "
                                    "mysql://USER@HOST/DB") from exc
    backend = parsed.get_backend_name()
    if backend not in _DEFAULT_DRIVER:
        raise StoreUnavailable(url=shown(parsed), reason=f"{backend} is not supported",
                               hint="use SQLite, PostgreSQL or MariaDB (mysql://)")
    driver = parsed.get_driver_name() if "+" in parsed.drivername else _DEFAULT_DRIVER[backend]
    if backend == "mariadb":
        backend = "mysql"  # one dialect; MariaDB is told apart at connect time
    module = _MODULE.get(driver)
    if module is None or importlib.util.find_spec(module) is None:
        package = DRIVERS.get(driver) or driver
        raise StoreUnavailable(url=shown(parsed),
                               reason=f"the {backend} driver {driver} is not installed",
                               hint=f"pip install {package}")
    return parsed.set(drivername=f"{backend}+{driver}")


def connect(url: str) -> Engine:
    """An engine for ``url`` (a SQLite file's directory is created).

    :raises StoreUnavailable: see :func:`parse`.
    """
    parsed = parse(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if path and path != ":memory:" and not path.startswith("file:"):
            directory = os.path.dirname(os.path.abspath(path))
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(url=shown(parsed),
                                       reason=f"cannot create {directory}: {exc.strerror}") from exc
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_SECONDS}
    elif parsed.get_backend_name() == "mysql":
        # DATETIME has no zone: the server's now() is written in UTC, as the records read it.
        kwargs["connect_args"] = {"charset": "utf8mb4", "init_command": "SET time_zone = '+00:00'"}
    engine = sqlalchemy.create_engine(parsed, pool_pre_ping=True, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _sqlite_pragmas(engine)
    return engine


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is off: the "begin" hook below says BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

