"""oslo.config's ``$name`` interpolation, bounded and explained.

oslo.config substitutes ``$name`` and ``${group.name}`` in every string value
with the value of that option, recursively. :class:`BoundedConf` lets oslo do
exactly that, and stops the three ways it goes wrong on hostile or mistaken
files, each as a Problem naming the references followed: a reference to no
option, references that loop, and chains that grow too deep or too long.
Nova's own references (``$state_path``, ``$my_ip``) read as Nova reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from oslo_config import cfg

from pcipass.adapters import iniparse
from pcipass.core import errors

DEFAULT = iniparse.DEFAULT

# oslo.config substitutes "$name" and "${group.name}" in every string value with the value of
# that option, recursively. Nova fails to start when a reference names no option
# (NoSuchOptError) or when references loop (a RecursionError that oslo reports as
# NoSuchOptError); a chain of references can also multiply a value's size at every level.
MAX_INTERPOLATION_DEPTH = 8
"""References followed inside one another; Nova's own (``$state_path``, ``$my_ip``) nest 1-2 deep."""
MAX_INTERPOLATIONS = 1000
"""References substituted while reading one option."""
MAX_INTERPOLATED_CHARS = 1 << 20
"""Characters the references put into one option's value."""


class _InterpolationFailed(cfg.Error):
    """A reference Nova cannot substitute either; the Problem is on the :class:`BoundedConf`."""


def _group_name(group: Any) -> str:
    if group is None:
        return DEFAULT
    return iniparse.normalize_group(group.name if isinstance(group, cfg.OptGroup) else str(group))


