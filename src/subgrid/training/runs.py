"""What every emulator's training shares: strict configs, and the files of a run directory.

Run directories get atomic writes, safetensors weights and metric logs merged across resumes.
"""

from __future__ import annotations

import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import ClassVar

import lightning as L
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from safetensors.torch import save_file
from torch import nn

from subgrid.errors import InputError


_OPTIMISATION_CHECKS = {
    "learning_rate": lambda value: value > 0,
    "weight_decay": lambda value: value >= 0,
    "epochs": lambda value: value >= 1,
    "batch_size": lambda value: value >= 1,
    "validation_fraction": lambda value: 0 < value < 1,
    "early_stopping_patience": lambda value: value >= 1,
    "max_minutes": lambda value: value is None or value > 0,
}


class StrictConfig:
    """Mixin of the frozen training-config dataclasses: validation messages and strict parsing.

    An unknown key (a typo) is an error, never silently ignored.
    """

    config_name: ClassVar[str] = "config"

    def _require(self, checks: dict[str, bool]) -> None:
        """Raise naming every field whose check is False, with its value."""
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise InputError(f"{self.config_name}: invalid {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")

    def _optimisation_checks(self) -> dict[str, bool]:
        """Checks of the optimisation settings every training config has (see ``_OPTIMISATION_CHECKS``)."""
        return {name: check(getattr(self, name)) for name, check in _OPTIMISATION_CHECKS.items()}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise InputError(f"{cls.config_name}: unknown key(s) {', '.join(sorted(unknown))}")
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path):
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: no such config file")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise InputError(f"{path}: expected a mapping of settings")
        return cls.from_dict(values)


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


def build_trainer(run: Path, config, *, progress: bool, **options) -> tuple[L.Trainer, ModelCheckpoint]:
    """The CPU Lightning trainer every emulator uses, and its best-validation checkpoint callback.

    ``config`` provides ``epochs``, ``max_minutes`` and ``early_stopping_patience``; ``options``
    are extra ``L.Trainer`` arguments. Logs go to one CSV version per (re)start under RUN/logs,
    merged by :func:`merge_metric_logs`.
    """
    best = ModelCheckpoint(dirpath=run / "checkpoints", filename="best", monitor="val_loss", save_top_k=1, save_last=True)
    trainer = L.Trainer(
        max_epochs=config.epochs,
        max_time={"minutes": config.max_minutes} if config.max_minutes else None,
        callbacks=[best, EarlyStopping(monitor="val_loss", patience=config.early_stopping_patience)],
        logger=CSVLogger(save_dir=run, name="logs"),
        enable_progress_bar=progress,
        enable_model_summary=False,
        deterministic=True,
        accelerator="cpu",
        devices=1,
        num_sanity_val_steps=0,
        **options,
    )
    return trainer, best
