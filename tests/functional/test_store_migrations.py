"""The store's schema on SQLite, PostgreSQL and MariaDB: migrations up from empty, ``db status``,
the refusal of an older revision, the default SQLite file, URLs and drivers (issue 13)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy
from storedb import Store, ready, server_store, store  # noqa: F401 - fixtures
from support import run_cli, validate_schema

from pcipass.adapters.store import migrate, models

TABLES = {"hosts", "numa_cells", "devices", "claims", "tracker_memory", "audit", "consumers"}


def _tables(s: Store) -> set[str]:
    return set(sqlalchemy.inspect(s.engine).get_table_names()) - {"alembic_version"}


def test_db_upgrade_from_empty_reaches_head_with_every_table(store: Store) -> None:
    before = run_cli(["db", "status", "--db", store.url, "-f", "json"])
    assert before.code == 1, before.err
    validate_schema(before.json(), "db-status")
    assert before.json()["current"] is None
    assert [p["revision"] for p in before.json()["pending"]] == ["0001", "0002", "0003"]
    up = run_cli(["db", "upgrade", "--db", store.url])
    assert up.code == 0, up.err
    assert "upgraded from an empty database to 0003" in up.out
    after = run_cli(["db", "status", "--db", store.url, "-f", "json"])
    assert after.code == 0 and after.json()["at_head"] and after.json()["pending"] == []
    assert _tables(store) == TABLES
    again = run_cli(["db", "upgrade", "--db", store.url])
    assert again.code == 0 and "already at revision 0003" in again.out


def test_models_agree_with_the_head_revision(ready: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with ready.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    assert diff == []


def test_an_older_revision_is_never_migrated_silently(store: Store, tmp_path: Path) -> None:
    store.upgrade("0001")
    status = run_cli(["db", "status", "--db", store.url, "-f", "json"])
    assert status.code == 1
    assert status.json()["current"] == "0001"
    assert [p["revision"] for p in status.json()["pending"]] == ["0002", "0003"]
    text = run_cli(["db", "status", "--db", store.url])
    assert "run pcipass db upgrade" in text.out
    for args in (["devices"], ["agent", "--once", "--host", str(tmp_path)]):
        result = run_cli([*args, "--db", store.url])
        assert result.code == 2, result.err
        assert "is at revision 0001, this pcipass needs 0003" in result.err
        assert "fix: run pcipass db upgrade" in result.err
    assert _tables(store) == {"hosts", "numa_cells", "devices"}  # still 0001
    assert run_cli(["db", "upgrade", "--db", store.url]).code == 0
    assert run_cli(["devices", "--db", store.url]).code == 0


def test_an_empty_database_named_by_url_is_not_created_silently(store: Store) -> None:
    result = run_cli(["devices", "--db", store.url])
    assert result.code == 2
    assert "an empty database" in result.err and "run pcipass db upgrade" in result.err
    assert _tables(store) == set()


def test_pcipass_db_selects_the_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.upgrade()
    monkeypatch.setenv("PCIPASS_DB", store.url)
    result = run_cli(["devices", "-f", "json"])
    assert result.code == 0, result.err
    assert result.json() == {"schema": "pcipass-devices/1", "hostname": None, "status": None,
                             "alias": None, "devices": []}


def test_the_default_store_is_a_new_sqlite_file_created_at_head_with_wal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PCIPASS_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    result = run_cli(["devices", "-f", "json"])
    assert result.code == 0, result.err
    path = tmp_path / "data" / "pcipass" / "pcipass.db"
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == \
            migrate.head()
    status = run_cli(["db", "status", "-f", "json"])
    assert status.code == 0 and status.json()["url"] == f"sqlite:///{path}"


def test_the_default_store_on_an_older_revision_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PCIPASS_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    old = Store("sqlite", f"sqlite:///{tmp_path / 'data' / 'pcipass' / 'pcipass.db'}")
    try:
        old.upgrade("0001")
    finally:
        old.dispose()
    result = run_cli(["devices"])
    assert result.code == 2 and "run pcipass db upgrade" in result.err


@pytest.mark.parametrize(("url", "message"), [
    ("mysql+mysqldb://root@127.0.0.1/x", "the mysql driver mysqldb is not installed"),
    ("oracle://scott:tiger@db/x", "oracle is not supported"),
    ("not a url", "not a database URL"),
])
def test_unusable_urls_are_clear_errors(url: str, message: str) -> None:
    result = run_cli(["devices", "--db", url])
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err


def test_a_missing_driver_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "psycopg" else real(name, *a))
    result = run_cli(["db", "status", "--db", "postgresql://u:secret@127.0.0.1/x"])
    assert result.code == 2
    assert "the postgresql driver psycopg is not installed" in result.err
    assert "pip install psycopg[binary]" in result.err
    assert "secret" not in result.err


def test_an_unreachable_server_is_a_clear_error_without_its_password() -> None:
    result = run_cli(["db", "status", "--db", "postgresql://u:secret@127.0.0.1:1/x"])
    assert result.code == 2
    assert "cannot connect" in result.err and "secret" not in result.err


def test_server_databases_are_fresh_per_test(server_store: Store) -> None:
    assert _tables(server_store) == set()
    server_store.upgrade()
    assert _tables(server_store) == TABLES


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not SQLite at all, " * 20)
    for args in (["devices"], ["db", "status"], ["db", "upgrade"],
                 ["agent", "--once", "--host", str(tmp_path)]):
        result = run_cli([*args, "--db", f"sqlite:///{junk}"])
        assert result.code == 2, (args, result.err)
        assert "file is not a database" in result.err
    assert junk.read_bytes() == b"not SQLite at all, " * 20


def test_a_revision_from_a_newer_pcipass_is_refused(store: Store) -> None:
    store.upgrade()
    with store.engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = :v"),
                     {"v": "9999"})
    for args in (["devices"], ["db", "status"], ["db", "upgrade"]):
        result = run_cli([*args, "--db", store.url])
        assert result.code == 2, (args, result.err)
        assert "is at revision 9999" in result.err and "newer pcipass" in result.err
