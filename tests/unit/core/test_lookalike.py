"""Look-alike characters in config names: which are drawn like ASCII, and the error that names them."""

from __future__ import annotations

import pytest

from pcipass.core import lookalike


@pytest.mark.parametrize(("ch", "drawn"), [
    ("\u0440", "p"),        # Cyrillic er
    ("\uff50", "p"),        # fullwidth p (NFKC)
    ("\U0001d429", "p"),    # mathematical bold p (NFKC)
    ("\u200b", ""),         # zero-width space: drawn as nothing
    ("p", None),            # ASCII is itself
    ("\u00e9", None),       # é is not drawn like an ASCII letter
], ids=["cyrillic", "fullwidth", "math", "zero-width", "ascii", "accent"])
def test_drawn_as(ch: str, drawn: str | None) -> None:
    assert lookalike.drawn_as(ch) == drawn


def test_check_name_names_each_character_and_the_ascii_name() -> None:
    problem = lookalike.check_name("section", "\u0440ci", "[\u0440ci]", 3)
    assert problem is not None
    assert (problem.code, problem.line, problem.entry) == ("ConfusableCharacter", 3, "[\u0440ci]")
    assert "column 2: 'р' U+0440 CYRILLIC SMALL LETTER ER, drawn like 'p'" in problem.message
    assert problem.hint == "retype the name in ASCII: [pci]"


def test_check_name_of_plain_names_is_none() -> None:
    assert lookalike.check_name("option", "device_spec", "device_spec = {}", 2, "pci") is None
