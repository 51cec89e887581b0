"""Claims mirrored into Placement: ``pcipass schedule --db URL --claim --placement-url URL ...``
(and ``--os-cloud``), and the free that removes the Placement allocation.

The store claims first (exclusive, as without Placement); then the consumer's devices are
written to Placement (:mod:`pcipass.services.claimplacement`). When Placement refuses them (a
provider it does not know, no capacity left, the consumer changing under every retry), a
claim just made is released from the store again, so the two stay in step, and the command
exits 2. An over-allocated provider read back is an error too (exit 2), the allocation kept.

Exit codes as ``schedule --db --claim``: 0 done, 2 refused or failed, 64 usage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from pcipass.cli import commands_placement_sync as placement_cli
from pcipass.cli import listing, output
from pcipass.cli import main as climain
from pcipass.core import errors
from pcipass.services import claimplacement, claimrequest, claims, storeopen
from pcipass.services.jsonview import to_json

# Imported at the top: commands_schedule and commands_claims import this module only when a
# claim goes to Placement, right before they call it.

if TYPE_CHECKING:
    import rich.console

    from pcipass.adapters import placementapi

COLUMNS = ("consumer", "hostname", "address", "dev_type", "status", "provider", "placement_used")


def _connect(placement: tuple[str | None, str | None, str | None, float],
             ) -> placementapi.PlacementClient:
    url, cloud, token, timeout = placement
    return placement_cli.connect(url, cloud, token, timeout, "schedule")


def _fail(exc: Any) -> int:
    output.echo_err(f"pcipass schedule: {exc.message}")
    if getattr(exc, "hint", None):
        output.echo_err(f"  fix: {exc.hint}")
    return climain.EXIT_FAIL


def schedule_claim(db_url: str | None, consumer: str | None, flavors: Sequence[str],
                   ports: Sequence[str], nova_conf: Sequence[str], image: str | None,
                   instance_numa_nodes: Sequence[int] | None, lease: int | None, fmt: str, *,
                   placement: tuple[str | None, str | None, str | None, float]) -> int:
    """Schedule over the store, claim, and write the claim to Placement."""
    if consumer is None:
        raise click.UsageError("--claim needs --consumer UUID (the instance the devices go to)")
    if len(flavors) != 1:
        raise click.UsageError("--claim takes exactly one --flavor")
    consumer = climain.consumer_uuid(consumer)
    try:
        client = _connect(placement)
        prepared = claimrequest.prepare(flavors[0], ports=ports, nova_conf=nova_conf,
                                        image=image, instance_numa_nodes=instance_numa_nodes)
        engine = storeopen.open_store(db_url)
    except errors.InputError as exc:
        return _fail(exc)
    try:
        try:
            report = claims.claim(engine, prepared, consumer,
                                  lease_seconds=300 if lease is None else lease)
        except errors.InputError as exc:
            return _fail(exc)
        for note in report.notes:
            output.echo_err(f"pcipass schedule: {note}")
        failed: errors.InputError | None = None
        mirror: claimplacement.PlacementMirror | None
        try:
            mirror = claimplacement.mirror_claim(client, consumer, report.hostname, report.devices)
        except claimplacement.PlacementOverAllocated as exc:
            failed, mirror = exc, exc.report
        except errors.InputError as exc:
            if not report.repeated:
                claims.release(engine, consumer)
                output.echo_err(f"pcipass schedule: Placement refused the claim: the store's "
                                f"claim of consumer {consumer} is released again")
            return _fail(exc)
    finally:
        engine.dispose()
    doc = to_json(report)
    doc["placement"] = to_json(mirror)
    output.emit(doc, fmt, _render, rows=_rows)
    if failed is not None:
        return _fail(failed)
    return climain.EXIT_OK


def free(db_url: str | None, consumer: str, fmt: str, *,
         placement: tuple[str | None, str | None, str | None, float]) -> int:
    """``claim free`` and the removal of the consumer's allocation on the freed devices'
    providers in Placement (for ``claim free --placement-url``)."""
    try:
        client = _connect(placement)
        engine = storeopen.open_store(db_url)
        try:
            report = claims.free(engine, consumer)
        finally:
            engine.dispose()
        mirror = (claimplacement.mirror_free(client, consumer, report.hostname, report.devices)
                  if report.hostname is not None else None)
    except errors.InputError as exc:
        output.echo_err(f"pcipass claim free: {exc.message}")
        return climain.EXIT_FAIL
    doc = to_json(report)
    doc["placement"] = to_json(mirror) if mirror is not None else None
    output.emit(doc, fmt, _render, rows=_rows)
    return climain.EXIT_OK


def _render(doc: dict[str, Any], con: rich.console.Console) -> None:
    what = doc.get("operation") or ("already holds" if doc.get("repeated") else "claimed")
    con.print(f"consumer {doc['consumer']} {what} {len(doc['devices'])} device(s) on "
              f"{doc['hostname']}", markup=False, highlight=False)
    for d in doc["devices"]:
        con.print(f"  {d['address']}  {d['dev_type']}  {d['status']}", markup=False,
                  highlight=False)
    pl = doc.get("placement")
    if not pl:
        return
    verb = "written to" if pl["operation"] == "claim" else "removed from"
    con.print(f"Placement {pl['placement']}: allocation {verb} consumer {pl['consumer']} "
              f"({pl['attempts']} write(s))", markup=False, highlight=False)
    for p in pl["providers"]:
        con.print(f"  {p['name']}: {p['held']} {p['resource_class']} of this consumer; "
                  f"{p['used']} used of {p['capacity']}", markup=False, highlight=False)
    for o in pl["over_allocated"]:
        con.print(f"  OVER-ALLOCATED {o['provider']}: {o['used']} {o['resource_class']} used, "
                  f"{o['capacity']} available", markup=False, highlight=False)


def _rows(doc: dict[str, Any]) -> listing.Listing:
    pl = doc.get("placement") or {}
    uses = {p["name"]: p for p in pl.get("providers", [])}

    def provider(d: dict[str, Any]) -> str:
        owner = d["parent_addr"] if d["dev_type"] in ("type-VF", "vdpa") and d["parent_addr"] \
            else d["address"]
        return f"{doc['hostname']}_{owner.upper()}"

    return listing.Listing(COLUMNS, (
        [doc["consumer"], doc["hostname"], d["address"], d["dev_type"], d["status"],
         provider(d), uses.get(provider(d), {}).get("used")] for d in doc["devices"]))
