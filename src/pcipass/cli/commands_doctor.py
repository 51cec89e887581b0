"""``pcipass doctor`` and ``pcipass doctor checks``."""

from __future__ import annotations

import difflib
import json
from typing import Any

import click
import rich.console
import rich.table
import rich.text

from pcipass.adapters import hostroot, kernelpaste, lspcifile
from pcipass.adapters import nodedev as nodedev_mod
from pcipass.cli import doctor_formats, listing, output
from pcipass.cli import main as climain
from pcipass.core.severity import Severity
from pcipass.doctor import registry, runner
from pcipass.services import pastejoin, scan
from pcipass.services.doctor import gather, report
from pcipass.services.jsonview import to_json

SEVERITY_STYLE = {Severity.FAIL: "bold red", Severity.WARN: "yellow", Severity.INFO: "cyan",
                  Severity.SKIP: "dim"}
MARK = {Severity.FAIL: "✗", Severity.WARN: "!", Severity.INFO: "i", Severity.SKIP: "-"}


@climain.cli.group("doctor", invoke_without_command=True)
@click.option("--host", "hosts", multiple=True, metavar="ROOT",
              help="Host root, bundle directory or .tar.gz bundle; repeatable. Default: the live host /.")
@click.option("--lspci", "lspci", multiple=True, type=climain.existing_file(),
              help="A host known only from an lspci paste (named after the file); repeatable.")
@climain.paste_options(nodedev_dest="nodedev")
@click.option("--nova-conf", "nova_conf", multiple=True, type=climain.existing_file(),
              help="The controller's nova.conf (aliases, scheduler options); repeat to merge in order.")
@click.option("--compute-conf", "compute_conf", multiple=True, type=climain.existing_file(),
              help="nova.conf replacing every host's compute config (e.g. for an lspci paste).")
@click.option("--sriov-agent-conf", "sriov_agent_conf", multiple=True, type=climain.existing_file(),
              metavar="FILE", help="The Neutron SR-IOV agent's sriov_agent.ini: one for every host, or one per "
              "host in --host order (default: the host root's etc/neutron/plugins/ml2/sriov_agent.ini).")
@click.option("--flavor", "flavors", multiple=True, type=climain.existing_file(),
              help="Flavor JSON (openstack flavor show -f json); repeatable.")
@click.option("--image", type=climain.existing_file(),
              help="Image JSON (openstack image show -f json) for image/flavor conflicts.")
@click.option("--placement-url", metavar="URL",
              help="The Placement API, for the Placement checks (PCI-P); see --token.")
@click.option("--os-cloud", metavar="NAME",
              help="A cloud of clouds.yaml whose Placement the Placement checks read (openstacksdk).")
@click.option("--placement", "placement_file", type=climain.existing_file(),
              help="A placement view saved by pcipass placement export, instead of the API.")
@click.option("--token", envvar="OS_TOKEN", metavar="TOKEN",
              help="A Keystone token for --placement-url (env OS_TOKEN); none: noauth2.")
@click.option("--select", "select", multiple=True, metavar="ID-PREFIX",
              help="Run only checks whose id starts with this (PCI-K, PCI-S002); repeatable.")
@click.option("--ignore", "ignore", multiple=True, metavar="ID-PREFIX",
              help="Skip checks whose id starts with this; repeatable.")
@click.option("-j", "--jobs", type=click.IntRange(0, 256), default=0, show_default=True,
              help="Host roots scanned in parallel processes (0: one per CPU for large fleets).")
