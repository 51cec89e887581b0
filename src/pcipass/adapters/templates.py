"""nova.conf as deployment tools ship it: a Jinja template (kolla-ansible, kayobe), masked, never rendered.

Every plain line of the template is a nova.conf line and is checked as one. What
is template markup is blanked, so line numbers stay those of the template:

* statement and comment lines (``{% if ... %}``, ``{% endif %}``, ``{# ... #}``),
  also when they span several lines;
* a line holding an expression (``debug = {{ nova_logging_debug }}``): its value
  is not known until rendering, so the option is *not checkable*, and said so
  (:class:`Masked.unchecked`), by section, key and line; an expression alone on its
  line (kayobe's ``{{ kolla_extra_nova }}``) inserts unknown lines, and is listed
  with no key. An expression inside a comment (``# {{ ansible_managed }}``) is none
  of nova.conf's business.

Both branches of an ``{% if %}`` are plain lines and both are checked: the
template can render either. The scanner here is a small hand parser over lines,
linear in the text (no regular expression backtracks over a run).
"""

from __future__ import annotations

import dataclasses
import re

_SECTION = re.compile(r"^\s*\[(?P<name>[^\[\]{}%#]+)\]\s*$")
_KEY = re.compile(r"^\s*(?P<key>[A-Za-z_][\w.-]*)\s*[=:]")
_OPEN = ("{{", "{%", "{#")
_CLOSE = {"{{": "}}", "{%": "%}", "{#": "#}"}
MAX_EXPR = 80
"""Characters of an expression quoted in a message."""


@dataclasses.dataclass(frozen=True, slots=True)
class Unchecked:
    """An option line whose value (or name) is a template expression: 1-based line, section, key."""

    line: int
    section: str | None
    key: str | None
    expression: str


@dataclasses.dataclass(frozen=True, slots=True)
class Masked:
    """The template with its markup blanked (same line count), and the lines that could not be checked."""

    text: str
    unchecked: tuple[Unchecked, ...]
    statements: int


def has_markup(text: str) -> bool:
    return any(mark in text for mark in _OPEN)


def mask(text: str) -> Masked:
    """Blank the template markup of ``text``; see the module documentation."""
    out: list[str] = []
    unchecked: list[Unchecked] = []
    section: str | None = None
    pending: str | None = None  # the closing mark of a tag still open from an earlier line
    statements = 0
    for number, line in enumerate(text.splitlines(), 1):
        rest, exprs, pending, tags = _scan(line, pending)
        statements += tags
        if not exprs and not tags and pending is None:
            out.append(line)
            head = _SECTION.match(line)
            if head:
                section = head.group("name").strip()
            continue
        out.append("")  # markup on this line: blanked, so the line number stays
        if exprs and not rest.lstrip().startswith(("#", ";")):  # "# {{ ansible_managed }}": a comment
            key = _KEY.match(rest)
            head = _SECTION.match(line)
            unchecked.append(Unchecked(number, section, key.group("key") if key else None,
                                       _clip(exprs[0])))
            if head is None and line.lstrip().startswith("["):
                section = None  # a templated section name: later keys' section is unknown
    return Masked("\n".join(out) + ("\n" if text.endswith("\n") else ""), tuple(unchecked), statements)


def _scan(line: str, pending: str | None) -> tuple[str, list[str], str | None, int]:
    """Text of ``line`` outside template tags, the expressions it holds, the tag left open, and
    how many statement or comment tags it touched (linear: ``str.find`` only)."""
    rest: list[str] = []
    exprs: list[str] = []
    tags = 0
    pos = 0
    if pending is not None:
        end = line.find(pending)
        tags += 1
        if end < 0:
            return "", exprs, pending, tags
        pos = end + len(pending)
        pending = None
    nxt = {mark: line.find(mark, pos) for mark in _OPEN}  # each mark's next place, found once
    while pos < len(line):
        for mark, at in nxt.items():
            if 0 <= at < pos:
                nxt[mark] = line.find(mark, pos)
        starts = [(i, mark) for mark, i in nxt.items() if i >= 0]
        if not starts:
            rest.append(line[pos:])
            break
        start, mark = min(starts)
        rest.append(line[pos:start])
        end = line.find(_CLOSE[mark], start + 2)
        if mark == "{{":
            exprs.append(line[start:end + 2] if end >= 0 else line[start:])
        else:
            tags += 1
        if end < 0:
            return "".join(rest), exprs, None if mark == "{{" else _CLOSE[mark], tags
        pos = end + 2
    return "".join(rest), exprs, pending, tags


def _clip(expr: str) -> str:
    return expr if len(expr) <= MAX_EXPR else expr[:MAX_EXPR - 3] + "..."
