"""What every emulator's training shares: strict configs, the Lightning trainer, and the files of a run directory.

Run directories get atomic writes, safetensors weights and metric logs merged across resumes.
The trainer runs on CPU or GPUs, on one device or several processes (DDP) started by Lightning,
``torchrun`` or SLURM's ``srun``; in a multi-process run only global rank 0 writes files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Literal, get_args

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from safetensors.torch import load_file, save_file
from torch import nn

from subgrid.core.config import StrictConfig
from subgrid.core.errors import InputError
from subgrid.models import BackboneRegistry

Accelerator = Literal["cpu", "gpu", "auto"]
Strategy = Literal["auto", "ddp"]
Precision = Literal["32-true", "bf16-mixed"]
ACCELERATORS, STRATEGIES, PRECISIONS = get_args(Accelerator), get_args(Strategy), get_args(Precision)
#: ``model.json`` kind of a pre-training run (:mod:`subgrid.gravity_waves.gridded.pretrain`), whose backbone.pt fine-tunes start from.
PRETRAIN_KIND = "prithvi_pretrain"
#: The fields of a training config that say where it trains (passed to :func:`build_trainer`).
HARDWARE_FIELDS = ("accelerator", "devices", "num_nodes", "strategy", "precision")

_OPTIMISATION_CHECKS = {
    "learning_rate": lambda value: value > 0,
    "weight_decay": lambda value: value >= 0,
    "epochs": lambda value: value >= 1,
    "batch_size": lambda value: value >= 1,
    "validation_fraction": lambda value: 0 < value < 1,
    "early_stopping_patience": lambda value: value >= 1,
    "max_minutes": lambda value: value is None or value > 0,
}

_HARDWARE_CHECKS = {
    "accelerator": lambda value: value in ACCELERATORS,
    "devices": lambda value: isinstance(value, int) and value >= 1,
    "num_nodes": lambda value: isinstance(value, int) and value >= 1,
    "strategy": lambda value: value in STRATEGIES,
    "precision": lambda value: value in PRECISIONS,
}


@dataclass(frozen=True)
class TrainingHardware:
    """Where a training config trains (Lightning's names), the :data:`HARDWARE_FIELDS` of :func:`build_trainer`.

    ``accelerator``: "cpu" | "gpu" | "auto"; ``devices``: processes per node; ``strategy``:
    "auto" | "ddp" (several devices always train with DDP); ``precision``: "32-true" |
    "bf16-mixed" (GPU only). A config's ``batch_size`` is per device: a DDP step averages
    ``devices x num_nodes`` batches.
    """

    accelerator: Accelerator = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: Strategy = "auto"
    precision: Precision = "32-true"


class TrainingConfig(StrictConfig):
    """Mixin of the frozen training-config dataclasses: strict typed parsing (:class:`StrictConfig`), the
    checks every trainer's optimisation and hardware settings share, and the backbone they train.

    A config with a ``model`` and ``model_options`` names its :class:`~subgrid.models.BackboneRegistry`
    in ``backbones``: the model must be one of its names and the options those of the model's
    option dataclass (``model_options.width: expected int, got str 'wide'``).
    """

    backbones: ClassVar[BackboneRegistry | None] = None

    def _optimisation_checks(self) -> dict[str, bool]:
        """Checks of the optimisation settings every training config has (see ``_OPTIMISATION_CHECKS``)."""
        return {name: check(getattr(self, name)) for name, check in _OPTIMISATION_CHECKS.items()}

    def _hardware_checks(self) -> dict[str, bool]:
        """Checks of the :data:`HARDWARE_FIELDS` of configs that have them; bf16 is refused on CPU."""
        if self.precision == "bf16-mixed" and self.accelerator == "cpu":
            raise InputError(
                f"{self.config_name}: precision='bf16-mixed' is for GPUs (accelerator gpu, or auto on a GPU "
                "machine); CPUs train in '32-true'"
            )
        return {name: check(getattr(self, name)) for name, check in _HARDWARE_CHECKS.items()}

    def _check_backbone(self) -> None:
        """Refuse a model not in :attr:`backbones` or options its option dataclass does not have (or types)."""
        self.backbone_options()

    def backbone_options(self):
        """``model_options`` as the model's option dataclass (every option, defaults filled in)."""
        return self.backbones.options(self.model, self.model_options, where=self.config_name)

    def hardware(self) -> dict:
        """The :data:`HARDWARE_FIELDS` of this config, as :func:`build_trainer` takes them."""
        return {name: getattr(self, name) for name in HARDWARE_FIELDS}


#: What a run directory (or one whose start was interrupted) holds; --out with none of them is not one.
RUN_DIRECTORY_MARKERS = ("config.yaml", "model.json", "model.safetensors", "checkpoints", "logs")


def refuse_foreign_directory(run: Path) -> None:
    """Refuse ``run`` if it is a non-empty directory that is not a run: a new run would delete its contents."""
    if run.is_dir() and any(run.iterdir()) and not any((run / marker).exists() for marker in RUN_DIRECTORY_MARKERS):
        raise InputError(f"{run}: exists, is not empty and holds no training run; choose a new or empty --out "
                         "(starting a run there would delete what it holds)")  # fmt: skip
    if run.exists() and not run.is_dir():
        raise InputError(f"{run}: is a file, not a run directory")


def best_validation_score(best: ModelCheckpoint, run: Path) -> float:
    """The best validation loss ``best`` saw; an :class:`InputError` if training stopped before any validation ended.

    (E.g. ``max_minutes`` ran out in the first epoch: ``checkpoints/last.ckpt`` resumes it.)
    """
    if not best.best_model_path or best.best_model_score is None:
        raise InputError(f"{run}: training stopped before its first validation ended (max_minutes?); run the same "
                         "command again to resume from checkpoints/last.ckpt")  # fmt: skip
    return float(best.best_model_score)


def read_run_description(run: Path, *, kind: str | None, what: str) -> dict:
    """``model.json`` of the finished run directory ``run``; refuses a missing file or another ``kind`` of model.

    ``what`` names the expected model in messages ("gravity-wave emulator"); ``kind=None`` skips
    the kind check (runs that predate the key).
    """
    for name in ("model.json", "model.safetensors"):
        if not (run / name).exists():
            raise InputError(f"{run}: not a trained {what} run (missing {name})")
    description = json.loads((run / "model.json").read_text())
    if kind is not None and description.get("kind") != kind:
        raise InputError(f"{run}: holds a {description.get('kind')!r} model, not a {what}")
    return description


def check_resumable(run: Path, config: TrainingConfig, data_description: dict) -> None:
    """Refuse to resume the interrupted run in ``run`` unless it had ``config`` (hardware settings aside) and the same data."""
    saved = type(config).from_yaml(run / "config.yaml")
    if replace(saved, **config.hardware()) != config:
        raise InputError(f"{run}: holds an interrupted run with another config; use another --out or the same config")
    if json.loads((run / "model.json").read_text()).get("data") != data_description:
        raise InputError(f"{run}: holds an interrupted run on other data; use another --out or the same data")


def pretraining_record(checkpoint: str | Path) -> dict | None:
    """What a fine-tune records of the pre-training behind ``checkpoint``: the run's task, data and excluded region.

    Read from the ``model.json`` beside a ``backbone.pt`` written by ``subgrid pretrain``; None
    for any other checkpoint (the released weights, a file without such a description).
    """
    path = Path(checkpoint).parent / "model.json"
    try:
        description = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(description, dict) or description.get("kind") != PRETRAIN_KIND:
        return None
    keys = ("task", "mask_ratio", "mask_unit", "lead_steps", "inputs", "exclude_region", "best_val_loss", "data")
    return {"run": str(path.parent.resolve()), **{key: description.get(key) for key in keys}}


def adamw_cosine(module: nn.Module, config) -> dict:
    """AdamW over the trainable parameters of ``module`` (``config.learning_rate``, ``weight_decay``) with a
    cosine schedule over ``config.epochs``: Lightning's ``configure_optimizers`` answer."""
    # Only what trains: a frozen backbone (PrithviGW fine_tune=frozen|last_k|lora) keeps its weights.
    trainable = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}


