"""oslo.config's INI grammar, line-aware: what oslo reads from a file, and at which line.

oslo.config keeps no line numbers, so pcipass parses each file a second time
with :func:`parse_ini`, a copy of ``oslo_config.iniparser.BaseParser`` that
keeps them (the test suite checks it against oslo's parser). A file oslo would
refuse gets :func:`parse_problem`: oslo's ``ConfigFileParseError`` at its line.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence

from pcipass.core import errors

DEFAULT = "DEFAULT"


@dataclasses.dataclass(frozen=True, slots=True)
class IniEntry:
    """One ``key = value`` assignment (continuation lines joined as oslo joins them)."""

    section: str
    key: str
    value: str
    line: int
    end_line: int

    @property
    def group(self) -> str:
        """The section name as oslo looks it up (``DEFAULT`` kept, others lower-cased)."""
        return normalize_group(self.section)


@dataclasses.dataclass(frozen=True, slots=True)
class IniFile:
    entries: tuple[IniEntry, ...]
    sections: tuple[tuple[str, int], ...]
    lines: int = 0

    def find(self, group: str, key: str) -> list[IniEntry]:
        """Entries for ``key`` in every section that normalizes to ``group``, in file order."""
        return [e for e in self.entries if e.group == group and e.key == key]


class IniSyntaxError(ValueError):
    """What oslo's ``iniparser.ParseError`` reports: a message, the line number and text."""

    def __init__(self, msg: str, lineno: int, line: str) -> None:
        super().__init__(f"at line {lineno}, {msg}: {line!r}")
        self.msg = msg
        self.lineno = lineno
        self.line = line


def normalize_group(name: str) -> str:
    """oslo.config's section normalization: ``DEFAULT`` stays, anything else is lower-cased."""
    return name if name == DEFAULT else name.lower()


def split_lines(text: str) -> list[str]:
    """Lines as Python's text-mode ``readlines()`` yields them (universal newlines)."""
    return io.StringIO(text, newline=None).readlines()


def parse_ini(text: str) -> IniFile:
    """Parse INI text with oslo.config's grammar, keeping line numbers.

    Mirrors ``oslo_config.iniparser.BaseParser``: a blank line ends a
    multi-line value; a line starting with a space or tab continues it; ``#``
    and ``;`` start comments only in column 0; ``key = value`` and
    ``key: value`` both assign (the first of ``=``/``:`` wins); one pair of
    matching surrounding quotes is removed from the first line's value.

    :raises IniSyntaxError: where oslo would raise ``ParseError``.
    """
    return _IniParser().parse(split_lines(text))


class _IniParser:
    def __init__(self) -> None:
        self.entries: list[IniEntry] = []
        self.sections: list[tuple[str, int]] = []
        self.section: str | None = None
        self.key: str | None = None
        self.value: list[str] = []
        self.key_line = 0
        self.last_line = 0

    def parse(self, lines: Sequence[str]) -> IniFile:
        for lineno, raw in enumerate(lines, 1):
            self._line(lineno, raw.rstrip())
        self._flush(len(lines))
        return IniFile(tuple(self.entries), tuple(self.sections), len(lines))

    def _line(self, lineno: int, line: str) -> None:
        if not line:
            self._flush(lineno)
            return
        if line.startswith((" ", "\t")):
            if self.key is None:
                raise IniSyntaxError("Unexpected continuation line", lineno, line)
            self.value.append(line.lstrip())
            self.last_line = lineno
            return
        self._flush(lineno)
        if line.startswith("["):
            if not line.endswith("]"):
                raise IniSyntaxError("Invalid section (must end with ])", lineno, line)
            if len(line) <= 2:
                raise IniSyntaxError("Empty section name", lineno, line)
            self.section = line[1:-1]
            self.sections.append((self.section, lineno))
        elif not line.startswith(("#", ";")):
            self.key, self.value = _split_key_value(line, lineno)
            self.key_line = self.last_line = lineno
            if not self.key:
                raise IniSyntaxError("Key cannot be empty", lineno, line)

    def _flush(self, lineno: int) -> None:
        if self.key is None:
            return
        if self.section is None:
            raise IniSyntaxError("Section must be started before assignment", self.key_line,
                                 f"{self.key} = {self.value[0] if self.value else ''}")
        self.entries.append(IniEntry(self.section, self.key, "\n".join(self.value),
                                     self.key_line, self.last_line))
        self.key, self.value = None, []


def _split_key_value(line: str, lineno: int) -> tuple[str, list[str]]:
    colon, equal = line.find(":"), line.find("=")
    if colon < 0 and equal < 0:
        raise IniSyntaxError("No ':' or '=' found in assignment", lineno, line)
    cut = equal if colon < 0 or (0 <= equal < colon) else colon
    key, value = line[:cut], line[cut + 1:].strip()
    if value and value[0] == value[-1] and value.startswith(('"', "'")):
        value = value[1:-1]
    return key.strip(), [value]


_PARSE_HINTS = {
    "Unexpected continuation line": ("a line starting with a space or tab continues the previous "
                                     "value; remove the indentation (or the blank line above it)"),
    "Section must be started before assignment": "put a section header such as [pci] above it",
    "No ':' or '=' found in assignment": "write options as 'key = value'",
    "Invalid section (must end with ])": "close the section header with ]",
    "Empty section name": "name the section, e.g. [pci]",
    "Key cannot be empty": "write options as 'key = value'",
}


def parse_problem(name: str, err: IniSyntaxError, offset: int = 0) -> errors.Problem:
    """oslo's ``ConfigFileParseError`` as a Problem at the failing line."""
    hint = _PARSE_HINTS.get(err.msg)
    if err.lineno == 1 and err.line.startswith("\ufeff"):
        hint = "the file starts with a UTF-8 byte-order mark, which oslo.config cannot parse; save it without BOM"
    line = err.lineno + offset
    return errors.Problem("ConfigFileParseError",
                          f"Failed to parse {name}: at line {line}, {err.msg}: {err.line!r}",
                          file=name, line=line, hint=hint)
