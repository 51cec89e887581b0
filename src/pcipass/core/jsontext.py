"""Bounded JSON decoding for every JSON pcipass reads from users and hosts.

``json.loads`` alone is not safe on hostile text:

* nesting deeper than the interpreter's recursion limit raises
  ``RecursionError`` (``[`` x 100,000 in a flavor or a device_spec value);
* an integer of more than 4,300 digits raises a bare ``ValueError`` from
  ``int()``;
* a small file of empty containers (``[[],[],...]``) expands about 30-fold in
  memory: 250 MB of text took 6.5 GB.

:func:`loads` checks the cheap bounds first, with C-speed byte counts over the
text (no Python loop over characters), then decodes, and turns every failure
into :class:`JsonTooComplex` or :class:`json.JSONDecodeError`, both
``ValueError`` subclasses, so callers that already report malformed JSON report
these too, with a message that says which bound was hit.

Pure: no IO, standard library only.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 200
"""Deepest nesting accepted. Nova's documents nest 3-4 levels; facts.json about 5."""

MAX_ITEMS = 2_000_000
"""Most values (containers plus separators) in one document: facts.json of a
10,000-function host holds about 400,000."""

MAX_INT_DIGITS = 4_300
"""Python's own default ``int`` conversion bound, reported instead of raised."""

_TOKENS = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


class JsonTooComplex(ValueError):
    """The JSON text is over a bound (depth, item count or integer size)."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonTooComplex(f"an integer of {len(text)} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def loads(text: str | bytes, *, max_depth: int | None = MAX_DEPTH,
          max_items: int = MAX_ITEMS) -> Any:
    """Decode ``text`` like :func:`json.loads`, within the bounds above.

    ``max_depth=None`` skips the exact depth scan (a linear pass over the
    brackets and quotes, about 30 ms per MB) and keeps only the interpreter's
    own bound, caught: for large documents whose reader checks their shape
    level by level anyway (facts.json).

    :raises json.JSONDecodeError: the text is not JSON (position in the message).
    :raises JsonTooComplex: the text is JSON but over a bound.
    """
    if isinstance(text, bytes):
        opens = text.count(b"[") + text.count(b"{")
        items = opens + text.count(b",")
    else:
        opens = text.count("[") + text.count("{")
        items = opens + text.count(",")
    if items > max_items:
        raise JsonTooComplex(f"more than {max_items:,} values")
    if max_depth is not None and opens > max_depth:
        # Counts include brackets inside strings, so only a large count needs the
        # exact depth check; documents with few brackets skip it at no cost.
        depth = _max_depth(text if isinstance(text, str) else text.decode("utf-8", "replace"))
        if depth > max_depth:
            raise JsonTooComplex(f"nested {depth} levels deep (at most {max_depth})")
    try:
        return json.loads(text, parse_int=_parse_int)
    except RecursionError as exc:
        raise JsonTooComplex("nested too deeply for the decoder") from exc


def _max_depth(text: str) -> int:
    """Deepest bracket nesting outside strings; a linear scan over the bracket positions only."""
    depth = best = 0
    in_string = False
    # Only quotes, backslash-escaped characters and brackets matter; the regex
    # skips everything else in C.
    for match in _TOKENS.finditer(text):
        tok = match.group()
        if in_string:
            if tok == '"':
                in_string = False
            continue
        if tok == '"':
            in_string = True
        elif tok in "[{":
            depth += 1
            if depth > best:
                best = depth
        elif tok in "]}":
            depth -= 1
    return best