@climain.no_facts_cache_option()
@climain.format_option("sarif", "junit")
@click.pass_context
def doctor(ctx: click.Context, hosts: tuple[str, ...], lspci: tuple[str, ...], nodedev: tuple[str, ...],
           dmesg: tuple[str, ...],
           cmdline: tuple[str, ...], nova_conf: tuple[str, ...],
           compute_conf: tuple[str, ...], sriov_agent_conf: tuple[str, ...], flavors: tuple[str, ...],
           image: str | None,
           placement_url: str | None, os_cloud: str | None, placement_file: str | None,
           token: str | None,
           select: tuple[str, ...], ignore: tuple[str, ...], jobs: int, no_facts_cache: bool,
           fmt: str) -> int | None:
    """Cross-check kernel, drivers, device_spec/alias, NUMA, flavors and scheduler config; name the broken layer.

    Exit code: 0 nothing wrong, 1 warnings only, 2 failures, 255 internal error.
    """
    if ctx.invoked_subcommand is not None:
        return None
    _check_prefixes(select, ignore)
    if sum(x is not None for x in (placement_url, os_cloud, placement_file)) > 1:
        raise click.UsageError("give one of --placement-url, --os-cloud and --placement FILE")
    inputs = gather.Inputs(hosts=hosts, lspci=lspci, nodedev=nodedev, dmesg=dmesg, cmdline=cmdline,
                           nova_conf=nova_conf, compute_conf=compute_conf,
                           flavors=flavors, image=image, jobs=jobs,
                           facts_cache=scan.CACHE_IGNORE if no_facts_cache else scan.CACHE_USE,
                           placement_url=placement_url, placement_cloud=os_cloud,
                           placement_file=placement_file, placement_token=token,
                           sriov_agent_conf=sriov_agent_conf)
    try:
        diagnosis = report.diagnose(inputs, runner.Selection(select, ignore))
    except pastejoin.PasteJoinAmbiguous as exc:
        raise click.UsageError(exc.message) from exc
    except (hostroot.HostRootInvalid, lspcifile.LspciInputInvalid, kernelpaste.KernelPasteInvalid,
            nodedev_mod.NodedevInputInvalid) as exc:
        output.echo_err(f"pcipass doctor: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        return climain.EXIT_FAIL
    selected = [to_json(c) for c in registry.load_builtin().all() if runner.Selection(select, ignore).wants(c.id)]
    emit(diagnosis.doc, fmt, selected)
    for err in diagnosis.internal_errors:
        output.echo_err(f"pcipass doctor: internal error: {err}")
    return diagnosis.exit_code


def _check_prefixes(select: tuple[str, ...], ignore: tuple[str, ...]) -> None:
    """A --select or --ignore prefix that no check id starts with is a usage error: it would
    silently select nothing (or ignore nothing)."""
    ids = [c.id for c in registry.load_builtin().all()]
    for option, prefixes in (("--select", select), ("--ignore", ignore)):
        for prefix in prefixes:
            if any(i.upper().startswith(prefix.upper()) for i in ids):
                continue
            close = difflib.get_close_matches(prefix.upper(), ids, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else "; pcipass doctor checks lists them"
            raise click.UsageError(f"{option} {prefix}: no check id starts with it{hint}")


def emit(doc: dict[str, Any], fmt: str, checks: list[dict[str, Any]]) -> None:
    if fmt == "sarif":  # JSON: dump_json escapes what is not UTF-8
        click.echo(output.dump_json(doctor_formats.to_sarif(doc, checks)))
    elif fmt == "junit":  # XML 1.0 cannot hold control characters at all: escaped as on a terminal
        click.echo(doctor_formats.to_junit(output.terminal_doc(doc), checks), nl=False)
    else:
        output.emit(doc, fmt, render_doctor, rows=finding_rows)


@doctor.command("checks")
@listing.column_option()
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json", "yaml", "value", "csv",
                                                          "markdown"]),
              default="table", show_default=True, help="Output format.")
def doctor_checks(fmt: str) -> int:
    """List every check: id, layer, title, the facts it needs, and its documentation."""
    doc = report.checks_document(registry.load_builtin())
    if fmt == "markdown":
        click.echo(checks_markdown(doc), nl=False)
    else:
        output.emit(doc, fmt, render_checks, rows=check_rows)
    return climain.EXIT_OK


def checks_markdown(doc: dict[str, Any]) -> str:
    """docs/doctor-checks.md: one section per check (regenerate with `pcipass doctor checks -f markdown`)."""
    lines = ["# Doctor checks", "",
             "Generated by `pcipass doctor checks -f markdown`; do not edit by hand. Ids are stable and",
             "never reused. A check whose facts are missing reports `skip`, never a pass.", ""]
    for c in doc["checks"]:
        lines += [f"## {c['id']}", "", f"**{c['title']}** — layer `{c['layer']}`, runs "
                  f"{'once per run' if c['scope'] == 'global' else 'per host'}, facts: "
                  + ", ".join(f"`{f}`" for f in c["facts"]), "", c["doc"], ""]
    return "\n".join(lines)


