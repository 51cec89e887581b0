"""Regex addresses in ``[pci] device_spec``, matched with a time bound.

Nova compiles each field of a regex address (``{"bus": "0[ab]"}``) with
Python ``re`` and calls ``pattern.match(field)`` (anchored at the start only,
no flags of its own). ``re`` has no time limit, so a pattern with nested
quantifiers such as ``(?:(?:0*)*)*1`` backtracks for minutes on a four-digit
domain. pcipass keeps Nova's semantics but never hangs:

* the pattern must compile with ``re`` first (Nova's acceptance test, done by
  the core's :func:`~pcipass.core.spec_address.parse_regex`);
* ``re``'s own parser reads it, and the parse tree is written back as a
  pattern in a syntax that the ``regex`` package reads the same way (every
  literal escaped, so ``regex``'s extensions such as fuzzy ``{e<=1}`` or
  POSIX ``[[:digit:]]`` can never change what ``re`` understood);
* that pattern is compiled by ``regex`` in its ``re``-compatible VERSION0 and
  each field is matched with ``.match(text, timeout=MATCH_TIMEOUT_S)``;
* a match that hits the bound raises :class:`SpecRegexTimeout` (an input
  error that names the pattern and the field); ``configcheck`` turns it into
  an error on that spec entry.

The core sees only the :class:`BoundedMatcher` callable (contracts §6: no
clock in the core).
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import regex

from pcipass.core import errors

#: The bound of one match call. A device field is 1 to 4 hex characters: a sane pattern
#: matches it in microseconds, and ``(?:(?:0*)*)*1``-style patterns that take Nova's ``re``
#: minutes are stopped well before anyone waits.
MATCH_TIMEOUT_S = 0.1
#: ``regex`` unrolls counted repeats when it compiles: ``(?:(?:(?:0?){100}){100}){100}`` takes
#: 650 MB. A pattern whose repeats would unroll past this many nodes is refused before that.
MAX_EXPANDED_NODES = 10_000
#: Results kept per pattern (a field has at most 65,536 normalized values).
MAX_MEMO = 1 << 17
#: ``regex`` flags: VERSION0 is its ``re``-compatible mode (simple case folding, ``re``'s sets).
REGEX_FLAGS = regex.VERSION0


class SpecRegexTimeout(errors.InputError):
    """Matching one device field against a regex address pattern hit the time bound."""

    msg_fmt = ("regex address pattern %(pattern)r did not finish matching the device %(field)s "
               "%(value)r within %(bound_ms)d ms: Nova's re.match can backtrack on it for "
               "minutes, and nova-compute hangs while it matches its PCI devices")


class SpecRegexTooLarge(errors.InputError):
    """A regex address pattern too large to compile and match within the bounds."""

    msg_fmt = ("regex address pattern %(pattern)r is too large to match safely (%(reason)s); "
               "Nova's re.match can backtrack on such a pattern for minutes")


HINT = ("match a PCI field with a pattern without nested quantifiers, e.g. \"0[0-3]\" or "
         "\"[0-9a-f]{2}\", or use a glob string address such as \"*:0a:00.*\"")


class BoundedMatcher:
    """A compiled address pattern: ``re.match`` semantics, each call bounded in time.

    Results are remembered per field value, so matching a fleet's devices costs
    one call per distinct value; after the first timeout every call raises at
    once. Instances pickle (the parallel scan sends them between processes).
    """

    __slots__ = ("pattern", "_compiled", "_memo", "_timed_out")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled = regex.compile(regex_syntax(pattern), flags=REGEX_FLAGS)
        self._memo: dict[str, bool] = {}
        self._timed_out: str | None = None

    def __call__(self, text: str, /) -> bool:
        known = self._memo.get(text)
        if known is not None:
            return known
        if self._timed_out is not None:
            raise self._timeout(self._timed_out)
        try:
            found = self._compiled.match(text, timeout=MATCH_TIMEOUT_S) is not None
        except TimeoutError:
            self._timed_out = text
            raise self._timeout(text) from None
        if len(self._memo) < MAX_MEMO:
            self._memo[text] = found
        return found

    def _timeout(self, text: str) -> SpecRegexTimeout:
        return SpecRegexTimeout(pattern=self.pattern, field="field", value=text,
                                bound_ms=round(MATCH_TIMEOUT_S * 1000), hint=HINT)


def compile_bounded(pattern: str) -> BoundedMatcher:
    """The services' pattern compiler (a :data:`~pcipass.core.spec_address.PatternCompiler`).

    ``pattern`` already compiled with ``re``.

    :raises SpecRegexTooLarge: its counted repeats unroll past :data:`MAX_EXPANDED_NODES`.
    """
    tree = _parse(pattern)
    if tree is not None:
        try:
            nodes = _expanded_nodes(tree)
        except RecursionError:
            raise SpecRegexTooLarge(pattern=pattern, reason="groups nested too deeply",
                                    hint=HINT) from None
        if nodes > MAX_EXPANDED_NODES:
            raise SpecRegexTooLarge(
                pattern=pattern, hint=HINT,
                reason=(f"over {MAX_EXPANDED_NODES:,} parts once its counted repeats are "
                        "unrolled"))
    return BoundedMatcher(pattern)


# -- re's parse tree ------------------------------------------------------------------------
# ``re._parser`` is the parser ``re.compile`` itself runs (``sre_parse`` before 3.11). It is
# internal, so every use below falls back to the pattern as written when it is missing or
# yields a node this module does not know.

try:
    _P: Any = importlib.import_module("re._parser")
    _C: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - every supported Python has them
    _P = _C = None


class _Unknown(Exception):
    """A parse node this module cannot write back."""


def _parse(pattern: str) -> Any | None:
    """``re``'s parse tree of ``pattern`` (a ``SubPattern``), or None without the parser."""
    if _P is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Possible nested set" FutureWarnings: re's, not ours
        try:
            return _P.parse(pattern, 0)
        # re._parser is internal (see above) and re.compile accepted the pattern: whatever the
        # parser raises means "cannot analyse", and the callers fall back to the pattern as written
        except Exception:  # noqa: BLE001
            return None


