"""Tell what kind of file an operator handed us, before reading it as a nova.conf.

People pass deployment YAML, Jinja templates, blog posts and JSON where a
nova.conf is expected. oslo.config would answer with a syntax error at some
line; ``config check`` should answer "not a nova.conf: YAML (TripleO Heat
environment)" instead. A nova.conf with a genuine syntax error still sniffs
as ``ini`` so that its error is reported with its line.

:func:`ini_snippets` finds nova.conf fragments inside Markdown and reST
documents, so a pasted guide can still be checked block by block.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from pcipass.adapters import boundedread, unidiff
from pcipass.core import configbounds, jsontext

KINDS = ("ini", "yaml", "jinja", "diff", "markdown", "prose", "json", "empty", "binary", "unreadable")

# Section and key names may hold letters of any script here: a header typed with a Cyrillic
# "р" ([рci]) is still an INI header, and novaconf reports the look-alike letter by name.
_SECTION = re.compile(r"^\[[^\W\d][\w.-]*\]$")
_INI_ASSIGN = re.compile(r"^[^\W\d][\w.-]*+\s*[=:]")
_JINJA = re.compile(r"\{\{|\{%|\{#")
_FENCE = re.compile(r"^\s*(```|~~~)")
_MD_HEADING = re.compile(r"^#{1,6}\s+\S")
# NOTE: every pattern below runs on hostile text, so none may backtrack over a run of
# characters more than once: the link text and target exclude "[", so the scans that
# start at each "[" never overlap (120,000 "[" in a comment took 56 s with "[^\]\n]+").
_MD_LINK = re.compile(r"\[[^\[\]\n]+\]\([^)\s\[]+\)")
_RST_DIRECTIVE = re.compile(r"^\s*\.\. [A-Za-z-]+::")
_RST_UNDERLINE = re.compile(r"^(=+|-+|~+|\^+|\*+)$")
# The key's first character is not a space, so the leading \s* never trades spaces with it.
_YAML_KEY = re.compile(r"^\s*(- )?[\w.\-\"'<>{}$][\w.\-\"'<>{}$ ]*+:(\s|$)")
_YAML_ITEM = re.compile(r"^\s*- \S")
_YAML_BLOCK = re.compile(r":[^\S\n]*[|>][-+]?[^\S\n]*$")
_ANSIBLE_VAR = re.compile(r"^(nova|neutron|enable)_\w++:", re.M)
_JUJU_TYPE = re.compile(r"^[^\S\n]+type:[^\S\n]*(string|int|boolean)[^\S\n]*$", re.M)
BOM = "\ufeff"


@dataclasses.dataclass(frozen=True, slots=True)
class Kind:
    """A verdict: one of :data:`KINDS`, and the evidence for it (with a line where useful)."""

    kind: str
    reason: str
    line: int | None = None


def classify_file(path: str | Path) -> Kind:
    """:func:`classify` a file's bytes; unreadable files get kind ``unreadable``."""
    try:
        data = boundedread.read_bounded(path, boundedread.MAX_INPUT_BYTES)
    except IsADirectoryError:
        return Kind("unreadable", "a directory, not a file")
    except OSError as exc:
        return Kind("unreadable", exc.strerror or str(exc))
    return classify_bytes(data, str(path))


