"""Files of a training run directory, shared by every emulator: atomic writes, weights, merged metric logs."""

from __future__ import annotations

import os
from pathlib import Path

from safetensors.torch import save_file
from torch import nn


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it: never a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_weights(module: nn.Module, path: Path) -> None:
    """Weights and buffers of ``module`` as safetensors (no pickle), written atomically."""
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(tmp))
    os.replace(tmp, path)


def merge_metric_logs(run: Path) -> None:
    """RUN/metrics.csv: one row per epoch (train and validation merged), across resumed parts."""
    import pandas as pd

    parts = sorted((run / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    if not parts:
        return
    frame = pd.concat([pd.read_csv(part) for part in parts]).groupby("epoch", as_index=False).last()
    tmp = run / "metrics.csv.tmp"
    frame.drop(columns=["step"], errors="ignore").to_csv(tmp, index=False)
    os.replace(tmp, run / "metrics.csv")
