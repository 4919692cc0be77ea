"""The one output convention of every benchmark: one JSON line on stdout, optionally appended to a file."""

from __future__ import annotations

import json
from pathlib import Path

from subgrid.core.stores import append_json_line


def _rounded(value: float) -> float:
    """4 decimals; values under 1e-3 (residuals, fractions of a budget) keep 4 significant digits instead."""
    return round(value, 4) if abs(value) >= 1e-3 or value == 0.0 else float(f"{value:.4g}")


def emit(result: dict, out: Path | None = None) -> None:
    """Print ``result`` as one JSON line (floats rounded, :func:`_rounded`) and append it to ``out``."""
    rounded = {k: _rounded(v) if isinstance(v, float) else v for k, v in result.items()}
    print(json.dumps(rounded), flush=True)
    if out is not None:
        append_json_line(out, rounded)
