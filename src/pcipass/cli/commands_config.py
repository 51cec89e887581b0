"""``pcipass config check`` and ``pcipass flavor explain``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pcipass.cli import main as climain
from pcipass.cli import listing, output
from pcipass.services import configcheck, flavorexplain
from pcipass.services.jsonview import to_json

# NOTE: the services are imported here, since config check and flavor explain run them; the
# renderers import rich (rich.text ~7 ms, with rich.table ~14 ms) themselves, so -f json
# never loads it (min of 3 cold imports on the 2-CPU VM, on top of this module's own).

if TYPE_CHECKING:
    import rich.console

# NOTE: this module loads only for `config` and `flavor` (cli.main.LazyGroup), which both
# need the services above; rich loads in the renderers, which `-f json` never calls.


@climain.cli.group("config")
def config_group() -> None:
    """Check Nova PCI configuration ([pci] device_spec, alias, scheduler options)."""


@config_group.command("check")
@click.option("--nova-conf", "nova_conf", multiple=True, type=climain.existing_file(),
              help="nova.conf to read; repeat to merge in order, as oslo.config does.")
@click.option("--config-dir", "config_dirs", multiple=True,
              type=click.Path(exists=True, file_okay=False),
              help="A nova.conf.d directory (*.conf read in sorted order after the files).")
@click.option("--sriov-agent-conf", type=climain.existing_file(),
              help="The Neutron SR-IOV agent ini (sriov_agent.ini).")
@climain.format_option()
def config_check(nova_conf: tuple[str, ...], config_dirs: tuple[str, ...],
                 sriov_agent_conf: str | None, fmt: str) -> int:
    """Read nova.conf exactly as Nova does and report every problem with its file and line."""
    if not nova_conf and not config_dirs:
        raise click.UsageError("give at least one --nova-conf FILE (or --config-dir DIR)")
    view = configcheck.load_config(nova_conf, sriov_agent_conf=sriov_agent_conf,
                                   config_dirs=config_dirs)
    doc = to_json(view)
    output.emit(doc, fmt, render_config, rows=problem_rows)
    if doc["errors"]:
        return climain.EXIT_FAIL
    return climain.EXIT_WARN if doc["warnings"] else climain.EXIT_OK


@climain.cli.group("flavor")
def flavor_group() -> None:
    """Explain what a flavor asks of PCI passthrough."""


@flavor_group.command("explain")
@click.option("--nova-conf", "nova_conf", multiple=True, type=climain.existing_file(),
              help="nova.conf with the [pci] alias definitions (the controller's view).")
@click.option("--flavor", "flavors", multiple=True, required=True, type=climain.existing_file(),
              help="Flavor JSON (openstack flavor show -f json, or the API's). Repeatable.")
@click.option("--image", type=climain.existing_file(),
              help="Image JSON (openstack image show -f json) for hw_pci_numa_affinity_policy.")
@climain.format_option()
def flavor_explain(nova_conf: tuple[str, ...], flavors: tuple[str, ...], image: str | None,
                   fmt: str) -> int:
    """Turn flavors into the PCI requests Nova would make, or say why Nova refuses them."""
    report = flavorexplain.explain_flavors(flavors, nova_conf=nova_conf, image=image)
    doc = to_json(report)
    output.emit(doc, fmt, render_flavors, rows=flavor_rows)
    return climain.EXIT_OK if report.valid else climain.EXIT_FAIL


# -- rendering -----------------------------------------------------------------------------


def _where(p: dict[str, Any]) -> str:
    parts = []
    if p.get("file"):
        parts.append(str(p["file"]) + (f":{p['line']}" if p.get("line") else ""))
    if p.get("entry"):
        parts.append(str(p["entry"]))
    return " ".join(parts) or "-"


def render_problems(con: rich.console.Console, title: str, problems: list[dict[str, Any]],
                    style: str) -> None:
    import rich.text

    if not problems:
        return
    con.print(rich.text.Text(f"{title} ({len(problems)})", style=f"bold {style}"))
    for p in problems:
        con.print(rich.text.Text.assemble(("  " + ("✗" if style == "red" else "!") + " ", style),
                                          (p["code"], "bold"), "  ", (_where(p), "cyan")))
        con.print(f"    {p['message']}", markup=False, highlight=False)
        if p.get("hint"):
            con.print(rich.text.Text(f"    fix: {p['hint']}", style="green"))


def _tags(tags: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in tags.items()) or "-"


def render_config(doc: dict[str, Any], con: rich.console.Console) -> None:
    import rich.table
    import rich.text

    n_err, n_warn = len(doc["errors"]), len(doc["warnings"])
    verdict = ("VALID" if not n_err else "INVALID") + (f", {n_warn} warning(s)" if n_warn else "")
    con.print(rich.text.Text.assemble(("config check: ", "bold"),
                                      (verdict, "bold green" if not n_err else "bold red"),
                                      f"  ({len(doc['files'])} file(s))"))
    for f in doc["files"]:
        con.print(f"  {f}", markup=False)
    for nn in doc.get("not_nova_conf", []):
        con.print(f"  {nn['file']}: not a nova.conf ({nn['kind']}: {nn['reason']})", markup=False)
        for frag in nn.get("fragments", []):
            a, b = frag["lines"]
            state = "valid" if frag["valid"] else "INVALID"
            con.print(f"    fragment at lines {a}-{b}: {state}, {frag['device_specs']} device_spec, "
                      f"{frag['aliases']} alias", markup=False)
            for p in frag["errors"] + frag["warnings"]:
                con.print(f"      {p['code']} {_where(p)}: {p['message']}", markup=False)
    if doc["device_specs"]:
        t = rich.table.Table(title="[pci] device_spec", title_justify="left", show_lines=False)
        for col in ("#", "source", "vendor:product", "address / devname", "tags"):
            t.add_column(col, overflow="fold")
        for s in doc["device_specs"]:
            src = s["source"]
            where = f"{src['file']}:{src['line']}" if src.get("line") else str(src.get("file"))
            if src.get("item") is not None:
                where += f" item {src['item']}"
            addr = s["devname"] and f"devname {s['devname']}" or str(s["address"])
            t.add_row(str(s["index"]), where, f"{s['vendor_id']}:{s['product_id']}", addr,
                      _tags(s["tags"]))
        con.print(t)
    elif not n_err:
        con.print("[pci] device_spec: none (no device is assignable on a compute with this config)")
    if doc["aliases"]:
        t = rich.table.Table(title="[pci] alias", title_justify="left")
        for col in ("name", "numa_policy", "device_type", "specs"):
            t.add_column(col, overflow="fold")
        for a in doc["aliases"]:
            specs = "; ".join(_tags(s) for s in a["specs"])
            t.add_row(a["name"], str(a["numa_policy"]), str(a.get("device_type") or "-"), specs)
        con.print(t)
    if doc.get("modern_equivalent"):
        render_modern(con, doc["modern_equivalent"])
    render_problems(con, "Errors", doc["errors"], "red")
    render_problems(con, "Warnings", doc["warnings"], "yellow")


def render_modern(con: rich.console.Console, modern: dict[str, Any]) -> None:
    import rich.text

    con.print(rich.text.Text("Modern equivalent of the 2013 label configuration "
                             "(Nova ignores pci_passthrough_devices today)", style="bold"))
    blocks = (("# every compute with these labels: nova.conf", modern.get("compute_conf")),
              ("# nova-api / nova-scheduler: nova.conf", modern.get("controller_conf")))
    for title, text in blocks:
        if text:
            con.print(f"  {title}", markup=False)
            for line in str(text).rstrip("\n").splitlines():
                con.print(f"    {line}", markup=False)
    for flavor, specs in (modern.get("flavor_extra_specs") or {}).items():
        for key, value in specs.items():
            con.print(f"  openstack flavor set {flavor} --property {key}={value}", markup=False)


def render_flavors(doc: dict[str, Any], con: rich.console.Console) -> None:
    import rich.table
    import rich.text

    if doc.get("config_errors"):
        render_problems(con, "Config errors", doc["config_errors"], "red")
    for r in doc["results"]:
        head = rich.text.Text.assemble(("flavor ", "bold"), (r["flavor"], "bold cyan"))
        if r["error"]:
            head.append("  REFUSED", style="bold red")
        con.print(head)
        if r["error"]:
            render_problems(con, "Error", [r["error"]], "red")
            continue
        if not r["requests"]:
            con.print("  no PCI devices requested")
        t = rich.table.Table(show_header=True)
        for col in ("alias", "count", "numa_policy", "matches devices with (any of)"):
            t.add_column(col, overflow="fold")
        for q in r["requests"]:
            t.add_row(str(q["alias_name"]), str(q["count"]), str(q["numa_policy"]),
                      "\n".join(_tags(s) for s in q["specs"]))
        if r["requests"]:
            con.print(t)
        con.print(f"  hw:numa_nodes: {r['numa_nodes'] if r['numa_nodes'] is not None else '-'}"
                  f"   PCI NUMA policy (flavor/image): {r.get('numa_policy') or '-'}")
        render_problems(con, "Warnings", r.get("warnings", []), "yellow")


PROBLEM_COLUMNS = ("severity", "code", "file", "line", "value_index", "entry", "message", "hint")


def problem_rows(doc: dict[str, Any]) -> listing.Listing:
    """config check: one row per error, then per warning."""
    return listing.Listing(PROBLEM_COLUMNS, (
        [severity, *(p.get(c) for c in PROBLEM_COLUMNS[1:])]
        for severity, key in (("error", "errors"), ("warning", "warnings")) for p in doc[key]))


FLAVOR_COLUMNS = ("flavor", "file", "alias_name", "count", "numa_policy", "error")


def flavor_rows(doc: dict[str, Any]) -> listing.Listing:
    """flavor explain: one row per PCI request (a flavor asking none, or refused, has one row
    with no alias; ``error`` is the refusal's code)."""
    rows = []
    for r in doc["results"]:
        code = r["error"]["code"] if r.get("error") else None
        reqs = r["requests"] or [{"alias_name": None, "count": 0, "numa_policy": None}]
        rows += [[r["flavor"], r.get("file"), q["alias_name"], q["count"], q["numa_policy"], code]
                 for q in reqs]
    return listing.Listing(FLAVOR_COLUMNS, rows)
