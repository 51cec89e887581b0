"""Read nova.conf files exactly as Nova does, and say where every value came from.

Values come from **oslo.config** itself (a private ``ConfigOpts`` per call,
with the options of :mod:`~pcipass.adapters.novaopts` registered under Nova's
names, types, defaults and deprecated names), so merging across
``--config-file``/``--config-dir``, MultiStrOpt accumulation and
deprecated-name handling are oslo's own, and ``$name`` references go through
:mod:`~pcipass.adapters.interpolation`'s bounds.

oslo.config keeps no line numbers, so each file is also parsed by
:func:`iniparse.parse_ini <pcipass.adapters.iniparse.parse_ini>`, whose
entries are ordered the way oslo orders values: every value oslo returns gets
its file and line from that parse. Names oslo ignores are reported by
:mod:`~pcipass.adapters.novanames`.

Files oslo would choke on (missing, a directory, not UTF-8, INI syntax
errors) become :class:`~pcipass.core.errors.Problem` objects naming the file
and line, and are left out of the oslo pass so the other files still count.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from oslo_config import cfg

from pcipass.adapters import boundedread, iniparse, interpolation, novabounds, novanames, novaopts
from pcipass.core import config, configbounds, errors, schedfilters


# -- loading files -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Loaded:
    """A file that could be read and parsed: its display name, real path and INI entries."""

    name: str
    path: str
    text: str
    ini: iniparse.IniFile
    line_offset: int = 0

    def line(self, n: int) -> int:
        return n + self.line_offset


def read_text(path: str | Path, *, what: str = "config file") -> tuple[str | None, errors.Problem | None]:
    """Read a file as UTF-8 text, or say precisely why not (never raises)."""
    name = str(path)
    try:
        data = boundedread.read_bounded(path, boundedread.MAX_INPUT_BYTES)
    except FileNotFoundError:
        return None, errors.Problem("ConfigFilesNotFoundError", f"{what} {name} does not exist",
                                    file=name, hint="check the path")
    except IsADirectoryError:
        return None, errors.Problem("ConfigFileIsDirectory", f"{name} is a directory, not a {what}",
                                    file=name, hint="pass the file itself (directories of *.conf "
                                    "fragments go to --config-dir)")
    except PermissionError:
        return None, errors.Problem("ConfigFilesPermissionDeniedError",
                                    f"no permission to read {what} {name}", file=name,
                                    hint="run as a user that can read it, or copy it")
    except (boundedread.NotRegularFile, boundedread.FileTooLarge) as exc:
        return None, errors.Problem("ConfigFileUnreadable", f"cannot read {what} {name}: "
                                    f"{exc.strerror}", file=name, hint="pass a regular file")
    except OSError as exc:
        return None, errors.Problem("ConfigFileUnreadable",
                                    f"cannot read {what} {name}: {exc.strerror or exc}", file=name)
    return decode_text(name, data)


def decode_text(name: str, data: bytes) -> tuple[str | None, errors.Problem | None]:
    """Decode a config file's bytes as oslo.config does (UTF-8), naming the bad byte's line."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return None, errors.Problem(
            "ConfigFileDecodeError",
            f"{name} is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line} "
            f"(offset {exc.start}) cannot be decoded", file=name, line=line,
            hint="oslo.config reads config files as UTF-8 text; is this the right file?")


def load(path: str | Path, *, display: str | None = None, line_offset: int = 0,
         before: int = 0) -> tuple[Loaded | None, errors.Problem | None]:
    """Read and INI-parse one file; a Problem instead when oslo could not use it.

    :param before: lines of the files read before this one for the same configuration:
        :data:`~pcipass.core.configbounds.MAX_LINES` bounds them all together, and a file
        that passes it is refused (``ConfigTooLarge``) before it is parsed.
    """
    name = display or str(path)
    text, problem = read_text(path)
    if text is None:
        return None, problem
    refused = novabounds.refuse_long(name, text, line_offset, before)
    if refused is not None:
        return None, refused
    try:
        ini = iniparse.parse_ini(text)
    except iniparse.IniSyntaxError as err:
        return None, iniparse.parse_problem(name, err, line_offset)
    return Loaded(name, str(path), text, ini, line_offset), None


def _dir_files(directory: str | Path) -> tuple[list[str], errors.Problem | None]:
    """``*.conf`` in a config dir, in the order oslo.config reads them."""
    d = str(directory)
    if not os.path.isdir(os.path.expanduser(d)):
        return [], errors.Problem("ConfigDirNotFoundError",
                                  f"config dir {d} does not exist or is not a directory", file=d)
    return sorted(glob.glob(os.path.join(os.path.expanduser(d), "*.conf"))), None


# -- reading -----------------------------------------------------------------------------


