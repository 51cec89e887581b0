"""Listings for scripts: ``-f value``, ``-f csv`` and ``-c COLUMN``, as the OpenStack client has them.

Every printing command has one listing: the rows its table is mostly about (scan: devices;
config check: device_spec entries; schedule: hosts; doctor: findings; ...), with columns named
as the JSON fields they come from. ``-f value`` prints each row's values separated by a space,
no header; ``-f csv`` prints a header and quoted rows; ``-c COLUMN`` (repeatable) keeps those
columns, in the order given, in ``value``, ``csv`` and ``table``. The JSON and YAML documents
are contracts and are never cut: ``-c`` with them is a usage error.

A value prints as the OpenStack client prints it, lists joined by commas; null is ``None`` in
``value`` and an empty field in ``csv``.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

import click

FORMATS = ("value", "csv")


class Listing:
    """A command's rows: column names and the rows, each a sequence of values."""

    __slots__ = ("columns", "rows")

    def __init__(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]

    def select(self, wanted: Sequence[str]) -> Listing:
        """Only the ``wanted`` columns, in that order.

        :raises click.UsageError: a column this listing does not have (with the closest).
        """
        if not wanted:
            return self
        index = []
        for name in wanted:
            if name not in self.columns:
                close = difflib.get_close_matches(name, self.columns, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise click.UsageError(f"no column {name!r}: the columns are "
                                       f"{', '.join(self.columns)}.{hint}")
            index.append(self.columns.index(name))
        return Listing([self.columns[i] for i in index], ([r[i] for i in index] for r in self.rows))


Rows = Callable[[dict[str, Any]], Listing]


def text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(text(v) for v in value)
    if isinstance(value, bool):
        return str(value)
    return "None" if value is None else str(value)


def write(listing: Listing, fmt: str, out: IO[str]) -> None:
    if fmt == "csv":
        writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow(listing.columns)
        for row in listing.rows:
            writer.writerow([v if isinstance(v, (int, float)) and not isinstance(v, bool)
                             else "" if v is None else text(v) for v in row])
    else:
        for row in listing.rows:
            out.write(" ".join(text(v) for v in row) + "\n")


def column_option() -> Callable[[Any], Any]:
    """``-c/--column COLUMN`` (repeatable), kept on the context for :func:`selected`."""

    def keep(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
        ctx.meta["pcipass.columns"] = tuple(value)

    return click.option("-c", "--column", "columns", multiple=True, metavar="COLUMN",
                        expose_value=False, callback=keep,
                        help="Print only this column (repeatable; -f table, value or csv).")


def selected() -> tuple[str, ...]:
    ctx = click.get_current_context(silent=True)
    return tuple(ctx.meta.get("pcipass.columns", ())) if ctx is not None else ()
