"""The command line's one error handler: errors the package raises on purpose print as one line, exit status 2.

:class:`~subgrid.core.errors.SubgridError` (bad input, a failed scheme) and ``ValueError`` (a
bad argument) become ``error: <message>`` on stderr and exit status 2; Ctrl-C prints one line
saying what was kept and how to resume (:class:`~subgrid.core.errors.Interrupted` carries it) and
exits with status 130, as a shell does; anything else is a bug and keeps its traceback. Every command is wrapped in :func:`one_line_errors` where it is mounted
(:mod:`subgrid.cli.main`); :func:`fail` stops a command with such an error itself. Usage errors
that typer finds while parsing (a value out of an option's range or of the wrong type, an unknown
option or command, a missing required option) print as one line too, exit status 2, through the
app's group class :class:`OneLineUsageErrors` instead of typer's usage panel.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar

import typer
from typer.core import TyperGroup

try:  # recent typer parses with its own copy of click, whose exceptions are not click's
    from typer._click.exceptions import BadParameter, MissingParameter, NoSuchOption, UsageError
except ImportError:
    from click.exceptions import BadParameter, MissingParameter, NoSuchOption, UsageError

from subgrid.core.errors import Interrupted, SubgridError

#: What a command reports as one line instead of a traceback.
REPORTED = (SubgridError, ValueError)
Command = TypeVar("Command", bound=Callable)
#: Exit status of a command stopped by Ctrl-C (128 + SIGINT, what shells report).
INTERRUPTED = 130


def fail(error: Exception) -> NoReturn:
    """Print ``error`` as one line on stderr and exit with status 2."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    typer.echo(f"error: {' '.join(lines) or type(error).__name__}", err=True)
    raise typer.Exit(code=2)


def interrupted(error: KeyboardInterrupt) -> NoReturn:
    """Print one line for a Ctrl-C: what was kept and how to resume, from an
    :class:`~subgrid.core.errors.Interrupted` or a note added to the interrupt; exit with status 130."""
    notes = [note for note in getattr(error, "__notes__", []) if note.startswith("interrupted")]
    said = str(error) if isinstance(error, Interrupted) and str(error) else (notes[0] if notes else "interrupted")
    typer.echo(said, err=True)
    raise typer.Exit(code=INTERRUPTED)


def one_line_errors(command: Command) -> Command:
    """``command`` with the errors of :data:`REPORTED` printed by :func:`fail` (typer reads the wrapped signature)."""

    @functools.wraps(command)
    def reporting(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except REPORTED as error:
            fail(error)
        except KeyboardInterrupt as error:
            interrupted(error)
        except SystemExit as error:
            if isinstance(error.__context__, KeyboardInterrupt):  # Lightning ends a Ctrl-C'd fit with sys.exit(1)
                interrupted(error.__context__)
            raise

    return reporting


def usage_line(error: UsageError) -> str:
    """One line for a usage error typer found while parsing: the option (or argument) it names, the
    problem, and the command, e.g. ``--source-flux-scale: must be > 0, got 0 (subgrid online gw)``."""
    named = _parameter_named(error) if isinstance(error, BadParameter) else None
    if named is not None:
        if isinstance(error, MissingParameter):
            kind = error.param_type or (error.param.param_type_name if error.param is not None else "value")
            problem = f"{named}: missing; this {kind} is required"
        else:
            problem = f"{named}: {error.message}"
    elif isinstance(error, NoSuchOption):
        problem = f"{error.option_name}: no such option"
        if error.possibilities:
            problem += f"; did you mean {', '.join(sorted(error.possibilities))}?"
    else:
        problem = error.format_message()
    problem = " ".join(line.strip() for line in problem.splitlines() if line.strip()).rstrip(".")
    return f"{problem} ({error.ctx.command_path})" if error.ctx is not None else problem


def _parameter_named(error: BadParameter) -> str | None:
    """The option's names (``--mcica / --no-mcica``) or the argument's (``PATH``, as the help shows it)."""
    if error.param_hint is not None:
        hints = error.param_hint
        return " / ".join(hints) if isinstance(hints, (list, tuple)) else hints
    if error.param is None:
        return None
    if error.param.param_type_name == "option":
        return " / ".join(error.param.opts)
    return error.param.metavar or error.param.name.upper()


@contextlib.contextmanager
def _usage_errors_in_one_line() -> Iterator[None]:
    try:
        yield
    except UsageError as error:
        # `subgrid generate` alone prints the group's help (an error only in name, exit 2): left as it is.
        if type(error).__name__ == "NoArgsIsHelpError":
            raise
        typer.echo(f"error: {usage_line(error)}", err=True)
        raise typer.Exit(code=2) from error


class OneLineUsageErrors(TyperGroup):
    """The app's top group: usage errors found while parsing it or any command below it print as
    one line (:func:`usage_line`) on stderr, exit status 2, in place of typer's usage panel; help is unchanged.

    Parsing happens in the top group's ``make_context`` (its own options) and ``invoke`` (each
    subgroup and command below, parsed as it is reached), so these two cover the whole tree,
    whether run as ``subgrid``, ``python -m subgrid.cli`` or through typer's ``CliRunner``.
    """

    def make_context(self, info_name, args, parent=None, **extra):
        with _usage_errors_in_one_line():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        with _usage_errors_in_one_line():
            return super().invoke(ctx)
