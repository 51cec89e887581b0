"""A real OpenStack Placement for the tests: ``openstack-placement`` under gunicorn, noauth2.

One server per test session and backend (``placement_server`` in tests/functional/conftest.py);
each test starts from a Placement without providers or allocations (``PlacementServer.wipe``).
The backends are SQLite, always, and PostgreSQL in CI (``CI`` set) or when
``PCIPASS_TEST_PLACEMENT_BACKENDS`` names it (``sqlite,postgresql``). On PostgreSQL the session
gets its own database, created through the server's ``test`` database and dropped afterwards;
a server that cannot be reached skips outside CI and fails in CI (``support.skip_unless_ci``).

The recipe is ../shared/docs/placement-local.md: the WSGI app ``placement.wsgi.api:application``
reads ``$OS_PLACEMENT_CONFIG_DIR/placement.conf``; one gunicorn worker (SQLite locks with more),
the schema made by ``sync_on_startup``. There is no mock of the Placement API anywhere: the
tests talk to this server over HTTP.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import IN_CI, require_module, skip_unless_ci

POSTGRESQL = os.environ.get("PCIPASS_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")
_DEFAULT_BACKENDS = "sqlite,postgresql" if IN_CI else "sqlite"
BACKENDS = tuple(b.strip() for b in os.environ.get(
    "PCIPASS_TEST_PLACEMENT_BACKENDS", _DEFAULT_BACKENDS).split(",") if b.strip())
HEADERS = {"X-Auth-Token": "admin", "OpenStack-API-Version": "placement 1.39",
           "Content-Type": "application/json", "Accept": "application/json"}
START_TIMEOUT = 90.0


@dataclasses.dataclass
class PlacementServer:
    """A running Placement: its URL, backend, log file and how long it took to answer."""

    backend: str
    url: str
    log: Path
    started_in: float
    proc: subprocess.Popen[bytes] | None = None

    def request(self, method: str, path: str, body: Any = None, *,
                version: str = "1.39", expect: tuple[int, ...] = (200, 201, 204)) -> Any:
        """One call with noauth2 headers; the decoded answer (None when empty)."""
        import requests

        headers = dict(HEADERS, **{"OpenStack-API-Version": f"placement {version}"})
        resp = requests.request(method, self.url + path, json=body, headers=headers, timeout=30)
        assert resp.status_code in expect, (method, path, resp.status_code, resp.text[:2000])
        return resp.json() if resp.content else None

    def wipe(self) -> None:
        """Remove every allocation and resource provider (children before their parents)."""
        providers = self.request("GET", "/resource_providers")["resource_providers"]
        consumers = set()
        for rp in providers:
            allocs = self.request("GET", f"/resource_providers/{rp['uuid']}/allocations")
            consumers.update(allocs["allocations"])
        for consumer in sorted(consumers):
            self.request("DELETE", f"/allocations/{consumer}", expect=(204, 404))
        by_uuid = {rp["uuid"]: rp for rp in providers}

        def depth(rp: dict[str, Any]) -> int:
            n = 0
            while rp.get("parent_provider_uuid") in by_uuid:
                rp, n = by_uuid[rp["parent_provider_uuid"]], n + 1
            return n

        for rp in sorted(providers, key=depth, reverse=True):
            self.request("DELETE", f"/resource_providers/{rp['uuid']}", expect=(204, 404))

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGTERM the server when the test process dies, even by SIGKILL (no orphan server)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_database() -> Iterator[str]:
    """A new PostgreSQL database for one session's Placement; its SQLAlchemy URL."""
    import sqlalchemy

    # Placement's inserts read cursor.lastrowid, which psycopg 3 lacks: psycopg2 for its URL.
    admin_url = sqlalchemy.engine.make_url(POSTGRESQL).set(drivername="postgresql+psycopg")
    name = f"pcipass_placement_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sqlalchemy.exc.OperationalError as exc:
        admin.dispose()
        skip_unless_ci(f"no PostgreSQL at {POSTGRESQL}: {str(exc.orig).splitlines()[0]}")
    try:
        yield admin_url.set(drivername="postgresql+psycopg2", database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'placement.sqlite'}"
    elif backend == "postgresql":
        yield from _pg_database()
    else:  # pragma: no cover - a typo in PCIPASS_TEST_PLACEMENT_BACKENDS
        raise ValueError(f"unknown Placement test backend {backend!r}")


def serve(backend: str, workdir: Path) -> Iterator[PlacementServer]:
    """Start Placement on ``backend``, wait until ``GET /`` answers, stop it afterwards."""
    require_module("placement")
    for url in _database(backend, workdir):
        conf = workdir / "conf"
        conf.mkdir(exist_ok=True)
        (conf / "placement.conf").write_text(
            "[DEFAULT]\ndebug = False\n[api]\nauth_strategy = noauth2\n"
            f"[placement_database]\nconnection = {url}\nsync_on_startup = True\n")
        port = _free_port()
        log = workdir / "placement.log"
        env = dict(os.environ, OS_PLACEMENT_CONFIG_DIR=str(conf))
        t0 = time.monotonic()
        with log.open("wb") as logf:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1",
                 "--threads", "1", "--timeout", "120", "placement.wsgi.api:application"],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                cwd=workdir, start_new_session=True, preexec_fn=_die_with_parent)
        server = PlacementServer(backend, f"http://127.0.0.1:{port}", log, 0.0, proc)
        try:
            _wait(server, t0)
            yield server
        finally:
            server.stop()


def _wait(server: PlacementServer, t0: float) -> None:
    import requests

    assert server.proc is not None
    while True:
        if server.proc.poll() is not None:
            pytest.fail(f"Placement ({server.backend}) exited with {server.proc.returncode}:\n"
                        + server.log.read_text(errors="replace")[-4000:])
        try:
            if requests.get(server.url + "/", timeout=2).status_code == 200:
                server.started_in = time.monotonic() - t0
                return
        except requests.RequestException:  # not listening yet, or busy starting
            pass
        if time.monotonic() - t0 > START_TIMEOUT:
            pytest.fail(f"Placement ({server.backend}) did not answer in {START_TIMEOUT}s:\n"
                        + server.log.read_text(errors="replace")[-4000:])
        time.sleep(0.1)
