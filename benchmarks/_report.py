"""The one output convention of every benchmark: one JSON line on stdout, optionally appended to a file."""

from __future__ import annotations

import json
from pathlib import Path


def emit(result: dict, out: Path | None = None) -> None:
    """Print ``result`` as one JSON line (floats rounded to 4 decimals) and append it to ``out``."""
    line = json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()})
    print(line, flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as handle:
            handle.write(line + "\n")
