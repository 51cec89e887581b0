"""``pcipass placement show``: the PCI resource providers nova-compute reports to Placement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pcipass.cli import commands_config, listing, output
from pcipass.cli import main as climain
from pcipass.core import errors

# NOTE: placement show imports its services itself (placementview with scan, ~110 ms) and the
# table rich (~12 ms), so pcipass placement --help and -f json skip them (min of 3 cold
# imports on the 2-CPU VM, on top of this module's own).

if TYPE_CHECKING:
    import rich.console

#: More devices than this left out for one reason print as one table line (JSON lists each).
COLLAPSE_OVER = 8


@climain.cli.group("placement")
def placement_group() -> None:
    """PCI in Placement: what nova-compute reports ([pci] report_in_placement)."""


@placement_group.command("show")
@click.option("--host", "hosts", multiple=True, metavar="ROOT",
              help="A host root: / (the live host), a directory, or a .tar.gz bundle. "
                   "Repeatable. Default: /.")
@click.option("--hypervisor-hostname", metavar="NAME",
              help="The compute node's name, which names its providers, as 'openstack "
                   "hypervisor list' shows it (default: the host's hostname). One --host only.")
@click.option("--compute-conf", "compute_conf", multiple=True, type=climain.existing_file(),
              help="nova.conf replacing every host's own etc/nova/ compute config (merged in "
                   "order). Repeatable.")
@click.option("-j", "--jobs", type=click.IntRange(0, 256), default=0, show_default=True,
              help="Host roots scanned in parallel processes (0: one per CPU for large fleets).")
@climain.no_facts_cache_option()
@climain.format_option()
def placement_show(hosts: tuple[str, ...], hypervisor_hostname: str | None,
                   compute_conf: tuple[str, ...], jobs: int, no_facts_cache: bool, fmt: str) -> int:
    """Show the resource providers, inventories and traits Nova puts in Placement for each host.

    One child provider of the compute node per PF or type-PCI device (a PF's VFs share
    one), named <hypervisor hostname>_<PCI ADDRESS>. Every tracked device left out is
    listed with its reason, and every error at which nova-compute would stop reporting
    is listed with the device_spec value behind it.

    Exit 0 when the view printed, 2 when a host path is not a host root or bundle, or
    when a host reporting to Placement has a refusal (Nova then reports no PCI inventory).
    """
    from pcipass.services import placementview
    from pcipass.services import scan as scan_mod
    from pcipass.services.jsonview import to_json

    hosts = hosts or ("/",)
    if hypervisor_hostname is not None and len(hosts) > 1:
        raise click.UsageError("--hypervisor-hostname names one compute node: give one --host")
    try:
        report = placementview.show_placement(
            hosts, compute_conf=compute_conf, hypervisor_hostname=hypervisor_hostname, jobs=jobs,
            facts_cache=scan_mod.CACHE_IGNORE if no_facts_cache else scan_mod.CACHE_USE)
    except errors.InputError as exc:
        output.echo_err(f"pcipass placement show: {exc.message}")
        if exc.hint:
            output.echo_err(f"  fix: {exc.hint}")
        return climain.EXIT_FAIL
    output.emit(to_json(report), fmt, render_placement, rows=provider_rows)
    return climain.EXIT_FAIL if report.refused else climain.EXIT_OK


def _inventory(inv: dict[str, Any]) -> str:
    text = f"{inv['resource_class']}: total {inv['total']}, max_unit {inv['max_unit']}"
    return text + (f", reserved {inv['reserved']}" if inv["reserved"] is not None else "")


def _exclusion_lines(exclusions: list[dict[str, Any]]) -> list[str]:
    """One line per device; more than COLLAPSE_OVER devices left out for one reason: one line."""
    groups: dict[tuple[str, str], list[str]] = {}
    for e in exclusions:
        groups.setdefault((e["reason"], e["message"]), []).append(e["address"])
    lines = []
    for (reason, message), addresses in groups.items():
        if len(addresses) > COLLAPSE_OVER:
            lines.append(f"  {len(addresses)} devices {addresses[0]} ... {addresses[-1]}  "
                         f"[{reason}]  {message}")
        else:
            lines.extend(f"  {a}  [{reason}]  {message}" for a in addresses)
    return lines


def render_placement(doc: dict[str, Any], con: rich.console.Console) -> None:
    # rich only for the table: -f json skips it.
    import rich.table
    import rich.text

    for h in doc["hosts"]:
        status = ("reported" if h["reported"] else "NOT reported")
        con.print(rich.text.Text.assemble(
            ("host ", "bold"), (h["name"], "bold cyan"), f"  compute node {h['hypervisor_hostname']}",
            f" ({h['hostname_source']})  ", (status, "bold green" if h["reported"] else "bold red")))
        for note in h["notes"]:
            con.print(f"  note: {note}", markup=False, highlight=False)
        if h["providers"]:
            t = rich.table.Table(show_lines=False)
            for col in ("provider", "inventory", "traits", "devices"):
                t.add_column(col, overflow="fold")
            for p in h["providers"]:
                devices = "\n".join(f"{a} (spec {i})" for a, i in zip(p["devices"], p["spec_indexes"]))
                t.add_row(p["name"], _inventory(p["inventory"]), "\n".join(p["traits"]), devices)
            con.print(t)
        else:
            con.print("  no PCI resource provider")
        if h["exclusions"]:
            con.print(rich.text.Text(f"Left out ({len(h['exclusions'])})", style="bold yellow"))
            for line in _exclusion_lines(h["exclusions"]):
                con.print(line, markup=False, highlight=False)
        commands_config.render_problems(con, "Refused by Nova", h["refusals"], "red")
        commands_config.render_problems(con, "Warnings", h["warnings"], "yellow")


# export and sync talk to a real Placement: their own module, added to this group here.
from pcipass.cli import commands_placement_sync  # noqa: E402

for _command in commands_placement_sync.COMMANDS:
    placement_group.add_command(_command)


PROVIDER_COLUMNS = ("host", "provider", "parent_provider", "dev_type", "resource_class", "total",
                    "reserved", "traits", "devices")


def provider_rows(doc: dict[str, Any]) -> listing.Listing:
    """placement show: one row per resource provider of every host."""
    return listing.Listing(PROVIDER_COLUMNS, (
        [h["name"], p["name"], p.get("parent_provider"), p.get("dev_type"),
         p["inventory"]["resource_class"], p["inventory"]["total"], p["inventory"]["reserved"],
         p.get("traits", []), p.get("devices", [])]
        for h in doc["hosts"] for p in h["providers"]))
