"""Claims in the device store: ``schedule --db --claim`` (its body), ``claim allocate|free|
release``, ``allocation show``.

Exit codes: 0 done (a repeated operation too); 2 a conflict (the same consumer with another
request, release of an allocation, nothing to allocate or show), no host fits, or the store
cannot be used; 64 a usage error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from pcipass.cli import listing, output
from pcipass.cli import main as climain
from pcipass.cli.commands_store import db_option
from pcipass.cli.commands_placement_sync import connection_options
from pcipass.core import errors

# NOTE: the commands import the services themselves: this module is loaded for pcipass claim
# --help, allocation --help and their usage errors, and pcipass --help loads every command
# module. storeopen (SQLAlchemy, Alembic) costs ~245 ms and claims ~430 ms to import
# (min of 3 cold imports on the 2-CPU VM, on top of this module's own).

if TYPE_CHECKING:
    import rich.console

HELD_COLUMNS = ("consumer", "hostname", "address", "dev_type", "status", "request_id",
                "numa_node", "lease_expires_at")


def _claim_error(command: str, exc: Any) -> int:
    output.echo_err(f"pcipass {command}: {exc.message}")
    if getattr(exc, "hint", None):
        output.echo_err(f"  fix: {exc.hint}")
    return climain.EXIT_FAIL


consumer_uuid = climain.consumer_uuid


def schedule_claim(db_url: str | None, consumer: str | None, flavors: Sequence[str],
                   ports: Sequence[str], nova_conf: Sequence[str], image: str | None,
                   instance_numa_nodes: Sequence[int] | None, lease: int | None,
                   fmt: str) -> int:
    """``pcipass schedule --db URL --claim ...``: schedule over the store and claim."""
    from pcipass.services import claimrequest, claims, storeopen
    from pcipass.services.jsonview import to_json

    if consumer is None:
        raise click.UsageError("--claim needs --consumer UUID (the instance the devices go to)")
    if len(flavors) != 1:
        raise click.UsageError("--claim takes exactly one --flavor")
    consumer = consumer_uuid(consumer)
    try:
        prepared = claimrequest.prepare(flavors[0], ports=ports, nova_conf=nova_conf,
                                        image=image, instance_numa_nodes=instance_numa_nodes)
        engine = storeopen.open_store(db_url)
        try:
            report = claims.claim(engine, prepared, consumer,
                                  lease_seconds=300 if lease is None else lease)
        finally:
            engine.dispose()
    except errors.InputError as exc:
        return _claim_error("schedule", exc)
    for note in report.notes:
        output.echo_err(f"pcipass schedule: {note}")
    output.emit(to_json(report), fmt, _render_claim, rows=_claim_rows)
    return climain.EXIT_OK


def _render_claim(doc: dict[str, Any], con: rich.console.Console) -> None:
    verb = "already holds" if doc["repeated"] else "claimed"
    host = doc["hostname"] + (f" (Nova host {doc['nova_host']})"
                              if doc["nova_host"] and doc["nova_host"] != doc["hostname"] else "")
    allocated = bool(doc["devices"]) and all(d["status"] == "allocated" for d in doc["devices"])
    lease = "allocated: no lease" if allocated else f"lease {doc['lease_seconds']} s"
    con.print(f"consumer {doc['consumer']} {verb} {len(doc['devices'])} device(s) on {host} "
              f"for flavor {doc['flavor']} ({lease})", markup=False, highlight=False)
    _render_devices(doc["devices"], con)


def _render_devices(devices: list[dict[str, Any]], con: rich.console.Console) -> None:
    for d in devices:
        lease = f", lease until {d['lease_expires_at']}" if d["lease_expires_at"] else ""
        if d.get("lease_ended"):
            lease = (f", lease ended {d['lease_expires_at']} (released by the next writer on "
                     "its host)")
        con.print(f"  {d['address']}  {d['dev_type']}  {d['status']}  NUMA "
                  f"{'-' if d['numa_node'] is None else d['numa_node']}  request "
                  f"{d['request_id'] or '-'}{lease}", markup=False, highlight=False)


def _claim_rows(doc: dict[str, Any]) -> listing.Listing:
    return _rows(doc["consumer"], doc["hostname"], doc["devices"])


def _rows(consumer: str, hostname: str | None,
          devices: list[dict[str, Any]]) -> listing.Listing:
    return listing.Listing(HELD_COLUMNS, ([consumer, hostname, d["address"], d["dev_type"],
                                           d["status"], d["request_id"], d["numa_node"],
                                           d["lease_expires_at"]] for d in devices))


def _consumer_rows(doc: dict[str, Any]) -> listing.Listing:
    return _rows(doc["consumer"], doc["hostname"], doc["devices"])


@climain.cli.group("claim", context_settings=climain.CONTEXT_SETTINGS)
def claim_group() -> None:
    """A consumer's claim: allocate it, free it, or release it."""


