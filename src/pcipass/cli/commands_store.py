"""The device store's commands: ``db upgrade``, ``db status``, ``agent --once``, ``devices``.

Every one takes ``--db URL`` (or ``PCIPASS_DB``); without either, the store is one SQLite file
in the user's data directory, created at the newest schema on first use. A database on an older
schema is never migrated silently: the commands that use it say "run pcipass db upgrade".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pcipass.cli import main as climain
from pcipass.cli import listing, output
from pcipass.core import errors
from pcipass.core.devicestate import Status

# NOTE: the commands import the services themselves: this module is loaded for pcipass db
# --help, agent --help, devices --help and their usage errors, and pcipass --help loads every
# command module. storeopen (SQLAlchemy, Alembic) costs ~245 ms, with migrate ~320 ms, agent
# ~550 ms, devicelist ~420 ms; rich.table ~20 ms, for the table only (min of 3 cold imports
# on the 2-CPU VM, on top of this module's own).

if TYPE_CHECKING:
    import rich.console

F = TypeVar("F", bound=Callable[..., Any])
DB_ENV = "PCIPASS_DB"


def db_option() -> Callable[[F], F]:
    """``--db URL``, defaulting to ``PCIPASS_DB``, then to the user's SQLite file."""
    return click.option("--db", "db_url", envvar=DB_ENV, metavar="URL",
                        help=f"The device store: sqlite:///PATH, postgresql://USER@HOST/DB or "
                             f"mysql://USER@HOST/DB (MariaDB). Default: ${DB_ENV}, else a SQLite "
                             "file in the user's data directory.")


def _store_error(command: str, exc: Any) -> int:
    output.echo_err(f"pcipass {command}: {exc.message}")
    if exc.hint:
        output.echo_err(f"  fix: {exc.hint}")
    return climain.EXIT_FAIL


@climain.cli.group("db", context_settings=climain.CONTEXT_SETTINGS)
def db_group() -> None:
    """The device store's schema: where it stands, and bringing it up to date."""


@db_group.command("status")
@db_option()
@climain.format_option()
def db_status(db_url: str | None, fmt: str) -> int:
    """Show the store's schema revision, the newest one, and the migrations pending.

    Exit 0 when the store is at the newest revision, 1 when migrations are pending
    (run pcipass db upgrade), 2 when the store cannot be reached.
    """
    from pcipass.services import storeopen

    try:
        engine = storeopen.connect(db_url)
        try:
            from pcipass.adapters.store import migrate

            now = migrate.status(engine)
        finally:
            engine.dispose()
    except errors.InputError as exc:
        return _store_error("db status", exc)
    doc = {"schema": "pcipass-db-status/1", "url": now.url, "current": now.current,
           "head": now.head, "at_head": now.at_head,
           "pending": [{"revision": r.revision, "doc": r.doc} for r in now.pending]}
    output.emit(doc, fmt, _render_status, rows=status_rows)
    return climain.EXIT_OK if now.at_head else climain.EXIT_WARN


def _render_status(doc: dict[str, Any], con: rich.console.Console) -> None:
    con.print(f"store:    {doc['url']}", markup=False, highlight=False)
    con.print(f"current:  {doc['current'] or 'none (no schema yet)'}", markup=False,
              highlight=False)
    con.print(f"head:     {doc['head']}", markup=False, highlight=False)
    if not doc["pending"]:
        con.print("up to date", markup=False, highlight=False)
        return
    con.print(f"pending:  {len(doc['pending'])} migration(s); run pcipass db upgrade",
              markup=False, highlight=False)
    for rev in doc["pending"]:
        con.print(f"  {rev['revision']}  {rev['doc']}", markup=False, highlight=False)


@db_group.command("upgrade")
@db_option()
def db_upgrade(db_url: str | None) -> int:
    """Run every pending migration of the store (creating its tables when it is empty)."""
    from pcipass.services import storeopen

    try:
        engine = storeopen.connect(db_url)
        try:
            from pcipass.adapters.store import migrate

            before = migrate.status(engine)
            after = migrate.upgrade(engine) if not before.at_head else before
        finally:
            engine.dispose()
    except errors.InputError as exc:
        return _store_error("db upgrade", exc)
    if before.at_head:
        click.echo(f"{after.url}: already at revision {after.head}")
    else:
        ran = ", ".join(r.revision for r in before.pending)
        click.echo(f"{after.url}: upgraded from {before.current or 'an empty database'} to "
                   f"{after.current} (ran {ran})")
    return climain.EXIT_OK


@climain.cli.command("agent")
@click.option("--once", is_flag=True, help="Discover the host once, update the store, and exit.")
@click.option("--host", "host", default="/", show_default=True, metavar="ROOT",
              help="The host root: / (the live host), a directory, or a .tar.gz bundle.")
@click.option("--compute-conf", "compute_conf", multiple=True, type=climain.existing_file(),
              help="nova.conf replacing the host's own etc/nova/ compute config (merged in "
                   "order). Repeatable.")
