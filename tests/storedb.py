"""The store tests' databases: a fresh one per test on SQLite, PostgreSQL and MariaDB.

``store`` is parametrized over the three. On the servers each test gets its own database,
created under a unique name through the server's ``test`` database (PostgreSQL) or root
connection (MariaDB) and dropped afterwards. A server that cannot be reached skips the test
outside CI and fails it in CI, where both servers run (``support.skip_unless_ci``).

The servers' admin URLs can be changed with ``PCIPASS_TEST_POSTGRESQL`` and
``PCIPASS_TEST_MARIADB``.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import skip_unless_ci

POSTGRESQL = os.environ.get("PCIPASS_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB = os.environ.get("PCIPASS_TEST_MARIADB", "mysql://root@127.0.0.1:3306/test")
BACKENDS = ("sqlite", "postgresql", "mariadb")
SERVERS = ("postgresql", "mariadb")


@dataclasses.dataclass
class Store:
    """A fresh, empty database: its URL, and an engine on it (disposed after the test)."""

    backend: str
    url: str
    _engine: Any = None

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from pcipass.adapters.store import engine

            self._engine = engine.connect(self.url)
        return self._engine

    def upgrade(self, target: str = "head") -> None:
        from pcipass.adapters.store import migrate

        migrate.upgrade(self.engine, target)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _admin(url: str) -> Any:
    import sqlalchemy

    from pcipass.adapters.store import engine

    try:
        parsed = engine.parse(url)
    except engine.StoreUnavailable as exc:  # the driver is not installed
        skip_unless_ci(exc.message)
    admin = sqlalchemy.create_engine(parsed, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sqlalchemy.exc.OperationalError as exc:
        admin.dispose()
        skip_unless_ci(f"no database server at {url}: {str(exc.orig).splitlines()[0]}")
    return admin


def fresh(backend: str, tmp_path: Path) -> Iterator[Store]:
    """A new database on ``backend``, dropped (or left in ``tmp_path``) afterwards."""
    if backend == "sqlite":
        store = Store(backend, f"sqlite:///{tmp_path / 'store.db'}")
        try:
            yield store
        finally:
            store.dispose()
        return
    from sqlalchemy.engine import make_url

    server = POSTGRESQL if backend == "postgresql" else MARIADB
    admin = _admin(server)
    name = f"pcipass_t_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    store = Store(backend, make_url(server).set(database=name).render_as_string(
        hide_password=False))
    try:
        yield store
    finally:
        store.dispose()
        with admin.connect() as conn:
            drop = f"DROP DATABASE IF EXISTS {name}"
            conn.exec_driver_sql(drop + (" WITH (FORCE)" if backend == "postgresql" else ""))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty database on each of SQLite, PostgreSQL and MariaDB."""
    yield from fresh(request.param, tmp_path)


@pytest.fixture(params=SERVERS)
def server_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty database on PostgreSQL and MariaDB (where two writers run at once)."""
    yield from fresh(request.param, tmp_path)


@pytest.fixture
def ready(store: Store) -> Store:
    """A fresh database at the newest schema."""
    store.upgrade()
    return store


#: compute-7: one X710 on NUMA node 1 with VFs; node 0 CPUs 0-3, node 1 CPUs 4-7.
PROFILE = "1x intel-x710 numa=1 vfs={vfs}; numa-nodes=2; cmdline=intel_iommu=on; hostname=compute-7"
SPEC = '{"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet2"}'
COMPUTE_CONF = """\
[DEFAULT]
host = c7

[pci]
device_spec = {spec}
alias = {{"name": "x710-vf", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF"}}

[compute]
cpu_dedicated_set = 5-7
"""
VFS = ("0000:81:02.0", "0000:81:02.1", "0000:81:02.2", "0000:81:02.3")


def build_host(dest: Path, *, vfs: int = 4, spec: str = SPEC) -> Path:
    """A fake compute-7 (pcipass.fakehost) with its compute config; its root."""
    from pcipass import fakehost

    built = fakehost.build(dest, PROFILE.format(vfs=vfs))
    conf = built.root / "etc/nova/nova.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(COMPUTE_CONF.format(spec=spec))
    return Path(built.root)
