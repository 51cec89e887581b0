"""A unified diff of nova.conf: its new side, placed at the diff's own line numbers.

Operators paste ``git diff`` / ``diff -u`` output of a config change. The new side
(context and ``+`` lines) is what the host will run, so that is what is checked;
``-`` lines, file and hunk headers are blanked. Every kept line stays on its line
of the diff, so a problem names the line the reader sees.

A hunk shows part of a file: its lines before the hunk's first ``[section]`` header
belong to a section the diff does not show, unless the hunk header names it (``@@
-10,6 +10,8 @@ [pci]``, where git's function context puts it). Such lines are
left out and listed (:attr:`NewSide.unknown_section`), rather than read under the
wrong section. A diff of several files keeps the nova.conf-like ones (``*.conf``,
``*.conf.j2``, ``*.ini``), or the only file.
"""

from __future__ import annotations

import dataclasses
import re

_HUNK = re.compile(r"^@@ -\d+(?:,(?P<old>\d+))? \+\d+(?:,(?P<new>\d+))? @@(?P<trailer>.*)$")
_SECTION = re.compile(r"^\s*\[[^\[\]]+\]\s*$")
_TRAILER_SECTION = re.compile(r"^\s*(?P<s>\[[^\[\]\s]+\])")
_NOVA_LIKE = re.compile(r"\.(?:conf|ini)(?:\.j2|\.erb|\.tpl)?$|nova[^/]*$")
MAX_COUNT = 10**7


@dataclasses.dataclass(frozen=True, slots=True)
class NewSide:
    """The new side at the diff's line numbers, the files it came from, and lines left out."""

    text: str
    files: tuple[str, ...]
    hunks: int
    unknown_section: tuple[tuple[int, int], ...]  # (first, last) diff lines of unknown section
    skipped_files: tuple[str, ...]


def looks_like_diff(lines: list[str]) -> int | None:
    """The line of the first hunk header when ``lines`` read as a unified diff, else ``None``."""
    headers = hunk = None
    for i, line in enumerate(lines[:5000], 1):
        if line.startswith("+++ ") and i > 1 and lines[i - 2].startswith("--- "):
            headers = i
        elif line.startswith("@@ -") and _HUNK.match(line) and headers is not None:
            hunk = i
            break
    return hunk


def new_side(text: str) -> NewSide | None:
    """The new side of the unified diff ``text``, or ``None`` when it has no hunk."""
    lines = text.splitlines()
    files = _files(lines)
    if not files:
        return None
    wanted = [f for f in files if _NOVA_LIKE.search(f[0])] or (files if len(files) == 1 else [])
    out = [""] * len(lines)
    unknown: list[tuple[int, int]] = []
    hunks = 0
    for _name, hunk_starts in wanted:
        for start in hunk_starts:
            hunks += 1
            unknown.extend(_place(lines, start, out))
    return NewSide("\n".join(out) + "\n", tuple(f[0] for f in wanted), hunks, tuple(unknown),
                   tuple(f[0] for f in files if f not in wanted))


def _files(lines: list[str]) -> list[tuple[str, list[int]]]:
    """(new path, 0-based indexes of its hunk headers) for each file of the diff."""
    files: list[tuple[str, list[int]]] = []
    for i, line in enumerate(lines):
        if line.startswith("+++ ") and i and lines[i - 1].startswith("--- "):
            path = line[4:].split("\t")[0].strip()
            files.append((path[2:] if path.startswith("b/") else path, []))
        elif line.startswith("@@ -") and files and _HUNK.match(line):
            files[-1][1].append(i)
    return [f for f in files if f[1]]


def _place(lines: list[str], start: int, out: list[str]) -> list[tuple[int, int]]:
    """Copy one hunk's new side into ``out``; return the diff lines left in an unknown section."""
    m = _HUNK.match(lines[start])
    assert m is not None
    old_left = min(int(m.group("old") or 1), MAX_COUNT)
    new_left = min(int(m.group("new") or 1), MAX_COUNT)
    at_file_start = re.match(r"^@@ -\d+(?:,\d+)? \+(?:0|1)(?:,|\s)", lines[start]) is not None
    named = _TRAILER_SECTION.match(m.group("trailer"))
    known = at_file_start or named is not None
    if named:
        out[start] = named.group("s")  # git's function context: the hunk's section
    unknown: list[int] = []
    i = start + 1
    while i < len(lines) and (old_left > 0 or new_left > 0):
        line = lines[i]
        tag, body = line[:1], line[1:]
        if tag == "\\":  # "\ No newline at end of file"
            i += 1
            continue
        if tag not in (" ", "+", "-") and line != "":
            break  # the hunk ended early (a truncated paste)
        if tag in (" ", ""):
            old_left, new_left = old_left - 1, new_left - 1
        elif tag == "+":
            new_left -= 1
        else:
            old_left -= 1
            i += 1
            continue
        if _SECTION.match(body):
            known = True
        if known:
            out[i] = body
        elif body.strip() and not body.lstrip().startswith(("#", ";", "{%", "{#")):  # not config lines
            unknown.append(i + 1)
        i += 1
    return [(unknown[0], unknown[-1])] if unknown else []
