"""How much one configuration may hold: lines, entries of one option, fragments of one document.

Reading a config is linear, but one entry costs far more than its bytes: a nova.conf within the
16 MiB read bound made of 1.4 million ``alias = {}`` lines took 105 s and 1.9 GB (oslo.config's
merge, a record and a JSON document per value, a problem per value), one ``enabled_filters`` of
700,000 items 64 s, 8 million comment lines 12 s and 700 MB. Nova sets no such bounds; pcipass
refuses a configuration it cannot check safely, before any of that work, with
:data:`CODE` naming the file, the line and the option. The bounds are far above real files:
Nova 34's ``nova.conf.sample`` (every option of Nova and its libraries, with help) is 13,433 lines,
and a deployment lists a few hundred ``device_spec`` or ``alias`` entries at most.
"""

from __future__ import annotations

import itertools
import re

from pcipass.core import errors

MAX_LINES = 100_000
"""Lines of one configuration: a file, or every file read together (the files given and those of
a config directory), or a document searched for nova.conf fragments."""
MAX_ENTRIES = 10_000
"""Entries of one option across the files of a configuration: the values of a multi-valued
option, the JSON objects of ``device_spec``/``alias`` values, the items of a list option."""
MAX_FRAGMENTS = 1_000
"""nova.conf fragments read from one document (each is a nova.conf of its own)."""
MAX_YAML_BYTES = 1 << 20
"""Bytes of a deployment YAML read for the SR-IOV agent's mappings: PyYAML's pure-Python parser
reads about 0.4 MB a second (a TripleO environment is a few KiB)."""
CODE = "ConfigTooLarge"

# Line breaks as oslo.config reads a file (universal newlines), and as str.splitlines() splits.
UNIVERSAL = re.compile(r"\r\n|\r|\n")
ANY_BREAK = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")

_WHY = "pcipass refuses a configuration it cannot check safely, though the services that read it set no such bound"


def line_past(text: str, limit: int = MAX_LINES, breaks: re.Pattern[str] = UNIVERSAL) -> int | None:
    """The offset where line ``limit + 1`` of ``text`` starts, or None when it has no such line.

    Stops at that line: the cost is bounded by ``limit``, not by the text.
    """
    if limit <= 0:
        return 0 if text else None
    if len(text) <= limit:  # each line after the first follows a line break
        return None
    last = next(itertools.islice(breaks.finditer(text), limit - 1, None), None)
    return last.end() if last is not None and last.end() < len(text) else None


def too_many_lines(file: str, line: int, before: int = 0) -> errors.Problem:
    """``file`` passes :data:`MAX_LINES` at ``line`` (with ``before`` lines read in earlier files)."""
    counted = f", counting the {before:,} lines of the files read before it" if before else ""
    return errors.Problem(
        CODE, f"{file} is refused: line {line:,} passes the bound of {MAX_LINES:,} lines for one "
              f"configuration{counted} (Nova 34's nova.conf.sample, every option with its help, is 13,433 lines); {_WHY}",
        file=file, line=line,
        hint="pass the nova.conf that Nova reads; a real one is a few thousand lines at most")


def too_many_entries(label: str, what: str, file: str, line: int) -> errors.Problem:
    """Option ``label`` passes :data:`MAX_ENTRIES` ``what`` (values, JSON objects, list items)."""
    return errors.Problem(
        CODE, f"{label} is refused: it holds more than {MAX_ENTRIES:,} {what} (a deployment lists "
              f"a few hundred at most), and the one at line {line:,} of {file} passes that bound; "
              f"{_WHY}", file=file, line=line, entry=label,
        hint="pass the configuration the service reads; was this file written by a runaway script?")


def too_many_fragments(file: str, line: int) -> errors.Problem:
    """A document holds more than :data:`MAX_FRAGMENTS` nova.conf fragments."""
    return errors.Problem(
        CODE, f"{file} is refused: the nova.conf fragment at line {line:,} passes the bound of "
              f"{MAX_FRAGMENTS:,} fragments in one document; {_WHY}", file=file, line=line,
        hint="pass the nova.conf itself, or a document with the fragments that matter")


def too_large_yaml(file: str, size: int) -> errors.Problem:
    """A deployment YAML of more than :data:`MAX_YAML_BYTES`."""
    return errors.Problem(
        CODE, f"{file} is refused: {size:,} bytes of YAML pass the bound of "
              f"{MAX_YAML_BYTES >> 20} MiB for a deployment file; {_WHY}", file=file,
        hint="pass the agent's sriov_agent.ini, or the deployment file that sets its mappings")


def json_entries(value: str) -> int:
    """JSON objects a ``device_spec``/``alias`` value may hold (an upper bound: its ``{``)."""
    return max(1, value.count("{"))


def list_items(value: str) -> int:
    """Items of a list option's value (an upper bound: its commas and one)."""
    return value.count(",") + 1
