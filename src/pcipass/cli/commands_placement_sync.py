"""``pcipass placement export`` and ``placement sync``: a real Placement, read and (with --apply) written.

The commands are added to the ``placement`` group by :mod:`pcipass.cli.commands_placement`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pcipass.cli import listing, output
from pcipass.cli import main as climain
from pcipass.core import errors

# NOTE: the commands import their services themselves: placementconn (requests) costs ~86 ms,
# placementsync with scan ~260 ms, and the sync table's rich.text with core.rpsync ~65 ms;
# schedule and claim import this module for its options, and pcipass --help loads it
# (min of 3 cold imports on the 2-CPU VM, on top of this module's own).

if TYPE_CHECKING:
    import rich.console

    from pcipass.adapters import placementapi

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(func: F) -> F:
    """--placement-url / --os-cloud, --token, --timeout."""
    for option in reversed((
        click.option("--placement-url", metavar="URL",
                     help="The Placement API, e.g. http://controller:8778 (see --token)."),
        click.option("--os-cloud", metavar="NAME",
                     help="A cloud of clouds.yaml (openstacksdk): its auth and Placement endpoint."),
        click.option("--token", envvar="OS_TOKEN", metavar="TOKEN",
                     help="A Keystone token for --placement-url (env OS_TOKEN). Without one, "
                          "Placement must run with auth_strategy = noauth2."),
        click.option("--timeout", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
                     help="Seconds for connecting and for each answer."),
    )):
        func = option(func)
    return func


def connect(placement_url: str | None, os_cloud: str | None, token: str | None,
            timeout: float, command: str) -> placementapi.PlacementClient:
    """The client, or a usage error / InputError the caller reports."""
    from pcipass.services import placementconn

    if (placement_url is None) == (os_cloud is None):
        raise click.UsageError("give one of --placement-url URL and --os-cloud NAME")
    if os_cloud is not None and token is not None:
        raise click.UsageError("--token goes with --placement-url; --os-cloud brings its own auth")
    return placementconn.connect(placement_url=placement_url, os_cloud=os_cloud, token=token,
                                 timeout=timeout)


def report_error(command: str, exc: Any) -> int:
    output.echo_err(f"pcipass placement {command}: {exc.message}")
    if exc.hint:
        output.echo_err(f"  fix: {exc.hint}")
    return climain.EXIT_FAIL


@click.command("export")
@connection_options
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="The file to write (pcipass-placement-view/1, docs/schemas/placement-view.json).")
def placement_export(placement_url: str | None, os_cloud: str | None, token: str | None,
                     timeout: float, out: str) -> int:
    """Save what a Placement holds: providers (inventories, traits, usages) and allocations.

    The file is the placement view (pcipass-placement-view/1) that `pcipass doctor
    --placement FILE` reads, for a doctor run away from the cloud. docs/placement.md gives
    the openstack CLI commands that show the same data.

    Exit 0 when the file is written, 2 when Placement cannot be reached or read.
    """
    from pcipass.services import placementconn

    try:
        client = connect(placement_url, os_cloud, token, timeout, "export")
        state = placementconn.export_view(client)
        placementconn.save_view(state, out)
    except errors.InputError as exc:
        return report_error("export", exc)
    except OSError as exc:
        output.echo_err(f"pcipass placement export: cannot write {out}: {exc.strerror or exc}")
        return climain.EXIT_FAIL
    output.echo_err(f"wrote {out}: {len(state.providers)} providers, {len(state.allocations)} "
                    f"consumers (microversion {state.microversion})")
    return climain.EXIT_OK



@click.command("sync")
@connection_options
@click.option("--host", "hosts", multiple=True, required=True, metavar="ROOT",
              help="A host root: / (the live host), a directory, or a .tar.gz bundle. Repeatable.")
@click.option("--hypervisor-hostname", metavar="NAME",
              help="The compute node's name (default: nova.conf [DEFAULT] host, else the host's "
                   "hostname). One --host only.")
@click.option("--compute-conf", "compute_conf", multiple=True, type=climain.existing_file(),
              help="nova.conf replacing every host's own compute config (merged in order).")
@click.option("--apply", "apply", is_flag=True,
              help="Make the changes. Without it, only the diff is printed (dry run).")
@click.option("-j", "--jobs", type=click.IntRange(0, 256), default=1, show_default=True,
              help="Host roots scanned in parallel processes (0: one per CPU).")
@climain.no_facts_cache_option()
@climain.format_option()
def placement_sync(placement_url: str | None, os_cloud: str | None, token: str | None,
                   timeout: float, hosts: tuple[str, ...], hypervisor_hostname: str | None,
                   compute_conf: tuple[str, ...], apply: bool, jobs: int, no_facts_cache: bool,
                   fmt: str) -> int:
    """Make Placement hold what nova-compute would report for each host (dry run by default).

    Prints the providers, inventories and traits to create, change or delete so that
    Placement holds Nova's translation of each host (pcipass placement show). With
    --apply the changes are made; the compute providers it creates carry the trait
    CUSTOM_PCIPASS_OWNED, and a tree without that trait is Nova's own: it is never
    changed. For labs and clouds where pcipass, not nova-compute, reports PCI inventory.

    Exit 0 when the diff printed (dry run) or every change was made; 2 when a tree is
    not pcipass's, Nova would refuse a host's config, a change failed, or Placement
    cannot be reached.
    """
    from pcipass.services import placementsync
    from pcipass.services import scan as scan_mod
    from pcipass.services.jsonview import to_json

    if hypervisor_hostname is not None and len(hosts) > 1:
        raise click.UsageError("--hypervisor-hostname names one compute node: give one --host")
    try:
        client = connect(placement_url, os_cloud, token, timeout, "sync")
        report = placementsync.sync(
            client, hosts, compute_conf=compute_conf, hypervisor_hostname=hypervisor_hostname,
            apply=apply, jobs=jobs,
            facts_cache=scan_mod.CACHE_IGNORE if no_facts_cache else scan_mod.CACHE_USE)
    except errors.InputError as exc:
        return report_error("sync", exc)
    output.emit(to_json(report), fmt, render_sync, rows=change_rows)
    return climain.EXIT_FAIL if report.failed else climain.EXIT_OK


def render_sync(doc: dict[str, Any], con: rich.console.Console) -> None:
    import rich.text

    from pcipass.core import rpsync

    mode = "applied" if doc["applied"] else "dry run: nothing written (--apply writes)"
    con.print(rich.text.Text.assemble(("placement ", "bold"), doc["placement"], f"  ({mode})"))
    for h in doc["hosts"]:
        con.print(rich.text.Text.assemble(
            ("host ", "bold"), (h["name"], "bold cyan"), f"  compute node {h['hypervisor_hostname']}",
            f"  {len(h['changes'])} change(s)"))
        for p in h["refusals"]:
            con.print(rich.text.Text(f"  refused [{p['code']}] {p['message']}", style="red"))
            if p.get("hint"):
                con.print(f"    fix: {p['hint']}", markup=False, highlight=False)
        if not h["changes"] and not h["refusals"]:
            con.print("  in sync: nothing to change")
        for r in h["changes"]:
            c = r["change"]
            sign = rpsync.SIGNS.get(c["action"], "?")
            status = "" if r["status"] == "planned" else f"  [{r['status']}]"
            con.print(f"  {sign} {c['action']} {c['provider']}{status}", markup=False, highlight=False)
            for line in c["before"]:
                con.print(f"      - {line}", markup=False, highlight=False)
            for line in c["after"]:
                con.print(f"      + {line}", markup=False, highlight=False)
            if r["message"]:
                con.print(f"      {r['message']}", markup=False, highlight=False)


COMMANDS = (placement_export, placement_sync)


CHANGE_COLUMNS = ("host", "action", "provider", "parent", "status", "message")


def change_rows(doc: dict[str, Any]) -> listing.Listing:
    """placement sync: one row per change, planned or made."""
    return listing.Listing(CHANGE_COLUMNS, (
        [h["name"], r["change"]["action"], r["change"]["provider"], r["change"]["parent"],
         r["status"], r.get("message")]
        for h in doc["hosts"] for r in h["changes"]))
