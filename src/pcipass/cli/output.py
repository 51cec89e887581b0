"""Output formats shared by every command: ``-f table|json|yaml|value|csv`` (and the doctor's
extras; ``value`` and ``csv`` print the command's listing, :mod:`pcipass.cli.listing`).

The JSON document is the contract; YAML is the same document; the table is a
human view rendered with rich from the same document. Rendering never changes
what the document says.

User strings (host names, aliases, file names, config values) reach every
format through this module, which keeps the output valid whatever they hold:

* Bytes that are not UTF-8 (file names, which Python carries as lone
  surrogates through ``surrogateescape``, or ``\\udcff`` escapes in a JSON
  input) are shown as the four characters ``\\xff``; any other lone surrogate
  as ``\\uXXXX``. Every format, so stdout is always valid UTF-8.
* On a terminal (tables, stderr, JUnit) control characters are shown the same
  way: C0 except tab and newline, DEL, C1, the bidirectional overrides, so an
  ESC sequence in ``etc/hostname`` prints as the text ``\\x1b[31m``. JSON and
  YAML keep them (both escape them).
* Tables never parse rich markup or emoji codes: ``[/]``, ``[bold]physnet1``
  and ``:smile:`` print as written (:func:`make_console`).

A backslash the user wrote stays as it is, so ``\\xff`` in the output is
either that byte or those four characters; ``-f json`` of a UTF-8 name is exact.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, cast

import click

from pcipass.cli import listing

if TYPE_CHECKING:
    import rich.console

FORMATS = ("table", "json", "yaml")

# Lone surrogates: bytes that were not UTF-8 (U+DC80-U+DCFF under surrogateescape) or bad \u escapes.
_SURROGATES = re.compile("[\ud800-\udfff]")
# What must not reach a terminal raw: the surrogates, C0 but tab and newline, DEL, C1, the
# bidirectional embeddings, overrides and isolates, and the non-characters XML refuses.
_UNSHOWABLE = re.compile("[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
                         "\ufffe\uffff]")


def _escaped(match: re.Match[str]) -> str:
    """One character as text: ``\\xff`` for the byte behind a surrogate or a C0/C1 code, else ``\\uXXXX``."""
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def utf8_text(text: str) -> str:
    """``text`` with every lone surrogate escaped: it encodes as UTF-8."""
    return text if text.isascii() else _SURROGATES.sub(_escaped, text)


def terminal_text(text: str) -> str:
    """``text`` safe to show on a terminal: no surrogates, no control characters but tab and newline."""
    return text if text.isprintable() else _UNSHOWABLE.sub(_escaped, text)


def _map_strings(obj: Any, fix: Callable[[str], str]) -> Any:
    if isinstance(obj, str):
        return fix(obj)
    if isinstance(obj, dict):
        return {fix(k) if isinstance(k, str) else k: _map_strings(v, fix) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_map_strings(v, fix) for v in obj]
    return obj


def utf8_doc(doc: Any) -> Any:
    """A copy of ``doc`` whose strings (keys too) all encode as UTF-8 (:func:`utf8_text`)."""
    return _map_strings(doc, utf8_text)


def terminal_doc(doc: Any) -> Any:
    """A copy of ``doc`` whose strings (keys too) are safe on a terminal (:func:`terminal_text`)."""
    return _map_strings(doc, terminal_text)


def make_console(file: IO[str] | None = None) -> rich.console.Console:
    """Return the console used for tables: colour only on a TTY, stable width in pipes.

    Every string it renders (``print`` arguments, table cells, titles) is plain
    text: no markup, no emoji codes, no highlighting, and control characters
    shown as escapes, whatever the caller passes.
    """
    import rich.console  # ~17 ms, for tables only: -f json never builds a console

    class PlainConsole(rich.console.Console):
        def render_str(self, text: str, **kwargs: Any) -> Any:
            kwargs.update(markup=False, emoji=False, highlight=False)
            return super().render_str(terminal_text(text), **kwargs)

    out = file if file is not None else sys.stdout
    is_tty = hasattr(out, "isatty") and out.isatty()
    # NO_COLOR (no-color.org): any non-empty value turns colour off, on a terminal too.
    # COLUMNS sets the width anywhere (a pipe gets 120 otherwise, a terminal its own).
    columns = os.environ.get("COLUMNS", "").strip()
    width = int(columns) if columns.isdigit() and int(columns) > 0 else (None if is_tty else 120)
    return PlainConsole(file=out, highlight=False, markup=False, emoji=False, soft_wrap=False,
                        width=width, no_color=not is_tty or bool(os.environ.get("NO_COLOR")))


class _TerminalStream(io.TextIOBase):

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(terminal_text(text))

    def flush(self) -> None:
        self._stream.flush()


def terminal_stream(stream: IO[str]) -> IO[str]:
    """A text stream that writes to ``stream`` what :func:`terminal_text` makes of each string."""
    return cast(IO[str], _TerminalStream(stream))


def echo_err(message: str) -> None:
    """Print one message on stderr, safe for a terminal (:func:`terminal_text`)."""
    click.echo(terminal_text(given_names(message)), err=True)


def _finite(obj: Any) -> Any:
    """Replace NaN/Infinity (which json.loads accepts in configs) by strings: output stays JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def json_indent(out: IO[str] | None = None) -> int | None:
    """Indent JSON for a terminal; print it on one line for pipes and files.

    One line is what scripts want, and it is five times cheaper to print
    (``json`` falls back to its pure-Python encoder for any indent): 3 ms
    instead of 15 ms for a host of 1,000 VFs. ``PCIPASS_JSON_INDENT=N`` forces
    an indent of N (``0``: one line) wherever the output goes.
    """
    forced = os.environ.get("PCIPASS_JSON_INDENT", "").strip()
    if forced.isdigit():
        return int(forced) or None
    out = out if out is not None else sys.stdout
    return 2 if hasattr(out, "isatty") and out.isatty() else None