def read_nova_conf(files: Sequence[str | Path], *,
                   config_dirs: Sequence[str | Path] = (),
                   display: Mapping[str, str] | None = None) -> config.NovaConfig:
    """Read nova.conf files merged in order, as ``--config-file`` and ``--config-dir`` do.

    Files in ``config_dirs`` (``*.conf``, sorted) are read after ``files``.
    Never raises for bad input: every failure is in ``problems``.

    :param display: the name to report for a file read in place of another (a template's
        masked text, a diff's new side: :mod:`~pcipass.adapters.novaprepare`).
    """
    shown = display or {}
    loaded: list[Loaded] = []
    problems: list[errors.Problem] = []
    paths: list[str | Path] = list(files)
    for d in config_dirs:
        found, problem = _dir_files(d)
        paths.extend(found)
        if problem is not None:
            problems.append(problem)
    for p in paths:
        item, problem = load(p, display=shown.get(str(p)), before=lines_of(loaded))
        if item is not None:
            loaded.append(item)
        elif problem is not None:
            problems.append(problem)
            if problem.code == configbounds.CODE:
                break  # the whole configuration is refused (read_loaded)
    return read_loaded(loaded, [shown.get(str(p), str(p)) for p in paths], problems)


def read_loaded(loaded: Sequence[Loaded], names: Sequence[str],
                problems: Sequence[errors.Problem] = ()) -> config.NovaConfig:
    """Merge already parsed files through oslo.config and locate every value.

    A configuration over a bound of :mod:`~pcipass.core.configbounds` (a ``ConfigTooLarge``
    among ``problems``, or an option with too many entries) is refused whole, before oslo
    reads it: nothing of it is used.
    """
    over = next((p for p in problems if p.code == configbounds.CODE), None) or \
        novabounds.over_bound([(item.name, item.ini, item.line_offset) for item in loaded])
    if over is not None:
        kept = [p for p in problems if p is not over]
        return config.NovaConfig(files=list(names), problems=[*kept, over])
    conf, oslo_problem = _oslo(loaded)
    state = _Reader(list(loaded), list(problems), [])
    if oslo_problem is not None:
        state.problems.append(oslo_problem)
    values: dict[str, Any] = {}
    for opt in novaopts.OPTS:
        values[opt.field] = state.read(conf, opt)
    state.warn_names()
    located = [ov for ov in values["available_filters"] if ov.file is not None]
    if located:  # a multi-valued option the controller's config may own (hostmatch.CONTROLLER_OPTIONS)
        state.sources["available_filters"] = located[0]
    if loaded and not _has_pci(values, state.sources):
        state.warnings.append(errors.Problem(
            "NoPciOptions",
            "no PCI options found: no [pci] device_spec/alias, no [filter_scheduler] "
            "pci_in_placement or pci_weight_multiplier",
            file=loaded[0].name if len(loaded) == 1 else None,
            hint="PCI passthrough needs [pci] device_spec on computes and [pci] alias on the API/"
                 "scheduler nodes"))
    return config.NovaConfig(files=list(names), problems=state.problems, warnings=state.warnings,
                             sources=state.sources, **values)


def lines_of(loaded: Sequence[Loaded]) -> int:
    """Lines of files already read for one configuration (they count toward its bound)."""
    return sum(item.ini.lines for item in loaded)


def _has_pci(values: dict[str, Any], sources: dict[str, config.OptionValue]) -> bool:
    if any(values[f] for f in ("device_spec", "alias", "legacy_devices")):
        return True
    if schedfilters.PCI_FILTER in values["enabled_filters"]:
        return True
    return any(f in sources for f in novaopts.PCI_FIELDS)


@contextlib.contextmanager
def _quiet_oslo() -> Iterator[None]:
    """Keep oslo's deprecation log lines off stderr: we report them as Problems."""
    logger = logging.getLogger("oslo_config.cfg")
    drop = logging.Filter("\0")  # matches no logger name: every record is dropped
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _oslo(loaded: Sequence[Loaded]) -> tuple[interpolation.BoundedConf, errors.Problem | None]:
    conf = interpolation.BoundedConf([item.ini for item in loaded], known=novaopts.is_nova_option)
    novaopts.register(conf)
    args: list[str] = []
    for item in loaded:
        args.append(f"--config-file={item.path}")  # '=' form: a path may start with '-'
    try:
        with _quiet_oslo():
            conf(args=args, project="nova", default_config_files=[], default_config_dirs=[],
                 use_env=False)
    except (cfg.Error, OSError, ValueError, SystemExit) as exc:
        # Our own pre-parse should have caught everything oslo rejects.
        conf = interpolation.BoundedConf(known=novaopts.is_nova_option)
        novaopts.register(conf)
        conf(args=[], project="nova", default_config_files=[], default_config_dirs=[],
             use_env=False)
        return conf, errors.Problem("ConfigFileParseError", f"oslo.config refused the files: {exc}")
    return conf, None


