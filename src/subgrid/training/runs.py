"""What every emulator's training shares: strict configs, the Lightning trainer, and the files of a run directory.

Run directories get atomic writes, safetensors weights and metric logs merged across resumes.
The trainer runs on CPU or GPUs, on one device or several processes (DDP) started by Lightning,
``torchrun`` or SLURM's ``srun``; in a multi-process run only global rank 0 writes files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Literal, get_args

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from subgrid.core.config import StrictConfig
from subgrid.core.errors import InputError, SubgridError
from subgrid.core.ownership import RUN, check_replaceable, mark, remove_owned
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


def refuse_foreign_directory(run: Path) -> None:
    """Refuse ``run`` unless it is new, empty, or a run directory subgrid made (its ownership marker, not its
    contents, says so: a directory that merely holds ``logs/`` is not a run); a new run replaces an old one."""
    check_replaceable(run, RUN)


def start_run_directory(run: Path, *, resuming: bool, generator: str) -> None:
    """Create run directory ``run`` (marked as subgrid's), replacing a run there unless ``resuming`` it.

    Only a directory :func:`refuse_foreign_directory` accepts is removed. Call on the writing process only.
    """
    if not resuming:
        remove_owned(run, RUN)
    run.mkdir(parents=True, exist_ok=True)
    if not resuming:
        mark(run, RUN, generator)


def best_validation_score(best: ModelCheckpoint, run: Path) -> float:
    """The best validation loss ``best`` saw; an :class:`InputError` if training stopped before any validation ended.

    (E.g. ``max_minutes`` ran out in the first epoch: ``checkpoints/last.ckpt`` resumes it.)
    """
    if not best.best_model_path or best.best_model_score is None:
        raise InputError(f"{run}: training stopped before its first validation ended (max_minutes?); run the same "
                         "command again to resume from checkpoints/last.ckpt")  # fmt: skip
    return float(best.best_model_score)


def read_run_description(
    run: Path, *, kind: str | None, what: str, required: Mapping[str, type | tuple[type, ...]] | None = None
) -> dict:
    """``model.json`` of the finished run directory ``run``; refuses a missing file or another ``kind`` of model.

    ``what`` names the expected model in messages ("gravity-wave emulator"); ``kind=None`` skips
    the kind check (runs that predate the key). ``required`` maps the keys the caller reads to their
    JSON types (``int`` excludes booleans): a file that is not a JSON object, or lacks one of them or
    holds another type, is an :class:`InputError` naming the file and the key.
    """
    for name in ("model.json", "model.safetensors"):
        if not (run / name).is_file():
            raise InputError(f"{run}: not a trained {what} run (missing {name})")
    path = run / "model.json"
    try:
        description = json.loads(path.read_text())
    except (OSError, ValueError) as error:  # unreadable, not UTF-8, not JSON
        raise InputError(f"{path}: not a readable JSON file ({type(error).__name__}: {error})") from error
    if not isinstance(description, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(description).__name__}")
    if kind is not None and description.get("kind") != kind:
        raise InputError(f"{run}: holds a {description.get('kind')!r} model, not a {what}")
    for key, types in (required or {}).items():
        if key not in description:
            raise InputError(f"{path}: missing key {key!r}")
        types = types if isinstance(types, tuple) else (types,)
        value = description[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            expected = " or ".join(t.__name__ for t in types)
            raise InputError(f"{path}: {key} is {type(value).__name__} {value!r:.60}, expected {expected}")
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


#: Metadata key of ``model.safetensors`` holding :func:`weights_sha256` of its tensors.
WEIGHTS_DIGEST_KEY = "subgrid_weights_sha256"


def weights_sha256(weights: dict[str, torch.Tensor]) -> str:
    """sha256 of named tensors: names, dtypes, shapes and bytes, in name order (what :func:`save_weights` records)."""
    digest = hashlib.sha256()
    for name in sorted(weights):
        tensor = weights[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_run_weights(module: nn.Module, run: Path) -> nn.Module:
    """``module`` with the weights of ``run/model.safetensors``, in eval mode.

    A malformed file, or one whose tensors no longer match the sha256 :func:`save_weights` recorded
    in its metadata (a flipped bit, an edit), is an :class:`InputError` naming the file. Files
    written before the digest was recorded carry none and load unchecked.
    """
    path = run / "model.safetensors"
    try:
        with safe_open(str(path), framework="pt") as file:
            recorded = (file.metadata() or {}).get(WEIGHTS_DIGEST_KEY)
            weights = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118 (not a dict)
    except Exception as error:  # safetensors raises its own error type for any malformed file
        raise InputError(f"{path}: not a valid safetensors file ({error})") from error
    if recorded is not None and weights_sha256(weights) != recorded:
        raise InputError(f"{path}: weights do not match the sha256 recorded when they were saved (corrupted or "
                         "edited); retrain or restore the file")  # fmt: skip
    try:
        module.load_state_dict(weights)
    except RuntimeError as error:  # missing, unexpected or mis-shaped tensors: another model than model.json describes
        detail = " ".join(str(error).split())
        raise InputError(f"{path}: weights do not fit the model described in model.json ({detail:.300})") from error
    return module.eval()


def save_weights(module: nn.Module, path: Path) -> None:
    """Weights and buffers of ``module`` as safetensors (no pickle) with their sha256 in its metadata, written atomically."""
    weights = {k: v.contiguous() for k, v in module.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(weights, str(tmp), metadata={WEIGHTS_DIGEST_KEY: weights_sha256(weights)})
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


class TrainingDiverged(SubgridError):
    """The loss or the weights of a run became NaN or Inf: the run stops and publishes nothing."""


class SayWhatIsKept(Callback):
    """On Ctrl-C, note on the KeyboardInterrupt what is kept and how to resume (the CLI prints the note).

    Lightning ends a run stopped by Ctrl-C with ``sys.exit(1)`` after its own clean-up; the command
    line's error handler finds this note on the interrupt and prints it as one line (exit 130).
    """

    def __init__(self, run: Path) -> None:
        self.run = run

    def on_exception(self, trainer, module, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt):
            exception.add_note(f"interrupted: the checkpoints of finished epochs are kept in {self.run / 'checkpoints'}; "
                               "run the same command again to resume")  # fmt: skip


class StopOnNonFinite(Callback):
    """Stop a run at the first non-finite training loss or weight, with a one-line :class:`TrainingDiverged`.

    The loss is checked after every training batch, every weight and buffer before each validation
    and at each epoch's end, before the checkpoints are written (Lightning runs checkpoint callbacks
    last), so ``checkpoints/last.ckpt`` and ``best.ckpt`` only ever hold finite weights, and the
    error leaves the trainers before they write ``model.safetensors``: a resumed run keeps its best.
    (Lightning's ``EarlyStopping`` would stop on a NaN validation loss too, silently: exit 0.)
    """

    def __init__(self, run: Path) -> None:
        self.run = run

    def _fail(self, trainer: L.Trainer, what: str, batch: str = "") -> None:
        raise TrainingDiverged(
            f"{self.run}: training diverged: {what} at epoch {trainer.current_epoch}{batch}; stopped, no model "
            "published (checkpoints hold only finite epochs); lower the learning rate or check the data"
        )

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None and not math.isfinite(float(loss.detach())):
            self._fail(trainer, f"training loss is {float(loss.detach())}", f", batch {batch_index}")

    def _check_weights(self, trainer, module) -> None:
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                self._fail(trainer, f"weight {name} is not finite")

    # Validation (and the checkpoints it triggers) runs before on_train_epoch_end: check before it too.
    on_validation_start = _check_weights
    on_train_epoch_end = _check_weights


#: Lightning's advertisement printed by every Trainer (not the user's business), by logger and message start.
_LIGHTNING_TIP = ("lightning.pytorch.utilities.rank_zero", "💡 Tip:")
#: torch deprecation Lightning 2.6 triggers itself on every fit: nothing the user can change.
_LEAFSPEC_WARNING = r"`isinstance\(treespec, LeafSpec\)` is deprecated"


def quiet_lightning() -> None:
    """Silence what Lightning prints that is not the user's business; every other warning is kept. Idempotent."""
    logger = logging.getLogger(_LIGHTNING_TIP[0])
    if not any(getattr(f, "subgrid_tip_filter", False) for f in logger.filters):
        tip = logging.Filter()
        tip.filter = lambda record: not str(record.getMessage()).startswith(_LIGHTNING_TIP[1])  # type: ignore[method-assign]
        tip.subgrid_tip_filter = True  # type: ignore[attr-defined]
        logger.addFilter(tip)
    warnings.filterwarnings("ignore", message=_LEAFSPEC_WARNING, category=FutureWarning)


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
    other than ``devices``) raise :class:`~subgrid.core.errors.InputError`. A loss or weight that becomes
    NaN or Inf stops the run with :class:`TrainingDiverged` (:class:`StopOnNonFinite`); Lightning's
    advertising tip and its torch deprecation warning are silenced (:func:`quiet_lightning`).
    """
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    quiet_lightning()
    placement = _device_settings(accelerator, devices, num_nodes, strategy, precision)
    best = ModelCheckpoint(dirpath=run / "checkpoints", filename="best", monitor="val_loss", save_top_k=1, save_last=True)
    try:
        trainer = L.Trainer(
            max_epochs=config.epochs,
            max_time={"minutes": config.max_minutes} if config.max_minutes else None,
            callbacks=[StopOnNonFinite(run), SayWhatIsKept(run), best,
                       EarlyStopping(monitor="val_loss", patience=config.early_stopping_patience)],
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