def classify_bytes(data: bytes, filename: str = "") -> Kind:
    """Classify raw bytes: binary and non-UTF-8 data first, then :func:`classify`."""
    if not data.strip():
        return Kind("empty", "the file is empty" if not data else "only whitespace")
    if b"\0" in data[:65536]:
        return Kind("binary", "contains NUL bytes", data[:data.index(b"\0")].count(b"\n") + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return Kind("binary", f"not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line})",
                    line)
    return classify(text, filename)


def classify(text: str, filename: str = "") -> Kind:
    """Say what ``text`` is: nova.conf-style INI or something else, and why.

    Only the first :data:`~pcipass.core.configbounds.MAX_LINES` lines are looked at: the
    readers refuse a longer file by name (``ConfigTooLarge``), and the verdict stays cheap.
    """
    cut = configbounds.line_past(text, configbounds.MAX_LINES, configbounds.ANY_BREAK)
    if cut is not None:
        text = text[:cut]
    if text.startswith(BOM):
        # oslo.config opens files as plain UTF-8 and keeps the mark, so a nova.conf that
        # starts with one fails to parse at line 1 (novaconf says so); sniff what follows it,
        # and the blanks after it: oslo fails on that line alike, as the mark is no blank.
        after = classify(text[1:].lstrip(" \t"), filename)
        if after.kind == "ini":
            return Kind("ini", f"{after.reason}, after a UTF-8 byte-order mark", after.line)
        return after
    lines = text.splitlines()
    if not text.strip():
        return Kind("empty", "only whitespace" if text else "the file is empty")
    if _control_ratio(text) > 0.1:
        return Kind("binary", "mostly control characters")
    for check in (_json, _diff, _markdown, _rst, _jinja, _ini, _yaml):
        verdict = check(text, lines, filename)
        if verdict is not None:
            return verdict
    return Kind("prose", "no INI section headers, not YAML, JSON or a template")


def _control_ratio(text: str) -> float:
    sample = text[:8192]
    bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f\v")
    return bad / len(sample)


def _json(text: str, lines: list[str], filename: str) -> Kind | None:
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        doc = jsontext.loads(text)
    except jsontext.JsonTooComplex as exc:
        first = stripped.split("\n", 1)[0].rstrip()
        if _SECTION.match(first):  # "[pci]" then a deeply nested value: an INI file
            return None
        return Kind("json", f"JSON, but {exc}")
    except ValueError:
        if stripped.startswith("{"):
            return Kind("json", "starts with '{' (JSON, though malformed)")
        return None
    if isinstance(doc, dict) and "flavor" in doc or _first_key(doc) in ("extra_specs", "properties"):
        return Kind("json", "JSON (a flavor document)")
    return Kind("json", f"a JSON {type(doc).__name__.replace('dict', 'object').replace('list', 'array')}")


def _first_key(doc: object) -> str | None:
    return next(iter(doc), None) if isinstance(doc, dict) else None


def _diff(text: str, lines: list[str], filename: str) -> Kind | None:
    hunk = unidiff.looks_like_diff(lines)
    if hunk is None:
        return None
    return Kind("diff", f"a unified diff (first hunk at line {hunk})", hunk)


def _markdown(text: str, lines: list[str], filename: str) -> Kind | None:
    fences = [i for i, line in enumerate(lines, 1) if _FENCE.match(line)]
    front_matter = len(lines) > 2 and lines[0].strip() == "---" and any(
        line.strip() == "---" for line in lines[1:40])
    headings = sum(1 for line in lines if _MD_HEADING.match(line))
    links = len(_MD_LINK.findall(text))
    if len(fences) >= 2 or (front_matter and (headings or fences)) \
            or (filename.lower().endswith((".md", ".markdown")) and (headings or links)):
        what = "blog post" if front_matter else "document"
        return Kind("markdown", f"Markdown {what} ({len(fences) // 2} code block(s))",
                    fences[0] if fences else None)
    return None


def _rst(text: str, lines: list[str], filename: str) -> Kind | None:
    # Comment lines are skipped: nova.conf.sample help text has "For example::".
    prose = [(i, line) for i, line in enumerate(lines, 1)
             if not line.lstrip().startswith(("#", ";"))]
    directives = [i for i, line in prose if _RST_DIRECTIVE.match(line)]
    literal = [i for i, line in prose if line.rstrip().endswith("::")
               and not _SECTION.match(line.strip()) and not _INI_ASSIGN.match(line)]
    underlines = sum(1 for a, b in zip(lines, lines[1:])
                     if a.strip() and len(b.strip()) >= 3 and _RST_UNDERLINE.match(b.strip())
                     and len(b.strip()) >= len(a.strip()))
    evidence = directives or literal
    if directives or (literal and underlines) or len(literal) >= 2:
        return Kind("prose", "reStructuredText documentation (directives or '::' literal blocks)",
                    evidence[0] if evidence else None)
    return None


def _jinja(text: str, lines: list[str], filename: str) -> Kind | None:
    hits = [(i, line) for i, line in enumerate(lines, 1) if _JINJA.search(line)]
    if not hits:
        return None
    i, line = hits[0]
    statements = any(re.match(r"^\s*\{[%#]", h) for _i, h in hits)
    if not statements and not any(_SECTION.match(x.rstrip()) for x in lines):
        as_yaml = _yaml(text, lines, filename)
        if as_yaml is not None:
            return Kind("yaml", as_yaml.reason[:-1] + f", with Jinja expressions, e.g. line {i})", i)
    return Kind("jinja", f"Jinja template markup ({line.strip()[:60]!r})", i)


def _ini(text: str, lines: list[str], filename: str) -> Kind | None:
    sections = [i for i, line in enumerate(lines, 1) if _SECTION.match(line.rstrip())]
    content = [line for line in lines if line.strip() and not line.lstrip().startswith(("#", ";"))]
    if not content:
        return Kind("ini", "only comments (a valid, empty INI file)")
    if not sections:
        return None
    assigns = sum(1 for line in content if _INI_ASSIGN.match(line) or line[:1] in " \t")
    if (assigns + len(sections)) / len(content) >= 0.6:
        return Kind("ini", f"INI with {len(sections)} section header(s)", sections[0])
    return None


MAX_YAML_PARSE = 64 * 1024
"""Characters of text given to the YAML parser. PyYAML's pure-Python parser takes 20-30 s per
MB of hostile text (libyaml's crashes the process on deep nesting); deployment YAML is far
smaller. Longer text is judged by the shape of its lines alone."""
MAX_YAML_FLOW_DEPTH = 32
"""Deepest ``[``/``{`` nesting given to the YAML parser: its scanner's work per token grows
with the depth, and its composer recurses."""
_FLOW = re.compile(r"[\[\]{}]")


def _yaml(text: str, lines: list[str], filename: str) -> Kind | None:
    doc = None
    if len(text) <= MAX_YAML_PARSE and _flow_depth(text) <= MAX_YAML_FLOW_DEPTH:
        try:
            doc = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError):
            doc = None
    content = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    shaped = _yaml_shaped(content)
    if isinstance(doc, (dict, list)) or (content and shaped / len(content) >= 0.5):
        return Kind("yaml", f"YAML ({_yaml_flavour(doc, text)})")
    return None