# -- rendering -------------------------------------------------------------------------------


def render_checks(doc: dict[str, Any], con: rich.console.Console) -> None:
    t = rich.table.Table(show_lines=True)
    for col in ("id", "layer", "title", "facts", "documentation"):
        t.add_column(col, overflow="fold")
    for c in doc["checks"]:
        t.add_row(c["id"], c["layer"], c["title"], ", ".join(c["facts"]), c["doc"])
    con.print(t)


def render_doctor(doc: dict[str, Any], con: rich.console.Console) -> None:
    """Broken layers first, then the mapping table, then the findings by layer."""
    s = doc["summary"]
    broken = doc.get("broken_layers", [])
    head = rich.text.Text("doctor: ", style="bold")
    if broken or doc.get("first_broken_layer"):
        head.append(headline(broken, doc.get("first_broken_layer")), style="bold red")
    elif s["warn"]:
        head.append("OK with warnings", style="bold yellow")
    else:
        head.append("OK", style="bold green")
    head.append(f"   {s['fail']} fail, {s['warn']} warn, {s['info']} info, {s['skip']} skipped"
                f"   hosts: {', '.join(h['name'] for h in doc['hosts'])}")
    con.print(head)
    _render_broken(doc, con)
    _render_specs(doc["mapping"]["specs"], con)
    _render_aliases(doc["mapping"]["aliases"], con)
    _render_flavors(doc["mapping"]["flavors"], con)
    _render_findings(doc["findings"], con)


def headline(broken: list[str], lead: str | None) -> str:
    """``BROKEN: numa first (flavor table); kernel > numa``: the flavor table's first broken layer
    leads, then every failing layer in contracts §3 order."""
    if lead is None or (broken and broken[0] == lead):
        return "BROKEN: " + " > ".join(broken)
    layers = f"; failing layers: {' > '.join(broken)}" if broken else ""
    return f"BROKEN: {lead} first (the flavor table's first broken layer){layers}"


def _render_broken(doc: dict[str, Any], con: rich.console.Console) -> None:
    for layer in doc.get("broken_layers", []):
        fails = [f for f in doc["findings"] if f["layer"] == layer and f["severity"] == Severity.FAIL]
        if fails:
            con.print(rich.text.Text(f"  {layer}: {len(fails)} failure(s); first: {fails[0]['message']}",
                                     style="red"), overflow="fold")


def _dev(d: dict[str, Any]) -> str:
    return (f"{d['address']} {d['dev_type'] or '?'} drv={d['driver'] or '-'} "
            f"numa={d['numa_node'] if d['numa_node'] is not None else '-'} "
            f"grp={d['iommu_group'] if d['iommu_group'] is not None else '-'}")


def _devices_cell(devs: list[dict[str, Any]], limit: int = 4) -> str:
    lines = [_dev(d) for d in devs[:limit]]
    if len(devs) > limit:
        lines.append(f"... {len(devs) - limit} more")
    return "\n".join(lines) or "-"


def _render_specs(rows: list[dict[str, Any]], con: rich.console.Console) -> None:
    if not rows:
        return
    t = rich.table.Table(title="device_spec -> devices", title_justify="left", show_lines=True)
    for col in ("host", "#", "spec", "status", "devices (address type driver numa group)"):
        t.add_column(col, overflow="fold")
    for r in rows:
        spec_text = json.dumps({k: r[k] for k in ("vendor_id", "product_id", "address", "devname") if r[k]}
                               | r["tags"])
        status = rich.text.Text(r["status"], style="green" if r["status"] == "MATCHED" else "bold red")
        body = _devices_cell(r["devices"]) if r["devices"] else "\n".join(r["notes"])
        if r["devices"] and r["notes"]:
            body += "\nnote: " + "\n".join(r["notes"])
        t.add_row(r["host"], str(r["index"]), spec_text, status, body)
    con.print(t)