class BoundedConf(cfg.ConfigOpts):
    """oslo.config's ``ConfigOpts`` with its ``$name`` interpolation bounded and explained.

    Every reference still goes through oslo (same lookup, same types, same
    escapes: ``$$`` and ``\\$`` are a literal ``$``). pcipass registers only the
    options it reads, so a reference to another option of the service is
    answered from the files, and one to an option the service lacks (per
    ``known``) is its NoSuchOptError, as a Problem. Loops, depth and size are
    bounded. Read one option at a time: :meth:`start`, read it, then look at
    :attr:`notes` (warnings) and, when the read raised, :meth:`problem`.

    :param files: the parsed files oslo reads, for references to unregistered options.
    :param known: whether the service registers ``(group, name)``; ``None`` when
        unknown (``novaopts.is_nova_option`` for Nova).
    :param service: who reads the files, for the messages.
    """

    def __init__(self, files: Sequence[iniparse.IniFile] = (), *,
                 known: Callable[[str, str], bool | None], service: str = "Nova") -> None:
        super().__init__()
        self._files = list(files)
        self._values: dict[tuple[str, str], str] | None = None
        self._known = known
        self.service = service
        self.start(DEFAULT, "")

    def start(self, group: str, name: str) -> None:
        """Begin reading ``[group] name``: reset the bounds, the notes and the failure."""
        self.label = f"[{group}] {name}"
        self.chain: list[tuple[str, str]] = [(iniparse.normalize_group(group), name)] if name else []
        self.shown: list[str] = [self.label] if name else []
        self.substitutions = 0
        self.substituted_chars = 0
        self.failure: errors.Problem | None = None
        self.notes: list[errors.Problem] = []

    def problem(self, exc: BaseException) -> errors.Problem | None:
        """The Problem for an exception the read raised; ``None`` for a plain bad value.

        Interpolation failures give their own Problem; oslo's other errors (``$pci``
        names a group, not a value) give one with oslo's text. A value oslo's type
        refuses (``ConfigFileValueError``) is left to the caller, which knows its hint.
        """
        if self.failure is not None:
            return self.failure
        while isinstance(exc, cfg.NoSuchOptError) and isinstance(exc.__context__, (cfg.Error,
                                                                                  RecursionError)):
            exc = exc.__context__  # ConfigOpts.__getattr__ hides every error as NoSuchOptError
        if isinstance(exc, (cfg.ConfigFileValueError, ValueError)):
            return None
        code = "TemplateSubstitutionError" if isinstance(exc, RecursionError) else type(exc).__name__
        return errors.Problem(code, f"{self.label}: {errors.clip(str(exc))}", entry=self.label,
                              hint="write $$ for a literal $")

    class StrSubWrapper(cfg.ConfigOpts.StrSubWrapper):
        def __getitem__(self, key: str) -> Any:
            conf = self.conf
            if not isinstance(conf, BoundedConf):
                return cfg.ConfigOpts.StrSubWrapper.__getitem__(self, key)
            return conf.reference(key, self.group,
                                  lambda: cfg.ConfigOpts.StrSubWrapper.__getitem__(self, key))

    def reference(self, key: str, group: Any, lookup: Callable[[], Any]) -> Any:
        """The value oslo substitutes for ``$key`` in a value of ``group``."""
        here = _group_name(group)
        ident = self._ident(key, here)
        step = f"${key}" if "." not in key else f"${{{key}}}"
        if ident in self.chain:
            self._fail("TemplateSubstitutionError",
                       f"{self._path(step)}: the references loop, so oslo.config recurses "
                       f"until {self.service} stops with NoSuchOptError",
                       "break the loop: give one of these options a plain value")
        if len(self.chain) > MAX_INTERPOLATION_DEPTH:
            self._fail("TemplateSubstitutionError",
                       f"{self._path(step)}: references nested more than "
                       f"{MAX_INTERPOLATION_DEPTH} deep", "write the value itself")
        self.substitutions += 1
        if self.substitutions > MAX_INTERPOLATIONS:
            self._fail("TemplateSubstitutionError",
                       f"{self._path(step)}: more than {MAX_INTERPOLATIONS} references "
                       "substituted in one value", "write the value itself")
        self.chain.append(ident)
        self.shown.append(step)
        try:
            try:
                value = lookup()
            except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
                value = self._unregistered(key, here)
            if ident == (DEFAULT, "host") and value == "":
                self._note(f"{self._path()}: [DEFAULT] host is not set in these files, so "
                           f"{self.service} substitutes the machine's hostname, which pcipass "
                           "does not know; read as empty")
        finally:
            self.chain.pop()
            self.shown.pop()
        self.substituted_chars += len(str(value))
        if self.substituted_chars > MAX_INTERPOLATED_CHARS:
            self._fail("TemplateSubstitutionError",
                       f"{self._path(step)}: the references expand to more than "
                       f"{MAX_INTERPOLATED_CHARS:,} characters", "write the value itself")
        return value

    def _unregistered(self, key: str, here: str) -> Any:
        """A reference to an option pcipass does not register: its value from the files."""
        if "." in key:
            group, name = key.split(".", 1)
            candidates = [(iniparse.normalize_group(group), name)]
        else:
            candidates = ([(here, key)] if here != DEFAULT else []) + [(DEFAULT, key)]
        maybe: list[bool | None] = []
        for group, name in candidates:
            known = self._known(group, name)
            if known is False:
                continue
            raw = self._raw(group, name)
            if raw is not None:
                return self._substitute(raw, group=None if group == DEFAULT else group)
            maybe.append(known)
        where = " or ".join(f"[{g}]" for g, _n in candidates)
        if True in maybe:
            self._note(f"{self._path()}: the option is not set in these files, so {self.service} "
                       "substitutes its default, which pcipass does not know; read as empty")
            return ""
        if maybe:
            self._note(f"{self._path()}: not set in these files, and pcipass has no list of "
                       f"{self.service}'s options in {where}: its default if {self.service} has "
                       "such an option, else NoSuchOptError at start; read as empty")
            return ""
        name = candidates[-1][1]
        self._fail("NoSuchOptError",
                   f"{self._path()}: {self.service} has no option {name!r} in {where}, so "
                   f"oslo.config cannot substitute ${key} and {self.service} stops with "
                   "NoSuchOptError",
                   "write $$ for a literal $, or refer to an existing option such as $my_ip")
        raise AssertionError("unreachable")

    def _raw(self, group: str, name: str) -> str | None:
        """The value the files give ``[group] name`` (the last one wins, as in oslo)."""
        if self._values is None:  # one pass over the files, not one per reference
            self._values = {(e.group, e.key): e.value for ini in self._files
                            for e in ini.entries}
        return self._values.get((group, name))

    def _ident(self, key: str, here: str) -> tuple[str, str]:
        if "." in key:
            group, name = key.split(".", 1)
            return iniparse.normalize_group(group), name
        if here != DEFAULT and (self._registered(here, key) or self._raw(here, key) is not None):
            return here, key
        return DEFAULT, key

    def _registered(self, group: str, name: str) -> bool:
        return name in (self._opts if group == DEFAULT else
                        self._groups[group]._opts if group in self._groups else {})

    def _path(self, last: str | None = None) -> str:
        """The references followed so far, as written: ``[DEFAULT] host -> $my_ip -> ...``."""
        return " -> ".join([*self.shown, *([last] if last is not None else [])])

    def _note(self, message: str) -> None:
        self.notes.append(errors.Problem("UnresolvedInterpolation", message, entry=self.label,
                                         hint="write the value itself instead of a $reference"))

    def _fail(self, code: str, message: str, hint: str) -> None:
        if self.failure is None:
            self.failure = errors.Problem(code, message, entry=self.label, hint=hint)
        raise _InterpolationFailed(message)
