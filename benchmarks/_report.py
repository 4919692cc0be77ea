"""The one output convention of every benchmark: one JSON line on stdout, optionally appended to a file."""

from __future__ import annotations

import json
from pathlib import Path


def _rounded(value: float) -> float:
    """4 decimals; values under 1e-3 (residuals, fractions of a budget) keep 4 significant digits instead."""
    return round(value, 4) if abs(value) >= 1e-3 or value == 0.0 else float(f"{value:.4g}")


def emit(result: dict, out: Path | None = None) -> None:
    """Print ``result`` as one JSON line (floats rounded, :func:`_rounded`) and append it to ``out``."""
    line = json.dumps({k: _rounded(v) if isinstance(v, float) else v for k, v in result.items()})
    print(line, flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as handle:
            handle.write(line + "\n")