def load_run_weights(module: nn.Module, run: Path) -> nn.Module:
    """``module`` with the weights of ``run/model.safetensors`` (a malformed file is an :class:`InputError`), in eval mode."""
    try:
        weights = load_file(str(run / "model.safetensors"))
    except Exception as error:  # safetensors raises its own error type for any malformed file
        raise InputError(f"{run / 'model.safetensors'}: not a valid safetensors file ({error})") from error
    module.load_state_dict(weights)
    return module.eval()


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


def _device_settings(accelerator: str, devices: int, num_nodes: int, strategy: str, precision: str) -> dict:
    """``L.Trainer`` arguments for where to train, refusing settings this machine cannot run.

    Several processes (``devices * num_nodes > 1`` or ``strategy='ddp'``) train with DDP: gloo on
    CPU, NCCL on GPUs. Buffers (the normalisation statistics and loss scales) are broadcast from
    rank 0 once, when DDP wraps the model, not at every forward: they never change in training, and
    a broadcast per forward would also be a collective in validation, where ranks may see different
    batch counts. GPU runs warn about, rather than refuse, operations without a deterministic
    CUDA kernel.
    """
    from lightning.pytorch.strategies import DDPStrategy

    gpu = torch.cuda.is_available()
    if accelerator == "gpu" and not gpu:
        raise InputError("accelerator='gpu': no CUDA GPU is visible to this process (torch.cuda.is_available() is False)")
    on_gpu = accelerator == "gpu" or (accelerator == "auto" and gpu)
    if precision == "bf16-mixed" and not (on_gpu and torch.cuda.is_bf16_supported()):
        where = "this GPU has no bf16 support" if on_gpu else f"accelerator={accelerator!r} trains on the CPU here"
        raise InputError(f"precision='bf16-mixed': {where}; use '32-true'")
    started = int(os.environ.get("WORLD_SIZE", "1"))
    if started > devices * num_nodes:
        # Lightning checks the other way round; here every process would train alone, all as rank 0.
        raise InputError(
            f"{started} processes were started (WORLD_SIZE, e.g. torchrun --nproc_per_node) but devices x "
            f"num_nodes is {devices * num_nodes}; pass --devices {started // num_nodes} (per node)"
        )
    distributed = strategy == "ddp" or devices * num_nodes > 1
    return {
        "accelerator": "gpu" if on_gpu else "cpu",
        "devices": devices,
        "num_nodes": num_nodes,
        "strategy": DDPStrategy(forward_sync_buffers=False) if distributed else "auto",
        "precision": precision,
        "deterministic": "warn" if on_gpu else True,
    }


