"""The stored fleet as schedulers read it: every host's generation and expired claims, and
the devices and NUMA cells of the hosts a scheduler needs (:func:`read_fleet`,
:func:`read_hosts`).

The reads need no transaction: each statement sees committed rows, and the claim's
compare-and-swap on every row it writes (:mod:`pcipass.adapters.store.claimtx`) makes a read
older than the store harmless. On PostgreSQL they run in autocommit, which saves the ``BEGIN``
and ``ROLLBACK`` round trips of every refresh. A reader that keeps what it read passes the
rows it parsed (:data:`Parsed`): a row whose generation did not move is not parsed again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

import sqlalchemy
from sqlalchemy import select
from sqlalchemy.engine import Engine

from pcipass.adapters.store import hoststate, leases, models, records
from pcipass.core import devicestate as ds


@dataclasses.dataclass(frozen=True, slots=True)
class StoredHost:
    """One host as the scheduler reads it: its tracked devices (as stored: expired claims
    still claimed), their spec tags and generations, and its NUMA cells."""

    hostname: str
    nova_host: str | None
    generation: int
    cells: tuple[records.StoredCell, ...]
    tree: ds.DeviceTree
    tags: Mapping[str, Mapping[str, Any]]
    generations: Mapping[str, int]
    host_id: int = 0
    ids: Mapping[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class FleetRead:
    """Every host's generation, the expired claims by host ``(address, owner)``, and the hosts
    read anew (those whose generation differs from what the caller knew)."""

    generations: Mapping[str, int]
    expired: Mapping[str, tuple[tuple[str, str], ...]]
    hosts: tuple[StoredHost, ...]
    #: host name -> (row id, Nova host name, generation), for :func:`read_hosts`.
    rows: Mapping[str, tuple[int, str | None, int]] = dataclasses.field(default_factory=dict)


#: (host name, address) -> ((row id, generation), the device, its spec tags): rows already
#: parsed (a row deleted and inserted again has another id).
Parsed = dict[tuple[str, str], tuple[tuple[int, int], ds.TrackedDevice, Mapping[str, Any]]]


def read_fleet(engine: Bind, known: Mapping[str, int],
               parsed: Parsed | None = None, *, changed: bool = True) -> FleetRead:
    """Every host's generation and expired claims; the devices and cells of the hosts whose
    generation is not ``known[hostname]`` (with ``changed=False``, only of the hosts
    ``known`` does not name: the caller reads the others when it needs them,
    :func:`read_hosts`).

    The reads need no transaction: each statement sees committed rows, and the claim's
    compare-and-swap on every row it writes makes a read older than the store harmless. On
    PostgreSQL they run in autocommit, which saves the ``BEGIN`` and ``ROLLBACK`` round trips
    of every refresh.

    :param parsed: rows parsed by earlier reads, reused when their generation is the same
        (and updated): a client reading in a loop parses only the rows that changed.
    """
    with _reading(engine) as conn:
        # One round trip: every host, joined with its expired claims (usually none).
        by_id: dict[int, tuple[int, str, str | None, int]] = {}
        expired: dict[str, list[tuple[str, str]]] = {}
        for row in conn.execute(_FLEET).all():
            hid, name, nova, gen = int(row[0]), str(row[1]), row[2], int(row[3])
            by_id[hid] = (hid, name, None if nova is None else str(nova), gen)
            if row[4] is not None:
                expired.setdefault(name, []).append((str(row[4]), str(row[5])))
        gens = list(by_id.values())
        wanted = {hid: (name, nova, gen) for hid, name, nova, gen in gens
                  if known.get(name) != gen and (changed or name not in known)}
        hosts: list[StoredHost] = []
        if wanted:
            hosts = _read_hosts(conn, wanted, {} if parsed is None else parsed)
    return FleetRead({name: gen for _, name, _, gen in gens},
                     {k: tuple(v) for k, v in expired.items()}, tuple(hosts),
                     {name: (hid, nova, gen) for hid, name, nova, gen in gens})


def read_hosts(engine: Bind, rows: Mapping[str, tuple[int, str | None, int]],
               parsed: Parsed | None = None) -> list[StoredHost]:
    """The devices and cells of these hosts (name -> :attr:`FleetRead.rows`), stored with the
    generation given there (which may be older than the rows read: never newer)."""
    with _reading(engine) as conn:
        return _read_hosts(conn, {hid: (name, nova, gen) for name, (hid, nova, gen)
                                  in rows.items()}, {} if parsed is None else parsed)


_DEVICES = cast(sqlalchemy.Table, models.Device.__table__)
_CELLS = cast(sqlalchemy.Table, models.NumaCell.__table__)
_HOSTS = cast(sqlalchemy.Table, models.Host.__table__)
_ENDED = (select(_DEVICES.c.host_id, _DEVICES.c.address, models.Claim.__table__.c.consumer_uuid)
          .join(models.Claim.__table__,
                models.Claim.__table__.c.device_id == _DEVICES.c.id)
          .where(leases.expired()).subquery())
#: Every host with its expired claims (built once: a refresh runs it for every claim).
_FLEET = select(_HOSTS.c.id, _HOSTS.c.hostname, _HOSTS.c.nova_host, _HOSTS.c.generation,
                _ENDED.c.address, _ENDED.c.consumer_uuid).outerjoin(
    _ENDED, _ENDED.c.host_id == _HOSTS.c.id)
_HOST_DEVICES = select(_DEVICES).where(_DEVICES.c.host_id.in_(sqlalchemy.bindparam("ids")))
_HOST_CELLS = select(_CELLS).where(_CELLS.c.host_id.in_(sqlalchemy.bindparam("ids"))).order_by(
    _CELLS.c.cell_id)


Bind = Engine | sqlalchemy.Connection


class _reading:
    """A connection for reads: in autocommit on PostgreSQL; elsewhere a transaction rolled
    back at the end (SQLite's begin hook and MariaDB keep their usual transactions). Given a
    connection (the caller's), it is used and left as it was found, with no transaction."""

    def __init__(self, bind: Bind) -> None:
        self.own = isinstance(bind, Engine)
        self.conn = bind.connect() if isinstance(bind, Engine) else bind

    def __enter__(self) -> sqlalchemy.Connection:
        if self.conn.dialect.name == "postgresql":
            self.conn.execution_options(isolation_level="AUTOCOMMIT")
        return self.conn

    def __exit__(self, *exc: object) -> None:
        if self.own:
            self.conn.close()
            return
        self.conn.rollback()  # in autocommit: nothing is sent
        if self.conn.dialect.name == "postgresql":
            self.conn.execution_options(isolation_level=self.conn.default_isolation_level)


def _read_hosts(conn: sqlalchemy.Connection, changed: Mapping[int, tuple[str, str | None, int]],
                parsed: Parsed) -> list[StoredHost]:
    ids = list(changed)
    rows: dict[int, list[Any]] = {i: [] for i in ids}
    for row in conn.execute(_HOST_DEVICES, {"ids": ids}):
        rows[row.host_id].append(row)
    cells: dict[int, list[Any]] = {i: [] for i in ids}
    for cell in conn.execute(_HOST_CELLS, {"ids": ids}):
        cells[cell.host_id].append(cell)
    out = []
    for hid, (name, nova, gen) in sorted(changed.items(), key=lambda kv: kv[1][0]):
        devices, tags = [], {}
        for r in rows[hid]:
            hit = parsed.get((name, r.address))
            if hit is None or hit[0] != (r.id, r.generation):
                hit = parsed[(name, r.address)] = (
                    (r.id, r.generation), tracked_row(name, r),
                    hoststate.json_object(r.spec_tags, f"{name} {r.address} spec_tags"))
            devices.append(hit[1])
            tags[r.address] = hit[2]
        out.append(StoredHost(
            name, nova, gen, tuple(hoststate.stored_cell(c) for c in cells[hid]),
            ds.DeviceTree(devices, nova or name), tags,
            {r.address: r.generation for r in rows[hid]}, hid,
            {r.address: int(r.id) for r in rows[hid]}))
    return out


def tracked_row(hostname: str, r: Any) -> ds.TrackedDevice:
    """A device row (ORM or Core) as the tracker's record."""
    try:
        status = ds.Status(r.status)
    except ValueError:
        raise hoststate.StoreCorrupt(reason=f"device {r.address}: status {r.status[:40]!r}") \
            from None
    return ds.TrackedDevice(r.address, r.dev_type, status, r.parent_addr, r.instance_uuid,
                            r.request_id, r.vendor_id, r.product_id, r.numa_node, r.dev_id,
                            r.label, hoststate.json_object(r.extra_info,
                                                           f"{hostname} {r.address} extra_info"))
