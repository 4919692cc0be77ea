"""Exceptions with messages a scientist can act on.

Every error raised for bad user input names the variable and the problem (and, for column data,
the first offending column), so the CLI can print it as a single line.
"""


class SubgridError(Exception):
    """Base class of all errors the package raises on purpose."""


class InputError(SubgridError, ValueError):
    """Input data is malformed: wrong dims or shape, NaN/Inf, out-of-range or non-monotonic values."""


class SchemeFailure(SubgridError, RuntimeError):
    """A reference physics scheme failed (e.g. a Fortran STOP killed its worker process)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during long work; the message says what was kept and how to resume (the CLI prints it, exit 130)."""