def _repeat_ops() -> tuple[Any, ...]:
    ops = [_C.MAX_REPEAT, _C.MIN_REPEAT]
    if hasattr(_C, "POSSESSIVE_REPEAT"):
        ops.append(_C.POSSESSIVE_REPEAT)
    return tuple(ops)


def _children(op: Any, av: Any) -> Iterator[Sequence[Any]]:
    """The sub-patterns of one node."""
    if op == _C.BRANCH:
        yield from av[1]
    elif op == _C.SUBPATTERN:
        yield av[3]
    elif op in _repeat_ops():
        yield av[2]
    elif op in (_C.ASSERT, _C.ASSERT_NOT):
        yield av[1]
    elif op == _C.GROUPREF_EXISTS:
        yield av[1]
        if av[2] is not None:
            yield av[2]
    elif hasattr(_C, "ATOMIC_GROUP") and op == _C.ATOMIC_GROUP:
        yield av


def _expanded_nodes(tree: Sequence[Any]) -> int:
    """Nodes after counted repeats are unrolled: ``(?:a{10}){10}`` counts 100-odd."""
    total = 0
    for op, av in tree:
        inner = sum(_expanded_nodes(child) for child in _children(op, av))
        if op in _repeat_ops():
            lo, hi = av[0], av[1]
            times = hi if hi != _C.MAXREPEAT else lo
            inner *= max(1, times)
        total += 1 + inner
        if total > MAX_EXPANDED_NODES:
            return total
    return total


def _is_variable_repeat(op: Any, av: Any) -> bool:
    return bool(op in _repeat_ops() and av[0] != av[1])


def _has_quantifier(tree: Sequence[Any]) -> bool:
    """True when some node below repeats a variable number of times."""
    for op, av in tree:
        if _is_variable_repeat(op, av):
            return True
        if any(_has_quantifier(child) for child in _children(op, av)):
            return True
    return False


def _nested(tree: Sequence[Any]) -> bool:
    for op, av in tree:
        if op in _repeat_ops() and av[1] > 1 and _has_quantifier(av[2]):
            return True
        if any(_nested(child) for child in _children(op, av)):
            return True
    return False


def nested_quantifiers(pattern: str) -> bool:
    """True when a repeated part of ``pattern`` itself holds a quantifier (``(?:0*)*``, ``(a+)+``).

    Such patterns can make a backtracking engine (Nova's ``re``) try exponentially
    many ways to split the input.
    """
    tree = _parse(pattern)
    return tree is not None and _nested(tree)


# -- writing the tree back for ``regex`` ------------------------------------------------------