@db_option()
@climain.format_option()
def agent_command(once: bool, host: str, compute_conf: tuple[str, ...], db_url: str | None,
                  fmt: str) -> int:
    """Keep the device store true to a host: discover it, match its device_spec, and apply
    Nova's tracker rules in one transaction.

    A new device is stored available; a vanished free device is removed (and its row
    deleted); a vanished claimed or allocated device keeps its owner, with Nova's warning, and
    is removed when it is freed. Running it twice changes nothing.

    Only a clean discovery may change the store: any warning under sys/bus/pci, a host root
    that fails its checks, a truncated bundle or a config error leaves the store untouched.

    Exit 0 when the store is up to date, 1 when Nova's tracker warned (a busy device
    vanished), 2 when the host or the store cannot be used.
    """
    from pcipass.services import agent, storeopen
    from pcipass.services.jsonview import to_json

    if not once:
        raise click.UsageError("only --once is supported: run it from a timer (cron, systemd)")
    try:
        engine = storeopen.open_store(db_url)
        try:
            report = agent.run_once(engine, host, compute_conf=compute_conf)
        finally:
            engine.dispose()
    except errors.InputError as exc:
        return _store_error("agent", exc)
    for warning in report.applied.warnings:
        output.echo_err(f"pcipass agent: warning: {warning}")
    output.emit(to_json(report), fmt, _render_agent, rows=agent_rows)
    return climain.EXIT_WARN if report.applied.warnings else climain.EXIT_OK


def _render_agent(doc: dict[str, Any], con: rich.console.Console) -> None:
    applied = doc["applied"]
    name = doc["hostname"] + (f" (Nova host {doc['nova_host']})"
                              if doc["nova_host"] and doc["nova_host"] != doc["hostname"] else "")
    con.print(f"{name}: {doc['reported']} assignable device(s) reported from {doc['source']}",
              markup=False, highlight=False)
    if not (applied["inserted"] or applied["updated"] or applied["deleted"]
            or applied["changes"] or applied["host_created"]):
        con.print("store unchanged", markup=False, highlight=False)
        return
    con.print(f"stored: {applied['inserted']} new, {applied['updated']} updated, "
              f"{applied['deleted']} deleted", markup=False, highlight=False)
    for change in applied["changes"]:
        owner = f" (owner {change['owner']})" if change["owner"] else ""
        con.print(f"  {change['address']}: {change['old_status'] or 'new'} -> "
                  f"{change['new_status'] or 'gone'}{owner}", markup=False, highlight=False)


@climain.cli.command("devices")
@db_option()
@click.option("--hostname", metavar="NAME", help="Only this host's devices (the host name of "
                                                  "contracts §1, as agent stored it).")
@click.option("--status", type=click.Choice([s.value for s in Status]),
              help="Only devices in this status.")
@click.option("--alias", "alias", metavar="NAME",
              help="Only devices this [pci] alias asks for (needs --nova-conf).")
@click.option("--nova-conf", "nova_conf", multiple=True, type=climain.existing_file(),
              help="The controller's nova.conf, for --alias. Repeatable.")
@climain.format_option()
def devices_command(db_url: str | None, hostname: str | None, status: str | None,
                    alias: str | None, nova_conf: tuple[str, ...], fmt: str) -> int:
    """List the devices in the store, with their status and owner.

    Exit 0 when the listing printed (even empty), 2 when the store cannot be used or the
    alias is not defined.
    """
    from pcipass.services import devicelist, storeopen
    from pcipass.services.jsonview import to_json

    if alias is not None and not nova_conf:
        raise click.UsageError("--alias needs the controller's config: add --nova-conf FILE")
    try:
        engine = storeopen.open_store(db_url)
        try:
            listing = devicelist.list_devices(engine, hostname=hostname, status=status,
                                              alias=alias, nova_conf=nova_conf)
        finally:
            engine.dispose()
    except errors.InputError as exc:
        return _store_error("devices", exc)
    output.emit(to_json(listing), fmt, _render_devices, rows=device_rows)
    return climain.EXIT_OK


DEVICE_COLUMNS = ("host", "address", "type", "ids", "numa", "status", "owner", "parent", "tags")


def _render_devices(doc: dict[str, Any], con: rich.console.Console) -> None:
    import rich.box
    import rich.table

    if not doc["devices"]:
        con.print("no device in the store matches", markup=False, highlight=False)
        return
    table = rich.table.Table(show_header=True, header_style="bold", box=rich.box.SIMPLE_HEAD,
                             padding=(0, 1, 0, 0), show_edge=False)
    for col in DEVICE_COLUMNS:
        table.add_column(col, no_wrap=col != "tags", overflow="fold")
    for d in doc["devices"]:
        tags = " ".join(f"{k}={v}" for k, v in sorted(d["spec_tags"].items()))
        table.add_row(d["hostname"], d["address"], d["dev_type"],
                      f"{d['vendor_id']}:{d['product_id']}",
                      "-" if d["numa_node"] is None else str(d["numa_node"]), d["status"],
                      d["instance_uuid"] or "", d["parent_addr"] or "", tags)
    con.print(table)


LISTING_COLUMNS = ("hostname", "address", "vendor_id", "product_id", "dev_type", "parent_addr",
                   "numa_node", "status", "instance_uuid", "request_id", "generation")


def device_rows(doc: dict[str, Any]) -> listing.Listing:
    """devices: one row per stored device."""
    return listing.Listing(LISTING_COLUMNS, ([d.get(c) for c in LISTING_COLUMNS]
                                             for d in doc["devices"]))


AGENT_COLUMNS = ("hostname", "address", "old_status", "new_status", "owner", "detail")


def agent_rows(doc: dict[str, Any]) -> listing.Listing:
    """agent: one row per change it made."""
    return listing.Listing(AGENT_COLUMNS, ([c.get(k) for k in AGENT_COLUMNS]
                                           for c in doc["applied"]["changes"]))


STATUS_COLUMNS = ("url", "current", "head", "at_head", "pending")


def status_rows(doc: dict[str, Any]) -> listing.Listing:
    """db status: one row."""
    return listing.Listing(STATUS_COLUMNS, [[doc.get(c) for c in STATUS_COLUMNS]])