def build_trainer(
    run: Path,
    config,
    *,
    progress: bool,
    accelerator: str = "cpu",
    devices: int = 1,
    num_nodes: int = 1,
    strategy: str = "auto",
    precision: str = "32-true",
    **options,
) -> tuple[L.Trainer, ModelCheckpoint]:
    """The Lightning trainer every emulator uses, and its best-validation checkpoint callback.

    ``config`` provides ``epochs``, ``max_minutes`` and ``early_stopping_patience``; the keyword
    settings say where to train (see :data:`HARDWARE_FIELDS`; one CPU process by default);
    ``options`` are extra ``L.Trainer`` arguments. Logs go to one CSV version per (re)start under
    RUN/logs, merged by :func:`merge_metric_logs`. Nothing is written before ``fit``, so the
    returned trainer's ``is_global_zero`` can decide which process writes the run's files.
    Settings Lightning refuses (more devices than the machine has, a ``torchrun`` process count
    other than ``devices``) raise :class:`~subgrid.core.errors.InputError`.
    """
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    placement = _device_settings(accelerator, devices, num_nodes, strategy, precision)
    best = ModelCheckpoint(dirpath=run / "checkpoints", filename="best", monitor="val_loss", save_top_k=1, save_last=True)
    try:
        trainer = L.Trainer(
            max_epochs=config.epochs,
            max_time={"minutes": config.max_minutes} if config.max_minutes else None,
            callbacks=[best, EarlyStopping(monitor="val_loss", patience=config.early_stopping_patience)],
            logger=CSVLogger(save_dir=run, name="logs"),
            enable_progress_bar=progress,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            **placement,
            **options,
        )
    except (MisconfigurationException, ValueError) as error:
        raise InputError(f"trainer: {error}") from error
    return trainer, best