def _render_aliases(rows: list[dict[str, Any]], con: rich.console.Console) -> None:
    if not rows:
        return
    t = rich.table.Table(title="alias -> specs -> devices", title_justify="left", show_lines=True)
    for col in ("alias", "type / policy", "host", "device_spec #", "devices"):
        t.add_column(col, overflow="fold")
    for a in rows:
        kind = f"{a['device_type'] or '-'} / {a['numa_policy']}"
        for h in a["hosts"] or [{"host": "-", "device_specs": [], "devices": []}]:
            t.add_row(a["name"], kind, h["host"], ", ".join(map(str, h["device_specs"])) or "-",
                      _devices_cell(h["devices"]) if h["devices"] else "NONE")
    con.print(t)


def _render_flavors(rows: list[dict[str, Any]], con: rich.console.Console) -> None:
    if not rows:
        return
    t = rich.table.Table(title="flavor -> hosts", title_justify="left", show_lines=True)
    for col in ("flavor", "requests", "host", "fits / first broken layer"):
        t.add_column(col, overflow="fold")
    for fl in rows:
        reqs = ", ".join(f"{r['alias_name']}:{r['count']} ({r['numa_policy']})" for r in fl["requests"]) or "-"
        for h in fl["hosts"]:
            name = h["name"] + (" (chosen)" if h["name"] == fl.get("chosen_host") else "")
            t.add_row(fl["flavor"], reqs, name, flavor_host_cell(h))
    con.print(t)


def flavor_host_cell(h: dict[str, Any]) -> rich.text.Text:
    """"fits on NUMA 0 with devices ..." or "first broken layer: numa — <reason>"."""
    if h["fits"]:
        nodes = h.get("instance_numa_nodes")
        where = f"on NUMA {','.join(map(str, nodes))}" if nodes else "(no guest NUMA topology)"
        devs = ", ".join(f"{d['address']} (numa {d['numa_node'] if d['numa_node'] is not None else '-'})"
                         for d in h.get("devices", []))
        return rich.text.Text(f"fits {where}" + (f" with devices {devs}" if devs else ""), style="green")
    layer = h.get("first_broken_layer")
    if layer is None:
        return rich.text.Text("not evaluated (no NUMA/CPU facts for this host)", style="dim")
    reasons = h.get("reasons") or []
    why = f" — {reasons[0]['message']}" if reasons else ""
    return rich.text.Text(f"first broken layer: {layer}{why}", style="red")


def _render_findings(findings: list[dict[str, Any]], con: rich.console.Console) -> None:
    shown = [f for f in findings if f["severity"] != Severity.SKIP]
    layer = None
    for f in shown:
        if f["layer"] != layer:
            layer = f["layer"]
            con.print(rich.text.Text(layer.upper(), style="bold"))
        con.print(rich.text.Text.assemble(
            (f"  {MARK[f['severity']]} {f['severity'].upper():4} ", SEVERITY_STYLE[f["severity"]]),
            (f["id"], "bold"), f"  {f['host'] or '*'}  {f['subject']}"))
        con.print(f"      {f['message']}", markup=False, highlight=False)
        for e in f["evidence"][:6]:
            where = e["source"] + (f":{e['line']}" if e.get("line") else "")
            con.print(f"      evidence: {where} = {e['value']}", markup=False, highlight=False)
        if f.get("fix"):
            con.print(rich.text.Text(f"      fix: {f['fix']}", style="green"))
    skipped = [f for f in findings if f["severity"] == Severity.SKIP]
    if skipped:
        ids = sorted({f["id"] for f in skipped})
        con.print(rich.text.Text(f"skipped ({len(skipped)}): {', '.join(ids)} (facts missing; -f json says why)",
                                 style="dim"))


FINDING_COLUMNS = ("id", "layer", "severity", "host", "subject", "message", "fix")


def finding_rows(doc: dict[str, Any]) -> listing.Listing:
    """doctor: one row per finding."""
    return listing.Listing(FINDING_COLUMNS, ([f.get(c) for c in FINDING_COLUMNS]
                                             for f in doc["findings"]))


CHECK_COLUMNS = ("id", "layer", "scope", "title", "facts")


def check_rows(doc: dict[str, Any]) -> listing.Listing:
    """doctor checks: one row per check."""
    return listing.Listing(CHECK_COLUMNS, ([c.get(k) for k in CHECK_COLUMNS]
                                           for c in doc["checks"]))
