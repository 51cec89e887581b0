"""``pcipass scan``: the PCI devices of hosts, and which of them Nova would pass through."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from pcipass.cli import main as climain
from pcipass.cli import listing, output
from pcipass.core import errors

# NOTE: scan imports its services itself (scan with pastejoin, ~100 ms), so pcipass scan --help
# and usage errors skip them; the table's rich (rich.text ~10 ms, rich.table ~15 ms,
# rich.cells ~1 ms) is never loaded by -f json (min of 3 cold imports on the 2-CPU VM, on top
# of this module's own).

if TYPE_CHECKING:
    import rich.console
    import rich.table

#: More VFs than this under one PF are shown as one summary row (unless --all-vfs).
COLLAPSE_VFS_OVER = 8
MAX_LISTED_WARNINGS = 10
NAME_WIDTH = 32
MIN_FLEX = len("passthrough")


@climain.cli.command("scan")
@click.option("--host", "hosts", multiple=True, metavar="ROOT",
              help="A host root: / (the live host), a directory, or a .tar.gz bundle. Repeat to "
                   "scan a fleet. Default: / when neither --host nor --lspci is given.")
@click.option("--lspci", "lspci_files", multiple=True, metavar="FILE", type=climain.input_path(),
              help="lspci -nnk / -vmmnnkD / -nnvvv output standing for a host (named after the "
                   "file's stem). Repeatable.")
@climain.paste_options()
@click.option("--nova-conf", "nova_conf", multiple=True, type=climain.existing_file(),
              help="The controller's nova.conf: its [pci] alias values are added after the "
                   "compute config's and its [filter_scheduler] options win. Repeatable.")
@click.option("--compute-conf", "compute_conf", multiple=True, type=climain.existing_file(),
              help="nova.conf replacing every host's own etc/nova/ compute config (merged in "
                   "order). Repeatable.")
@click.option("--all-vfs", is_flag=True,
              help=f"List every VF in the table (default: more than {COLLAPSE_VFS_OVER} VFs of a "
                   "PF are summarized in one row).")
@click.option("--save-facts", is_flag=True,
              help="Write each host root directory's facts.json (contracts §1) from a fresh "
                   "sysfs read, so later scans, schedules and doctor runs skip the walk. Never "
                   "for the live / or a .tar.gz.")
@climain.no_facts_cache_option()
@click.option("-j", "--jobs", type=click.IntRange(0, 256), default=0, show_default=True,
              help="Host roots scanned in parallel processes (0: one per CPU for large fleets).")
@climain.format_option()
def scan_command(hosts: tuple[str, ...], lspci_files: tuple[str, ...], nodedevs: tuple[str, ...],
                 dmesg: tuple[str, ...],
                 cmdline: tuple[str, ...], nova_conf: tuple[str, ...],
                 compute_conf: tuple[str, ...], all_vfs: bool, save_facts: bool, no_facts_cache: bool,
                 jobs: int, fmt: str) -> int:
    """Read the PCI devices of hosts and match each against its own [pci] device_spec.

    A host's compute config is its root's etc/nova/nova.conf followed by
    etc/nova/nova.conf.d/*.conf, unless --compute-conf is given.

    Exit 0 when the scan printed, 2 when an input is invalid: a host path that
    is not a root or bundle, an lspci file without devices, or a host whose
    config has errors (its devices are still listed).
    """
    from pcipass.services import pastejoin, scan
    from pcipass.services.jsonview import to_json

    if not (hosts or lspci_files or nodedevs or dmesg or cmdline):
        hosts = ("/",)
    if save_facts and no_facts_cache:
        raise click.UsageError("--save-facts already reads sysfs afresh; drop --no-facts-cache")
    mode = scan.CACHE_SAVE if save_facts else scan.CACHE_IGNORE if no_facts_cache else scan.CACHE_USE
    try:
        report = scan.scan_hosts(hosts, lspci=lspci_files, nova_conf=nova_conf,
                                 compute_conf=compute_conf, jobs=jobs, facts_cache=mode,
                                 dmesg=dmesg, cmdline=cmdline, nodedevs=nodedevs)
    except pastejoin.PasteJoinAmbiguous as exc:
        raise click.UsageError(exc.message) from exc
    except errors.InputError as exc:
        output.echo_err(f"pcipass scan: {exc.message}")
        if exc.hint:
            output.echo_err(f"  fix: {exc.hint}")
        return climain.EXIT_FAIL
    if save_facts:
        saved = sum(1 for h in report.hosts if h.kind == scan.KIND_DIRECTORY)
        output.echo_err(f"pcipass scan: saved facts.json in {saved} host root(s)")
    _emit(to_json(report), fmt, all_vfs)
    return climain.EXIT_OK if report.valid else climain.EXIT_FAIL


def _emit(doc: dict[str, Any], fmt: str, all_vfs: bool) -> None:
    # NOTE: -f json, the common scripted case, loads neither rich nor yaml.
    output.emit(doc, fmt, lambda d, con: render_scan(d, con, all_vfs=all_vfs), rows=scan_rows)


SCAN_COLUMNS = ("host", "address", "vendor_id", "product_id", "dev_type", "parent_addr",
                "numa_node", "driver", "iommu_group", "passthrough", "spec_index", "name")


def scan_rows(doc: dict[str, Any]) -> listing.Listing:
    """One row per device of every host."""
    return listing.Listing(SCAN_COLUMNS, (
        [h["name"], *(d.get(c) for c in SCAN_COLUMNS[1:])]
        for h in doc["hosts"] for d in h["devices"]))


# -- rendering ------------------------------------------------------------------------------


def render_scan(doc: dict[str, Any], con: rich.console.Console, *, all_vfs: bool = False) -> None:
    """Per host: a header with kernel and config facts, the device table, then problems."""
    for n, host in enumerate(doc["hosts"]):
        if n:
            con.print()
        _render_header(con, host)
        con.print(device_table(host, all_vfs=all_vfs, width=con.width))
        _render_notes(con, host)


def _render_header(con: rich.console.Console, host: dict[str, Any]) -> None:
    import rich.text

    title = rich.text.Text.assemble((host["name"], "bold cyan"), f"  ({host['kind']} {host['root']})")
    if host.get("nova_host") and host["nova_host"] != host["name"]:
        title.append(f"  Nova host name: {host['nova_host']}")
    if host.get("facts_from") == "facts.json":
        title.append("  facts from facts.json (--no-facts-cache reads sysfs)", "yellow")
    con.print(title)
    con.print("  " + kernel_line(host), markup=False, highlight=False)
    if host.get("numa") and host["numa"]["cells"]:
        cells = ", ".join(f"node{c['id']} cpus {_cpus(c['cpus'])}" for c in host["numa"]["cells"])
        con.print(f"  NUMA: {cells}", markup=False, highlight=False)
    con.print("  " + config_line(host), markup=False, highlight=False)


def kernel_line(host: dict[str, Any]) -> str:
    """``kernel 6.1.0 · IOMMU on (12 groups) · cmdline intel_iommu=on iommu=pt · vfio-pci module``."""
    k = host["kernel"]
    if host["kind"] == "lspci" and k.get("cmdline") is None and not k.get("dmesg_source"):
        return "kernel: unknown (lspci paste)"
    parts = [f"kernel {k['release'] or 'unknown'}"]
    mode = (k.get("iommu_mode") or {}).get("mode", "unknown")
    if k["iommu_present"]:
        groups = f"{k['iommu_groups']} groups" if k["iommu_groups"] is not None else "groups in dmesg"
        parts.append(f"IOMMU on ({groups}, {mode})")
    elif k["iommu_present"] is None:
        parts.append(f"IOMMU {mode} (no sysfs)")
    else:
        parts.append("IOMMU off (no IOMMU groups)")
    cmd = k.get("cmdline")
    if cmd is None:
        parts.append("cmdline unknown")
    else:
        flags = [f"{key}={cmd[key]}" for key in ("intel_iommu", "amd_iommu", "iommu") if cmd[key]]
        if cmd["vfio_pci_ids"]:
            flags.append("vfio-pci.ids=" + ",".join(cmd["vfio_pci_ids"]))
        parts.append("cmdline " + (" ".join(flags) if flags else "has no IOMMU flags"))
    parts.append(f"vfio-pci {k['vfio_pci'] or 'unknown'}")
    return " · ".join(parts)


def config_line(host: dict[str, Any]) -> str:
    """``config: etc/nova/nova.conf: valid, 4 of 14 devices assignable``."""
    cfg = host["config"]
    files = ", ".join(cfg["files"])
    n_err = len(cfg["errors"])
    state = "valid" if not n_err else f"INVALID ({n_err} error{'s' if n_err > 1 else ''})"
    if cfg["compute_starts"] is None:
        head = f"config: {files}: {state}, " if files else "config: "
        return head + "no compute config, so nothing is assignable"
    if cfg["compute_starts"] is False:
        return f"config: {files}: {state}: nova-compute would not start, so nothing is assignable"
    assignable = sum(1 for d in host["devices"] if d["passthrough"])
    return f"config: {files}: {state}, {assignable} of {len(host['devices'])} devices assignable"


def _cpus(cpus: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``0-2,5``."""
    runs: list[list[int]] = []
    for cpu in cpus:
        if runs and runs[-1][1] == cpu - 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs) or "-"


COLUMNS = ("address", "ids", "name", "type", "driver", "NUMA", "IOMMU", "passthrough")


def device_table(host: dict[str, Any], *, all_vfs: bool = False,
                 width: int = 120) -> rich.table.Table:
    """The device table: each PF followed by its VFs (indented, or one summary row).

    Every device is one line: address, IDs, type, driver, NUMA and group keep
    their full width; the name and the passthrough tags share what is left
    (cut with an ellipsis; ``-f json`` has them whole).
    """
    import rich.box
    import rich.table

    rows = list(table_rows(host, all_vfs=all_vfs))
    widths = column_widths([r for r, _ in rows], width)
    table = rich.table.Table(show_header=True, header_style="bold", box=rich.box.SIMPLE_HEAD,
                             padding=(0, 1, 0, 0), show_edge=False)
    for col, w in zip(COLUMNS, widths):
        table.add_column(col, no_wrap=True, overflow="ellipsis", width=w,
                         min_width=w if col in NEVER_CUT else None)
    for row, style in rows:
        table.add_row(*row, style=style)
    return table


#: Columns never cut, whatever the width: a cut address or id is a wrong one.
NEVER_CUT = ("address", "ids", "NUMA", "IOMMU")
TINY = 3
#: How the other columns give way on a narrow terminal: (column, narrowest width), in order.
GIVE_WAY = (("name", MIN_FLEX), ("passthrough", TINY), ("name", TINY), ("type", TINY),
            ("driver", TINY))


def column_widths(rows: list[list[str]], width: int) -> list[int]:
    """Widths that fit ``width``: the name (at most NAME_WIDTH) gives way first (to
    MIN_FLEX), then the passthrough tags, the rest of the name, the type and the driver
    (:data:`GIVE_WAY`); addresses, ids, NUMA node and IOMMU group
    keep their full width (the table grows past ``width`` rather than cut them)."""
    import rich.cells

    natural = [max([len(col), *(rich.cells.cell_len(r[i]) for r in rows)])
               for i, col in enumerate(COLUMNS)]
    name = COLUMNS.index("name")
    natural[name] = min(natural[name], NAME_WIDTH)
    # one space of padding per column and one of separator between them
    excess = sum(natural) + 2 * len(COLUMNS) - 1 - width
    for col, floor in GIVE_WAY:
        if excess <= 0:
            break
        i = COLUMNS.index(col)
        cut = min(excess, max(0, natural[i] - floor))
        natural[i] -= cut
        excess -= cut
    return natural


def table_rows(host: dict[str, Any], *, all_vfs: bool = False) -> Iterator[tuple[list[str], str | None]]:
    """Rows (cells, style) in display order; VFs follow their PF."""
    devices = host["devices"]
    present = {d["address"] for d in devices}
    children: dict[str, list[dict[str, Any]]] = {}
    for d in devices:
        if d["parent_addr"] in present:
            children.setdefault(d["parent_addr"], []).append(d)
    for d in devices:
        if d["parent_addr"] in present:
            continue
        yield _device_row(d, ""), ("dim" if (d["class"] or "").startswith("06") else None)
        vfs = sorted(children.get(d["address"], []), key=lambda v: (v["vf_index"] is None,
                                                                   v["vf_index"], v["address"]))
        if len(vfs) > COLLAPSE_VFS_OVER and not all_vfs:
            yield _summary_row(vfs), None
        else:
            for i, vf in enumerate(vfs):
                yield _device_row(vf, "└ " if i == len(vfs) - 1 else "├ "), None


_VENDOR_SUFFIX = re.compile(r"^([^, ]+(?: [^, ]+){0,2}?),?(?: (?:Corporation|Corp\.|Technologies|Inc\.?|"
                            r"Co\., Ltd\.|Ltd\.|Limited|Semiconductor|Systems))+ ")


def short_name(name: str | None) -> str:
    """``Intel Corporation Ethernet ...`` -> ``Intel Ethernet ...``: room for the model in the table."""
    return _VENDOR_SUFFIX.sub(r"\1 ", name) if name else "-"


def _device_row(d: dict[str, Any], indent: str) -> list[str]:
    return [indent + d["address"], f"{d['vendor_id']}:{d['product_id']}", short_name(d["name"]),
            _type(d), d["driver"] or ("unbound" if d["dev_type"] is not None else "-"),
            _opt(d["numa_node"]), _opt(d["iommu_group"]), _passthrough(d)]


def _type(d: dict[str, Any]) -> str:
    # the scan loaded the core already; at the top this import would cost every --help ~5 ms
    from pcipass.core import model

    dev_type = d["dev_type"]
    if dev_type == model.TYPE_PF and d["sriov_totalvfs"] is not None:
        numvfs = "?" if d["sriov_numvfs"] is None else d["sriov_numvfs"]
        return f"PF {numvfs}/{d['sriov_totalvfs']} VFs"
    if dev_type == model.TYPE_VF and d["vf_index"] is not None:
        return f"VF {d['vf_index']}"
    return model.device_label(dev_type)


def _passthrough(d: dict[str, Any]) -> str:
    if not d["passthrough"]:
        return "-"
    return f"spec #{d['spec_index']}" + (f" {_tags(d['tags'])}" if d["tags"] else "")


def _tags(tags: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in tags.items())


def _opt(value: Any) -> str:
    return "-" if value is None else str(value)


def _summary_row(vfs: list[dict[str, Any]]) -> list[str]:
    """One row for many VFs: address range, count, and each column's distinct values."""
    ids = _distinct(f"{v['vendor_id']}:{v['product_id']}" for v in vfs)
    names = _distinct(short_name(v["name"]) for v in vfs)
    drivers = Counter(v["driver"] or "unbound" for v in vfs)
    groups = sorted(v["iommu_group"] for v in vfs if v["iommu_group"] is not None)
    matched = Counter(f"spec #{v['spec_index']}" if v["passthrough"] else "no" for v in vfs)
    return [f"└ {address_range(vfs[0]['address'], vfs[-1]['address'])}", ids, names,
            f"{len(vfs)} VFs", " ".join(f"{k}×{n}" for k, n in sorted(drivers.items())),
            _distinct(_opt(v["numa_node"]) for v in vfs),
            (f"{groups[0]}-{groups[-1]}" if len(groups) > 1 else _opt(groups[0] if groups else None)),
            "-" if set(matched) == {"no"} else " ".join(f"{k}×{n}" for k, n in sorted(matched.items()))]


def _distinct(values: Iterator[str] | Any) -> str:
    return ", ".join(dict.fromkeys(values))


def address_range(first: str, last: str) -> str:
    """``0000:81:00.1`` .. ``0000:81:00.4`` -> ``0000:81:00.1-.4`` (the shared prefix said once)."""
    if first == last:
        return first
    cut = 0
    for i, (a, b) in enumerate(zip(first, last)):
        if a != b:
            break
        if a in ":.":
            cut = i
    rest = last[cut:]
    return f"{first}-{rest.lstrip(':')}"


def spec_lines(host: dict[str, Any]) -> list[str]:
    """One line per matched spec entry: where it is written, its tags, how many devices it took."""
    by_index: dict[int, list[dict[str, Any]]] = {}
    for d in host["devices"]:
        if d["passthrough"]:
            by_index.setdefault(d["spec_index"], []).append(d)
    out = []
    for index, devs in sorted(by_index.items()):
        src = devs[0]["spec_source"] or {}
        where = f"{src.get('file')}:{src.get('line')}" if src.get("line") else str(src.get("file"))
        if src.get("item") is not None:
            where += f" item {src['item']}"
        tags = f"  {_tags(devs[0]['tags'])}" if devs[0]["tags"] else ""
        out.append(f"spec #{index}  {where}{tags}  -> {len(devs)} device{'s' if len(devs) > 1 else ''}")
    return out


def _render_notes(con: rich.console.Console, host: dict[str, Any]) -> None:
    cfg = host["config"]
    for line in spec_lines(host):
        con.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    _problems(con, "config errors", cfg["errors"], "red")
    _problems(con, "config warnings", cfg["warnings"], "yellow")
    device_notes = [w for d in host["devices"] for w in d["warnings"]]
    _lines(con, "device warnings", device_notes)
    _lines(con, "host warnings", host["warnings"])


def _problems(con: rich.console.Console, title: str, problems: list[dict[str, Any]], style: str) -> None:
    import rich.text

    if not problems:
        return
    con.print(rich.text.Text(f"  {title} ({len(problems)})", style=f"bold {style}"))
    for p in problems:
        where = f"{p['file']}:{p['line']}" if p.get("file") and p.get("line") else p.get("file") or ""
        con.print(f"    {p['code']} {where}".rstrip() + f": {p['message']}", markup=False,
                  highlight=False, soft_wrap=True)
        if p.get("hint"):
            con.print(rich.text.Text(f"      fix: {p['hint']}", style="green"))


def _lines(con: rich.console.Console, title: str, lines: list[str]) -> None:
    if not lines:
        return
    con.print(f"  {title} ({len(lines)})", markup=False, highlight=False)
    for line in lines[:MAX_LISTED_WARNINGS]:  # unwrapped: paths stay copyable
        con.print(f"    {line}", markup=False, highlight=False, soft_wrap=True)
    if len(lines) > MAX_LISTED_WARNINGS:
        con.print(f"    ... and {len(lines) - MAX_LISTED_WARNINGS} more (see -f json)",
                  markup=False, highlight=False)
