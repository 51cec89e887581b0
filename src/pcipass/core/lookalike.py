"""Characters drawn like ASCII letters in names: "[рci]" with a Cyrillic "р" is not "[pci]".

oslo.config compares section and option names exactly, so a look-alike
letter (copy-paste, another keyboard layout) makes another section or option,
and Nova silently ignores it. :func:`check_name` names each such
character and the ASCII name it is drawn like.
"""

from __future__ import annotations

import unicodedata

from pcipass.core import errors

# Letters of other scripts drawn like ASCII ones (the Latin look-alikes of Unicode's
# confusables.txt that reach configs through copy-paste and keyboard layouts), and characters
# drawn as nothing. oslo.config compares names exactly, so "[рci]" with a Cyrillic "р" is
# another section, and Nova silently ignores every option under it.
_LOOKALIKES = {
    # Cyrillic
    "\u0430": "a", "\u0441": "c", "\u0501": "d", "\u0435": "e", "\u04bb": "h", "\u0456": "i",
    "\u0458": "j", "\u04cf": "l", "\u043e": "o", "\u0440": "p", "\u051b": "q", "\u0455": "s",
    "\u051d": "w", "\u0445": "x", "\u0443": "y", "\u04af": "y",
    "\u0410": "A", "\u0412": "B", "\u0421": "C", "\u0415": "E", "\u041d": "H", "\u0406": "I",
    "\u0408": "J", "\u041a": "K", "\u041c": "M", "\u041e": "O", "\u0420": "P", "\u051a": "Q",
    "\u0405": "S", "\u0422": "T", "\u051c": "W", "\u0425": "X", "\u0423": "Y", "\u04ae": "Y",
    "\u04c0": "I",
    # Greek
    "\u03b1": "a", "\u03b9": "i", "\u03ba": "k", "\u03bd": "v", "\u03bf": "o", "\u03c1": "p",
    "\u03c5": "u",
    "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I",
    "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O", "\u03a1": "P", "\u03a4": "T",
    "\u03a5": "Y", "\u03a7": "X",
    # Armenian, and Latin letters outside ASCII
    "\u0585": "o", "\u057d": "u", "\u0570": "h", "\u0131": "i", "\u0251": "a", "\u0261": "g",
    # drawn as nothing
    "\u00ad": "", "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "",
}


def drawn_as(ch: str) -> str | None:
    """The ASCII text ``ch`` is drawn like (``""`` for an invisible one), or ``None``."""
    if ch.isascii():
        return None
    if ch in _LOOKALIKES:
        return _LOOKALIKES[ch]
    folded = unicodedata.normalize("NFKC", ch)  # fullwidth "ｐ", mathematical "𝐩", ligatures
    return folded if folded != ch and folded.isascii() and folded.isprintable() else None


def check_name(kind: str, name: str, raw_line: str, line: int,
               section: str | None = None) -> errors.Problem | None:
    """A ConfusableCharacter error for a section or key ``name`` holding look-alike characters.

    :param kind: ``"section"`` or ``"option"``.
    :param raw_line: the line as written, for the columns.
    :param section: the option's section, for the problem's entry.
    :returns: ``None`` for a name of plain characters. The problem names each character (column in the line, code point, Unicode name) and the
    ASCII name the whole name is drawn like.
    """
    found = [(i, ch, ascii_) for i, ch in enumerate(name) if (ascii_ := drawn_as(ch)) is not None]
    if not found:
        return None
    start = max(raw_line.find(name), 0)
    drawn = "".join(ascii_ if (ascii_ := drawn_as(ch)) is not None else ch for ch in name)
    chars = "; ".join(
        f"column {start + i + 1}: {ch!r} U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')}, "
        + (f"drawn like {ascii_!r}" if ascii_ else "drawn as nothing")
        for i, ch, ascii_ in found[:8])
    shown = f"[{name}]" if kind == "section" else name
    want = f"[{drawn}]" if kind == "section" else drawn
    effect = ("oslo.config reads it as another section, so Nova ignores every option in it"
              if kind == "section" else "oslo.config reads it as another option, which Nova ignores")
    return errors.Problem(
        "ConfusableCharacter",
        f"{kind} {shown} is not {want}: {chars}; {effect}",
        line=line, entry=shown if section is None else f"[{section}] {shown}",
        hint=f"retype the name in ASCII: {want}")
