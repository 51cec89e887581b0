"""nova.conf files given as a Jinja template or a unified diff, read as the nova.conf they stand for.

kolla-ansible and kayobe ship nova.conf as a Jinja template; operators paste the
diff of a config change. :func:`prepare` turns each into INI text with the same
line numbers (a diff's new side, :mod:`~pcipass.adapters.unidiff`; a template's
plain lines, :mod:`~pcipass.adapters.templates`), and :func:`read_nova_conf`
reads it through :mod:`~pcipass.adapters.novaconf` under the file's own name, with
a warning for every option a template expression sets (not checkable) and for
every diff line whose section the diff does not show. Plain nova.conf files pass
through untouched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from pcipass.adapters import novaconf, sniff, templates, unidiff
from pcipass.core import config, configbounds, errors

#: Option names whose template value hides PCI config (then "no PCI options" would mislead).
PCI_KEYS = frozenset({"device_spec", "passthrough_whitelist", "pci_passthrough_whitelist", "alias",
                      "pci_alias", "report_in_placement", "pci_in_placement", "pci_weight_multiplier"})


@dataclasses.dataclass(frozen=True, slots=True)
class Prepared:
    """A template or diff as INI text (same line numbers), what it was, and the warnings about it."""

    name: str
    kind: str  # "template", "diff" or "diff of a template"
    text: str
    warnings: tuple[errors.Problem, ...]
    hides_pci: bool  # a PCI option's value is a template expression


def prepare(name: str, text: str) -> Prepared | None:
    """``text`` as the nova.conf it stands for, or ``None`` when it is neither a template nor a diff."""
    warnings: list[errors.Problem] = []
    kinds: list[str] = []
    if unidiff.looks_like_diff(text.splitlines()) is not None:
        side = unidiff.new_side(text)
        if side is None or not side.hunks:
            return None
        kinds.append("diff")
        text = side.text
        for first, last in side.unknown_section:
            span = f"lines {first}-{last} sit" if last != first else f"line {first} sits"
            warnings.append(errors.Problem(
                "DiffSectionUnknown", f"{span} in a section the diff does not show (the new side "
                "before the hunk's first [section] header): not checked", file=name, line=first,
                hint="make the diff with more context (git diff -U20) or with the section header"))
        for skipped in side.skipped_files:
            warnings.append(errors.Problem("DiffFileSkipped", f"the diff also changes {skipped}, "
                                           "which is not a nova.conf: not read", file=name))
    hides_pci = False
    if templates.has_markup(text):
        masked = templates.mask(text)
        if masked.statements or masked.unchecked:
            kinds.append("template")
            text = masked.text
            for u in masked.unchecked:
                where = f"[{u.section}] {u.key}" if u.section and u.key else u.key
                # A key of [pci], a PCI option, or a whole block of unknown lines may hide PCI config.
                hides_pci = hides_pci or u.key is None or u.key in PCI_KEYS or u.section == "pci"
                message = (f"{where} is set by a template expression ({u.expression}): not "
                           "checkable until the template is rendered" if where else
                           f"line {u.line} inserts what a template expression renders "
                           f"({u.expression}): those lines are not checked")
                warnings.append(errors.Problem(
                    "TemplateValueNotChecked", message, file=name, line=u.line, entry=where,
                    hint="check the rendered file (kolla: /etc/kolla/nova-compute/nova.conf) too"))
    if not kinds:
        return None
    kind = "diff of a template" if kinds == ["diff", "template"] else kinds[0]
    return Prepared(name, kind, text, tuple(warnings), hides_pci)


def prepare_file(path: str | Path) -> Prepared | None:
    """:func:`prepare` on a file's text (``None`` when unreadable or longer than
    :data:`~pcipass.core.configbounds.MAX_LINES`: novaconf reports either, reading the file as it is)."""
    text, _problem = novaconf.read_text(path)
    if text is None or configbounds.line_past(text) is not None:
        return None
    return prepare(str(path), text)


def readable(prepared: Prepared) -> bool:
    """True when what is left is INI text (a template of a YAML or JSON file is not a nova.conf)."""
    return sniff.classify(prepared.text).kind in ("ini", "empty")


@contextlib.contextmanager
def staged(files: Sequence[str | Path]) -> Iterator[tuple[list[str], dict[str, str], list[Prepared]]]:
    """Paths for oslo.config (a private copy of each prepared text), their display names, and the
    prepared files. oslo.config reads files only, so the INI text is written to a temporary file."""
    with tempfile.TemporaryDirectory(prefix="pcipass-prepared-") as tmp:
        paths: list[str] = []
        display: dict[str, str] = {}
        done: list[Prepared] = []
        for i, f in enumerate(files):
            prepared = prepare_file(f)
            if prepared is None:
                paths.append(str(f))
                continue
            tmp_path = os.path.join(tmp, f"prepared-{i}.conf")
            Path(tmp_path).write_text(prepared.text, encoding="utf-8")
            paths.append(tmp_path)
            display[tmp_path] = str(f)
            done.append(prepared)
        yield paths, display, done


def read_nova_conf(files: Sequence[str | Path], *,
                   config_dirs: Sequence[str | Path] = ()) -> config.NovaConfig:
    """:func:`novaconf.read_nova_conf`, with templates and diffs read as the nova.conf they stand for."""
    with staged(files) as (paths, display, done):
        nova = novaconf.read_nova_conf(paths, config_dirs=config_dirs, display=display)
    if not done:
        return nova
    hidden = any(p.hides_pci for p in done)
    kept = [w for w in nova.warnings if not (w.code == "NoPciOptions" and hidden)]
    return dataclasses.replace(nova, warnings=[*kept, *(w for p in done for w in p.warnings)])
