"""The bounds of :mod:`~pcipass.core.configbounds` on nova.conf files, checked before oslo.config.

A configuration (one file, or the files of a ``--config-file``/``--config-dir`` set read
together) over :data:`~pcipass.core.configbounds.MAX_LINES` lines, or with an option of more
than :data:`~pcipass.core.configbounds.MAX_ENTRIES` entries, is refused whole: oslo.config
never merges it and no value of it is used. Entries are counted on the INI entries, in the
order oslo reads the files: the values of a multi-valued option across every file, the JSON
objects of ``device_spec``/``alias`` values (their ``{``), the items of one list value.
"""

from __future__ import annotations

from collections.abc import Sequence

from pcipass.adapters import iniparse, novaopts
from pcipass.core import configbounds, errors

#: Options whose values are JSON objects, and the list options pcipass reads.
JSON_FIELDS = frozenset({"device_spec", "alias", "legacy_devices"})
LIST_FIELDS = frozenset({"enabled_filters", "weight_classes"})
_BY_NAME = {name: opt for opt in novaopts.OPTS for name in opt.names}

#: A parsed file as the bounds see it: display name, INI entries, lines before its first line.
File = tuple[str, iniparse.IniFile, int]


def over_bound(files: Sequence[File]) -> errors.Problem | None:
    """The first bound the files pass together, as a ``ConfigTooLarge`` problem, else None."""
    before = 0
    for name, ini, offset in files:
        if before + ini.lines > configbounds.MAX_LINES:
            return configbounds.too_many_lines(name, configbounds.MAX_LINES - before + 1 + offset,
                                               before)
        before += ini.lines
    counts: dict[str, int] = {}
    for name, ini, offset in files:
        for e in ini.entries:
            opt = _BY_NAME.get((e.group, e.key))
            if opt is None or not (opt.multi or opt.field in LIST_FIELDS):
                continue
            if opt.field in JSON_FIELDS:
                what, n = "JSON objects", configbounds.json_entries(e.value)
            elif opt.field in LIST_FIELDS:
                what, n = "list items", configbounds.list_items(e.value)
            else:
                what, n = "values", 1
            counts[opt.field] = n + (counts.get(opt.field, 0) if opt.multi else 0)
            if counts[opt.field] > configbounds.MAX_ENTRIES:
                return configbounds.too_many_entries(opt.label, what, name, e.line + offset)
    return None


def refuse_long(name: str, text: str, line_offset: int, before: int) -> errors.Problem | None:
    """Why a file is refused when its text passes the lines left of the bound, else None.

    The lines within the bound are parsed (a bounded cost) so that a file made of one
    option's entries is refused naming that option and the entry that passed its bound;
    otherwise the problem names the first line past the bound.
    """
    left = configbounds.MAX_LINES - before
    cut = configbounds.line_past(text, left)
    if cut is None:
        return None
    try:
        ini = iniparse.parse_ini(text[:cut])
    except iniparse.IniSyntaxError:
        ini = None
    over = over_bound([(name, ini, line_offset)]) if ini is not None else None
    return over or configbounds.too_many_lines(name, left + 1 + line_offset, before)
