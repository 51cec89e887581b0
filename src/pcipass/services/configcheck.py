"""``config check``: read nova.conf as Nova does, and say more than Nova.

This use case reads files through the adapters, hands the raw values to the
pure core, and puts every problem back at its file and line. ``flavor
explain`` (:mod:`~pcipass.services.flavorexplain`) reads flavors against the
configuration loaded here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from pcipass.adapters import novaprepare, novasnippets, sniff, sriovagent
from pcipass.core import alias as alias_mod
from pcipass.core import codes, config, errors, legacy, model, schedfilters, spec, spec_fields
from pcipass.core import spec_address as addr
from pcipass.services import cpusets, regexbound

Problem = errors.Problem

@dataclasses.dataclass(frozen=True, slots=True)
class NovaFragment:
    """A nova.conf fragment found in a document, checked as a nova.conf of its own.

    :ivar lines: its first and last line in the document.
    :ivar device_specs: how many device_spec entries parsed; ``aliases``: how many aliases.
    """

    lines: tuple[int, int]
    valid: bool
    device_specs: int
    aliases: int
    errors: tuple[Problem, ...]
    warnings: tuple[Problem, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class NotNovaConf:
    """A file given as a nova.conf that is not one (YAML, Jinja, a blog post), and the
    fragments it embeds."""

    file: str
    kind: str
    reason: str
    fragments: tuple[NovaFragment, ...]


@dataclasses.dataclass
class ConfigView:
    """Everything parsed from one set of nova.conf files (plus the SR-IOV agent's).

    Its JSON (``pcipass config check -f json``) is :func:`pcipass.services.jsonview.to_json`.
    """

    nova: config.NovaConfig
    specs: spec.SpecParseResult
    aliases: alias_mod.AliasParseResult
    sriov_agent: config.SriovAgentConfig | None = None
    legacy: legacy.LegacyConfig | None = None
    errors: list[Problem] = dataclasses.field(default_factory=list)
    warnings: list[Problem] = dataclasses.field(default_factory=list)
    not_nova: list[NotNovaConf] = dataclasses.field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def spec_source(self, entry: spec.SpecEntry) -> SpecSource:
        """Where a flattened spec entry was written."""
        ov = _value_at(self.nova.device_spec, entry.value_index)
        return SpecSource(ov.file if ov else None, ov.line if ov else None, entry.item)


@dataclasses.dataclass(frozen=True, slots=True)
class SpecSource:
    """Where a flattened device_spec entry was written: the file and line of its option value,
    and its position in a list value (``item``; None for a single object)."""

    file: str | None
    line: int | None
    item: int | None


def _value_at(values: Sequence[config.OptionValue], index: int | None) -> config.OptionValue | None:
    if index is None or not 0 <= index < len(values):
        return None
    return values[index]


def _locate(problems: Sequence[errors.Problem], values: Sequence[config.OptionValue]) -> list[errors.Problem]:
    """Fill file and line of problems that carry a value index into ``values``."""
    out = []
    for p in problems:
        ov = _value_at(values, p.value_index)
        out.append(p.located(file=ov.file, line=ov.line) if ov is not None else p)
    return out


def load_config(nova_conf: Sequence[str | Path], *, sriov_agent_conf: str | Path | None = None,
                config_dirs: Sequence[str | Path] = (),
                facts: model.HostFacts | None = None) -> ConfigView:
    """Read nova.conf files (merged in order, as oslo.config does) and parse the PCI options.

    A file that is not a nova.conf (YAML, Jinja, a blog post) is reported as
    such; nova.conf fragments embedded in a document are checked one by one
    and listed under ``not_nova_conf[].fragments``.

    :param nova_conf: files merged in order, like repeated ``--config-file``.
    :param sriov_agent_conf: the Neutron SR-IOV agent's ini, if any.
    :param config_dirs: extra ``--config-dir`` directories.
    :param facts: host facts for PF/netdev probes; unknown host when omitted.
    """
    facts = facts if facts is not None else model.HostFacts.unknown()
    not_nova: list[NotNovaConf] = []
    readable: list[str | Path] = []
    pre_problems: list[errors.Problem] = []
    for f in nova_conf:
        verdict = sniff.classify_file(f)
        if verdict.kind in ("ini", "empty", "unreadable"):
            readable.append(f)
            continue
        if verdict.kind in ("jinja", "diff"):  # a template's plain lines, a diff's new side
            prepared = novaprepare.prepare_file(f)
            if prepared is None or novaprepare.readable(prepared):  # None: over the line bound
                readable.append(f)
                continue
        fragments, refused = _fragments(f, facts)
        entry = NotNovaConf(str(f), verdict.kind, verdict.reason, fragments)
        not_nova.append(entry)
        found = (f"; it embeds {len(entry.fragments)} nova.conf fragment(s), checked one by "
                 "one below" if entry.fragments else "")
        pre_problems.append(errors.Problem(
            code="NotNovaConf", file=str(f), line=verdict.line,
            message=f"not a nova.conf: {verdict.kind} ({verdict.reason}){found}",
            hint="pass the INI file that nova-compute or nova-api reads, e.g. /etc/nova/nova.conf"))
        if refused is not None:
            pre_problems.append(refused)
    view = analyze(novaprepare.read_nova_conf(readable, config_dirs=config_dirs), facts)
    view.not_nova = not_nova
    view.errors[:0] = pre_problems
    if sriov_agent_conf is not None:
        view.sriov_agent = sriovagent.read_sriov_agent_conf(sriov_agent_conf)
        view.errors.extend(view.sriov_agent.problems)
        view.warnings.extend(view.sriov_agent.warnings)
    return view


def _fragments(path: str | Path,
               facts: model.HostFacts) -> tuple[tuple[NovaFragment, ...], errors.Problem | None]:
    out = []
    snippets, refused = novasnippets.read_document(path)
    for snip in snippets:
        frag = analyze(snip.config, facts)
        out.append(NovaFragment((snip.first_line, snip.last_line), frag.valid, len(frag.specs.specs),
                                len(frag.aliases.aliases), tuple(frag.errors), tuple(frag.warnings)))
    return tuple(out), refused


def analyze(nova: config.NovaConfig, facts: model.HostFacts, *,
            devices: Sequence[model.Device] = ()) -> ConfigView:
    """Parse the PCI options of an already-read configuration (pure apart from the input).

    Regex addresses are compiled with the bounded matcher
    (:mod:`~pcipass.services.regexbound`). With the host's ``devices``, every
    regex address is run once over their address fields here: an entry whose
    pattern hits the time bound becomes an error on that entry (and is dropped
    from the specs, as an entry Nova rejects), and every later match of the
    scan, the scheduler and the doctor reuses the remembered results.
    """
    specs = spec.parse_device_spec_values([v.value for v in nova.device_spec], facts,
                                          report_in_placement=bool(nova.report_in_placement),
                                          compiler=regexbound.compile_bounded)
    backtracking = _backtracking_warnings(specs.specs)
    if devices:
        specs = _run_regex_addresses(specs, devices)
    aliases = alias_mod.parse_alias_values([v.value for v in nova.alias],
                                           pci_in_placement=bool(nova.pci_in_placement))
    view = ConfigView(nova=nova, specs=specs, aliases=aliases)
    view.errors.extend(nova.problems)
    view.warnings.extend(nova.warnings)
    view.errors.extend(_locate(specs.problems, nova.device_spec))
    view.warnings.extend(_locate(specs.warnings, nova.device_spec))
    view.warnings.extend(_locate(backtracking, nova.device_spec))
    view.errors.extend(_locate(aliases.problems, nova.alias))
    view.warnings.extend(_locate(aliases.warnings, nova.alias))
    for entry in specs.specs:
        for tag, suggestion in spec_fields.suspicious_tags(entry.spec.tags):
            ov = _value_at(nova.device_spec, entry.value_index)
            view.warnings.append(errors.Problem(
                code="SuspiciousTag", file=ov.file if ov else None, line=ov.line if ov else None,
                value_index=entry.value_index, entry=_spec_entry_name(entry),
                message=(f"unknown tag {tag!r} looks like a typo of {suggestion!r}; Nova keeps it "
                         "as a separate tag, so devices land in a pool no request asks for"),
                hint=f'rename "{tag}" to "{suggestion}"'))
    view.warnings.extend(_cross_checks(nova, specs))
    for p in scheduler_classes(nova):
        (view.errors if codes.CODES[p.code].severity is codes.Severity.ERROR else view.warnings).append(p)
    view.errors.extend(cpusets.bounded_options(nova)[1])
    if nova.legacy_devices:
        view.legacy = legacy.parse_legacy_config(nova.legacy_devices, host=nova.host)
        first = nova.legacy_devices[0]
        view.errors.extend(view.legacy.problems)
        view.warnings.extend(w.located(file=first.file, line=first.line)
                             for w in view.legacy.warnings)
    return view


_REGEX_KEYS = ("domain", "bus", "slot", "function")


def _backtracking_warnings(entries: Sequence[spec.SpecEntry]) -> list[errors.Problem]:
    """A warning per regex address field whose pattern nests quantifiers."""
    out = []
    for entry in entries:
        address = entry.spec.address
        if not isinstance(address, addr.RegexAddress):
            continue
        for key, pattern in zip(_REGEX_KEYS, address.fields):
            if pattern == addr.REGEX_ANY or not regexbound.nested_quantifiers(pattern):
                continue
            out.append(errors.Problem(
                code="SpecRegexBacktracking", value_index=entry.value_index,
                entry=_spec_entry_name(entry),
                message=(f"regex address {key} pattern {pattern!r} repeats a part that is itself "
                         "repeated (nested quantifiers): Nova's re.match can backtrack on it for "
                         "minutes per device (catastrophic backtracking). pcipass stops each match "
                         f"after {round(regexbound.MATCH_TIMEOUT_S * 1000)} ms and reports an "
                         "error on this entry when it does"),
                hint=regexbound.HINT))
    return out


def _run_regex_addresses(specs: spec.SpecParseResult,
                         devices: Sequence[model.Device]) -> spec.SpecParseResult:
    """Match every regex address once against the devices' fields; time-outs reject their entry."""
    if not any(isinstance(e.spec.address, addr.RegexAddress) for e in specs.specs):
        return specs
    values: tuple[set[str], ...] = (set(), set(), set(), set())
    for dev in devices:
        for address in (dev.address, dev.parent_addr):
            if not address:
                continue
            try:
                fields = addr.device_fields(address)
            except errors.PcipassError:
                continue  # a malformed address never matches (as in scan)
            for seen, value in zip(values, fields):
                seen.add(value)
    kept: list[spec.SpecEntry] = []
    problems = list(specs.problems)
    for entry in specs.specs:
        problem = _first_timeout(entry, values)
        if problem is None:
            kept.append(entry)
        else:
            problems.append(problem)
    if len(kept) == len(specs.specs):
        return specs
    problems.sort(key=lambda p: p.value_index if p.value_index is not None else -1)
    return spec.SpecParseResult(kept, problems, list(specs.warnings))


def _first_timeout(entry: spec.SpecEntry, values: tuple[set[str], ...]) -> errors.Problem | None:
    address = entry.spec.address
    if not isinstance(address, addr.RegexAddress):
        return None
    for index, matcher in address.field_matchers:
        for value in sorted(values[index]):
            try:
                matcher(value)
            except regexbound.SpecRegexTimeout as exc:
                timeout = regexbound.SpecRegexTimeout(
                    pattern=address.fields[index], field=_REGEX_KEYS[index], value=value,
                    bound_ms=exc.kwargs["bound_ms"], hint=exc.hint)
                return timeout.to_problem(value_index=entry.value_index,
                                          entry=_spec_entry_name(entry))
    return None


def _spec_entry_name(entry: spec.SpecEntry) -> str:
    where = f"device_spec value {entry.value_index}"
    return where if entry.item is None else f"{where}, item {entry.item}"


def scheduler_classes(nova: config.NovaConfig) -> list[errors.Problem]:
    """Filters and weighers that stop nova-scheduler at start, or that pcipass cannot verify."""
    located = [ov for ov in nova.available_filters if ov.file is not None]
    where = {schedfilters.ENABLED: _where(nova.located("enabled_filters")),
             schedfilters.AVAILABLE: _where(located[0] if located else None),
             schedfilters.WEIGHTS: _where(nova.located("weight_classes")),
             **{f"{schedfilters.AVAILABLE} {ov.value}": _where(ov) for ov in located}}
    available = [ov.value for ov in nova.available_filters] or [config.DEFAULT_AVAILABLE_FILTERS]
    return schedfilters.problems(nova.enabled_filters, available, nova.weight_classes, where)


def _where(ov: config.OptionValue | None) -> schedfilters.Where:
    return schedfilters.Where(ov.file, ov.line) if ov is not None else schedfilters.Where()


def _cross_checks(nova: config.NovaConfig, specs: spec.SpecParseResult) -> list[errors.Problem]:
    """Option combinations that Nova accepts but that cannot work."""
    out: list[errors.Problem] = []
    if nova.pci_in_placement and not nova.report_in_placement:
        ov = nova.located("pci_in_placement")
        out.append(errors.Problem(
            code="PciInPlacementWithoutReporting", file=ov.file if ov else None,
            line=ov.line if ov else None,
            message=("[filter_scheduler] pci_in_placement is True but [pci] report_in_placement is "
                     "False in these files: the scheduler asks Placement for PCI inventory that "
                     "computes with this config never report"),
            hint="set [pci] report_in_placement = True on every compute node first"))
    if nova.report_in_placement:
        for entry in specs.specs:
            if entry.spec.devname:
                ov = _value_at(nova.device_spec, entry.value_index)
                out.append(errors.Problem(
                    code="PlacementPciException", file=ov.file if ov else None,
                    line=ov.line if ov else None, value_index=entry.value_index,
                    entry=_spec_entry_name(entry),
                    message=("Failed to gather or report PCI resources to Placement: Invalid "
                             "[pci]device_spec configuration. PCI Placement reporting does not "
                             "support 'devname' based device specification"),
                    hint='use "address" instead of "devname" when [pci] report_in_placement is True'))
    return out
