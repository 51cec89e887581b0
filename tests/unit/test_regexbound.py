"""services.regexbound: the bounded engine says what Nova's ``re.match`` says, or that it hit the bound."""

from __future__ import annotations

import pickle
import re
import warnings

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import errors
from pcipass.services import regexbound as rb

# Regex address forms used in tests/ (the differential test's samples, the CLI and corpus tests)
# and in docs/nova-pci.md (and Nova's own devspec docstring), plus syntax where the regex
# package would read the text differently from re if it were handed the pattern as written.
CORPUS = [".*", "0", "0a", "0000", "00", "0[ab]", "0A", "(0a", "*", "a|b", "3b", "[0-2]", "",
          "0*", "0a$", "1", "a", "fff", "ff|0a", "0+", "[z-a]", "02", "01", "1f",
          "(?:(?:(?:(?:(?:0*)*)*)*)*)*1"]
SYNTAX = ["(?i)0A", "0{e<=1}", "0{e<=1}a", "[[:digit:]]", "[[:alpha:]]+", r"\d{2}", "[^0]",
          "(?x) 0 a # comment", "0{,2}a", "0{1, 2}", r"0\Z", "(?=0)0", "(?<=0)a", "(?P<x>0)(?P=x)",
          "(0)?(?(1)0|a)", r"\x30", r"\u0030", r"[\d--a]", "[a&&b]", "0++", "(?>0*)0", r"\b0",
          r"0\B", "$", "^0", "(?s:.)", r"(?a)\w\w", r"(?i:A)a", "(?m)0$", "[]a]", "[^]0]", "0|",
          r"\N{DIGIT ZERO}", "0{2}", "0{1,}?", "[-a]", "[a-]", r"[\]]", "(?#note)0", "0{", "0{x}"]
VALUES = ([f"{i:x}" for i in range(16)] + [f"{i:02x}" for i in range(256)]
          + ["0000", "0001", "000a", "00ff", "0a0a", "1234", "abcd", "ffff", "-001", ""])


def nova_accepts(pattern: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            re.compile(pattern)
        except re.error:
            return False
    return True


def nova_match(pattern: str, text: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return re.compile(pattern).match(text) is not None


@pytest.mark.parametrize("pattern", [p for p in CORPUS + SYNTAX if nova_accepts(p)])
def test_bounded_matcher_equals_re_match(pattern: str) -> None:
    matcher = rb.compile_bounded(pattern)
    # re itself backtracks for seconds on nested quantifiers past two characters
    values = [t for t in VALUES if len(t) <= 2] if rb.nested_quantifiers(pattern) else VALUES
    assert [t for t in values if matcher(t)] == [t for t in values if nova_match(pattern, t)]


@pytest.mark.parametrize(("pattern", "text"), [("0{e<=1}", "1"), ("[[:digit:]]", "0")])
def test_regex_extensions_never_reach_the_engine(pattern: str, text: str) -> None:
    # Handed as written, regex reads fuzzy matching and a POSIX class here; re reads literals.
    assert regex.compile(pattern, flags=rb.REGEX_FLAGS).match(text) is not None
    assert not nova_match(pattern, text)
    assert rb.compile_bounded(pattern)(text) is False


def test_written_back_syntax_escapes_every_literal() -> None:
    assert rb.regex_syntax("0{e<=1}[[:digit:]]") == r"0\x7be\x3c\x3d1\x7d[\x5b\x3adigt]\x5d"
    assert rb.regex_syntax("(?i)0[a-f]|(?P<x>1)(?P=x)") == r"(?i)(?:0[a-f]|(1)(?:\1))"
    assert rb.regex_syntax("(?x) 0 # c") == "0"


_ATOMS = ["0", "a", "f", ".", r"\d", "[0-3]", "[^a]", "[a-f0]", "(0)", "(?:a|0)", "^", "$", r"\b",
          "(?=0)", "(?!a)", "{", "}", ",", "x"]
_QUANTS = ["", "", "*", "+", "?", "{2}", "{0,2}", "{1,}", "*?", "+?", "??", "*+"]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.tuples(st.sampled_from(_ATOMS), st.sampled_from(_QUANTS)),
                      min_size=1, max_size=5),
       flags=st.sampled_from(["", "(?i)", "(?s)", "(?a)"]), alternate=st.booleans())
def test_generated_patterns_agree_with_re(parts: list[tuple[str, str]], flags: str,
                                          alternate: bool) -> None:
    body = "".join(a + q for a, q in parts)
    pattern = flags + (f"{body}|{parts[0][0]}" if alternate else body)
    if not nova_accepts(pattern) or rb.nested_quantifiers(pattern):
        return
    matcher = rb.compile_bounded(pattern)
    for text in VALUES[::7]:
        assert matcher(text) == nova_match(pattern, text), (pattern, text)


@pytest.mark.parametrize(("pattern", "nested"), [
    ("(?:(?:(?:(?:(?:0*)*)*)*)*)*1", True), ("(0+)+", True), ("(a|0?)*", True),
    ("(((0?(0?))+?)+){0,9}(?=x)", True), ("(?:0?){100}", True),
    ("0*", False), ("(0a)*", False), ("(?:[0-9a-f]{2})+", False), ("0[ab]", False),
    (".*", False), ("(?:0*)(?:1*)", False), ("(?:0*){1}", False)])
def test_nested_quantifiers(pattern: str, nested: bool) -> None:
    assert rb.nested_quantifiers(pattern) is nested


def test_a_pattern_that_hits_the_bound_raises_every_time_after() -> None:
    matcher = rb.compile_bounded("(((0?(0?))+?)+){0,9}(?=x)")
    assert matcher("00") is False  # short values finish
    with pytest.raises(rb.SpecRegexTimeout) as first:
        matcher("0000")
    assert isinstance(first.value, errors.InputError)
    with pytest.raises(rb.SpecRegexTimeout):
        matcher("0001")  # no second 100 ms: it failed once already
    assert first.value.kwargs["bound_ms"] == 100


def test_counted_repeats_that_unroll_too_far_are_refused_before_compiling() -> None:
    with pytest.raises(rb.SpecRegexTooLarge) as exc:
        rb.compile_bounded("(?:(?:(?:(?:0?){100}){100}){100}){100}x")
    assert exc.value.message == (
        "regex address pattern '(?:(?:(?:(?:0?){100}){100}){100}){100}x' is too large to match "
        "safely (over 10,000 parts once its counted repeats are unrolled); Nova's re.match can "
        "backtrack on such a pattern for minutes")
    assert rb.compile_bounded("(?:0?){1000}")("0") is True


def test_matchers_pickle_with_what_they_learnt() -> None:
    matcher = rb.compile_bounded("0[ab]")
    assert matcher("0a") is True
    copy = pickle.loads(pickle.dumps(matcher))
    assert (copy("0a"), copy("0c"), copy.pattern) == (True, False, "0[ab]")
