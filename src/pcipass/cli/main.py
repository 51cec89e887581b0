"""The ``pcipass`` command: a thin Click front end over :mod:`pcipass.services`.

Exit codes (contracts.md §5): 0 fine, 1 warnings only, 2 failures or invalid
input, 64 usage error, 130 / 143 stopped by SIGINT / SIGTERM or SIGHUP
(:mod:`pcipass.cli.stopping`), 255 internal error (traceback only with ``--debug``).
"""

from __future__ import annotations

import codecs
import difflib
import importlib
import signal
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import click

import pcipass
from pcipass.cli import listing, output, stopping
from pcipass.services import progress

EXIT_OK = 0
EXIT_WARN = 1
EXIT_FAIL = 2
EXIT_USAGE = 64
EXIT_SIGINT = 130
EXIT_INTERNAL = 255

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def format_option(*extra: str) -> Callable[[F], F]:
    """The ``-f/--format`` option every printing command takes, with ``-c/--column`` for
    its listing (``-f value`` and ``-f csv`` print the listing: :mod:`pcipass.cli.listing`)."""
    choices = [*output.FORMATS, *listing.FORMATS, *extra]
    fmt = click.option("-f", "--format", "fmt", type=click.Choice(choices), default="table",
                       show_default=True, help="Output format.")
    column = listing.column_option()

    def decorate(fn: F) -> F:
        return cast(F, fmt(column(fn)))

    return decorate


def paste_options(nodedev_dest: str = "nodedevs") -> Callable[[F], F]:
    """``--nodedev``, ``--dmesg`` and ``--cmdline``: what operators paste, standing for hosts or
    joined to them (scan, doctor); each also ``-`` or a pipe."""
    options = (
        click.option("--nodedev", nodedev_dest, multiple=True, metavar="FILE", type=input_path(),
                     help="virsh nodedev-dumpxml output (many <device> documents may follow "
                          "each other) and/or virsh nodedev-list --tree, standing for a host "
                          "named after the file's stem. Repeatable."),
        click.option("--dmesg", "dmesg", multiple=True, metavar="FILE", type=input_path(),
                     help="A saved kernel log (dmesg > FILE) for the kernel facts of the host "
                          "named after the file's stem (else the only host; else a new host). "
                          "Repeatable."),
        click.option("--cmdline", "cmdline", multiple=True, metavar="FILE", type=input_path(),
                     help="A kernel command line (cat /proc/cmdline, or a GRUB_CMDLINE_LINUX= "
                          "line), joined to a host as --dmesg is. Repeatable."),
    )

    def decorate(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def consumer_uuid(value: str) -> str:
    """A consumer UUID as Nova writes an instance UUID (lower case, with dashes): the claim
    commands' argument.

    :raises click.BadParameter: not a UUID.
    """
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise click.BadParameter(f"{value[:80]!r} is not a UUID") from None


def no_facts_cache_option() -> Callable[[F], F]:
    """``--no-facts-cache``: read sysfs even where a host root carries a valid facts.json."""
    return click.option("--no-facts-cache", "no_facts_cache", is_flag=True,
                        help="Read every host root's sysfs even when its facts.json (saved by "
                             "pcipass scan --save-facts) is valid.")


class InputFile(click.Path):
    """An input file, or ``-`` (stdin), or a pipe (``<(...)``): the last two are read once,
    bounded, into a private copy the readers get (:mod:`pcipass.adapters.inputspool`);
    messages keep the name the user typed. The copies go when the command ends."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        from pcipass.adapters import boundedread, inputspool  # ~11 ms, which --help skips

        text = str(value)
        if not inputspool.is_stream(text):
            return super().convert(value, param, ctx)
        if ctx is not None:
            ctx.find_root().call_on_close(inputspool.cleanup)
        try:
            return inputspool.spool(text)
        except inputspool.StdinTwice as exc:
            self.fail(str(exc), param, ctx)
        except (boundedread.FileTooLarge, OSError) as exc:
            shown = inputspool.STDIN_NAME if text == inputspool.STDIN else text
            self.fail(f"cannot read {shown}: {exc.strerror or exc}", param, ctx)


def input_path(**kwargs: Any) -> click.Path:
    """A path the reader checks itself (its own messages), or ``-`` or a pipe, spooled."""
    return InputFile(dir_okay=True, allow_dash=True, **kwargs)


def existing_file(**kwargs: Any) -> click.Path:
    # NOTE: dir_okay=False gives a usage error for a directory instead of an
    # IsADirectoryError deep inside a reader.
    return InputFile(exists=True, dir_okay=False, readable=True, allow_dash=True, **kwargs)


class SuggestingGroup(click.Group):
    """A group that answers a mistyped subcommand with the closest one (``sacn``: ``scan``)."""

    group_class = type  # subgroups made with @group.group() are suggesting groups too

    def resolve_command(self, ctx: click.Context, args: list[str],
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            name = args[0] if args else ""
            if not name or name.startswith("-") or self.get_command(ctx, name) is not None:
                raise
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise click.UsageError(f"No such command {name!r}.{hint}", ctx) from None


class LazyGroup(SuggestingGroup):
    """A group whose subcommand modules are imported only when that command runs.

    Each module registers its commands on :data:`cli` with the usual decorators;
    importing it on demand keeps ``pcipass scan`` from loading oslo.config,
    jsonschema and rich, which only other commands need.
    """

    lazy: dict[str, str] = {
        "config": "pcipass.cli.commands_config",
        "flavor": "pcipass.cli.commands_config",
        "scan": "pcipass.cli.commands_scan",
        "doctor": "pcipass.cli.commands_doctor",
        "schedule": "pcipass.cli.commands_schedule",
        "placement": "pcipass.cli.commands_placement",
        "db": "pcipass.cli.commands_store",
        "agent": "pcipass.cli.commands_store",
        "devices": "pcipass.cli.commands_store",
        "claim": "pcipass.cli.commands_claims",
        "allocation": "pcipass.cli.commands_claims",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            importlib.import_module(self.lazy[cmd_name])
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(pcipass.__version__, prog_name="pcipass")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """PCI passthrough and SR-IOV for OpenStack Nova, made to work the first time."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _unicode_escape(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: each character the encoding cannot hold as ``\\uXXXX`` (a
    surrogate pair beyond the BMP), the escape JSON and YAML's quoted strings read back."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for ch in exc.object[exc.start:exc.end]:
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out), exc.end