class _Reader:
    """Reads one option from oslo and pairs its values with located INI entries."""

    def __init__(self, loaded: list[Loaded], problems: list[errors.Problem],
                 warnings: list[errors.Problem]) -> None:
        self.loaded = loaded
        self.problems = problems
        self.warnings = warnings
        self.sources: dict[str, config.OptionValue] = {}

    def read(self, conf: interpolation.BoundedConf, opt: novaopts.Opt) -> Any:
        group = conf if opt.group == iniparse.DEFAULT else getattr(conf, opt.group)
        located = self.locate_multi(opt) if opt.multi else self.locate_scalar(opt)
        conf.start(opt.group, opt.name)
        problem = None
        try:
            with _quiet_oslo():
                value = getattr(group, opt.name)
        except (cfg.Error, ValueError, RecursionError) as exc:
            problem = self._read_problem(conf, opt, exc, located)
        where = _with_reference(located)
        self.warnings.extend(n.located(file=where.file if where else None,
                                       line=where.line if where else None) for n in conf.notes)
        if problem is not None:
            # A value built from a default pcipass does not know (an UnresolvedInterpolation
            # warning) is unknown, not wrong: its type check proves nothing.
            if conf.failure is not None or not conf.notes:
                self.problems.append(problem)
            return novaopts.default_value(opt)
        if opt.multi:
            return self._pair(opt, list(value), located)
        if located:
            self.sources[opt.field] = located[-1]
        return list(value) if isinstance(value, list) else value

    @staticmethod
    def _read_problem(conf: interpolation.BoundedConf, opt: novaopts.Opt, exc: BaseException,
                      located: list[config.OptionValue]) -> errors.Problem:
        """The Problem for an option oslo could not give a value for."""
        failure = conf.problem(exc)
        if failure is None:
            return _value_problem(opt, exc if isinstance(exc, Exception) else ValueError(exc),
                                  located[-1] if located else None)
        where = _with_reference(located)
        return failure.located(file=where.file if where else None,
                               line=where.line if where else None)

    def locate_multi(self, opt: novaopts.Opt) -> list[config.OptionValue]:
        """Values in oslo's order: per file, deprecated names (last first), then the current one."""
        out: list[config.OptionValue] = []
        for item in self.loaded:
            part: list[config.OptionValue] = []
            for group, key in opt.names:
                part = [self._ov(item, e, 0) for e in item.ini.find(group, key)] + part
            out.extend(part)
        return [dataclasses.replace(ov, value_index=i) for i, ov in enumerate(out)]

    def locate_scalar(self, opt: novaopts.Opt) -> list[config.OptionValue]:
        """The entry oslo takes: newest file that sets any name, current name first, last wins."""
        for item in reversed(self.loaded):
            for group, key in opt.names:
                found = item.ini.find(group, key)
                if found:
                    self._warn_repeated(opt, item, found)
                    return [self._ov(item, found[-1], 0)]
        return []

    def _pair(self, opt: novaopts.Opt, values: list[str],
              located: list[config.OptionValue]) -> list[config.OptionValue]:
        if [ov.value for ov in located] == values:
            return located
        # Should not happen (the INI grammar is oslo's); keep oslo's values, lines unknown.
        return [config.OptionValue(v, None, None, i, opt.name, opt.group)
                for i, v in enumerate(values)]

    @staticmethod
    def _ov(item: Loaded, e: iniparse.IniEntry, index: int) -> config.OptionValue:
        return config.OptionValue(e.value, item.name, item.line(e.line), index, e.key,
                                  e.section, item.line(e.end_line))

    def _warn_repeated(self, opt: novaopts.Opt, item: Loaded, found: list[iniparse.IniEntry]) -> None:
        if len(found) < 2:
            return
        lines = ", ".join(str(item.line(e.line)) for e in found)
        self.warnings.append(errors.Problem(
            "RepeatedOption",
            f"{opt.label} is set {len(found)} times in {item.name} (lines {lines}); "
            f"only the last one counts", file=item.name, line=item.line(found[-1].line),
            hint="keep one line"))

    def warn_names(self) -> None:
        """Names oslo ignores or warns about, in every file (:mod:`novanames`)."""
        for item in self.loaded:
            problems, warnings = novanames.check_file(item.name, item.text, item.ini,
                                                      item.line_offset)
            self.problems.extend(problems)
            self.warnings.extend(warnings)
        self.warnings.extend(novanames.check_mixed([item.ini for item in self.loaded]))


def _with_reference(located: Sequence[config.OptionValue]) -> config.OptionValue | None:
    """The value that holds a ``$`` reference (else the one oslo took), to locate a problem."""
    return next((ov for ov in located if "$" in ov.value), located[-1] if located else None)


def _value_problem(opt: novaopts.Opt, exc: Exception,
                   where: config.OptionValue | None) -> errors.Problem:
    detail = str(exc)
    detail = re.sub(r"^Value for option \S+ from LocationInfo\(.*?\) is not valid: ", "", detail)
    detail = re.sub(r"^Value for option \S+ is not valid: ", "", detail)
    value = where.value if where else None
    if value is not None and repr(value) not in detail and value not in detail:
        detail += f" (got {errors.clip(repr(value))})"
    return errors.Problem(
        "ConfigFileValueError",
        f"Value for option {opt.label} is not valid: {errors.clip(detail, 300)}",
        file=where.file if where else None, line=where.line if where else None,
        entry=opt.label, hint=novaopts.VALUE_HINTS.get(opt.field, f"fix the value {errors.clip(repr(value))}"))
