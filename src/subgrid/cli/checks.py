"""Option checks typer cannot declare with ``min``/``max``, run while the command line is parsed.

A value refused here never reaches the command: typer reports it as a usage error naming the
option (exit status 2) before anything is loaded, run or written.
"""

from __future__ import annotations

from collections.abc import Callable

import typer


def positive(value: float | None) -> float | None:
    """A value that must be > 0 (typer's ``min`` includes its bound)."""
    if value is not None and not value > 0:
        raise typer.BadParameter(f"must be > 0, got {value:g}")
    return value


def whole_days(interval_days: float = 1.0) -> Callable[[float | None], float | None]:
    """A run length in days that must be a positive whole number of ``interval_days`` (the output interval)."""

    def check(value: float | None) -> float | None:
        if value is not None and not (value >= interval_days and float(value / interval_days).is_integer()):
            raise typer.BadParameter(
                f"must be a whole number of output intervals ({interval_days:g} d), at least one; got {value:g}"
            )
        return value

    return check
