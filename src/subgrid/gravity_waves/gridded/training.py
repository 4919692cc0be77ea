"""Gridded gravity-wave flux emulators (inputs on a lat-lon grid -> momentum fluxes), trained with Lightning.

A sample is one time step: the input channels ``x[C_in, lat, lon]`` and target channels
``y[C_out, lat, lon]`` that a :class:`~subgrid.gravity_waves.gridded.dataset.GriddedSelection` picks from the
named variables of :func:`~subgrid.gravity_waves.gridded.dataset.open_gw_gridded` (default: every input, the
fluxes u′ω′ and v′ω′ on every level). :class:`GriddedGWEmulator` wraps a gridded backbone
(``unet``: :class:`~subgrid.models.unet.AttentionUNet`; ``prithvi``: the fine-tuned foundation
model :class:`~subgrid.models.prithvi_gw.PrithviGW`) with per-channel normalisation
statistics fitted on the training period, so it maps data in the file's units to predictions in
the file's units (the public files are already normalised by their producer; the statistics then
stay near 0 and 1 and cost nothing).

Loss: the mean squared error of the standardised targets, ``mean(((ŷ − y)/σ_c)²)`` with one σ per
target channel, so every level and both fluxes weigh alike. Validation: the last
``validation_fraction`` of the record in time (files joined in the order given, time steps in
the order of the ``time`` coordinate): hourly fields an hour apart are nearly the same, so a
random split would score the model on near-copies of its training samples.

A run directory holds::

    RUN/config.yaml          the training configuration (strictly parsed when read back)
    RUN/model.json           architecture, input and target channels, data, skill
    RUN/model.safetensors    weights + normalisation statistics of the best validation epoch
    RUN/metrics.csv          per-epoch losses and validation R²
    RUN/checkpoints/         Lightning checkpoints (last.ckpt resumes an interrupted run)
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import lightning as L
import numpy as np
import torch
import xarray as xr
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, Dataset

from subgrid.core.stores import write_text_atomic
from subgrid.gravity_waves.gridded.dataset import FLUX_TARGETS, INPUTS, GriddedSelection, open_gw_gridded
from subgrid.core.config import ConfigError
from subgrid.core.errors import InputError
from subgrid.models import GRIDDED_BACKBONES, BackboneRegistry, build_gridded_backbone
from subgrid.training.runs import (
    TrainingConfig,
    TrainingHardware,
    adamw_cosine,
    best_validation_score,
    build_trainer,
    check_resumable,
    load_run_weights,
    merge_metric_logs,
    pretraining_record,
    read_run_description,
    refuse_foreign_directory,
    save_weights,
    start_run_directory,
)

KIND = "gw_gridded_emulator"


@dataclass(frozen=True)
class GriddedTrainingSettings(TrainingHardware):
    """Optimisation, validation split and statistics: the settings of every gridded trainer
    (:class:`GriddedGWTrainingConfig`, :class:`subgrid.gravity_waves.gridded.pretrain.PretrainConfig`)."""

    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 30
    batch_size: int = 4
    validation_fraction: float = 0.2
    early_stopping_patience: int = 6
    #: Training time steps (evenly spaced) the normalisation statistics are fitted on.
    statistics_samples: int = 64
    max_minutes: float | None = None
    #: Optimizer steps at most (None: no limit): a budget that means the same on any machine.
    max_steps: int | None = None
    seed: int = 0

    def _step_checks(self) -> dict[str, bool]:
        return {"max_steps": self.max_steps is None or (isinstance(self.max_steps, int) and self.max_steps >= 1)}


@dataclass(frozen=True)
class GriddedGWTrainingConfig(TrainingConfig, GriddedTrainingSettings):
    """Training settings; YAML files are parsed strictly (an unknown key is an error)."""

    config_name: ClassVar[str] = "gridded gw training config"
    backbones: ClassVar[BackboneRegistry] = GRIDDED_BACKBONES

    #: A name of :data:`~subgrid.models.GRIDDED_BACKBONES`.
    model: str = "unet"
    #: Options of the model (its option dataclass in :mod:`subgrid.models.options`), as given.
    model_options: dict = field(default_factory=dict)
    #: Input variables (names of :data:`subgrid.gravity_waves.gridded.dataset.INPUTS`).
    inputs: list[str] = field(default_factory=lambda: list(INPUTS))
    #: Target variables (names of :data:`subgrid.gravity_waves.gridded.dataset.TARGETS`).
    targets: list[str] = field(default_factory=lambda: list(FLUX_TARGETS))
    #: Target level indices (None: every level).
    target_levels: list[int] | None = None

    def __post_init__(self) -> None:
        checks = {
            **self._optimisation_checks(),
            **self._hardware_checks(),
            **self._step_checks(),
            "inputs": isinstance(self.inputs, list),
            "targets": isinstance(self.targets, list),
            "target_levels": self.target_levels is None or isinstance(self.target_levels, list),
            "statistics_samples": self.statistics_samples >= 1,
        }
        self._require(checks)
        self._check_backbone()
        # Names and levels are checked against the data by GriddedSelection; unknown names fail early here.
        GriddedSelection(tuple(self.inputs), tuple(self.targets), None)

    def selection(self, ds: xr.Dataset) -> GriddedSelection:
        return GriddedSelection.for_dataset(ds, self.inputs, self.targets, self.target_levels)


# ----------------------------------------------------------------------------------------------
# The emulator and its samples


class GriddedGWEmulator(nn.Module):
    """File units in, file units out: ``x[B, C_in, H, W] -> y[B, C_out, H, W]`` around a gridded backbone."""

    def __init__(self, backbone: nn.Module, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.register_buffer("input_mean", torch.zeros(in_channels))
        self.register_buffer("input_std", torch.ones(in_channels))
        self.register_buffer("target_mean", torch.zeros(out_channels))
        self.register_buffer("target_std", torch.ones(out_channels))

    @staticmethod
    def _per_channel(v: torch.Tensor) -> torch.Tensor:
        return v[None, :, None, None]

    def standardise_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self._per_channel(self.input_mean)) / self._per_channel(self.input_std)

    def standardised(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's output: targets standardised per channel."""
        return self.backbone(self.standardise_inputs(x))

    def standardise_targets(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self._per_channel(self.target_mean)) / self._per_channel(self.target_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.standardised(x) * self._per_channel(self.target_std) + self._per_channel(self.target_mean)


def build_gw_gridded_emulator(model: str, model_options: dict, in_channels: int, out_channels: int) -> GriddedGWEmulator:
    return GriddedGWEmulator(build_gridded_backbone(model, in_channels, out_channels, model_options), in_channels, out_channels)


class GriddedGWSamples(Dataset):
    """Time steps ``time_indices`` of ``ds`` as ``(x[C_in, H, W], y[C_out, H, W])`` float32 tensors, read on demand."""

    def __init__(self, ds: xr.Dataset, selection: GriddedSelection, time_indices: Sequence[int]) -> None:
        self.ds, self.selection, self.time_indices = ds, selection, [int(i) for i in time_indices]

    def __len__(self) -> int:
        return len(self.time_indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.selection.sample(self.ds, self.time_indices[index])
        return torch.from_numpy(x), torch.from_numpy(y)


def split_by_time(ds: xr.Dataset, validation_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation time indices: validation is the last ``validation_fraction`` of the record.

    The record is ordered by the ``time`` coordinate if there is one, else as stored.
    """
    n = ds.sizes["time"]
    order = np.argsort(ds["time"].values, kind="stable") if "time" in ds.coords else np.arange(n)
    n_validation = int(round(validation_fraction * n))
    if n_validation < 1 or n_validation >= n:
        raise InputError(f"data: {n} time steps are too few to hold out a validation fraction of {validation_fraction}")
    return np.sort(order[: n - n_validation]), np.sort(order[n - n_validation :])


def channel_mean_std(samples: Dataset, n: int, points: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """Per-channel mean and std of inputs and targets over ``n`` evenly spaced samples (float64 sums).

    ``samples`` yields ``(x[C_in, H, W], y[C_out, H, W])`` pairs; ``points`` (``bool[H, W]``, default
    all) are the grid points counted: pre-training leaves out its excluded region.
    """
    picks = np.unique(np.linspace(0, len(samples) - 1, min(n, len(samples))).round().astype(int))
    keep = None if points is None else torch.from_numpy(np.asarray(points, bool)).flatten()
    moments: dict[str, torch.Tensor] = {}  # per channel: count, sum, sum of squares
    for index in picks:
        for key, value in zip(("input", "target"), samples[int(index)], strict=True):
            v = value.double().flatten(1)
            v = v if keep is None else v[:, keep]
            m = torch.stack([torch.full((v.shape[0],), float(v.shape[1]), dtype=torch.float64), v.sum(1), (v * v).sum(1)])
            moments[key] = moments[key] + m if key in moments else m
    statistics = {}
    for key, (count, s, s2) in moments.items():
        mean = s / count
        std = torch.sqrt(torch.clamp(s2 / count - mean**2, min=0.0))
        # A constant channel (a latitude feature on one row, a level's constant pressure) would divide by zero.
        statistics[f"{key}_mean"] = mean.float()
        statistics[f"{key}_std"] = torch.where(std > 1e-6, std, torch.ones_like(std)).float()
    return statistics


# ----------------------------------------------------------------------------------------------
# Lightning module


class GriddedGWLightningModule(L.LightningModule):
    """The emulator, the standardised MSE loss and validation R² (pooled over channels and grid points)."""

    def __init__(self, config: dict, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = GriddedGWTrainingConfig.from_dict(config)
        self.emulator = build_gw_gridded_emulator(self.config.model, self.config.model_options, in_channels, out_channels)
        self._sums: dict[str, torch.Tensor] = {}

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        predicted = self.emulator.standardised(x)
        target = self.emulator.standardise_targets(y)
        return ((predicted - target) ** 2).mean(), predicted

    def training_step(self, batch: list[torch.Tensor], batch_index: int) -> torch.Tensor:
        loss, _ = self._loss(*batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=batch[0].shape[0], sync_dist=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._sums = {}

    def validation_step(self, batch: list[torch.Tensor], batch_index: int) -> None:
        x, y = batch
        loss, predicted = self._loss(x, y)
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=x.shape[0], sync_dist=True)
        t = self.emulator.standardise_targets(y).double()
        sums = {"sse": ((predicted.double() - t) ** 2).sum(), "sum": t.sum(), "sum_sq": (t * t).sum(),
                "n": torch.tensor(float(t.numel()), device=t.device)}  # fmt: skip
        for key, value in sums.items():
            self._sums[key] = self._sums.get(key, 0) + value.detach()

    def on_validation_epoch_end(self) -> None:
        s = self._sums
        if s:
            sst = s["sum_sq"] - s["sum"] ** 2 / s["n"]
            self.log("val_r2", (1.0 - s["sse"] / sst).float(), prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        return adamw_cosine(self, self.config)


# ----------------------------------------------------------------------------------------------
# Runs


@dataclass
class GriddedGWTrainingReport:
    run: Path
    epochs: int
    seconds: float
    best_val_loss: float
    resumed: bool
    rank: int


def load_gw_gridded_emulator(run: str | Path) -> tuple[GriddedGWEmulator, dict]:
    """The trained emulator of run directory ``run`` (eval mode) and its ``model.json`` description."""
    run = Path(run)
    description = read_run_description(run, kind=KIND, what="gridded gravity-wave emulator", required={
        "model": str, "model_options": dict, "input_channels": list, "target_channels": list,
    })  # fmt: skip
    # The trained weights replace any pretrained ones: the pretrained checkpoint is not read (or needed) again.
    options = {key: value for key, value in description["model_options"].items() if key != "pretrained"}
    try:
        emulator = build_gw_gridded_emulator(
            description["model"], options, len(description["input_channels"]), len(description["target_channels"]),
        )  # fmt: skip
    except ConfigError as error:  # a model or options of model.json that this subgrid cannot build
        raise error.at(str(run / "model.json")) from error
    return load_run_weights(emulator, run), description


def train_gw_gridded(
    data: str | Path | Sequence[str | Path],
    run: str | Path,
    config: GriddedGWTrainingConfig = GriddedGWTrainingConfig(),
    *,
    resume: bool = True,
    progress: bool = True,
) -> GriddedGWTrainingReport:
    """Train a gridded gravity-wave flux emulator on fine-tuning file(s) ``data`` into run directory ``run``.

    The files are checked completely (layout, grid, NaN/Inf) before anything is written. With
    ``resume`` and an interrupted run in ``run`` (same config and data; hardware settings may
    differ) training continues from its last checkpoint; a finished run in ``run`` is an error.
    Several processes (``devices`` x ``num_nodes``) train with DDP as in
    :func:`subgrid.radiation.training.train_radiation`; only global rank 0 writes.
    """
    paths = [Path(data)] if isinstance(data, str | Path) else [Path(p) for p in data]
    run = Path(run)
    refuse_foreign_directory(run)
    if (run / "model.safetensors").exists():
        raise InputError(f"{run}: already holds a trained model; choose another --out")
    ds = open_gw_gridded(paths)
    selection = config.selection(ds)
    train_times, validation_times = split_by_time(ds, config.validation_fraction)
    data_description = describe_data(paths, ds)
    trainer, best, checkpoint = start_gridded_run(run, config, data_description, resume=resume, progress=progress)
    writer, resuming = trainer.is_global_zero, checkpoint is not None
    input_channels, target_channels = selection.input_channels(), selection.target_channels()
    # Built before anything is written: a bad model option or pretrained checkpoint leaves no run behind.
    module = GriddedGWLightningModule(config.to_dict(), len(input_channels), len(target_channels))
    if writer:
        start_run_directory(run, resuming=resuming, generator=__name__)

    train = GriddedGWSamples(ds, selection, train_times)
    validation = GriddedGWSamples(ds, selection, validation_times)
    if resuming:
        description = json.loads((run / "model.json").read_text())
    else:
        statistics = channel_mean_std(train, config.statistics_samples)
        for name, value in statistics.items():
            getattr(module.emulator, name).copy_(value)
        description = {
            "kind": KIND,
            "model": config.model,
            "model_options": config.model_options,
            "parameters": sum(p.numel() for p in module.emulator.parameters()),
            "trainable_parameters": sum(p.numel() for p in module.emulator.parameters() if p.requires_grad),
            "inputs": list(selection.inputs),
            "targets": list(selection.targets),
            "target_levels": selection.levels,
            "input_channels": input_channels,
            "target_channels": target_channels,
            "units": ds.attrs["normalisation"],
            "vertical_order": ds.attrs["vertical_order"],
            "data": data_description,
            "validation_period": describe_period(ds, validation_times),
            "training_time_steps": len(train_times),
        }
        pretraining = pretraining_record(config.model_options["pretrained"]) if config.model_options.get("pretrained") else None
        if pretraining is not None:  # evaluation then knows the region the backbone never saw (exclude_region)
            description["pretraining"] = pretraining
        if writer:
            write_text_atomic(run / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
            write_text_atomic(run / "model.json", json.dumps(description, indent=2))

    seconds = fit_gridded(trainer, best, module, train, validation, config, checkpoint)
    report = GriddedGWTrainingReport(run, trainer.current_epoch, seconds, best_validation_score(best, run), resuming,
                                     trainer.global_rank)  # fmt: skip
    if not writer:
        return report
    save_weights(module.emulator, run / "model.safetensors")
    description.update(training_summary(trainer, best, seconds, config))
    write_text_atomic(run / "model.json", json.dumps(description, indent=2))
    return report


def start_gridded_run(run: Path, config, data_description: dict, *, resume: bool,
                      progress: bool) -> tuple[L.Trainer, ModelCheckpoint, Path | None]:
    """The trainer and best-checkpoint callback of run directory ``run``, torch seeded with ``config.seed``,
    and the checkpoint to resume from (None: a fresh run); refuses to resume a run of another config or data."""
    last = run / "checkpoints" / "last.ckpt"
    resuming = resume and last.exists()
    if resuming:
        check_resumable(run, config, data_description)
    trainer, best = build_trainer(run, config, progress=progress, log_every_n_steps=1,
                                  max_steps=config.max_steps or -1, **config.hardware())
    L.seed_everything(config.seed, workers=True, verbose=False)
    return trainer, best, last if resuming else None


def describe_data(paths: Sequence[Path], ds: xr.Dataset) -> dict:
    """The ``data`` entry of a gridded run's model.json (a resumed run must see the same)."""
    return {"files": [str(p.resolve()) for p in paths], "time_steps": int(ds.sizes["time"]),
            "grid": [int(ds.sizes["lat"]), int(ds.sizes["lon"])], "n_levels": int(ds.sizes["level"])}  # fmt: skip


def describe_period(ds: xr.Dataset, time_indices: np.ndarray) -> dict:
    """First and last time (or index) and the count of the time steps ``time_indices`` (sorted) of ``ds``."""
    values = ds["time"].values if "time" in ds.coords else np.arange(ds.sizes["time"])
    return {"first": str(values[time_indices[0]]), "last": str(values[time_indices[-1]]), "time_steps": len(time_indices)}


def fit_gridded(trainer: L.Trainer, best: ModelCheckpoint, module: L.LightningModule, train: Dataset,
                validation: Dataset, config, checkpoint: Path | None) -> float:
    """Fit ``module`` (from ``checkpoint`` when resuming) in batches of ``config.batch_size``, the training
    samples shuffled by ``config.seed``; returns the seconds it took.

    On global rank 0 the metric logs are then merged and ``module`` holds the weights of the best
    validation epoch (on the CPU).
    """
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(train, batch_size=config.batch_size, shuffle=True, generator=generator)
    validation_loader = DataLoader(validation, batch_size=config.batch_size)
    started = time.perf_counter()
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=validation_loader, ckpt_path=checkpoint,
                weights_only=True)  # fmt: skip
    seconds = time.perf_counter() - started
    if trainer.is_global_zero:
        merge_metric_logs(Path(trainer.logger.save_dir))
        best_validation_score(best, Path(trainer.logger.save_dir))
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
        module.cpu().load_state_dict(state)
    return seconds


def training_summary(trainer: L.Trainer, best: ModelCheckpoint, seconds: float, config) -> dict:
    """What a finished gridded run adds to its model.json."""
    return {"trained_epochs": trainer.current_epoch, "best_val_loss": float(best.best_model_score),
            "training_seconds": round(seconds, 1), "training_processes": trainer.world_size,
            "precision": config.precision}  # fmt: skip


def predict_gw_gridded(
    emulator: GriddedGWEmulator, ds: xr.Dataset, selection: GriddedSelection, time_indices: Sequence[int],
    *, batch_size: int = 8,
) -> xr.Dataset:
    """Predicted targets of ``selection`` at ``time_indices`` of ``ds``, as a Dataset shaped like the truth.

    Variables ``selection.targets``, dims ``(time, level, lat, lon)`` with the selected levels,
    float32, in the file's units.
    """
    samples = GriddedGWSamples(ds, selection, time_indices)
    emulator.eval()
    dtype = emulator.target_std.dtype
    blocks = []
    with torch.inference_mode():
        for x, _ in DataLoader(samples, batch_size=batch_size):
            blocks.append(emulator(x.to(dtype)).float().numpy())
    predicted = np.concatenate(blocks)
    n_levels = len(selection.levels)
    coords = ds.isel(time=list(time_indices), level=selection.levels)[list(selection.targets)].coords
    variables = {
        name: (("time", "level", "lat", "lon"), predicted[:, k * n_levels : (k + 1) * n_levels])
        for k, name in enumerate(selection.targets)
    }
    out = xr.Dataset(variables, coords=coords)
    for name in selection.targets:
        out[name].attrs = {**ds[name].attrs, "long_name": f"predicted {ds[name].attrs.get('long_name', name)}"}
    return out