ESCAPE_ERRORS = "pcipass-unicode-escape"


def escape_unencodable(*streams: Any) -> None:
    """Print what a stream's encoding cannot hold as ``\\uXXXX`` escapes, never crash on it.

    Names come from input: an alias in Cyrillic, under ``PYTHONIOENCODING=ascii`` or a
    Latin-1 locale, used to end in a ``UnicodeEncodeError`` (exit 255). It prints
    ``\\u0442`` instead, which JSON reads back as the same string; a surrogate escape that
    a formatter missed prints as the text ``\\udcff``, never as a raw byte.
    """
    codecs.register_error(ESCAPE_ERRORS, _unicode_escape)
    for stream in streams:
        if getattr(stream, "errors", ESCAPE_ERRORS) != ESCAPE_ERRORS and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=ESCAPE_ERRORS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code (the console script exits with it)."""
    escape_unencodable(sys.stdout, sys.stderr)
    args = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere on the line (before a "--"): it is the group's option.
    end = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:end]
    if debug:
        args = ["--debug", *(a for a in args[:end] if a != "--debug"), *args[end:]]
    progress.reset()
    bar = None
    if hasattr(sys.stderr, "isatty") and sys.stderr.isatty():
        from pcipass.cli import progressbar  # rich.progress, ~23 ms, for a terminal only

        bar = progressbar.shown()
    try:
        with stopping.stops_on_signals():
            try:
                rv = cli.main(args=args, prog_name="pcipass", standalone_mode=False)
            finally:
                if bar is not None:
                    bar.close()
                    progress.listen(None)
    except stopping.Stopped as exc:
        output.echo_err(stopping.message(exc.signum))
        return exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:  # pragma: no cover - click >= 8.2
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return EXIT_USAGE
    except click.UsageError as exc:
        exc.show(output.terminal_stream(sys.stderr))
        return EXIT_USAGE
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # outside the main thread
            output.echo_err(stopping.message(signal.SIGINT))
            return EXIT_SIGINT
        click.echo("Aborted.", err=True)
        return EXIT_INTERNAL
    except click.ClickException as exc:
        exc.show(output.terminal_stream(sys.stderr))
        return EXIT_FAIL
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the one place internal errors are turned into 255
        if debug:
            import traceback  # ~1 ms, on a crash only

            traceback.print_exc()
        output.echo_err(f"pcipass: internal error: {type(exc).__name__}: {exc}"
                        + ("" if debug else " (run with --debug for the traceback)"))
        return EXIT_INTERNAL
    return int(rv) if isinstance(rv, int) else EXIT_OK


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry_point()
