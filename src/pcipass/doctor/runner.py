"""Run checks: inject the facts each one names, isolate crashes, select by id prefix.

* A check is called with exactly the facts its parameters name, each gathered
  once per host (the sources cache them).
* A required fact that cannot be gathered gives one ``skip`` finding for that
  check on that host, naming the fact and why: a skip is never a pass.
* A check that raises gives one ``fail`` finding "check crashed", and the run
  goes on: a bug in one check must not hide the others' findings.
* Host-scope checks run per host; checks whose facts are all global
  (controller config, flavors) run once, with ``host`` None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from pcipass.doctor import model, registry
from pcipass.core.layers import Layer


class FactSource(Protocol):
    """Where a check's facts come from: one host (falling back to global facts), or the run."""

    @property
    def host(self) -> str | None: ...

    def get(self, name: str) -> Any:
        """Return the fact; raise :class:`model.FactMissing` when it cannot be had."""


@dataclasses.dataclass(frozen=True, slots=True)
class Selection:
    """``--select``/``--ignore`` id prefixes; the longer matching prefix wins, ignore on ties."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    def wants(self, check_id: str) -> bool:
        sel = _longest(self.select, check_id)
        ign = _longest(self.ignore, check_id)
        if self.select and sel < 0:
            return False
        return ign < 0 or sel > ign


def _longest(prefixes: Sequence[str], check_id: str) -> int:
    lengths = [len(p) for p in prefixes if check_id.upper().startswith(p.upper())]
    return max(lengths) if lengths else -1


def run(checks: Sequence[registry.Check], hosts: Sequence[FactSource], run_source: FactSource,
        selection: Selection = Selection()) -> list[model.Finding]:
    """Run the selected ``checks`` over every host (host scope) or once (global scope)."""
    findings: list[model.Finding] = []
    for chk in checks:
        if not selection.wants(chk.id):
            continue
        if chk.scope == model.GLOBAL:
            findings.extend(run_one(chk, run_source))
        else:
            for source in hosts:
                findings.extend(run_one(chk, source))
    return sort_findings(findings)


def run_one(chk: registry.Check, source: FactSource) -> list[model.Finding]:
    """Run one check against one source. A crashing check becomes a finding; a missing fact a
    skip. What a source raises besides :class:`model.FactMissing` (invalid input) ends the run."""
    kwargs: dict[str, Any] = {}
    missing: list[model.FactMissing] = []
    for name in chk.facts:
        try:
            kwargs[name] = source.get(name)
        except model.FactMissing as exc:
            if name not in chk.optional:
                missing.append(exc)
    if missing:
        needs = "; ".join(f"needs {m.fact} ({m.reason})" for m in missing)
        return [_finding(chk, source.host, model.Result(model.SKIP, "-", f"skipped: {needs}"))]
    try:
        results = list(_results(chk.func(**kwargs)))
    except Exception as exc:  # noqa: BLE001 - a crashing check becomes a finding, never a traceback
        crash = model.Result(model.FAIL, "-", f"check crashed: {type(exc).__name__}: {exc}",
                             fix="report a bug to pcipass with this output and `pcipass --debug doctor ...`")
        return [_finding(chk, source.host, crash)]
    return [_finding(chk, source.host, r) for r in results]


def _results(produced: Iterable[model.Result] | None) -> Iterable[model.Result]:
    for r in produced or ():
        if not isinstance(r, model.Result) or r.severity not in model.SEVERITIES:
            raise TypeError(f"a check must yield model.Result with a known severity, got {r!r}")
        yield r


def _finding(chk: registry.Check, host: str | None, r: model.Result) -> model.Finding:
    return model.Finding(chk.id, chk.layer, r.severity, host, r.subject, r.message, r.evidence, r.fix)


def sort_findings(findings: Iterable[model.Finding]) -> list[model.Finding]:
    """Layer order first (bottom-up), then host, id, subject: stable output for diffs and tests."""
    return sorted(findings, key=lambda f: (f.layer.order, f.host or "", f.id, f.subject))


def summary(findings: Iterable[model.Finding]) -> dict[str, int]:
    counts = {str(s): 0 for s in model.Severity}
    for f in findings:
        counts[str(f.severity)] += 1
    return counts


def exit_code(findings: Iterable[model.Finding]) -> int:
    """0 clean, 1 warnings only, 2 any failure; skip and info change nothing."""
    return max((model.EXIT_CONTRIBUTION[f.severity] for f in findings), default=0)


def broken_layers(findings: Iterable[model.Finding]) -> list[Layer]:
    """Layers with a failing finding, bottom-up: the first one is where to look first."""
    return sorted({f.layer for f in findings if f.severity == model.FAIL}, key=lambda layer: layer.order)