def _json_escaped(match: re.Match[str]) -> str:
    return _escaped(match).replace("\\", "\\\\")


def dump_json(doc: dict[str, Any], indent: int | None = 2) -> str:
    """``doc`` as JSON text that encodes as UTF-8 (lone surrogates become the text ``\\xff``)."""
    try:
        text = json.dumps(doc, indent=indent, ensure_ascii=False, allow_nan=False)
    except ValueError:  # NaN in a tag (json.loads accepts it in configs)
        text = json.dumps(_finite(doc), indent=indent, ensure_ascii=False, allow_nan=False)
    # NOTE: surrogates can only stand inside JSON strings, so fixing the text is fixing the
    # values, and costs one C-speed scan instead of a walk over the document.
    return text if text.isascii() else _SURROGATES.sub(_json_escaped, text)


def dump_yaml(doc: dict[str, Any]) -> str:
    import yaml  # ~8 ms, for -f yaml only

    return yaml.safe_dump(utf8_doc(_finite(doc)), sort_keys=False, allow_unicode=True,
                          default_flow_style=False)


def given_names(doc: Any) -> Any:
    """``doc`` with the private copies of stdin and pipes named as the user gave them."""
    from pcipass.adapters import inputspool  # ~7 ms, which --help skips

    names = inputspool.display_names()
    if not names:
        return doc

    def fix(text: str) -> str:
        for copy, shown in names.items():
            if copy in text:
                text = text.replace(copy, shown)
        return text

    return _map_strings(doc, fix)


def emit(doc: dict[str, Any], fmt: str,
         table: Callable[[dict[str, Any], rich.console.Console], None],
         file: IO[str] | None = None, rows: listing.Rows | None = None) -> None:
    """Print ``doc`` in ``fmt``; ``table`` renders the human view, ``rows`` the command's
    listing (``-f value``, ``-f csv``, and ``-c COLUMN``: :mod:`pcipass.cli.listing`).

    ``table`` gets a copy of ``doc`` made safe for a terminal (:func:`terminal_doc`)
    and a console that never parses markup (:func:`make_console`).

    :raises click.UsageError: ``-f value``/``csv`` or ``-c`` where they cannot apply.
    """
    out = file if file is not None else sys.stdout
    doc = given_names(doc)
    columns = listing.selected()
    if fmt in listing.FORMATS or (columns and fmt == "table"):
        if rows is None:
            raise click.UsageError(f"this command has no listing for -f {fmt} or -c")
        picked = rows(utf8_doc(doc)).select(columns)
        if fmt == "table":
            _listing_table(picked, make_console(out))
        else:
            listing.write(picked, fmt, out)
        return
    if columns:
        raise click.UsageError(f"-c picks the columns of -f table, value or csv; the {fmt} "
                               "document is printed whole")
    if fmt == "json":
        out.write(dump_json(doc, json_indent(out)) + "\n")
    elif fmt == "yaml":
        out.write(dump_yaml(doc))
    else:
        table(terminal_doc(doc), make_console(out))


def _listing_table(picked: listing.Listing, console: rich.console.Console) -> None:
    from rich.table import Table  # ~13 ms, for tables only

    table = Table(*picked.columns, box=None, pad_edge=False)
    for row in picked.rows:
        table.add_row(*(listing.text(v) for v in row))
    console.print(table)
