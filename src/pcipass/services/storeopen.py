"""Which store a command uses, ready for it: ``--db URL`` (or ``PCIPASS_DB``), else the default
SQLite file in the user's data directory.

Every command that reads or writes the store opens it here. A database on an older revision
is refused with "run pcipass db upgrade" (never migrated silently); the default file, when new
and empty, is created at head on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pcipass.adapters.store import engine as engine_mod
from pcipass.adapters.store import migrate

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def resolve(url: str | None) -> tuple[str, bool]:
    """The URL to use, and whether it is the default."""
    if url:
        return url, False
    return engine_mod.default_url(), True


def open_store(url: str | None) -> Engine:
    """An engine on a store at head.

    :raises engine_mod.StoreUnavailable: no such database, no driver, unreachable.
    :raises migrate.StoreNotAtHead: a database on an older revision (or an empty one that is
        not the default file): run pcipass db upgrade.
    """
    chosen, default = resolve(url)
    engine = engine_mod.connect(chosen)
    try:
        migrate.require_head(engine, create_if_empty=default)
    except BaseException:
        engine.dispose()
        raise
    return engine


def connect(url: str | None) -> Engine:
    """An engine on the store, whatever its revision (``db status``, ``db upgrade``)."""
    return engine_mod.connect(resolve(url)[0])
