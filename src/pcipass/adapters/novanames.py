"""Option names in nova.conf that Nova ignores or warns about, each reported at its line.

oslo.config silently ignores an option it does not know: a misspelled name,
one in the wrong section, one Nova removed, or a name holding a look-alike
character. Nova logs only deprecated names. Every such name is reported here,
with the line that would work.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from pcipass.adapters import iniparse, novaopts
from pcipass.core import errors, lookalike


def check_file(name: str, text: str, ini: iniparse.IniFile,
               line_offset: int = 0) -> tuple[list[errors.Problem], list[errors.Problem]]:
    """The (errors, warnings) about the names in one file.

    Look-alike characters are errors (:mod:`~pcipass.core.lookalike`); options
    in a section with such a name get no other report. Deprecated, removed,
    misplaced and unknown names are warnings.

    :param name: the file as the problems name it.
    :param line_offset: added to every line (a fragment of a larger document).
    """
    problems: list[errors.Problem] = []
    warnings: list[errors.Problem] = []
    lines = iniparse.split_lines(text)
    odd = set()
    for section, n in ini.sections:
        problem = lookalike.check_name("section", section, lines[n - 1], n + line_offset)
        if problem is not None:
            odd.add(section)
            problems.append(problem.located(file=name))
    for e in ini.entries:
        problem = lookalike.check_name("option", e.key, lines[e.line - 1], e.line + line_offset,
                                       e.section)
        if problem is not None:
            problems.append(problem.located(file=name))
            continue
        if e.section in odd:  # its ConfusableCharacter error says it all
            continue
        problem = _name_warning(e)
        if problem is not None:
            warnings.append(problem.located(file=name, line=e.line + line_offset))
    return problems, warnings


def check_mixed(files: Sequence[iniparse.IniFile]) -> list[errors.Problem]:
    """Warnings for options set under their current and a deprecated name across ``files``."""
    warnings = []
    for opt in novaopts.OPTS:
        if not opt.deprecated:
            continue
        used = {(e.section, e.key) for ini in files for g, k in opt.names for e in ini.find(g, k)}
        keys = {k for _s, k in used}
        if opt.name in keys and len(keys) > 1:
            others = ", ".join(sorted(f"[{s}] {k}" for s, k in used if k != opt.name))
            warnings.append(errors.Problem(
                "MixedOptionNames",
                f"{opt.label} is also set under deprecated names ({others}); oslo.config "
                f"merges all of them, deprecated names first in each file",
                hint=f"move every value to {opt.label}"))
    return warnings


def _name_warning(e: iniparse.IniEntry) -> errors.Problem | None:
    """Deprecated, misplaced, removed or misspelled option names (oslo ignores the last three)."""
    key, group = e.key, e.group
    for opt in novaopts.OPTS:
        for dgroup, dname in opt.deprecated:
            if (iniparse.normalize_group(dgroup), dname) == (group, key):
                return _deprecated(e, opt)
    if (group, key) in novaopts.REMOVED:
        new = novaopts.REMOVED[(group, key)]
        return errors.Problem("RemovedOption",
                              f"[{e.section}] {key} is not read by Nova any more: it is ignored",
                              entry=f"[{e.section}] {key}", hint=f"use {new} = {e.value}")
    home = novaopts.HOME.get(key)
    if home is not None and _valid_groups(key) and group not in _valid_groups(key):
        if group == "default" and iniparse.DEFAULT in _valid_groups(key):
            return errors.Problem(
                "MisplacedOption", f"[{e.section}] is not [DEFAULT]: oslo.config matches the "
                f"DEFAULT section name case-sensitively, so {key} is ignored",
                entry=f"[{e.section}] {key}", hint="rename the section header to [DEFAULT]")
        return errors.Problem(
            "MisplacedOption", f"{key} is not an option of [{e.section}]: Nova ignores it there",
            entry=f"[{e.section}] {key}", hint=f"[{home[0]}] {home[1]} = {_first(e.value)}")
    known = novaopts.GROUP_KEYS.get(group)
    if known is not None and key not in known:
        guess = difflib.get_close_matches(key, sorted(known - {"passthrough_whitelist"}),
                                          n=1, cutoff=0.6)
        hint = f"did you mean {guess[0]}? {guess[0]} = {_first(e.value)}" if guess else None
        return errors.Problem("UnknownOption",
                              f"[{e.section}] {key} is not a Nova option: Nova ignores it",
                              entry=f"[{e.section}] {key}", hint=hint)
    return None


def _valid_groups(key: str) -> set[str]:
    """Sections where ``key`` is read, under its current or a deprecated name."""
    return {g for opt in novaopts.OPTS for g, k in opt.names if k == key}


def _first(value: str) -> str:
    return value.split("\n", 1)[0] + (" ..." if "\n" in value else "")


def _deprecated(e: iniparse.IniEntry, opt: novaopts.Opt) -> errors.Problem:
    new_line = f"[{opt.group}] {opt.name} = {_first(e.value)}"
    return errors.Problem(
        "DeprecatedOption",
        f'Option "{e.key}" from group "{e.section}" is deprecated. '
        f'Use option "{opt.name}" from group "{opt.group}".',
        entry=f"[{e.section}] {e.key}", hint=new_line)
