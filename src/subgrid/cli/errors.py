"""The command line's one error handler: errors the package raises on purpose print as one line, exit status 2.

:class:`~subgrid.core.errors.SubgridError` (bad input, a failed scheme) and ``ValueError`` (a
bad argument) become ``error: <message>`` on stderr and exit status 2; Ctrl-C prints one line
saying what was kept and how to resume (:class:`~subgrid.core.errors.Interrupted` carries it) and
exits with status 130, as a shell does; anything else is a bug and keeps its traceback. Every command is wrapped in :func:`one_line_errors` where it is mounted
(:mod:`subgrid.cli.main`); :func:`fail` stops a command with such an error itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NoReturn, TypeVar

import typer

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