# Bits of ``re``'s parse tree (``re`` values; ``regex`` numbers some flags differently).
_FLAG_LETTERS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"), (re.ASCII, "a"))
_SCOPED_LETTERS = (*_FLAG_LETTERS, (re.UNICODE, "u"))


def regex_syntax(pattern: str) -> str:
    """``pattern`` as ``re`` parsed it, written so that ``regex`` (VERSION0) reads the same.

    Literals are escaped by code point, groups keep their numbers, flags their
    scope. Falls back to ``pattern`` itself when ``re``'s parser is unavailable.
    """
    tree = _parse(pattern)
    if tree is None:
        return pattern
    try:
        body = _write(tree)
    except (_Unknown, RecursionError):
        return pattern
    flags = "".join(letter for bit, letter in _FLAG_LETTERS if tree.state.flags & bit)
    return f"(?{flags}){body}" if flags else body


def _lit(code: int) -> str:
    ch = chr(code)
    if ch.isascii() and ch.isalnum():
        return ch
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _flag_letters(bits: int) -> str:
    return "".join(letter for bit, letter in _SCOPED_LETTERS if bits & bit)


def _write(tree: Sequence[Any]) -> str:
    return "".join(_write_node(op, av) for op, av in tree)


def _write_node(op: Any, av: Any) -> str:  # noqa: C901 - one branch per opcode
    c = _C
    if op == c.LITERAL:
        return _lit(av)
    if op == c.NOT_LITERAL:
        return f"[^{_lit(av)}]"
    if op == c.ANY:
        return "."
    if op == c.IN:
        return _write_set(av)
    if op == c.BRANCH:
        return "(?:" + "|".join(_write(alt) for alt in av[1]) + ")"
    if op == c.SUBPATTERN:
        group, add, delete, sub = av
        if group is not None:
            return f"({_write(sub)})"
        if add or delete:
            off = f"-{_flag_letters(delete)}" if delete else ""
            return f"(?{_flag_letters(add)}{off}:{_write(sub)})"
        return f"(?:{_write(sub)})"
    if op in _repeat_ops():
        lo, hi, sub = av
        count = f"{{{lo},}}" if hi == c.MAXREPEAT else f"{{{lo},{hi}}}"
        lazy = "?" if op == c.MIN_REPEAT else "+" if op != c.MAX_REPEAT else ""
        return f"(?:{_write(sub)}){count}{lazy}"
    if op == c.AT:
        return _AT[_name(av)]
    if op == c.GROUPREF:
        return f"(?:\\{av})"
    if op == c.GROUPREF_EXISTS:
        group, yes, no = av
        return f"(?({group}){_write(yes)}" + (f"|{_write(no)})" if no is not None else ")")
    if op in (c.ASSERT, c.ASSERT_NOT):
        direction, sub = av
        kind = ("=" if op == c.ASSERT else "!")
        return f"(?{'<' if direction < 0 else ''}{kind}{_write(sub)})"
    if hasattr(c, "ATOMIC_GROUP") and op == c.ATOMIC_GROUP:
        return f"(?>{_write(av)})"
    raise _Unknown(str(op))


_AT = {"AT_BEGINNING": "^", "AT_BEGINNING_STRING": "\\A", "AT_END": "$",
       "AT_END_STRING": "\\Z", "AT_BOUNDARY": "\\b", "AT_NON_BOUNDARY": "\\B"}
_CATEGORY = {"CATEGORY_DIGIT": "\\d", "CATEGORY_NOT_DIGIT": "\\D", "CATEGORY_SPACE": "\\s",
             "CATEGORY_NOT_SPACE": "\\S", "CATEGORY_WORD": "\\w", "CATEGORY_NOT_WORD": "\\W"}


def _write_set(items: Sequence[Any]) -> str:
    c = _C
    out = []
    for op, av in items:
        if op == c.NEGATE:
            out.append("^")
        elif op == c.LITERAL:
            out.append(_lit(av))
        elif op == c.RANGE:
            out.append(f"{_lit(av[0])}-{_lit(av[1])}")
        elif op == c.CATEGORY and _name(av) in _CATEGORY:
            out.append(_CATEGORY[_name(av)])
        else:
            raise _Unknown(str(op))
    if not out or out == ["^"]:
        raise _Unknown("empty set")
    return "[" + "".join(out) + "]"


def _name(constant: Any) -> str:
    return str(getattr(constant, "name", constant))
