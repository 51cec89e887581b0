"""``pcipass schedule``: where would this flavor land, and why not elsewhere."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import click

from pcipass.cli import commands_config, listing, output
from pcipass.cli import main as climain
from pcipass.cli import commands_placement_sync as placement_cli
from pcipass.cli.commands_placement_sync import connection_options
from pcipass.core import errors

if TYPE_CHECKING:
    import rich.console

    from pcipass.core.schedule import verdicts
    from pcipass.services import schedule as schedule_svc


def _numa_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        nodes = [int(v) for v in value.split(",") if v.strip() != ""]
    except ValueError:
        raise click.BadParameter("expected host NUMA node ids, e.g. 0,1") from None
    if not nodes or any(n < 0 for n in nodes):
        raise click.BadParameter("expected host NUMA node ids, e.g. 0,1")
    return nodes


@climain.cli.command("schedule")
@click.option("--flavor", "flavors", multiple=True, required=True, type=climain.existing_file(),
              help="Flavor JSON (openstack flavor show -f json, or the API's). Repeatable.")
@click.option("--image", type=climain.existing_file(), help="Image JSON (openstack image show -f json).")
@click.option("--port", "ports", multiple=True, metavar="SPEC",
              help="A Neutron SR-IOV port: vnic_type=direct|direct-physical|macvtap|remote-managed,"
                   "physnet=NAME[,trusted=true][,numa_policy=...]. Repeatable.")
@click.option("--nova-conf", "nova_conf", multiple=True, type=climain.existing_file(),
              help="The controller's nova.conf: [pci] alias and [filter_scheduler] options.")
@click.option("--compute-conf", "compute_conf", multiple=True, type=climain.existing_file(),
              help="Replace every host's compute config (e.g. for lspci pastes).")
@click.option("--host", "hosts", multiple=True, metavar="ROOT",
              help="Host root directory or .tar.gz bundle. Repeatable.")
@click.option("--lspci", "lspci", multiple=True, type=climain.existing_file(),
              help="A host known only from an lspci paste (named after the file). Repeatable.")
@click.option("--instance-numa-nodes", callback=_numa_list, metavar="N,N",
              help="What if: pin the instance's NUMA cells to these host nodes.")
@click.option("-j", "--jobs", type=click.IntRange(0, 256), default=0, show_default=True,
              help="Host roots scanned in parallel processes (0: one per CPU for large fleets).")
@climain.no_facts_cache_option()
@connection_options  # Nova with pci_in_placement: candidates from GET /allocation_candidates
@click.option("--db", "db_url", metavar="URL",
              help="Schedule over the hosts in the device store (with --claim); see "
                   "pcipass agent --once.")
@click.option("--claim", "claim", is_flag=True,
              help="With --db: claim the chosen host's devices for --consumer, atomically; "
                   "the host is drawn among --nova-conf's [filter_scheduler] host_subset_size "
                   "best (Nova's default: 1).")
@click.option("--consumer", metavar="UUID", help="The instance the claimed devices go to.")
@click.option("--lease", type=click.IntRange(0, 7 * 24 * 3600), metavar="SECONDS",
              help="The claim's lease (default 300 s, by the database server's clock).")
@climain.format_option()
def schedule_command(flavors: tuple[str, ...], image: str | None, ports: tuple[str, ...],
                     nova_conf: tuple[str, ...], compute_conf: tuple[str, ...],
                     hosts: tuple[str, ...], lspci: tuple[str, ...],
                     instance_numa_nodes: list[int] | None, jobs: int, no_facts_cache: bool,
                     placement_url: str | None, os_cloud: str | None, token: str | None,
                     timeout: float,
                     db_url: str | None, claim: bool, consumer: str | None, lease: int | None,
                     fmt: str) -> int:
    """Play Nova's PCI scheduling for each flavor on each host, and explain every "no".

    Every matched device of a host counts as free (bundles carry no allocation
    state). The chosen host is Nova's PCIWeigher pick; ties go to the host
    where the request fits on one NUMA node, then to the host name.

    With --placement-url or --os-cloud, as Nova with pci_in_placement: the
    candidates of GET /allocation_candidates (Nova's PCI request groups),
    filtered with the same core; with --db --claim, the claim is also
    written to Placement (docs/placement.md).
    """
    # Imported here, not above: pcipass --help imports every command module, and the
    # scheduler with its scan and config reading adds about 150 ms to it.
    from pcipass.adapters import hostroot, lspcifile
    from pcipass.services import scan as scan_mod
    from pcipass.services import schedule
    from pcipass.services.jsonview import to_json

    if db_url is not None or claim:
        from pcipass.cli import commands_claims  # the store's claims, ~500 ms: --db --claim only

        if hosts or lspci or compute_conf:
            raise click.UsageError("--db schedules over the store: no --host, --lspci or "
                                   "--compute-conf")
        if not claim or db_url is None:
            raise click.UsageError("--db and --claim go together: pcipass schedule --db URL "
                                   "--claim --consumer UUID --flavor F.json")
        if placement_url is not None or os_cloud is not None:  # the claim mirrored in Placement
            from pcipass.cli import commands_claimplacement  # ~750 ms, with its services

            return commands_claimplacement.schedule_claim(
                db_url, consumer, flavors, ports, nova_conf, image, instance_numa_nodes, lease,
                fmt, placement=(placement_url, os_cloud, token, timeout))
        return commands_claims.schedule_claim(db_url, consumer, flavors, ports, nova_conf, image,
                                              instance_numa_nodes, lease, fmt)
    if not hosts and not lspci:
        raise click.UsageError("give at least one --host ROOT or --lspci FILE")
    through: dict[str, Any] = {}
    if placement_url is not None or os_cloud is not None:
        through = _placement_fleet(placement_url, os_cloud, token, timeout)
        if not through:
            return climain.EXIT_FAIL
    try:
        report = schedule.schedule_flavors(flavors, hosts, lspci=lspci, nova_conf=nova_conf,
                                           compute_conf=compute_conf, image=image, ports=ports,
                                           instance_numa_nodes=instance_numa_nodes, jobs=jobs,
                                           facts_cache=(scan_mod.CACHE_IGNORE if no_facts_cache
                                                        else scan_mod.CACHE_USE), **through)
    except (hostroot.HostRootInvalid, lspcifile.LspciInputInvalid) as exc:
        output.echo_err(f"pcipass schedule: {exc.message}")
        return climain.EXIT_FAIL
    name_options(report)
    output.emit(to_json(report), fmt, render_schedule, rows=schedule_rows)
    return climain.EXIT_OK if report.valid else climain.EXIT_FAIL


def _placement_fleet(placement_url: str | None, os_cloud: str | None, token: str | None,
                     timeout: float) -> dict[str, Any]:
    """``fleet=`` answering through Placement; empty (the error printed) when it cannot."""
    from pcipass.services import scheduleplacement  # ~220 ms (the Placement client): --help skips it

    try:
        client = placement_cli.connect(placement_url, os_cloud, token, timeout, "schedule")
        return {"fleet": scheduleplacement.fleet_factory(client)}
    except errors.InputError as exc:
        output.echo_err(f"pcipass schedule: {exc.message}")
        if exc.hint:
            output.echo_err(f"  fix: {exc.hint}")
        return {}


def name_options(report: schedule_svc.ScheduleReport) -> None:
    """Word the core's port and pinning errors and reasons with this command's option names.

    The core speaks of "a port request" and "the instance pinned to NUMA nodes"; the
    operator typed ``--port`` and ``--instance-numa-nodes``.
    """
    for res in report.results:
        if res.cause is not None and res.error is not None:
            res.error = _worded_problem(res.cause, res.error)
        if res.ranking is not None:
            res.ranking = dataclasses.replace(
                res.ranking, hosts=tuple(dataclasses.replace(h, reasons=tuple(
                    _worded_reason(r) for r in h.reasons)) for h in res.ranking.hosts))


def _worded_problem(cause: errors.PcipassError, problem: errors.Problem) -> errors.Problem:
    # The core is imported here and in _worded_reason, not above, for pcipass --help (which
    # imports every command module): pcipass.core.schedule adds about 50 ms to it.
    from pcipass.core import numa
    from pcipass.core.schedule import ports

    kw = cause.kwargs
    if isinstance(cause, ports.InvalidPortRequest):
        hint = f"e.g. --port {kw['example']}" if "example" in kw else problem.hint
        return dataclasses.replace(problem, hint=hint,
                                   message=f"Invalid --port value {kw['value']!r}: {kw['reason']}")
    if isinstance(cause, numa.InstanceNumaNodesMismatch):
        return dataclasses.replace(problem, message=(
            f"--instance-numa-nodes lists {kw['given']:d} node(s) but the flavor asks for "
            f"hw:numa_nodes={kw['nodes']:d}"))
    if isinstance(cause, numa.PinnedNodesRepeated):
        return dataclasses.replace(problem, hint="e.g. --instance-numa-nodes 0,1", message=(
            f"pcipass cannot model this instance NUMA layout: --instance-numa-nodes "
            f"{kw['pinned']} must name distinct host nodes"))
    return problem


def _worded_reason(reason: verdicts.Reason) -> verdicts.Reason:
    from pcipass.core.schedule import verdicts

    if isinstance(reason, verdicts.PinnedNodesUnknown):
        return dataclasses.replace(reason, message=(
            f"--instance-numa-nodes names node(s) {','.join(map(str, reason.unknown))}; "
            f"this host has NUMA node(s) {reason.host_nodes}"))
    return reason


def _devices_text(devices: list[dict[str, Any]]) -> str:
    if not devices:
        return "-"
    return "\n".join(f"{d['address']} {d['dev_type'] or ''} NUMA {d['numa_node']}"
                     f" ({d['alias_name'] or 'port'})" for d in devices)


def render_schedule(doc: dict[str, Any], con: rich.console.Console) -> None:
    # rich only for the table: -f json, the scripted form, skips its ~13 ms.
    import rich.table
    import rich.text

    for res in doc["results"]:
        head = rich.text.Text.assemble(("flavor ", "bold"), (res["flavor"], "bold cyan"))
        con.print(head)
        if res["error"]:
            commands_config.render_problems(con, "Refused before scheduling", [res["error"]], "red")
            continue
        for q in res["requests"]:
            what = ", ".join(f"{k}={v}" for s in q["specs"] for k, v in s.items())
            con.print(f"  asks {q['count']} × {q['alias_name'] or 'Neutron port'} "
                      f"(numa_policy {q['numa_policy'] or 'legacy'}): {what}", markup=False)
        if not res["requests"]:
            con.print("  asks no PCI device")
        if res.get("placement"):  # schedule --placement-url / --os-cloud
            pl = res["placement"]
            con.print(f"  Placement {pl['placement']} (microversion {pl['microversion']}): "
                      f"{pl['candidates']} allocation candidate(s) for "
                      f"GET /allocation_candidates?{pl['query']}", markup=False)
        chosen = res["chosen_host"]
        fits = sum(1 for h in res["hosts"] if h["fits"])
        con.print(rich.text.Text.assemble(
            "  chosen host: ", (chosen or "none — Nova would answer 'No valid host was found'",
                                "bold green" if chosen else "bold red"),
            f"   ({fits} of {len(res['hosts'])} host(s) fit)"))
        t = rich.table.Table(show_lines=False)
        for col in ("host", "fits", "instance NUMA", "devices", "weight"):
            t.add_column(col, overflow="fold")
        for h in res["hosts"]:
            nodes = h["instance_numa_nodes"]
            t.add_row(h["name"], "yes" if h["fits"] else "NO",
                      "-" if nodes is None else ",".join(map(str, nodes)),
                      _devices_text(h["devices"]), f"{h['weight']:.2f}")
        if res["hosts"]:
            con.print(t)
        for h in res["hosts"]:
            if not h["reasons"]:
                continue
            con.print(rich.text.Text.assemble(("  why not ", "bold"), (h["name"], "bold yellow")
                                              if not h["fits"] else (h["name"], "bold")))
            for r in h["reasons"]:
                con.print(rich.text.Text.assemble(("    [", ""), (r["layer"], "magenta"), ("] ", ""),
                                                  r["message"]))
                for ev in r["evidence"][:3]:
                    con.print(f"        {ev['source']}: {ev['value']}", markup=False)
        commands_config.render_problems(con, "Warnings", res.get("warnings", []), "yellow")


SCHEDULE_COLUMNS = ("flavor", "host", "fits", "chosen", "weight", "instance_numa_nodes",
                    "devices", "reasons", "first_reason")


def schedule_rows(doc: dict[str, Any]) -> listing.Listing:
    """One row per flavor and host: does it fit, is it Nova's choice, and why not."""
    return listing.Listing(SCHEDULE_COLUMNS, (
        [r["flavor"], h["name"], h["fits"], h["name"] == r.get("chosen_host"), h.get("weight"),
         h.get("instance_numa_nodes"), [d["address"] for d in h.get("devices", [])],
         len(h.get("reasons", [])), h["reasons"][0]["message"] if h.get("reasons") else None]
        for r in doc["results"] for h in r.get("hosts", [])))