def _operation(name: str, doc: str, run: Callable[[Any, str], Any]) -> None:
    @claim_group.command(name, help=doc)
    @click.argument("consumer", callback=lambda c, p, v: consumer_uuid(v))
    @db_option()
    @climain.format_option()
    def command(consumer: str, db_url: str | None, fmt: str) -> int:
        return _operate(name, run, consumer, db_url, fmt)


def _render_operation(doc: dict[str, Any], con: rich.console.Console) -> None:
    op = doc["operation"]
    if not doc["devices"]:
        con.print(f"consumer {doc['consumer']} holds nothing: nothing to {op}",
                  markup=False, highlight=False)
        return
    done = {"allocate": "allocated", "free": "freed", "release": "released",
            "show": "holds"}.get(op, op)
    con.print(f"consumer {doc['consumer']} on {doc['hostname']}: {done} "
              f"{len(doc['devices'])} device(s)", markup=False, highlight=False)
    _render_devices(doc["devices"], con)


def _allocate(engine: Any, consumer: str) -> Any:
    from pcipass.services import claims

    return claims.allocate(engine, consumer)


def _free(engine: Any, consumer: str) -> Any:
    from pcipass.services import claims

    return claims.free(engine, consumer)


def _release(engine: Any, consumer: str) -> Any:
    from pcipass.services import claims

    return claims.release(engine, consumer)


_operation("allocate", "Turn CONSUMER's claim into an allocation (it then has no lease). "
           "Repeating it changes nothing. Exit 2 when CONSUMER holds no claim.", _allocate)


@claim_group.command("free")
@click.argument("consumer", callback=lambda c, p, v: consumer_uuid(v))
@db_option()
@connection_options
@climain.format_option()
def claim_free(consumer: str, db_url: str | None, placement_url: str | None,
               os_cloud: str | None, token: str | None, timeout: float, fmt: str) -> int:
    """Free every device CONSUMER holds, claimed or allocated (Nova's free). Lists the devices
    freed; repeating it frees nothing. With --placement-url or --os-cloud, the consumer's
    allocation on the freed devices' providers is removed from Placement too."""
    if placement_url is not None or os_cloud is not None:
        from pcipass.cli import commands_claimplacement

        return commands_claimplacement.free(db_url, consumer, fmt,
                                            placement=(placement_url, os_cloud, token, timeout))
    return _operate("free", _free, consumer, db_url, fmt)


def _operate(name: str, run: Any, consumer: str, db_url: str | None, fmt: str) -> int:
    """``claim NAME``: ``run(engine, consumer)`` on the store, its report printed."""
    from pcipass.services import storeopen
    from pcipass.services.jsonview import to_json

    try:
        engine = storeopen.open_store(db_url)
        try:
            report = run(engine, consumer)
        finally:
            engine.dispose()
    except errors.InputError as exc:
        return _claim_error(f"claim {name}", exc)
    output.emit(to_json(report), fmt, _render_operation, rows=_consumer_rows)
    return climain.EXIT_OK

_operation("release", "Drop CONSUMER's claim, never allocated. Exit 2 when its devices are "
           "allocated (free them instead).", _release)


@climain.cli.group("allocation", context_settings=climain.CONTEXT_SETTINGS)
def allocation_group() -> None:
    """What a consumer holds in the device store."""


@allocation_group.command("show")
@click.argument("consumer", callback=lambda c, p, v: consumer_uuid(v))
@db_option()
@climain.format_option("libvirt")
def allocation_show(consumer: str, db_url: str | None, fmt: str) -> int:
    """Show the devices CONSUMER holds; -f libvirt prints the libvirt device elements that
    give them to the guest (<hostdev> for a flavor's device, <interface type='hostdev'> for
    a port's VF). Exit 2 when CONSUMER holds nothing."""
    from pcipass.services import claims, guestdevices, storeopen
    from pcipass.services.jsonview import to_json

    try:
        engine = storeopen.open_store(db_url)
        try:
            report = claims.show(engine, consumer)
        finally:
            engine.dispose()
    except errors.InputError as exc:
        return _claim_error("allocation show", exc)
    if fmt == "libvirt":
        click.echo(guestdevices.devices_xml(report.consumer, report.devices, report.request),
                   nl=False)
        return climain.EXIT_OK
    output.emit(to_json(report), fmt, _render_operation, rows=_consumer_rows)
    return climain.EXIT_OK
