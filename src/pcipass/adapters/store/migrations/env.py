"""Alembic's environment, configured by :mod:`pcipass.adapters.store.migrate` in process.

The caller hands a live connection in ``config.attributes["connection"]``; no ``alembic.ini``,
no URL here. Only online migrations are supported (pcipass never prints SQL for a DBA).
Imported outside a migration (a test importing every module), it does nothing.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from pcipass.adapters.store import models


def run(connection: Any) -> None:
    """Run the pending revisions on ``connection``, in one transaction where DDL allows."""
    context.configure(connection=connection, target_metadata=models.Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def _connection() -> Any:
    try:
        config = context.config
    except (AttributeError, NameError):  # not inside an Alembic command
        return None
    found = config.attributes.get("connection")
    if found is None:  # pragma: no cover - only `alembic` run by hand gets here
        raise RuntimeError("run the store's migrations through `pcipass db upgrade`")
    return found


_live = _connection()
if _live is not None:
    run(_live)