def _flow_depth(text: str) -> int:
    """Deepest bracket nesting (quotes ignored: an over-estimate is harmless here)."""
    depth = best = 0
    for m in _FLOW.finditer(text):
        depth = depth + 1 if m.group() in "[{" else max(depth - 1, 0)
        best = max(best, depth)
    return best


def _yaml_shaped(content: list[str]) -> int:
    """Lines that look like YAML: keys, list items, and the body of ``key: |`` block scalars."""
    shaped, block_indent = 0, None
    for line in content:
        indent = _indent(line)
        if block_indent is not None and indent > block_indent:
            shaped += 1
            continue
        block_indent = None
        if _YAML_KEY.match(line) or _YAML_ITEM.match(line):
            shaped += 1
            if _YAML_BLOCK.search(line):
                block_indent = indent
    return shaped


def _yaml_flavour(doc: object, text: str) -> str:
    keys = set(doc) if isinstance(doc, dict) else set()
    if keys & {"parameter_defaults", "resource_registry", "heat_template_version"}:
        return "TripleO Heat environment"
    if "parameter_defaults" in text or "resource_registry" in text:
        return "TripleO Heat environment"
    if any(isinstance(k, str) and k.startswith(("nova_", "neutron_", "enable_")) for k in keys) \
            or _ANSIBLE_VAR.search(text):
        return "Ansible variables (kolla-ansible / openstack-ansible)"
    if _JUJU_TYPE.search(text):
        return "Juju charm options"
    if isinstance(doc, dict) or ":" in text:
        return "a mapping"
    return "a list"


# -- nova.conf fragments inside documents ------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Snippet:
    """An INI fragment inside a document: its dedented text and 1-based line span."""

    first_line: int
    last_line: int
    text: str


def ini_snippets(text: str) -> list[Snippet]:
    """INI fragments (starting at a ``[section]`` header) in Markdown fences or reST blocks.

    A fragment runs from a section header line to the end of the indented
    block (or code fence) holding it. Fragments with Jinja markup are
    templates, not configs, and are skipped.
    """
    lines = text.splitlines()
    out: list[Snippet] = []
    i = 0
    while i < len(lines):
        if _SECTION.match(lines[i].strip()):
            end = _block_end(lines, i)
            block = lines[i:end + 1]
            if not any(_JINJA.search(line) for line in block):
                out.append(Snippet(i + 1, end + 1, _dedent(block, _indent(lines[i]))))
            i = end + 1
        else:
            i += 1
    return out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _block_end(lines: list[str], start: int) -> int:
    """Index of the last line of the INI block that starts at ``start``."""
    base = _indent(lines[start])
    last = start
    for j in range(start + 1, len(lines)):
        line = lines[j]
        if not line.strip():
            continue
        if _FENCE.match(line) or _indent(line) < base:
            break
        body = line[base:]
        if _indent(line) == base and not (_SECTION.match(body.rstrip()) or _INI_ASSIGN.match(body)
                                          or body.startswith(("#", ";"))):
            break
        last = j
    return last


def _dedent(block: list[str], base: int) -> str:
    return "".join(line[base:] + "\n" if line.strip() else "\n" for line in block)
